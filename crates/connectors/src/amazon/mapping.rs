//! SP-API JSON (Orders v0, Listings Items 2021-08-01, FBA Inventory v1, Feeds 2021-06-30) and
//! its mapping to and from the canonical records.

use std::collections::HashMap;

use marketsync_proto::v1::{ListingError, Money, Order, OrderLine, Party, Product};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::order_status;

/// `{"payload": …}` of the v0 APIs.
#[derive(Debug, Deserialize)]
pub(crate) struct Payload<T> {
    pub payload: T,
}

/// getOrders payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct OrdersList {
    #[serde(default)]
    pub orders: Vec<AmzOrder>,
    #[serde(default)]
    pub next_token: Option<String>,
}

/// Money of the v0 APIs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AmzMoney {
    #[serde(default)]
    pub currency_code: String,
    #[serde(default)]
    pub amount: String,
}

/// An address of the v0 APIs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct AmzAddress {
    pub name: String,
    pub address_line1: String,
    pub address_line2: String,
    pub city: String,
    pub postal_code: String,
    pub country_code: String,
    pub phone: String,
}

/// BuyerInfo of an order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct AmzBuyer {
    pub buyer_email: String,
    pub buyer_name: String,
}

/// One order of getOrders.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AmzOrder {
    pub amazon_order_id: String,
    pub purchase_date: String,
    pub last_update_date: String,
    pub order_status: String,
    #[serde(default)]
    pub order_total: Option<AmzMoney>,
    #[serde(default)]
    pub shipping_address: Option<AmzAddress>,
    #[serde(default)]
    pub buyer_info: Option<AmzBuyer>,
}

/// getOrderItems payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct OrderItemsList {
    #[serde(default)]
    pub order_items: Vec<AmzOrderItem>,
    #[serde(default)]
    pub next_token: Option<String>,
}

/// One line of an order.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AmzOrderItem {
    #[serde(rename = "SellerSKU", default)]
    pub seller_sku: String,
    pub order_item_id: String,
    #[serde(default)]
    pub title: String,
    pub quantity_ordered: i64,
    #[serde(default)]
    pub quantity_shipped: Option<i64>,
    #[serde(default)]
    pub item_price: Option<AmzMoney>,
}

/// The canonical status of an Orders v0 `OrderStatus`.
///
/// Pending and PendingAvailability (payment not authorized yet) → pending; Unshipped →
/// processing; PartiallyShipped → partially_shipped; Shipped and InvoiceUnconfirmed (shipped,
/// invoice not confirmed) → shipped; Canceled and Unfulfillable → cancelled.
pub(crate) fn status(amazon: &str) -> &'static str {
    match amazon {
        "Pending" | "PendingAvailability" => order_status::PENDING,
        "Unshipped" => order_status::PROCESSING,
        "PartiallyShipped" => order_status::PARTIALLY_SHIPPED,
        "Shipped" | "InvoiceUnconfirmed" => order_status::SHIPPED,
        "Canceled" | "Unfulfillable" => order_status::CANCELLED,
        _ => order_status::PENDING,
    }
}

fn money(m: &AmzMoney) -> Money {
    Money {
        amount: m.amount.clone(),
        currency: m.currency_code.clone(),
    }
}

