//! WooCommerce JSON shapes (only the fields marketsync reads) and their mapping to and from
//! the canonical records.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use marketsync_proto::v1::{
    Money, Order, OrderLine, Party, Product, Shipment, StockLevel, Variant,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// `null` (or absent) as the type's default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A product, or a variation in the product shape (`type: variation`, `parent_id`).
#[derive(Debug, Deserialize)]
pub(crate) struct WcProduct {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub parent_id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub catalog_visibility: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sku: String,
    #[serde(default, deserialize_with = "nullable")]
    pub global_unique_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub price: String,
    #[serde(default, deserialize_with = "nullable")]
    pub regular_price: String,
    #[serde(default, deserialize_with = "nullable")]
    pub manage_stock: bool,
    #[serde(default)]
    pub stock_quantity: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub stock_status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub weight: String,
    #[serde(default, deserialize_with = "nullable")]
    pub dimensions: WcDimensions,
    #[serde(default, deserialize_with = "nullable")]
    pub categories: Vec<WcRef>,
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<WcImage>,
    #[serde(default, deserialize_with = "nullable")]
    pub attributes: Vec<WcAttribute>,
    #[serde(default, deserialize_with = "nullable")]
    pub variations: Vec<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub date_modified_gmt: String,
}

/// Product dimensions (strings).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WcDimensions {
    #[serde(default, deserialize_with = "nullable")]
    pub length: String,
    #[serde(default, deserialize_with = "nullable")]
    pub width: String,
    #[serde(default, deserialize_with = "nullable")]
    pub height: String,
}

/// `{id, name, slug}` reference (categories).
#[derive(Debug, Deserialize)]
pub(crate) struct WcRef {
    pub id: i64,
}

/// A product image.
#[derive(Debug, Deserialize)]
pub(crate) struct WcImage {
    #[serde(default, deserialize_with = "nullable")]
    pub src: String,
}

/// A product attribute (`options`) or a variation attribute (`option`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub(crate) struct WcAttribute {
    #[serde(default, deserialize_with = "nullable")]
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub position: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub visible: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub variation: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub options: Vec<String>,
    #[serde(default, skip_serializing)]
    pub option: Option<String>,
}

/// A variation (`/products/{id}/variations`).
#[derive(Debug, Deserialize)]
pub(crate) struct WcVariation {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub sku: String,
    #[serde(default, deserialize_with = "nullable")]
    pub global_unique_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub price: String,
    #[serde(default, deserialize_with = "nullable")]
    pub regular_price: String,
    #[serde(default, deserialize_with = "nullable")]
    pub manage_stock: serde_json::Value,
    #[serde(default)]
    pub stock_quantity: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub weight: String,
    #[serde(default, deserialize_with = "nullable")]
    pub attributes: Vec<WcAttribute>,
}

impl WcVariation {
    /// `manage_stock` is `true`, `false` or `"parent"` (the parent's stock).
    pub(crate) fn manages_stock(&self) -> bool {
        self.manage_stock.as_bool() == Some(true)
    }
}

/// A product category.
#[derive(Debug, Deserialize)]
pub(crate) struct WcCategory {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub parent: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub slug: String,
}

/// A setting option (`/settings/{group}`).
#[derive(Debug, Deserialize)]
pub(crate) struct WcSetting {
    pub id: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// The parts of `/system_status` marketsync reads.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WcSystemStatus {
    #[serde(default, deserialize_with = "nullable")]
    pub environment: WcEnvironment,
    #[serde(default, deserialize_with = "nullable")]
    pub settings: WcStatusSettings,
}

/// `environment` of the system status.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WcEnvironment {
    #[serde(default, deserialize_with = "nullable")]
    pub home_url: String,
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
}

/// `settings` of the system status.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WcStatusSettings {
    #[serde(default, deserialize_with = "nullable")]
    pub currency: String,
}

