//! The stock-storm admin contract ([`crate::storm`]) on the Magento store: a listing is a
//! `simple` product, visible in catalog and search, whose stock is all in the first source
//! (in stock). Quantity changes notify the source-items-save webhook
//! (`plugin.magento.inventory_api.api.source_items_save.execute`), orders
//! `observer.sales_order_save_after`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::response::Response;
use chrono::Utc;
use serde_json::json;

use super::store::{Prod, Store};
use super::{Shared, Sim, api};
use crate::storm::{Cause, ListingItem, QuantityLog, StormOrder, StormStore, Upserted};

impl Store {
    /// Units of `sku` a buyer can buy: the quantity of its in-stock source items.
    pub(crate) fn sellable(&self, sku: &str) -> i64 {
        self.stock
            .range((sku.to_string(), String::new())..)
            .take_while(|((s, _), _)| s == sku)
            .filter(|(_, (_, status))| *status == 1)
            .map(|(_, (q, _))| q.floor().max(0.0) as i64)
            .sum()
    }

    /// Sets `sku`: all of it in the first source (in stock), the other sources 0.
    fn set_first_source(&mut self, sku: &str, quantity: i64) -> Vec<serde_json::Value> {
        let codes: Vec<String> = self.sources.iter().map(|s| s.code.clone()).collect();
        let mut items = Vec::new();
        for (i, code) in codes.into_iter().enumerate() {
            let q = if i == 0 { quantity as f64 } else { 0.0 };
            items.push(self.source_item_json(sku, &code, q, 1));
            self.stock.insert((sku.to_string(), code), (q, 1));
        }
        items
    }

    /// Takes `quantity` units of `sku` from its in-stock sources in order (strict: nothing
    /// and `Err(available)` when fewer are sellable; else what there is); the new sellable.
    pub(crate) fn take_stock(
        &mut self,
        sku: &str,
        quantity: i64,
        strict: bool,
    ) -> Result<i64, i64> {
        let codes: Vec<String> = self.sources.iter().map(|s| s.code.clone()).collect();
        let levels: Vec<i64> = codes
            .iter()
            .map(|c| match self.stock.get(&(sku.to_string(), c.clone())) {
                Some((q, 1)) => q.floor() as i64,
                _ => 0,
            })
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
        for (code, t) in codes.into_iter().zip(takes) {
            if t > 0
                && let Some((q, _)) = self.stock.get_mut(&(sku.to_string(), code))
            {
                *q -= t as f64;
            }
        }
        Ok(self.sellable(sku))
    }
}

impl StormStore for Sim {
    fn quantity_log(&self) -> &QuantityLog {
        &self.storm_log
    }

    fn visit_quantities(&self, f: &mut dyn FnMut(&str, i64)) {
        let store = self.store();
        for p in store
            .products
            .iter()
            .filter(|p| p.type_id != "configurable")
        {
            f(&p.sku, store.sellable(&p.sku));
        }
    }

    fn upsert_listings(&self, items: &[ListingItem]) -> Upserted {
        let mut store = self.store();
        let mut index: HashMap<String, usize> = store
            .products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.sku.clone(), i))
            .collect();
        let mut done = Upserted::default();
        let now = Utc::now();
        for item in items {
            if let Some(&i) = index.get(&item.sku) {
                let p = &mut store.products[i];
                if let Some(price) = &item.price {
                    p.price = price.clone();
                }
                p.updated_at = now;
                done.updated += 1;
            } else {
                let id = store.id();
                store.products.push(Prod {
                    id,
                    sku: item.sku.clone(),
                    name: item.title_or_sku(),
                    type_id: "simple",
                    price: item.price.clone().unwrap_or_else(|| "10.00".into()),
                    weight: 0.5,
                    status: 1,
                    visibility: 4,
                    description: String::new(),
                    brand: String::new(),
                    gtin: String::new(),
                    category_ids: Vec::new(),
                    images: Vec::new(),
                    created_at: now,
                    updated_at: now,
                    children: Vec::new(),
                    options: Vec::new(),
                    attrs: Vec::new(),
                    dims: (0.0, 0.0, 0.0),
                });
                index.insert(item.sku.clone(), store.products.len() - 1);
                done.created += 1;
            }
            store.set_first_source(&item.sku, item.quantity);
            self.storm_log
                .record(&item.sku, store.sellable(&item.sku), Cause::Admin);
        }
        done
    }

    fn set_quantity(self: Arc<Self>, sku: &str, quantity: i64) -> bool {
        let items = {
            let mut store = self.store();
            match store.by_sku(sku) {
                Some(i) if store.products[i].type_id != "configurable" => {}
                _ => return false,
            }
            let items = store.set_first_source(sku, quantity);
            self.storm_log
                .record(sku, store.sellable(sku), Cause::Admin);
            items
        };
        self.notify(api::STOCK_EVENT, json!({ "sourceItems": items }));
        true
    }
}

/// `POST /__admin/orders` as `{sku, quantity}`: 409 when fewer units are sellable; otherwise
/// the sources are deducted and a `processing` (invoiced) order created under the same lock.
pub(super) fn order(sim: &Shared, o: &StormOrder) -> Response {
    let (id, event) = {
        let mut store = sim.store();
        match store.by_sku(&o.sku) {
            Some(i) if store.products[i].type_id != "configurable" => {}
            _ => return crate::storm::unknown_sku(&o.sku),
        }
        match store.take_stock(&o.sku, o.quantity, true) {
            Ok(left) => sim.storm_log.record(&o.sku, left, Cause::Order),
            Err(available) => return crate::storm::insufficient(available),
        }
        let id = store.create_order(&[(o.sku.clone(), o.quantity)], super::test_buyer());
        let status = store
            .orders
            .iter()
            .find(|x| x.id == id)
            .map(|x| x.status.clone())
            .unwrap_or_default();
        (
            id,
            json!({"order": {"entity_id": id, "increment_id": format!("{id:09}"), "status": status}}),
        )
    };
    sim.notify(api::ORDER_EVENT, event);
    crate::storm::order_created(id)
}
