//! Shopify GraphQL shapes (only the fields marketsync reads) and their mapping to the canonical
//! records.

use std::str::FromStr;

use marketsync_proto::v1::{
    Money, Order, OrderLine, Party, Product, Shipment, StockLevel, Variant,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

/// `null` (or absent) as the type's default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A connection page: `{pageInfo, nodes}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct Conn<T> {
    #[serde(default = "Vec::new", deserialize_with = "nullable")]
    pub nodes: Vec<T>,
    #[serde(default)]
    pub page_info: Option<PageInfo>,
}

impl<T> Default for Conn<T> {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            page_info: None,
        }
    }
}

/// `pageInfo`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageInfo {
    #[serde(default)]
    pub has_next_page: bool,
    #[serde(default)]
    pub end_cursor: Option<String>,
}

impl<T> Conn<T> {
    /// The cursor of the next page, if any.
    pub(crate) fn next(&self) -> Option<String> {
        self.page_info
            .as_ref()
            .filter(|p| p.has_next_page)
            .and_then(|p| p.end_cursor.clone())
    }
}

/// A metafield's value.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Metafield {
    #[serde(default, deserialize_with = "nullable")]
    pub value: String,
}

/// `MoneyV2`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MoneyV2 {
    #[serde(default, deserialize_with = "nullable")]
    pub amount: String,
    #[serde(default, deserialize_with = "nullable", alias = "currency_code")]
    pub currency_code: String,
}

/// `MoneyBag` (`shopMoney`; the REST resources' `shop_money`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MoneyBag {
    #[serde(default, deserialize_with = "nullable", alias = "shop_money")]
    pub shop_money: MoneyV2,
}

/// `priceRangeV2`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PriceRange {
    #[serde(default, deserialize_with = "nullable")]
    pub min_variant_price: MoneyV2,
}

/// A media preview image.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Media {
    #[serde(default, deserialize_with = "nullable")]
    pub preview: Preview,
}

/// `MediaPreviewImage`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Preview {
    #[serde(default, deserialize_with = "nullable")]
    pub image: Image,
}

/// `Image`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Image {
    #[serde(default, deserialize_with = "nullable")]
    pub url: String,
}

/// `Weight`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Weight {
    #[serde(default, deserialize_with = "nullable")]
    pub unit: String,
    #[serde(default)]
    pub value: Option<f64>,
}

impl Weight {
    /// The weight in kilograms.
    pub(crate) fn kg(&self) -> Option<f64> {
        let v = self.value?;
        Some(match self.unit.as_str() {
            "GRAMS" => v / 1000.0,
            "POUNDS" => v * 0.453_592_37,
            "OUNCES" => v * 0.028_349_523_125,
            _ => v,
        })
    }
}

/// `inventoryItem { measurement { weight } }`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ItemMeasure {
    #[serde(default, deserialize_with = "nullable")]
    pub measurement: Measurement,
}

/// `InventoryItemMeasurement`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Measurement {
    #[serde(default)]
    pub weight: Option<Weight>,
}

/// A selected option.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SelectedOption {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub value: String,
}

/// A product variant.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ShVariant {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sku: String,
    #[serde(default, deserialize_with = "nullable")]
    pub price: String,
    #[serde(default, deserialize_with = "nullable")]
    pub barcode: String,
    #[serde(default, deserialize_with = "nullable")]
    pub selected_options: Vec<SelectedOption>,
    #[serde(default)]
    pub inventory_item: Option<ItemMeasure>,
}

/// A product.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ShProduct {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub title: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description_html: String,
    #[serde(default, deserialize_with = "nullable")]
    pub vendor: String,
    #[serde(default, deserialize_with = "nullable")]
    pub product_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub status: String,
    #[serde(default)]
    pub sku: Option<Metafield>,
    #[serde(default)]
    pub gtin: Option<Metafield>,
    #[serde(default, deserialize_with = "nullable")]
    pub price_range_v2: PriceRange,
    #[serde(default, deserialize_with = "nullable")]
    pub media: Conn<Media>,
    #[serde(default, deserialize_with = "nullable")]
    pub weight_variant: Conn<ShVariant>,
    #[serde(default, deserialize_with = "nullable")]
    pub variants: Conn<ShVariant>,
}

/// An inventory level quantity.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Quantity {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub quantity: i64,
}

/// A location.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Location {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

