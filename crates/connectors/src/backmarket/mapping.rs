//! Back Market JSON ↔ canonical records: listings → [`Product`] offers, orders → [`Order`],
//! offer updates → the CSV catalog rows of a bulk upload.

use marketsync_proto::v1::{
    ListingError, Money, Order, OrderLine, Party, Product, Shipment, StockLevel,
};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::order_status as st;
use crate::{ConnectorError, OfferUpdate, Result};

/// Canonical refurbished grades by Back Market grade code (listing `state`): 0 premium,
/// 1 excellent, 2 very good, 3 good (ASSUMPTION, see the module docs).
pub const GRADES: [&str; 4] = ["premium", "excellent", "very_good", "good"];

/// Order states (ASSUMPTION where the docs are thin, see the module docs).
pub mod order_state {
    /// Created, payment not confirmed.
    pub const NEW: i64 = 0;
    /// Paid, waiting for the seller to validate each orderline.
    pub const PENDING_VALIDATION: i64 = 1;
    /// Waiting for payment.
    pub const PENDING_PAYMENT: i64 = 2;
    /// Accepted by the seller, to ship.
    pub const ACCEPTED: i64 = 3;
    /// Cancelled or refused.
    pub const CANCELLED: i64 = 8;
    /// Shipped.
    pub const SHIPPED: i64 = 9;
}

/// Orderline states.
pub mod line_state {
    /// Pending validation by the seller.
    pub const PENDING_VALIDATION: i64 = 1;
    /// Validated (accepted), to ship.
    pub const VALIDATED: i64 = 2;
    /// Shipped.
    pub const SHIPPED: i64 = 3;
    /// Cancelled.
    pub const CANCELLED: i64 = 4;
    /// Refunded before shipping.
    pub const REFUNDED_BEFORE_SHIPPING: i64 = 5;
    /// Refunded after shipping (a return).
    pub const REFUNDED_AFTER_SHIPPING: i64 = 6;
}

/// `new_state` of `POST /ws/orders/{id}` that validates an orderline.
pub const NEW_STATE_ACCEPT: i64 = 2;
/// `new_state` of `POST /ws/orders/{id}` that ships with tracking.
pub const NEW_STATE_SHIP: i64 = 3;

/// Text of a JSON string or number (ids come as either).
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn malformed(what: &str) -> ConnectorError {
    ConnectorError::Malformed(format!("Back Market {what}"))
}

/// The `results` of a page and whether a next page exists.
pub(crate) fn page(body: &Value) -> Result<(&[Value], bool, Option<u64>)> {
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("page without `results`"))?;
    let next = body.get("next").is_some_and(|n| !n.is_null());
    let count = body.get("count").and_then(Value::as_u64);
    Ok((results, next, count))
}

/// Canonical listing status of a `publication_state`.
pub fn listing_status(publication_state: Option<i64>) -> &'static str {
    match publication_state {
        Some(2) => "active",
        Some(3) => "inactive",
        Some(4) => "error",
        Some(0 | 1) => "pending",
        _ => "unknown",
    }
}

