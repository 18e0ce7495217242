//! The stock-storm admin contract ([`crate::storm`]) on Refurbed: a listing is an `OK` offer
//! (grading A) on an instance of its own. Refurbed has no webhooks.

use std::sync::Arc;

use chrono::Utc;

use super::{Offer, Sim};
use crate::storm::{Cause, ListingItem, QuantityLog, StormStore, Upserted};

impl StormStore for Sim {
    fn quantity_log(&self) -> &QuantityLog {
        &self.storm_log
    }

    fn visit_quantities(&self, f: &mut dyn FnMut(&str, i64)) {
        let store = self.store();
        for o in &store.offers {
            f(&o.sku, o.stock.max(0));
        }
    }

    fn upsert_listings(&self, items: &[ListingItem]) -> Upserted {
        let mut store = self.store();
        let mut done = Upserted::default();
        let now = Utc::now();
        for item in items {
            if let Some(&i) = store.by_sku.get(&item.sku) {
                let o = &mut store.offers[i];
                o.stock = item.quantity;
                if let Some(p) = &item.price {
                    o.price = p.clone();
                }
                done.updated += 1;
            } else {
                let i = store.offers.len();
                let id = store.offers.iter().map(|o| o.id).max().unwrap_or(100_000) + 1;
                store.offers.push(Offer {
                    id,
                    sku: item.sku.clone(),
                    instance_id: 9_000_001 + i as i64,
                    instance_name: item.title_or_sku(),
                    state: "OK",
                    grading: "A",
                    stock: item.quantity,
                    price: item.price.clone().unwrap_or_else(|| "10.00".into()),
                    rejection: None,
                    created_at: now,
                    updates: 0,
                });
                store.by_sku.insert(item.sku.clone(), i);
                done.created += 1;
            }
            self.storm_log
                .record(&item.sku, item.quantity.max(0), Cause::Admin);
        }
        done
    }

    fn set_quantity(self: Arc<Self>, sku: &str, quantity: i64) -> bool {
        let mut store = self.store();
        let Some(&i) = store.by_sku.get(sku) else {
            return false;
        };
        store.offers[i].stock = quantity;
        self.storm_log.record(sku, quantity.max(0), Cause::Admin);
        true
    }
}