/// An order with its lines as a canonical order.
pub(crate) fn order(o: &AmzOrder, items: &[AmzOrderItem]) -> Order {
    let lines: Vec<OrderLine> = items
        .iter()
        .map(|i| OrderLine {
            sku: i.seller_sku.clone(),
            external_id: i.order_item_id.clone(),
            quantity: i.quantity_ordered,
            // ItemPrice is the line total (price × quantity).
            unit_price: i.item_price.as_ref().map(|p| Money {
                amount: unit_price(&p.amount, i.quantity_ordered),
                currency: p.currency_code.clone(),
            }),
            title: i.title.clone(),
        })
        .collect();
    let address = o.shipping_address.clone().unwrap_or_default();
    let buyer = o.buyer_info.clone().unwrap_or_default();
    Order {
        external_id: o.amazon_order_id.clone(),
        status: status(&o.order_status).to_string(),
        lines,
        total: o.order_total.as_ref().map(money),
        buyer: Some(Party {
            name: buyer.buyer_name,
            email: buyer.buyer_email,
            ..Party::default()
        }),
        shipping_address: Some(Party {
            name: address.name,
            phone: address.phone,
            street: [address.address_line1, address.address_line2]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
            city: address.city,
            zip: address.postal_code,
            country: address.country_code,
            ..Party::default()
        }),
        // Orders v0 does not return shipments (carrier, tracking) of merchant orders.
        shipments: Vec::new(),
        created_at: o.purchase_date.clone(),
        updated_at: o.last_update_date.clone(),
    }
}

/// listFinancialEvents payload (Finances v0).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FinancialEventsPage {
    #[serde(default)]
    pub financial_events: FinancialEvents,
    #[serde(default)]
    pub next_token: Option<String>,
}

/// The financial event lists the connector reads (Amazon sends many more).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FinancialEvents {
    #[serde(default)]
    pub refund_event_list: Vec<RefundEvent>,
}

/// A refund (a `ShipmentEvent` of `RefundEventList`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RefundEvent {
    #[serde(default)]
    pub amazon_order_id: Option<String>,
    #[serde(default)]
    pub posted_date: Option<String>,
    #[serde(default)]
    pub shipment_item_adjustment_list: Vec<RefundItem>,
}

/// A refunded line (`ShipmentItem`; `QuantityShipped` is the quantity refunded).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RefundItem {
    #[serde(rename = "SellerSKU", default)]
    pub seller_sku: Option<String>,
    #[serde(default)]
    pub order_item_id: Option<String>,
    #[serde(default)]
    pub quantity_shipped: Option<i64>,
}

/// The canonical status of an order with `refunds` (its refund events): `refunded` when
/// every line's ordered quantity was refunded (lines matched by OrderItemId, else SellerSKU; a
/// refunded line without a quantity counts in full; an event without lines refunds the
/// order), `partially_refunded` otherwise.
pub(crate) fn refund_status(items: &[AmzOrderItem], refunds: &[&RefundEvent]) -> &'static str {
    if refunds
        .iter()
        .any(|r| r.shipment_item_adjustment_list.is_empty())
    {
        return order_status::REFUNDED;
    }
    let refunded = |line: &AmzOrderItem| -> i64 {
        refunds
            .iter()
            .flat_map(|r| &r.shipment_item_adjustment_list)
            .filter(|a| match &a.order_item_id {
                Some(id) if !id.is_empty() => *id == line.order_item_id,
                _ => a.seller_sku.as_deref() == Some(line.seller_sku.as_str()),
            })
            .map(|a| a.quantity_shipped.unwrap_or(line.quantity_ordered).abs())
            .sum()
    };
    if !items.is_empty() && items.iter().all(|i| refunded(i) >= i.quantity_ordered) {
        order_status::REFUNDED
    } else {
        order_status::PARTIALLY_REFUNDED
    }
}

/// `total / quantity` as decimal text (the total itself when that is not exact).
fn unit_price(total: &str, quantity: i64) -> String {
    use rust_decimal::Decimal;
    use std::str::FromStr;
    match (Decimal::from_str(total.trim()), quantity) {
        (Ok(t), q) if q > 1 => (t / Decimal::from(q)).normalize().to_string(),
        _ => total.to_string(),
    }
}

/// searchListingsItems answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemSearchResults {
    #[serde(default)]
    pub number_of_results: Option<u64>,
    #[serde(default)]
    pub pagination: Option<Pagination>,
    #[serde(default)]
    pub items: Vec<Item>,
}

/// Page tokens of the 2021+ APIs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Pagination {
    #[serde(default)]
    pub next_token: Option<String>,
}

