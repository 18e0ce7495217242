//! The data of one simulated Magento store: catalog (configurable products and their simple
//! children, attribute options, categories), MSI sources and source items, orders, shipments,
//! bulk operations and webhook subscriptions; and `searchCriteria` evaluation.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::demo::{self, DemoParty};

/// Magento's date format in REST answers (UTC).
pub(crate) fn mage_date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// One catalog product (a configurable parent or a simple product/child).
#[derive(Debug, Clone)]
pub(crate) struct Prod {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub type_id: &'static str,
    /// Price as decimal text (kept exactly).
    pub price: String,
    pub weight: f64,
    pub status: i64,
    pub visibility: i64,
    pub description: String,
    pub brand: String,
    pub gtin: String,
    pub category_ids: Vec<i64>,
    pub images: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Children ids of a configurable product.
    pub children: Vec<i64>,
    /// Configurable attribute codes of a parent.
    pub options: Vec<String>,
    /// (attribute code, option value id) of a child.
    pub attrs: Vec<(String, i64)>,
    pub dims: (f64, f64, f64),
}

/// An attribute with options (size, color).
#[derive(Debug, Clone)]
pub(crate) struct Attribute {
    pub id: i64,
    pub label: String,
    pub options: Vec<(i64, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Category {
    pub id: i64,
    pub parent: i64,
    pub name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct OrderItem {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub qty: i64,
    pub qty_shipped: i64,
    pub price: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Track {
    pub number: String,
    pub title: String,
    pub carrier: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Shipment {
    pub id: i64,
    pub order_id: i64,
    pub items: Vec<(i64, i64)>,
    pub tracks: Vec<Track>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub id: i64,
    pub state: String,
    pub status: String,
    pub buyer: DemoParty,
    pub shipping: DemoParty,
    pub items: Vec<OrderItem>,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub comments: Vec<(String, String)>,
}

/// One async bulk operation.
#[derive(Debug, Clone)]
pub(crate) struct BulkOp {
    pub id: i64,
    pub status: i64,
    pub message: Option<String>,
    pub error_code: Option<i64>,
    /// What applying it does, kept until the operation runs.
    pub payload: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct Bulk {
    pub uuid: String,
    pub topic: String,
    pub ops: Vec<BulkOp>,
    pub polls: u32,
    pub started: DateTime<Utc>,
}

/// A webhook subscription (`POST /V1/webhooks/subscribe`).
#[derive(Debug, Clone)]
pub(crate) struct Hook {
    /// The subscription as sent (optional fields kept).
    pub extra: Value,
    pub webhook_method: String,
    pub webhook_type: String,
    pub batch_name: String,
    pub hook_name: String,
    pub url: String,
}

impl Hook {
    pub(crate) fn json(&self) -> Value {
        let extra = |k: &str, default: Value| {
            self.extra
                .get(k)
                .filter(|v| !v.is_null())
                .cloned()
                .unwrap_or(default)
        };
        json!({
            "webhook_method": self.webhook_method,
            "webhook_type": self.webhook_type,
            "batch_name": self.batch_name,
            "batch_order": 0,
            "hook_name": self.hook_name,
            "url": self.url,
            "priority": 0,
            "required": false,
            "soft_timeout": extra("soft_timeout", json!(1000)),
            "timeout": extra("timeout", json!(5000)),
            "method": "POST",
            "fallback_error_message": extra("fallback_error_message", json!("")),
            "ttl": extra("ttl", json!(3600)),
            "fields": extra("fields", json!([])),
            "rules": extra("rules", json!([])),
            "headers": extra("headers", json!([])),
        })
    }
}

/// Everything a store holds.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub products: Vec<Prod>,
    pub attributes: BTreeMap<String, Attribute>,
    pub categories: Vec<Category>,
    pub sources: Vec<Source>,
    /// (sku, source code) → (quantity, status).
    pub stock: BTreeMap<(String, String), (f64, i64)>,
    pub orders: Vec<Order>,
    pub shipments: Vec<Shipment>,
    pub bulks: Vec<Bulk>,
    pub hooks: Vec<Hook>,
    pub currency: String,
    next_id: i64,
}

/// The attribute code Magento uses for a demo option name.
pub(crate) fn attribute_code(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "colour" => "color".into(),
        other => other.replace(' ', "_"),
    }
}

/// Magento status (and state) of a demo order status.
fn mage_status(status: &str) -> (&'static str, &'static str) {
    match status {
        "pending" => ("new", "pending"),
        "awaiting_fulfillment" => ("processing", "processing"),
        "shipped" | "completed" => ("complete", "complete"),
        "cancelled" => ("canceled", "canceled"),
        _ => ("processing", "processing"),
    }
}

impl Store {
    pub(crate) fn seeded(seed: u64, products: usize, orders: usize, currency: &str) -> Self {
        let mut s = Store {
            currency: currency.into(),
            next_id: 1,
            ..Store::default()
        };
        s.categories.push(Category {
            id: 1,
            parent: 0,
            name: "Root Catalog".into(),
        });
        s.categories.push(Category {
            id: 2,
            parent: 1,
            name: "Default Category".into(),
        });
        for code in demo::WAREHOUSES {
            s.sources.push(Source {
                code: code.to_ascii_lowercase(),
                name: format!("{code} warehouse"),
            });
        }
        let catalog = demo::catalog(seed, products);
        let mut attr_id = 140;
        for d in &catalog {
            let category_ids = if d.category.is_empty() {
                vec![]
            } else {
                vec![s.category_for_path(&d.category)]
            };
            let mut parent = Prod {
                id: 0,
                sku: d.sku.clone(),
                name: d.name.clone(),
                type_id: if d.variants.is_empty() {
                    "simple"
                } else {
                    "configurable"
                },
                price: d.price.clone(),
                weight: d.weight,
                status: if d.visible { 1 } else { 2 },
                visibility: 4,
                description: d.description.clone(),
                brand: d.brand.clone(),
                gtin: d.gtin.clone(),
                category_ids,
                images: d.images.clone(),
                created_at: d.created_at,
                updated_at: d.modified_at,
                children: vec![],
                options: d.options.iter().map(|o| attribute_code(o)).collect(),
                attrs: vec![],
                dims: (d.width, d.height, d.depth),
            };
            for o in &d.options {
                let code = attribute_code(o);
                s.attributes.entry(code).or_insert_with(|| {
                    attr_id += 1;
                    Attribute {
                        id: attr_id,
                        label: o.clone(),
                        options: vec![],
                    }
                });
            }
            for w in &d.stock {
                s.stock.insert(
                    (d.sku.clone(), w.warehouse.to_ascii_lowercase()),
                    (w.on_hand as f64, 1),
                );
            }
            let mut children = Vec::new();
            for v in &d.variants {
                let mut attrs = Vec::new();
                for (name, value) in &v.options {
                    let code = attribute_code(name);
                    let a = s.attributes.get_mut(&code).expect("attribute registered");
                    let oid = match a.options.iter().find(|(_, l)| l == value) {
                        Some((id, _)) => *id,
                        None => {
                            let id = 5000 + a.id * 100 + a.options.len() as i64;
                            a.options.push((id, value.clone()));
                            id
                        }
                    };
                    attrs.push((code, oid));
                }
                for w in &v.stock {
                    s.stock.insert(
                        (v.sku.clone(), w.warehouse.to_ascii_lowercase()),
                        (w.on_hand as f64, 1),
                    );
                }
                let label: Vec<&str> = v.options.iter().map(|(_, l)| l.as_str()).collect();
                children.push(Prod {
                    id: 0,
                    sku: v.sku.clone(),
                    name: format!("{}-{}", d.name, label.join("-")),
                    type_id: "simple",
                    price: v.price.clone().unwrap_or_else(|| d.price.clone()),
                    weight: d.weight,
                    status: 1,
                    visibility: 1,
                    description: String::new(),
                    brand: String::new(),
                    gtin: v.gtin.clone(),
                    category_ids: vec![],
                    images: vec![],
                    created_at: d.created_at,
                    updated_at: d.modified_at,
                    children: vec![],
                    options: vec![],
                    attrs,
                    dims: (d.width, d.height, d.depth),
                });
            }
            parent.id = s.id();
            for mut c in children {
                c.id = s.id();
                parent.children.push(c.id);
                s.products.push(c);
            }
            s.products.push(parent);
        }
        for d in demo::orders(seed, &catalog, orders) {
            let (state, status) = mage_status(&d.status);
            let id = s.orders.len() as i64 + 1;
            let items = d
                .lines
                .iter()
                .enumerate()
                .map(|(i, l)| OrderItem {
                    id: id * 100 + i as i64 + 1,
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    qty: l.quantity,
                    qty_shipped: 0,
                    price: l.unit_price.clone(),
                })
                .collect();
            s.orders.push(Order {
                id,
                state: state.into(),
                status: status.into(),
                buyer: d.buyer,
                shipping: d.shipping,
                items,
                currency: currency.into(),
                created_at: d.created_at,
                updated_at: d.created_at,
                comments: vec![],
            });
        }
        s
    }

    pub(crate) fn id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn category_for_path(&mut self, path: &str) -> i64 {
        let mut parent = 2;
        for name in path.split('/') {
            parent = match self
                .categories
                .iter()
                .find(|c| c.parent == parent && c.name == name)
            {
                Some(c) => c.id,
                None => {
                    let id = 3 + self.categories.len() as i64;
                    self.categories.push(Category {
                        id,
                        parent,
                        name: name.into(),
                    });
                    id
                }
            };
        }
        parent
    }

    /// "Men/Tops/Hoodies" of a category id (below "Default Category").
    pub(crate) fn category_path(&self, id: i64) -> String {
        let mut names = Vec::new();
        let mut cur = id;
        while let Some(c) = self.categories.iter().find(|c| c.id == cur) {
            if c.id <= 2 {
                break;
            }
            names.push(c.name.clone());
            cur = c.parent;
        }
        names.reverse();
        names.join("/")
    }

    fn category_level(&self, id: i64) -> (usize, String) {
        let mut ids = Vec::new();
        let mut cur = id;
        while let Some(c) = self.categories.iter().find(|c| c.id == cur) {
            ids.push(c.id.to_string());
            cur = c.parent;
        }
        ids.reverse();
        (ids.len().saturating_sub(1), ids.join("/"))
    }

    pub(crate) fn category_json(&self, c: &Category) -> Value {
        let (level, path) = self.category_level(c.id);
        json!({
            "id": c.id,
            "parent_id": c.parent,
            "name": c.name,
            "is_active": true,
            "position": 1,
            "level": level,
            "path": path,
            "include_in_menu": true,
            "children": self.categories.iter().filter(|x| x.parent == c.id)
                .map(|x| x.id.to_string()).collect::<Vec<_>>().join(","),
        })
    }

    pub(crate) fn by_sku(&self, sku: &str) -> Option<usize> {
        self.products.iter().position(|p| p.sku == sku)
    }

    pub(crate) fn by_id(&self, id: i64) -> Option<&Prod> {
        self.products.iter().find(|p| p.id == id)
    }

    /// The parent of a child, or the product itself.
    pub(crate) fn owner_of(&self, sku: &str) -> Option<usize> {
        let i = self.by_sku(sku)?;
        let id = self.products[i].id;
        Some(
            self.products
                .iter()
                .position(|p| p.children.contains(&id))
                .unwrap_or(i),
        )
    }

    pub(crate) fn product_json(&self, p: &Prod) -> Value {
        let mut custom = vec![json!({"attribute_code": "description", "value": p.description})];
        if !p.brand.is_empty() {
            custom.push(json!({"attribute_code": "brand", "value": p.brand}));
        }
        if !p.gtin.is_empty() {
            custom.push(json!({"attribute_code": "ean", "value": p.gtin}));
        }
        custom
            .push(json!({"attribute_code": "ts_dimensions_width", "value": p.dims.0.to_string()}));
        custom
            .push(json!({"attribute_code": "ts_dimensions_height", "value": p.dims.1.to_string()}));
        custom
            .push(json!({"attribute_code": "ts_dimensions_length", "value": p.dims.2.to_string()}));
        custom.push(json!({"attribute_code": "url_key", "value": p.sku.to_ascii_lowercase()}));
        // Categories are served as `extension_attributes.category_links` only: the schema types
        // custom attribute values as strings, and Magento's `category_ids` is an array.
        for (code, value) in &p.attrs {
            custom.push(json!({"attribute_code": code, "value": value.to_string()}));
        }
        let price: Value = serde_json::from_str(&p.price).unwrap_or(json!(0));
        let mut ext = json!({
            "website_ids": [1],
            "category_links": p.category_ids.iter().enumerate()
                .map(|(i, c)| json!({"position": i, "category_id": c.to_string()}))
                .collect::<Vec<_>>(),
        });
        if p.type_id == "configurable" {
            let opts: Vec<Value> = p
                .options
                .iter()
                .enumerate()
                .filter_map(|(i, code)| {
                    let a = self.attributes.get(code)?;
                    let used: Vec<i64> = a
                        .options
                        .iter()
                        .map(|(id, _)| *id)
                        .filter(|id| {
                            p.children.iter().any(|c| {
                                self.by_id(*c)
                                    .is_some_and(|c| c.attrs.iter().any(|(k, v)| k == code && v == id))
                            })
                        })
                        .collect();
                    Some(json!({
                        "id": p.id * 10 + i as i64,
                        "attribute_id": a.id.to_string(),
                        "label": a.label,
                        "position": i,
                        "values": used.iter().map(|v| json!({"value_index": v})).collect::<Vec<_>>(),
                        "product_id": p.id,
                    }))
                })
                .collect();
            ext["configurable_product_options"] = json!(opts);
            ext["configurable_product_links"] = json!(p.children);
        }
        json!({
            "id": p.id,
            "sku": p.sku,
            "name": p.name,
            "attribute_set_id": 4,
            "price": price,
            "status": p.status,
            "visibility": p.visibility,
            "type_id": p.type_id,
            "created_at": mage_date(p.created_at),
            "updated_at": mage_date(p.updated_at),
            "weight": p.weight,
            "extension_attributes": ext,
            "product_links": [],
            "options": [],
            "media_gallery_entries": p.images.iter().enumerate().map(|(i, url)| json!({
                "id": p.id * 100 + i as i64,
                "media_type": "image",
                "label": p.name,
                "position": i + 1,
                "disabled": false,
                "types": if i == 0 { json!(["image", "small_image", "thumbnail"]) } else { json!([]) },
                "file": url,
            })).collect::<Vec<_>>(),
            "tier_prices": [],
            "custom_attributes": custom,
        })
    }

    pub(crate) fn source_item_json(&self, sku: &str, source: &str, qty: f64, status: i64) -> Value {
        json!({"sku": sku, "source_code": source, "quantity": qty, "status": status})
    }

    pub(crate) fn source_items(&self) -> Vec<Value> {
        self.stock
            .iter()
            .map(|((sku, src), (q, st))| self.source_item_json(sku, src, *q, *st))
            .collect()
    }

    fn address_json(&self, p: &DemoParty, kind: &str, order_id: i64) -> Value {
        json!({
            "address_type": kind,
            "entity_id": order_id * 10 + if kind == "billing" { 1 } else { 2 },
            "parent_id": order_id,
            "firstname": p.first_name,
            "lastname": p.last_name,
            "company": p.company,
            "email": p.email,
            "telephone": p.phone,
            "street": [p.street],
            "city": p.city,
            "region": p.state,
            "postcode": p.zip,
            "country_id": p.country_iso2,
        })
    }

    pub(crate) fn order_json(&self, o: &Order) -> Value {
        let total: i64 = o
            .items
            .iter()
            .map(|i| demo::to_units(&i.price) * i.qty)
            .sum();
        let items: Vec<Value> = o
            .items
            .iter()
            .map(|i| {
                let price: Value = serde_json::from_str(&i.price).unwrap_or(json!(0));
                json!({
                    "item_id": i.id,
                    "order_id": o.id,
                    "sku": i.sku,
                    "name": i.name,
                    "product_type": "simple",
                    "qty_ordered": i.qty,
                    "qty_shipped": i.qty_shipped,
                    "price": price,
                    "price_incl_tax": price,
                    "row_total": serde_json::from_str::<Value>(
                        &demo::from_units(demo::to_units(&i.price) * i.qty)).unwrap_or(json!(0)),
                })
            })
            .collect();
        let grand: Value = serde_json::from_str(&demo::from_units(total)).unwrap_or(json!(0));
        json!({
            "entity_id": o.id,
            "increment_id": format!("{:09}", o.id),
            "state": o.state,
            "status": o.status,
            "created_at": mage_date(o.created_at),
            "updated_at": mage_date(o.updated_at),
            "order_currency_code": o.currency,
            "base_currency_code": o.currency,
            "customer_email": o.buyer.email,
            "customer_firstname": o.buyer.first_name,
            "customer_lastname": o.buyer.last_name,
            "customer_is_guest": 1,
            "grand_total": grand,
            "base_grand_total": grand,
            "subtotal": grand,
            "total_qty_ordered": o.items.iter().map(|i| i.qty).sum::<i64>(),
            "items": items,
            "billing_address": self.address_json(&o.buyer, "billing", o.id),
            "payment": {"method": "checkmo", "additional_information": [], "account_status": "",
                        "cc_last4": "", "parent_id": o.id},
            "status_histories": o.comments.iter().map(|(c, s)| json!({
                "comment": c, "status": s, "is_customer_notified": 0,
                "is_visible_on_front": 0, "parent_id": o.id,
            })).collect::<Vec<_>>(),
            "extension_attributes": {
                "shipping_assignments": [{
                    "shipping": {
                        "address": self.address_json(&o.shipping, "shipping", o.id),
                        "method": "flatrate_flatrate",
                    },
                    "items": [],
                }]
            },
        })
    }

    pub(crate) fn shipment_json(&self, s: &Shipment) -> Value {
        let order = self.orders.iter().find(|o| o.id == s.order_id);
        json!({
            "entity_id": s.id,
            "order_id": s.order_id,
            "increment_id": format!("{:09}", s.id),
            "created_at": mage_date(s.created_at),
            "total_qty": s.items.iter().map(|(_, q)| q).sum::<i64>(),
            "items": s.items.iter().map(|(item, qty)| {
                let it = order.and_then(|o| o.items.iter().find(|i| i.id == *item));
                json!({
                    "order_item_id": item,
                    "qty": qty,
                    "sku": it.map(|i| i.sku.clone()).unwrap_or_default(),
                    "name": it.map(|i| i.name.clone()).unwrap_or_default(),
                    "parent_id": s.id,
                })
            }).collect::<Vec<_>>(),
            "tracks": s.tracks.iter().map(|t| json!({
                "track_number": t.number,
                "weight": 0,
                "qty": s.items.iter().map(|(_, q)| q).sum::<i64>(),
                "description": "",
                "title": t.title,
                "carrier_code": t.carrier,
                "order_id": s.order_id,
                "parent_id": s.id,
            })).collect::<Vec<_>>(),
            "comments": [],
        })
    }

    /// A new order of `lines` (sku, qty) for a test buyer.
    pub(crate) fn create_order(&mut self, lines: &[(String, i64)], buyer: DemoParty) -> i64 {
        let id = self.orders.iter().map(|o| o.id).max().unwrap_or(0) + 1;
        let items = lines
            .iter()
            .enumerate()
            .map(|(i, (sku, qty))| {
                let p = self.by_sku(sku).map(|i| &self.products[i]);
                OrderItem {
                    id: id * 100 + i as i64 + 1,
                    sku: sku.clone(),
                    name: p.map(|p| p.name.clone()).unwrap_or_default(),
                    qty: *qty,
                    qty_shipped: 0,
                    price: p.map(|p| p.price.clone()).unwrap_or_else(|| "0".into()),
                }
            })
            .collect();
        let now = Utc::now();
        self.orders.push(Order {
            id,
            state: "processing".into(),
            status: "processing".into(),
            shipping: buyer.clone(),
            buyer,
            items,
            currency: self.currency.clone(),
            created_at: now,
            updated_at: now,
            comments: vec![],
        });
        id
    }
}

/// One filter of a filter group.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub field: String,
    pub value: String,
    pub condition: String,
}

/// A parsed `searchCriteria`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Criteria {
    pub groups: Vec<Vec<Filter>>,
    pub page_size: Option<usize>,
    pub current_page: Option<usize>,
    pub sort: Option<(String, bool)>,
    /// Whether any `searchCriteria` parameter was sent.
    pub present: bool,
}

impl Criteria {
    /// Reads `searchCriteria[...]` query parameters; `Err` names an invalid one.
    pub(crate) fn parse(params: &[(String, String)]) -> Result<Self, String> {
        let mut c = Criteria::default();
        let mut groups: BTreeMap<usize, BTreeMap<usize, Filter>> = BTreeMap::new();
        let (mut sort_field, mut sort_desc) = (None, false);
        for (k, v) in params {
            let Some(rest) = k.strip_prefix("searchCriteria") else {
                continue;
            };
            c.present = true;
            let parts: Vec<&str> = rest
                .split('[')
                .filter_map(|s| s.strip_suffix(']'))
                .collect();
            match parts.as_slice() {
                [] => {}
                ["pageSize"] => {
                    c.page_size = Some(
                        v.parse()
                            .map_err(|_| "searchCriteria[pageSize]".to_string())?,
                    )
                }
                ["currentPage"] => {
                    c.current_page = Some(
                        v.parse()
                            .map_err(|_| "searchCriteria[currentPage]".to_string())?,
                    )
                }
                ["filter_groups" | "filterGroups", g, "filters", f, name] => {
                    let g: usize = g.parse().map_err(|_| k.clone())?;
                    let f: usize = f.parse().map_err(|_| k.clone())?;
                    let filter = groups.entry(g).or_default().entry(f).or_default();
                    match *name {
                        "field" => filter.field = v.clone(),
                        "value" => filter.value = v.clone(),
                        "condition_type" | "conditionType" => filter.condition = v.clone(),
                        _ => return Err(k.clone()),
                    }
                }
                ["sortOrders" | "sort_orders", _, "field"] => sort_field = Some(v.clone()),
                ["sortOrders" | "sort_orders", _, "direction"] => {
                    sort_desc = v.eq_ignore_ascii_case("desc")
                }
                _ => return Err(k.clone()),
            }
        }
        c.groups = groups
            .into_values()
            .map(|g| g.into_values().collect())
            .collect();
        c.sort = sort_field.map(|f| (f, sort_desc));
        Ok(c)
    }

    /// Whether `item` passes every group (filters of a group are OR-ed).
    pub(crate) fn matches(&self, item: &Value) -> bool {
        self.groups
            .iter()
            .all(|g| g.is_empty() || g.iter().any(|f| filter_matches(f, item)))
    }
}

fn field_value(item: &Value, field: &str) -> Option<String> {
    let v = item.get(field).or_else(|| {
        item.get("custom_attributes")?
            .as_array()?
            .iter()
            .find(|a| a["attribute_code"] == field)
            .map(|a| &a["value"])
    })?;
    Some(match v {
        Value::String(s) => s.clone(),
        Value::Null => return None,
        other => other.to_string(),
    })
}

fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn filter_matches(f: &Filter, item: &Value) -> bool {
    let field = if f.field == "entity_id" && item.get("entity_id").is_none() {
        "id"
    } else {
        f.field.as_str()
    };
    let got = field_value(item, field);
    let cond = if f.condition.is_empty() {
        "eq"
    } else {
        f.condition.as_str()
    };
    let list = || f.value.split(',').map(str::trim).collect::<Vec<_>>();
    use std::cmp::Ordering::*;
    match (cond, got) {
        ("null", g) => g.is_none(),
        ("notnull", g) => g.is_some(),
        ("neq", None) | ("nin", None) => true,
        (_, None) => false,
        ("eq", Some(g)) => compare(&g, &f.value) == Equal,
        ("neq", Some(g)) => compare(&g, &f.value) != Equal,
        ("in", Some(g)) => list().iter().any(|v| compare(&g, v) == Equal),
        ("nin", Some(g)) => list().iter().all(|v| compare(&g, v) != Equal),
        ("gt", Some(g)) => compare(&g, &f.value) == Greater,
        ("gteq" | "from", Some(g)) => compare(&g, &f.value) != Less,
        ("lt", Some(g)) => compare(&g, &f.value) == Less,
        ("lteq" | "to", Some(g)) => compare(&g, &f.value) != Greater,
        ("like", Some(g)) => {
            let pat = f.value.to_lowercase();
            let g = g.to_lowercase();
            let parts: Vec<&str> = pat.split('%').collect();
            match parts.as_slice() {
                [only] => g == *only,
                _ => {
                    let mut pos = 0;
                    parts.iter().all(|p| match g[pos..].find(p) {
                        Some(i) => {
                            pos += i + p.len();
                            true
                        }
                        None => false,
                    })
                }
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_configurables_with_children_and_stock() {
        let s = Store::seeded(7, 10, 3, "USD");
        let catalog = demo::catalog(7, 10);
        for d in &catalog {
            let p = &s.products[s.by_sku(&d.sku).expect("parent")];
            assert_eq!(p.children.len(), d.variants.len());
            assert_eq!(
                s.category_path(p.category_ids.first().copied().unwrap_or(0)),
                d.category
            );
        }
        assert_eq!(s.orders.len(), 3);
        assert!(!s.stock.is_empty());
    }

    #[test]
    fn criteria_filters_and_pages() {
        let params: Vec<(String, String)> = [
            ("searchCriteria[filter_groups][0][filters][0][field]", "sku"),
            ("searchCriteria[filter_groups][0][filters][0][value]", "A,B"),
            (
                "searchCriteria[filter_groups][0][filters][0][condition_type]",
                "in",
            ),
            ("searchCriteria[pageSize]", "5"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let c = Criteria::parse(&params).expect("valid");
        assert_eq!(c.page_size, Some(5));
        assert!(c.matches(&json!({"sku": "A"})));
        assert!(!c.matches(&json!({"sku": "C"})));
    }
}
