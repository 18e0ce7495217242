//! Refurbed Merchant API messages (proto3 JSON mapping) and their canonical records.

use std::collections::BTreeMap;

use marketsync_proto::v1::{
    ListingError, Money, Order, OrderLine, Party, Product, Shipment, StockLevel,
};
use serde::{Deserialize, Serialize};

use crate::order_status;

/// An int64 of the proto3 JSON mapping: written as a string, read as a string or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub(crate) struct Id(pub i64);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Id(n)),
            Raw::Text(s) => s
                .trim()
                .parse()
                .map(Id)
                .map_err(|_| serde::de::Error::custom(format!("invalid int64 `{s}`"))),
        }
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// `Int64Pagination`.
#[derive(Debug, Serialize)]
pub(crate) struct Pagination {
    pub limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_after: Option<Id>,
}

/// `ListOffersResponse`.
#[derive(Debug, Deserialize)]
pub(crate) struct OfferList {
    #[serde(default)]
    pub offers: Vec<RfOffer>,
    #[serde(default)]
    pub has_more: bool,
}

/// `RejectionReason`.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct Rejection {
    #[serde(default)]
    pub free_text: String,
    #[serde(default)]
    pub category: String,
}

/// `Offer` (the fields marketsync reads).
#[derive(Debug, Deserialize)]
pub(crate) struct RfOffer {
    pub id: Id,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub instance_id: Option<Id>,
    #[serde(default)]
    pub instance_name: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub grading: String,
    #[serde(default)]
    pub warranty: String,
    #[serde(default)]
    pub stock: i64,
    #[serde(default)]
    pub reference_currency_code: String,
    #[serde(default)]
    pub reference_price: String,
    #[serde(default)]
    pub rejection_reason: Option<Rejection>,
}

/// `google.rpc.Status`.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct Status {
    #[serde(default)]
    pub code: i32,
    #[serde(default)]
    pub message: String,
}

/// One result of a batch call.
#[derive(Debug, Deserialize)]
pub(crate) struct BatchResult {
    #[serde(default)]
    pub status: Status,
}

/// A batch call's answer (`BatchUpdateOffersResponse`, `BatchUpdateOrderItemsStateResponse`).
#[derive(Debug, Deserialize)]
pub(crate) struct BatchResults {
    #[serde(default)]
    pub results: Vec<BatchResult>,
}

/// `OfferIdentifier` (by sku).
#[derive(Debug, Serialize)]
pub(crate) struct OfferIdentifier {
    pub sku: String,
}

/// `BatchUpdateOffersRequest.Update` / `UpdateOfferRequest` (the fields marketsync sets).
#[derive(Debug, Serialize)]
pub(crate) struct OfferChange {
    pub identifier: OfferIdentifier,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_price: Option<String>,
}

/// `ListOrdersResponse`.
#[derive(Debug, Deserialize)]
pub(crate) struct OrderList {
    #[serde(default)]
    pub orders: Vec<RfOrder>,
    #[serde(default)]
    pub has_more: bool,
}

/// `GetOrderResponse`.
#[derive(Debug, Deserialize)]
pub(crate) struct OrderOne {
    pub order: RfOrder,
}

/// `Address` (the fields marketsync reads).
#[derive(Debug, Deserialize, Default)]
pub(crate) struct RfAddress {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub family_name: String,
    #[serde(default)]
    pub street_name: String,
    #[serde(default)]
    pub house_no: String,
    #[serde(default)]
    pub post_code: String,
    #[serde(default)]
    pub town: String,
    #[serde(default)]
    pub country_code: String,
    #[serde(default)]
    pub phone_number: String,
}

/// `CarrierTrackingNumber`.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CarrierTracking {
    #[serde(default)]
    pub carrier: String,
    #[serde(default)]
    pub tracking_number: String,
}

