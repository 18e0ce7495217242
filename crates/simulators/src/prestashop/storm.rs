//! The stock-storm admin contract ([`crate::storm`]) on the PrestaShop shop: a listing is an
//! active `simple` product (no combinations) in Home with its one `stock_availables` row
//! (PrestaShop keeps one stock per shop, no locations). PrestaShop has no webhooks.

use std::collections::HashMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::store::{Store, ps_date, six};
use super::{Shared, Sim};
use crate::storm::{Cause, ListingItem, QuantityLog, StormOrder, StormStore, Upserted};

fn int(v: &Value) -> i64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_i64())
        .unwrap_or(0)
}

impl Store {
    /// (id_product, id_product_attribute) → id of its `stock_availables` row.
    fn stock_rows(&self) -> HashMap<(i64, i64), i64> {
        self.table("stock_availables")
            .into_iter()
            .flatten()
            .map(|(id, r)| {
                (
                    (int(&r["id_product"]), int(&r["id_product_attribute"])),
                    *id,
                )
            })
            .collect()
    }

    fn row_quantity(&self, row: Option<i64>) -> i64 {
        row.and_then(|id| self.table("stock_availables")?.get(&id))
            .map_or(0, |r| int(&r["quantity"]))
    }

    /// Sets the quantity of the sku (pid, cid) and the product's total.
    fn set_sku_quantity(&mut self, row: Option<i64>, pid: i64, cid: i64, quantity: i64) {
        if let Some(r) = row.and_then(|id| self.table_mut("stock_availables").get_mut(&id)) {
            r["quantity"] = json!(quantity.to_string());
        }
        if cid == 0 {
            if let Some(p) = self.table_mut("products").get_mut(&pid) {
                p["quantity"] = json!(quantity.to_string());
            }
        } else {
            self.sync_product_quantity(pid);
        }
    }

    /// Takes `quantity` units of `sku` (strict: nothing and `Err(available)` when fewer are
    /// sellable; else what there is); the new sellable quantity.
    pub(crate) fn take_stock(
        &mut self,
        sku: &str,
        quantity: i64,
        strict: bool,
    ) -> Result<i64, i64> {
        let Some((pid, cid)) = self.find_sku(sku) else {
            return Err(0);
        };
        let row = self.stock_rows().get(&(pid, cid)).copied();
        let available = self.row_quantity(row).max(0);
        if strict && available < quantity {
            return Err(available);
        }
        let left = available - quantity.min(available).max(0);
        self.set_sku_quantity(row, pid, cid, left);
        Ok(left)
    }
}

impl StormStore for Sim {
    fn quantity_log(&self) -> &QuantityLog {
        &self.storm_log
    }

    fn visit_quantities(&self, f: &mut dyn FnMut(&str, i64)) {
        let store = self.store();
        let mut qty: HashMap<(i64, i64), i64> = HashMap::new();
        for r in store
            .table("stock_availables")
            .into_iter()
            .flatten()
            .map(|(_, r)| r)
        {
            qty.insert(
                (int(&r["id_product"]), int(&r["id_product_attribute"])),
                int(&r["quantity"]).max(0),
            );
        }
        for (id, p) in store.table("products").into_iter().flatten() {
            let has_combinations = p["associations"]["combinations"]
                .as_array()
                .is_some_and(|c| !c.is_empty());
            if !has_combinations && let Some(sku) = p["reference"].as_str() {
                f(sku, qty.get(&(*id, 0)).copied().unwrap_or(0));
            }
        }
        for (id, c) in store.table("combinations").into_iter().flatten() {
            if let Some(sku) = c["reference"].as_str() {
                let pid = int(&c["id_product"]);
                f(sku, qty.get(&(pid, *id)).copied().unwrap_or(0));
            }
        }
    }

