//! The simulated WooCommerce store: products (simple and variable, with variations), product
//! categories, orders with notes and webhooks, seeded from [`crate::demo`], and their JSON as
//! the WooCommerce REST API v3 renders them (`view` context).

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, Timelike, Utc};
use serde_json::{Value, json};

use crate::demo::{self, DemoParty};

/// A product category (`product_cat` term).
#[derive(Debug, Clone)]
pub(crate) struct Category {
    pub id: i64,
    pub parent: i64,
    pub name: String,
    pub slug: String,
}

/// A product attribute (custom, not a global `pa_*` taxonomy).
#[derive(Debug, Clone)]
pub(crate) struct Attribute {
    pub name: String,
    pub options: Vec<String>,
    pub variation: bool,
    pub visible: bool,
}

/// A variation of a variable product.
#[derive(Debug, Clone)]
pub(crate) struct Variation {
    pub id: i64,
    pub sku: String,
    pub regular_price: String,
    pub stock_quantity: i64,
    pub manage_stock: bool,
    pub global_unique_id: String,
    pub weight: String,
    /// (attribute name, option).
    pub attributes: Vec<(String, String)>,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
}

/// A product (`simple` or `variable`).
#[derive(Debug, Clone)]
pub(crate) struct Product {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub sku: String,
    pub variable: bool,
    pub status: String,
    pub catalog_visibility: String,
    pub description: String,
    pub short_description: String,
    /// Simple products only ("" for variable products, whose price comes from variations).
    pub regular_price: String,
    pub weight: String,
    /// (length, width, height).
    pub dimensions: (String, String, String),
    pub categories: Vec<i64>,
    /// (image id, URL).
    pub images: Vec<(i64, String)>,
    pub attributes: Vec<Attribute>,
    pub global_unique_id: String,
    pub manage_stock: bool,
    /// Simple products only.
    pub stock_quantity: i64,
    pub variations: Vec<Variation>,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
}

/// An order line item.
#[derive(Debug, Clone)]
pub(crate) struct LineItem {
    pub id: i64,
    pub product_id: i64,
    pub variation_id: i64,
    pub name: String,
    pub sku: String,
    pub quantity: i64,
    /// Unit price as stored (decimal text).
    pub price: String,
}

/// An order note.
#[derive(Debug, Clone)]
pub(crate) struct Note {
    pub id: i64,
    pub author: String,
    pub note: String,
    pub customer_note: bool,
    pub date_created: DateTime<Utc>,
}

/// An order.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub id: i64,
    pub status: String,
    pub currency: String,
    pub customer_id: i64,
    pub billing: DemoParty,
    pub shipping: DemoParty,
    pub lines: Vec<LineItem>,
    pub notes: Vec<Note>,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
    pub date_paid: Option<DateTime<Utc>>,
    pub date_completed: Option<DateTime<Utc>>,
}

/// A webhook subscription.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub id: i64,
    pub name: String,
    pub status: String,
    pub topic: String,
    pub delivery_url: String,
    pub secret: String,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
}

impl Webhook {
    /// `order` of `order.updated`.
    pub(crate) fn resource(&self) -> &str {
        self.topic.split_once('.').map_or("", |(r, _)| r)
    }

    /// `updated` of `order.updated`.
    pub(crate) fn event(&self) -> &str {
        self.topic.split_once('.').map_or("", |(_, e)| e)
    }
}

/// Topics of the core resources and the hooks WooCommerce binds to them.
pub(crate) const TOPICS: [(&str, &[&str]); 9] = [
    (
        "product.created",
        &[
            "woocommerce_process_product_meta",
            "woocommerce_new_product",
        ],
    ),
    (
        "product.updated",
        &[
            "woocommerce_process_product_meta",
            "woocommerce_update_product",
            "woocommerce_update_product_variation",
        ],
    ),
    ("product.deleted", &["wp_trash_post"]),
    ("product.restored", &["untrashed_post"]),
    (
        "order.created",
        &[
            "woocommerce_new_order",
            "woocommerce_checkout_order_processed",
        ],
    ),
    (
        "order.updated",
        &[
            "woocommerce_update_order",
            "woocommerce_order_refunded",
            "woocommerce_order_status_changed",
        ],
    ),
    ("order.deleted", &["wp_trash_post"]),
    ("order.restored", &["untrashed_post"]),
    (
        "action.woocommerce_add_to_cart",
        &["woocommerce_add_to_cart"],
    ),
];

