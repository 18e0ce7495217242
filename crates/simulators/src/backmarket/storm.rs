//! The stock-storm admin contract ([`crate::storm`]) on Back Market: a listing is a published
//! offer (grade `premium`, code 0; no listing error). Back Market has no webhooks.

use std::sync::Arc;

use chrono::Utc;

use super::{Listing, Sim, relock};
use crate::storm::{Cause, ListingItem, QuantityLog, StormStore, Upserted};

impl StormStore for Sim {
    fn quantity_log(&self) -> &QuantityLog {
        &self.storm_log
    }

    fn visit_quantities(&self, f: &mut dyn FnMut(&str, i64)) {
        let acc = relock(&self.account);
        for l in &acc.listings {
            f(&l.sku, l.quantity.max(0));
        }
    }

    fn upsert_listings(&self, items: &[ListingItem]) -> Upserted {
        let mut acc = relock(&self.account);
        let mut done = Upserted::default();
        let now = Utc::now();
        for item in items {
            if let Some(&i) = acc.by_sku.get(&item.sku) {
                let l = &mut acc.listings[i];
                l.quantity = item.quantity;
                if let Some(p) = &item.price {
                    l.price = p.clone();
                }
                l.modified = now;
                done.updated += 1;
            } else {
                let i = acc.listings.len();
                let id = acc.listings.iter().map(|l| l.id).max().unwrap_or(3_000_000) + 1;
                acc.listings.push(Listing {
                    id,
                    sku: item.sku.clone(),
                    title: item.title_or_sku(),
                    product_id: format!("bm-{:08x}", 0x5eed_0000u64 + i as u64),
                    price: item.price.clone().unwrap_or_else(|| "10.00".into()),
                    quantity: item.quantity,
                    grade: Some(0),
                    errors: Vec::new(),
                    updates: 0,
                    modified: now,
                });
                acc.by_sku.insert(item.sku.clone(), i);
                done.created += 1;
            }
            self.storm_log
                .record(&item.sku, item.quantity.max(0), Cause::Admin);
        }
        done
    }

    fn set_quantity(self: Arc<Self>, sku: &str, quantity: i64) -> bool {
        let mut acc = relock(&self.account);
        let Some(&i) = acc.by_sku.get(sku) else {
            return false;
        };
        acc.listings[i].quantity = quantity;
        acc.listings[i].modified = Utc::now();
        self.storm_log.record(sku, quantity.max(0), Cause::Admin);
        true
    }
}
