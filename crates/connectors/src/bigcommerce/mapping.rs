//! BigCommerce JSON shapes (only the fields marketsync reads) and their mapping to and from the
//! canonical records.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
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

/// A V3 list: `{data: [...], meta: {pagination}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct V3List<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default, deserialize_with = "nullable")]
    pub meta: Meta,
}

/// V3 `meta`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Meta {
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

/// V3 `meta.pagination`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Pagination {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub current_page: u64,
    #[serde(default)]
    pub total_pages: u64,
}

impl Pagination {
    /// The next page number, if any.
    pub(crate) fn next_page(&self) -> Option<u64> {
        (self.current_page < self.total_pages).then_some(self.current_page + 1)
    }
}

/// A V3 single-object answer: `{data: {...}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct V3One<T> {
    pub data: T,
}

/// `/catalog/products` item with `include=variants,images`.
#[derive(Debug, Deserialize)]
pub(crate) struct BcProduct {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sku: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    #[serde(default, deserialize_with = "nullable")]
    pub brand_id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub categories: Vec<serde_json::Number>,
    #[serde(default)]
    pub weight: Option<f64>,
    #[serde(default)]
    pub width: Option<f64>,
    #[serde(default)]
    pub height: Option<f64>,
    #[serde(default)]
    pub depth: Option<f64>,
    /// The price exactly as the JSON number was written.
    #[serde(default)]
    pub price: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "nullable")]
    pub upc: String,
    #[serde(default, deserialize_with = "nullable")]
    pub gtin: String,
    #[serde(default, deserialize_with = "nullable")]
    pub mpn: String,
    #[serde(default = "yes", deserialize_with = "nullable_true")]
    pub is_visible: bool,
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub condition: String,
    #[serde(default, deserialize_with = "nullable")]
    pub availability: String,
    #[serde(default, deserialize_with = "nullable")]
    pub inventory_tracking: String,
    #[serde(default, deserialize_with = "nullable")]
    pub date_modified: String,
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<BcImage>,
    #[serde(default, deserialize_with = "nullable")]
    pub variants: Vec<BcVariant>,
    #[serde(default, deserialize_with = "nullable")]
    pub custom_fields: Vec<BcCustomField>,
}

fn yes() -> bool {
    true
}

fn nullable_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(true))
}

/// A product image.
#[derive(Debug, Deserialize)]
pub(crate) struct BcImage {
    #[serde(default, deserialize_with = "nullable")]
    pub url_standard: String,
    #[serde(default, deserialize_with = "nullable")]
    pub url_zoom: String,
    #[serde(default, deserialize_with = "nullable")]
    pub image_url: String,
    #[serde(default, deserialize_with = "nullable")]
    pub is_thumbnail: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub sort_order: i64,
}

/// A product variant.
#[derive(Debug, Deserialize)]
pub(crate) struct BcVariant {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub sku: String,
    #[serde(default)]
    pub price: Option<Box<RawValue>>,
    #[serde(default)]
    pub weight: Option<f64>,
    #[serde(default, deserialize_with = "nullable")]
    pub gtin: String,
    #[serde(default, deserialize_with = "nullable")]
    pub upc: String,
    #[serde(default, deserialize_with = "nullable")]
    pub option_values: Vec<BcOptionValue>,
}

/// One option value of a variant (`Size: M`).
#[derive(Debug, Deserialize)]
pub(crate) struct BcOptionValue {
    #[serde(default, deserialize_with = "nullable")]
    pub option_display_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub label: String,
}

/// A custom field (`include=custom_fields`).
#[derive(Debug, Deserialize)]
pub(crate) struct BcCustomField {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub value: String,
}

/// A brand (`/catalog/brands`).
#[derive(Debug, Deserialize)]
pub(crate) struct BcBrand {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

/// A category (`/catalog/categories`).
#[derive(Debug, Deserialize)]
pub(crate) struct BcCategory {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub parent_id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

/// An inventory location (`/inventory/locations`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BcLocation {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub code: String,
    #[serde(default, deserialize_with = "nullable")]
    pub label: String,
}

/// An inventory item across locations (`/inventory/items`).
#[derive(Debug, Deserialize)]
pub(crate) struct BcItem {
    #[serde(default, deserialize_with = "nullable")]
    pub identity: BcIdentity,
    #[serde(default, deserialize_with = "nullable")]
    pub locations: Vec<BcItemLocation>,
}

/// What an inventory item is.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BcIdentity {
    #[serde(default, deserialize_with = "nullable")]
    pub sku: String,
}

