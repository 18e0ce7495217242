//! eBay JSON (Inventory, Fulfillment, Account APIs) ↔ canonical records.

use std::collections::HashMap;

use marketsync_proto::v1::{
    ListingError, Money, Order, OrderLine, Party, Product, Shipment, StockLevel,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::order_status;

/// `{value, currency}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Amount {
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub currency: String,
}

impl Amount {
    fn money(&self) -> Money {
        Money {
            amount: self.value.clone(),
            currency: self.currency.clone(),
        }
    }
}

/// One of eBay's `errors`/`warnings` entries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EbayError {
    #[serde(default)]
    pub error_id: Option<i64>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub long_message: Option<String>,
}

impl EbayError {
    /// "message (errorId N)".
    pub(crate) fn text(&self) -> String {
        let msg = self.long_message.as_deref().unwrap_or(&self.message);
        match self.error_id {
            Some(id) => format!("{msg} (errorId {id})"),
            None => msg.to_string(),
        }
    }
}

/// A page of getInventoryItems.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InventoryItems {
    #[serde(default)]
    pub inventory_items: Vec<InventoryItem>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub next: Option<String>,
}

/// An inventory item (getInventoryItem, getInventoryItems).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InventoryItem {
    #[serde(default, skip_serializing)]
    pub sku: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<EbayProduct>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_weight_and_size: Option<Value>,
}

impl InventoryItem {
    /// `availability.shipToLocationAvailability.quantity`.
    pub(crate) fn quantity(&self) -> Option<i64> {
        self.availability
            .as_ref()?
            .pointer("/shipToLocationAvailability/quantity")?
            .as_i64()
    }
}

/// The `product` of an inventory item. `aspects` is kept as JSON: the live API sends and takes
/// an object of arrays (`{"Brand":["X"]}`) although the published spec says string.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EbayProduct {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspects: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ean: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upc: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpn: Option<String>,
}

/// A page of getOffers.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Offers {
    #[serde(default)]
    pub offers: Vec<Offer>,
}

/// An offer (EbayOfferDetailsWithAll), with what the connector reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Offer {
    #[serde(default)]
    pub offer_id: String,
    #[serde(default)]
    pub marketplace_id: String,
    #[serde(default)]
    pub available_quantity: Option<i64>,
    #[serde(default)]
    pub category_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub pricing_summary: Option<PricingSummary>,
    #[serde(default)]
    pub listing_policies: Option<ListingPolicies>,
    #[serde(default)]
    pub listing: Option<ListingDetails>,
}

/// `pricingSummary`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct PricingSummary {
    #[serde(default)]
    pub price: Option<Amount>,
}

/// `listingPolicies`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListingPolicies {
    #[serde(default)]
    pub return_policy_id: Option<String>,
}

/// `listing`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListingDetails {
    #[serde(default)]
    pub listing_status: Option<String>,
    #[serde(default)]
    pub listing_on_hold: Option<bool>,
}

/// getReturnPolicies.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReturnPolicies {
    #[serde(default)]
    pub return_policies: Vec<ReturnPolicy>,
}

/// One return policy.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReturnPolicy {
    #[serde(default)]
    pub return_policy_id: String,
    #[serde(default)]
    pub name: String,
}

/// Aspects (`{"Color":["Red","Blue"]}`) as attributes ("Red, Blue"); a string (the spec's
/// type) is read as JSON when it holds an object.
fn aspects(value: Option<&Value>) -> HashMap<String, String> {
    let parsed;
    let obj = match value {
        Some(Value::Object(o)) => o,
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => {
                parsed = o;
                &parsed
            }
            _ => return HashMap::new(),
        },
        _ => return HashMap::new(),
    };
    obj.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

/// eBay's condition enum as the canonical condition: `NEW*` → new, refurbished grades kept
/// (lower case), the rest `used`.
pub(crate) fn condition(c: Option<&str>) -> String {
    match c.unwrap_or_default() {
        "" => String::new(),
        c if c.starts_with("NEW") => "new".into(),
        c if c.contains("REFURBISHED") => c.to_ascii_lowercase(),
        _ => "used".into(),
    }
}

/// The canonical condition as eBay's enum (the inverse of [`condition`]): new → `NEW`, a
/// refurbished grade kept (upper case), used → `USED_GOOD`; empty stays unset.
pub(crate) fn ebay_condition(c: &str) -> Option<String> {
    match c {
        "" => None,
        "new" => Some("NEW".into()),
        "used" => Some("USED_GOOD".into()),
        other => Some(other.to_ascii_uppercase()),
    }
}

