//! The stock-storm admin contract ([`crate::storm`]) on Amazon: a listing is a merchant-
//! fulfilled (MFN) listing item without issues; its sellable quantity is the MFN `quantity`
//! (FBA stock is Amazon's and not counted). JSON listings feeds are applied, and logged, when
//! their processing time ends (a task wakes up then), not when submitted. The simulator sends
//! no notifications.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;

use super::{Account, Listing, Sim};
use crate::storm::{Cause, ListingItem, QuantityLog, StormStore, Upserted};

impl Sim {
    /// Logs every listing quantity an applied feed changed, under the account's lock.
    pub(super) fn log_applied(&self, st: &Account) {
        if !self.storm_log.tracking() {
            return;
        }
        for l in st.listings.values() {
            self.storm_log.record(&l.sku, l.quantity.max(0), Cause::Api);
        }
    }
}

fn new_listing(item: &ListingItem, n: u64) -> Listing {
    let now = Utc::now();
    Listing {
        sku: item.sku.clone(),
        asin: format!("B2{n:08}"),
        title: item.title_or_sku(),
        description: String::new(),
        brand: String::new(),
        product_type: "HOME".into(),
        price: item.price_or_default(),
        quantity: item.quantity,
        fba: None,
        lead_time: Some(2),
        weight: 0.5,
        image: String::new(),
        specifics: Default::default(),
        issues: Vec::new(),
        updates: 0,
        created: now,
        updated: now,
    }
}

impl StormStore for Sim {
    fn quantity_log(&self) -> &QuantityLog {
        &self.storm_log
    }

    fn visit_quantities(&self, f: &mut dyn FnMut(&str, i64)) {
        let st = self.state();
        for l in st.listings.values() {
            f(&l.sku, l.quantity.max(0));
        }
    }

    fn upsert_listings(&self, items: &[ListingItem]) -> Upserted {
        let mut st = self.state();
        let mut done = Upserted::default();
        let listings: &mut BTreeMap<String, Listing> = &mut st.listings;
        let mut n = listings.len() as u64;
        for item in items {
            if let Some(l) = listings.get_mut(&item.sku) {
                l.quantity = item.quantity;
                if let Some(p) = &item.price {
                    l.price = p.clone();
                }
                l.updated = Utc::now();
                done.updated += 1;
            } else {
                n += 1;
                listings.insert(item.sku.clone(), new_listing(item, n));
                done.created += 1;
            }
            self.storm_log
                .record(&item.sku, item.quantity.max(0), Cause::Admin);
        }
        done
    }

    fn set_quantity(self: Arc<Self>, sku: &str, quantity: i64) -> bool {
        let mut st = self.state();
        let Some(l) = st.listings.get_mut(sku) else {
            return false;
        };
        l.quantity = quantity;
        l.updated = Utc::now();
        self.storm_log.record(sku, quantity.max(0), Cause::Admin);
        true
    }
}