/// Stock of an item at one location.
#[derive(Debug, Deserialize)]
pub(crate) struct BcItemLocation {
    pub location_id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub location_code: String,
    #[serde(default, deserialize_with = "nullable")]
    pub available_to_sell: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub total_inventory_onhand: i64,
}

/// A V2 order.
#[derive(Debug, Deserialize)]
pub(crate) struct BcOrder {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub status_id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub date_created: String,
    #[serde(default, deserialize_with = "nullable")]
    pub date_modified: String,
    #[serde(default, deserialize_with = "nullable")]
    pub total_inc_tax: String,
    #[serde(default, deserialize_with = "nullable")]
    pub currency_code: String,
    #[serde(default, deserialize_with = "nullable")]
    pub billing_address: BcAddress,
    /// Units shipped so far (absent: unknown).
    #[serde(default)]
    pub items_shipped: Option<f64>,
    /// Units ordered (absent: unknown).
    #[serde(default)]
    pub items_total: Option<f64>,
    /// With `include=consignments.line_items&consignment_structure=object`: the consignments
    /// with their addresses and order products; otherwise a resource link (or absent).
    #[serde(default)]
    pub consignments: Option<serde_json::Value>,
}

impl BcOrder {
    /// The order's products and shipping addresses from its included consignments, when the
    /// response carries them whole (every line an order product, their units the order's
    /// `items_total`); `None`: read `/products` and `/shipping_addresses`.
    pub(crate) fn included(&self) -> Option<(Vec<BcOrderProduct>, Vec<BcAddress>)> {
        let c = self.consignments.as_ref()?.as_object()?;
        let shipping = c.get("shipping")?.as_array()?;
        let mut products = Vec::new();
        let mut addresses = Vec::with_capacity(shipping.len());
        let pickups = c.get("pickups").and_then(|v| v.as_array());
        for (consignment, is_shipping) in shipping
            .iter()
            .map(|s| (s, true))
            .chain(pickups.into_iter().flatten().map(|p| (p, false)))
        {
            for line in consignment.get("line_items")?.as_array()? {
                // The link form (`{url, resource}`) without `.line_items`: not whole.
                line.get("quantity")?;
                products.push(BcOrderProduct::deserialize(line).ok()?);
            }
            if is_shipping {
                addresses.push(BcAddress::deserialize(consignment).ok()?);
            }
        }
        let units: f64 = products.iter().map(|p| p.quantity as f64).sum();
        (self.items_total? == units).then_some((products, addresses))
    }
}

/// A V2 billing or shipping address.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BcAddress {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub first_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub last_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub street_1: String,
    #[serde(default, deserialize_with = "nullable")]
    pub street_2: String,
    #[serde(default, deserialize_with = "nullable")]
    pub city: String,
    #[serde(default, deserialize_with = "nullable")]
    pub zip: String,
    #[serde(default, deserialize_with = "nullable")]
    pub country: String,
    #[serde(default, deserialize_with = "nullable")]
    pub country_iso2: String,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: String,
    #[serde(default, deserialize_with = "nullable")]
    pub email: String,
}

/// A V2 order product (line).
#[derive(Debug, Deserialize)]
pub(crate) struct BcOrderProduct {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub order_address_id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sku: String,
    #[serde(default, deserialize_with = "nullable")]
    pub quantity: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub quantity_shipped: f64,
    #[serde(default, deserialize_with = "nullable")]
    pub price_inc_tax: String,
}

/// A V2 shipment.
#[derive(Debug, Deserialize)]
pub(crate) struct BcShipment {
    pub id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub tracking_number: String,
    #[serde(default, deserialize_with = "nullable")]
    pub shipping_provider: String,
    #[serde(default, deserialize_with = "nullable")]
    pub tracking_carrier: String,
    #[serde(default, deserialize_with = "nullable")]
    pub items: Vec<BcShipmentItem>,
}