/// One request of bulkCreateOrReplaceInventoryItem for a catalog record: title, description,
/// brand (also as the `Brand` aspect), attributes as aspects (objects of arrays, as the live
/// API takes them), images, EAN, condition, package weight and the quantity to list.
pub(crate) fn item_request(p: &Product, locale: &str) -> Value {
    let mut aspects = serde_json::Map::new();
    for (k, v) in &p.attributes {
        aspects.insert(k.clone(), serde_json::json!([v]));
    }
    if !p.brand.trim().is_empty() {
        aspects.insert("Brand".into(), serde_json::json!([p.brand.trim()]));
    }
    let product = EbayProduct {
        title: Some(p.title.clone()),
        description: (!p.description.is_empty()).then(|| p.description.clone()),
        brand: (!p.brand.trim().is_empty()).then(|| p.brand.trim().to_string()),
        aspects: (!aspects.is_empty()).then_some(Value::Object(aspects)),
        image_urls: p.images.clone(),
        ean: if p.gtin.is_empty() {
            Vec::new()
        } else {
            vec![p.gtin.clone()]
        },
        ..EbayProduct::default()
    };
    let mut item = serde_json::json!({ "sku": p.sku, "locale": locale, "product": product });
    if let Some(c) = ebay_condition(&p.condition) {
        item["condition"] = Value::String(c);
    }
    if let Some(w) = p.weight.filter(|w| w.is_finite() && *w > 0.0) {
        item["packageWeightAndSize"] =
            serde_json::json!({"weight": {"value": w, "unit": "KILOGRAM"}});
    }
    if let Some(q) = p.quantity {
        item["availability"] =
            serde_json::json!({"shipToLocationAvailability": {"quantity": q.max(0)}});
    }
    item
}

/// The listing status of an offer and the complaints eBay makes about it.
fn listing_state(offer: &Offer) -> (String, Vec<ListingError>) {
    let mut errors = Vec::new();
    let listing = offer.listing.clone().unwrap_or_default();
    let on_hold = listing.listing_on_hold.unwrap_or(false);
    if on_hold {
        errors.push(ListingError {
            code: "LISTING_ON_HOLD".into(),
            message: "eBay put the listing on hold".into(),
            field: String::new(),
            severity: "error".into(),
        });
    }
    let status = match (offer.status.as_deref(), listing.listing_status.as_deref()) {
        (_, Some("ACTIVE")) if !on_hold => "active",
        (_, Some("OUT_OF_STOCK")) => "inactive",
        (_, Some("ENDED" | "EBAY_ENDED")) => "inactive",
        (Some("PUBLISHED"), _) if on_hold => "error",
        (Some("PUBLISHED"), _) => "active",
        (Some("UNPUBLISHED"), _) => {
            errors.push(ListingError {
                code: "UNPUBLISHED".into(),
                message: "the offer is not published on eBay (publishOffer failed or was \
                          never called)"
                    .into(),
                field: String::new(),
                severity: "error".into(),
            });
            "error"
        }
        _ => "pending",
    };
    (status.into(), errors)
}

/// A canonical product: the inventory item with its offer on the marketplace.
pub(crate) fn product(
    item: &InventoryItem,
    offer: Option<&Offer>,
    policies: &HashMap<String, String>,
) -> Product {
    let p = item.product.clone().unwrap_or_default();
    let mut out = Product {
        sku: item.sku.clone(),
        external_id: offer.map(|o| o.offer_id.clone()).unwrap_or_default(),
        title: p.title.clone().unwrap_or_default(),
        description: p.description.clone().unwrap_or_default(),
        brand: p.brand.clone().unwrap_or_default(),
        attributes: aspects(p.aspects.as_ref()),
        images: p.image_urls.clone(),
        gtin: p.ean.first().or(p.upc.first()).cloned().unwrap_or_default(),
        visible: false,
        condition: condition(item.condition.as_deref()),
        quantity: item.quantity(),
        ..Product::default()
    };
    if let Some(w) = item
        .package_weight_and_size
        .as_ref()
        .and_then(|v| v.get("weight"))
    {
        out.weight = w.get("value").and_then(Value::as_f64);
        out.weight_unit = match w.get("unit").and_then(Value::as_str) {
            Some("KILOGRAM") => "kg",
            Some("GRAM") => "g",
            Some("POUND") => "lb",
            Some("OUNCE") => "oz",
            _ => "",
        }
        .into();
    }
    match offer {
        Some(o) => {
            let (status, errors) = listing_state(o);
            out.visible = status == "active";
            out.listing_status = status;
            out.listing_errors = errors;
            if let Some(q) = o.available_quantity {
                out.quantity = Some(q);
            }
            if let Some(price) = o.pricing_summary.as_ref().and_then(|s| s.price.as_ref()) {
                out.raw_price = price.value.clone();
                out.price = Some(price.money());
            }
            out.product_type = o.category_id.clone().unwrap_or_default();
            out.return_policy = o
                .listing_policies
                .as_ref()
                .and_then(|l| l.return_policy_id.as_deref())
                .filter(|id| !id.is_empty())
                .map(|id| policies.get(id).cloned().unwrap_or_else(|| id.to_string()))
                .unwrap_or_default();
        }
        None => out.listing_status = "unlisted".into(),
    }
    out
}