/// Stock of an item at one location.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Level {
    #[serde(default, deserialize_with = "nullable")]
    pub location: Location,
    #[serde(default, deserialize_with = "nullable")]
    pub quantities: Vec<Quantity>,
}

impl Level {
    /// A named quantity (0 when absent).
    pub(crate) fn quantity(&self, name: &str) -> i64 {
        self.quantities
            .iter()
            .find(|q| q.name == name)
            .map_or(0, |q| q.quantity)
    }
}

/// An inventory item with its levels.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Item {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sku: String,
    #[serde(default, deserialize_with = "nullable")]
    pub inventory_levels: Conn<Level>,
}

/// A mailing address.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Address {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub address1: String,
    #[serde(default, deserialize_with = "nullable")]
    pub address2: String,
    #[serde(default, deserialize_with = "nullable")]
    pub city: String,
    #[serde(default, deserialize_with = "nullable")]
    pub zip: String,
    /// `countryCodeV2` (the REST resources' `country_code`).
    #[serde(default, deserialize_with = "nullable", alias = "country_code")]
    pub country_code_v2: String,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: String,
}

/// An order line.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LineItem {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sku: String,
    #[serde(default, deserialize_with = "nullable")]
    pub title: String,
    #[serde(default, deserialize_with = "nullable")]
    pub quantity: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub original_unit_price_set: MoneyBag,
}

/// Tracking of a fulfillment.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Tracking {
    #[serde(default, deserialize_with = "nullable")]
    pub company: String,
    #[serde(default, deserialize_with = "nullable")]
    pub number: String,
}

/// A fulfillment.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ShFulfillment {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub tracking_info: Vec<Tracking>,
}

/// An order.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ShOrder {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub email: String,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: String,
    #[serde(default, deserialize_with = "nullable")]
    pub created_at: String,
    #[serde(default, deserialize_with = "nullable")]
    pub updated_at: String,
    #[serde(default)]
    pub cancelled_at: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub display_financial_status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub display_fulfillment_status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub total_price_set: MoneyBag,
    #[serde(default, deserialize_with = "nullable")]
    pub billing_address: Address,
    #[serde(default, deserialize_with = "nullable")]
    pub shipping_address: Address,
    #[serde(default, deserialize_with = "nullable")]
    pub line_items: Conn<LineItem>,
    #[serde(default, deserialize_with = "nullable")]
    pub fulfillments: Vec<ShFulfillment>,
}

/// The REST order an `orders/create` webhook carries (Shopify delivers webhooks in the REST
/// shape, whatever API the app reads with).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RestOrder {
    #[serde(default, deserialize_with = "nullable")]
    pub admin_graphql_api_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub email: String,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: String,
    #[serde(default, deserialize_with = "nullable")]
    pub created_at: String,
    #[serde(default, deserialize_with = "nullable")]
    pub updated_at: String,
    #[serde(default)]
    pub cancelled_at: Option<String>,
    /// `paid`, `pending`, `authorized`, `refunded`, … (the GraphQL enum in lower case).
    #[serde(default, deserialize_with = "nullable")]
    pub financial_status: String,
    /// `null` (nothing fulfilled), `partial` or `fulfilled`.
    #[serde(default, deserialize_with = "nullable")]
    pub fulfillment_status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub currency: String,
    #[serde(default, deserialize_with = "nullable")]
    pub total_price_set: MoneyBag,
    #[serde(default, deserialize_with = "nullable")]
    pub billing_address: Address,
    #[serde(default, deserialize_with = "nullable")]
    pub shipping_address: Address,
    #[serde(default, deserialize_with = "nullable")]
    pub line_items: Vec<RestLineItem>,
    #[serde(default, deserialize_with = "nullable")]
    pub fulfillments: Vec<serde_json::Value>,
}

/// A line of a REST order.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RestLineItem {
    #[serde(default, deserialize_with = "nullable")]
    pub admin_graphql_api_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sku: String,
    #[serde(default, deserialize_with = "nullable")]
    pub title: String,
    #[serde(default, deserialize_with = "nullable")]
    pub quantity: i64,
    /// The unit price before discounts (GraphQL's `originalUnitPriceSet`).
    #[serde(default, deserialize_with = "nullable")]
    pub price_set: MoneyBag,
}

/// An RFC 3339 time in UTC, as GraphQL writes it (REST writes the shop's offset).
fn utc_text(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t.trim())
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|_| t.to_string())
}

