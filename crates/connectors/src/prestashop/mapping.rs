//! PrestaShop resources (read as `output_format=JSON`) to canonical records, and canonical
//! changes back to the resource XML PrestaShop's PUT requires.
//!
//! In PrestaShop's JSON every scalar but `id` is text, multilingual fields are
//! `[{"id":"1","value":…}]` and `associations` holds lists of `{id, …}` objects.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use marketsync_proto::v1::{Money, Order, OrderLine, Party, Product, Shipment, Variant};
use quick_xml::Writer;
use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::{ConnectorError, Result};

/// The items of a list answer: `{"products":[…]}`, or `[]` (PrestaShop's empty list).
pub(crate) fn items(body: Value, resource: &str) -> Result<Vec<Value>> {
    match body {
        Value::Array(a) if a.is_empty() => Ok(Vec::new()),
        Value::Object(mut o) => match o.remove(resource) {
            Some(Value::Array(a)) => Ok(a),
            Some(_) | None if o.is_empty() => Ok(Vec::new()),
            _ => Err(ConnectorError::Malformed(format!(
                "the {resource} list has no `{resource}` array"
            ))),
        },
        _ => Err(ConnectorError::Malformed(format!(
            "the {resource} list is neither an object nor an empty array"
        ))),
    }
}

/// A field as text (`id` numbers included); "" when absent.
pub(crate) fn text(v: &Value, field: &str) -> String {
    match v.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => if *b { "1" } else { "0" }.to_string(),
        _ => String::new(),
    }
}

/// A field as an integer id (0 when absent or not a number).
pub(crate) fn id(v: &Value, field: &str) -> i64 {
    text(v, field).trim().parse().unwrap_or(0)
}

/// The value of a multilingual field in `lang` (the first language when `lang` is missing; a
/// plain string when the shop answered for one language only).
pub(crate) fn lang(v: &Value, field: &str, lang: &str) -> String {
    match v.get(field) {
        Some(Value::Array(ls)) => ls
            .iter()
            .find(|l| text(l, "id") == lang)
            .or_else(|| ls.first())
            .map(|l| text(l, "value"))
            .unwrap_or_default(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Sets the value of a multilingual field in `lang`, keeping the other languages.
pub(crate) fn set_lang(v: &mut Value, field: &str, lang: &str, value: &str) {
    let entry = serde_json::json!({"id": lang, "value": value});
    match v.get_mut(field) {
        Some(Value::Array(ls)) => match ls.iter_mut().find(|l| text(l, "id") == lang) {
            Some(l) => l["value"] = Value::String(value.to_string()),
            None => ls.push(entry),
        },
        _ => v[field] = Value::Array(vec![entry]),
    }
}

/// Ids of an association list (`associations.categories` → `["2","5"]`).
pub(crate) fn association_ids(v: &Value, list: &str) -> Vec<String> {
    v.get("associations")
        .and_then(|a| a.get(list))
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|x| text(x, "id")).collect())
        .unwrap_or_default()
}

/// Canonical decimal text of an amount: trailing zeros of PrestaShop's six decimals dropped,
/// at least two decimals kept (`"49.900000"` → `"49.90"`, `"19.999000"` → `"19.999"`).
pub(crate) fn amount(text: &str) -> Option<String> {
    let d = Decimal::from_str(text.trim()).ok()?.normalize();
    let d = if d.scale() < 2 {
        let mut d = d;
        d.rescale(2);
        d
    } else {
        d
    };
    Some(d.to_string())
}

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text.trim()).unwrap_or_default()
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

fn money(amount_text: &str, currency: &str) -> Option<Money> {
    amount(amount_text).map(|a| Money {
        amount: a,
        currency: currency.to_string(),
    })
}

/// Lookups that products and orders refer to by id.
#[derive(Debug, Default)]
pub(crate) struct Lookups {
    /// Category id → `Men/Tops/Hoodies` (root and home categories map to "").
    pub category_paths: HashMap<String, String>,
    /// Manufacturer id → name.
    pub manufacturers: HashMap<String, String>,
    /// Product option value id → (option name, value name).
    pub option_values: HashMap<String, (String, String)>,
    /// Currency id → ISO code.
    pub currencies: HashMap<String, String>,
    /// Default currency ISO code of the shop.
    pub default_currency: String,
    /// Carrier id → name.
    pub carriers: HashMap<String, String>,
}