/// Stock of an inventory item (one warehouse: the marketplace).
pub(crate) fn stock(item: &InventoryItem, warehouse: &str) -> Option<StockLevel> {
    let q = item.quantity()?;
    Some(StockLevel {
        sku: item.sku.clone(),
        warehouse: warehouse.to_string(),
        on_hand: q,
        reserved: 0,
        available: q,
    })
}

/// A page of getOrders.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderPage {
    #[serde(default)]
    pub orders: Vec<EbayOrder>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub next: Option<String>,
}

/// An order, with what the connector reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EbayOrder {
    #[serde(default)]
    pub order_id: String,
    #[serde(default)]
    pub creation_date: String,
    #[serde(default)]
    pub last_modified_date: String,
    #[serde(default)]
    pub order_fulfillment_status: String,
    #[serde(default)]
    pub order_payment_status: String,
    #[serde(default)]
    pub cancel_status: Option<Value>,
    #[serde(default)]
    pub payment_summary: Option<Value>,
    #[serde(default)]
    pub pricing_summary: Option<Value>,
    #[serde(default)]
    pub buyer: Option<Value>,
    #[serde(default)]
    pub fulfillment_start_instructions: Vec<Value>,
    #[serde(default)]
    pub fulfillment_hrefs: Vec<String>,
    #[serde(default)]
    pub line_items: Vec<EbayLineItem>,
}

/// A line item.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EbayLineItem {
    #[serde(default)]
    pub line_item_id: String,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub quantity: i64,
    #[serde(default)]
    pub line_item_cost: Option<Amount>,
}

fn amount_at(v: Option<&Value>, pointer: &str) -> Option<Amount> {
    serde_json::from_value(v?.pointer(pointer)?.clone()).ok()
}

fn cents(text: &str) -> i128 {
    rust_decimal::Decimal::from_str_exact(text.trim())
        .map(|d| (d * rust_decimal::Decimal::from(100)).trunc().mantissa())
        .unwrap_or(0)
}

/// The canonical status of an order: cancellation first, then refunds, payment, fulfilment.
pub(crate) fn status(o: &EbayOrder) -> &'static str {
    let cancel = o
        .cancel_status
        .as_ref()
        .and_then(|c| c.get("cancelState"))
        .and_then(Value::as_str)
        .unwrap_or("NONE_REQUESTED");
    if cancel == "CANCELED" {
        return order_status::CANCELLED;
    }
    let total = amount_at(o.pricing_summary.as_ref(), "/total")
        .map(|a| cents(&a.value))
        .unwrap_or(0);
    let refunded: i128 = o
        .payment_summary
        .as_ref()
        .and_then(|p| p.get("refunds"))
        .and_then(Value::as_array)
        .map(|refunds| {
            refunds
                .iter()
                .filter(|r| r.get("refundStatus").and_then(Value::as_str) != Some("FAILED"))
                .filter_map(|r| r.pointer("/amount/value").and_then(Value::as_str))
                .map(cents)
                .sum()
        })
        .unwrap_or(0);
    match o.order_payment_status.as_str() {
        "FULLY_REFUNDED" => return order_status::REFUNDED,
        "PARTIALLY_REFUNDED" => return order_status::PARTIALLY_REFUNDED,
        _ => {}
    }
    if refunded > 0 {
        return if total > 0 && refunded >= total {
            order_status::REFUNDED
        } else {
            order_status::PARTIALLY_REFUNDED
        };
    }
    if matches!(o.order_payment_status.as_str(), "PENDING" | "FAILED") {
        return order_status::PENDING;
    }
    match o.order_fulfillment_status.as_str() {
        "FULFILLED" => order_status::SHIPPED,
        "IN_PROGRESS" => order_status::PARTIALLY_SHIPPED,
        _ => order_status::PROCESSING,
    }
}

