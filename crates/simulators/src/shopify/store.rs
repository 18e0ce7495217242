//! The shop's data: products with variants and inventory items, stock per location, orders
//! with fulfillment orders and fulfillments, webhook subscriptions, bulk operations; seeded from
//! [`crate::demo`] and rendered as the GraphQL Admin API's objects.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::demo::{self, DemoParty};

/// A Shopify global id.
pub(crate) fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

/// The numeric id of a global id (or of a bare number).
pub(crate) fn numeric_id(text: &str) -> Option<u64> {
    let last = text.rsplit('/').next().unwrap_or(text);
    let last = last.split('?').next().unwrap_or(last);
    last.trim().parse().ok()
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A product variant (with its inventory item).
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub id: u64,
    pub item_id: u64,
    pub sku: String,
    pub price: String,
    pub barcode: String,
    pub options: Vec<(String, String)>,
    pub weight: f64,
}

/// A product.
#[derive(Debug, Clone)]
pub(crate) struct Product {
    pub id: u64,
    pub title: String,
    pub handle: String,
    pub description: String,
    pub vendor: String,
    pub product_type: String,
    pub status: String,
    pub sku: String,
    pub gtin: String,
    pub images: Vec<String>,
    pub options: Vec<String>,
    pub variants: Vec<Variant>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// A location (warehouse).
#[derive(Debug, Clone)]
pub(crate) struct Location {
    pub id: u64,
    pub name: String,
}

/// An order line.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub id: u64,
    pub fo_line_id: u64,
    pub variant_id: u64,
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    pub price: String,
    pub fulfilled: i64,
}

/// A fulfillment (shipment).
#[derive(Debug, Clone)]
pub(crate) struct Fulfillment {
    pub id: u64,
    pub company: String,
    pub number: String,
    pub lines: Vec<(u64, i64)>,
    pub created: DateTime<Utc>,
}

/// An order.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub id: u64,
    pub number: u64,
    pub fo_id: u64,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub cancelled: Option<DateTime<Utc>>,
    pub financial: String,
    pub buyer: DemoParty,
    pub shipping: DemoParty,
    pub lines: Vec<Line>,
    pub fulfillments: Vec<Fulfillment>,
}

/// A webhook subscription.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub id: u64,
    /// Topic as the GraphQL enum (`PRODUCTS_UPDATE`).
    pub topic: String,
    pub callback_url: String,
    pub created: DateTime<Utc>,
}

/// A change to announce to webhook subscribers.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// The event's id (`X-Shopify-Event-Id`, the same in every delivery of the event).
    pub id: u64,
    /// GraphQL enum topic (`PRODUCTS_UPDATE`).
    pub topic: String,
    /// REST-shaped payload, as Shopify sends webhooks.
    pub payload: Value,
}

/// A bulk operation.
#[derive(Debug, Clone)]
pub(crate) struct BulkOp {
    pub id: u64,
    pub query: String,
    pub polls: u32,
    pub objects: usize,
    pub created: DateTime<Utc>,
}

/// Everything the shop holds.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub currency: String,
    pub products: Vec<Product>,
    pub locations: Vec<Location>,
    /// (inventory item id, location id) → on hand.
    pub levels: BTreeMap<(u64, u64), i64>,
    pub item_updated: HashMap<u64, DateTime<Utc>>,
    pub orders: Vec<Order>,
    pub webhooks: Vec<Subscription>,
    pub bulk_ops: Vec<BulkOp>,
    /// Bulk operation id → JSONL text.
    pub bulk_results: HashMap<String, String>,
    events: Vec<Event>,
    next_id: u64,
}

