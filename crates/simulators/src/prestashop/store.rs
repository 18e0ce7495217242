//! The simulated shop: every webservice resource the connector uses, held in PrestaShop's JSON
//! shape and seeded from [`crate::demo`], with the list parameters of the webservice
//! (`display`, `filter[...]`, `sort`, `limit`, `date=1`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::{Value, json};

use crate::demo::{self, DemoParty};

/// `Y-m-d H:i:s`, PrestaShop's date format.
pub(crate) fn ps_date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn parse_ps_date(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// Decimal text with PrestaShop's six decimals (`49.9` → `49.900000`); text that is not a
/// plain decimal is kept as is.
pub(crate) fn six(text: &str) -> String {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || !int
            .trim_start_matches('-')
            .chars()
            .all(|c| c.is_ascii_digit())
    {
        return t.to_string();
    }
    if frac.len() > 6 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return t.to_string();
    }
    format!("{int}.{frac:0<6}")
}

/// Order states of a default PrestaShop install (id, name).
pub(crate) const ORDER_STATES: [(i64, &str); 8] = [
    (1, "Awaiting check payment"),
    (2, "Payment accepted"),
    (3, "Processing in progress"),
    (4, "Shipped"),
    (5, "Delivered"),
    (6, "Canceled"),
    (7, "Refunded"),
    (8, "Payment error"),
];

/// Carriers of the demo shop (id, name).
pub(crate) const CARRIERS: [(i64, &str); 3] = [(1, "UPS"), (2, "FedEx"), (3, "USPS")];

fn state_of(status: &str) -> i64 {
    match status {
        "pending" => 1,
        "awaiting_fulfillment" => 2,
        "shipped" => 4,
        "completed" => 5,
        "cancelled" => 6,
        _ => 3,
    }
}

fn lang(text: &str) -> Value {
    json!([{ "id": "1", "value": text }])
}

/// Every resource, by its plural name, then by id.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub resources: BTreeMap<String, BTreeMap<i64, Value>>,
}

impl Store {
    pub(crate) fn table(&self, name: &str) -> Option<&BTreeMap<i64, Value>> {
        self.resources.get(name)
    }

    pub(crate) fn table_mut(&mut self, name: &str) -> &mut BTreeMap<i64, Value> {
        self.resources.entry(name.to_string()).or_default()
    }

    pub(crate) fn next_id(&self, name: &str) -> i64 {
        self.table(name)
            .and_then(|t| t.keys().next_back().copied())
            .unwrap_or(0)
            + 1
    }

    fn insert(&mut self, name: &str, mut v: Value) -> i64 {
        let id = self.next_id(name);
        v["id"] = json!(id);
        self.table_mut(name).insert(id, v);
        id
    }

