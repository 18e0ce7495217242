//! Mirakl JSON (OR11 orders, OF21 offers, OF02 import status) and CSV (OF01 files, OF03
//! error reports) <-> canonical records.

use marketsync_proto::v1::{ListingError, Money, Order, OrderLine, Party, Product, Shipment};
use serde::Deserialize;
use serde_json::Value;

use crate::order_status;

/// A Mirakl number (prices) as its exact text.
fn number_text(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// OR11 answer.
#[derive(Debug, Deserialize)]
pub(crate) struct OrderList {
    #[serde(default)]
    pub orders: Vec<MkOrder>,
    #[serde(default)]
    pub total_count: u64,
}

/// One OR11 order.
#[derive(Debug, Deserialize)]
pub(crate) struct MkOrder {
    pub order_id: String,
    pub order_state: String,
    #[serde(default)]
    pub created_date: String,
    #[serde(default)]
    pub last_updated_date: String,
    #[serde(default)]
    pub currency_iso_code: Option<String>,
    #[serde(default)]
    pub total_price: Value,
    #[serde(default)]
    pub shipping_carrier_code: Option<String>,
    #[serde(default)]
    pub shipping_company: Option<String>,
    #[serde(default)]
    pub shipping_tracking: Option<String>,
    #[serde(default)]
    pub customer: Option<MkCustomer>,
    #[serde(default)]
    pub customer_notification_email: Option<String>,
    #[serde(default)]
    pub order_lines: Vec<MkLine>,
}

/// The buyer of an order.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MkCustomer {
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub billing_address: Option<MkAddress>,
    #[serde(default)]
    pub shipping_address: Option<MkAddress>,
}

/// An address of an order.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MkAddress {
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub street_1: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub zip_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub country_iso_code: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// One order line.
#[derive(Debug, Deserialize)]
pub(crate) struct MkLine {
    pub order_line_id: String,
    #[serde(default)]
    pub offer_sku: String,
    #[serde(default)]
    pub product_title: String,
    #[serde(default)]
    pub quantity: i64,
    #[serde(default)]
    pub price_unit: Value,
    #[serde(default)]
    pub refunds: Vec<MkAdjustment>,
    #[serde(default)]
    pub cancelations: Vec<MkAdjustment>,
}

/// A refund or cancellation of (part of) a line.
#[derive(Debug, Deserialize)]
pub(crate) struct MkAdjustment {
    #[serde(default)]
    pub quantity: i64,
}

/// The canonical status of an order: its state, then what its lines' cancellations and
/// refunds say (Mirakl keeps the order state of a refunded order).
pub(crate) fn canonical_status(o: &MkOrder) -> &'static str {
    let ordered: i64 = o.order_lines.iter().map(|l| l.quantity).sum();
    let cancelled: i64 = o
        .order_lines
        .iter()
        .flat_map(|l| &l.cancelations)
        .map(|c| c.quantity)
        .sum();
    let refunded: i64 = o
        .order_lines
        .iter()
        .flat_map(|l| &l.refunds)
        .map(|r| r.quantity)
        .sum();
    if o.order_state == "CANCELED" || (ordered > 0 && cancelled >= ordered) {
        return order_status::CANCELLED;
    }
    if o.order_state == "REFUNDED"
        || (ordered > 0 && refunded + cancelled >= ordered && refunded > 0)
    {
        return order_status::REFUNDED;
    }
    if refunded > 0 {
        return order_status::PARTIALLY_REFUNDED;
    }
    state_status(&o.order_state)
}

/// Mirakl order state → canonical status.
pub(crate) fn state_status(state: &str) -> &'static str {
    match state {
        "WAITING_ACCEPTANCE" => order_status::AWAITING_ACCEPTANCE,
        "STAGING" | "WAITING_DEBIT" | "WAITING_DEBIT_PAYMENT" => order_status::PENDING,
        "SHIPPING" | "INCIDENT_OPEN" | "INCIDENT_CLOSED" => order_status::PROCESSING,
        "SHIPPED" | "TO_COLLECT" => order_status::SHIPPED,
        "RECEIVED" | "CLOSED" => order_status::COMPLETED,
        "REFUSED" | "CANCELED" => order_status::CANCELLED,
        "REFUNDED" => order_status::REFUNDED,
        _ => order_status::PENDING,
    }
}

