//! The stock-storm admin contract ([`crate::storm`]) on Mirakl: a listing is an active offer
//! (state 11, no inactivity reason, a lead time to ship). OF01 and OF24 imports are logged
//! when they are applied, at the end of their processing time. Mirakl's seller API has no
//! webhooks.

use std::sync::Arc;

use chrono::Utc;

use super::super::Sim;
use super::{Offer, STATE_NEW, Store};
use crate::storm::{Cause, ListingItem, QuantityLog, StormStore, Upserted};

impl Sim {
    /// Logs every offer quantity that an applied import changed, under the store's lock.
    pub(crate) fn log_applied(&self, store: &Store) {
        if !self.storm_log.tracking() {
            return;
        }
        for o in &store.offers {
            self.storm_log.record(&o.sku, o.quantity.max(0), Cause::Api);
        }
    }
}

impl StormStore for Sim {
    fn quantity_log(&self) -> &QuantityLog {
        &self.storm_log
    }

    fn visit_quantities(&self, f: &mut dyn FnMut(&str, i64)) {
        let store = self.store();
        for o in &store.offers {
            f(&o.sku, o.quantity.max(0));
        }
    }

    fn upsert_listings(&self, items: &[ListingItem]) -> Upserted {
        let mut store = self.store();
        let mut done = Upserted::default();
        let now = Utc::now();
        let mut next_id = store.offers.iter().map(|o| o.id).max().unwrap_or(2999) + 1;
        for item in items {
            if let Some(&i) = store.by_sku.get(&item.sku) {
                let o = &mut store.offers[i];
                o.quantity = item.quantity;
                if let Some(p) = &item.price {
                    o.price = p.clone();
                }
                o.updated = now;
                done.updated += 1;
            } else {
                let i = store.offers.len();
                store.offers.push(Offer {
                    id: next_id,
                    sku: item.sku.clone(),
                    product_sku: format!("MKP-S{next_id:06}"),
                    title: item.title_or_sku(),
                    description: String::new(),
                    gtin: String::new(),
                    price: item.price_or_default(),
                    quantity: item.quantity,
                    state_code: STATE_NEW.into(),
                    leadtime: Some(2),
                    reasons: Vec::new(),
                    updates: 0,
                    updated: now,
                });
                next_id += 1;
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
        store.offers[i].quantity = quantity;
        store.offers[i].updated = Utc::now();
        self.storm_log.record(sku, quantity.max(0), Cause::Admin);
        true
    }
}
