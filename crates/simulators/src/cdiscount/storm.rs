//! The stock-storm admin contract ([`crate::storm`]) on Cdiscount: a listing is an offer
//! without listing error on the simulator's sales channel. Offer packages are logged when they
//! integrate (`integration_ms` after `Ready`, applied by the first request after that moment,
//! such as a quantity read). Cdiscount has no webhooks.

use std::sync::Arc;

use super::{Offer, SALES_CHANNEL, Sim, Store, cents};
use crate::storm::{Cause, ListingItem, QuantityLog, StormStore, Upserted};

impl Sim {
    /// Logs every offer quantity that changed (after a package integrated), under the lock.
    pub(super) fn log_integrated(&self, s: &Store) {
        if !self.storm_log.tracking() {
            return;
        }
        for o in &s.offers {
            self.storm_log.record(&o.sku, o.quantity.max(0), Cause::Api);
        }
    }
}

impl StormStore for Sim {
    fn quantity_log(&self) -> &QuantityLog {
        &self.storm_log
    }

    fn visit_quantities(&self, f: &mut dyn FnMut(&str, i64)) {
        let s = self.lock();
        for o in &s.offers {
            f(&o.sku, o.quantity.max(0));
        }
    }

    fn upsert_listings(&self, items: &[ListingItem]) -> Upserted {
        let mut s = self.lock();
        let mut done = Upserted::default();
        for item in items {
            if let Some(&i) = s.by_sku.get(&item.sku) {
                let o = &mut s.offers[i];
                o.quantity = item.quantity;
                if let Some(p) = &item.price {
                    o.price_cents = cents(p);
                }
                done.updated += 1;
            } else {
                let i = s.offers.len();
                s.offers.push(Offer {
                    sku: item.sku.clone(),
                    offer_id: format!("{SALES_CHANNEL}-S{}", i + 1),
                    gtin: String::new(),
                    title: item.title_or_sku(),
                    price_cents: cents(&item.price_or_default()),
                    quantity: item.quantity,
                    preparation_time: Some(2),
                    error: None,
                    updates: 0,
                });
                s.by_sku.insert(item.sku.clone(), i);
                done.created += 1;
            }
            self.storm_log
                .record(&item.sku, item.quantity.max(0), Cause::Admin);
        }
        done
    }

    fn set_quantity(self: Arc<Self>, sku: &str, quantity: i64) -> bool {
        let mut s = self.lock();
        let Some(&i) = s.by_sku.get(sku) else {
            return false;
        };
        s.offers[i].quantity = quantity;
        self.storm_log.record(sku, quantity.max(0), Cause::Admin);
        true
    }
}