/// One item of a V2 shipment.
#[derive(Debug, Deserialize)]
pub(crate) struct BcShipmentItem {
    #[serde(default, deserialize_with = "nullable")]
    pub order_product_id: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub quantity: i64,
}

/// V2 order status ids and their canonical names.
const STATUSES: [(i64, &str); 15] = [
    (0, "incomplete"),
    (1, "pending"),
    (2, "shipped"),
    (3, "partially_shipped"),
    (4, "refunded"),
    (5, "cancelled"),
    (6, "declined"),
    (7, "awaiting_payment"),
    (8, "awaiting_pickup"),
    (9, "awaiting_shipment"),
    (10, "completed"),
    (11, "awaiting_fulfillment"),
    (12, "manual_verification_required"),
    (13, "disputed"),
    (14, "partially_refunded"),
];

/// Canonical status of a V2 order: by `status_id`, else its status text in snake case.
pub(crate) fn order_status(status_id: i64, text: &str) -> String {
    if let Some((_, s)) = STATUSES.iter().find(|(id, _)| *id == status_id) {
        return (*s).to_string();
    }
    snake(text)
}

/// The V2 `status_id` of a canonical status (accepts "Awaiting Fulfillment" too).
pub(crate) fn status_id(status: &str) -> Option<i64> {
    let s = snake(status);
    let s = if s == "canceled" {
        "cancelled".into()
    } else {
        s
    };
    STATUSES.iter().find(|(_, n)| *n == s).map(|(id, _)| *id)
}

fn snake(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// Carriers BigCommerce integrates as `shipping_provider`.
const PROVIDERS: [&str; 10] = [
    "auspost",
    "canadapost",
    "endicia",
    "usps",
    "fedex",
    "ups",
    "upsready",
    "upsonline",
    "shipperhq",
    "royalmail",
];

/// (`shipping_provider`, `tracking_carrier`) for a carrier name: an integrated provider when
/// it is one, and the carrier's AfterShip slug either way.
pub(crate) fn carrier_fields(carrier: &str) -> (String, String) {
    let slug = carrier
        .trim()
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let provider = if PROVIDERS.contains(&slug.as_str()) {
        slug.clone()
    } else {
        String::new()
    };
    (provider, slug)
}

/// A decimal text as canonical money text: at least two decimals, never rounded
/// ("10" → "10.00", "336.3200" → "336.32", "19.999" stays "19.999").
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

/// Canonical money, or `None` for text that is not a decimal.
pub(crate) fn money(text: &str, currency: &str) -> Option<Money> {
    amount(text).map(|amount| Money {
        amount,
        currency: currency.to_string(),
    })
}

/// A V2 (RFC 2822) or V3 (RFC 3339) date as RFC 3339 UTC; the text itself if neither.
pub(crate) fn rfc3339(text: &str) -> String {
    let t = text.trim();
    DateTime::parse_from_rfc2822(t)
        .or_else(|_| DateTime::parse_from_rfc3339(t))
        .map(|d| {
            d.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|_| t.to_string())
}

/// Category id → full path ("Men/Tops/Hoodies").
pub(crate) fn category_paths(categories: &[BcCategory]) -> HashMap<i64, String> {
    let by_id: HashMap<i64, &BcCategory> = categories.iter().map(|c| (c.id, c)).collect();
    categories
        .iter()
        .map(|c| {
            let mut names = vec![c.name.as_str()];
            let mut parent = c.parent_id;
            // Bounded: a corrupt parent cycle must not hang the import.
            for _ in 0..64 {
                match by_id.get(&parent) {
                    Some(p) if parent != 0 => {
                        names.push(p.name.as_str());
                        parent = p.parent_id;
                    }
                    _ => break,
                }
            }
            names.reverse();
            (c.id, names.join("/"))
        })
        .collect()
}

/// Lookup tables a product mapping needs.
pub(crate) struct Lookups<'a> {
    /// Brand id → name.
    pub brands: &'a HashMap<i64, String>,
    /// Category id → path.
    pub categories: &'a HashMap<i64, String>,
    /// Catalog currency.
    pub currency: &'a str,
}

fn number_id(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))
}