/// A new order delivered with `orders/create` as the canonical record, the same as reading it
/// with GraphQL gives; `None` when the payload cannot stand for that read: no GraphQL id or
/// currency, a line without its id, or something already fulfilled or cancelled (read again).
pub(crate) fn delivered_order(r: RestOrder) -> Option<Order> {
    let fresh = r.cancelled_at.is_none() && r.fulfillment_status.is_empty();
    let whole = !r.admin_graphql_api_id.is_empty()
        && !r.currency.is_empty()
        && r.fulfillments.is_empty()
        && !r.line_items.is_empty()
        && r.line_items
            .iter()
            .all(|l| !l.admin_graphql_api_id.is_empty());
    if !(fresh && whole) {
        return None;
    }
    let sh = ShOrder {
        id: r.admin_graphql_api_id,
        email: r.email,
        phone: r.phone,
        created_at: utc_text(&r.created_at),
        updated_at: utc_text(&r.updated_at),
        cancelled_at: None,
        display_financial_status: r.financial_status.to_uppercase(),
        display_fulfillment_status: "UNFULFILLED".into(),
        total_price_set: r.total_price_set,
        billing_address: r.billing_address,
        shipping_address: r.shipping_address,
        line_items: Conn {
            nodes: r
                .line_items
                .into_iter()
                .map(|l| LineItem {
                    id: l.admin_graphql_api_id,
                    sku: l.sku,
                    title: l.title,
                    quantity: l.quantity,
                    original_unit_price_set: l.price_set,
                })
                .collect(),
            page_info: None,
        },
        fulfillments: Vec::new(),
    };
    Some(order(sh, &r.currency))
}

/// A decimal text as canonical money text: at least two decimals, never rounded
/// ("10" → "10.00", "10.0" → "10.00", "19.999" stays "19.999").
pub(crate) fn amount(text: &str) -> Option<String> {
    let mut d = Decimal::from_str(text.trim()).ok()?.normalize();
    if d.scale() < 2 {
        d.rescale(2);
    }
    Some(d.to_string())
}

fn money(m: &MoneyV2, fallback_currency: &str) -> Option<Money> {
    amount(&m.amount).map(|amount| Money {
        amount,
        currency: if m.currency_code.is_empty() {
            fallback_currency.to_string()
        } else {
            m.currency_code.clone()
        },
    })
}

/// Whether a product has only Shopify's default variant (`Title: Default Title`).
fn is_simple(p: &ShProduct) -> bool {
    p.variants.nodes.len() == 1
        && p.variants.nodes[0]
            .selected_options
            .iter()
            .all(|o| o.name == "Title" && o.value == "Default Title")
}

fn variant_weight(v: &ShVariant) -> Option<f64> {
    v.inventory_item
        .as_ref()
        .and_then(|i| i.measurement.weight.as_ref())
        .and_then(Weight::kg)
}