fn party(first: Option<&str>, last: Option<&str>, a: Option<&MkAddress>) -> Party {
    let name = |f: Option<&str>, l: Option<&str>| {
        [f.unwrap_or(""), l.unwrap_or("")]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let a_name = a
        .map(|a| name(a.firstname.as_deref(), a.lastname.as_deref()))
        .unwrap_or_default();
    Party {
        name: if a_name.is_empty() {
            name(first, last)
        } else {
            a_name
        },
        email: String::new(),
        phone: a.and_then(|a| a.phone.clone()).unwrap_or_default(),
        street: a.and_then(|a| a.street_1.clone()).unwrap_or_default(),
        city: a.and_then(|a| a.city.clone()).unwrap_or_default(),
        zip: a.and_then(|a| a.zip_code.clone()).unwrap_or_default(),
        country: a
            .and_then(|a| a.country_iso_code.clone().or_else(|| a.country.clone()))
            .unwrap_or_default(),
    }
}

/// An OR11 order as a canonical order.
pub(crate) fn order(o: &MkOrder, default_currency: &str) -> Order {
    let currency = o
        .currency_iso_code
        .clone()
        .unwrap_or_else(|| default_currency.to_string());
    let money = |v: &Value| Money {
        amount: number_text(v),
        currency: currency.clone(),
    };
    let c = o.customer.as_ref();
    let first = c.and_then(|c| c.firstname.as_deref());
    let last = c.and_then(|c| c.lastname.as_deref());
    let mut buyer = party(first, last, c.and_then(|c| c.billing_address.as_ref()));
    buyer.email = o.customer_notification_email.clone().unwrap_or_default();
    let lines: Vec<OrderLine> = o
        .order_lines
        .iter()
        .map(|l| OrderLine {
            sku: l.offer_sku.clone(),
            external_id: l.order_line_id.clone(),
            quantity: l.quantity,
            unit_price: Some(money(&l.price_unit)),
            title: l.product_title.clone(),
        })
        .collect();
    let shipments = o
        .shipping_tracking
        .as_ref()
        .filter(|t| !t.is_empty())
        .map(|t| Shipment {
            external_id: format!("{}-tracking", o.order_id),
            carrier: o
                .shipping_company
                .clone()
                .or_else(|| o.shipping_carrier_code.clone())
                .unwrap_or_default(),
            tracking_number: t.clone(),
            lines: Vec::new(),
        })
        .into_iter()
        .collect();
    Order {
        external_id: o.order_id.clone(),
        status: canonical_status(o).to_string(),
        lines,
        total: Some(money(&o.total_price)),
        buyer: Some(buyer),
        shipping_address: Some(party(
            first,
            last,
            c.and_then(|c| c.shipping_address.as_ref()),
        )),
        shipments,
        created_at: o.created_date.clone(),
        updated_at: o.last_updated_date.clone(),
    }
}

/// OF21 answer.
#[derive(Debug, Deserialize)]
pub(crate) struct OfferList {
    #[serde(default)]
    pub offers: Vec<MkOffer>,
    #[serde(default)]
    pub total_count: u64,
}

/// One OF21 offer.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MkOffer {
    #[serde(default)]
    pub offer_id: Value,
    pub shop_sku: String,
    #[serde(default)]
    pub product_sku: Option<String>,
    #[serde(default)]
    pub product_title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub product_references: Vec<MkReference>,
    #[serde(default)]
    pub price: Value,
    #[serde(default)]
    pub quantity: Option<i64>,
    #[serde(default)]
    pub state_code: Option<String>,
    #[serde(default)]
    pub leadtime_to_ship: Option<i32>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub inactivity_reasons: Vec<Value>,
    #[serde(default)]
    pub currency_iso_code: Option<String>,
}