/// An order.
#[derive(Debug, Deserialize)]
pub(crate) struct WcOrder {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub currency: String,
    #[serde(default, deserialize_with = "nullable")]
    pub date_created_gmt: String,
    #[serde(default, deserialize_with = "nullable")]
    pub date_modified_gmt: String,
    #[serde(default, deserialize_with = "nullable")]
    pub total: String,
    #[serde(default, deserialize_with = "nullable")]
    pub billing: WcAddress,
    #[serde(default, deserialize_with = "nullable")]
    pub shipping: WcAddress,
    #[serde(default, deserialize_with = "nullable")]
    pub line_items: Vec<WcLineItem>,
}

/// A billing or shipping address.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WcAddress {
    #[serde(default, deserialize_with = "nullable")]
    pub first_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub last_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub address_1: String,
    #[serde(default, deserialize_with = "nullable")]
    pub address_2: String,
    #[serde(default, deserialize_with = "nullable")]
    pub city: String,
    #[serde(default, deserialize_with = "nullable")]
    pub postcode: String,
    #[serde(default, deserialize_with = "nullable")]
    pub country: String,
    #[serde(default, deserialize_with = "nullable")]
    pub email: String,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: String,
}

/// An order line item.
#[derive(Debug, Deserialize)]
pub(crate) struct WcLineItem {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sku: String,
    #[serde(default, deserialize_with = "nullable")]
    pub quantity: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub total: String,
    /// The unit price, a JSON number, kept as written.
    #[serde(default)]
    pub price: Option<Box<RawValue>>,
}

/// An order note.
#[derive(Debug, Deserialize)]
pub(crate) struct WcNote {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub note: String,
}

/// A webhook.
#[derive(Debug, Deserialize)]
pub(crate) struct WcWebhook {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub topic: String,
    #[serde(default, deserialize_with = "nullable")]
    pub delivery_url: String,
}

/// One item of a batch answer: the resource, or `{id, error}`.
#[derive(Debug, Deserialize)]
pub(crate) struct WcBatchItem {
    #[serde(default, deserialize_with = "nullable")]
    pub id: i64,
    #[serde(default)]
    pub error: Option<WcError>,
}

/// A WordPress REST error.
#[derive(Debug, Deserialize)]
pub(crate) struct WcError {
    #[serde(default, deserialize_with = "nullable")]
    pub code: String,
    #[serde(default, deserialize_with = "nullable")]
    pub message: String,
}

/// A batch answer.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WcBatchResponse {
    #[serde(default, deserialize_with = "nullable")]
    pub update: Vec<WcBatchItem>,
}

/// A decimal text as canonical money text: at least two decimals, never rounded.
pub(crate) fn amount(text: &str) -> Option<String> {
    let d = Decimal::from_str(text.trim()).ok()?.normalize();
    let mut d = d;
    if d.scale() < 2 {
        d.rescale(2);
    }
    Some(d.to_string())
}

/// Canonical money, or `None` for text that is not a decimal.
pub(crate) fn money(text: &str, currency: &str) -> Option<Money> {
    amount(text).map(|amount| Money {
        amount,
        currency: currency.to_string(),
    })
}

/// A GMT date of the API (`YYYY-MM-DDTHH:MM:SS`) as RFC 3339 UTC.
pub(crate) fn gmt(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S")
        .map(|n| n.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|d| d.with_timezone(&Utc))
        })
}

fn rfc3339(text: &str) -> String {
    gmt(text)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| text.trim().to_string())
}

/// A date filter value: GMT, whole seconds (sent with `dates_are_gmt=true`).
pub(crate) fn date_param(t: &DateTime<Utc>) -> String {
    t.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Whether an attribute is the brand (a product attribute named Brand, custom or `pa_brand`).
pub(crate) fn is_brand(a: &WcAttribute) -> bool {
    !a.variation
        && (a.name.eq_ignore_ascii_case("brand") || a.name.eq_ignore_ascii_case("pa_brand"))
}

/// Store-wide facts a product mapping needs.
pub(crate) struct Lookups<'a> {
    /// Category id → path; the default category (`uncategorized`) is absent.
    pub categories: &'a HashMap<i64, String>,
    /// Store currency.
    pub currency: &'a str,
    /// `woocommerce_weight_unit`.
    pub weight_unit: &'a str,
    /// `woocommerce_dimension_unit`.
    pub dimension_unit: &'a str,
}

