//! Octopia seller API JSON ↔ canonical records.

use marketsync_proto::v1::{
    ListingError, Money, Order, OrderLine, Party, Product, Shipment, StockLevel,
};
use serde_json::Value;

use crate::order_status as st;

/// Warehouse code of stock levels: CDiscount offers hold one quantity.
pub const WAREHOUSE: &str = "cdiscount";
/// Currency of the Cdiscount.fr sales channel.
pub const CURRENCY: &str = "EUR";

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The decimal text of a JSON number or string.
fn decimal(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// An offer of `GET /offers` (with `expand=salesChannelFeedback`) as a product listing.
pub fn product(o: &Value) -> Product {
    let product = o.get("product").cloned().unwrap_or(Value::Null);
    let price = o.get("facialPrice").or_else(|| o.get("price"));
    let raw_price = decimal(price.and_then(|p| p.get("price")));
    let currency = price
        .map(|p| text(p, "currencyCode"))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| CURRENCY.to_string());
    let errors: Vec<ListingError> = o
        .pointer("/salesChannelFeedback/errors")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| ListingError {
                    code: text(e, "code"),
                    message: text(e, "message"),
                    field: text(e, "field"),
                    severity: match text(e, "severity").to_ascii_lowercase().as_str() {
                        "warning" => "warning".into(),
                        _ => "error".into(),
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let state = text(o, "offerState");
    let listing_status = if errors.iter().any(|e| e.severity == "error") {
        "error".to_string()
    } else {
        state.to_ascii_lowercase()
    };
    Product {
        sku: text(o, "sellerExternalReference"),
        external_id: text(o, "offerId"),
        title: text(&product, "title"),
        gtin: text(&product, "gtin"),
        price: (!raw_price.is_empty()).then(|| Money {
            amount: raw_price.clone(),
            currency,
        }),
        raw_price,
        visible: state == "Active",
        condition: condition(&text(o, "condition")),
        lead_time_days: o
            .get("preparationTime")
            .and_then(Value::as_i64)
            .map(|d| d as i32),
        listing_status,
        listing_errors: errors,
        quantity: o.get("quantity").and_then(Value::as_i64),
        ..Product::default()
    }
}

/// Octopia's condition (`New`, `LikeNew`, `VeryGood`, `Good`, `Fair`, …) as canonical text.
fn condition(c: &str) -> String {
    match c {
        "" => String::new(),
        "New" => "new".into(),
        other => {
            let mut out = String::new();
            for (i, ch) in other.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(ch.to_ascii_lowercase());
            }
            out
        }
    }
}

/// The stock level of an offer.
pub fn stock(o: &Value) -> StockLevel {
    let q = o.get("quantity").and_then(Value::as_i64).unwrap_or(0);
    StockLevel {
        sku: text(o, "sellerExternalReference"),
        warehouse: WAREHOUSE.into(),
        on_hand: q,
        reserved: 0,
        available: q,
    }
}

/// Octopia order status → canonical status (refunds, reported as `refundedAmount`, win).
pub fn status(o: &Value) -> String {
    let total: f64 = decimal(o.get("totalPrice")).parse().unwrap_or(0.0);
    let refunded: f64 = decimal(o.get("refundedAmount")).parse().unwrap_or(0.0);
    if refunded > 0.0 {
        return if refunded + 0.005 >= total {
            st::REFUNDED
        } else {
            st::PARTIALLY_REFUNDED
        }
        .into();
    }
    let parcels = o
        .get("parcels")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    match text(o, "status").as_str() {
        "Processing" => st::PENDING,
        "WaitingAcceptance" => st::AWAITING_ACCEPTANCE,
        "Accepted" | "InPreparation" if parcels => st::PARTIALLY_SHIPPED,
        "Accepted" | "InPreparation" => st::PROCESSING,
        "Shipped" => st::SHIPPED,
        "Delivered" | "Closed" => st::COMPLETED,
        "Cancelled" | "Refused" | "Rejected" => st::CANCELLED,
        _ => st::PENDING,
    }
    .into()
}

fn party(p: Option<&Value>) -> Option<Party> {
    let p = p?;
    Some(Party {
        name: format!("{} {}", text(p, "firstName"), text(p, "lastName"))
            .trim()
            .to_string(),
        email: text(p, "email"),
        phone: text(p, "phone"),
        street: text(p, "addressLine1"),
        city: text(p, "city"),
        zip: text(p, "postalCode"),
        country: text(p, "countryCode"),
    })
}

/// An order of `GET /orders`.
pub fn order(o: &Value) -> Order {
    let currency = Some(text(o, "currencyCode"))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| CURRENCY.to_string());
    let lines: Vec<OrderLine> = o
        .get("lines")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|l| OrderLine {
                    sku: l
                        .pointer("/offer/sellerExternalReference")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    external_id: text(l, "orderLineId"),
                    quantity: l.get("quantity").and_then(Value::as_i64).unwrap_or(0),
                    unit_price: Some(Money {
                        amount: decimal(l.get("unitSalesPrice")),
                        currency: currency.clone(),
                    }),
                    title: l
                        .pointer("/offer/productTitle")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let shipments = o
        .get("parcels")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| Shipment {
                    external_id: text(p, "parcelNumber"),
                    carrier: text(p, "carrierName"),
                    tracking_number: text(p, "parcelNumber"),
                    lines: p
                        .get("orderLineIds")
                        .and_then(Value::as_array)
                        .map(|ids| {
                            ids.iter()
                                .filter_map(|id| {
                                    let id = id.as_str()?;
                                    lines.iter().find(|l| l.external_id == id).cloned()
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    Order {
        external_id: text(o, "orderId"),
        status: status(o),
        total: Some(Money {
            amount: decimal(o.get("totalPrice")),
            currency,
        }),
        buyer: party(o.get("customer")),
        shipping_address: party(o.get("shippingAddress")),
        lines,
        shipments,
        created_at: text(o, "createdAt"),
        updated_at: text(o, "updatedAt"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_an_offer_with_its_feedback() {
        let p = product(&json!({
            "offerId": "CDISFR-1", "sellerExternalReference": "SKU-1",
            "product": {"gtin": "123", "title": "Lamp"}, "condition": "VeryGood",
            "offerState": "Inactive", "facialPrice": {"price": 10, "currencyCode": "EUR"},
            "quantity": 3, "preparationTime": 2,
            "salesChannelFeedback": {"errors": [{"code": "E1", "message": "bad", "field": "images"}]}
        }));
        assert_eq!(p.sku, "SKU-1");
        assert_eq!(p.raw_price, "10");
        assert_eq!(p.condition, "very_good");
        assert_eq!(p.listing_status, "error");
        assert_eq!(p.listing_errors[0].code, "E1");
        assert_eq!(p.quantity, Some(3));
        assert_eq!(p.lead_time_days, Some(2));
    }

    #[test]
    fn maps_statuses() {
        let s = |v: Value| status(&v);
        assert_eq!(
            s(json!({"status": "WaitingAcceptance"})),
            st::AWAITING_ACCEPTANCE
        );
        assert_eq!(s(json!({"status": "InPreparation"})), st::PROCESSING);
        assert_eq!(s(json!({"status": "Cancelled"})), st::CANCELLED);
        assert_eq!(
            s(json!({"status": "Shipped", "totalPrice": "10.00", "refundedAmount": "10.00"})),
            st::REFUNDED
        );
        assert_eq!(
            s(json!({"status": "Shipped", "totalPrice": "10.00", "refundedAmount": "4.00"})),
            st::PARTIALLY_REFUNDED
        );
    }
}