    /// The demo shop of `seed`: `products` products and `orders` orders.
    pub(crate) fn seeded(seed: u64, products: usize, orders: usize, shop_name: &str) -> Self {
        let catalog = demo::catalog(seed, products);
        let demo_orders = demo::orders(seed, &catalog, orders);
        let mut s = Store::default();
        s.insert(
            "languages",
            json!({"iso_code": "en", "name": "English (English)", "active": "1"}),
        );
        s.insert(
            "shops",
            json!({"name": shop_name, "id_shop_group": "1", "active": "1"}),
        );
        s.insert(
            "configurations",
            json!({"name": "PS_SHOP_NAME", "value": shop_name}),
        );
        s.insert(
            "configurations",
            json!({"name": "PS_CURRENCY_DEFAULT", "value": "1"}),
        );
        s.insert(
            "currencies",
            json!({"iso_code": "USD", "name": lang("US Dollar"), "conversion_rate": "1.000000"}),
        );
        for (id, name) in ORDER_STATES {
            s.table_mut("order_states")
                .insert(id, json!({"id": id, "name": lang(name)}));
        }
        for (id, name) in CARRIERS {
            s.table_mut("carriers").insert(
                id,
                json!({"id": id, "name": name, "active": "1", "deleted": "0"}),
            );
        }
        let now = ps_date(Utc::now());
        s.insert(
            "categories",
            json!({"id_parent": "0", "is_root_category": "0", "name": lang("Root"), "active": "1", "date_add": now, "date_upd": now}),
        );
        s.insert(
            "categories",
            json!({"id_parent": "1", "is_root_category": "1", "name": lang("Home"), "active": "1", "date_add": now, "date_upd": now}),
        );
        let mut option_groups: BTreeMap<String, i64> = BTreeMap::new();
        let mut option_values: BTreeMap<(i64, String), i64> = BTreeMap::new();
        let mut sku_ids: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for p in &catalog {
            let id_manufacturer = if p.brand.is_empty() {
                0
            } else {
                s.manufacturer_or_create(&p.brand)
            };
            let mut categories = vec![json!({"id": "2"})];
            let mut default_category = 2;
            if !p.category.is_empty() {
                default_category = s.category_path_or_create(&p.category);
                categories.push(json!({"id": default_category.to_string()}));
            }
            let pid = s.next_id("products");
            let mut combinations = Vec::new();
            let mut stock = Vec::new();
            let total: i64 = if p.variants.is_empty() {
                p.stock.iter().map(|w| w.on_hand).sum()
            } else {
                p.variants
                    .iter()
                    .map(|v| v.stock.iter().map(|w| w.on_hand).sum::<i64>())
                    .sum()
            };
            let sid = s.insert(
                "stock_availables",
                json!({"id_product": pid.to_string(), "id_product_attribute": "0", "id_shop": "1",
                       "id_shop_group": "0", "quantity": total.to_string(), "depends_on_stock": "0",
                       "out_of_stock": "2", "location": ""}),
            );
            stock.push(json!({"id": sid.to_string(), "id_product_attribute": "0"}));
            for v in &p.variants {
                let mut values = Vec::new();
                for (group, value) in &v.options {
                    let next_group = option_groups.len() as i64 + 1;
                    let gid = *option_groups.entry(group.clone()).or_insert_with(|| {
                        s.table_mut("product_options").insert(
                            next_group,
                            json!({"id": next_group, "is_color_group": if group.to_lowercase().starts_with("col") {"1"} else {"0"},
                                   "group_type": "select", "name": lang(group), "public_name": lang(group)}),
                        );
                        next_group
                    });
                    let vid = match option_values.get(&(gid, value.clone())) {
                        Some(id) => *id,
                        None => {
                            let id = s.insert(
                                "product_option_values",
                                json!({"id_attribute_group": gid.to_string(), "color": "", "position": "0", "name": lang(value)}),
                            );
                            option_values.insert((gid, value.clone()), id);
                            id
                        }
                    };
                    values.push(json!({"id": vid.to_string()}));
                }
                let impact = v
                    .price
                    .as_deref()
                    .map(|vp| demo::from_units(demo::to_units(vp) - demo::to_units(&p.price)))
                    .unwrap_or_else(|| "0".into());
                let cid = s.insert(
                    "combinations",
                    json!({"id_product": pid.to_string(), "reference": v.sku, "ean13": v.gtin,
                           "price": six(&impact), "weight": "0.000000", "minimal_quantity": "1",
                           "default_on": if combinations.is_empty() {"1"} else {""},
                           "associations": {"product_option_values": values}}),
                );
                combinations.push(json!({"id": cid.to_string()}));
                let q: i64 = v.stock.iter().map(|w| w.on_hand).sum();
                let sid = s.insert(
                    "stock_availables",
                    json!({"id_product": pid.to_string(), "id_product_attribute": cid.to_string(), "id_shop": "1",
                           "id_shop_group": "0", "quantity": q.to_string(), "depends_on_stock": "0",
                           "out_of_stock": "2", "location": ""}),
                );
                stock.push(json!({"id": sid.to_string(), "id_product_attribute": cid.to_string()}));
                sku_ids.insert(v.sku.clone(), (pid, cid));
            }
            sku_ids.insert(p.sku.clone(), (pid, 0));
            let images: Vec<Value> = (1..=p.images.len())
                .map(|i| json!({"id": (pid * 100 + i as i64).to_string()}))
                .collect();
            let manufacturer_name = s.manufacturer_name(id_manufacturer);
            let product = json!({
                "id": pid,
                "id_manufacturer": id_manufacturer.to_string(),
                "id_supplier": "0",
                "id_category_default": default_category.to_string(),
                "new": null,
                "id_default_combination": combinations.first().map(|c| c["id"].clone()).unwrap_or(json!("0")),
                "id_tax_rules_group": "1",
                "type": "simple",
                "manufacturer_name": manufacturer_name,
                "quantity": total.to_string(),
                "reference": p.sku,
                "ean13": p.gtin,
                "width": format!("{:.6}", p.width),
                "height": format!("{:.6}", p.height),
                "depth": format!("{:.6}", p.depth),
                "weight": format!("{:.6}", p.weight),
                "price": six(&p.price),
                "active": if p.visible {"1"} else {"0"},
                "visibility": "both",
                "date_add": ps_date(p.created_at),
                "date_upd": ps_date(p.modified_at),
                "name": lang(&p.name),
                "description": lang(&p.description),
                "description_short": lang(""),
                "link_rewrite": lang(&p.sku.to_lowercase()),
                "associations": {
                    "categories": categories,
                    "images": images,
                    "combinations": combinations,
                    "stock_availables": stock,
                },
            });
            s.table_mut("products").insert(pid, product);
        }
        for o in &demo_orders {
            let lines: Vec<(String, i64, String, String)> = o
                .lines
                .iter()
                .map(|l| {
                    (
                        l.sku.clone(),
                        l.quantity,
                        l.unit_price.clone(),
                        l.name.clone(),
                    )
                })
                .collect();
            let oid = s.create_order(
                &o.buyer,
                &o.shipping,
                &lines,
                state_of(&o.status),
                o.created_at,
                &sku_ids,
            );
            // Shipped and delivered orders carry their tracking number.
            if matches!(o.status.as_str(), "shipped" | "completed") {
                let oid_s = oid.to_string();
                let carrier = (oid % 3 + 1).to_string();
                for oc in s.table_mut("order_carriers").values_mut() {
                    if oc["id_order"] == oid_s.as_str() {
                        oc["id_carrier"] = json!(carrier);
                        oc["tracking_number"] = json!(format!("1Z999AA1{oid:08}"));
                    }
                }
            }
        }
        s
    }