/// A listings item.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Item {
    pub sku: String,
    #[serde(default)]
    pub summaries: Vec<Summary>,
    #[serde(default)]
    pub attributes: serde_json::Map<String, Value>,
    #[serde(default)]
    pub issues: Vec<Issue>,
    #[serde(default)]
    pub offers: Vec<Offer>,
    #[serde(default)]
    pub fulfillment_availability: Vec<Availability>,
}

/// Per-marketplace summary of a listing.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    pub marketplace_id: String,
    #[serde(default)]
    pub asin: Option<String>,
    pub product_type: String,
    #[serde(default)]
    pub condition_type: Option<String>,
    #[serde(default)]
    pub status: Vec<String>,
    #[serde(default)]
    pub item_name: Option<String>,
    #[serde(default)]
    pub main_image: Option<Value>,
}

/// An issue Amazon reports on a listing (or a submission).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Issue {
    pub code: String,
    pub message: String,
    pub severity: String,
    #[serde(default)]
    pub attribute_names: Vec<String>,
}

/// An offer of a listing.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Offer {
    pub marketplace_id: String,
    #[serde(default)]
    pub offer_type: String,
    pub price: ListingMoney,
}

/// Money of the 2021+ APIs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListingMoney {
    pub currency_code: String,
    pub amount: Value,
}

/// Quantity available per fulfillment channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Availability {
    pub fulfillment_channel_code: String,
    #[serde(default)]
    pub quantity: Option<i64>,
}

/// The condition of a listing: `new`, `used`, `refurbished`, … (first word of conditionType).
fn condition(condition_type: &str) -> String {
    condition_type
        .split('_')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The first `value` of an attribute (`[{"value": …, "marketplace_id": …}]`).
fn attr_text(attrs: &serde_json::Map<String, Value>, name: &str) -> String {
    attrs
        .get(name)
        .and_then(|v| v.get(0))
        .and_then(|v| v.get("value"))
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

/// A listing error of an issue.
pub(crate) fn listing_error(i: &Issue) -> ListingError {
    ListingError {
        code: i.code.clone(),
        message: i.message.clone(),
        field: i.attribute_names.join(","),
        severity: i.severity.to_ascii_lowercase(),
    }
}

/// A listings item as the canonical product (the offer of `marketplace_id`).
pub(crate) fn product(item: &Item, marketplace_id: &str) -> Product {
    let summary = item
        .summaries
        .iter()
        .find(|s| s.marketplace_id == marketplace_id)
        .or_else(|| item.summaries.first());
    let offer = item
        .offers
        .iter()
        .find(|o| o.marketplace_id == marketplace_id && o.offer_type != "B2B")
        .or_else(|| item.offers.first());
    let raw_price = offer
        .map(|o| match &o.price.amount {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let errors: Vec<ListingError> = item.issues.iter().map(listing_error).collect();
    let status = match summary {
        _ if errors.iter().any(|e| e.severity == "error") => "error",
        Some(s) if s.status.iter().any(|x| x == "BUYABLE") => "active",
        Some(_) => "inactive",
        None => "pending",
    };
    let lead_time = item
        .attributes
        .get("fulfillment_availability")
        .and_then(|v| v.get(0))
        .and_then(|v| v.get("lead_time_to_ship_max_days"))
        .and_then(Value::as_i64)
        .map(|d| d as i32);
    let quantity = item
        .fulfillment_availability
        .iter()
        .find(|a| a.fulfillment_channel_code == "DEFAULT")
        .and_then(|a| a.quantity);
    let title = summary
        .and_then(|s| s.item_name.clone())
        .unwrap_or_else(|| attr_text(&item.attributes, "item_name"));
    let mut attributes: HashMap<String, String> = HashMap::new();
    if let Some(asin) = summary.and_then(|s| s.asin.clone()) {
        attributes.insert("asin".into(), asin);
    }
    // The attributes buyers filter by, as the engine's attribute rules read them.
    for name in ["color", "material", "size"] {
        let value = attr_text(&item.attributes, name);
        if !value.is_empty() {
            attributes.insert(name.into(), value);
        }
    }
    Product {
        sku: item.sku.clone(),
        external_id: item.sku.clone(),
        title,
        description: attr_text(&item.attributes, "product_description"),
        brand: attr_text(&item.attributes, "brand"),
        attributes,
        images: summary
            .and_then(|s| s.main_image.as_ref())
            .and_then(|i| i.get("link"))
            .and_then(Value::as_str)
            .map(|s| vec![s.to_string()])
            .unwrap_or_default(),
        price: offer.map(|o| Money {
            amount: raw_price.clone(),
            currency: o.price.currency_code.clone(),
        }),
        raw_price,
        visible: status == "active",
        condition: summary
            .and_then(|s| s.condition_type.as_deref())
            .map(condition)
            .unwrap_or_default(),
        lead_time_days: lead_time,
        listing_status: status.to_string(),
        listing_errors: errors,
        quantity,
        // Amazon applies its own return policy to every offer.
        return_policy: String::new(),
        product_type: summary.map(|s| s.product_type.clone()).unwrap_or_default(),
        ..Product::default()
    }
}

/// A JSON_LISTINGS_FEED v2 document.
#[derive(Debug, Serialize)]
pub(crate) struct FeedDoc<'a> {
    pub header: FeedHeader<'a>,
    pub messages: Vec<FeedMessage<'a>>,
}

/// The header of a feed document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FeedHeader<'a> {
    pub seller_id: &'a str,
    pub version: &'static str,
    pub issue_locale: &'static str,
}

/// One message setting quantity and/or price of an offer: PATCH with `replace` of
/// `fulfillment_availability` and `purchasable_offer`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FeedMessage<'a> {
    pub message_id: usize,
    pub sku: &'a str,
    pub operation_type: &'static str,
    /// The product type Amazon documents for offer-only updates of existing listings.
    pub product_type: &'static str,
    pub patches: Vec<FeedPatch<'a>>,
}

/// One JSON Patch operation of a message.
#[derive(Debug, Serialize)]
pub(crate) struct FeedPatch<'a> {
    pub op: &'static str,
    pub path: &'static str,
    pub value: [PatchValue<'a>; 1],
}

/// The attribute value a patch sets.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum PatchValue<'a> {
    /// `fulfillment_availability`.
    Quantity {
        fulfillment_channel_code: &'static str,
        quantity: i64,
    },
    /// `purchasable_offer`.
    Offer {
        marketplace_id: &'a str,
        currency: &'a str,
        our_price: [Schedule; 1],
    },
}