fn handle(title: &str) -> String {
    title
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Shopify's topic header form of a GraphQL topic (`PRODUCTS_UPDATE` → `products/update`).
pub(crate) fn topic_header(topic: &str) -> String {
    let lower = topic.to_lowercase();
    let (a, b) = match lower.split_once('_') {
        Some((a, b)) if a == "inventory" => match b.split_once('_') {
            Some((levels, action)) => (format!("inventory_{levels}"), action.to_string()),
            None => (a.to_string(), b.to_string()),
        },
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (lower.clone(), String::new()),
    };
    format!("{a}/{b}")
}

impl Store {
    /// A shop with `products` demo products and `orders` demo orders of seed `seed`.
    pub(crate) fn seeded(seed: u64, products: usize, orders: usize, currency: &str) -> Self {
        let mut s = Store {
            currency: currency.to_string(),
            next_id: 1000,
            ..Store::default()
        };
        for (i, code) in demo::WAREHOUSES.iter().enumerate() {
            s.locations.push(Location {
                id: 70_000_000 + i as u64 + 1,
                name: (*code).to_string(),
            });
        }
        let catalog = demo::catalog(seed, products);
        for (i, d) in catalog.iter().enumerate() {
            let id = 8_000_000 + i as u64 + 1;
            let mut variants = Vec::new();
            let mut stock = Vec::new();
            if d.variants.is_empty() {
                variants.push(Variant {
                    id: s.id(),
                    item_id: s.id(),
                    sku: d.sku.clone(),
                    price: d.price.clone(),
                    barcode: d.gtin.clone(),
                    options: vec![("Title".into(), "Default Title".into())],
                    weight: d.weight,
                });
                stock.push(d.stock.clone());
            } else {
                for v in &d.variants {
                    variants.push(Variant {
                        id: s.id(),
                        item_id: s.id(),
                        sku: v.sku.clone(),
                        price: v.price.clone().unwrap_or_else(|| d.price.clone()),
                        barcode: v.gtin.clone(),
                        options: v.options.clone(),
                        weight: d.weight,
                    });
                    stock.push(v.stock.clone());
                }
            }
            for (v, st) in variants.iter().zip(&stock) {
                for level in st {
                    if let Some(l) = s.locations.iter().find(|l| l.name == level.warehouse) {
                        s.levels.insert((v.item_id, l.id), level.on_hand);
                    }
                }
                s.item_updated.insert(v.item_id, d.modified_at);
            }
            s.products.push(Product {
                id,
                title: d.name.clone(),
                handle: handle(&d.name),
                description: d.description.clone(),
                vendor: d.brand.clone(),
                product_type: d.category.clone(),
                status: if d.visible { "ACTIVE" } else { "DRAFT" }.into(),
                sku: d.sku.clone(),
                gtin: d.gtin.clone(),
                images: d.images.clone(),
                options: if d.options.is_empty() {
                    vec!["Title".into()]
                } else {
                    d.options.clone()
                },
                variants,
                created: d.created_at,
                updated: d.modified_at,
            });
        }
        for (i, o) in demo::orders(seed, &catalog, orders).into_iter().enumerate() {
            let lines: Vec<(String, i64)> = o
                .lines
                .iter()
                .map(|l| (l.sku.clone(), l.quantity))
                .collect();
            let id = s.create_order(&o.buyer, &o.shipping, &lines, o.created_at, false);
            let created = o.created_at;
            if let Some(order) = s.orders.iter_mut().find(|x| x.id == id) {
                order.updated = created + chrono::Duration::hours(2);
                match o.status.as_str() {
                    "pending" => order.financial = "PENDING".into(),
                    "cancelled" => {
                        order.cancelled = Some(created + chrono::Duration::hours(1));
                        order.financial = "REFUNDED".into();
                    }
                    "shipped" | "completed" => {
                        let lines: Vec<(u64, i64)> =
                            order.lines.iter().map(|l| (l.id, l.quantity)).collect();
                        for l in &mut order.lines {
                            l.fulfilled = l.quantity;
                        }
                        order.fulfillments.push(Fulfillment {
                            id: 40_000_000 + i as u64,
                            company: "UPS".into(),
                            number: format!("1Z999AA1{:08}", 10_000 + i),
                            lines,
                            created: created + chrono::Duration::hours(1),
                        });
                    }
                    _ => {}
                }
            }
        }
        s.events.clear();
        s
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        40_000_000_000 + self.next_id
    }

    /// Takes the events recorded since the last call.
    pub(crate) fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Records a product change (`products/update`).
    pub(crate) fn product_changed(&mut self, pi: usize) {
        self.products[pi].updated = Utc::now();
        let payload = self.product_rest(pi);
        let id = self.id();
        self.events.push(Event {
            id,
            topic: "PRODUCTS_UPDATE".into(),
            payload,
        });
    }

    /// Records a stock change (`inventory_levels/update`).
    pub(crate) fn stock_changed(&mut self, item_id: u64, location_id: u64) {
        let now = Utc::now();
        self.item_updated.insert(item_id, now);
        let available = self
            .levels
            .get(&(item_id, location_id))
            .copied()
            .unwrap_or(0);
        let id = self.id();
        self.events.push(Event {
            id,
            topic: "INVENTORY_LEVELS_UPDATE".into(),
            payload: json!({
                "inventory_item_id": item_id,
                "location_id": location_id,
                "available": available,
                "updated_at": ts(now),
                "admin_graphql_api_id": format!("gid://shopify/InventoryLevel/{location_id}?inventory_item_id={item_id}"),
            }),
        });
    }

    /// Records an order change (`orders/create` or `orders/updated`).
    pub(crate) fn order_changed(&mut self, oi: usize, created: bool) {
        self.orders[oi].updated = Utc::now();
        let id = self.id();
        let o = &self.orders[oi];
        let payload = self.order_rest(o);
        self.events.push(Event {
            id,
            topic: if created {
                "ORDERS_CREATE"
            } else {
                "ORDERS_UPDATED"
            }
            .into(),
            payload,
        });
    }

    /// The product owning `sku` (its own or a variant's).
    pub(crate) fn find_product(&self, sku: &str) -> Option<usize> {
        self.products
            .iter()
            .position(|p| p.sku == sku || p.variants.iter().any(|v| v.sku == sku))
    }

    /// (product index, variant index) of a variant sku.
    pub(crate) fn find_variant_sku(&self, sku: &str) -> Option<(usize, usize)> {
        self.products.iter().enumerate().find_map(|(pi, p)| {
            p.variants
                .iter()
                .position(|v| v.sku == sku)
                .map(|vi| (pi, vi))
        })
    }

    /// (product index, variant index) of an inventory item.
    pub(crate) fn find_item(&self, item_id: u64) -> Option<(usize, usize)> {
        self.products.iter().enumerate().find_map(|(pi, p)| {
            p.variants
                .iter()
                .position(|v| v.item_id == item_id)
                .map(|vi| (pi, vi))
        })
    }

    /// Creates an order of `lines` (sku, quantity); returns its id.
    pub(crate) fn create_order(
        &mut self,
        buyer: &DemoParty,
        shipping: &DemoParty,
        lines: &[(String, i64)],
        at: DateTime<Utc>,
        announce: bool,
    ) -> u64 {
        let number = 1001 + self.orders.len() as u64;
        let id = 5_000_000_000 + number;
        let fo_id = 6_000_000_000 + number;
        let mut out = Vec::new();
        for (sku, quantity) in lines {
            let Some((pi, vi)) = self.find_variant_sku(sku) else {
                continue;
            };
            let (variant_id, price, title) = {
                let p = &self.products[pi];
                (
                    p.variants[vi].id,
                    p.variants[vi].price.clone(),
                    p.title.clone(),
                )
            };
            let line_id = self.id();
            let fo_line_id = self.id();
            out.push(Line {
                id: line_id,
                fo_line_id,
                variant_id,
                sku: sku.clone(),
                title,
                quantity: *quantity,
                price,
                fulfilled: 0,
            });
        }
        self.orders.push(Order {
            id,
            number,
            fo_id,
            created: at,
            updated: at,
            cancelled: None,
            financial: "PAID".into(),
            buyer: buyer.clone(),
            shipping: shipping.clone(),
            lines: out,
            fulfillments: Vec::new(),
        });
        if announce {
            let oi = self.orders.len() - 1;
            self.order_changed(oi, true);
        }
        id
    }

    fn money(&self, amount: &str) -> Value {
        json!({"amount": amount, "currencyCode": self.currency})
    }

    /// The GraphQL `Product` object (with its variants, media and metafields).
    pub(crate) fn product_json(&self, p: &Product) -> Value {
        let prices: Vec<i64> = p
            .variants
            .iter()
            .map(|v| demo::to_units(&v.price))
            .collect();
        let min = p
            .variants
            .iter()
            .min_by_key(|v| demo::to_units(&v.price))
            .map(|v| v.price.clone())
            .unwrap_or_default();
        let max = p
            .variants
            .iter()
            .max_by_key(|v| demo::to_units(&v.price))
            .map(|v| v.price.clone())
            .unwrap_or_default();
        let _ = prices;
        json!({
            "__typename": "Product",
            "id": gid("Product", p.id),
            "legacyResourceId": p.id.to_string(),
            "title": p.title,
            "handle": p.handle,
            "descriptionHtml": p.description,
            "vendor": p.vendor,
            "productType": p.product_type,
            "status": p.status,
            "tags": [],
            "createdAt": ts(p.created),
            "updatedAt": ts(p.updated),
            "options": p.options.iter().map(|o| json!({"name": o})).collect::<Vec<_>>(),
            "__metafields": {"custom.sku": p.sku, "custom.gtin": p.gtin},
            "priceRangeV2": {"minVariantPrice": self.money(&min), "maxVariantPrice": self.money(&max)},
            "media": p.images.iter().enumerate().map(|(k, url)| json!({
                "__typename": "MediaImage",
                "id": gid("MediaImage", p.id * 100 + k as u64),
                "mediaContentType": "IMAGE",
                "alt": p.title,
                "preview": {"image": {"url": url}},
            })).collect::<Vec<_>>(),
            "variants": p.variants.iter().map(|v| self.variant_json(p, v)).collect::<Vec<_>>(),
        })
    }

    fn variant_json(&self, p: &Product, v: &Variant) -> Value {
        json!({
            "__typename": "ProductVariant",
            "id": gid("ProductVariant", v.id),
            "legacyResourceId": v.id.to_string(),
            "title": v.options.iter().map(|(_, val)| val.as_str()).collect::<Vec<_>>().join(" / "),
            "sku": v.sku,
            "price": v.price,
            "barcode": v.barcode,
            "updatedAt": ts(p.updated),
            "selectedOptions": v.options.iter().map(|(n, val)| json!({"name": n, "value": val})).collect::<Vec<_>>(),
            "inventoryItem": {
                "__typename": "InventoryItem",
                "id": gid("InventoryItem", v.item_id),
                "sku": v.sku,
                "tracked": true,
                "measurement": {"weight": {"unit": "KILOGRAMS", "value": v.weight}},
            },
        })
    }

    /// The GraphQL `InventoryItem` with its levels per location.
    pub(crate) fn item_json(&self, pi: usize, vi: usize) -> Value {
        let p = &self.products[pi];
        let v = &p.variants[vi];
        let updated = self
            .item_updated
            .get(&v.item_id)
            .copied()
            .unwrap_or(p.updated);
        let levels: Vec<Value> = self
            .locations
            .iter()
            .map(|l| {
                let on_hand = self.levels.get(&(v.item_id, l.id)).copied().unwrap_or(0);
                json!({
                    "__typename": "InventoryLevel",
                    "id": format!("gid://shopify/InventoryLevel/{}?inventory_item_id={}", l.id, v.item_id),
                    "updatedAt": ts(updated),
                    "location": {"__typename": "Location", "id": gid("Location", l.id), "name": l.name},
                    "quantities": [
                        {"name": "available", "quantity": on_hand},
                        {"name": "on_hand", "quantity": on_hand},
                        {"name": "committed", "quantity": 0},
                        {"name": "reserved", "quantity": 0},
                        {"name": "incoming", "quantity": 0},
                    ],
                })
            })
            .collect();
        json!({
            "__typename": "InventoryItem",
            "id": gid("InventoryItem", v.item_id),
            "legacyResourceId": v.item_id.to_string(),
            "sku": v.sku,
            "tracked": true,
            "updatedAt": ts(updated),
            "variant": {"id": gid("ProductVariant", v.id), "sku": v.sku},
            "inventoryLevels": levels,
        })
    }

    fn address(p: &DemoParty) -> Value {
        json!({
            "name": format!("{} {}", p.first_name, p.last_name),
            "firstName": p.first_name,
            "lastName": p.last_name,
            "company": if p.company.is_empty() { Value::Null } else { json!(p.company) },
            "address1": p.street,
            "address2": null,
            "city": p.city,
            "province": p.state,
            "zip": p.zip,
            "country": p.country,
            "countryCodeV2": p.country_iso2,
            "phone": p.phone,
        })
    }

    /// Shopify's display fulfillment status of an order.
    pub(crate) fn fulfillment_status(o: &Order) -> &'static str {
        let total: i64 = o.lines.iter().map(|l| l.quantity).sum();
        let done: i64 = o.lines.iter().map(|l| l.fulfilled).sum();
        if done == 0 {
            "UNFULFILLED"
        } else if done >= total {
            "FULFILLED"
        } else {
            "PARTIALLY_FULFILLED"
        }
    }

    /// The GraphQL `Order` object.
    pub(crate) fn order_json(&self, o: &Order) -> Value {
        let total: i64 = o
            .lines
            .iter()
            .map(|l| demo::to_units(&l.price) * l.quantity)
            .sum();
        let total = demo::from_units(total);
        let total = total
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string();
        let open = o.cancelled.is_none() && Self::fulfillment_status(o) != "FULFILLED";
        json!({
            "__typename": "Order",
            "id": gid("Order", o.id),
            "legacyResourceId": o.id.to_string(),
            "name": format!("#{}", o.number),
            "email": o.buyer.email,
            "phone": o.buyer.phone,
            "createdAt": ts(o.created),
            "updatedAt": ts(o.updated),
            "cancelledAt": o.cancelled.map(ts),
            "closed": !open,
            "currencyCode": self.currency,
            "displayFinancialStatus": o.financial,
            "displayFulfillmentStatus": Self::fulfillment_status(o),
            "totalPriceSet": {"shopMoney": self.money(&total), "presentmentMoney": self.money(&total)},
            "customer": {"displayName": format!("{} {}", o.buyer.first_name, o.buyer.last_name), "email": o.buyer.email},
            "billingAddress": Self::address(&o.buyer),
            "shippingAddress": Self::address(&o.shipping),
            "lineItems": o.lines.iter().map(|l| json!({
                "__typename": "LineItem",
                "id": gid("LineItem", l.id),
                "sku": l.sku,
                "name": l.title,
                "title": l.title,
                "quantity": l.quantity,
                "currentQuantity": l.quantity,
                "unfulfilledQuantity": l.quantity - l.fulfilled,
                "originalUnitPriceSet": {"shopMoney": self.money(&l.price), "presentmentMoney": self.money(&l.price)},
                "variant": {"id": gid("ProductVariant", l.variant_id)},
            })).collect::<Vec<_>>(),
            "fulfillments": o.fulfillments.iter().map(|f| self.fulfillment_json(o, f)).collect::<Vec<_>>(),
            "fulfillmentOrders": [{
                "__typename": "FulfillmentOrder",
                "id": gid("FulfillmentOrder", o.fo_id),
                "status": if o.cancelled.is_some() { "CLOSED" } else if open { "OPEN" } else { "CLOSED" },
                "lineItems": o.lines.iter().map(|l| json!({
                    "__typename": "FulfillmentOrderLineItem",
                    "id": gid("FulfillmentOrderLineItem", l.fo_line_id),
                    "totalQuantity": l.quantity,
                    "remainingQuantity": if o.cancelled.is_some() { 0 } else { l.quantity - l.fulfilled },
                    "sku": l.sku,
                    "lineItem": {"id": gid("LineItem", l.id), "sku": l.sku},
                })).collect::<Vec<_>>(),
            }],
        })
    }

    /// The GraphQL `Fulfillment` object.
    pub(crate) fn fulfillment_json(&self, o: &Order, f: &Fulfillment) -> Value {
        json!({
            "__typename": "Fulfillment",
            "id": gid("Fulfillment", f.id),
            "status": "SUCCESS",
            "createdAt": ts(f.created),
            "trackingInfo": [{"company": f.company, "number": f.number, "url": Value::Null}],
            "fulfillmentLineItems": f.lines.iter().map(|(line_id, q)| {
                let sku = o.lines.iter().find(|l| l.id == *line_id).map(|l| l.sku.clone()).unwrap_or_default();
                json!({"id": gid("FulfillmentLineItem", *line_id + 1), "quantity": q, "lineItem": {"id": gid("LineItem", *line_id), "sku": sku}})
            }).collect::<Vec<_>>(),
        })
    }

    /// The REST address of an order.
    fn address_rest(p: &DemoParty) -> Value {
        json!({
            "first_name": p.first_name,
            "last_name": p.last_name,
            "name": format!("{} {}", p.first_name, p.last_name),
            "company": if p.company.is_empty() { Value::Null } else { json!(p.company) },
            "address1": p.street,
            "address2": null,
            "city": p.city,
            "province": p.state,
            "province_code": null,
            "zip": p.zip,
            "country": p.country,
            "country_code": p.country_iso2,
            "phone": p.phone,
            "latitude": null,
            "longitude": null,
        })
    }

    /// A REST money bag (`shop_money`, `presentment_money`).
    fn money_rest(&self, amount: &str) -> Value {
        let m = json!({"amount": amount, "currency_code": self.currency});
        json!({"shop_money": m, "presentment_money": m})
    }

    /// The REST `Order` resource, as the `orders/create` and `orders/updated` webhooks carry
    /// it (Shopify delivers webhooks in the REST shape).
    pub(crate) fn order_rest(&self, o: &Order) -> Value {
        let units: i64 = o
            .lines
            .iter()
            .map(|l| demo::to_units(&l.price) * l.quantity)
            .sum();
        let total = demo::from_units(units);
        let fulfillment = match Self::fulfillment_status(o) {
            "FULFILLED" => json!("fulfilled"),
            "PARTIALLY_FULFILLED" => json!("partial"),
            _ => Value::Null,
        };
        let customer_name = format!("{} {}", o.buyer.first_name, o.buyer.last_name);
        json!({
            "id": o.id,
            "admin_graphql_api_id": gid("Order", o.id),
            "name": format!("#{}", o.number),
            "number": o.number,
            "order_number": o.number + 1000,
            "email": o.buyer.email,
            "contact_email": o.buyer.email,
            "phone": o.buyer.phone,
            "created_at": ts(o.created),
            "processed_at": ts(o.created),
            "updated_at": ts(o.updated),
            "cancelled_at": o.cancelled.map(ts),
            "cancel_reason": o.cancelled.map(|_| "customer"),
            "closed_at": null,
            "confirmed": true,
            "test": false,
            "currency": self.currency,
            "presentment_currency": self.currency,
            "financial_status": o.financial.to_lowercase(),
            "fulfillment_status": fulfillment,
            "taxes_included": false,
            "subtotal_price": total,
            "subtotal_price_set": self.money_rest(&total),
            "total_price": total,
            "total_price_set": self.money_rest(&total),
            "total_tax": "0.00",
            "total_discounts": "0.00",
            "tags": "",
            "note": null,
            "customer": {
                "id": o.id + 7_000_000,
                "email": o.buyer.email,
                "first_name": o.buyer.first_name,
                "last_name": o.buyer.last_name,
                "admin_graphql_api_id": gid("Customer", o.id + 7_000_000),
                "default_address": {"name": customer_name},
            },
            "billing_address": Self::address_rest(&o.buyer),
            "shipping_address": Self::address_rest(&o.shipping),
            "line_items": o.lines.iter().map(|l| json!({
                "id": l.id,
                "admin_graphql_api_id": gid("LineItem", l.id),
                "variant_id": l.variant_id,
                "sku": l.sku,
                "title": l.title,
                "name": l.title,
                "quantity": l.quantity,
                "current_quantity": l.quantity,
                "fulfillable_quantity": l.quantity - l.fulfilled,
                "fulfillment_status": if l.fulfilled >= l.quantity { json!("fulfilled") } else if l.fulfilled > 0 { json!("partial") } else { Value::Null },
                "fulfillment_service": "manual",
                "requires_shipping": true,
                "taxable": true,
                "gift_card": false,
                "price": l.price,
                "price_set": self.money_rest(&l.price),
                "total_discount": "0.00",
                "tax_lines": [],
                "discount_allocations": [],
                "properties": [],
            })).collect::<Vec<_>>(),
            "fulfillments": o.fulfillments.iter().map(|f| json!({
                "id": f.id,
                "admin_graphql_api_id": gid("Fulfillment", f.id),
                "order_id": o.id,
                "status": "success",
                "created_at": ts(f.created),
                "tracking_company": f.company,
                "tracking_number": f.number,
                "tracking_numbers": [f.number],
                "line_items": f.lines.iter().map(|(line_id, q)| json!({"id": line_id, "quantity": q})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }

    /// The REST-shaped product of a `products/*` webhook.
    fn product_rest(&self, pi: usize) -> Value {
        let p = &self.products[pi];
        json!({
            "id": p.id,
            "admin_graphql_api_id": gid("Product", p.id),
            "title": p.title,
            "body_html": p.description,
            "vendor": p.vendor,
            "product_type": p.product_type,
            "status": p.status.to_lowercase(),
            "handle": p.handle,
            "updated_at": ts(p.updated),
            "variants": p.variants.iter().map(|v| json!({
                "id": v.id, "product_id": p.id, "sku": v.sku, "price": v.price,
                "barcode": v.barcode, "inventory_item_id": v.item_id,
                "admin_graphql_api_id": gid("ProductVariant", v.id),
            })).collect::<Vec<_>>(),
        })
    }

    /// A new id for webhooks, bulk operations, fulfillments.
    pub(crate) fn new_id(&mut self) -> u64 {
        self.id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_as_headers() {
        assert_eq!(topic_header("PRODUCTS_UPDATE"), "products/update");
        assert_eq!(
            topic_header("INVENTORY_LEVELS_UPDATE"),
            "inventory_levels/update"
        );
        assert_eq!(topic_header("ORDERS_UPDATED"), "orders/updated");
    }

    #[test]
    fn seeds_the_demo_catalog() {
        let s = Store::seeded(7, 20, 5, "USD");
        assert_eq!(s.products.len(), 20);
        assert_eq!(s.orders.len(), 5);
        assert_eq!(s.locations.len(), 2);
        assert_eq!(numeric_id("gid://shopify/Product/42"), Some(42));
        assert_eq!(numeric_id("42"), Some(42));
    }
}
