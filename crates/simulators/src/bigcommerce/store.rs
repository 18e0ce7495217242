//! The simulated store: catalog, inventory and orders, seeded from [`crate::demo`], and their
//! JSON as BigCommerce's V3 and V2 APIs render them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::demo::{self, DemoParty};

/// Order statuses of BigCommerce (V2 `status_id` → name).
pub(crate) const ORDER_STATUSES: [&str; 15] = [
    "Incomplete",
    "Pending",
    "Shipped",
    "Partially Shipped",
    "Refunded",
    "Cancelled",
    "Declined",
    "Awaiting Payment",
    "Awaiting Pickup",
    "Awaiting Shipment",
    "Completed",
    "Awaiting Fulfillment",
    "Manual Verification Required",
    "Disputed",
    "Partially Refunded",
];

/// `status_id` → name ("" for an unknown id).
pub(crate) fn status_name(id: i64) -> &'static str {
    usize::try_from(id)
        .ok()
        .and_then(|i| ORDER_STATUSES.get(i))
        .copied()
        .unwrap_or("")
}

#[derive(Debug, Clone)]
pub(crate) struct Brand {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Category {
    pub id: i64,
    pub parent_id: i64,
    pub name: String,
    pub sort_order: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct OptionValue {
    pub id: i64,
    pub option_id: i64,
    pub option_display_name: String,
    pub label: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub id: i64,
    pub sku: String,
    pub price: Option<f64>,
    pub weight: Option<f64>,
    pub gtin: String,
    pub option_values: Vec<OptionValue>,
}

#[derive(Debug, Clone)]
pub(crate) struct Image {
    pub id: i64,
    pub url: String,
    pub sort_order: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Product {
    pub id: i64,
    pub name: String,
    pub sku: String,
    pub description: String,
    pub brand_id: i64,
    pub categories: Vec<i64>,
    pub weight: f64,
    pub width: f64,
    pub height: f64,
    pub depth: f64,
    pub price: f64,
    pub upc: String,
    pub mpn: String,
    pub gtin: String,
    pub is_visible: bool,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
    /// Whether `variants` are option combinations (false: one base variant).
    pub has_options: bool,
    pub variants: Vec<Variant>,
    pub images: Vec<Image>,
}

#[derive(Debug, Clone)]
pub(crate) struct Location {
    pub id: i64,
    pub code: String,
    pub label: String,
    pub street: String,
    pub city: String,
    pub state: String,
    pub zip: String,
}

#[derive(Debug, Clone)]
pub(crate) struct OrderProduct {
    pub id: i64,
    pub product_id: i64,
    pub variant_id: i64,
    pub order_address_id: i64,
    pub name: String,
    pub sku: String,
    pub quantity: i64,
    pub quantity_shipped: i64,
    /// Unit price in ten-thousandths.
    pub unit_price: i64,
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct ShippingAddress {
    pub id: i64,
    pub party: DemoParty,
}

#[derive(Debug, Clone)]
pub(crate) struct Shipment {
    pub id: i64,
    pub order_address_id: i64,
    pub date_created: DateTime<Utc>,
    pub tracking_number: String,
    pub shipping_provider: String,
    pub tracking_carrier: String,
    pub comments: String,
    /// (order_product_id, product_id, quantity).
    pub items: Vec<(i64, i64, i64)>,
}

/// What an order response carries of its consignments (`include`, `consignment_structure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Consignments {
    /// Left out (their resource link matches two schemas of the spec's `oneOf`).
    Link,
    /// The object structure, order products as links.
    Included,
    /// The object structure with the order products.
    WithLines,
    /// The deprecated array structure (without `consignment_structure=object`); with lines.
    Legacy(bool),
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub status_id: i64,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
    pub date_shipped: Option<DateTime<Utc>>,
    pub billing: DemoParty,
    pub shipping_addresses: Vec<ShippingAddress>,
    pub products: Vec<OrderProduct>,
    pub shipments: Vec<Shipment>,
}

impl Order {
    fn subtotal(&self) -> i64 {
        self.products
            .iter()
            .map(|p| p.unit_price * p.quantity)
            .sum()
    }
}

/// Everything the simulated store holds.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub currency: String,
    pub brands: Vec<Brand>,
    pub categories: Vec<Category>,
    pub products: Vec<Product>,
    pub locations: Vec<Location>,
    /// (variant id, location id) → units on hand.
    pub stock: BTreeMap<(i64, i64), i64>,
    pub orders: Vec<Order>,
    next_id: i64,
    /// Bumped by every stock change (product documents show stock levels).
    pub stock_version: u64,
    /// Changes not yet sent to webhook subscribers: (scope, `data` of the payload).
    pub changes: Vec<(String, Value)>,
    /// Rendered product documents by (id, with variants, with images), each with the
    /// `date_modified` and `stock_version` it was rendered at: a store keeps its products as
    /// documents, so serving a page costs no rendering on this machine.
    json_cache: std::sync::Mutex<HashMap<DocKey, RenderedDoc>>,
}

/// (product id, with variants, with images, [`Fields::key`]).
type DocKey = (i64, bool, bool, u64);
/// (`date_modified`, `stock_version`, JSON text) of a rendered product document.
type RenderedDoc = (DateTime<Utc>, u64, Arc<str>);

/// The top-level fields a V3 product read returns: `include_fields` (the id and the fields
/// named; sub-resources asked for with `include` always come) or `exclude_fields` (every
/// field but those), as BigCommerce documents them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields {
    include: Vec<String>,
    exclude: Vec<String>,
    /// A hash of both lists, 0 for every field: the document cache's key.
    pub(crate) key: u64,
}

impl Fields {
    /// From the comma-separated `include_fields` and `exclude_fields` values.
    pub(crate) fn parse(include: &str, exclude: &str) -> Self {
        let names = |v: &str| -> Vec<String> {
            let mut n: Vec<String> = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            n.sort();
            n.dedup();
            n
        };
        let (include, exclude) = (names(include), names(exclude));
        let key = if include.is_empty() && exclude.is_empty() {
            0
        } else {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (&include, &exclude).hash(&mut h);
            h.finish() | 1
        };
        Self {
            include,
            exclude,
            key,
        }
    }