/// `our_price` of a purchasable offer.
#[derive(Debug, Serialize)]
pub(crate) struct Schedule {
    pub schedule: [PriceValue; 1],
}

/// One price of a schedule.
#[derive(Debug, Serialize)]
pub(crate) struct PriceValue {
    pub value_with_tax: serde_json::Number,
}

/// The message of one offer (`price` already checked to be a number).
pub(crate) fn feed_message<'a>(
    message_id: usize,
    sku: &'a str,
    quantity: Option<i64>,
    price: Option<(serde_json::Number, &'a str)>,
    marketplace_id: &'a str,
) -> FeedMessage<'a> {
    let mut patches = Vec::with_capacity(2);
    if let Some(q) = quantity {
        patches.push(FeedPatch {
            op: "replace",
            path: "/attributes/fulfillment_availability",
            value: [PatchValue::Quantity {
                fulfillment_channel_code: "DEFAULT",
                quantity: q.max(0),
            }],
        });
    }
    if let Some((amount, currency)) = price {
        patches.push(FeedPatch {
            op: "replace",
            path: "/attributes/purchasable_offer",
            value: [PatchValue::Offer {
                marketplace_id,
                currency,
                our_price: [Schedule {
                    schedule: [PriceValue {
                        value_with_tax: amount,
                    }],
                }],
            }],
        });
    }
    FeedMessage {
        message_id,
        sku,
        operation_type: "PATCH",
        product_type: "PRODUCT",
        patches,
    }
}

