//! The stock-storm admin contract ([`crate::storm`]) on the OpenCart store: a listing is an
//! enabled product without options (OpenCart has no stock locations: one quantity). OpenCart
//! has no webhooks.

use std::collections::HashMap;
use std::sync::Arc;

use axum::response::Response;
use chrono::Utc;

use super::{Product, Shared, Sim, Store, relock};
use crate::storm::{Cause, ListingItem, QuantityLog, StormOrder, StormStore, Upserted};

impl Store {
    /// The quantity cell of `sku` and whether it is an option value's.
    fn cell(&mut self, sku: &str) -> Option<(usize, Option<usize>)> {
        self.find_sku(sku)
    }

    fn sellable_of(&self, at: (usize, Option<usize>)) -> i64 {
        let p = &self.products[at.0];
        match at.1 {
            Some(j) => p.values[j].quantity.max(0),
            None => p.quantity.max(0),
        }
    }

    fn set_cell(&mut self, at: (usize, Option<usize>), quantity: i64) {
        let p = &mut self.products[at.0];
        match at.1 {
            Some(j) => {
                p.values[j].quantity = quantity;
                p.quantity = p.values.iter().map(|v| v.quantity).sum();
            }
            None => p.quantity = quantity,
        }
        p.date_modified = Utc::now();
    }

    /// Takes `quantity` units of `sku` (strict: nothing and `Err(available)` when fewer are
    /// sellable; else what there is); the new sellable quantity.
    pub(super) fn take_stock(
        &mut self,
        sku: &str,
        quantity: i64,
        strict: bool,
    ) -> Result<i64, i64> {
        let at = self.cell(sku).ok_or(0)?;
        let available = self.sellable_of(at);
        if strict && available < quantity {
            return Err(available);
        }
        let left = available - quantity.min(available).max(0);
        self.set_cell(at, left);
        Ok(left)
    }
}

impl StormStore for Sim {
    fn quantity_log(&self) -> &QuantityLog {
        &self.storm_log
    }

    fn visit_quantities(&self, f: &mut dyn FnMut(&str, i64)) {
        let store = relock(&self.store);
        for p in &store.products {
            if p.values.is_empty() {
                f(&p.sku, p.quantity.max(0));
            } else {
                for v in &p.values {
                    f(&v.sku, v.quantity.max(0));
                }
            }
        }
    }

    fn upsert_listings(&self, items: &[ListingItem]) -> Upserted {
        let mut store = relock(&self.store);
        let mut index: HashMap<String, (usize, Option<usize>)> = HashMap::new();
        for (i, p) in store.products.iter().enumerate() {
            index.insert(p.sku.clone(), (i, None));
            for (j, v) in p.values.iter().enumerate() {
                index.insert(v.sku.clone(), (i, Some(j)));
            }
        }
        let mut done = Upserted::default();
        let now = Utc::now();
        for item in items {
            let at = if let Some(&at) = index.get(&item.sku) {
                if let Some(price) = &item.price {
                    let p = &mut store.products[at.0];
                    match at.1 {
                        Some(j) => {
                            p.values[j].delta =
                                crate::demo::to_units(price) - crate::demo::to_units(&p.price);
                        }
                        None => p.price = price.clone(),
                    }
                }
                done.updated += 1;
                at
            } else {
                let id = store.id();
                store.products.push(Product {
                    id,
                    sku: item.sku.clone(),
                    name: item.title_or_sku(),
                    description: String::new(),
                    manufacturer_id: 0,
                    categories: Vec::new(),
                    price: item.price.clone().unwrap_or_else(|| "10.00".into()),
                    weight: 0.5,
                    length: 0.0,
                    width: 0.0,
                    height: 0.0,
                    ean: String::new(),
                    images: Vec::new(),
                    status: true,
                    quantity: 0,
                    option_name: String::new(),
                    option_id: 0,
                    values: Vec::new(),
                    date_added: now,
                    date_modified: now,
                });
                let at = (store.products.len() - 1, None);
                index.insert(item.sku.clone(), at);
                done.created += 1;
                at
            };
            store.set_cell(at, item.quantity);
            self.storm_log
                .record(&item.sku, store.sellable_of(at), Cause::Admin);
        }
        done
    }

    fn set_quantity(self: Arc<Self>, sku: &str, quantity: i64) -> bool {
        let mut store = relock(&self.store);
        let Some(at) = store.cell(sku) else {
            return false;
        };
        store.set_cell(at, quantity);
        self.storm_log
            .record(sku, store.sellable_of(at), Cause::Admin);
        true
    }
}

/// `POST /__admin/orders` as `{sku, quantity}`: 409 when fewer units are sellable; otherwise
/// the quantity is reduced and a Processing (2: paid) order created under the same lock.
pub(super) fn order(sim: &Shared, o: &StormOrder) -> Response {
    let mut store = relock(&sim.store);
    if store.find_sku(&o.sku).is_none() {
        return crate::storm::unknown_sku(&o.sku);
    }
    match store.take_stock(&o.sku, o.quantity, true) {
        Ok(left) => sim.storm_log.record(&o.sku, left, Cause::Order),
        Err(available) => return crate::storm::insufficient(available),
    }
    let buyer = super::test_buyer();
    let id = store.create_order(
        &buyer,
        &buyer,
        &[(o.sku.clone(), o.quantity)],
        2,
        Utc::now(),
    );
    crate::storm::order_created(id)
}