/// Category ids of a product.
pub(crate) fn category_ids(p: &BcProduct) -> Vec<i64> {
    p.categories.iter().filter_map(number_id).collect()
}

/// A BigCommerce product as the canonical record.
pub(crate) fn product(p: BcProduct, l: &Lookups<'_>) -> Product {
    // The document is taken apart: its strings move into the record instead of being copied.
    let raw_price = p
        .price
        .as_ref()
        .map(|r| r.get().trim().to_string())
        .filter(|r| r != "null")
        .unwrap_or_default();
    let price = money(&raw_price, l.currency);
    let categories = category_ids(&p)
        .iter()
        .filter_map(|id| l.categories.get(id).cloned())
        .collect();
    let mut images = p.images;
    images.sort_by_key(|i| (!i.is_thumbnail, i.sort_order));
    let images = images
        .into_iter()
        .map(|i| {
            [i.url_zoom, i.url_standard, i.image_url]
                .into_iter()
                .find(|u| !u.is_empty())
                .unwrap_or_default()
        })
        .filter(|u| !u.is_empty())
        .collect();
    let gtin = if p.gtin.trim().is_empty() {
        p.upc.trim().to_string()
    } else {
        p.gtin.trim().to_string()
    };
    let mut attributes = HashMap::with_capacity(7 + p.custom_fields.len());
    for (k, v) in [
        ("type", p.kind),
        ("condition", p.condition),
        ("availability", p.availability),
        ("inventory_tracking", p.inventory_tracking),
        ("mpn", p.mpn),
        ("upc", p.upc),
        ("date_modified", p.date_modified),
    ] {
        if !v.trim().is_empty() {
            attributes.insert(k.to_string(), v);
        }
    }
    for f in p.custom_fields {
        if !f.name.is_empty() {
            attributes.insert(f.name, f.value);
        }
    }
    let variants = p
        .variants
        .iter()
        // A product without options has one base variant: the product itself.
        .filter(|v| !v.option_values.is_empty())
        .map(|v| variant(v, price.as_ref(), l.currency))
        .collect();
    Product {
        sku: p.sku,
        external_id: p.id.to_string(),
        title: p.name,
        description: p.description,
        brand: if p.brand_id == 0 {
            String::new()
        } else {
            l.brands.get(&p.brand_id).cloned().unwrap_or_default()
        },
        categories,
        attributes,
        images,
        gtin,
        weight: p.weight,
        // Units are store settings that the catalog API does not expose.
        weight_unit: String::new(),
        width: p.width,
        height: p.height,
        depth: p.depth,
        dimension_unit: String::new(),
        price,
        variants,
        raw_price,
        visible: p.is_visible,
        ..Default::default()
    }
}

fn variant(v: &BcVariant, product_price: Option<&Money>, currency: &str) -> Variant {
    let own = v
        .price
        .as_ref()
        .map(|r| r.get().trim())
        .filter(|r| *r != "null")
        .and_then(|r| money(r, currency));
    Variant {
        sku: v.sku.clone(),
        external_id: v.id.to_string(),
        options: v
            .option_values
            .iter()
            .map(|o| (o.option_display_name.clone(), o.label.clone()))
            .collect(),
        // `null` means the variant sells at the product's price.
        price: own.or_else(|| product_price.cloned()),
        weight: v.weight,
        gtin: if v.gtin.trim().is_empty() {
            v.upc.trim().to_string()
        } else {
            v.gtin.trim().to_string()
        },
    }
}

/// Stock levels of one inventory item, one per location; `warehouse` names a location.
pub(crate) fn stock_levels(
    item: &BcItem,
    warehouse: &dyn Fn(i64, &str) -> String,
) -> Vec<StockLevel> {
    item.locations
        .iter()
        .map(|l| StockLevel {
            sku: item.identity.sku.clone(),
            warehouse: warehouse(l.location_id, &l.location_code),
            on_hand: l.total_inventory_onhand,
            // The inventory API reports no reservations; safety stock is not a reservation.
            reserved: 0,
            available: l.available_to_sell,
        })
        .collect()
}