/// A listing as a canonical offer.
pub(crate) fn product(l: &Value) -> Result<Product> {
    let sku = text(&l["sku"]);
    if sku.is_empty() {
        return Err(malformed("listing without `sku`"));
    }
    let id = if l["listing_id"].is_null() {
        text(&l["id"])
    } else {
        text(&l["listing_id"])
    };
    let raw_price = text(&l["price"]);
    let currency = text(&l["currency"]);
    let publication = int(&l["publication_state"]);
    let condition = int(&l["state"])
        .and_then(|c| usize::try_from(c).ok())
        .and_then(|c| GRADES.get(c))
        .map_or(String::new(), |g| (*g).to_string());
    let listing_errors = l["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| ListingError {
                    code: text(&e["code"]),
                    message: text(&e["message"]),
                    field: text(&e["field"]),
                    severity: "error".into(),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut attributes = std::collections::HashMap::new();
    for key in ["product_id", "warranty_delay", "publication_state", "state"] {
        if !l[key].is_null() {
            attributes.insert(format!("backmarket_{key}"), text(&l[key]));
        }
    }
    Ok(Product {
        sku,
        external_id: id,
        title: text(&l["title"]),
        price: (!raw_price.is_empty()).then(|| Money {
            amount: raw_price.clone(),
            currency,
        }),
        raw_price,
        visible: publication == Some(2),
        condition,
        listing_status: listing_status(publication).into(),
        listing_errors,
        quantity: int(&l["quantity"]),
        attributes: attributes.into_iter().collect(),
        ..Product::default()
    })
}

/// The stock of a listing.
pub(crate) fn stock(l: &Value, warehouse: &str) -> Option<StockLevel> {
    let sku = text(&l["sku"]);
    let q = int(&l["quantity"])?;
    (!sku.is_empty()).then(|| StockLevel {
        sku,
        warehouse: warehouse.to_string(),
        on_hand: q,
        reserved: 0,
        available: q,
    })
}

/// Canonical status of an order from its state and its orderlines' states.
pub fn order_status(state: i64, lines: &[i64]) -> &'static str {
    use line_state as l;
    let refunded = lines
        .iter()
        .filter(|s| {
            matches!(
                **s,
                l::REFUNDED_BEFORE_SHIPPING | l::REFUNDED_AFTER_SHIPPING
            )
        })
        .count();
    if !lines.is_empty() && refunded == lines.len() {
        return st::REFUNDED;
    }
    if refunded > 0 {
        return st::PARTIALLY_REFUNDED;
    }
    if state == order_state::CANCELLED
        || (!lines.is_empty() && lines.iter().all(|s| *s == l::CANCELLED))
    {
        return st::CANCELLED;
    }
    match state {
        order_state::PENDING_VALIDATION => st::AWAITING_ACCEPTANCE,
        order_state::ACCEPTED if lines.contains(&l::SHIPPED) => st::PARTIALLY_SHIPPED,
        order_state::ACCEPTED => st::PROCESSING,
        order_state::SHIPPED => st::SHIPPED,
        _ => st::PENDING,
    }
}

fn party(a: &Value) -> Option<Party> {
    if !a.is_object() {
        return None;
    }
    let name = format!("{} {}", text(&a["first_name"]), text(&a["last_name"]))
        .trim()
        .to_string();
    Some(Party {
        name,
        email: text(&a["email"]),
        phone: text(&a["phone"]),
        street: text(&a["street"]),
        city: text(&a["city"]),
        zip: text(&a["postal_code"]),
        country: text(&a["country"]),
    })
}

/// The states of an order's lines.
pub(crate) fn line_states(o: &Value) -> Vec<i64> {
    o["orderlines"]
        .as_array()
        .map(|ls| ls.iter().filter_map(|l| int(&l["state"])).collect())
        .unwrap_or_default()
}

/// The order's state.
pub(crate) fn state(o: &Value) -> Option<i64> {
    int(&o["state"])
}

