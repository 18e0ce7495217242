//! The stock-storm admin contract ([`crate::storm`]) on the BigCommerce store: a listing is a
//! product without options (one base variant) whose stock is all in the first location.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use serde_json::json;

use super::Sim;
use super::store::{Product, Store, Variant};
use crate::storm::{Cause, ListingItem, QuantityLog, StormStore, Upserted};

impl Store {
    /// Units of variant `vid` a buyer can buy: its stock summed over locations.
    pub(crate) fn sellable(&self, vid: i64) -> i64 {
        self.locations
            .iter()
            .map(|l| self.stock.get(&(vid, l.id)).copied().unwrap_or(0).max(0))
            .sum()
    }

    /// Takes `quantity` units of variant `vid` from the locations in order. `strict`: nothing
    /// is taken (and `Err(available)` returned) when fewer are sellable; otherwise it takes
    /// what there is.
    pub(crate) fn take_stock(&mut self, vid: i64, quantity: i64, strict: bool) -> Result<(), i64> {
        let levels: Vec<i64> = self
            .locations
            .iter()
            .map(|l| self.stock.get(&(vid, l.id)).copied().unwrap_or(0))
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
        let ids: Vec<i64> = self.locations.iter().map(|l| l.id).collect();
        for (l, t) in ids.into_iter().zip(takes) {
            if t > 0 {
                *self.stock.entry((vid, l)).or_insert(0) -= t;
                self.stock_version += 1;
            }
        }
        Ok(())
    }

    /// Sets variant `vid`'s stock: all of it in the first location, the others 0.
    fn set_first_location(&mut self, vid: i64, quantity: i64) {
        let ids: Vec<i64> = self.locations.iter().map(|l| l.id).collect();
        for (i, l) in ids.into_iter().enumerate() {
            self.stock
                .insert((vid, l), if i == 0 { quantity } else { 0 });
        }
        self.stock_version += 1;
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
                f(&v.sku, store.sellable(v.id));
            }
        }
    }

    fn upsert_listings(&self, items: &[ListingItem]) -> Upserted {
        let mut store = self.store();
        let mut index: HashMap<String, (usize, usize)> = HashMap::new();
        for (pi, p) in store.products.iter().enumerate() {
            for (vi, v) in p.variants.iter().enumerate() {
                index.insert(v.sku.clone(), (pi, vi));
            }
        }
        let mut done = Upserted::default();
        let now = Utc::now();
        for item in items {
            let price = item
                .price
                .as_ref()
                .and_then(|p| p.trim().parse::<f64>().ok());
            let vid = if let Some(&(pi, vi)) = index.get(&item.sku) {
                let p = &mut store.products[pi];
                if let Some(price) = price {
                    if p.has_options {
                        p.variants[vi].price = Some(price);
                    } else {
                        p.price = price;
                    }
                }
                p.date_modified = now;
                done.updated += 1;
                store.products[pi].variants[vi].id
            } else {
                let id = store.alloc() + 100;
                let vid = store.alloc() + 1000;
                store.products.push(Product {
                    id,
                    name: item.title_or_sku(),
                    sku: item.sku.clone(),
                    description: String::new(),
                    brand_id: 0,
                    categories: Vec::new(),
                    weight: 0.5,
                    width: 0.0,
                    height: 0.0,
                    depth: 0.0,
                    price: price.unwrap_or(10.0),
                    upc: String::new(),
                    mpn: String::new(),
                    gtin: String::new(),
                    is_visible: true,
                    date_created: now,
                    date_modified: now,
                    has_options: false,
                    variants: vec![Variant {
                        id: vid,
                        sku: item.sku.clone(),
                        price: None,
                        weight: None,
                        gtin: String::new(),
                        option_values: Vec::new(),
                    }],
                    images: Vec::new(),
                });
                index.insert(item.sku.clone(), (store.products.len() - 1, 0));
                done.created += 1;
                vid
            };
            store.set_first_location(vid, item.quantity);
            self.storm_log
                .record(&item.sku, store.sellable(vid), Cause::Admin);
        }
        done
    }

    fn set_quantity(self: Arc<Self>, sku: &str, quantity: i64) -> bool {
        let mut store = self.store();
        let Some((pi, vi)) = store.find_sku(sku) else {
            return false;
        };
        let (pid, vid) = (store.products[pi].id, store.products[pi].variants[vi].id);
        store.set_first_location(vid, quantity);
        store.changed(
            "store/sku/inventory/updated",
            json!({"type": "sku", "id": vid,
                   "inventory": {"product_id": pid, "method": "absolute", "value": quantity,
                                 "variant_id": vid}}),
        );
        self.storm_log
            .record(sku, store.sellable(vid), Cause::Admin);
        true
    }
}