/// A product with its variations as the canonical record.
pub(crate) fn product(p: WcProduct, variations: &[WcVariation], l: &Lookups<'_>) -> Product {
    let raw_price = if p.regular_price.trim().is_empty() {
        p.price.trim().to_string()
    } else {
        p.regular_price.trim().to_string()
    };
    let price = money(&raw_price, l.currency);
    let categories = p
        .categories
        .iter()
        .filter_map(|c| l.categories.get(&c.id).cloned())
        .collect();
    let brand = p
        .attributes
        .iter()
        .find(|a| is_brand(a))
        .and_then(|a| a.options.first().cloned())
        .unwrap_or_default();
    let mut attributes = HashMap::new();
    for (k, v) in [
        ("type", p.kind.as_str()),
        ("status", p.status.as_str()),
        ("catalog_visibility", p.catalog_visibility.as_str()),
        ("stock_status", p.stock_status.as_str()),
        ("date_modified_gmt", p.date_modified_gmt.as_str()),
    ] {
        if !v.trim().is_empty() {
            attributes.insert(k.to_string(), v.to_string());
        }
    }
    for a in p.attributes.iter().filter(|a| !a.variation && !is_brand(a)) {
        if !a.name.is_empty() {
            attributes.insert(a.name.clone(), a.options.join(", "));
        }
    }
    let variants = variations
        .iter()
        .map(|v| {
            let own = if v.regular_price.trim().is_empty() {
                v.price.trim()
            } else {
                v.regular_price.trim()
            };
            Variant {
                sku: v.sku.clone(),
                external_id: v.id.to_string(),
                options: v
                    .attributes
                    .iter()
                    .map(|a| (a.name.clone(), a.option.clone().unwrap_or_default()))
                    .collect(),
                price: money(own, l.currency).or_else(|| price.clone()),
                // An empty variation weight means the parent's.
                weight: number(&v.weight),
                gtin: v.global_unique_id.trim().to_string(),
            }
        })
        .collect();
    let unit = |u: &str, present: bool| {
        if present {
            u.to_string()
        } else {
            String::new()
        }
    };
    let weight = number(&p.weight);
    let (width, height, depth) = (
        number(&p.dimensions.width),
        number(&p.dimensions.height),
        number(&p.dimensions.length),
    );
    Product {
        sku: p.sku,
        external_id: p.id.to_string(),
        title: p.name,
        description: p.description,
        brand,
        categories,
        attributes,
        images: p
            .images
            .into_iter()
            .map(|i| i.src)
            .filter(|s| !s.is_empty())
            .collect(),
        gtin: p.global_unique_id.trim().to_string(),
        weight_unit: unit(l.weight_unit, weight.is_some()),
        weight,
        dimension_unit: unit(
            l.dimension_unit,
            width.is_some() || height.is_some() || depth.is_some(),
        ),
        width,
        height,
        depth,
        price,
        variants,
        raw_price,
        visible: p.status == "publish" && p.catalog_visibility != "hidden",
        ..Default::default()
    }
}

/// The stock level of a product or variation that manages its stock.
pub(crate) fn stock_level(sku: &str, quantity: i64, warehouse: &str) -> StockLevel {
    StockLevel {
        sku: sku.to_string(),
        warehouse: warehouse.to_string(),
        on_hand: quantity,
        // WooCommerce reduces stock when an order is paid and reports no reservations.
        reserved: 0,
        available: quantity.max(0),
    }
}

/// Canonical status of a WooCommerce order status.
pub(crate) fn order_status(status: &str) -> String {
    match status {
        "processing" => "awaiting_fulfillment".into(),
        "on-hold" => "on_hold".into(),
        other => other.replace('-', "_"),
    }
}

/// The WooCommerce status of a canonical one.
pub(crate) fn wc_status(status: &str) -> Option<&'static str> {
    let s = status.trim().to_lowercase().replace([' ', '-'], "_");
    Some(match s.as_str() {
        "pending" | "awaiting_payment" => "pending",
        "processing" | "awaiting_fulfillment" | "awaiting_shipment" => "processing",
        "on_hold" => "on-hold",
        "shipped" | "completed" | "delivered" => "completed",
        "cancelled" | "canceled" => "cancelled",
        "refunded" => "refunded",
        "failed" => "failed",
        _ => return None,
    })
}