/// A product reference (EAN, UPC, …) of an offer.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MkReference {
    #[serde(default)]
    pub reference_type: String,
    #[serde(default)]
    pub reference: String,
}

/// The field an inactivity reason concerns, from words in its code.
fn reason_field(code: &str) -> &'static str {
    let c = code.to_ascii_uppercase();
    if c.contains("QUANTITY") || c.contains("STOCK") {
        "quantity"
    } else if c.contains("PRICE") {
        "price"
    } else if c.contains("IMAGE") || c.contains("MEDIA") {
        "images"
    } else if c.contains("GTIN") || c.contains("EAN") || c.contains("PRODUCT") {
        "gtin"
    } else {
        ""
    }
}

fn reason_message(code: &str) -> String {
    match code {
        "PRODUCT_NOT_SYNCHRONIZED" | "PRODUCT_NOT_FOUND" => {
            "The offer's product is not (yet) in the operator's catalog.".into()
        }
        other => format!("Mirakl reports the offer inactive: {other}"),
    }
}

/// Inactivity reasons that describe the offer's stock or the shop, not a defect of the
/// listing: they make it inactive but are not listing errors.
const NOT_LISTING_ERRORS: [&str; 3] = ["ZERO_QUANTITY", "UNAVAILABLE", "SHOP_NOT_OPEN"];

/// The marketplace's own complaints about an offer: its inactivity reasons (strings, or
/// objects with `code`/`message` on instances that send details), except the stock and
/// availability states.
pub(crate) fn listing_errors(o: &MkOffer) -> Vec<ListingError> {
    o.inactivity_reasons
        .iter()
        .filter_map(|r| {
            let (code, message) = match r {
                Value::String(s) => (s.clone(), reason_message(s)),
                Value::Object(m) => {
                    let code = m.get("code").and_then(Value::as_str)?.to_string();
                    let message = m
                        .get("message")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| reason_message(&code));
                    (code, message)
                }
                _ => return None,
            };
            if NOT_LISTING_ERRORS.contains(&code.as_str()) {
                return None;
            }
            Some(ListingError {
                field: reason_field(&code).to_string(),
                severity: "error".into(),
                code,
                message,
            })
        })
        .collect()
}

/// Mirakl's default offer state code for "New" (other codes are the operator's own
/// conditions, imported as `used:<code>`).
pub(crate) const STATE_NEW: &str = "11";

/// An OF21 offer as a canonical product with its offer fields.
pub(crate) fn product(o: &MkOffer, default_currency: &str) -> Product {
    let price = number_text(&o.price);
    let errors = listing_errors(o);
    let status = match o.active {
        Some(true) => "active",
        Some(false) if !errors.is_empty() => "error",
        Some(false) => "inactive",
        None => "",
    };
    let condition = match o.state_code.as_deref() {
        Some(STATE_NEW) | None => "new".to_string(),
        Some(code) => format!("used:{code}"),
    };
    Product {
        sku: o.shop_sku.clone(),
        external_id: number_text(&o.offer_id),
        title: o.product_title.clone().unwrap_or_default(),
        description: o.description.clone().unwrap_or_default(),
        gtin: o
            .product_references
            .iter()
            .find(|r| matches!(r.reference_type.as_str(), "EAN" | "UPC" | "GTIN" | "ISBN"))
            .map(|r| r.reference.clone())
            .unwrap_or_default(),
        price: (!price.is_empty()).then(|| Money {
            amount: price.clone(),
            currency: o
                .currency_iso_code
                .clone()
                .unwrap_or_else(|| default_currency.to_string()),
        }),
        raw_price: price,
        visible: o.active.unwrap_or(true),
        condition,
        lead_time_days: o.leadtime_to_ship,
        listing_status: status.into(),
        listing_errors: errors,
        quantity: o.quantity,
        product_type: o.product_sku.clone().unwrap_or_default(),
        ..Product::default()
    }
}