    fn manufacturer_or_create(&mut self, name: &str) -> i64 {
        if let Some((id, _)) = self
            .table("manufacturers")
            .into_iter()
            .flatten()
            .find(|(_, m)| m["name"] == name)
        {
            return *id;
        }
        self.insert("manufacturers", json!({"name": name, "active": "1"}))
    }

    pub(crate) fn manufacturer_name(&self, id: i64) -> String {
        self.table("manufacturers")
            .and_then(|t| t.get(&id))
            .and_then(|m| m["name"].as_str())
            .unwrap_or_default()
            .to_string()
    }

    fn category_path_or_create(&mut self, path: &str) -> i64 {
        let mut parent = 2i64;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let found = self
                .table("categories")
                .into_iter()
                .flatten()
                .find(|(_, c)| {
                    c["id_parent"].as_str().and_then(|s| s.parse::<i64>().ok()) == Some(parent)
                        && c["name"][0]["value"] == part
                });
            parent = match found {
                Some((id, _)) => *id,
                None => {
                    let now = ps_date(Utc::now());
                    self.insert(
                        "categories",
                        json!({"id_parent": parent.to_string(), "is_root_category": "0", "name": lang(part),
                               "active": "1", "date_add": now, "date_upd": now}),
                    )
                }
            };
        }
        parent
    }

    /// `(product id, combination id)` of a sku (combination 0: the product's own).
    pub(crate) fn find_sku(&self, sku: &str) -> Option<(i64, i64)> {
        if let Some((id, c)) = self
            .table("combinations")
            .into_iter()
            .flatten()
            .find(|(_, c)| c["reference"] == sku)
        {
            let pid = c["id_product"].as_str()?.parse().ok()?;
            return Some((pid, *id));
        }
        self.table("products")
            .into_iter()
            .flatten()
            .find(|(_, p)| p["reference"] == sku)
            .map(|(id, _)| (*id, 0))
    }

    fn sku_map(&self) -> BTreeMap<String, (i64, i64)> {
        let mut m = BTreeMap::new();
        for (id, p) in self.table("products").into_iter().flatten() {
            if let Some(r) = p["reference"].as_str() {
                m.insert(r.to_string(), (*id, 0));
            }
        }
        for (id, c) in self.table("combinations").into_iter().flatten() {
            let pid = c["id_product"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if let Some(r) = c["reference"].as_str() {
                m.insert(r.to_string(), (pid, *id));
            }
        }
        m
    }

    /// Adds an order of `(sku, quantity, unit price, name)` lines; returns its id.
    pub(crate) fn create_order(
        &mut self,
        buyer: &DemoParty,
        shipping: &DemoParty,
        lines: &[(String, i64, String, String)],
        state: i64,
        at: DateTime<Utc>,
        skus: &BTreeMap<String, (i64, i64)>,
    ) -> i64 {
        let date = ps_date(at);
        let customer = match self
            .table("customers")
            .into_iter()
            .flatten()
            .find(|(_, c)| c["email"] == buyer.email)
        {
            Some((id, _)) => *id,
            None => self.insert(
                "customers",
                json!({"firstname": buyer.first_name, "lastname": buyer.last_name, "email": buyer.email,
                       "company": buyer.company, "active": "1", "date_add": date, "date_upd": date}),
            ),
        };
        let address = self.insert(
            "addresses",
            json!({"id_customer": customer.to_string(), "id_country": "21", "alias": "Shipping",
                   "firstname": shipping.first_name, "lastname": shipping.last_name, "company": shipping.company,
                   "address1": shipping.street, "postcode": shipping.zip, "city": shipping.city,
                   "phone": shipping.phone, "country": shipping.country, "date_add": date, "date_upd": date}),
        );
        let id = self.next_id("orders");
        let mut rows = Vec::new();
        let mut total = 0i64;
        for (n, (sku, qty, price, name)) in lines.iter().enumerate() {
            let (pid, cid) = skus.get(sku).copied().unwrap_or((0, 0));
            total += demo::to_units(price) * qty;
            rows.push(json!({
                "id": (id * 100 + n as i64 + 1).to_string(),
                "product_id": pid.to_string(),
                "product_attribute_id": cid.to_string(),
                "product_quantity": qty.to_string(),
                "product_name": name,
                "product_reference": sku,
                "product_ean13": "",
                "product_price": six(price),
                "unit_price_tax_incl": six(price),
                "unit_price_tax_excl": six(price),
            }));
        }
        let total = six(&demo::from_units(total));
        self.table_mut("orders").insert(
            id,
            json!({
                "id": id,
                "id_address_delivery": address.to_string(),
                "id_address_invoice": address.to_string(),
                "id_cart": id.to_string(),
                "id_currency": "1",
                "id_lang": "1",
                "id_customer": customer.to_string(),
                "id_carrier": "1",
                "current_state": state.to_string(),
                "module": "ps_checkpayment",
                "payment": "Payment by check",
                "reference": format!("XKBKNABJK{id:03}"),
                "total_paid": total,
                "total_paid_tax_incl": total,
                "total_paid_real": total,
                "total_products": total,
                "total_shipping": "0.000000",
                "conversion_rate": "1.000000",
                "date_add": date,
                "date_upd": date,
                "associations": {"order_rows": rows},
            }),
        );
        self.insert(
            "order_carriers",
            json!({"id_order": id.to_string(), "id_carrier": "1", "id_order_invoice": "0",
                   "weight": "0.000000", "shipping_cost_tax_excl": "0.000000",
                   "shipping_cost_tax_incl": "0.000000", "tracking_number": "", "date_add": date}),
        );
        self.insert(
            "order_histories",
            json!({"id_employee": "0", "id_order_state": state.to_string(), "id_order": id.to_string(), "date_add": date}),
        );
        id
    }

    /// Adds an order at run time (admin API); unknown skus are an error.
    pub(crate) fn add_order(
        &mut self,
        buyer: &DemoParty,
        lines: &[(String, i64)],
        state: i64,
    ) -> Result<i64, String> {
        let skus = self.sku_map();
        let mut full = Vec::new();
        for (sku, qty) in lines {
            let (pid, cid) = *skus.get(sku).ok_or(format!("unknown sku {sku}"))?;
            let p = self
                .table("products")
                .and_then(|t| t.get(&pid))
                .cloned()
                .unwrap_or(Value::Null);
            let mut price = demo::to_units(p["price"].as_str().unwrap_or("0"));
            if cid != 0
                && let Some(c) = self.table("combinations").and_then(|t| t.get(&cid))
            {
                price += demo::to_units(c["price"].as_str().unwrap_or("0"));
            }
            let name = p["name"][0]["value"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            full.push((sku.clone(), *qty, demo::from_units(price), name));
        }
        Ok(self.create_order(buyer, buyer, &full, state, Utc::now(), &skus))
    }

    /// Recomputes a product's total stock row (attribute 0) from its combinations' rows.
    pub(crate) fn sync_product_quantity(&mut self, pid: i64) {
        let pid_s = pid.to_string();
        let rows: Vec<(i64, String, i64)> = self
            .table("stock_availables")
            .into_iter()
            .flatten()
            .filter(|(_, r)| r["id_product"] == pid_s.as_str())
            .map(|(id, r)| {
                (
                    *id,
                    r["id_product_attribute"]
                        .as_str()
                        .unwrap_or("0")
                        .to_string(),
                    r["quantity"]
                        .as_str()
                        .and_then(|q| q.parse().ok())
                        .unwrap_or(0),
                )
            })
            .collect();
        if rows.iter().all(|(_, a, _)| a == "0") {
            return;
        }
        let total: i64 = rows
            .iter()
            .filter(|(_, a, _)| a != "0")
            .map(|(_, _, q)| q)
            .sum();
        for (id, a, _) in &rows {
            if a == "0"
                && let Some(r) = self.table_mut("stock_availables").get_mut(id)
            {
                r["quantity"] = json!(total.to_string());
            }
        }
        if let Some(p) = self.table_mut("products").get_mut(&pid) {
            p["quantity"] = json!(total.to_string());
        }
    }

    /// Marks a product modified now.
    pub(crate) fn touch_product(&mut self, pid: i64) {
        if let Some(p) = self.table_mut("products").get_mut(&pid) {
            let prev = p["date_upd"].as_str().and_then(parse_ps_date);
            let mut now = Utc::now();
            // Modification dates are per second: a change always moves the date forward.
            if let Some(prev) = prev
                && prev.and_utc() >= now - Duration::milliseconds(999)
            {
                now = prev.and_utc() + Duration::seconds(1);
            }
            p["date_upd"] = json!(ps_date(now));
        }
    }
}

/// One `filter[field]=…` of a list request.
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    /// `[a|b|c]` (or a literal `[a]`).
    AnyOf(Vec<String>),
    /// `[from,to]` (both included).
    Interval(String, String),
}

