//! OpenCart REST Admin API documents ↔ canonical records.
//!
//! OpenCart returns most numbers as strings (`"quantity": "12"`, `"price": "49.9000"`): the
//! documents here accept both.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{NaiveDateTime, SecondsFormat};
use marketsync_proto::v1::{
    Money, Order, OrderLine, Party, Product, Shipment, StockLevel, Variant,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An integer sent as a number or a string.
pub(crate) fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(match &v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Value::String(s) => s.trim().parse::<f64>().map(|f| f as i64).unwrap_or(0),
        _ => 0,
    })
}

/// A scalar as its text (`"49.90"`, `49.9` → `"49.9"`, null → `""`).
pub(crate) fn de_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct OcDescription {
    #[serde(default, deserialize_with = "de_i64")]
    pub language_id: i64,
    #[serde(default, deserialize_with = "de_text")]
    pub name: String,
    #[serde(default, deserialize_with = "de_text")]
    pub description: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct OcCategoryRef {
    #[serde(default, deserialize_with = "de_i64")]
    id: i64,
    #[serde(default, deserialize_with = "de_i64")]
    category_id: i64,
}

impl OcCategoryRef {
    /// The category id (`category_id` or `id`).
    pub fn cid(&self) -> i64 {
        if self.category_id != 0 {
            self.category_id
        } else {
            self.id
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct OcOptionValue {
    #[serde(default, deserialize_with = "de_i64")]
    pub product_option_value_id: i64,
    #[serde(default, deserialize_with = "de_text")]
    pub name: String,
    #[serde(default, deserialize_with = "de_text")]
    pub sku: String,
    #[serde(default, deserialize_with = "de_text")]
    pub ean: String,
    #[serde(default, deserialize_with = "de_i64")]
    pub quantity: i64,
    #[serde(default, deserialize_with = "de_text")]
    pub price: String,
    #[serde(default, deserialize_with = "de_text")]
    pub price_prefix: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct OcOption {
    #[serde(default, deserialize_with = "de_text")]
    pub name: String,
    #[serde(default)]
    pub option_value: Vec<OcOptionValue>,
}

impl OcProduct {
    /// The product id (`product_id`, or the extension's `id`).
    pub fn pid(&self) -> i64 {
        if self.product_id != 0 {
            self.product_id
        } else {
            self.id
        }
    }
}

/// A product of `rest/product_admin/products`.
#[derive(Debug, Deserialize)]
pub(crate) struct OcProduct {
    #[serde(default, deserialize_with = "de_i64")]
    id: i64,
    #[serde(default, deserialize_with = "de_i64")]
    product_id: i64,
    #[serde(default, deserialize_with = "de_text")]
    pub model: String,
    #[serde(default, deserialize_with = "de_text")]
    pub sku: String,
    #[serde(default, deserialize_with = "de_text")]
    pub ean: String,
    #[serde(default, deserialize_with = "de_text")]
    pub upc: String,
    #[serde(default, deserialize_with = "de_text")]
    pub mpn: String,
    #[serde(default, deserialize_with = "de_i64")]
    pub quantity: i64,
    #[serde(default, deserialize_with = "de_text")]
    pub price: String,
    #[serde(default, deserialize_with = "de_text")]
    pub weight: String,
    #[serde(default, deserialize_with = "de_text")]
    pub weight_class: String,
    #[serde(default, deserialize_with = "de_text")]
    pub length: String,
    #[serde(default, deserialize_with = "de_text")]
    pub width: String,
    #[serde(default, deserialize_with = "de_text")]
    pub height: String,
    #[serde(default, deserialize_with = "de_text")]
    pub length_class: String,
    #[serde(default, deserialize_with = "de_text")]
    pub status: String,
    #[serde(default, deserialize_with = "de_text")]
    pub manufacturer: String,
    #[serde(default, deserialize_with = "de_text")]
    pub image: String,
    #[serde(default)]
    pub images: Vec<Value>,
    #[serde(default)]
    pub product_description: Vec<OcDescription>,
    #[serde(default)]
    pub category: Vec<OcCategoryRef>,
    #[serde(default)]
    pub options: Vec<OcOption>,
    #[serde(default, deserialize_with = "de_text")]
    pub date_modified: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct OcOrderOption {
    #[serde(default, deserialize_with = "de_text")]
    pub sku: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct OcOrderProduct {
    #[serde(default, deserialize_with = "de_i64")]
    pub order_product_id: i64,
    #[serde(default, deserialize_with = "de_text")]
    pub name: String,
    #[serde(default, deserialize_with = "de_text")]
    pub model: String,
    #[serde(default, deserialize_with = "de_text")]
    pub sku: String,
    #[serde(default, deserialize_with = "de_i64")]
    pub quantity: i64,
    #[serde(default, deserialize_with = "de_text")]
    pub price: String,
    #[serde(default)]
    pub option: Vec<OcOrderOption>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct OcHistory {
    #[serde(default, deserialize_with = "de_text")]
    pub comment: String,
}

/// An order of `rest/order_admin/listorderswithdetails`.
#[derive(Debug, Deserialize)]
pub(crate) struct OcOrder {
    #[serde(deserialize_with = "de_i64")]
    pub order_id: i64,
    #[serde(default, deserialize_with = "de_i64")]
    pub order_status_id: i64,
    #[serde(default, deserialize_with = "de_text")]
    pub firstname: String,
    #[serde(default, deserialize_with = "de_text")]
    pub lastname: String,
    #[serde(default, deserialize_with = "de_text")]
    pub email: String,
    #[serde(default, deserialize_with = "de_text")]
    pub telephone: String,
    #[serde(default, deserialize_with = "de_text")]
    pub shipping_firstname: String,
    #[serde(default, deserialize_with = "de_text")]
    pub shipping_lastname: String,
    #[serde(default, deserialize_with = "de_text")]
    pub shipping_address_1: String,
    #[serde(default, deserialize_with = "de_text")]
    pub shipping_city: String,
    #[serde(default, deserialize_with = "de_text")]
    pub shipping_postcode: String,
    #[serde(default, deserialize_with = "de_text")]
    pub shipping_iso_code_2: String,
    #[serde(default, deserialize_with = "de_text")]
    pub shipping_country: String,
    #[serde(default, deserialize_with = "de_text")]
    pub total: String,
    #[serde(default, deserialize_with = "de_text")]
    pub currency_code: String,
    #[serde(default, deserialize_with = "de_text")]
    pub date_added: String,
    #[serde(default, deserialize_with = "de_text")]
    pub date_modified: String,
    #[serde(default)]
    pub products: Vec<OcOrderProduct>,
    #[serde(default)]
    pub histories: Vec<OcHistory>,
}

/// OpenCart's default order statuses ↔ canonical statuses.
const STATUSES: [(i64, &str); 8] = [
    (1, "pending"),
    (2, "processing"),
    (3, "shipped"),
    (5, "completed"),
    (7, "cancelled"),
    (11, "refunded"),
    (15, "processed"),
    (16, "voided"),
];

/// Canonical status of an OpenCart `order_status_id`.
pub(crate) fn status_name(id: i64) -> String {
    STATUSES
        .iter()
        .find(|(i, _)| *i == id)
        .map_or_else(|| format!("status_{id}"), |(_, n)| (*n).to_string())
}

/// `order_status_id` of a canonical status.
pub(crate) fn status_id(status: &str) -> Option<i64> {
    let s = status.trim().to_ascii_lowercase();
    let s = match s.as_str() {
        "awaiting_fulfillment" | "awaiting_shipment" | "in_progress" => "processing",
        "complete" | "delivered" => "completed",
        "canceled" => "cancelled",
        other => other,
    };
    STATUSES.iter().find(|(_, n)| *n == s).map(|(i, _)| *i)
}

/// The history comment the connector writes for a shipment, and reads back.
pub(crate) fn shipment_comment(carrier: &str, tracking: &str) -> String {
    match (carrier.is_empty(), tracking.is_empty()) {
        (false, false) => format!("Shipped via {carrier}. Tracking number: {tracking}"),
        (true, false) => format!("Shipped. Tracking number: {tracking}"),
        (false, true) => format!("Shipped via {carrier}."),
        (true, true) => "Shipped.".to_string(),
    }
}

/// (carrier, tracking number) of a shipment comment, if it is one.
pub(crate) fn parse_shipment_comment(comment: &str) -> Option<(String, String)> {
    let c = comment.trim();
    let rest = c.strip_prefix("Shipped")?;
    let (carrier_part, tracking) = match rest.split_once("Tracking number:") {
        Some((a, t)) => (a, t.trim().to_string()),
        None => (rest, String::new()),
    };
    let carrier = carrier_part
        .trim()
        .strip_prefix("via ")
        .map(|s| s.trim().trim_end_matches('.').trim().to_string())
        .unwrap_or_default();
    Some((carrier, tracking))
}

/// A decimal text normalised (`"49.9000"` → `"49.9"`, `"10"` stays `"10"`), if it is one.
pub(crate) fn amount(text: &str) -> Option<String> {
    Decimal::from_str(text.trim())
        .ok()
        .map(|d| d.normalize().to_string())
}

fn money(text: &str, currency: &str) -> Option<Money> {
    amount(text).map(|amount| Money {
        amount,
        currency: currency.to_string(),
    })
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

/// OpenCart's `YYYY-MM-DD HH:MM:SS` as RFC 3339 UTC (the text itself if not that).
pub(crate) fn rfc3339(text: &str) -> String {
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S")
        .map(|t| t.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|_| text.trim().to_string())
}

/// The variants of a product: option values with their own sku.
fn variants(p: &OcProduct, currency: &str) -> Vec<Variant> {
    let base = Decimal::from_str(p.price.trim()).ok();
    p.options
        .iter()
        .flat_map(|o| o.option_value.iter().map(move |v| (o, v)))
        .filter(|(_, v)| !v.sku.trim().is_empty())
        .map(|(o, v)| {
            let names: Vec<&str> = o.name.split(" / ").map(str::trim).collect();
            let values: Vec<&str> = v.name.split(" / ").map(str::trim).collect();
            let options = if names.len() == values.len() {
                names
                    .iter()
                    .zip(&values)
                    .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
                    .collect()
            } else {
                HashMap::from([(o.name.clone(), v.name.clone())])
            };
            let delta = Decimal::from_str(v.price.trim()).unwrap_or_default();
            let price = base.map(|b| {
                let p = if v.price_prefix.trim() == "-" {
                    b - delta
                } else {
                    b + delta
                };
                Money {
                    amount: p.normalize().to_string(),
                    currency: currency.to_string(),
                }
            });
            Variant {
                sku: v.sku.trim().to_string(),
                external_id: v.product_option_value_id.to_string(),
                options,
                price,
                weight: None,
                gtin: v.ean.trim().to_string(),
            }
        })
        .collect()
}

/// The canonical product of an OpenCart product.
pub(crate) fn product(p: OcProduct, categories: &HashMap<i64, String>, currency: &str) -> Product {
    let variants = variants(&p, currency);
    let desc = p
        .product_description
        .iter()
        .find(|d| d.language_id == 1)
        .or_else(|| p.product_description.first());
    let mut images = Vec::new();
    if !p.image.trim().is_empty() {
        images.push(p.image.trim().to_string());
    }
    for i in &p.images {
        let url = match i {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("image")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        };
        if !url.is_empty() {
            images.push(url);
        }
    }
    let mut attributes = HashMap::new();
    for (k, v) in [
        ("model", &p.model),
        ("upc", &p.upc),
        ("mpn", &p.mpn),
        ("date_modified", &p.date_modified),
    ] {
        if !v.trim().is_empty() {
            attributes.insert(k.to_string(), v.trim().to_string());
        }
    }
    Product {
        sku: if p.sku.trim().is_empty() {
            p.model.trim().to_string()
        } else {
            p.sku.trim().to_string()
        },
        external_id: p.pid().to_string(),
        title: desc.map(|d| d.name.clone()).unwrap_or_default(),
        description: desc.map(|d| d.description.clone()).unwrap_or_default(),
        brand: p.manufacturer.trim().to_string(),
        categories: p
            .category
            .iter()
            .filter_map(|c| categories.get(&c.cid()).cloned())
            .collect(),
        attributes,
        images,
        gtin: p.ean.trim().to_string(),
        weight: number(&p.weight),
        weight_unit: p.weight_class.trim().to_string(),
        width: number(&p.width),
        height: number(&p.height),
        depth: number(&p.length),
        dimension_unit: p.length_class.trim().to_string(),
        price: money(&p.price, currency),
        variants,
        raw_price: p.price.trim().to_string(),
        visible: p.status.trim() == "1" || p.status.trim() == "true",
        ..Default::default()
    }
}

/// Stock levels of a product: one per option value with a sku, else the product's own.
pub(crate) fn stock_levels(p: &OcProduct, warehouse: &str) -> Vec<StockLevel> {
    let level = |sku: &str, q: i64| StockLevel {
        sku: sku.to_string(),
        warehouse: warehouse.to_string(),
        on_hand: q,
        reserved: 0,
        available: q.max(0),
    };
    let values: Vec<StockLevel> = p
        .options
        .iter()
        .flat_map(|o| &o.option_value)
        .filter(|v| !v.sku.trim().is_empty())
        .map(|v| level(v.sku.trim(), v.quantity))
        .collect();
    if values.is_empty() {
        let sku = if p.sku.trim().is_empty() {
            &p.model
        } else {
            &p.sku
        };
        vec![level(sku.trim(), p.quantity)]
    } else {
        values
    }
}

/// The canonical order of an OpenCart order.
pub(crate) fn order(o: &OcOrder, default_currency: &str) -> Order {
    let currency = if o.currency_code.trim().is_empty() {
        default_currency
    } else {
        o.currency_code.trim()
    };
    let lines: Vec<OrderLine> = o
        .products
        .iter()
        .map(|l| {
            let sku = l
                .option
                .iter()
                .map(|x| x.sku.trim())
                .find(|s| !s.is_empty())
                .unwrap_or(if l.sku.trim().is_empty() {
                    l.model.trim()
                } else {
                    l.sku.trim()
                });
            OrderLine {
                sku: sku.to_string(),
                external_id: l.order_product_id.to_string(),
                quantity: l.quantity,
                unit_price: money(&l.price, currency),
                title: l.name.clone(),
            }
        })
        .collect();
    let shipments = o
        .histories
        .iter()
        .filter_map(|h| parse_shipment_comment(&h.comment))
        .enumerate()
        .map(|(i, (carrier, tracking_number))| Shipment {
            external_id: format!("{}-{}", o.order_id, i + 1),
            carrier,
            tracking_number,
            lines: Vec::new(),
        })
        .collect();
    let name = |a: &str, b: &str| format!("{} {}", a.trim(), b.trim()).trim().to_string();
    Order {
        external_id: o.order_id.to_string(),
        status: status_name(o.order_status_id),
        lines,
        total: money(&o.total, currency),
        buyer: Some(Party {
            name: name(&o.firstname, &o.lastname),
            email: o.email.clone(),
            phone: o.telephone.clone(),
            ..Party::default()
        }),
        shipping_address: Some(Party {
            name: name(&o.shipping_firstname, &o.shipping_lastname),
            street: o.shipping_address_1.clone(),
            city: o.shipping_city.clone(),
            zip: o.shipping_postcode.clone(),
            country: if o.shipping_iso_code_2.trim().is_empty() {
                o.shipping_country.clone()
            } else {
                o.shipping_iso_code_2.clone()
            },
            ..Party::default()
        }),
        shipments,
        created_at: rfc3339(&o.date_added),
        updated_at: rfc3339(&o.date_modified),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        assert_eq!(status_id("shipped"), Some(3));
        assert_eq!(status_id("awaiting_fulfillment"), Some(2));
        assert_eq!(status_name(7), "cancelled");
        assert_eq!(status_id("teleported"), None);
    }

    #[test]
    fn shipment_comments_round_trip() {
        let c = shipment_comment("UPS", "1Z999");
        assert_eq!(
            parse_shipment_comment(&c),
            Some(("UPS".into(), "1Z999".into()))
        );
        assert_eq!(parse_shipment_comment("Customer called"), None);
    }

    #[test]
    fn variant_prices_apply_the_prefix() {
        let p: OcProduct = serde_json::from_value(serde_json::json!({
            "product_id": "7", "sku": "A", "price": "49.9000",
            "options": [{"name": "Size / Colour", "option_value": [
                {"product_option_value_id": 9, "name": "M / Black", "sku": "A-M-BLK",
                 "quantity": "4", "price": "5.0000", "price_prefix": "-"}]}]
        }))
        .expect("product");
        let out = product(p, &HashMap::new(), "USD");
        assert_eq!(out.raw_price, "49.9000");
        assert_eq!(out.price.map(|m| m.amount).as_deref(), Some("49.9"));
        let v = &out.variants[0];
        assert_eq!(v.price.as_ref().map(|m| m.amount.as_str()), Some("44.9"));
        assert_eq!(v.options.get("Colour").map(String::as_str), Some("Black"));
    }
}