fn party(contact: Option<&Value>) -> Option<Party> {
    let c = contact?;
    let s = |p: &str| {
        c.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Some(Party {
        name: s("/fullName"),
        email: s("/email"),
        phone: s("/primaryPhone/phoneNumber"),
        street: s("/contactAddress/addressLine1"),
        city: s("/contactAddress/city"),
        zip: s("/contactAddress/postalCode"),
        country: s("/contactAddress/countryCode"),
    })
}

/// A canonical order.
pub(crate) fn order(o: &EbayOrder) -> Order {
    Order {
        external_id: o.order_id.clone(),
        status: status(o).into(),
        lines: o
            .line_items
            .iter()
            .map(|l| OrderLine {
                sku: l.sku.clone(),
                external_id: l.line_item_id.clone(),
                quantity: l.quantity,
                // lineItemCost is the line's total; the unit price is what a unit cost.
                unit_price: l.line_item_cost.as_ref().map(|c| {
                    let unit = rust_decimal::Decimal::from_str_exact(c.value.trim())
                        .ok()
                        .map(|d| {
                            (d / rust_decimal::Decimal::from(l.quantity.max(1)))
                                .round_dp(2)
                                .to_string()
                        })
                        .unwrap_or_else(|| c.value.clone());
                    Money {
                        amount: unit,
                        currency: c.currency.clone(),
                    }
                }),
                title: l.title.clone(),
            })
            .collect(),
        total: amount_at(o.pricing_summary.as_ref(), "/total").map(|a| a.money()),
        buyer: o.buyer.as_ref().map(|b| {
            let mut p = party(b.get("buyerRegistrationAddress")).unwrap_or_default();
            if p.name.is_empty() {
                p.name = b
                    .get("username")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into();
            }
            p
        }),
        shipping_address: o
            .fulfillment_start_instructions
            .first()
            .and_then(|f| party(f.pointer("/shippingStep/shipTo"))),
        shipments: Vec::new(),
        created_at: o.creation_date.clone(),
        updated_at: o.last_modified_date.clone(),
    }
}

/// Shipments of an order from getShippingFulfillments.
pub(crate) fn shipments(list: &Value, order: &EbayOrder) -> Vec<Shipment> {
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    list.get("fulfillments")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .map(|x| Shipment {
                    external_id: s(x, "fulfillmentId"),
                    carrier: s(x, "shippingCarrierCode"),
                    tracking_number: s(x, "shipmentTrackingNumber"),
                    lines: x
                        .get("lineItems")
                        .and_then(Value::as_array)
                        .map(|ls| {
                            ls.iter()
                                .map(|l| {
                                    let id = s(l, "lineItemId");
                                    let line =
                                        order.line_items.iter().find(|o| o.line_item_id == id);
                                    OrderLine {
                                        sku: line.map(|o| o.sku.clone()).unwrap_or_default(),
                                        title: line.map(|o| o.title.clone()).unwrap_or_default(),
                                        external_id: id,
                                        quantity: l
                                            .get("quantity")
                                            .and_then(Value::as_i64)
                                            .unwrap_or(0),
                                        unit_price: None,
                                    }
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One request of bulkUpdatePriceQuantity.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PriceQuantity {
    pub sku: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ship_to_location_availability: Option<ShipTo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offers: Vec<OfferPriceQuantity>,
}

/// `shipToLocationAvailability`.
#[derive(Debug, Serialize)]
pub(crate) struct ShipTo {
    pub quantity: i64,
}

/// `offers[]` of a price/quantity request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OfferPriceQuantity {
    pub offer_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_quantity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Amount>,
}

/// bulkUpdatePriceQuantity's answer.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BulkResponses {
    #[serde(default)]
    pub responses: Vec<BulkResponse>,
}

/// One answer of a bulk call.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BulkResponse {
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub offer_id: Option<String>,
    #[serde(default)]
    pub status_code: u16,
    #[serde(default)]
    pub errors: Vec<EbayError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let mut o: EbayOrder = serde_json::from_value(serde_json::json!({
            "orderId": "1", "orderFulfillmentStatus": "NOT_STARTED", "orderPaymentStatus": "PAID",
            "pricingSummary": {"total": {"value": "20.00", "currency": "USD"}},
            "cancelStatus": {"cancelState": "NONE_REQUESTED"}
        }))
        .expect("order");
        assert_eq!(status(&o), "processing");
        o.order_fulfillment_status = "FULFILLED".into();
        assert_eq!(status(&o), "shipped");
        o.payment_summary = Some(serde_json::json!({"refunds": [
            {"amount": {"value": "5.00", "currency": "USD"}, "refundStatus": "REFUNDED"}]}));
        assert_eq!(status(&o), "partially_refunded");
        o.payment_summary = Some(serde_json::json!({"refunds": [
            {"amount": {"value": "20.00", "currency": "USD"}, "refundStatus": "REFUNDED"}]}));
        assert_eq!(status(&o), "refunded");
        o.cancel_status = Some(serde_json::json!({"cancelState": "CANCELED"}));
        assert_eq!(status(&o), "cancelled");
    }

    #[test]
    fn aspects_object_or_string() {
        let v = serde_json::json!({"Color": ["Red", "Blue"], "Brand": ["X"]});
        let a = aspects(Some(&v));
        assert_eq!(a["Color"], "Red, Blue");
        let s = Value::String(v.to_string());
        assert_eq!(aspects(Some(&s))["Brand"], "X");
    }
}