/// Parses a filter value; `None` when it is not one of the webservice's bracket forms.
pub(crate) fn parse_filter(text: &str) -> Option<Filter> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    if let Some((a, b)) = inner.split_once(',') {
        return Some(Filter::Interval(a.trim().to_string(), b.trim().to_string()));
    }
    Some(Filter::AnyOf(
        inner.split('|').map(|s| s.trim().to_string()).collect(),
    ))
}

fn field_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .first()
            .and_then(|l| l["value"].as_str())
            .unwrap_or_default()
            .to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether `item` passes `filter` on `field` (`date`: compare as dates).
pub(crate) fn matches(item: &Value, field: &str, filter: &Filter, date: bool) -> bool {
    let value = field_text(&item[field]);
    match filter {
        Filter::AnyOf(values) => values.iter().any(|v| v.eq_ignore_ascii_case(&value)),
        Filter::Interval(a, b) => {
            if date {
                let (Some(v), Some(a), Some(b)) =
                    (parse_ps_date(&value), parse_ps_date(a), parse_ps_date(b))
                else {
                    return false;
                };
                a <= v && v <= b
            } else {
                match (value.parse::<f64>(), a.parse::<f64>(), b.parse::<f64>()) {
                    (Ok(v), Ok(a), Ok(b)) => a <= v && v <= b,
                    _ => a.as_str() <= value.as_str() && value.as_str() <= b.as_str(),
                }
            }
        }
    }
}