/// An order as canonical.
pub(crate) fn order(o: &Value) -> Result<Order> {
    let id = text(&o["order_id"]);
    let state = int(&o["state"]).ok_or_else(|| malformed("order without `state`"))?;
    if id.is_empty() {
        return Err(malformed("order without `order_id`"));
    }
    let currency = text(&o["currency"]);
    let money = |v: &Value| Money {
        amount: text(v),
        currency: currency.clone(),
    };
    let lines: Vec<OrderLine> = o["orderlines"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .map(|l| OrderLine {
                    sku: text(&l["listing"]),
                    external_id: text(&l["id"]),
                    quantity: int(&l["quantity"]).unwrap_or(0),
                    unit_price: Some(money(&l["price"])),
                    title: text(&l["product"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let tracking = text(&o["tracking_number"]);
    let shipped_lines: Vec<OrderLine> = o["orderlines"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .zip(&lines)
                .filter(|(l, _)| {
                    matches!(
                        int(&l["state"]),
                        Some(line_state::SHIPPED | line_state::REFUNDED_AFTER_SHIPPING)
                    )
                })
                .map(|(_, c)| c.clone())
                .collect()
        })
        .unwrap_or_default();
    let shipments = if tracking.is_empty() {
        Vec::new()
    } else {
        vec![Shipment {
            external_id: tracking.clone(),
            carrier: text(&o["shipper"]),
            tracking_number: tracking,
            lines: shipped_lines,
        }]
    };
    Ok(Order {
        external_id: id,
        status: order_status(state, &line_states(o)).into(),
        lines,
        total: Some(money(&o["price"])),
        buyer: party(&o["billing_address"]),
        shipping_address: party(&o["shipping_address"]),
        shipments,
        created_at: text(&o["date_creation"]),
        updated_at: text(&o["date_modification"]),
    })
}

/// One row of a catalog upload: sku, new quantity, new price (2 decimals), blank = unchanged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub sku: String,
    pub quantity: Option<i64>,
    pub price: Option<String>,
}

/// The row of an offer update, or why Back Market would refuse it.
pub(crate) fn row(u: &OfferUpdate) -> std::result::Result<Row, String> {
    if u.sku.trim().is_empty() {
        return Err("an offer needs a sku".into());
    }
    if u.quantity.is_none() && u.price.is_none() {
        return Err("nothing to update: neither quantity nor price".into());
    }
    if let Some(q) = u.quantity
        && q < 0
    {
        return Err(format!("quantity {q} is negative"));
    }
    let price = match &u.price {
        None => None,
        Some(m) => {
            let d: Decimal = m
                .amount
                .trim()
                .parse()
                .map_err(|_| format!("price `{}` is not a decimal", m.amount))?;
            if d <= Decimal::ZERO {
                return Err(format!("price {d} must be positive"));
            }
            if d.round_dp(2) != d {
                return Err(format!("price {d} has more than 2 decimals"));
            }
            Some(format!("{:.2}", d.round_dp(2)))
        }
    };
    Ok(Row {
        sku: u.sku.trim().to_string(),
        quantity: u.quantity,
        price,
    })
}

/// CSV delimiter of uploads.
pub const DELIMITER: char = ';';
/// CSV quote character of uploads.
pub const QUOTE: char = '"';

fn csv_field(s: &str) -> String {
    if s.contains([DELIMITER, QUOTE, '\n', '\r']) {
        format!("{QUOTE}{}{QUOTE}", s.replace(QUOTE, "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV catalog of `rows` (header `sku;quantity;price`).
pub(crate) fn csv(rows: &[Row]) -> String {
    let mut out = String::with_capacity(rows.len() * 32 + 20);
    out.push_str("sku;quantity;price\n");
    for r in rows {
        out.push_str(&csv_field(&r.sku));
        out.push(DELIMITER);
        if let Some(q) = r.quantity {
            out.push_str(&q.to_string());
        }
        out.push(DELIMITER);
        if let Some(p) = &r.price {
            out.push_str(p);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses() {
        assert_eq!(order_status(1, &[1]), st::AWAITING_ACCEPTANCE);
        assert_eq!(order_status(3, &[2, 2]), st::PROCESSING);
        assert_eq!(order_status(3, &[3, 2]), st::PARTIALLY_SHIPPED);
        assert_eq!(order_status(9, &[3]), st::SHIPPED);
        assert_eq!(order_status(8, &[4]), st::CANCELLED);
        assert_eq!(order_status(9, &[6]), st::REFUNDED);
        assert_eq!(order_status(9, &[6, 3]), st::PARTIALLY_REFUNDED);
        assert_eq!(order_status(0, &[]), st::PENDING);
    }

    #[test]
    fn listing_with_grade_and_errors() {
        let p = product(
            &json!({"id": 7, "sku": "S;1", "price": "19.90", "currency": "EUR",
            "quantity": 3, "state": 2, "publication_state": 4,
            "errors": [{"code": "MISSING_IMAGE", "message": "m", "field": "images"}]}),
        )
        .expect("listing");
        assert_eq!(
            (p.condition.as_str(), p.listing_status.as_str(), p.quantity),
            ("very_good", "error", Some(3))
        );
        assert_eq!(p.listing_errors[0].code, "MISSING_IMAGE");
        let p = product(&json!({"id": 8, "sku": "x", "price": "1.00", "state": null}))
            .expect("listing");
        assert_eq!(p.condition, "");
    }

    #[test]
    fn rows_and_csv() {
        let ok = row(&OfferUpdate {
            sku: "a;b".into(),
            quantity: Some(2),
            price: Some(Money {
                amount: "10.5".into(),
                currency: "EUR".into(),
            }),
            ..OfferUpdate::default()
        })
        .expect("row");
        assert_eq!(csv(&[ok]), "sku;quantity;price\n\"a;b\";2;10.50\n");
        let bad = row(&OfferUpdate {
            sku: "a".into(),
            price: Some(Money {
                amount: "10.555".into(),
                currency: "EUR".into(),
            }),
            ..OfferUpdate::default()
        });
        assert!(bad.expect_err("3 decimals").contains("2 decimals"));
    }
}