fn party(a: &BcAddress) -> Party {
    let name = format!("{} {}", a.first_name.trim(), a.last_name.trim());
    let street = [a.street_1.trim(), a.street_2.trim()]
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
        zip: a.zip.clone(),
        country: if a.country_iso2.is_empty() {
            a.country.clone()
        } else {
            a.country_iso2.clone()
        },
    }
}

fn line(p: &BcOrderProduct, currency: &str) -> OrderLine {
    OrderLine {
        sku: p.sku.clone(),
        external_id: p.id.to_string(),
        quantity: p.quantity,
        unit_price: money(&p.price_inc_tax, currency),
        title: p.name.clone(),
    }
}

/// A V2 order with its products, shipping addresses and shipments as the canonical record.
pub(crate) fn order(
    o: &BcOrder,
    products: &[BcOrderProduct],
    addresses: &[BcAddress],
    shipments: &[BcShipment],
    default_currency: &str,
) -> Order {
    let currency = if o.currency_code.is_empty() {
        default_currency
    } else {
        o.currency_code.as_str()
    };
    let by_id: HashMap<i64, &BcOrderProduct> = products.iter().map(|p| (p.id, p)).collect();
    Order {
        external_id: o.id.to_string(),
        status: order_status(o.status_id, &o.status),
        lines: products.iter().map(|p| line(p, currency)).collect(),
        total: money(&o.total_inc_tax, currency),
        buyer: Some(party(&o.billing_address)),
        shipping_address: addresses.first().map(party),
        shipments: shipments
            .iter()
            .map(|s| Shipment {
                external_id: s.id.to_string(),
                carrier: if s.tracking_carrier.is_empty() {
                    s.shipping_provider.clone()
                } else {
                    s.tracking_carrier.clone()
                },
                tracking_number: s.tracking_number.clone(),
                lines: s
                    .items
                    .iter()
                    .map(|i| match by_id.get(&i.order_product_id) {
                        Some(p) => OrderLine {
                            quantity: i.quantity,
                            ..line(p, currency)
                        },
                        None => OrderLine {
                            external_id: i.order_product_id.to_string(),
                            quantity: i.quantity,
                            ..OrderLine::default()
                        },
                    })
                    .collect(),
            })
            .collect(),
        created_at: rfc3339(&o.date_created),
        updated_at: rfc3339(&o.date_modified),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn included_consignments_stand_for_products_and_addresses_only_when_whole() {
        let order = |consignments: &str, total: u32| -> BcOrder {
            serde_json::from_str(&format!(
                r#"{{"id": 7, "items_total": {total}, "consignments": {consignments}}}"#
            ))
            .expect("order json")
        };
        let whole = r#"{"pickups": [], "shipping": [{"id": 3, "first_name": "Ada", "zip": "12345",
            "line_items": [{"id": 11, "order_address_id": 3, "sku": "A", "quantity": 2},
                           {"id": 12, "order_address_id": 3, "sku": "B", "quantity": 1}]}],
            "downloads": [], "email": {"gift_certificates": []}}"#;
        let (products, addresses) = order(whole, 3).included().expect("whole");
        assert_eq!(products.len(), 2);
        assert_eq!((products[0].sku.as_str(), products[0].quantity), ("A", 2));
        assert_eq!(
            (addresses[0].id, addresses[0].zip.as_str()),
            (Some(3), "12345")
        );
        // Units that do not add up, lines as links, the link form: read them instead.
        assert!(order(whole, 4).included().is_none());
        let links = r#"{"shipping": [{"id": 3, "line_items": [{"url": "u", "resource": "/orders/7/products/11"}]}]}"#;
        assert!(order(links, 1).included().is_none());
        let link = r#"{"url": "u", "resource": "/orders/7/consignments"}"#;
        assert!(order(link, 1).included().is_none());
        let absent: BcOrder = serde_json::from_str(r#"{"id": 7}"#).expect("order json");
        assert!(absent.included().is_none());
    }

    fn parse(json: &str) -> BcProduct {
        serde_json::from_str(json).expect("product json")
    }

    #[test]
    fn raw_price_keeps_the_json_text() {
        let brands = HashMap::from([(3, "Trailforge".to_string())]);
        let categories = HashMap::from([(20, "Men/Tops/Hoodies".to_string())]);
        let l = Lookups {
            brands: &brands,
            categories: &categories,
            currency: "USD",
        };
        let p = product(
            parse(
                r#"{"id":7,"name":"Hoodie","sku":"H-1","price":10,"brand_id":3,"categories":[20],"weight":0.5,"is_visible":true}"#,
            ),
            &l,
        );
        assert_eq!(p.raw_price, "10");
        assert_eq!(p.price.as_ref().map(|m| m.amount.as_str()), Some("10.00"));
        assert_eq!(p.brand, "Trailforge");
        assert_eq!(p.categories, vec!["Men/Tops/Hoodies".to_string()]);
        let p = product(parse(r#"{"id":8,"price":19.999,"brand_id":0}"#), &l);
        assert_eq!(p.raw_price, "19.999");
        assert_eq!(p.price.map(|m| m.amount), Some("19.999".to_string()));
        assert_eq!(p.brand, "");
    }

    #[test]
    fn variants_skip_the_base_variant_and_inherit_price() {
        let brands = HashMap::new();
        let categories = HashMap::new();
        let l = Lookups {
            brands: &brands,
            categories: &categories,
            currency: "EUR",
        };
        let p = product(
            parse(
                r#"{"id":1,"price":49.9,"variants":[
                {"id":10,"sku":"A-M","price":null,"option_values":[{"option_display_name":"Size","label":"M"}]},
                {"id":11,"sku":"A-XL","price":54.9,"option_values":[{"option_display_name":"Size","label":"XL"}]}]}"#,
            ),
            &l,
        );
        assert_eq!(p.variants.len(), 2);
        assert_eq!(
            p.variants[0].options.get("Size").map(String::as_str),
            Some("M")
        );
        assert_eq!(
            p.variants[0].price.as_ref().map(|m| m.amount.as_str()),
            Some("49.90")
        );
        assert_eq!(
            p.variants[1].price.as_ref().map(|m| m.amount.as_str()),
            Some("54.90")
        );
        let simple = product(
            parse(r#"{"id":2,"price":5,"variants":[{"id":12,"sku":"B","option_values":[]}]}"#),
            &l,
        );
        assert!(simple.variants.is_empty());
    }

    #[test]
    fn amounts_are_never_rounded() {
        assert_eq!(amount("336.3200").as_deref(), Some("336.32"));
        assert_eq!(amount("10").as_deref(), Some("10.00"));
        assert_eq!(amount("19.999").as_deref(), Some("19.999"));
        assert_eq!(amount("abc"), None);
    }

    #[test]
    fn statuses() {
        assert_eq!(
            order_status(11, "Awaiting Fulfillment"),
            "awaiting_fulfillment"
        );
        assert_eq!(order_status(99, "Custom Thing"), "custom_thing");
        assert_eq!(status_id("shipped"), Some(2));
        assert_eq!(status_id("Awaiting Fulfillment"), Some(11));
        assert_eq!(status_id("canceled"), Some(5));
        assert_eq!(status_id("teleported"), None);
    }

    #[test]
    fn category_paths_follow_parents() {
        let cats = vec![
            BcCategory {
                id: 1,
                parent_id: 0,
                name: "Men".into(),
            },
            BcCategory {
                id: 2,
                parent_id: 1,
                name: "Tops".into(),
            },
            BcCategory {
                id: 3,
                parent_id: 2,
                name: "Hoodies".into(),
            },
        ];
        let paths = category_paths(&cats);
        assert_eq!(paths.get(&3).map(String::as_str), Some("Men/Tops/Hoodies"));
        assert_eq!(paths.get(&1).map(String::as_str), Some("Men"));
    }

    #[test]
    fn carriers_and_dates() {
        assert_eq!(carrier_fields("UPS"), ("ups".into(), "ups".into()));
        assert_eq!(
            carrier_fields("DHL Express"),
            (String::new(), "dhl-express".into())
        );
        assert_eq!(
            rfc3339("Wed, 10 Jan 2018 21:05:30 +0000"),
            "2018-01-10T21:05:30Z"
        );
    }

    #[test]
    fn orders_map_lines_buyer_and_shipments() {
        let o: BcOrder = serde_json::from_str(
            r#"{"id":101,"status_id":2,"status":"Shipped","date_created":"Wed, 10 Jan 2018 21:05:30 +0000",
                "date_modified":"Wed, 10 Jan 2018 21:05:30 +0000","total_inc_tax":"99.8000","currency_code":"USD",
                "billing_address":{"first_name":"Ava","last_name":"Kim","street_1":"1 Main St","city":"Austin","zip":"78701","country":"United States","country_iso2":"US","email":"ava@example.com","phone":"1"}}"#,
        )
        .expect("order");
        let products: Vec<BcOrderProduct> = serde_json::from_str(
            r#"[{"id":5,"name":"Hoodie","sku":"H-M","quantity":2,"price_inc_tax":"49.9000","quantity_shipped":2}]"#,
        )
        .expect("products");
        let shipments: Vec<BcShipment> = serde_json::from_str(
            r#"[{"id":9,"tracking_number":"1Z","shipping_provider":"ups","tracking_carrier":"","items":[{"order_product_id":5,"quantity":2}]}]"#,
        )
        .expect("shipments");
        let c = order(&o, &products, &[], &shipments, "EUR");
        assert_eq!(c.status, "shipped");
        assert_eq!(c.total.as_ref().map(|m| m.amount.as_str()), Some("99.80"));
        assert_eq!(
            c.lines[0].unit_price.as_ref().map(|m| m.currency.as_str()),
            Some("USD")
        );
        assert_eq!(c.buyer.as_ref().map(|b| b.name.as_str()), Some("Ava Kim"));
        assert_eq!(c.shipments[0].carrier, "ups");
        assert_eq!(c.shipments[0].lines[0].sku, "H-M");
        assert_eq!(c.created_at, "2018-01-10T21:05:30Z");
    }
}

