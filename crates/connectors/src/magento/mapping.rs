//! Magento REST records and their mapping to the canonical records.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{NaiveDateTime, SecondsFormat};
use marketsync_proto::v1::{
    Money, Order, OrderLine, Party, Product, Shipment, StockLevel, Variant,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

/// A `searchCriteria` search result.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchResult<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    #[serde(default)]
    pub total_count: u64,
}

/// `GET /V1/store/storeConfigs` (the fields used).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StoreConfig {
    pub code: String,
    pub base_currency_code: String,
    pub weight_unit: String,
    pub base_media_url: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MageCategory {
    pub id: i64,
    pub parent_id: i64,
    pub name: String,
    pub level: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AttrOption {
    pub label: String,
    pub value: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MageAttribute {
    pub attribute_id: i64,
    pub attribute_code: String,
    pub default_frontend_label: String,
    pub options: Vec<AttrOption>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MageSource {
    pub source_code: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SourceItem {
    pub sku: String,
    pub source_code: String,
    pub quantity: f64,
    pub status: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CustomAttribute {
    pub attribute_code: String,
    pub value: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CategoryLink {
    pub category_id: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ConfigurableOption {
    pub attribute_id: Value,
    pub label: String,
    pub position: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ProductExtension {
    pub category_links: Vec<CategoryLink>,
    pub configurable_product_options: Vec<ConfigurableOption>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MediaEntry {
    pub file: String,
    pub position: i64,
    pub disabled: bool,
}

/// A product of `/V1/products` (the fields used).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MageProduct {
    pub id: i64,
    pub sku: String,
    pub name: String,
    /// The JSON number as sent (`null` when absent).
    pub price: Option<serde_json::Number>,
    pub status: i64,
    pub type_id: String,
    pub weight: Option<f64>,
    pub updated_at: String,
    pub extension_attributes: ProductExtension,
    pub media_gallery_entries: Vec<MediaEntry>,
    pub custom_attributes: Vec<CustomAttribute>,
}

impl MageProduct {
    pub(crate) fn custom(&self, code: &str) -> Option<&Value> {
        self.custom_attributes
            .iter()
            .find(|a| a.attribute_code == code)
            .map(|a| &a.value)
    }

    fn custom_text(&self, code: &str) -> String {
        match self.custom(code) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        }
    }

    fn custom_f64(&self, code: &str) -> Option<f64> {
        self.custom_text(code).trim().parse().ok()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MageAddress {
    pub firstname: String,
    pub lastname: String,
    pub email: String,
    pub telephone: String,
    pub street: Vec<String>,
    pub city: String,
    pub postcode: String,
    pub country_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MageItem {
    pub item_id: i64,
    pub sku: String,
    pub name: String,
    pub qty_ordered: f64,
    /// Absent: unknown (the order's shipments are read).
    pub qty_shipped: Option<f64>,
    pub price: Option<serde_json::Number>,
    pub price_incl_tax: Option<serde_json::Number>,
    pub parent_item_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MageOrder {
    pub entity_id: i64,
    pub increment_id: String,
    pub status: String,
    pub state: String,
    pub created_at: String,
    pub updated_at: String,
    pub order_currency_code: String,
    pub customer_email: String,
    pub grand_total: Option<serde_json::Number>,
    pub items: Vec<MageItem>,
    pub billing_address: MageAddress,
    pub extension_attributes: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ShipItem {
    pub order_item_id: i64,
    pub qty: f64,
    pub sku: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Track {
    pub track_number: String,
    pub title: String,
    pub carrier_code: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MageShipment {
    pub entity_id: i64,
    pub order_id: i64,
    pub items: Vec<ShipItem>,
    pub tracks: Vec<Track>,
}

/// An amount as canonical decimal text (at least two decimals, never rounded).
pub(crate) fn amount(text: &str) -> Option<String> {
    let d = Decimal::from_str(text.trim()).ok()?.normalize();
    let d = if d.scale() < 2 {
        let mut d = d;
        d.rescale(2);
        d
    } else {
        d
    };
    Some(d.to_string())
}

/// The JSON number's text without a trailing `.0` (`10.0` → `10`).
pub(crate) fn number_text(n: &serde_json::Number) -> String {
    let t = n.to_string();
    t.strip_suffix(".0").map(String::from).unwrap_or(t)
}

fn money(n: Option<&serde_json::Number>, currency: &str) -> Option<Money> {
    amount(&number_text(n?)).map(|amount| Money {
        amount,
        currency: currency.to_string(),
    })
}

/// Magento's `YYYY-MM-DD HH:MM:SS` (UTC) as RFC 3339; the text itself otherwise.
pub(crate) fn rfc3339(text: &str) -> String {
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S")
        .map(|t| t.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|_| text.to_string())
}

/// Category id → path below the root category ("Men/Tops/Hoodies").
pub(crate) fn category_paths(categories: &[MageCategory]) -> HashMap<i64, String> {
    let by_id: HashMap<i64, &MageCategory> = categories.iter().map(|c| (c.id, c)).collect();
    categories
        .iter()
        .map(|c| {
            let mut names = Vec::new();
            let mut cur = Some(c);
            let mut guard = 0;
            // Levels 0 (root catalog) and 1 (a store's root category) are not part of paths.
            while let Some(x) = cur {
                if x.level <= 1 || guard > 50 {
                    break;
                }
                names.push(x.name.clone());
                cur = by_id.get(&x.parent_id).copied();
                guard += 1;
            }
            names.reverse();
            (c.id, names.join("/"))
        })
        .collect()
}

fn id_of(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        v => v.as_i64(),
    }
}

/// What a product mapping needs besides the product.
pub(crate) struct Lookups<'a> {
    pub categories: &'a HashMap<i64, String>,
    pub attributes: &'a HashMap<i64, Arc<MageAttribute>>,
    pub config: &'a crate::magento::mapping::StoreConfig,
}

fn weight_unit(unit: &str) -> String {
    match unit {
        "kgs" => "kg".into(),
        "lbs" => "lb".into(),
        other => other.into(),
    }
}

fn image_url(file: &str, media: &str) -> String {
    if file.starts_with("http://") || file.starts_with("https://") || media.is_empty() {
        file.to_string()
    } else {
        format!(
            "{}/catalog/product/{}",
            media.trim_end_matches('/'),
            file.trim_start_matches('/')
        )
    }
}

/// A product (with its configurable children) as the canonical record.
pub(crate) fn product(p: MageProduct, children: &[MageProduct], l: &Lookups<'_>) -> Product {
    let currency = if l.config.base_currency_code.is_empty() {
        "USD"
    } else {
        l.config.base_currency_code.as_str()
    };
    let price = money(p.price.as_ref(), currency);
    let raw_price = p.price.as_ref().map(number_text).unwrap_or_default();
    let mut category_ids: Vec<i64> = p
        .extension_attributes
        .category_links
        .iter()
        .filter_map(|c| id_of(&c.category_id))
        .collect();
    if category_ids.is_empty()
        && let Some(Value::Array(ids)) = p.custom("category_ids")
    {
        category_ids = ids.iter().filter_map(id_of).collect();
    }
    let categories = category_ids
        .iter()
        .filter_map(|id| l.categories.get(id).cloned())
        .filter(|p| !p.is_empty())
        .collect();
    let mut media = p.media_gallery_entries.clone();
    media.sort_by_key(|m| m.position);
    let images = media
        .iter()
        .filter(|m| !m.disabled)
        .map(|m| image_url(&m.file, &l.config.base_media_url))
        .collect();
    let mut options = p.extension_attributes.configurable_product_options.clone();
    options.sort_by_key(|o| o.position);
    let variants = children
        .iter()
        .map(|c| variant(c, &options, l.attributes, price.as_ref(), currency))
        .collect();
    let mut attributes = std::collections::HashMap::new();
    if !p.type_id.is_empty() {
        attributes.insert("magento_type_id".to_string(), p.type_id.clone());
    }
    Product {
        external_id: p.id.to_string(),
        title: p.name.clone(),
        description: p.custom_text("description"),
        brand: p.custom_text("brand"),
        categories,
        attributes,
        images,
        gtin: p.custom_text("ean"),
        weight: p.weight,
        weight_unit: weight_unit(&l.config.weight_unit),
        width: p.custom_f64("ts_dimensions_width"),
        height: p.custom_f64("ts_dimensions_height"),
        depth: p.custom_f64("ts_dimensions_length"),
        dimension_unit: String::new(),
        price,
        variants,
        raw_price,
        visible: p.status == 1,
        sku: p.sku,
        ..Default::default()
    }
}

fn variant(
    c: &MageProduct,
    options: &[ConfigurableOption],
    attributes: &HashMap<i64, Arc<MageAttribute>>,
    parent_price: Option<&Money>,
    currency: &str,
) -> Variant {
    let mut opts = HashMap::new();
    for o in options {
        let Some(a) = id_of(&o.attribute_id).and_then(|id| attributes.get(&id)) else {
            continue;
        };
        let Some(value) = c.custom(&a.attribute_code) else {
            continue;
        };
        let value = match value {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let label = a
            .options
            .iter()
            .find(|x| {
                let text = match &x.value {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                text == value
            })
            .map(|x| x.label.clone())
            .unwrap_or(value);
        let name = if o.label.is_empty() {
            a.default_frontend_label.clone()
        } else {
            o.label.clone()
        };
        opts.insert(name, label);
    }
    Variant {
        sku: c.sku.clone(),
        external_id: c.id.to_string(),
        options: opts,
        price: money(c.price.as_ref(), currency).or_else(|| parent_price.cloned()),
        weight: c.weight,
        gtin: c.custom_text("ean"),
    }
}

/// A source item as a stock level; `warehouse` maps the source code.
pub(crate) fn stock_level(i: &SourceItem, warehouse: String) -> StockLevel {
    let on_hand = i.quantity.round() as i64;
    StockLevel {
        sku: i.sku.clone(),
        warehouse,
        on_hand,
        reserved: 0,
        available: if i.status == 1 { on_hand.max(0) } else { 0 },
    }
}

/// The canonical status of a Magento order status.
pub(crate) fn order_status(status: &str, state: &str) -> String {
    let s = if status.is_empty() { state } else { status };
    match s {
        "pending" | "new" | "pending_payment" => "pending".into(),
        "processing" => "awaiting_fulfillment".into(),
        "complete" => "completed".into(),
        "canceled" => "cancelled".into(),
        "holded" => "on_hold".into(),
        "closed" => "refunded".into(),
        other => other.to_string(),
    }
}

/// The Magento status of a canonical status.
pub(crate) fn mage_status(status: &str) -> Option<&'static str> {
    Some(match status {
        "pending" => "pending",
        "awaiting_fulfillment" | "processing" => "processing",
        "completed" | "complete" | "shipped" => "complete",
        "on_hold" => "holded",
        "refunded" | "closed" => "closed",
        _ => return None,
    })
}

/// Magento's carrier code of a carrier name (`custom` for others).
pub(crate) fn carrier_code(carrier: &str) -> &'static str {
    let c = carrier.to_ascii_lowercase();
    if c.contains("ups") {
        "ups"
    } else if c.contains("usps") {
        "usps"
    } else if c.contains("fedex") {
        "fedex"
    } else if c.contains("dhl") {
        "dhl"
    } else {
        "custom"
    }
}

fn party(a: &MageAddress, email: &str) -> Party {
    Party {
        name: format!("{} {}", a.firstname.trim(), a.lastname.trim())
            .trim()
            .to_string(),
        email: if a.email.is_empty() {
            email.to_string()
        } else {
            a.email.clone()
        },
        phone: a.telephone.clone(),
        street: a
            .street
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        city: a.city.clone(),
        zip: a.postcode.clone(),
        country: a.country_id.clone(),
    }
}

fn line(i: &MageItem, currency: &str) -> OrderLine {
    OrderLine {
        sku: i.sku.clone(),
        external_id: i.item_id.to_string(),
        quantity: i.qty_ordered.round() as i64,
        unit_price: money(i.price_incl_tax.as_ref().or(i.price.as_ref()), currency),
        title: i.name.clone(),
    }
}

/// An order with its shipments as the canonical record.
pub(crate) fn order(o: &MageOrder, shipments: &[&MageShipment], default_currency: &str) -> Order {
    let currency = if o.order_currency_code.is_empty() {
        default_currency
    } else {
        o.order_currency_code.as_str()
    };
    let items: Vec<&MageItem> = o
        .items
        .iter()
        .filter(|i| i.parent_item_id.is_none())
        .collect();
    let shipping: Option<MageAddress> = o
        .extension_attributes
        .pointer("/shipping_assignments/0/shipping/address")
        .and_then(|a| serde_json::from_value(a.clone()).ok());
    Order {
        external_id: o.entity_id.to_string(),
        status: order_status(&o.status, &o.state),
        lines: items.iter().map(|i| line(i, currency)).collect(),
        total: money(o.grand_total.as_ref(), currency),
        buyer: Some(party(&o.billing_address, &o.customer_email)),
        shipping_address: shipping.map(|a| party(&a, &o.customer_email)),
        shipments: shipments
            .iter()
            .map(|s| {
                let track = s.tracks.first();
                Shipment {
                    external_id: s.entity_id.to_string(),
                    carrier: track
                        .map(|t| {
                            if t.title.is_empty() {
                                t.carrier_code.clone()
                            } else {
                                t.title.clone()
                            }
                        })
                        .unwrap_or_default(),
                    tracking_number: track.map(|t| t.track_number.clone()).unwrap_or_default(),
                    lines: s
                        .items
                        .iter()
                        .map(
                            |si| match o.items.iter().find(|i| i.item_id == si.order_item_id) {
                                Some(i) => OrderLine {
                                    quantity: si.qty.round() as i64,
                                    ..line(i, currency)
                                },
                                None => OrderLine {
                                    sku: si.sku.clone(),
                                    external_id: si.order_item_id.to_string(),
                                    quantity: si.qty.round() as i64,
                                    title: si.name.clone(),
                                    ..OrderLine::default()
                                },
                            },
                        )
                        .collect(),
                }
            })
            .collect(),
        created_at: rfc3339(&o.created_at),
        updated_at: rfc3339(&o.updated_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_numbers_keep_their_digits() {
        let n: serde_json::Number = serde_json::from_str("19.999").expect("number");
        assert_eq!(number_text(&n), "19.999");
        let n: serde_json::Number = serde_json::from_str("10.0").expect("number");
        assert_eq!(number_text(&n), "10");
        assert_eq!(amount("10").as_deref(), Some("10.00"));
    }

    #[test]
    fn category_paths_skip_the_roots() {
        let cats = vec![
            MageCategory {
                id: 1,
                parent_id: 0,
                name: "Root Catalog".into(),
                level: 0,
            },
            MageCategory {
                id: 2,
                parent_id: 1,
                name: "Default Category".into(),
                level: 1,
            },
            MageCategory {
                id: 3,
                parent_id: 2,
                name: "Men".into(),
                level: 2,
            },
            MageCategory {
                id: 4,
                parent_id: 3,
                name: "Tops".into(),
                level: 3,
            },
        ];
        let paths = category_paths(&cats);
        assert_eq!(paths[&4], "Men/Tops");
        assert_eq!(paths[&2], "");
    }

    #[test]
    fn statuses_round_trip() {
        assert_eq!(
            order_status("processing", "processing"),
            "awaiting_fulfillment"
        );
        assert_eq!(mage_status("cancelled"), None);
        assert_eq!(mage_status("completed"), Some("complete"));
        assert_eq!(rfc3339("2025-01-02 03:04:05"), "2025-01-02T03:04:05Z");
    }
}