/// A Shopify product as the canonical record. The product sku and GTIN come from the
/// `custom.sku`/`custom.gtin` metafields, else (simple products) from the default variant;
/// the brand is the vendor, the category the product type, visibility the `ACTIVE` status.
pub(crate) fn product(p: ShProduct, currency: &str) -> Product {
    let simple = is_simple(&p);
    let first = p.variants.nodes.first();
    let meta = |m: &Option<Metafield>| {
        m.as_ref()
            .map(|m| m.value.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let sku = meta(&p.sku)
        .or_else(|| first.map(|v| v.sku.clone()))
        .unwrap_or_default();
    let gtin = meta(&p.gtin)
        .or_else(|| simple.then(|| first.map(|v| v.barcode.clone())).flatten())
        .unwrap_or_default();
    let raw_price = if simple {
        first.map(|v| v.price.clone()).unwrap_or_default()
    } else {
        p.price_range_v2.min_variant_price.amount.clone()
    };
    let currency = if p.price_range_v2.min_variant_price.currency_code.is_empty() {
        currency.to_string()
    } else {
        p.price_range_v2.min_variant_price.currency_code.clone()
    };
    let weight = p
        .weight_variant
        .nodes
        .first()
        .and_then(variant_weight)
        .or_else(|| first.and_then(variant_weight));
    let variants = if simple {
        Vec::new()
    } else {
        p.variants
            .nodes
            .iter()
            .map(|v| Variant {
                sku: v.sku.clone(),
                external_id: v.id.clone(),
                options: v
                    .selected_options
                    .iter()
                    .map(|o| (o.name.clone(), o.value.clone()))
                    .collect(),
                price: amount(&v.price).map(|amount| Money {
                    amount,
                    currency: currency.clone(),
                }),
                weight: variant_weight(v).or(weight),
                gtin: v.barcode.clone(),
            })
            .collect()
    };
    Product {
        sku,
        external_id: p.id,
        title: p.title,
        description: p.description_html,
        brand: p.vendor,
        categories: if p.product_type.trim().is_empty() {
            Vec::new()
        } else {
            vec![p.product_type]
        },
        attributes: Default::default(),
        images: p
            .media
            .nodes
            .into_iter()
            .map(|m| m.preview.image.url)
            .filter(|u| !u.is_empty())
            .collect(),
        gtin,
        weight,
        weight_unit: if weight.is_some() {
            "kg".into()
        } else {
            String::new()
        },
        width: None,
        height: None,
        depth: None,
        dimension_unit: String::new(),
        price: amount(&raw_price).map(|amount| Money {
            amount,
            currency: currency.clone(),
        }),
        variants,
        raw_price,
        visible: p.status == "ACTIVE",
        ..Default::default()
    }
}

/// The stock levels of an inventory item, one per location.
pub(crate) fn stock_levels(
    item: &Item,
    warehouse: &dyn Fn(&str, &str) -> String,
) -> Vec<StockLevel> {
    item.inventory_levels
        .nodes
        .iter()
        .map(|l| StockLevel {
            sku: item.sku.clone(),
            warehouse: warehouse(&l.location.id, &l.location.name),
            on_hand: l.quantity("on_hand"),
            reserved: l.quantity("committed"),
            available: l.quantity("available"),
        })
        .collect()
}

fn party(a: &Address, email: &str) -> Party {
    Party {
        name: a.name.clone(),
        email: email.to_string(),
        phone: a.phone.clone(),
        street: [a.address1.as_str(), a.address2.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(", "),
        city: a.city.clone(),
        zip: a.zip.clone(),
        country: a.country_code_v2.clone(),
    }
}

/// Canonical status of an order.
pub(crate) fn order_status(o: &ShOrder) -> String {
    if o.cancelled_at.is_some() {
        return "cancelled".into();
    }
    match o.display_fulfillment_status.as_str() {
        "FULFILLED" => "shipped".into(),
        "PARTIALLY_FULFILLED" => "partially_shipped".into(),
        _ => match o.display_financial_status.as_str() {
            "PENDING" | "AUTHORIZED" => "pending".into(),
            "REFUNDED" => "refunded".into(),
            _ => "awaiting_fulfillment".into(),
        },
    }
}

/// A Shopify order as the canonical record.
pub(crate) fn order(o: ShOrder, currency: &str) -> Order {
    let status = order_status(&o);
    Order {
        external_id: o.id.clone(),
        status,
        lines: o
            .line_items
            .nodes
            .iter()
            .map(|l| OrderLine {
                sku: l.sku.clone(),
                external_id: l.id.clone(),
                quantity: l.quantity,
                unit_price: money(&l.original_unit_price_set.shop_money, currency),
                title: l.title.clone(),
            })
            .collect(),
        total: money(&o.total_price_set.shop_money, currency),
        buyer: Some({
            let mut b = party(&o.billing_address, &o.email);
            if b.phone.is_empty() {
                b.phone = o.phone.clone();
            }
            b
        }),
        shipping_address: Some(party(&o.shipping_address, &o.email)),
        shipments: o
            .fulfillments
            .iter()
            .map(|f| {
                let t = f.tracking_info.first();
                Shipment {
                    external_id: f.id.clone(),
                    carrier: t.map(|t| t.company.clone()).unwrap_or_default(),
                    tracking_number: t.map(|t| t.number.clone()).unwrap_or_default(),
                    lines: Vec::new(),
                }
            })
            .collect(),
        created_at: o.created_at,
        updated_at: o.updated_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_keep_their_digits() {
        assert_eq!(amount("10").as_deref(), Some("10.00"));
        assert_eq!(amount("10.0").as_deref(), Some("10.00"));
        assert_eq!(amount("19.999").as_deref(), Some("19.999"));
        assert_eq!(amount("x"), None);
    }

    #[test]
    fn weights_in_kilograms() {
        let w = Weight {
            unit: "GRAMS".into(),
            value: Some(500.0),
        };
        assert_eq!(w.kg(), Some(0.5));
    }
}