/// A webhook subscription (`/v3/hooks`).
#[derive(Debug, Deserialize)]
pub(crate) struct BcHook {
    pub id: i64,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub destination: String,
}

#[derive(Debug, Deserialize)]
struct BcWebhook {
    scope: String,
    #[serde(default)]
    hash: String,
    #[serde(default)]
    created_at: i64,
    #[serde(default)]
    data: serde_json::Value,
}

/// What a webhook payload (`{scope, data, hash, created_at, ...}`) says changed.
pub(crate) fn webhook_event(body: &[u8]) -> crate::Result<crate::WebhookEvent> {
    let w: BcWebhook = serde_json::from_slice(body)
        .map_err(|e| crate::ConnectorError::Malformed(format!("webhook payload: {e}")))?;
    let kind = if w.scope.starts_with("store/order/") {
        "orders"
    } else if w.scope.contains("/inventory/") {
        "stock"
    } else if w.scope.starts_with("store/product/") {
        "products"
    } else {
        ""
    };
    let id_of = |v: &serde_json::Value| match v {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    // Stock events name the variant (`sku`); the product holds it.
    let id = match kind {
        "stock" => w
            .data
            .pointer("/inventory/product_id")
            .and_then(id_of)
            .or_else(|| w.data.get("id").and_then(id_of)),
        _ => w.data.get("id").and_then(id_of),
    };
    let delivery = if w.hash.is_empty() {
        format!(
            "{}:{}:{}",
            w.scope,
            w.created_at,
            id.clone().unwrap_or_default()
        )
    } else {
        w.hash.clone()
    };
    Ok(crate::WebhookEvent {
        id: delivery,
        topic: w.scope,
        kind: kind.into(),
        external_ids: id.into_iter().collect(),
        skus: Vec::new(),
        sent_at: (w.created_at > 0)
            .then(|| chrono::DateTime::from_timestamp(w.created_at, 0))
            .flatten(),
        orders: Vec::new(),
    })
}