/// `OrderItem` (the fields marketsync reads).
#[derive(Debug, Deserialize)]
pub(crate) struct RfItem {
    pub id: Id,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub total_charged: String,
    #[serde(default)]
    pub parcel_tracking_url: Option<String>,
    #[serde(default)]
    pub parcel_carrier_tracking_number: Option<CarrierTracking>,
}

/// `Order` (the fields marketsync reads).
#[derive(Debug, Deserialize)]
pub(crate) struct RfOrder {
    pub id: Id,
    #[serde(default)]
    pub released_at: String,
    /// ASSUMED field (not in the public proto): last change of the order or its items.
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub customer_email: String,
    #[serde(default)]
    pub shipping_address: Option<RfAddress>,
    #[serde(default)]
    pub currency_code: String,
    #[serde(default)]
    pub total_charged: String,
    #[serde(default)]
    pub total_refunded: String,
    #[serde(default)]
    pub items: Vec<RfItem>,
}

/// `BatchUpdateOrderItemsStateRequest.Update`.
#[derive(Debug, Serialize)]
pub(crate) struct ItemStateChange {
    pub id: Id,
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parcel_tracking_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parcel_carrier_tracking_number: Option<CarrierTracking>,
}

/// The canonical grade of a Refurbed `OfferGrading` (empty when unspecified or unknown: the
/// monitor's grade rule flags it). ASSUMED correspondence, best first: AA → premium,
/// A → excellent, B → very_good, C → good.
pub fn condition_of(grading: &str) -> &'static str {
    match grading {
        "AA" => "premium",
        "A" => "excellent",
        "B" => "very_good",
        "C" => "good",
        _ => "",
    }
}

/// The canonical listing status of an `OfferState`.
fn listing_status(state: &str) -> &'static str {
    match state {
        "OK" => "active",
        "REJECTED" => "error",
        "UNVERIFIED" | "SUBMITTED" | "PENDING_REVIEW" => "pending",
        _ => "inactive",
    }
}

/// An offer as a canonical product with its offer fields.
pub(crate) fn product(o: &RfOffer) -> Product {
    let mut attributes = BTreeMap::new();
    if !o.warranty.is_empty() {
        attributes.insert("warranty".to_string(), o.warranty.clone());
    }
    if !o.grading.is_empty() {
        attributes.insert("grading".to_string(), o.grading.clone());
    }
    if let Some(i) = o.instance_id {
        attributes.insert("instance_id".to_string(), i.to_string());
    }
    let listing_errors = o
        .rejection_reason
        .iter()
        .filter(|_| o.state == "REJECTED")
        .map(|r| ListingError {
            code: r.category.clone(),
            message: r.free_text.clone(),
            field: String::new(),
            severity: "error".into(),
        })
        .collect();
    Product {
        sku: o.sku.clone(),
        external_id: o.id.to_string(),
        title: o.instance_name.clone(),
        attributes: attributes.into_iter().collect(),
        price: Some(Money {
            amount: o.reference_price.clone(),
            currency: o.reference_currency_code.clone(),
        }),
        raw_price: o.reference_price.clone(),
        visible: o.state == "OK",
        condition: condition_of(&o.grading).to_string(),
        listing_status: listing_status(&o.state).to_string(),
        listing_errors,
        quantity: Some(o.stock),
        ..Product::default()
    }
}

/// An offer's stock in the connection's warehouse.
pub(crate) fn stock_level(o: &RfOffer, warehouse: &str) -> StockLevel {
    StockLevel {
        sku: o.sku.clone(),
        warehouse: warehouse.to_string(),
        on_hand: o.stock,
        reserved: 0,
        available: o.stock,
    }
}

/// Decimal text as hundredths (0 when unparsable).
fn cents(text: &str) -> i64 {
    rust_decimal::Decimal::from_str_exact(text.trim())
        .ok()
        .and_then(|d| {
            (d * rust_decimal::Decimal::ONE_HUNDRED)
                .round()
                .try_into()
                .ok()
        })
        .unwrap_or(0)
}