/// OF01/OF24 answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ImportCreated {
    pub import_id: Value,
}

/// OF02 answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ImportStatus {
    pub status: String,
    #[serde(default)]
    pub reason_status: Option<String>,
    #[serde(default)]
    pub has_error_report: bool,
    #[serde(default)]
    pub lines_in_success: u64,
}

/// Splits one `;`-separated CSV line (fields optionally quoted, `""` escapes a quote).
pub(crate) fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// One CSV field, quoted.
pub(crate) fn csv_quote(field: &str) -> String {
    format!("\"{}\"", field.replace('"', "\"\""))
}

/// The (sku, message) of each line of an OF03 error report: the file's `sku` column (or,
/// for OF24 imports, the `shop_sku` of the offer JSON in the first column) and its
/// `error-message`.
pub(crate) fn error_report(text: &str) -> Vec<(String, String)> {
    let mut rows = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = rows.next() else {
        return Vec::new();
    };
    let cols = csv_fields(header);
    let sku = cols.iter().position(|c| c == "sku" || c == "shop_sku");
    let msg = cols.iter().position(|c| c == "error-message");
    rows.map(|r| {
        let f = csv_fields(r);
        let sku = match sku {
            Some(i) => f.get(i).cloned().unwrap_or_default(),
            None => f
                .first()
                .and_then(|j| serde_json::from_str::<Value>(j).ok())
                .and_then(|v| v["shop_sku"].as_str().map(str::to_string))
                .unwrap_or_default(),
        };
        let message = msg
            .and_then(|i| f.get(i).cloned())
            .or_else(|| f.last().cloned())
            .unwrap_or_default();
        (sku, message)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_canonical_statuses() {
        assert_eq!(
            state_status("WAITING_ACCEPTANCE"),
            order_status::AWAITING_ACCEPTANCE
        );
        assert_eq!(state_status("SHIPPING"), order_status::PROCESSING);
        assert_eq!(state_status("CLOSED"), order_status::COMPLETED);
        assert_eq!(state_status("REFUSED"), order_status::CANCELLED);
        assert_eq!(state_status("SOMETHING_NEW"), order_status::PENDING);
    }

    #[test]
    fn refunds_and_cancellations_win_over_the_state() {
        let mut o: MkOrder = serde_json::from_value(serde_json::json!({
            "order_id": "A", "order_state": "SHIPPED",
            "order_lines": [
                {"order_line_id": "A-1", "quantity": 2, "refunds": [{"quantity": 1}]},
                {"order_line_id": "A-2", "quantity": 1}
            ]
        }))
        .expect("order");
        assert_eq!(canonical_status(&o), order_status::PARTIALLY_REFUNDED);
        o.order_lines[0].refunds[0].quantity = 2;
        o.order_lines[1].refunds.push(MkAdjustment { quantity: 1 });
        assert_eq!(canonical_status(&o), order_status::REFUNDED);
        o.order_state = "CANCELED".into();
        assert_eq!(canonical_status(&o), order_status::CANCELLED);
    }

    #[test]
    fn reads_error_reports() {
        let csv = "\"sku\";\"price\";\"quantity\";\"update-delete\";\"error-line\";\"error-message\"\n\"A;1\";\"1\";\"-3\";\"update\";2;\"The quantity '-3' must be a positive integer\"\n";
        assert_eq!(
            error_report(csv),
            vec![(
                "A;1".to_string(),
                "The quantity '-3' must be a positive integer".to_string()
            )]
        );
        let of24 = "\"offer\";\"error-line\";\"error-message\"\n\"{\"\"shop_sku\"\":\"\"X\"\"}\";1;\"nope\"\n";
        assert_eq!(error_report(of24), vec![("X".into(), "nope".into())]);
    }
}