/// Category paths from the categories list (`id`, `id_parent`, `name`, `is_root_category`):
/// the names below the shop's root (home) category, joined with `/`.
pub(crate) fn category_paths(categories: &[Value], lang_id: &str) -> HashMap<String, String> {
    let by_id: HashMap<String, &Value> = categories.iter().map(|c| (text(c, "id"), c)).collect();
    let mut out = HashMap::new();
    for (cid, _) in by_id.iter() {
        let mut parts = Vec::new();
        let mut cur = cid.clone();
        for _ in 0..64 {
            let Some(c) = by_id.get(&cur) else { break };
            if text(c, "is_root_category") == "1" || text(c, "id_parent") == "0" {
                break;
            }
            parts.push(lang(c, "name", lang_id));
            cur = text(c, "id_parent");
        }
        parts.reverse();
        out.insert(cid.clone(), parts.join("/"));
    }
    out
}

/// A product (with its combinations) as a canonical product.
pub(crate) fn product(
    p: &Value,
    combinations: &[&Value],
    lk: &Lookups,
    lang_id: &str,
    api_url: &str,
) -> Product {
    let pid = text(p, "id");
    let currency = lk.default_currency.clone();
    let price_text = text(p, "price");
    let base_price = decimal(&price_text);
    let weight = number(&text(p, "weight"));
    let mut paths: Vec<String> = association_ids(p, "categories")
        .iter()
        .filter_map(|c| lk.category_paths.get(c))
        .filter(|p| !p.is_empty())
        .cloned()
        .collect();
    // An ancestor of another associated category adds nothing.
    let all = paths.clone();
    paths.retain(|p| {
        !all.iter().any(|q| {
            q.len() > p.len() && q.starts_with(p.as_str()) && q[p.len()..].starts_with('/')
        })
    });
    paths.dedup();
    let brand = lk
        .manufacturers
        .get(&text(p, "id_manufacturer"))
        .cloned()
        .unwrap_or_else(|| text(p, "manufacturer_name"));
    let images = association_ids(p, "images")
        .into_iter()
        .map(|i| format!("{api_url}/images/products/{pid}/{i}"))
        .collect();
    let variants = combinations
        .iter()
        .map(|c| {
            let mut options = HashMap::new();
            for v in association_ids(c, "product_option_values") {
                if let Some((group, value)) = lk.option_values.get(&v) {
                    options.insert(group.clone(), value.clone());
                }
            }
            let price = (base_price + decimal(&text(c, "price"))).to_string();
            let w = weight.map(|w| w + number(&text(c, "weight")).unwrap_or(0.0));
            Variant {
                sku: text(c, "reference"),
                external_id: text(c, "id"),
                options,
                price: money(&price, &currency),
                weight: w,
                gtin: text(c, "ean13"),
            }
        })
        .collect();
    Product {
        sku: text(p, "reference"),
        external_id: pid,
        title: lang(p, "name", lang_id),
        description: lang(p, "description", lang_id),
        brand,
        categories: paths,
        attributes: HashMap::new(),
        images,
        gtin: text(p, "ean13"),
        weight,
        weight_unit: "kg".into(),
        width: number(&text(p, "width")),
        height: number(&text(p, "height")),
        depth: number(&text(p, "depth")),
        dimension_unit: "cm".into(),
        price: money(&price_text, &currency),
        variants,
        raw_price: amount(&price_text).unwrap_or(price_text),
        visible: text(p, "active") == "1",
        ..Default::default()
    }
}

/// Canonical status of a default PrestaShop order state.
pub(crate) fn order_status(state: i64) -> &'static str {
    match state {
        1 | 8 | 10 | 11 | 13 | 14 => "pending",
        2 | 12 => "awaiting_fulfillment",
        3 | 9 => "processing",
        4 => "shipped",
        5 => "completed",
        6 => "cancelled",
        7 => "refunded",
        _ => "unknown",
    }
}

/// The default order state of a canonical status.
pub(crate) fn state_id(status: &str) -> Option<i64> {
    Some(match status.trim().to_ascii_lowercase().as_str() {
        "pending" | "awaiting_payment" => 1,
        "paid" | "awaiting_fulfillment" | "payment_accepted" => 2,
        "processing" | "awaiting_shipment" => 3,
        "shipped" => 4,
        "completed" | "delivered" => 5,
        "cancelled" | "canceled" => 6,
        "refunded" => 7,
        _ => return None,
    })
}