/// The note marketsync writes for a shipment (and reads back).
pub(crate) fn shipment_note(carrier: &str, tracking: &str) -> String {
    let carrier = if carrier.trim().is_empty() {
        "carrier"
    } else {
        carrier.trim()
    };
    format!(
        "Shipped with {carrier}. Tracking number: {}",
        tracking.trim()
    )
}

/// (carrier, tracking number) of a shipment note, when it is one.
pub(crate) fn parse_shipment_note(note: &str) -> Option<(String, String)> {
    let lower = note.to_lowercase();
    let at = lower.find("tracking number")?;
    let rest = &note[at + "tracking number".len()..];
    let rest = rest.trim_start_matches([':', ' ', '#']);
    let tracking: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ',' && *c != '<')
        .collect();
    let tracking = tracking.trim_end_matches('.').to_string();
    if tracking.is_empty() {
        return None;
    }
    let carrier = ["shipped with ", "shipped via ", " via "]
        .iter()
        .find_map(|k| lower.find(k).map(|i| i + k.len()))
        .map(|i| {
            note[i..]
                .chars()
                .take_while(|c| *c != '.' && *c != ',')
                .collect::<String>()
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    Some((carrier, tracking))
}

fn party(a: &WcAddress) -> Party {
    let name = format!("{} {}", a.first_name.trim(), a.last_name.trim());
    let street = [a.address_1.trim(), a.address_2.trim()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    Party {
        name: name.trim().to_string(),
        email: a.email.clone(),
        phone: a.phone.clone(),
        street,
        city: a.city.clone(),
        zip: a.postcode.clone(),
        country: a.country.clone(),
    }
}

fn line(l: &WcLineItem, currency: &str) -> OrderLine {
    let unit = l
        .price
        .as_ref()
        .map(|r| r.get().trim().trim_matches('"').to_string())
        .filter(|r| r != "null")
        .and_then(|r| money(&r, currency))
        .or_else(|| {
            let total = Decimal::from_str(l.total.trim()).ok()?;
            (l.quantity > 0)
                .then(|| money(&(total / Decimal::from(l.quantity)).to_string(), currency))
                .flatten()
        });
    OrderLine {
        sku: l.sku.clone(),
        external_id: l.id.to_string(),
        quantity: l.quantity,
        unit_price: unit,
        title: l.name.clone(),
    }
}

/// An order with its notes as the canonical record; shipments come from the shipment notes
/// (WooCommerce ships whole orders: each shipment covers every line).
pub(crate) fn order(o: &WcOrder, notes: &[WcNote], default_currency: &str) -> Order {
    let currency = if o.currency.is_empty() {
        default_currency
    } else {
        o.currency.as_str()
    };
    let lines: Vec<OrderLine> = o.line_items.iter().map(|l| line(l, currency)).collect();
    let mut shipments: Vec<Shipment> = notes
        .iter()
        .filter_map(|n| {
            parse_shipment_note(&n.note).map(|(carrier, tracking_number)| Shipment {
                external_id: n.id.to_string(),
                carrier,
                tracking_number,
                lines: lines.clone(),
            })
        })
        .collect();
    // Notes come newest first; shipments are listed in the order they happened.
    shipments.reverse();
    let shipping = party(&o.shipping);
    Order {
        external_id: o.id.to_string(),
        status: order_status(&o.status),
        lines,
        total: money(&o.total, currency),
        buyer: Some(party(&o.billing)),
        shipping_address: (!shipping.name.is_empty() || !shipping.street.is_empty())
            .then_some(shipping),
        shipments,
        created_at: rfc3339(&o.date_created_gmt),
        updated_at: rfc3339(&o.date_modified_gmt),
    }
}

/// Category id → full path ("Men/Tops/Hoodies"), without the default `uncategorized`.
pub(crate) fn category_paths(categories: &[WcCategory]) -> HashMap<i64, String> {
    let by_id: HashMap<i64, &WcCategory> = categories.iter().map(|c| (c.id, c)).collect();
    categories
        .iter()
        .filter(|c| c.slug != "uncategorized")
        .map(|c| {
            let mut names = vec![c.name.as_str()];
            let mut parent = c.parent;
            for _ in 0..64 {
                match by_id.get(&parent) {
                    Some(p) if parent != 0 => {
                        names.push(p.name.as_str());
                        parent = p.parent;
                    }
                    _ => break,
                }
            }
            names.reverse();
            (c.id, names.join("/"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_variable_product() {
        let p: WcProduct = serde_json::from_str(
            r#"{"id":10,"name":"Hoodie","type":"variable","status":"publish","catalog_visibility":"visible",
                "sku":"H-1","price":"49.90","regular_price":"","weight":"0.5","dimensions":{"length":"40","width":"30","height":"5"},
                "categories":[{"id":20},{"id":15}],"images":[{"src":"https://x/1.jpg"}],
                "attributes":[{"name":"Size","variation":true,"options":["M","XL"]},{"name":"Brand","variation":false,"options":["Trailforge"]}],
                "global_unique_id":"0614141000005","date_modified_gmt":"2025-03-02T09:00:00"}"#,
        )
        .expect("product");
        let v: Vec<WcVariation> = serde_json::from_str(
            r#"[{"id":11,"sku":"H-1-M","price":"49.90","regular_price":"49.90","manage_stock":true,"stock_quantity":3,"weight":"","attributes":[{"name":"Size","option":"M"}]},
                {"id":12,"sku":"H-1-XL","price":"54.9","regular_price":"54.9","manage_stock":"parent","weight":"0.6","attributes":[{"name":"Size","option":"XL"}]}]"#,
        )
        .expect("variations");
        let cats = HashMap::from([(20, "Men/Tops/Hoodies".to_string())]);
        let l = Lookups {
            categories: &cats,
            currency: "USD",
            weight_unit: "kg",
            dimension_unit: "cm",
        };
        assert!(v[0].manages_stock() && !v[1].manages_stock());
        let c = product(p, &v, &l);
        assert_eq!(c.raw_price, "49.90");
        assert_eq!(c.brand, "Trailforge");
        assert_eq!(c.categories, vec!["Men/Tops/Hoodies".to_string()]);
        assert_eq!((c.depth, c.weight_unit.as_str()), (Some(40.0), "kg"));
        assert_eq!(c.variants.len(), 2);
        assert_eq!(
            c.variants[1].price.as_ref().map(|m| m.amount.as_str()),
            Some("54.90")
        );
        assert_eq!(c.variants[1].weight, Some(0.6));
        assert_eq!(
            c.variants[0].options.get("Size").map(String::as_str),
            Some("M")
        );
        assert!(c.visible);
    }

    #[test]
    fn statuses_round_trip() {
        assert_eq!(order_status("processing"), "awaiting_fulfillment");
        assert_eq!(order_status("on-hold"), "on_hold");
        assert_eq!(wc_status("shipped"), Some("completed"));
        assert_eq!(wc_status("Awaiting Fulfillment"), Some("processing"));
        assert_eq!(wc_status("canceled"), Some("cancelled"));
        assert_eq!(wc_status("teleported"), None);
    }

    #[test]
    fn shipment_notes_round_trip() {
        let n = shipment_note("DHL Express", "JD0123");
        assert_eq!(
            parse_shipment_note(&n),
            Some(("DHL Express".into(), "JD0123".into()))
        );
        assert_eq!(
            parse_shipment_note("Order shipped via UPS, tracking number: 1Z999."),
            Some(("UPS".into(), "1Z999".into()))
        );
        assert_eq!(parse_shipment_note("Payment received."), None);
    }

    #[test]
    fn amounts_and_dates() {
        assert_eq!(amount("48.999").as_deref(), Some("48.999"));
        assert_eq!(amount("10").as_deref(), Some("10.00"));
        assert_eq!(rfc3339("2025-03-01T09:00:00"), "2025-03-01T09:00:00Z");
    }
}
