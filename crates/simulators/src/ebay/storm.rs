//! The stock-storm admin contract ([`crate::storm`]) on eBay: a listing is an inventory item
//! with a published offer (fixed price, a return policy and a category). A quantity set from
//! outside notifies `ITEM_AVAILABILITY` subscribers, as an API change does; eBay's Notification
//! API has no order topic, so orders notify nothing.

use std::sync::Arc;

use serde_json::json;

use super::{Listing, Sim, relock};
use crate::storm::{Cause, ListingItem, QuantityLog, StormStore, Upserted};

impl StormStore for Sim {
    fn quantity_log(&self) -> &QuantityLog {
        &self.storm_log
    }

    fn visit_quantities(&self, f: &mut dyn FnMut(&str, i64)) {
        let listings = relock(&self.listings);
        for l in listings.iter() {
            f(&l.sku, l.quantity.max(0));
        }
    }

    fn upsert_listings(&self, items: &[ListingItem]) -> Upserted {
        let mut by_sku = relock(&self.by_sku);
        let mut listings = relock(&self.listings);
        let mut done = Upserted::default();
        for item in items {
            if let Some(&i) = by_sku.get(&item.sku) {
                let l = &mut listings[i];
                l.quantity = item.quantity;
                if let Some(p) = &item.price {
                    l.price = p.clone();
                }
                done.updated += 1;
            } else {
                let n = listings.len();
                listings.push(Listing {
                    sku: item.sku.clone(),
                    product: json!({
                        "title": item.title_or_sku(),
                        "description": "",
                        "aspects": {},
                        "imageUrls": [],
                    }),
                    condition: "NEW".into(),
                    package: Some(json!({"weight": {"value": 0.5, "unit": "KILOGRAM"}})),
                    offer_id: format!("{}", 5_000_000_000u64 + n as u64),
                    price: item.price_or_default(),
                    currency: "USD".into(),
                    quantity: item.quantity,
                    published: true,
                    on_hold: false,
                    return_policy_id: self.policies.first().map(|p| p.0.clone()),
                    category_id: "9355".into(),
                    updates: 0,
                });
                by_sku.insert(item.sku.clone(), n);
                done.created += 1;
            }
            self.storm_log
                .record(&item.sku, item.quantity.max(0), Cause::Admin);
        }
        done
    }

    fn set_quantity(self: Arc<Self>, sku: &str, quantity: i64) -> bool {
        let Some(i) = relock(&self.by_sku).get(sku).copied() else {
            return false;
        };
        let event = {
            let mut listings = relock(&self.listings);
            let l = &mut listings[i];
            let changed = l.quantity != quantity;
            l.quantity = quantity;
            self.storm_log.record(sku, quantity.max(0), Cause::Admin);
            changed
                .then(|| json!({"sku": sku, "offerId": l.offer_id, "availableQuantity": quantity}))
        };
        if let Some(data) = event {
            self.notify("ITEM_AVAILABILITY", data);
        }
        true
    }
}