/// An order with its customer, delivery address and carriers (tracking) as a canonical order.
pub(crate) fn order(
    o: &Value,
    customer: Option<&Value>,
    address: Option<&Value>,
    carriers: &[&Value],
    lk: &Lookups,
) -> Order {
    let currency = lk
        .currencies
        .get(&text(o, "id_currency"))
        .cloned()
        .unwrap_or_else(|| lk.default_currency.clone());
    let lines: Vec<OrderLine> = o
        .get("associations")
        .and_then(|a| a.get("order_rows"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| OrderLine {
            sku: text(r, "product_reference"),
            external_id: text(r, "id"),
            quantity: id(r, "product_quantity"),
            unit_price: money(&text(r, "unit_price_tax_incl"), &currency),
            title: text(r, "product_name"),
        })
        .collect();
    let name = |v: &Value| {
        format!("{} {}", text(v, "firstname"), text(v, "lastname"))
            .trim()
            .to_string()
    };
    let buyer = customer.map(|c| Party {
        name: name(c),
        email: text(c, "email"),
        ..Party::default()
    });
    let shipping = address.map(|a| Party {
        name: name(a),
        email: customer.map(|c| text(c, "email")).unwrap_or_default(),
        phone: text(a, "phone"),
        street: [text(a, "address1"), text(a, "address2")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        city: text(a, "city"),
        zip: text(a, "postcode"),
        country: text(a, "country"),
    });
    let shipments = carriers
        .iter()
        .filter(|c| !text(c, "tracking_number").trim().is_empty())
        .map(|c| Shipment {
            external_id: text(c, "id"),
            carrier: lk
                .carriers
                .get(&text(c, "id_carrier"))
                .cloned()
                .unwrap_or_else(|| text(c, "id_carrier")),
            tracking_number: text(c, "tracking_number"),
            lines: Vec::new(),
        })
        .collect();
    Order {
        external_id: text(o, "id"),
        status: order_status(id(o, "current_state")).into(),
        lines,
        total: money(&text(o, "total_paid"), &currency),
        buyer,
        shipping_address: shipping,
        shipments,
        created_at: ps_to_rfc3339(&text(o, "date_add")),
        updated_at: ps_to_rfc3339(&text(o, "date_upd")),
    }
}

/// `Y-m-d H:i:s` (shop time, taken as UTC) → RFC 3339.
pub(crate) fn ps_to_rfc3339(text: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S")
        .map(|t| {
            t.and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|_| text.to_string())
}

/// An instant as the webservice's date filters want it (`Y-m-d H:i:s`).
pub(crate) fn ps_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

// ---------------------------------------------------------------------------------------------
// XML of a write.

/// Singular element name of an association list (`categories` → `category`).
fn singular(plural: &str) -> String {
    match plural {
        "categories" => "category".into(),
        "addresses" => "address".into(),
        p if p.ends_with('s') => p[..p.len() - 1].to_string(),
        p => p.to_string(),
    }
}

fn is_language_list(v: &[Value]) -> bool {
    !v.is_empty()
        && v.iter().all(|x| {
            x.as_object()
                .is_some_and(|o| o.len() == 2 && o.contains_key("id") && o.contains_key("value"))
        })
}

struct XmlOut(Writer<Vec<u8>>);

impl XmlOut {
    fn ev(&mut self, e: Event<'_>) -> Result<()> {
        self.0
            .write_event(e)
            .map_err(|e| ConnectorError::Config(format!("cannot write the request XML: {e}")))
    }

    fn start(&mut self, e: BytesStart<'_>) -> Result<()> {
        self.ev(Event::Start(e))
    }

    fn end(&mut self, name: &str) -> Result<()> {
        self.ev(Event::End(BytesEnd::new(name)))
    }

    fn text(&mut self, s: &str) -> Result<()> {
        if s.contains("]]>") {
            self.ev(Event::Text(BytesText::new(s)))
        } else {
            self.ev(Event::CData(BytesCData::new(s)))
        }
    }

    fn field(&mut self, name: &str, v: &Value) -> Result<()> {
        match v {
            Value::Array(items) if is_language_list(items) => {
                self.start(BytesStart::new(name))?;
                for l in items {
                    let lid = text(l, "id");
                    let mut e = BytesStart::new("language");
                    e.push_attribute(("id", lid.as_str()));
                    self.start(e)?;
                    self.text(&text(l, "value"))?;
                    self.end("language")?;
                }
                self.end(name)
            }
            Value::Object(o) if name == "associations" => {
                self.start(BytesStart::new(name))?;
                for (list, items) in o {
                    let one = singular(list);
                    self.start(BytesStart::new(list.as_str()))?;
                    for item in items.as_array().into_iter().flatten() {
                        self.start(BytesStart::new(one.as_str()))?;
                        for (k, v) in item.as_object().into_iter().flatten() {
                            self.field(k, v)?;
                        }
                        self.end(&one)?;
                    }
                    self.end(list)?;
                }
                self.end(name)
            }
            Value::Object(o) => {
                self.start(BytesStart::new(name))?;
                for (k, v) in o {
                    self.field(k, v)?;
                }
                self.end(name)
            }
            Value::Array(_) => Ok(()),
            Value::Null => {
                self.start(BytesStart::new(name))?;
                self.end(name)
            }
            Value::String(s) => {
                self.start(BytesStart::new(name))?;
                self.text(s)?;
                self.end(name)
            }
            other => {
                self.start(BytesStart::new(name))?;
                self.text(&other.to_string())?;
                self.end(name)
            }
        }
    }
}

/// `<prestashop xmlns:xlink=…><{name}>…</{name}></prestashop>` of a resource in its JSON shape.
pub(crate) fn resource_xml(name: &str, v: &Value) -> Result<String> {
    let mut w = XmlOut(Writer::new(Vec::new()));
    w.ev(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut root = BytesStart::new("prestashop");
    root.push_attribute(("xmlns:xlink", "http://www.w3.org/1999/xlink"));
    w.start(root)?;
    w.field(name, v)?;
    w.end("prestashop")?;
    String::from_utf8(w.0.into_inner())
        .map_err(|_| ConnectorError::Config("request XML is not UTF-8".into()))
}

/// The `filter[...]` value of an OR list: `[a|b|c]`.
pub(crate) fn any_of<I: IntoIterator<Item = S>, S: AsRef<str>>(values: I) -> String {
    let inner: Vec<String> = values
        .into_iter()
        .map(|v| v.as_ref().replace(['|', '[', ']'], ""))
        .collect();
    format!("[{}]", inner.join("|"))
}

/// Groups `items` by a text field.
pub(crate) fn group_by<'a>(items: &'a [Value], field: &str) -> BTreeMap<String, Vec<&'a Value>> {
    let mut m: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for i in items {
        m.entry(text(i, field)).or_default().push(i);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_drop_prestashop_zeros() {
        assert_eq!(amount("49.900000").as_deref(), Some("49.90"));
        assert_eq!(amount("19.999000").as_deref(), Some("19.999"));
        assert_eq!(amount("10").as_deref(), Some("10.00"));
        assert_eq!(amount("x"), None);
    }

    #[test]
    fn empty_lists_are_empty_arrays() {
        assert!(items(json!([]), "products").expect("empty").is_empty());
        assert_eq!(
            items(json!({"products": [{"id": 1}]}), "products")
                .expect("list")
                .len(),
            1
        );
        assert!(items(json!("x"), "products").is_err());
    }

    #[test]
    fn writes_resource_xml() {
        let p = json!({"id": 4, "name": [{"id": "1", "value": "A & B"}],
                       "associations": {"categories": [{"id": "2"}]}});
        let x = resource_xml("product", &p).expect("xml");
        assert!(
            x.contains("<product>") && x.contains("<id><![CDATA[4]]></id>"),
            "{x}"
        );
        assert!(
            x.contains("<language id=\"1\"><![CDATA[A & B]]></language>"),
            "{x}"
        );
        assert!(
            x.contains("<categories><category><id><![CDATA[2]]></id></category></categories>"),
            "{x}"
        );
    }

    #[test]
    fn category_paths_skip_root_and_home() {
        let cats = vec![
            json!({"id": 1, "id_parent": "0", "is_root_category": "0", "name": [{"id":"1","value":"Root"}]}),
            json!({"id": 2, "id_parent": "1", "is_root_category": "1", "name": [{"id":"1","value":"Home"}]}),
            json!({"id": 3, "id_parent": "2", "is_root_category": "0", "name": [{"id":"1","value":"Men"}]}),
            json!({"id": 4, "id_parent": "3", "is_root_category": "0", "name": [{"id":"1","value":"Tops"}]}),
        ];
        let p = category_paths(&cats, "1");
        assert_eq!(p["4"], "Men/Tops");
        assert_eq!(p["2"], "");
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            "pending",
            "awaiting_fulfillment",
            "shipped",
            "completed",
            "cancelled",
        ] {
            assert_eq!(order_status(state_id(s).expect("known")), s);
        }
    }
}