/// Order statuses of WooCommerce.
pub(crate) const ORDER_STATUSES: [&str; 8] = [
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "trash",
];

/// Everything the simulated store holds.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub currency: String,
    /// Minutes east of UTC of the site's timezone.
    pub utc_offset_minutes: i32,
    pub categories: Vec<Category>,
    pub products: Vec<Product>,
    pub orders: Vec<Order>,
    pub webhooks: Vec<Webhook>,
    /// WordPress posts (products, variations, orders, images) share one id sequence.
    next_id: i64,
    next_term: i64,
    next_item: i64,
}

/// `YYYY-MM-DDTHH:MM:SS`, as the REST API renders dates.
pub(crate) fn wc_date(t: &NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Now, at the second (WordPress stores dates in whole seconds).
pub(crate) fn now() -> DateTime<Utc> {
    let t = Utc::now();
    t.with_nanosecond(0).unwrap_or(t)
}

fn slug(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// A decimal text: digits with at most one dot, optionally negative.
pub(crate) fn is_decimal(text: &str) -> bool {
    let t = text.strip_prefix('-').unwrap_or(text);
    !t.is_empty()
        && t.chars().filter(|c| *c == '.').count() <= 1
        && t.chars().all(|c| c.is_ascii_digit() || c == '.')
        && t.chars().any(|c| c.is_ascii_digit())
}

/// Money with two decimals ("48.999" × 3 → "147.00").
fn money(units: i64) -> String {
    // units are ten-thousandths; round half up to cents.
    let cents = (units + if units >= 0 { 50 } else { -50 }) / 100;
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

fn weight_text(kg: f64) -> String {
    let s = format!("{kg:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn dim_text(cm: f64) -> String {
    weight_text(cm)
}

impl Store {
    /// A store holding `products` demo products and `orders` demo orders from `seed`.
    pub(crate) fn seeded(
        seed: u64,
        products: usize,
        orders: usize,
        currency: &str,
        utc_offset_minutes: i32,
    ) -> Self {
        let catalog = demo::catalog(seed, products);
        let demo_orders = demo::orders(seed, &catalog, orders);
        let mut s = Store {
            currency: currency.to_string(),
            utc_offset_minutes,
            next_id: 10,
            next_term: 16,
            next_item: 1,
            ..Store::default()
        };
        // Every WooCommerce store has the default category.
        s.categories.push(Category {
            id: 15,
            parent: 0,
            name: "Uncategorized".into(),
            slug: "uncategorized".into(),
        });
        let mut paths: Vec<&str> = catalog
            .iter()
            .map(|p| p.category.as_str())
            .filter(|c| !c.is_empty())
            .collect();
        paths.sort_unstable();
        paths.dedup();
        for path in paths {
            s.category_path_or_create(path);
        }
        for p in &catalog {
            let id = s.id();
            let category = if p.category.is_empty() {
                vec![15]
            } else {
                vec![s.category_path_or_create(&p.category)]
            };
            let images: Vec<(i64, String)> = p.images.iter().map(|u| (s.id(), u.clone())).collect();
            let mut attributes: Vec<Attribute> = p
                .options
                .iter()
                .map(|name| {
                    let mut options: Vec<String> = Vec::new();
                    for v in &p.variants {
                        for (n, o) in &v.options {
                            if n == name && !options.contains(o) {
                                options.push(o.clone());
                            }
                        }
                    }
                    Attribute {
                        name: name.clone(),
                        options,
                        variation: true,
                        visible: true,
                    }
                })
                .collect();
            if !p.brand.is_empty() {
                attributes.push(Attribute {
                    name: "Brand".into(),
                    options: vec![p.brand.clone()],
                    variation: false,
                    visible: true,
                });
            }
            let variations: Vec<Variation> = p
                .variants
                .iter()
                .map(|v| Variation {
                    id: s.id(),
                    sku: v.sku.clone(),
                    regular_price: v.price.clone().unwrap_or_else(|| p.price.clone()),
                    stock_quantity: v.stock.iter().map(|x| x.on_hand).sum(),
                    manage_stock: true,
                    global_unique_id: v.gtin.clone(),
                    weight: String::new(),
                    attributes: v.options.clone(),
                    date_created: p.created_at,
                    date_modified: p.modified_at,
                })
                .collect();
            let variable = !variations.is_empty();
            s.products.push(Product {
                id,
                name: p.name.clone(),
                slug: slug(&p.name),
                sku: p.sku.clone(),
                variable,
                status: "publish".into(),
                catalog_visibility: if p.visible { "visible" } else { "hidden" }.into(),
                description: p.description.clone(),
                short_description: String::new(),
                regular_price: if variable {
                    String::new()
                } else {
                    p.price.clone()
                },
                weight: weight_text(p.weight),
                dimensions: (dim_text(p.depth), dim_text(p.width), dim_text(p.height)),
                categories: category,
                images,
                attributes,
                global_unique_id: p.gtin.clone(),
                manage_stock: !variable,
                stock_quantity: p.stock.iter().map(|x| x.on_hand).sum(),
                variations,
                date_created: p.created_at,
                date_modified: p.modified_at,
            });
        }
        for (i, o) in demo_orders.iter().enumerate() {
            let lines: Vec<(String, i64)> = o
                .lines
                .iter()
                .map(|l| (l.sku.clone(), l.quantity))
                .collect();
            let status = match o.status.as_str() {
                "pending" => "pending",
                "awaiting_fulfillment" => "processing",
                "shipped" | "completed" => "completed",
                "cancelled" => "cancelled",
                _ => "on-hold",
            };
            let id = s.create_order(&o.buyer, &o.shipping, &lines, status, o.created_at);
            if status == "completed" {
                let at = o.created_at + Duration::days(2);
                let tracking = format!("1Z{:06}{:04}", 990_000 + i, id);
                if let Some(order) = s.order_mut(id) {
                    order.date_completed = Some(at);
                    order.date_modified = at;
                }
                s.add_note(
                    id,
                    &format!("Shipped with UPS. Tracking number: {tracking}"),
                    true,
                    at,
                );
            }
        }
        s
    }

    /// A new post id.
    pub(crate) fn id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn item_id(&mut self) -> i64 {
        let id = self.next_item;
        self.next_item += 1;
        id
    }

    /// The leaf category of a path such as `Men/Tops/Hoodies`, created with its parents.
    pub(crate) fn category_path_or_create(&mut self, path: &str) -> i64 {
        let mut parent = 0;
        for name in path.split('/').map(str::trim).filter(|n| !n.is_empty()) {
            let found = self
                .categories
                .iter()
                .find(|c| c.parent == parent && c.name == name)
                .map(|c| c.id);
            parent = match found {
                Some(id) => id,
                None => {
                    let id = self.next_term;
                    self.next_term += 1;
                    let mut slug = slug(name);
                    if self.categories.iter().any(|c| c.slug == slug) {
                        slug = format!("{slug}-{id}");
                    }
                    self.categories.push(Category {
                        id,
                        parent,
                        name: name.to_string(),
                        slug,
                    });
                    id
                }
            };
        }
        parent
    }

    /// The full path of a category ("Men/Tops/Hoodies").
    pub(crate) fn category_path(&self, id: i64) -> String {
        let mut names = Vec::new();
        let mut cur = id;
        for _ in 0..32 {
            match self.categories.iter().find(|c| c.id == cur) {
                Some(c) => {
                    names.push(c.name.clone());
                    cur = c.parent;
                    if cur == 0 {
                        break;
                    }
                }
                None => break,
            }
        }
        names.reverse();
        names.join("/")
    }

    /// Index of a product by id.
    pub(crate) fn product_index(&self, id: i64) -> Option<usize> {
        self.products.iter().position(|p| p.id == id)
    }

    /// (product index, variation index) of a variation id.
    pub(crate) fn variation_index(&self, id: i64) -> Option<(usize, usize)> {
        self.products.iter().enumerate().find_map(|(pi, p)| {
            p.variations
                .iter()
                .position(|v| v.id == id)
                .map(|vi| (pi, vi))
        })
    }

    /// (product index, variation index if a variation) owning `sku`.
    pub(crate) fn find_sku(&self, sku: &str) -> Option<(usize, Option<usize>)> {
        self.products.iter().enumerate().find_map(|(pi, p)| {
            if p.sku == sku {
                return Some((pi, None));
            }
            p.variations
                .iter()
                .position(|v| v.sku == sku)
                .map(|vi| (pi, Some(vi)))
        })
    }

    /// A mutable order by id.
    pub(crate) fn order_mut(&mut self, id: i64) -> Option<&mut Order> {
        self.orders.iter_mut().find(|o| o.id == id)
    }

    /// Adds an order of `lines` (sku, quantity); unknown skus are skipped. Returns its id.
    pub(crate) fn create_order(
        &mut self,
        billing: &DemoParty,
        shipping: &DemoParty,
        lines: &[(String, i64)],
        status: &str,
        at: DateTime<Utc>,
    ) -> i64 {
        let id = self.id();
        let mut items = Vec::new();
        for (sku, quantity) in lines {
            let Some((pi, vi)) = self.find_sku(sku) else {
                continue;
            };
            let p = &self.products[pi];
            let (variation_id, name, price) = match vi {
                Some(vi) => {
                    let v = &p.variations[vi];
                    let opts: Vec<String> = v
                        .attributes
                        .iter()
                        .map(|(n, o)| format!("{n}: {o}"))
                        .collect();
                    (
                        v.id,
                        format!("{} - {}", p.name, opts.join(", ")),
                        v.regular_price.clone(),
                    )
                }
                None => (0, p.name.clone(), p.regular_price.clone()),
            };
            let product_id = p.id;
            let sku = sku.clone();
            let item = LineItem {
                id: self.item_id(),
                product_id,
                variation_id,
                name,
                sku,
                quantity: *quantity,
                price,
            };
            items.push(item);
        }
        let paid = matches!(status, "processing" | "completed" | "on-hold");
        self.orders.push(Order {
            id,
            status: status.to_string(),
            currency: self.currency.clone(),
            customer_id: 0,
            billing: billing.clone(),
            shipping: shipping.clone(),
            lines: items,
            notes: Vec::new(),
            date_created: at,
            date_modified: at,
            date_paid: paid.then_some(at),
            date_completed: None,
        });
        id
    }

    /// Adds a note to an order; `None` when the order does not exist.
    pub(crate) fn add_note(
        &mut self,
        order: i64,
        text: &str,
        customer_note: bool,
        at: DateTime<Utc>,
    ) -> Option<i64> {
        let id = self.item_id() + 1_000_000;
        let o = self.order_mut(order)?;
        o.notes.push(Note {
            id,
            // Notes added by the system (not a user) render their author as `system`.
            author: "system".into(),
            note: text.to_string(),
            customer_note,
            date_created: at,
        });
        Some(id)
    }

    fn local(&self, t: &DateTime<Utc>) -> NaiveDateTime {
        let offset = FixedOffset::east_opt(self.utc_offset_minutes * 60)
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset is valid"));
        t.with_timezone(&offset).naive_local()
    }

    /// The site-time and GMT renderings of a date.
    fn dates(&self, t: &DateTime<Utc>) -> (String, String) {
        (wc_date(&self.local(t)), wc_date(&t.naive_utc()))
    }

    fn opt_dates(&self, t: &Option<DateTime<Utc>>) -> (Value, Value) {
        match t {
            Some(t) => {
                let (l, g) = self.dates(t);
                (json!(l), json!(g))
            }
            None => (Value::Null, Value::Null),
        }
    }

    fn category_refs(&self, ids: &[i64]) -> Value {
        json!(
            ids.iter()
                .filter_map(|id| self.categories.iter().find(|c| c.id == *id))
                .map(|c| json!({"id": c.id, "name": c.name, "slug": c.slug}))
                .collect::<Vec<_>>()
        )
    }

    /// The category resource.
    pub(crate) fn category_json(&self, c: &Category, base: &str) -> Value {
        let count = self
            .products
            .iter()
            .filter(|p| p.categories.contains(&c.id))
            .count();
        json!({
            "id": c.id,
            "name": c.name,
            "slug": c.slug,
            "parent": c.parent,
            "description": "",
            "display": "default",
            "image": null,
            "menu_order": 0,
            "count": count,
            "_links": {
                "self": [{"href": format!("{base}/products/categories/{}", c.id)}],
                "collection": [{"href": format!("{base}/products/categories")}],
            }
        })
    }

    /// The lowest variation price of a variable product, as stored.
    fn variable_price(p: &Product) -> String {
        p.variations
            .iter()
            .map(|v| v.regular_price.as_str())
            .filter(|s| is_decimal(s))
            .min_by_key(|s| demo::to_units(s))
            .unwrap_or("")
            .to_string()
    }

    fn stock_status(manage: bool, qty: i64) -> &'static str {
        if !manage || qty > 0 {
            "instock"
        } else {
            "outofstock"
        }
    }

    /// The product resource (`GET /products/{id}`).
    pub(crate) fn product_json(&self, p: &Product, base: &str, site: &str) -> Value {
        let (created, created_gmt) = self.dates(&p.date_created);
        let (modified, modified_gmt) = self.dates(&p.date_modified);
        let price = if p.variable {
            Self::variable_price(p)
        } else {
            p.regular_price.clone()
        };
        let images: Vec<Value> = p
            .images
            .iter()
            .map(|(id, src)| {
                json!({
                    "id": id,
                    "date_created": created,
                    "date_created_gmt": created_gmt,
                    "date_modified": created,
                    "date_modified_gmt": created_gmt,
                    "src": src,
                    "name": src.rsplit('/').next().unwrap_or(""),
                    "alt": "",
                })
            })
            .collect();
        let attributes: Vec<Value> = p
            .attributes
            .iter()
            .enumerate()
            .map(|(i, a)| {
                json!({
                    "id": 0,
                    "name": a.name,
                    "position": i,
                    "visible": a.visible,
                    "variation": a.variation,
                    "options": a.options,
                })
            })
            .collect();
        json!({
            "id": p.id,
            "name": p.name,
            "slug": p.slug,
            "permalink": format!("{site}/product/{}/", p.slug),
            "date_created": created,
            "date_created_gmt": created_gmt,
            "date_modified": modified,
            "date_modified_gmt": modified_gmt,
            "type": if p.variable { "variable" } else { "simple" },
            "status": p.status,
            "featured": false,
            "catalog_visibility": p.catalog_visibility,
            "description": p.description,
            "short_description": p.short_description,
            "sku": p.sku,
            "global_unique_id": p.global_unique_id,
            "price": price,
            "regular_price": p.regular_price,
            "sale_price": "",
            "date_on_sale_from": null,
            "date_on_sale_from_gmt": null,
            "date_on_sale_to": null,
            "date_on_sale_to_gmt": null,
            "price_html": if price.is_empty() {
                String::new()
            } else {
                format!(
                    "<span class=\"woocommerce-Price-amount amount\"><span class=\"woocommerce-Price-currencySymbol\">&#36;</span>{price}</span>"
                )
            },
            "on_sale": false,
            "purchasable": !price.is_empty(),
            "total_sales": 0,
            "virtual": false,
            "downloadable": false,
            "downloads": [],
            "download_limit": -1,
            "download_expiry": -1,
            "external_url": "",
            "button_text": "",
            "tax_status": "taxable",
            "tax_class": "",
            "manage_stock": p.manage_stock,
            "stock_quantity": if p.manage_stock { json!(p.stock_quantity) } else { Value::Null },
            "stock_status": Self::stock_status(p.manage_stock, p.stock_quantity),
            "backorders": "no",
            "backorders_allowed": false,
            "backordered": false,
            "sold_individually": false,
            "weight": p.weight,
            "dimensions": {
                "length": p.dimensions.0,
                "width": p.dimensions.1,
                "height": p.dimensions.2,
            },
            "shipping_required": true,
            "shipping_taxable": true,
            "shipping_class": "",
            "shipping_class_id": 0,
            "reviews_allowed": true,
            "average_rating": "0.00",
            "rating_count": 0,
            "related_ids": [],
            "upsell_ids": [],
            "cross_sell_ids": [],
            "parent_id": 0,
            "purchase_note": "",
            "categories": self.category_refs(&p.categories),
            "tags": [],
            "images": images,
            "attributes": attributes,
            "default_attributes": [],
            "variations": p.variations.iter().map(|v| v.id).collect::<Vec<_>>(),
            "grouped_products": [],
            "menu_order": 0,
            "meta_data": [],
            "_links": {
                "self": [{"href": format!("{base}/products/{}", p.id)}],
                "collection": [{"href": format!("{base}/products")}],
            }
        })
    }

    /// The variation resource (`GET /products/{id}/variations/{variation_id}`).
    pub(crate) fn variation_json(
        &self,
        p: &Product,
        v: &Variation,
        base: &str,
        site: &str,
    ) -> Value {
        let (created, created_gmt) = self.dates(&v.date_created);
        let (modified, modified_gmt) = self.dates(&v.date_modified);
        let query: Vec<String> = v
            .attributes
            .iter()
            .map(|(n, o)| format!("attribute_{}={}", slug(n), slug(o)))
            .collect();
        json!({
            "id": v.id,
            "date_created": created,
            "date_created_gmt": created_gmt,
            "date_modified": modified,
            "date_modified_gmt": modified_gmt,
            "description": "",
            "permalink": format!("{site}/product/{}/?{}", p.slug, query.join("&")),
            "sku": v.sku,
            "global_unique_id": v.global_unique_id,
            "price": v.regular_price,
            "regular_price": v.regular_price,
            "sale_price": "",
            "date_on_sale_from": null,
            "date_on_sale_from_gmt": null,
            "date_on_sale_to": null,
            "date_on_sale_to_gmt": null,
            "on_sale": false,
            "status": "publish",
            "purchasable": !v.regular_price.is_empty(),
            "virtual": false,
            "downloadable": false,
            "downloads": [],
            "download_limit": -1,
            "download_expiry": -1,
            "tax_status": "taxable",
            "tax_class": "",
            "manage_stock": v.manage_stock,
            "stock_quantity": if v.manage_stock { json!(v.stock_quantity) } else { Value::Null },
            "stock_status": Self::stock_status(v.manage_stock, v.stock_quantity),
            "backorders": "no",
            "backorders_allowed": false,
            "backordered": false,
            "weight": v.weight,
            "dimensions": {"length": "", "width": "", "height": ""},
            "shipping_class": "",
            "shipping_class_id": 0,
            "image": null,
            "attributes": v.attributes.iter().map(|(n, o)| json!({"id": 0, "name": n, "option": o})).collect::<Vec<_>>(),
            "menu_order": 0,
            "meta_data": [],
            "_links": {
                "self": [{"href": format!("{base}/products/{}/variations/{}", p.id, v.id)}],
                "collection": [{"href": format!("{base}/products/{}/variations", p.id)}],
                "up": [{"href": format!("{base}/products/{}", p.id)}],
            }
        })
    }

    /// A variation in the product shape, as `GET /products/{variation_id}` and the sku search of
    /// `GET /products?sku=` return it (`type: variation`, `parent_id`).
    pub(crate) fn variation_as_product_json(
        &self,
        p: &Product,
        v: &Variation,
        base: &str,
        site: &str,
    ) -> Value {
        let mut body = self.variation_json(p, v, base, site);
        if let Some(o) = body.as_object_mut() {
            let opts: Vec<String> = v.attributes.iter().map(|(_, o)| o.clone()).collect();
            o.insert(
                "name".into(),
                json!(format!("{} - {}", p.name, opts.join(", "))),
            );
            o.insert("type".into(), json!("variation"));
            o.insert("parent_id".into(), json!(p.id));
            o.insert("categories".into(), json!([]));
            o.insert("images".into(), json!([]));
            o.insert(
                "attributes".into(),
                json!(
                    v.attributes
                        .iter()
                        .map(|(n, o)| json!({"id": 0, "name": n, "option": o}))
                        .collect::<Vec<_>>()
                ),
            );
            o.insert(
                "_links".into(),
                json!({
                    "self": [{"href": format!("{base}/products/{}", v.id)}],
                    "collection": [{"href": format!("{base}/products")}],
                    "up": [{"href": format!("{base}/products/{}", p.id)}],
                }),
            );
        }
        body
    }

    fn address(p: &DemoParty, with_contact: bool) -> Value {
        let mut v = json!({
            "first_name": p.first_name,
            "last_name": p.last_name,
            "company": p.company,
            "address_1": p.street,
            "address_2": "",
            "city": p.city,
            "state": p.state,
            "postcode": p.zip,
            "country": p.country_iso2,
        });
        if with_contact && let Some(o) = v.as_object_mut() {
            o.insert("email".into(), json!(p.email));
            o.insert("phone".into(), json!(p.phone));
        }
        v
    }

    /// The order resource (`GET /orders/{id}`).
    pub(crate) fn order_json(&self, o: &Order, base: &str) -> Value {
        let (created, created_gmt) = self.dates(&o.date_created);
        let (modified, modified_gmt) = self.dates(&o.date_modified);
        let (paid, paid_gmt) = self.opt_dates(&o.date_paid);
        let (completed, completed_gmt) = self.opt_dates(&o.date_completed);
        let mut total = 0i64;
        let lines: Vec<Value> = o
            .lines
            .iter()
            .map(|l| {
                let unit = demo::to_units(&l.price);
                let line_total = unit * l.quantity;
                total += line_total;
                let price: Value =
                    serde_json::from_str(if is_decimal(&l.price) { &l.price } else { "0" })
                        .unwrap_or(json!(0));
                json!({
                    "id": l.id,
                    "name": l.name,
                    "product_id": l.product_id,
                    "variation_id": l.variation_id,
                    "quantity": l.quantity,
                    "tax_class": "",
                    "subtotal": money(line_total),
                    "subtotal_tax": "0.00",
                    "total": money(line_total),
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                    "sku": l.sku,
                    "price": price,
                })
            })
            .collect();
        json!({
            "id": o.id,
            "parent_id": 0,
            "number": o.id.to_string(),
            "order_key": format!("wc_order_{:013x}", o.id * 7_919),
            "created_via": "checkout",
            "version": super::WC_VERSION,
            "status": o.status,
            "currency": o.currency,
            "date_created": created,
            "date_created_gmt": created_gmt,
            "date_modified": modified,
            "date_modified_gmt": modified_gmt,
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "shipping_total": "0.00",
            "shipping_tax": "0.00",
            "cart_tax": "0.00",
            "total": money(total),
            "total_tax": "0.00",
            "prices_include_tax": false,
            "customer_id": o.customer_id,
            "customer_ip_address": "",
            "customer_user_agent": "",
            "customer_note": "",
            "billing": Self::address(&o.billing, true),
            "shipping": Self::address(&o.shipping, false),
            "payment_method": "bacs",
            "payment_method_title": "Direct bank transfer",
            "transaction_id": "",
            "date_paid": paid,
            "date_paid_gmt": paid_gmt,
            "date_completed": completed,
            "date_completed_gmt": completed_gmt,
            "cart_hash": "",
            "meta_data": [],
            "line_items": lines,
            "tax_lines": [],
            "shipping_lines": [{
                "id": o.id * 10 + 1,
                "method_title": "Free shipping",
                "method_id": "free_shipping",
                "total": "0.00",
                "total_tax": "0.00",
                "taxes": [],
                "meta_data": [],
            }],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
            "_links": {
                "self": [{"href": format!("{base}/orders/{}", o.id)}],
                "collection": [{"href": format!("{base}/orders")}],
            }
        })
    }

    /// An order note resource.
    pub(crate) fn note_json(&self, o: &Order, n: &Note, base: &str) -> Value {
        let (created, created_gmt) = self.dates(&n.date_created);
        json!({
            "id": n.id,
            "author": n.author,
            "date_created": created,
            "date_created_gmt": created_gmt,
            "note": n.note,
            "customer_note": n.customer_note,
            "_links": {
                "self": [{"href": format!("{base}/orders/{}/notes/{}", o.id, n.id)}],
                "collection": [{"href": format!("{base}/orders/{}/notes", o.id)}],
                "up": [{"href": format!("{base}/orders/{}", o.id)}],
            }
        })
    }

    /// The webhook resource (the secret is write-only and never rendered).
    pub(crate) fn webhook_json(&self, w: &Webhook, base: &str) -> Value {
        let (created, created_gmt) = self.dates(&w.date_created);
        let (modified, modified_gmt) = self.dates(&w.date_modified);
        let hooks = TOPICS
            .iter()
            .find(|(t, _)| *t == w.topic)
            .map(|(_, h)| h.to_vec())
            .unwrap_or_default();
        json!({
            "id": w.id,
            "name": w.name,
            "status": w.status,
            "topic": w.topic,
            "resource": w.resource(),
            "event": w.event(),
            "hooks": hooks,
            "delivery_url": w.delivery_url,
            "date_created": created,
            "date_created_gmt": created_gmt,
            "date_modified": modified,
            "date_modified_gmt": modified_gmt,
            "_links": {
                "self": [{"href": format!("{base}/webhooks/{}", w.id)}],
                "collection": [{"href": format!("{base}/webhooks")}],
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_products_variations_and_orders() {
        let s = Store::seeded(7, 20, 6, "USD", -300);
        assert_eq!(s.products.len(), 20);
        assert_eq!(s.orders.len(), 6);
        let catalog = demo::catalog(7, 20);
        for (p, d) in s.products.iter().zip(&catalog) {
            assert_eq!(p.sku, d.sku);
            assert_eq!(p.variations.len(), d.variants.len());
            assert_eq!(p.variable, !d.variants.is_empty());
        }
        assert!(
            s.category_path(s.products[0].categories[0]).contains('/')
                || s.products[0].categories[0] == 15
        );
    }

    #[test]
    fn money_has_two_decimals() {
        assert_eq!(money(demo::to_units("48.999") * 3), "147.00");
        assert_eq!(money(demo::to_units("10")), "10.00");
        assert!(is_decimal("19.999") && is_decimal("-0.5") && !is_decimal("cheap"));
    }

    #[test]
    fn dates_in_site_time_and_gmt() {
        let s = Store::seeded(1, 1, 0, "USD", -300);
        let p = &s.products[0];
        let j = s.product_json(p, "http://x/wp-json/wc/v3", "http://x");
        let local = NaiveDateTime::parse_from_str(
            j["date_modified"].as_str().unwrap_or(""),
            "%Y-%m-%dT%H:%M:%S",
        );
        let gmt = NaiveDateTime::parse_from_str(
            j["date_modified_gmt"].as_str().unwrap_or(""),
            "%Y-%m-%dT%H:%M:%S",
        );
        assert_eq!(
            gmt.ok().zip(local.ok()).map(|(g, l)| (g - l).num_minutes()),
            Some(300)
        );
    }
}
