//! The stock-storm admin contract ([`crate::storm`]) on the Shopify shop: a listing is a
//! product with one `Default Title` variant whose stock is all at the first location.
//! Quantity changes send `inventory_levels/update` per location, orders `orders/create`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::response::Response;
use chrono::Utc;

use super::Sim;
use super::store::{Product, Store, Variant, gid};
use crate::storm::{Cause, ListingItem, QuantityLog, StormOrder, StormStore, Upserted};

impl Store {
    /// Units of inventory item `item` a buyer can buy: on hand summed over locations.
    pub(crate) fn sellable(&self, item: u64) -> i64 {
        self.locations
            .iter()
            .map(|l| self.levels.get(&(item, l.id)).copied().unwrap_or(0).max(0))
            .sum()
    }

    /// Sets item `item`: all of it at the first location, the others 0; announces each
    /// level that changed.
    fn set_first_location(&mut self, item: u64, quantity: i64, announce: bool) {
        let ids: Vec<u64> = self.locations.iter().map(|l| l.id).collect();
        for (i, l) in ids.into_iter().enumerate() {
            let q = if i == 0 { quantity } else { 0 };
            let old = self.levels.insert((item, l), q);
            if announce && old != Some(q) {
                self.stock_changed(item, l);
            }
        }
    }

    /// Takes `quantity` units of item `item` from the locations in order; `strict`: nothing
    /// taken and `Err(available)` when fewer are sellable (else takes what there is).
    pub(crate) fn take_stock(&mut self, item: u64, quantity: i64, strict: bool) -> Result<(), i64> {
        let ids: Vec<u64> = self.locations.iter().map(|l| l.id).collect();
        let levels: Vec<i64> = ids
            .iter()
            .map(|l| self.levels.get(&(item, *l)).copied().unwrap_or(0))
            .collect();
        let available: i64 = levels.iter().map(|q| (*q).max(0)).sum();
        let want = if strict {
            quantity
        } else {
            quantity.min(available)
        };
        let Some(takes) = crate::storm::take_in_order(&levels, want.max(0)) else {
            return Err(available);
        };
        for (l, t) in ids.into_iter().zip(takes) {
            if t > 0 {
                *self.levels.entry((item, l)).or_insert(0) -= t;
            }
        }
        // A sale announces `orders/create` only (as the simulator always did), not
        // `inventory_levels/update`; the item's `updatedAt` still moves.
        self.item_updated.insert(item, Utc::now());
        Ok(())
    }
}

impl StormStore for Sim {
    fn quantity_log(&self) -> &QuantityLog {
        &self.storm_log
    }

    fn visit_quantities(&self, f: &mut dyn FnMut(&str, i64)) {
        let store = self.store();
        for p in &store.products {
            for v in &p.variants {
                f(&v.sku, store.sellable(v.item_id));
            }
        }
    }

    fn upsert_listings(&self, items: &[ListingItem]) -> Upserted {
        let mut done = Upserted::default();
        {
            let mut store = self.store();
            let mut index: HashMap<String, (usize, usize)> = HashMap::new();
            for (pi, p) in store.products.iter().enumerate() {
                for (vi, v) in p.variants.iter().enumerate() {
                    index.insert(v.sku.clone(), (pi, vi));
                }
            }
            let now = Utc::now();
            for item in items {
                let item_id = if let Some(&(pi, vi)) = index.get(&item.sku) {
                    if let Some(price) = &item.price {
                        store.products[pi].variants[vi].price = price.clone();
                    }
                    store.products[pi].updated = now;
                    done.updated += 1;
                    store.products[pi].variants[vi].item_id
                } else {
                    let id = 8_500_000 + store.new_id();
                    let (vid, item_id) = (store.new_id(), store.new_id());
                    let title = item.title_or_sku();
                    store.products.push(Product {
                        id,
                        handle: title
                            .to_lowercase()
                            .split(|c: char| !c.is_ascii_alphanumeric())
                            .filter(|s| !s.is_empty())
                            .collect::<Vec<_>>()
                            .join("-"),
                        title,
                        description: String::new(),
                        vendor: String::new(),
                        product_type: String::new(),
                        status: "ACTIVE".into(),
                        sku: item.sku.clone(),
                        gtin: String::new(),
                        images: Vec::new(),
                        options: vec!["Title".into()],
                        variants: vec![Variant {
                            id: vid,
                            item_id,
                            sku: item.sku.clone(),
                            price: item.price.clone().unwrap_or_else(|| "10.00".into()),
                            barcode: String::new(),
                            options: vec![("Title".into(), "Default Title".into())],
                            weight: 0.5,
                        }],
                        created: now,
                        updated: now,
                    });
                    store.item_updated.insert(item_id, now);
                    index.insert(item.sku.clone(), (store.products.len() - 1, 0));
                    done.created += 1;
                    item_id
                };
                store.set_first_location(item_id, item.quantity, false);
                store.item_updated.insert(item_id, now);
                self.storm_log
                    .record(&item.sku, store.sellable(item_id), Cause::Admin);
            }
        }
        done
    }

    fn set_quantity(self: Arc<Self>, sku: &str, quantity: i64) -> bool {
        {
            let mut store = self.store();
            let Some((pi, vi)) = store.find_variant_sku(sku) else {
                return false;
            };
            let item = store.products[pi].variants[vi].item_id;
            store.set_first_location(item, quantity, true);
            self.storm_log
                .record(sku, store.sellable(item), Cause::Admin);
        }
        self.flush_webhooks();
        true
    }
}

/// `POST /__admin/orders` as `{sku, quantity}`: 409 when fewer units are sellable; otherwise
/// the stock is taken and a paid, unfulfilled order created under the same lock.
pub(super) fn order(sim: &Sim, o: &StormOrder) -> Response {
    let id = {
        let mut store = sim.store();
        let Some((pi, vi)) = store.find_variant_sku(&o.sku) else {
            return crate::storm::unknown_sku(&o.sku);
        };
        let item = store.products[pi].variants[vi].item_id;
        if let Err(available) = store.take_stock(item, o.quantity, true) {
            return crate::storm::insufficient(available);
        }
        sim.storm_log
            .record(&o.sku, store.sellable(item), Cause::Order);
        let buyer = super::admin::test_buyer();
        store.create_order(
            &buyer,
            &buyer,
            &[(o.sku.clone(), o.quantity)],
            Utc::now(),
            true,
        )
    };
    sim.flush_webhooks();
    crate::storm::order_created(gid("Order", id))
}