/// getFeed answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Feed {
    pub processing_status: String,
    #[serde(default)]
    pub result_feed_document_id: Option<String>,
}

/// createFeedDocument / getFeedDocument answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FeedDocument {
    pub feed_document_id: String,
    pub url: String,
    #[serde(default)]
    pub compression_algorithm: Option<String>,
}

/// createFeed answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedFeed {
    pub feed_id: String,
}

/// A JSON_LISTINGS_FEED processing report.
#[derive(Debug, Deserialize)]
pub(crate) struct ProcessingReport {
    #[serde(default)]
    pub issues: Vec<ReportIssue>,
    pub summary: ReportSummary,
}

/// One issue of a processing report.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReportIssue {
    #[serde(default)]
    pub message_id: Option<usize>,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    pub severity: String,
    pub message: String,
}

/// Counts of a processing report.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReportSummary {
    pub messages_processed: u64,
    pub messages_accepted: u64,
    pub messages_invalid: u64,
}

/// getInventorySummaries answer.
#[derive(Debug, Deserialize)]
pub(crate) struct InventoryResponse {
    pub payload: InventoryPayload,
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

/// Summaries of one page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InventoryPayload {
    #[serde(default)]
    pub inventory_summaries: Vec<InventorySummary>,
}

/// FBA stock of one seller sku.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InventorySummary {
    #[serde(default)]
    pub seller_sku: Option<String>,
    #[serde(default)]
    pub total_quantity: Option<i64>,
    #[serde(default)]
    pub inventory_details: Option<Value>,
}

/// patchListingsItem / putListingsItem answer.
#[derive(Debug, Deserialize)]
pub(crate) struct Submission {
    pub status: String,
    #[serde(default)]
    pub issues: Vec<Issue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_canonical() {
        assert_eq!(status("Pending"), "pending");
        assert_eq!(status("PendingAvailability"), "pending");
        assert_eq!(status("Unshipped"), "processing");
        assert_eq!(status("PartiallyShipped"), "partially_shipped");
        assert_eq!(status("Shipped"), "shipped");
        assert_eq!(status("InvoiceUnconfirmed"), "shipped");
        assert_eq!(status("Canceled"), "cancelled");
        assert_eq!(status("Unfulfillable"), "cancelled");
    }

    #[test]
    fn unit_price_divides_the_line_total() {
        assert_eq!(unit_price("25.00", 2), "12.5");
        assert_eq!(unit_price("9.99", 1), "9.99");
    }

    #[test]
    fn refunds_cover_the_order_or_part_of_it() {
        let line = |id: &str, sku: &str, q: i64| AmzOrderItem {
            seller_sku: sku.into(),
            order_item_id: id.into(),
            title: String::new(),
            quantity_ordered: q,
            quantity_shipped: None,
            item_price: None,
        };
        let refund = |items: &[(Option<&str>, &str, Option<i64>)]| RefundEvent {
            amazon_order_id: Some("1".into()),
            posted_date: None,
            shipment_item_adjustment_list: items
                .iter()
                .map(|(id, sku, q)| RefundItem {
                    seller_sku: Some(sku.to_string()),
                    order_item_id: id.map(str::to_string),
                    quantity_shipped: *q,
                })
                .collect(),
        };
        let items = [line("a", "S1", 2), line("b", "S2", 1)];
        let all = refund(&[(Some("a"), "S1", Some(2)), (None, "S2", None)]);
        assert_eq!(refund_status(&items, &[&all]), "refunded");
        let part = refund(&[(Some("a"), "S1", Some(1))]);
        assert_eq!(refund_status(&items, &[&part]), "partially_refunded");
        let rest = refund(&[(Some("a"), "S1", Some(1)), (Some("b"), "S2", Some(1))]);
        assert_eq!(refund_status(&items, &[&part, &rest]), "refunded");
        assert_eq!(refund_status(&items, &[&refund(&[])]), "refunded");
    }
}