    /// Drops the fields not asked for from a rendered product.
    pub(crate) fn apply(&self, doc: &mut Value) {
        if self.key == 0 {
            return;
        }
        if let Some(obj) = doc.as_object_mut() {
            obj.retain(|k, _| {
                let kept = self.include.is_empty()
                    || matches!(k.as_str(), "id" | "variants" | "images" | "custom_fields")
                    || self.include.iter().any(|f| f == k);
                kept && (k == "id" || !self.exclude.iter().any(|f| f == k))
            });
        }
    }
}

/// RFC 3339 with seconds, as V3 renders dates.
pub(crate) fn v3_date(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// RFC 2822, as V2 renders dates.
pub(crate) fn v2_date(t: &DateTime<Utc>) -> String {
    t.to_rfc2822()
}

/// A JSON number that keeps whole numbers whole (`10`, not `10.0`).
pub(crate) fn num(f: f64) -> Value {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::from(0), Value::Number)
    }
}

fn money(units: i64) -> String {
    demo::from_units(units)
}

fn slug(name: &str) -> String {
    let s: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

fn status_id_of(canonical: &str) -> i64 {
    match canonical {
        "pending" => 1,
        "shipped" => 2,
        "cancelled" => 5,
        "completed" => 10,
        _ => 11,
    }
}

impl Store {
    /// A store seeded with `products` demo products and `orders` demo orders.
    pub(crate) fn seeded(
        seed: u64,
        products: usize,
        orders: usize,
        currency: &str,
        simple: bool,
    ) -> Self {
        let mut catalog = demo::catalog(seed, products);
        if simple {
            for p in &mut catalog {
                if let Some(v) = p.variants.first() {
                    p.stock = v.stock.clone();
                }
                p.variants.clear();
                p.options.clear();
            }
        }
        let demo_orders = demo::orders(seed, &catalog, orders);
        let mut s = Store {
            currency: currency.to_string(),
            next_id: 1,
            ..Store::default()
        };
        s.locations = vec![
            Location {
                id: 1,
                code: demo::WAREHOUSES[0].into(),
                label: "East Coast Warehouse".into(),
                street: "100 Harbor Way".into(),
                city: "Newark".into(),
                state: "New Jersey".into(),
                zip: "07102".into(),
            },
            Location {
                id: 2,
                code: demo::WAREHOUSES[1].into(),
                label: "West Coast Warehouse".into(),
                street: "2500 Industrial Pkwy".into(),
                city: "Reno".into(),
                state: "Nevada".into(),
                zip: "89502".into(),
            },
        ];
        let mut brand_names: Vec<&str> = catalog
            .iter()
            .map(|p| p.brand.as_str())
            .filter(|b| !b.is_empty())
            .collect();
        brand_names.sort_unstable();
        brand_names.dedup();
        for name in brand_names {
            s.brand_id_or_create(name);
        }
        let mut product_ids = Vec::new();
        for p in &catalog {
            let category = if p.category.is_empty() {
                Vec::new()
            } else {
                vec![s.category_path_or_create(&p.category)]
            };
            let brand_id = if p.brand.is_empty() {
                0
            } else {
                s.brand_id_or_create(&p.brand)
            };
            let id = s.alloc() + 100;
            let mut option_ids = BTreeMap::new();
            for name in &p.options {
                let oid = s.alloc();
                option_ids.insert(name.clone(), oid);
            }
            let mut variants = Vec::new();
            let mut stock = Vec::new();
            if p.variants.is_empty() {
                let vid = s.alloc() + 1000;
                variants.push(Variant {
                    id: vid,
                    sku: p.sku.clone(),
                    price: None,
                    weight: None,
                    gtin: p.gtin.clone(),
                    option_values: Vec::new(),
                });
                stock.push((vid, p.stock.clone()));
            } else {
                for v in &p.variants {
                    let vid = s.alloc() + 1000;
                    let option_values = v
                        .options
                        .iter()
                        .map(|(name, label)| OptionValue {
                            id: s.alloc(),
                            option_id: option_ids.get(name).copied().unwrap_or(0),
                            option_display_name: name.clone(),
                            label: label.clone(),
                        })
                        .collect();
                    variants.push(Variant {
                        id: vid,
                        sku: v.sku.clone(),
                        price: v.price.as_deref().and_then(|t| t.parse().ok()),
                        weight: None,
                        gtin: v.gtin.clone(),
                        option_values,
                    });
                    stock.push((vid, v.stock.clone()));
                }
            }
            for (vid, levels) in stock {
                for level in levels {
                    if let Some(loc) = s.locations.iter().find(|l| l.code == level.warehouse) {
                        s.stock.insert((vid, loc.id), level.on_hand.max(0));
                    }
                }
            }
            let images = p
                .images
                .iter()
                .enumerate()
                .map(|(k, url)| Image {
                    id: s.alloc(),
                    url: url.clone(),
                    sort_order: k as i64,
                })
                .collect();
            product_ids.push(id);
            s.products.push(Product {
                id,
                name: p.name.clone(),
                sku: p.sku.clone(),
                description: p.description.clone(),
                brand_id,
                categories: category,
                // BigCommerce cannot store a negative weight: the demo's negative weights
                // arrive as 0 (still an invalid weight for validation).
                weight: p.weight.max(0.0),
                width: p.width,
                height: p.height,
                depth: p.depth,
                price: p.price.parse().unwrap_or(0.0),
                upc: String::new(),
                mpn: String::new(),
                gtin: p.gtin.clone(),
                is_visible: p.visible,
                date_created: p.created_at,
                date_modified: p.modified_at,
                has_options: !p.variants.is_empty(),
                variants,
                images,
            });
        }
        for (i, o) in demo_orders.iter().enumerate() {
            let lines: Vec<(String, i64)> = o
                .lines
                .iter()
                .map(|l| (l.sku.clone(), l.quantity))
                .collect();
            let status = status_id_of(&o.status);
            let id = s.create_order(
                i as i64 + 1,
                &o.buyer,
                &o.shipping,
                &lines,
                status,
                o.created_at,
            );
            if matches!(status, 2 | 10)
                && let Some(order) = s.orders.iter_mut().find(|x| x.id == id)
            {
                let address = order.shipping_addresses.first().map_or(0, |a| a.id);
                let items = order
                    .products
                    .iter_mut()
                    .map(|p| {
                        p.quantity_shipped = p.quantity;
                        (p.id, p.product_id, p.quantity)
                    })
                    .collect();
                let shipped_at = o.created_at + Duration::days(2);
                order.date_shipped = Some(shipped_at);
                order.date_modified = shipped_at;
                order.shipments.push(Shipment {
                    id: id * 10 + 1,
                    order_address_id: address,
                    date_created: shipped_at,
                    tracking_number: format!("1Z999AA1{:010}", id * 7919),
                    shipping_provider: "ups".into(),
                    tracking_carrier: "ups".into(),
                    comments: String::new(),
                    items,
                });
            }
        }
        s
    }

    /// A fresh id, unique across every kind of record.
    pub(crate) fn alloc(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The id of the brand named `name` (case-insensitive), created if missing.
    pub(crate) fn brand_id_or_create(&mut self, name: &str) -> i64 {
        if let Some(b) = self
            .brands
            .iter()
            .find(|b| b.name.eq_ignore_ascii_case(name))
        {
            return b.id;
        }
        let id = self.brands.len() as i64 + 1;
        self.brands.push(Brand {
            id,
            name: name.to_string(),
        });
        id
    }

    /// The id of the leaf of category path `A/B/C`, creating missing levels.
    pub(crate) fn category_path_or_create(&mut self, path: &str) -> i64 {
        let mut parent = 0;
        for name in path.split('/').map(str::trim).filter(|n| !n.is_empty()) {
            parent = match self
                .categories
                .iter()
                .find(|c| c.parent_id == parent && c.name == name)
            {
                Some(c) => c.id,
                None => {
                    let id = 18 + self.categories.len() as i64;
                    let sort_order = self
                        .categories
                        .iter()
                        .filter(|c| c.parent_id == parent)
                        .count() as i64;
                    self.categories.push(Category {
                        id,
                        parent_id: parent,
                        name: name.to_string(),
                        sort_order,
                    });
                    id
                }
            };
        }
        parent
    }

    /// Full path of a category ("Men/Tops/Hoodies").
    pub(crate) fn category_path(&self, id: i64) -> String {
        let mut names = Vec::new();
        let mut cur = id;
        for _ in 0..32 {
            let Some(c) = self.categories.iter().find(|c| c.id == cur) else {
                break;
            };
            names.push(c.name.clone());
            if c.parent_id == 0 {
                break;
            }
            cur = c.parent_id;
        }
        names.reverse();
        names.join("/")
    }

    /// Index of the product whose own sku or one of whose variants' skus is `sku`.
    /// Records a change for the webhook subscribers of `scope`.
    pub(crate) fn changed(&mut self, scope: &str, data: Value) {
        self.changes.push((scope.to_string(), data));
    }

    /// The product holding variant `variant_id`.
    pub(crate) fn product_of_variant(&self, variant_id: i64) -> Option<i64> {
        self.products
            .iter()
            .find(|p| p.variants.iter().any(|v| v.id == variant_id))
            .map(|p| p.id)
    }

    pub(crate) fn find_product(&self, sku: &str) -> Option<usize> {
        self.products
            .iter()
            .position(|p| p.sku == sku)
            .or_else(|| self.find_sku(sku).map(|(pi, _)| pi))
    }

    /// (product index, variant index) of an inventory item's sku: a variant's sku (the base
    /// variant of a product without options carries the product's sku).
    pub(crate) fn find_sku(&self, sku: &str) -> Option<(usize, usize)> {
        for (pi, p) in self.products.iter().enumerate() {
            if let Some(vi) = p.variants.iter().position(|v| v.sku == sku) {
                return Some((pi, vi));
            }
        }
        None
    }

    /// Adds an order for `lines` (sku, quantity) and returns its id.
    pub(crate) fn create_order(
        &mut self,
        customer_id: i64,
        buyer: &DemoParty,
        shipping: &DemoParty,
        lines: &[(String, i64)],
        status_id: i64,
        at: DateTime<Utc>,
    ) -> i64 {
        let id = 100 + self.orders.len() as i64 + 1;
        let address_id = self.alloc();
        let mut products = Vec::new();
        for (sku, quantity) in lines {
            let Some((pi, vi)) = self.find_sku(sku) else {
                continue;
            };
            let p = &self.products[pi];
            let v = &p.variants[vi];
            let price = v.price.unwrap_or(p.price);
            let unit_price = (price * 10_000.0).round() as i64;
            let (product_id, variant_id, name, weight) = (p.id, v.id, p.name.clone(), p.weight);
            products.push(OrderProduct {
                id: self.alloc(),
                product_id,
                variant_id,
                order_address_id: address_id,
                name,
                sku: sku.clone(),
                quantity: *quantity,
                quantity_shipped: 0,
                unit_price,
                weight,
            });
        }
        self.orders.push(Order {
            id,
            customer_id,
            status_id,
            date_created: at,
            date_modified: at,
            date_shipped: None,
            billing: buyer.clone(),
            shipping_addresses: vec![ShippingAddress {
                id: address_id,
                party: shipping.clone(),
            }],
            products,
            shipments: Vec::new(),
        });
        id
    }

    /// Units on hand of a variant, summed over locations, or at one location.
    pub(crate) fn on_hand(&self, variant_id: i64, location_id: Option<i64>) -> i64 {
        match location_id {
            Some(l) => self.stock.get(&(variant_id, l)).copied().unwrap_or(0),
            None => self
                .stock
                .range((variant_id, i64::MIN)..=(variant_id, i64::MAX))
                .map(|(_, q)| *q)
                .sum(),
        }
    }

    /// The rendered JSON document of a product (only `fields`), from the cache when still
    /// current.
    pub(crate) fn product_json_text(
        &self,
        p: &Product,
        variants: bool,
        images: bool,
        fields: &Fields,
    ) -> Arc<str> {
        let key = (p.id, variants, images, fields.key);
        let mut cache = self.json_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((modified, version, text)) = cache.get(&key)
            && *modified == p.date_modified
            && *version == self.stock_version
        {
            return text.clone();
        }
        let mut doc = self.product_json(p, variants, images);
        fields.apply(&mut doc);
        let text: Arc<str> = doc.to_string().into();
        cache.insert(key, (p.date_modified, self.stock_version, text.clone()));
        text
    }

    /// Renders every product document once (as the connector asks for them).
    pub(crate) fn prerender(&self, fields: &Fields) {
        for p in &self.products {
            self.product_json_text(p, true, true, fields);
        }
    }

    pub(crate) fn product_json(&self, p: &Product, variants: bool, images: bool) -> Value {
        let default_location = self.locations.first().map(|l| l.id);
        let total: i64 = p
            .variants
            .iter()
            .map(|v| self.on_hand(v.id, default_location))
            .sum();
        let mut v = json!({
            "id": p.id,
            "name": p.name,
            "type": "physical",
            "sku": p.sku,
            "description": p.description,
            "weight": num(p.weight),
            "width": num(p.width),
            "depth": num(p.depth),
            "height": num(p.height),
            "price": num(p.price),
            "cost_price": 0,
            "retail_price": 0,
            "sale_price": 0,
            "map_price": 0,
            "tax_class_id": 0,
            "product_tax_code": "",
            "calculated_price": num(p.price),
            "categories": p.categories,
            "brand_id": p.brand_id,
            "option_set_display": "right",
            "inventory_level": total,
            "inventory_warning_level": 0,
            "inventory_tracking": if p.has_options { "variant" } else { "product" },
            "reviews_rating_sum": 0,
            "reviews_count": 0,
            "total_sold": 0,
            "fixed_cost_shipping_price": 0,
            "is_free_shipping": false,
            "is_visible": p.is_visible,
            "is_featured": false,
            "related_products": [],
            "warranty": "",
            "bin_picking_number": "",
            "layout_file": "product.html",
            "upc": p.upc,
            "mpn": p.mpn,
            "gtin": p.gtin,
            "search_keywords": "",
            "availability": "available",
            "availability_description": "",
            "gift_wrapping_options_type": "any",
            "gift_wrapping_options_list": [],
            "sort_order": 0,
            "condition": "New",
            "is_condition_shown": false,
            "order_quantity_minimum": 0,
            "order_quantity_maximum": 0,
            "page_title": "",
            "meta_keywords": [],
            "meta_description": "",
            "view_count": 0,
            "preorder_release_date": null,
            "preorder_message": "",
            "is_preorder_only": false,
            "is_price_hidden": false,
            "price_hidden_label": "",
            "custom_url": { "url": format!("/{}/", slug(&p.name)), "is_customized": false },
            "open_graph_type": "product",
            "open_graph_title": "",
            "open_graph_description": "",
            "open_graph_use_meta_description": true,
            "open_graph_use_product_name": true,
            "open_graph_use_image": true,
            "date_created": v3_date(&p.date_created),
            "date_modified": v3_date(&p.date_modified),
        });
        if let Some(obj) = v.as_object_mut() {
            if !p.has_options
                && let Some(base) = p.variants.first()
            {
                obj.insert("base_variant_id".into(), json!(base.id));
            }
            if variants {
                let list = p.variants.iter().map(|x| self.variant_json(p, x)).collect();
                obj.insert("variants".into(), Value::Array(list));
            }
            if images {
                let list = p.images.iter().map(|i| image_json(p, i)).collect();
                obj.insert("images".into(), Value::Array(list));
            }
        }
        v
    }

    pub(crate) fn variant_json(&self, p: &Product, v: &Variant) -> Value {
        let default_location = self.locations.first().map(|l| l.id);
        let price = v.price.unwrap_or(p.price);
        let weight = v.weight.unwrap_or(p.weight);
        json!({
            "id": v.id,
            "product_id": p.id,
            "sku": v.sku,
            "price": v.price.map(num),
            "calculated_price": num(price),
            "sale_price": null,
            "retail_price": null,
            "cost_price": null,
            "weight": v.weight.map(num),
            "calculated_weight": num(weight),
            "width": null,
            "height": null,
            "depth": null,
            "is_free_shipping": false,
            "fixed_cost_shipping_price": null,
            "purchasing_disabled": false,
            "purchasing_disabled_message": "",
            "image_url": "",
            "upc": "",
            "mpn": "",
            "gtin": v.gtin,
            "inventory_level": self.on_hand(v.id, default_location),
            "inventory_warning_level": 0,
            "bin_picking_number": "",
            "option_values": v.option_values.iter().map(|o| json!({
                "id": o.id,
                "label": o.label,
                "option_id": o.option_id,
                "option_display_name": o.option_display_name,
            })).collect::<Vec<_>>(),
        })
    }

    pub(crate) fn brand_json(&self, b: &Brand) -> Value {
        json!({
            "id": b.id,
            "name": b.name,
            "page_title": b.name,
            "meta_keywords": [],
            "meta_description": "",
            "search_keywords": "",
            "image_url": "",
            "custom_url": { "url": format!("/brands/{}.html", slug(&b.name)), "is_customized": false },
        })
    }

    pub(crate) fn category_json(&self, c: &Category) -> Value {
        let path = self.category_path(c.id);
        json!({
            "id": c.id,
            "parent_id": c.parent_id,
            "name": c.name,
            "description": "",
            "views": 0,
            "sort_order": c.sort_order,
            "page_title": "",
            "meta_keywords": [],
            "meta_description": "",
            "layout_file": "category.html",
            "image_url": "",
            "is_visible": true,
            "search_keywords": "",
            "default_product_sort": "use_store_settings",
            "custom_url": { "url": format!("/{}/", slug(&path)), "is_customized": false },
        })
    }

    /// A category as the category-trees API lists it.
    pub(crate) fn tree_category_json(&self, c: &Category) -> Value {
        let path = self.category_path(c.id);
        json!({
            "category_id": c.id,
            "parent_id": c.parent_id,
            "tree_id": 1,
            "name": c.name,
            "description": "",
            "views": 0,
            "sort_order": c.sort_order,
            "page_title": "",
            "meta_keywords": [],
            "meta_description": "",
            "layout_file": "category.html",
            "image_url": "",
            "is_visible": true,
            "search_keywords": "",
            "default_product_sort": "use_store_settings",
            "url": { "path": format!("/{}/", slug(&path)), "is_customized": false },
        })
    }

    pub(crate) fn location_json(&self, l: &Location) -> Value {
        let closed = json!({ "open": false, "opening": "00:00", "closing": "00:00" });
        let open = json!({ "open": true, "opening": "08:00", "closing": "18:00" });
        json!({
            "id": l.id,
            "code": l.code,
            "label": l.label,
            "description": format!("{} ({})", l.label, l.code),
            "managed_by_external_source": false,
            "type_id": "PHYSICAL",
            "enabled": true,
            "operating_hours": {
                "sunday": closed, "monday": open, "tuesday": open, "wednesday": open,
                "thursday": open, "friday": open, "saturday": closed,
            },
            "time_zone": "America/New_York",
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "address": {
                "address1": l.street,
                "address2": "",
                "city": l.city,
                "state": l.state,
                "zip": l.zip,
                "email": "warehouse@example.com",
                "phone": "+1-555-0100",
                "geo_coordinates": { "latitude": 40.7357, "longitude": -74.1724 },
                "country_code": "US",
            },
            "storefront_visibility": true,
            "special_hours": [],
        })
    }

    /// One inventory item (a variant) with its stock at `locations`.
    pub(crate) fn item_json(&self, p: &Product, v: &Variant, locations: &[&Location]) -> Value {
        let mut identity = json!({ "sku": v.sku, "variant_id": v.id, "product_id": p.id });
        if p.has_options
            && let Some(obj) = identity.as_object_mut()
        {
            obj.insert("sku_id".into(), json!(v.id));
        }
        let levels: Vec<Value> = locations
            .iter()
            .map(|l| {
                let q = self.stock.get(&(v.id, l.id)).copied().unwrap_or(0);
                json!({
                    "location_id": l.id,
                    "location_code": l.code,
                    "location_name": l.label,
                    "available_to_sell": q,
                    "total_inventory_onhand": q,
                    "location_enabled": true,
                    "settings": {
                        "safety_stock": 0,
                        "is_in_stock": q > 0,
                        "warning_level": 0,
                        "bin_picking_number": "",
                    },
                })
            })
            .collect();
        json!({ "identity": identity, "locations": levels })
    }

    /// One item of one location (`/inventory/locations/{id}/items`).
    pub(crate) fn location_item_json(&self, p: &Product, v: &Variant, location_id: i64) -> Value {
        let q = self.stock.get(&(v.id, location_id)).copied().unwrap_or(0);
        json!({
            "identity": { "sku": v.sku, "variant_id": v.id, "product_id": p.id },
            "available_to_sell": q,
            "total_inventory_onhand": q,
            "settings": {
                "safety_stock": 0,
                "is_in_stock": q > 0,
                "warning_level": 0,
                "bin_picking_number": "",
            },
        })
    }

    /// An order's consignments in the object structure: one shipping consignment per shipping
    /// address (its order products as links, or whole with `lines`).
    pub(crate) fn consignments_json(&self, o: &Order, base: &str, lines: bool) -> Value {
        let shipping: Vec<Value> = o
            .shipping_addresses
            .iter()
            .map(|a| {
                let mut c = self.shipping_address_json(o, a, base);
                let items: Vec<Value> = o
                    .products
                    .iter()
                    .filter(|p| p.order_address_id == a.id)
                    .map(|p| {
                        if lines {
                            self.order_product_json(o, p)
                        } else {
                            json!({
                                "url": format!("{base}/orders/{}/products/{}", o.id, p.id),
                                "resource": format!("/orders/{}/products/{}", o.id, p.id),
                            })
                        }
                    })
                    .collect();
                c["line_items"] = Value::Array(items);
                c["shipping_quotes"] = json!({
                    "url": format!("{base}/orders/{}/consignments/shipping/{}/shipping_quotes", o.id, a.id),
                    "resource": format!("/orders/{}/consignments/shipping/{}/shipping_quotes", o.id, a.id),
                });
                if let Some(m) = c.as_object_mut() {
                    m.remove("order_id");
                }
                c
            })
            .collect();
        json!({
            "pickups": [],
            "shipping": shipping,
            "downloads": [],
            "email": {"gift_certificates": []},
        })
    }

    /// The V2 order; `include` puts its consignments in (else their link).
    pub(crate) fn order_json(&self, o: &Order, base: &str, include: Consignments) -> Value {
        let subtotal = o.subtotal();
        let items_total: i64 = o.products.iter().map(|p| p.quantity).sum();
        let items_shipped: i64 = o.products.iter().map(|p| p.quantity_shipped).sum();
        let zero = money(0);
        let rate = "1.0000000000";
        let mut order = json!({
            "id": o.id,
            "customer_id": o.customer_id,
            "date_created": v2_date(&o.date_created),
            "date_modified": v2_date(&o.date_modified),
            "date_shipped": o.date_shipped.as_ref().map(v2_date).unwrap_or_default(),
            "status_id": o.status_id,
            "status": status_name(o.status_id),
            "subtotal_ex_tax": money(subtotal),
            "subtotal_inc_tax": money(subtotal),
            "subtotal_tax": zero,
            "base_shipping_cost": zero,
            "shipping_cost_ex_tax": zero,
            "shipping_cost_inc_tax": zero,
            "shipping_cost_tax": zero,
            "shipping_cost_tax_class_id": 2,
            "base_handling_cost": zero,
            "handling_cost_ex_tax": zero,
            "handling_cost_inc_tax": zero,
            "handling_cost_tax": zero,
            "handling_cost_tax_class_id": 2,
            "base_wrapping_cost": zero,
            "wrapping_cost_ex_tax": zero,
            "wrapping_cost_inc_tax": zero,
            "wrapping_cost_tax": zero,
            "wrapping_cost_tax_class_id": 3,
            "total_ex_tax": money(subtotal),
            "total_inc_tax": money(subtotal),
            "total_tax": zero,
            "items_total": items_total,
            "items_shipped": items_shipped,
            "payment_method": "Credit Card",
            "payment_provider_id": "",
            "payment_status": "captured",
            "refunded_amount": zero,
            "order_is_digital": false,
            "store_credit_amount": zero,
            "gift_certificate_amount": zero,
            "ip_address": "",
            "ip_address_v6": "",
            "geoip_country": "",
            "geoip_country_iso2": "",
            "currency_id": 1,
            "currency_code": self.currency,
            "currency_exchange_rate": rate,
            "default_currency_id": 1,
            "default_currency_code": self.currency,
            "store_default_currency_code": self.currency,
            "store_default_to_transactional_exchange_rate": rate,
            "staff_notes": "",
            "customer_message": "",
            "discount_amount": zero,
            "coupon_discount": zero,
            "shipping_address_count": o.shipping_addresses.len(),
            "is_deleted": false,
            "ebay_order_id": "0",
            "cart_id": "",
            "billing_address": {
                "first_name": o.billing.first_name,
                "last_name": o.billing.last_name,
                "company": o.billing.company,
                "street_1": o.billing.street,
                "street_2": "",
                "city": o.billing.city,
                "state": o.billing.state,
                "zip": o.billing.zip,
                "country": o.billing.country,
                "country_iso2": o.billing.country_iso2,
                "phone": o.billing.phone,
                "email": o.billing.email,
                "form_fields": [],
            },
            "is_email_opt_in": false,
            "order_source": "www",
            "channel_id": 1,
            "external_source": "",
            "external_id": null,
            "external_merchant_id": null,
            "tax_provider_id": "BasicTaxProvider",
            "customer_locale": "en",
            "products": {
                "url": format!("{base}/orders/{}/products", o.id),
                "resource": format!("/orders/{}/products", o.id),
            },
            "shipping_addresses": {
                "url": format!("{base}/orders/{}/shipping_addresses", o.id),
                "resource": format!("/orders/{}/shipping_addresses", o.id),
            },
            "coupons": {
                "url": format!("{base}/orders/{}/coupons", o.id),
                "resource": format!("/orders/{}/coupons", o.id),
            },
        });
        // Without `include` the consignments are left out: their link form
        // (`orderConsignments_Resource`) also matches the spec's `orderConsignment_Get`, which
        // its `oneOf` forbids.
        let consignments = match include {
            Consignments::Link => return order,
            Consignments::Included | Consignments::WithLines => {
                self.consignments_json(o, base, include == Consignments::WithLines)
            }
            Consignments::Legacy(lines) => json!([self.consignments_json(o, base, lines)]),
        };
        order["consignments"] = consignments;
        order
    }

    pub(crate) fn order_product_json(&self, o: &Order, p: &OrderProduct) -> Value {
        let zero = money(0);
        let total = money(p.unit_price * p.quantity);
        let price = money(p.unit_price);
        json!({
            "id": p.id,
            "order_id": o.id,
            "product_id": p.product_id,
            "variant_id": p.variant_id,
            "order_pickup_method_id": 0,
            "order_address_id": p.order_address_id,
            "name": p.name,
            "name_customer": p.name,
            "name_merchant": p.name,
            "sku": p.sku,
            "upc": "",
            "type": "physical",
            "base_price": price,
            "price_ex_tax": price,
            "price_inc_tax": price,
            "price_tax": zero,
            "base_total": total,
            "total_ex_tax": total,
            "total_inc_tax": total,
            "total_tax": zero,
            "weight": num(p.weight),
            "width": zero,
            "height": zero,
            "depth": zero,
            "quantity": p.quantity,
            "base_cost_price": zero,
            "cost_price_inc_tax": zero,
            "cost_price_ex_tax": zero,
            "cost_price_tax": zero,
            "is_refunded": false,
            "quantity_refunded": 0,
            "refund_amount": zero,
            "return_id": 0,
            "wrapping_id": 0,
            "wrapping_name": null,
            "base_wrapping_cost": zero,
            "wrapping_cost_ex_tax": zero,
            "wrapping_cost_inc_tax": zero,
            "wrapping_cost_tax": zero,
            "wrapping_message": "",
            "quantity_shipped": p.quantity_shipped,
            "event_name": null,
            "event_date": null,
            "fixed_shipping_cost": zero,
            "ebay_item_id": "",
            "ebay_transaction_id": "",
            "option_set_id": null,
            "parent_order_product_id": null,
            "is_bundled_product": false,
            "bin_picking_number": "",
            "external_id": null,
            "brand": "",
            "applied_discounts": [],
            "product_options": [],
            "configurable_fields": [],
            "gift_certificate_id": null,
            "discounted_total_inc_tax": total,
        })
    }

    pub(crate) fn shipping_address_json(
        &self,
        o: &Order,
        a: &ShippingAddress,
        base: &str,
    ) -> Value {
        let zero = money(0);
        let items_total: i64 = o
            .products
            .iter()
            .filter(|p| p.order_address_id == a.id)
            .map(|p| p.quantity)
            .sum();
        let items_shipped: i64 = o
            .products
            .iter()
            .filter(|p| p.order_address_id == a.id)
            .map(|p| p.quantity_shipped)
            .sum();
        json!({
            "id": a.id,
            "order_id": o.id,
            "first_name": a.party.first_name,
            "last_name": a.party.last_name,
            "company": a.party.company,
            "street_1": a.party.street,
            "street_2": "",
            "city": a.party.city,
            "state": a.party.state,
            "zip": a.party.zip,
            "country": a.party.country,
            "country_iso2": a.party.country_iso2,
            "phone": a.party.phone,
            "email": a.party.email,
            "items_total": items_total,
            "items_shipped": items_shipped,
            "shipping_method": "Flat Rate",
            "base_cost": zero,
            "cost_ex_tax": zero,
            "cost_inc_tax": zero,
            "cost_tax": zero,
            "cost_tax_class_id": 2,
            "base_handling_cost": zero,
            "handling_cost_ex_tax": zero,
            "handling_cost_inc_tax": zero,
            "handling_cost_tax": zero,
            "handling_cost_tax_class_id": 2,
            "shipping_zone_id": 1,
            "shipping_zone_name": "United States",
            "shipping_quotes": {
                "url": format!("{base}/orders/{}/shipping_addresses/{}/shipping_quotes", o.id, a.id),
                "resource": format!("/orders/{}/shipping_addresses/{}/shipping_quotes", o.id, a.id),
            },
            "form_fields": [],
        })
    }

    pub(crate) fn shipment_json(&self, o: &Order, s: &Shipment) -> Value {
        let address = o
            .shipping_addresses
            .iter()
            .find(|a| a.id == s.order_address_id)
            .map(|a| &a.party)
            .unwrap_or(&o.billing);
        let party = |p: &DemoParty| {
            json!({
                "first_name": p.first_name,
                "last_name": p.last_name,
                "company": p.company,
                "street_1": p.street,
                "street_2": "",
                "city": p.city,
                "state": p.state,
                "zip": p.zip,
                "country": p.country,
                "country_iso2": p.country_iso2,
                "phone": p.phone,
                "email": p.email,
            })
        };
        let link = if s.tracking_number.is_empty() {
            String::new()
        } else {
            format!("https://track.aftership.com/{}", s.tracking_number)
        };
        json!({
            "id": s.id,
            "order_id": o.id,
            "customer_id": o.customer_id,
            "order_address_id": s.order_address_id,
            "date_created": v2_date(&s.date_created),
            "tracking_number": s.tracking_number,
            "merchant_shipping_cost": money(0),
            "shipping_method": "Flat Rate",
            "shipping_provider": s.shipping_provider,
            "tracking_carrier": s.tracking_carrier,
            "tracking_link": "",
            "comments": s.comments,
            "billing_address": party(&o.billing),
            "shipping_address": party(address),
            "items": s.items.iter().map(|(opid, pid, q)| json!({
                "order_product_id": opid, "product_id": pid, "quantity": q,
            })).collect::<Vec<_>>(),
            "shipping_provider_display_name": if s.shipping_provider.is_empty() { s.tracking_carrier.to_uppercase() } else { s.shipping_provider.to_uppercase() },
            "generated_tracking_link": link,
        })
    }
}

fn image_json(p: &Product, i: &Image) -> Value {
    json!({
        "id": i.id,
        "product_id": p.id,
        "is_thumbnail": i.sort_order == 0,
        "sort_order": i.sort_order,
        "description": "",
        "image_url": i.url,
        "url_zoom": i.url,
        "url_standard": i.url,
        "url_thumbnail": i.url,
        "url_tiny": i.url,
        "date_modified": v3_date(&p.date_modified),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_catalog_and_orders() {
        let s = Store::seeded(42, 30, 8, "USD", false);
        assert_eq!(s.products.len(), 30);
        assert_eq!(s.orders.len(), 8);
        assert!(s.products.iter().all(|p| p.weight >= 0.0));
        assert!(s.categories.iter().any(|c| c.parent_id != 0));
        let leaf = s
            .products
            .iter()
            .find_map(|p| p.categories.first())
            .copied()
            .unwrap_or(0);
        assert!(s.category_path(leaf).contains('/'));
        for p in &s.products {
            for v in &p.variants {
                assert!(s.stock.contains_key(&(v.id, 1)) && s.stock.contains_key(&(v.id, 2)));
            }
        }
    }

    #[test]
    fn whole_numbers_stay_whole() {
        assert_eq!(num(10.0).to_string(), "10");
        assert_eq!(num(19.999).to_string(), "19.999");
        assert_eq!(num(19.9).to_string(), "19.9");
    }
}