    fn upsert_listings(&self, items: &[ListingItem]) -> Upserted {
        let mut store = self.store();
        let mut skus: HashMap<String, (i64, i64)> = HashMap::new();
        for (id, p) in store.table("products").into_iter().flatten() {
            if let Some(r) = p["reference"].as_str() {
                skus.insert(r.to_string(), (*id, 0));
            }
        }
        for (id, c) in store.table("combinations").into_iter().flatten() {
            if let Some(r) = c["reference"].as_str() {
                skus.insert(r.to_string(), (int(&c["id_product"]), *id));
            }
        }
        let mut rows = store.stock_rows();
        let mut done = Upserted::default();
        let now = ps_date(Utc::now());
        for item in items {
            let (pid, cid) = if let Some(&(pid, cid)) = skus.get(&item.sku) {
                if let Some(price) = &item.price {
                    if cid == 0 {
                        if let Some(p) = store.table_mut("products").get_mut(&pid) {
                            p["price"] = json!(six(price));
                        }
                    } else {
                        let base = store
                            .table("products")
                            .and_then(|t| t.get(&pid))
                            .and_then(|p| p["price"].as_str())
                            .map_or(0, crate::demo::to_units);
                        let impact = crate::demo::to_units(price) - base;
                        if let Some(c) = store.table_mut("combinations").get_mut(&cid) {
                            c["price"] = json!(six(&crate::demo::from_units(impact)));
                        }
                    }
                }
                store.touch_product(pid);
                done.updated += 1;
                (pid, cid)
            } else {
                let pid = store.next_id("products");
                let sid = store.next_id("stock_availables");
                store.table_mut("stock_availables").insert(
                    sid,
                    json!({"id": sid, "id_product": pid.to_string(), "id_product_attribute": "0",
                           "id_shop": "1", "id_shop_group": "0", "quantity": "0",
                           "depends_on_stock": "0", "out_of_stock": "2", "location": ""}),
                );
                let name = item.title_or_sku();
                let price = item.price.clone().unwrap_or_else(|| "10.00".into());
                store.table_mut("products").insert(
                    pid,
                    json!({
                        "id": pid,
                        "id_manufacturer": "0",
                        "id_supplier": "0",
                        "id_category_default": "2",
                        "new": null,
                        "id_default_combination": "0",
                        "id_tax_rules_group": "1",
                        "type": "simple",
                        "manufacturer_name": "",
                        "quantity": "0",
                        "reference": item.sku,
                        "ean13": "",
                        "width": "0.000000",
                        "height": "0.000000",
                        "depth": "0.000000",
                        "weight": "0.500000",
                        "price": six(&price),
                        "active": "1",
                        "visibility": "both",
                        "date_add": now,
                        "date_upd": now,
                        "name": [{"id": "1", "value": name}],
                        "description": [{"id": "1", "value": ""}],
                        "description_short": [{"id": "1", "value": ""}],
                        "link_rewrite": [{"id": "1", "value": item.sku.to_lowercase()}],
                        "associations": {
                            "categories": [{"id": "2"}],
                            "images": [],
                            "combinations": [],
                            "stock_availables": [{"id": sid.to_string(), "id_product_attribute": "0"}],
                        },
                    }),
                );
                skus.insert(item.sku.clone(), (pid, 0));
                rows.insert((pid, 0), sid);
                done.created += 1;
                (pid, 0)
            };
            let row = rows.get(&(pid, cid)).copied();
            store.set_sku_quantity(row, pid, cid, item.quantity);
            let q = store.row_quantity(row).max(0);
            self.storm_log.record(&item.sku, q, Cause::Admin);
        }
        done
    }

    fn set_quantity(self: Arc<Self>, sku: &str, quantity: i64) -> bool {
        let mut store = self.store();
        let Some((pid, cid)) = store.find_sku(sku) else {
            return false;
        };
        let row = store.stock_rows().get(&(pid, cid)).copied();
        store.set_sku_quantity(row, pid, cid, quantity);
        store.touch_product(pid);
        let q = store.row_quantity(row).max(0);
        self.storm_log.record(sku, q, Cause::Admin);
        true
    }
}

/// `POST /__admin/orders` as `{sku, quantity}`: 409 when fewer units are sellable; otherwise
/// the stock row is reduced and an order in "Payment accepted" (2) created under the same lock.
pub(super) fn order(sim: &Shared, o: &StormOrder) -> Response {
    let mut store = sim.store();
    if store.find_sku(&o.sku).is_none() {
        return crate::storm::unknown_sku(&o.sku);
    }
    match store.take_stock(&o.sku, o.quantity, true) {
        Ok(left) => sim.storm_log.record(&o.sku, left, Cause::Order),
        Err(available) => return crate::storm::insufficient(available),
    }
    match store.add_order(
        &super::admin::test_buyer(),
        &[(o.sku.clone(), o.quantity)],
        2,
    ) {
        Ok(id) => crate::storm::order_created(id),
        Err(e) => (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": e })),
        )
            .into_response(),
    }
}