/// The canonical status of an order, from its items' states and refunds.
pub(crate) fn order_status(o: &RfOrder) -> &'static str {
    let states: Vec<&str> = o.items.iter().map(|i| i.state.as_str()).collect();
    let live: Vec<&str> = states
        .iter()
        .copied()
        .filter(|s| !matches!(*s, "CANCELLED" | "REJECTED"))
        .collect();
    let (charged, refunded) = (cents(&o.total_charged), cents(&o.total_refunded));
    if !states.is_empty() && live.is_empty() {
        return order_status::CANCELLED;
    }
    if refunded > 0 && refunded >= charged {
        return order_status::REFUNDED;
    }
    if live.contains(&"NEW") {
        return order_status::AWAITING_ACCEPTANCE;
    }
    let shipped = live
        .iter()
        .filter(|s| matches!(**s, "SHIPPED" | "RETURNED"))
        .count();
    if refunded > 0 {
        return order_status::PARTIALLY_REFUNDED;
    }
    if !live.is_empty() && shipped == live.len() {
        order_status::SHIPPED
    } else if shipped > 0 {
        order_status::PARTIALLY_SHIPPED
    } else {
        order_status::PROCESSING
    }
}

/// An order as a canonical order: one line per sku (Refurbed has one item per unit).
pub(crate) fn order(o: &RfOrder) -> Order {
    let money = |amount: &str| Money {
        amount: amount.to_string(),
        currency: o.currency_code.clone(),
    };
    let mut lines: Vec<OrderLine> = Vec::new();
    let mut shipments: BTreeMap<CarrierTracking, Vec<OrderLine>> = BTreeMap::new();
    for it in &o.items {
        match lines.iter_mut().find(|l| l.sku == it.sku) {
            Some(l) => {
                l.quantity += 1;
                l.external_id = format!("{},{}", l.external_id, it.id);
            }
            None => lines.push(OrderLine {
                sku: it.sku.clone(),
                external_id: it.id.to_string(),
                quantity: 1,
                unit_price: Some(money(&it.total_charged)),
                title: it.name.clone(),
            }),
        }
        // Items shipped before carrier + number were recorded have only the tracking URL.
        let tracking = it.parcel_carrier_tracking_number.clone().or_else(|| {
            it.parcel_tracking_url.clone().map(|url| CarrierTracking {
                carrier: String::new(),
                tracking_number: url,
            })
        });
        if let Some(t) = tracking {
            let shipped = shipments.entry(t).or_default();
            match shipped.iter_mut().find(|l| l.sku == it.sku) {
                Some(l) => l.quantity += 1,
                None => shipped.push(OrderLine {
                    sku: it.sku.clone(),
                    external_id: it.id.to_string(),
                    quantity: 1,
                    unit_price: None,
                    title: it.name.clone(),
                }),
            }
        }
    }
    let addr = o.shipping_address.as_ref();
    let name = addr
        .map(|a| {
            format!("{} {}", a.first_name, a.family_name)
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    let shipping = addr.map(|a| Party {
        name: name.clone(),
        email: o.customer_email.clone(),
        phone: a.phone_number.clone(),
        street: format!("{} {}", a.street_name, a.house_no)
            .trim()
            .to_string(),
        city: a.town.clone(),
        zip: a.post_code.clone(),
        country: a.country_code.clone(),
    });
    Order {
        external_id: o.id.to_string(),
        status: order_status(o).to_string(),
        lines,
        total: Some(money(&o.total_charged)),
        buyer: Some(Party {
            name,
            email: o.customer_email.clone(),
            ..Party::default()
        }),
        shipping_address: shipping,
        shipments: shipments
            .into_iter()
            .map(|(t, lines)| Shipment {
                external_id: t.tracking_number.clone(),
                carrier: t.carrier,
                tracking_number: t.tracking_number,
                lines,
            })
            .collect(),
        created_at: o.released_at.clone(),
        updated_at: o
            .updated_at
            .clone()
            .unwrap_or_else(|| o.released_at.clone()),
    }
}

/// The parcel tracking URL Refurbed requires for SHIPPED: the tracking number itself when it
/// is a URL, else the carrier's public tracking page (ASSUMED templates), else a generic
/// tracking site.
pub(crate) fn tracking_url(carrier: &str, number: &str) -> String {
    if number.starts_with("https://") || number.starts_with("http://") {
        return number.to_string();
    }
    let n: String = number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let c = carrier.to_ascii_lowercase();
    if c.contains("dhl") {
        format!("https://www.dhl.com/global-en/home/tracking/tracking-parcel.html?tracking-id={n}")
    } else if c.contains("ups") {
        format!("https://www.ups.com/track?tracknum={n}")
    } else if c.contains("dpd") {
        format!("https://tracking.dpd.de/status/en_US/parcel/{n}")
    } else if c.contains("gls") {
        format!("https://gls-group.com/track/{n}")
    } else if c.contains("fedex") {
        format!("https://www.fedex.com/fedextrack/?trknbr={n}")
    } else if c.contains("post") {
        format!("https://www.post.at/sv/sendungssuche?snr={n}")
    } else {
        format!("https://parcelsapp.com/en/tracking/{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_with(states: &[&str], charged: &str, refunded: &str) -> RfOrder {
        RfOrder {
            id: Id(1),
            released_at: "2025-01-01T00:00:00Z".into(),
            updated_at: None,
            customer_email: String::new(),
            shipping_address: None,
            currency_code: "EUR".into(),
            total_charged: charged.into(),
            total_refunded: refunded.into(),
            items: states
                .iter()
                .enumerate()
                .map(|(i, s)| RfItem {
                    id: Id(i as i64),
                    name: String::new(),
                    state: (*s).into(),
                    sku: format!("S{i}"),
                    total_charged: "10.00".into(),
                    parcel_tracking_url: None,
                    parcel_carrier_tracking_number: None,
                })
                .collect(),
        }
    }

    #[test]
    fn statuses_from_item_states() {
        let s = |states: &[&str], r: &str| order_status(&order_with(states, "20.00", r));
        assert_eq!(
            s(&["NEW", "NEW"], "0.00"),
            order_status::AWAITING_ACCEPTANCE
        );
        assert_eq!(
            s(&["ACCEPTED", "NEW"], "0.00"),
            order_status::AWAITING_ACCEPTANCE
        );
        assert_eq!(
            s(&["ACCEPTED", "ACCEPTED"], "0.00"),
            order_status::PROCESSING
        );
        assert_eq!(
            s(&["SHIPPED", "ACCEPTED"], "0.00"),
            order_status::PARTIALLY_SHIPPED
        );
        assert_eq!(s(&["SHIPPED", "CANCELLED"], "0.00"), order_status::SHIPPED);
        assert_eq!(
            s(&["CANCELLED", "REJECTED"], "0.00"),
            order_status::CANCELLED
        );
        assert_eq!(
            s(&["RETURNED", "RETURNED"], "20.00"),
            order_status::REFUNDED
        );
        assert_eq!(
            s(&["SHIPPED", "SHIPPED"], "5.00"),
            order_status::PARTIALLY_REFUNDED
        );
    }

    #[test]
    fn grades_and_ids() {
        assert_eq!(condition_of("AA"), "premium");
        assert_eq!(condition_of("C"), "good");
        assert_eq!(condition_of("UNSPECIFIED"), "");
        let id: Id = serde_json::from_str("\"42\"").expect("string id");
        assert_eq!(id, Id(42));
        let id: Id = serde_json::from_str("42").expect("number id");
        assert_eq!(serde_json::to_string(&id).expect("json"), "\"42\"");
    }

    #[test]
    fn tracking_urls() {
        assert_eq!(
            tracking_url("UPS", "1Z 999"),
            "https://www.ups.com/track?tracknum=1Z999"
        );
        assert_eq!(tracking_url("x", "https://t/1"), "https://t/1");
        assert!(tracking_url("Acme", "A1").starts_with("https://parcelsapp.com/"));
    }
}