/// Sorts by `[field_ASC,…]`.
pub(crate) fn sort(items: &mut [Value], spec: &str) -> Result<(), String> {
    let inner = spec
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let keys: Vec<(String, bool)> = inner
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|k| {
            if let Some(f) = k.strip_suffix("_ASC") {
                Ok((f.to_string(), true))
            } else if let Some(f) = k.strip_suffix("_DESC") {
                Ok((f.to_string(), false))
            } else {
                Err(format!("The \"sort\" value has to be formed as this example: \"field_ASC\" or \"field_DESC\" (\"{k}\" is not correct)"))
            }
        })
        .collect::<Result<_, _>>()?;
    items.sort_by(|a, b| {
        for (f, asc) in &keys {
            let (x, y) = (field_text(&a[f]), field_text(&b[f]));
            let ord = match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                _ => x.cmp(&y),
            };
            let ord = if *asc { ord } else { ord.reverse() };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        std::cmp::Ordering::Equal
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_decimals() {
        assert_eq!(six("49.9"), "49.900000");
        assert_eq!(six("19.999"), "19.999000");
        assert_eq!(six("10"), "10.000000");
        assert_eq!(six("-2.5"), "-2.500000");
        assert_eq!(six("abc"), "abc");
    }

    #[test]
    fn filters_and_sort() {
        let items = [
            json!({"id": 1, "reference": "A-1", "date_upd": "2025-01-10 10:00:00"}),
            json!({"id": 2, "reference": "B-2", "date_upd": "2025-02-10 10:00:00"}),
            json!({"id": 10, "reference": "c-3", "date_upd": "2025-03-10 10:00:00"}),
        ];
        let any = parse_filter("[a-1|C-3]").expect("or filter");
        let hits: Vec<i64> = items
            .iter()
            .filter(|v| matches(v, "reference", &any, false))
            .filter_map(|v| v["id"].as_i64())
            .collect();
        assert_eq!(hits, vec![1, 10]);
        let dates = parse_filter("[2025-02-01 00:00:00,2025-03-10 10:00:00]").expect("interval");
        let hits = items
            .iter()
            .filter(|v| matches(v, "date_upd", &dates, true))
            .count();
        assert_eq!(hits, 2);
        let ids = parse_filter("[2,10]").expect("interval");
        assert_eq!(
            items
                .iter()
                .filter(|v| matches(v, "id", &ids, false))
                .count(),
            2,
            "numeric intervals compare numbers"
        );
        assert!(parse_filter("nope").is_none());
        let mut sorted = items.to_vec();
        sort(&mut sorted, "[id_DESC]").expect("valid sort");
        assert_eq!(sorted[0]["id"], 10);
        assert!(sort(&mut sorted, "[id]").is_err());
    }

    #[test]
    fn seeded_shop_keeps_totals_of_combinations() {
        let s = Store::seeded(3, 6, 2, "Shop");
        let products = s.table("products").expect("products");
        assert_eq!(products.len(), 6);
        for (pid, p) in products {
            let rows: Vec<&Value> = s
                .table("stock_availables")
                .into_iter()
                .flatten()
                .map(|(_, r)| r)
                .filter(|r| r["id_product"] == pid.to_string().as_str())
                .collect();
            let total = |attr0: bool| -> i64 {
                rows.iter()
                    .filter(|r| (r["id_product_attribute"] == "0") == attr0)
                    .map(|r| {
                        r["quantity"]
                            .as_str()
                            .and_then(|q| q.parse::<i64>().ok())
                            .unwrap_or(0)
                    })
                    .sum()
            };
            if rows.len() > 1 {
                assert_eq!(total(true), total(false), "{}", p["reference"]);
            }
            assert_eq!(
                p["quantity"].as_str().and_then(|q| q.parse().ok()),
                Some(total(true))
            );
        }
        assert_eq!(s.table("orders").map(BTreeMap::len), Some(2));
    }
}
