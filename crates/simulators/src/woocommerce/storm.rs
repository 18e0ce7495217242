//! The stock-storm admin contract ([`crate::storm`]) on the WooCommerce store: a listing is a
//! published `simple` product managing its stock (WooCommerce has no stock locations).
//! Quantity changes fire `product.updated` (as an API update does), orders `order.created`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::response::Response;
use serde_json::json;

use super::store::{Product, now};
use super::{Shared, Sim, webhooks};
use crate::storm::{Cause, ListingItem, QuantityLog, StormOrder, StormStore, Upserted};

/// Units of a product or variation a buyer can buy.
fn sellable(q: i64) -> i64 {
    q.max(0)
}

impl StormStore for Sim {
    fn quantity_log(&self) -> &QuantityLog {
        &self.storm_log
    }

    fn visit_quantities(&self, f: &mut dyn FnMut(&str, i64)) {
        let store = self.store();
        for p in &store.products {
            if p.variable {
                for v in &p.variations {
                    f(&v.sku, sellable(v.stock_quantity));
                }
            } else {
                f(&p.sku, sellable(p.stock_quantity));
            }
        }
    }

    fn upsert_listings(&self, items: &[ListingItem]) -> Upserted {
        let mut store = self.store();
        let mut index: HashMap<String, (usize, Option<usize>)> = HashMap::new();
        for (pi, p) in store.products.iter().enumerate() {
            index.insert(p.sku.clone(), (pi, None));
            for (vi, v) in p.variations.iter().enumerate() {
                index.insert(v.sku.clone(), (pi, Some(vi)));
            }
        }
        let mut done = Upserted::default();
        let at = now();
        for item in items {
            match index.get(&item.sku).copied() {
                Some((pi, Some(vi))) => {
                    let v = &mut store.products[pi].variations[vi];
                    v.stock_quantity = item.quantity;
                    v.manage_stock = true;
                    if let Some(price) = &item.price {
                        v.regular_price = price.clone();
                    }
                    v.date_modified = at;
                    store.products[pi].date_modified = at;
                    done.updated += 1;
                }
                Some((pi, None)) => {
                    let p = &mut store.products[pi];
                    p.stock_quantity = item.quantity;
                    p.manage_stock = true;
                    if let Some(price) = &item.price {
                        p.regular_price = price.clone();
                    }
                    p.date_modified = at;
                    done.updated += 1;
                }
                None => {
                    let id = store.id();
                    let name = item.title_or_sku();
                    store.products.push(Product {
                        id,
                        slug: name
                            .to_lowercase()
                            .split(|c: char| !c.is_ascii_alphanumeric())
                            .filter(|s| !s.is_empty())
                            .collect::<Vec<_>>()
                            .join("-"),
                        name,
                        sku: item.sku.clone(),
                        variable: false,
                        status: "publish".into(),
                        catalog_visibility: "visible".into(),
                        description: String::new(),
                        short_description: String::new(),
                        regular_price: item.price.clone().unwrap_or_else(|| "10.00".into()),
                        weight: "0.5".into(),
                        dimensions: (String::new(), String::new(), String::new()),
                        categories: vec![15],
                        images: Vec::new(),
                        attributes: Vec::new(),
                        global_unique_id: String::new(),
                        manage_stock: true,
                        stock_quantity: item.quantity,
                        variations: Vec::new(),
                        date_created: at,
                        date_modified: at,
                    });
                    index.insert(item.sku.clone(), (store.products.len() - 1, None));
                    done.created += 1;
                }
            }
            self.storm_log
                .record(&item.sku, sellable(item.quantity), Cause::Admin);
        }
        done
    }

    fn set_quantity(self: Arc<Self>, sku: &str, quantity: i64) -> bool {
        let id = {
            let store = self.store();
            match store.find_sku(sku) {
                Some((pi, Some(vi))) => store.products[pi].variations[vi].id,
                Some((pi, None)) => store.products[pi].id,
                None => return false,
            }
        };
        // As an API update would: the same validation, `product.updated` to subscribers.
        match super::api::update_product_in(
            &self,
            id,
            &json!({"manage_stock": true, "stock_quantity": quantity}),
        ) {
            Ok((fired, _)) => {
                self.storm_log.record(sku, sellable(quantity), Cause::Admin);
                webhooks::fire(&self, "product", "updated", fired);
                true
            }
            Err(_) => false,
        }
    }
}

/// Takes `quantity` units of `sku` (strict: nothing and `Err(available)` when fewer are
/// sellable; else what there is); returns the new sellable quantity.
pub(super) fn take_stock(
    store: &mut super::store::Store,
    sku: &str,
    quantity: i64,
    strict: bool,
) -> Result<i64, i64> {
    let q = match store.find_sku(sku) {
        Some((pi, Some(vi))) => &mut store.products[pi].variations[vi].stock_quantity,
        Some((pi, None)) => &mut store.products[pi].stock_quantity,
        None => return Err(0),
    };
    let available = sellable(*q);
    if strict && available < quantity {
        return Err(available);
    }
    *q -= quantity.min(available).max(0);
    Ok(sellable(*q))
}

/// `POST /__admin/orders` as `{sku, quantity}`: 409 when fewer units are sellable; otherwise
/// the stock is reduced and a `processing` (paid) order created under the same lock.
pub(super) fn order(sim: &Shared, o: &StormOrder) -> Response {
    let id = {
        let mut store = sim.store();
        if store.find_sku(&o.sku).is_none() {
            return crate::storm::unknown_sku(&o.sku);
        }
        match take_stock(&mut store, &o.sku, o.quantity, true) {
            Ok(left) => sim.storm_log.record(&o.sku, left, Cause::Order),
            Err(available) => return crate::storm::insufficient(available),
        }
        let buyer = super::admin::test_buyer();
        store.create_order(
            &buyer,
            &buyer,
            &[(o.sku.clone(), o.quantity)],
            "processing",
            now(),
        )
    };
    webhooks::fire(sim, "order", "created", id);
    crate::storm::order_created(id)
}
