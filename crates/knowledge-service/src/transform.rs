//! Learned transformations: what a person's `modified` decision teaches.
//!
//! From one issue's record, the field's value before and the value the person chose, a
//! [`Transform`] is learned that computes the value for the next record of the same pattern
//! from that record's own data:
//! - text (description, title, …): a template with placeholders for the record's own fields,
//!   e.g. `{title} by {brand}. Part of our {category} range.`, learned where the chosen text
//!   contains the record's title, brand, category, …;
//! - prices: a numeric rule on the current value (rounded to N decimals, × a factor, ending in
//!   `.99`); other numbers (weight, lead time, quantity): rounding, else the chosen value;
//! - a brand, a category or a condition: a value map from the finding's context (the current
//!   value, or the record's first title word, category, product type or brand) to the value;
//! - anything else: the chosen value (a constant, e.g. an eBay return policy's name).
//!
//! Every learned transform reproduces the chosen value on the record it was learned from
//! (otherwise the constant is learned). A transform is stored as JSON in
//! `auto_correction_rules.correction_logic.transform`.

use std::collections::BTreeMap;
use std::str::FromStr;

use marketsync_proto::v1::Product;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// The strategy name of suggestions and rules computed by a learned transform.
pub const STRATEGY: &str = "learned_transform";

/// A learned way to compute a field's value from a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transform {
    /// Text with `{placeholder}`s for the record's own fields (`{{`/`}}` are literal braces).
    Template {
        /// The template.
        template: String,
    },
    /// A number computed from the current value: × `factor`, rounded to `decimals`, and when
    /// `ending` is set, the amount just below the next whole number ending in it
    /// (`ending: "99"`: 20.00 → 19.99, 23.5 → 23.99).
    Numeric {
        /// Multiplier (a decimal string, e.g. "1.2").
        factor: String,
        /// Decimal places of the result.
        decimals: u32,
        /// Decimal digits the result ends with (`decimals` of them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ending: Option<String>,
    },
    /// A value by the record's `key` field (see [`field_value`]).
    ValueMap {
        /// The context field (`current`, `title_word1`, `category`, `product_type`, `brand`).
        key: String,
        /// Context value → value.
        map: BTreeMap<String, String>,
    },
    /// The same value for every record.
    Constant {
        /// The value.
        value: String,
    },
}

/// A record field by placeholder name: `title`, `brand`, `sku`, `gtin`, `product_type`,
/// `condition`, `category` (leaf of the first category path), `category_path` (the first
/// path), `title_word1` (first word of the title), `attr.<name>` (an attribute), `current`
/// (the field's current value). Empty when unknown or without a record.
pub fn field_value(record: Option<&Product>, name: &str, current: &str) -> String {
    if name == "current" {
        return current.trim().to_string();
    }
    let Some(p) = record else {
        return String::new();
    };
    let first_category = p.categories.iter().find(|c| !c.trim().is_empty());
    let v = match name {
        "title" => p.title.as_str(),
        "brand" => p.brand.as_str(),
        "sku" => p.sku.as_str(),
        "gtin" => p.gtin.as_str(),
        "product_type" => p.product_type.as_str(),
        "condition" => p.condition.as_str(),
        "category" => first_category
            .and_then(|c| c.rsplit(['/', '>']).next())
            .unwrap_or(""),
        "category_path" => first_category.map(String::as_str).unwrap_or(""),
        "title_word1" => p.title.split_whitespace().next().unwrap_or(""),
        n => match n.strip_prefix("attr.") {
            Some(k) => p.attributes.get(k).map(String::as_str).unwrap_or(""),
            None => "",
        },
    };
    v.trim().to_string()
}

/// Placeholders a template may use, longest values matched first.
fn placeholders(record: Option<&Product>, current: &str) -> Vec<(String, String)> {
    let mut names: Vec<String> = [
        "title",
        "brand",
        "category",
        "category_path",
        "product_type",
        "gtin",
        "sku",
        "current",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(p) = record {
        let mut attrs: Vec<&String> = p.attributes.keys().collect();
        attrs.sort();
        names.extend(attrs.into_iter().map(|k| format!("attr.{k}")));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for n in names {
        let v = field_value(record, &n, current);
        // Short values (sizes, "1") would match inside words.
        if v.chars().count() < 2 || out.iter().any(|(_, seen)| *seen == v) {
            continue;
        }
        out.push((n, v));
    }
    // Longest first, so "Aurora Trail Jacket" wins over "Aurora"; stable for equal lengths.
    out.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    out
}

enum Seg {
    Lit(String),
    Ph(String),
}

fn escape(s: &str) -> String {
    s.replace('{', "{{").replace('}', "}}")
}

/// Learns a template from a chosen text, or `None` when no field of the record appears in it.
fn learn_template(record: Option<&Product>, current: &str, chosen: &str) -> Option<Transform> {
    let mut segs = vec![Seg::Lit(chosen.to_string())];
    let mut found = false;
    for (name, value) in placeholders(record, current) {
        let mut next = Vec::with_capacity(segs.len());
        for seg in segs {
            match seg {
                Seg::Lit(text) if text.contains(value.as_str()) => {
                    found = true;
                    let mut parts = text.split(value.as_str()).peekable();
                    while let Some(part) = parts.next() {
                        if !part.is_empty() {
                            next.push(Seg::Lit(part.to_string()));
                        }
                        if parts.peek().is_some() {
                            next.push(Seg::Ph(name.clone()));
                        }
                    }
                }
                other => next.push(other),
            }
        }
        segs = next;
    }
    if !found {
        return None;
    }
    let template = segs
        .iter()
        .map(|s| match s {
            Seg::Lit(t) => escape(t),
            Seg::Ph(n) => format!("{{{n}}}"),
        })
        .collect::<String>();
    Some(Transform::Template { template })
}

/// Fills a template; `None` when a placeholder has no value in the record.
fn fill(template: &str, record: Option<&Product>, current: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => name.push(ch),
                        None => return None,
                    }
                }
                let v = field_value(record, &name, current);
                if v.is_empty() {
                    return None;
                }
                out.push_str(&v);
            }
            c => out.push(c),
        }
    }
    Some(out)
}

fn decimal(s: &str) -> Option<Decimal> {
    Decimal::from_str(s.trim()).ok()
}

fn numeric(x: Decimal, factor: Decimal, decimals: u32, ending: Option<&str>) -> Option<String> {
    let v = x.checked_mul(factor)?;
    let mut r = match ending {
        Some(e) if decimals > 0 && e.len() == decimals as usize => {
            let frac = decimal(&format!("0.{e}"))?;
            let whole = v.ceil();
            let candidate = whole - Decimal::ONE + frac;
            if candidate <= Decimal::ZERO {
                return None;
            }
            candidate
        }
        Some(_) => return None,
        None => v.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero),
    };
    r.rescale(decimals);
    Some(r.to_string())
}

/// Learns a numeric rule from the current and the chosen number.
fn learn_numeric(field: &str, current: &str, chosen: &str) -> Option<Transform> {
    let old = decimal(current)?;
    let new = decimal(chosen)?;
    if old <= Decimal::ZERO || new <= Decimal::ZERO {
        return None;
    }
    let decimals = new.scale();
    let want = {
        let mut n = new;
        n.rescale(decimals);
        n.to_string()
    };
    let mut candidates: Vec<(Decimal, Option<String>)> = vec![(Decimal::ONE, None)];
    if field == "price" {
        let digits = want.rsplit('.').next().unwrap_or("").to_string();
        let ending = (decimals > 0 && digits.chars().any(|c| c != '0')).then_some(digits);
        if let Some(e) = &ending {
            candidates.push((Decimal::ONE, Some(e.clone())));
        }
        // A factor with 2 decimals (a margin, a currency rate), applied before the ending.
        if let Some(f) = new.checked_div(old) {
            candidates.push((f.round_dp(2).normalize(), None));
        }
        if let Some(e) = &ending
            && let Some(f) = new.ceil().checked_div(old)
        {
            candidates.push((f.round_dp(2).normalize(), Some(e.clone())));
        }
    }
    for (factor, ending) in candidates {
        if factor <= Decimal::ZERO {
            continue;
        }
        if numeric(old, factor, decimals, ending.as_deref()).as_deref() == Some(want.as_str()) {
            return Some(Transform::Numeric {
                factor: factor.normalize().to_string(),
                decimals,
                ending,
            });
        }
    }
    None
}

/// The context fields a value map is keyed by, per field, best first.
fn contexts(field: &str) -> &'static [&'static str] {
    match field {
        "brand" => &["title_word1", "category", "product_type"],
        "categories" | "category" => &["product_type", "brand", "title_word1"],
        _ => &["product_type", "category", "brand"],
    }
}

/// Learns a value map: keyed by the current value when there is one, else by the first
/// context field the record has.
fn learn_map(
    field: &str,
    record: Option<&Product>,
    current: &str,
    chosen: &str,
) -> Option<Transform> {
    let key = if !current.trim().is_empty() {
        "current"
    } else {
        contexts(field)
            .iter()
            .copied()
            .find(|k| !field_value(record, k, current).is_empty())?
    };
    let context = field_value(record, key, current);
    Some(Transform::ValueMap {
        key: key.to_string(),
        map: BTreeMap::from([(context, chosen.to_string())]),
    })
}

fn is_numeric_field(field: &str) -> bool {
    matches!(
        field,
        "price" | "weight" | "lead_time_days" | "quantity" | "width" | "height" | "depth"
    )
}

fn is_mapped_field(field: &str) -> bool {
    matches!(field, "brand" | "categories" | "category" | "condition")
}

/// Learns how `chosen` was made from a record of an issue on `field` whose value was
/// `current`. The result reproduces `chosen` on that record.
pub fn learn(field: &str, record: Option<&Product>, current: &str, chosen: &str) -> Transform {
    let chosen = chosen.trim();
    let constant = Transform::Constant {
        value: chosen.to_string(),
    };
    let learned = if is_numeric_field(field) {
        learn_numeric(field, current, chosen)
    } else if is_mapped_field(field) {
        // A brand or a category that is exactly another field of the record (an attribute,
        // the first word of the title) is that field; otherwise a value by context.
        let mut fields = placeholders(record, "");
        let word = field_value(record, "title_word1", "");
        if word.chars().count() >= 2 {
            fields.push(("title_word1".to_string(), word));
        }
        fields
            .into_iter()
            .find(|(n, v)| v == chosen && n != field && n != "current")
            .map(|(n, _)| Transform::Template {
                template: format!("{{{n}}}"),
            })
            .or_else(|| learn_map(field, record, current, chosen))
    } else {
        learn_template(record, current, chosen)
    };
    match learned {
        Some(t) if t.apply(record, current).as_deref() == Some(chosen) => t,
        _ => constant,
    }
}

/// A rule's transform after a new lesson: value maps with the same key gain the new entries
/// (a later decision wins for the same context); anything else is replaced.
pub fn merge(previous: Option<&Transform>, learned: Transform) -> Transform {
    match (previous, learned) {
        (Some(Transform::ValueMap { key: k0, map: m0 }), Transform::ValueMap { key, map })
            if *k0 == key =>
        {
            let mut all = m0.clone();
            all.extend(map);
            Transform::ValueMap { key, map: all }
        }
        (_, learned) => learned,
    }
}

impl Transform {
    /// The value for a record whose field is `current`; `None` when the transform cannot
    /// tell (a placeholder the record lacks, an unknown context, a current value that is
    /// not a number).
    pub fn apply(&self, record: Option<&Product>, current: &str) -> Option<String> {
        match self {
            Transform::Template { template } => fill(template, record, current),
            Transform::Numeric {
                factor,
                decimals,
                ending,
            } => {
                let x = decimal(current)?;
                if x <= Decimal::ZERO {
                    return None;
                }
                numeric(x, decimal(factor)?, *decimals, ending.as_deref())
            }
            Transform::ValueMap { key, map } => {
                map.get(&field_value(record, key, current)).cloned()
            }
            Transform::Constant { value } => Some(value.clone()),
        }
    }

    /// Whether applying needs the record (not only its current value).
    pub fn needs_record(&self) -> bool {
        match self {
            Transform::Template { template } => {
                let t = template.replace("{{", "").replace("{current}", "");
                t.contains('{')
            }
            Transform::ValueMap { key, .. } => key != "current",
            _ => false,
        }
    }

    /// A short human description.
    pub fn describe(&self) -> String {
        match self {
            Transform::Template { template } => format!("template `{template}`"),
            Transform::Numeric {
                factor,
                decimals,
                ending,
            } => {
                let mut s = String::new();
                if factor != "1" {
                    s.push_str(&format!("× {factor}, "));
                }
                match ending {
                    Some(e) => s.push_str(&format!("ending in .{e}")),
                    None => s.push_str(&format!("rounded to {decimals} decimals")),
                }
                s
            }
            Transform::ValueMap { key, map } => {
                format!("value by {key} ({} known)", map.len())
            }
            Transform::Constant { value } => format!("the value `{value}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(sku: &str, title: &str, brand: &str, category: &str) -> Product {
        Product {
            sku: sku.into(),
            title: title.into(),
            brand: brand.into(),
            categories: vec![category.into()],
            ..Default::default()
        }
    }

    #[test]
    fn description_template_uses_the_next_records_own_fields() {
        let a = product(
            "A-1",
            "Aurora Trail Shell Jacket",
            "Aurora",
            "Clothing/Jackets",
        );
        let chosen =
            "Aurora Trail Shell Jacket by Aurora. Part of our Jackets range, {free} returns.";
        let t = learn("description", Some(&a), "", chosen);
        assert_eq!(
            t,
            Transform::Template {
                template: "{title} by {brand}. Part of our {category} range, {{free}} returns."
                    .into()
            }
        );
        assert!(t.needs_record());
        let b = product("B-2", "Nimbus Down Vest", "Nimbus", "Clothing/Vests");
        assert_eq!(
            t.apply(Some(&b), "").as_deref(),
            Some("Nimbus Down Vest by Nimbus. Part of our Vests range, {free} returns.")
        );
        // A record without a brand cannot be described by this template.
        let c = product("C-3", "Plain Tee", "", "Clothing/Tees");
        assert_eq!(t.apply(Some(&c), ""), None);
        assert_eq!(t.apply(None, ""), None);
    }

    #[test]
    fn text_without_the_records_fields_is_a_constant() {
        let a = product("A-1", "Aurora Jacket", "Aurora", "Clothing/Jackets");
        let t = learn("description", Some(&a), "", "A fine product.");
        assert_eq!(
            t,
            Transform::Constant {
                value: "A fine product.".into()
            }
        );
        assert_eq!(t.apply(None, "x").as_deref(), Some("A fine product."));
        assert!(!t.needs_record());
    }

    #[test]
    fn attributes_are_placeholders() {
        let mut a = product("A-1", "Trail Shoe", "Aurora", "Shoes");
        a.attributes.insert("material".into(), "Gore-Tex".into());
        let t = learn("description", Some(&a), "", "Trail Shoe in Gore-Tex.");
        assert_eq!(
            t,
            Transform::Template {
                template: "{title} in {attr.material}.".into()
            }
        );
    }

    #[test]
    fn prices_learn_rounding_endings_and_factors() {
        let round = learn("price", None, "19.999", "20.00");
        assert_eq!(
            round,
            Transform::Numeric {
                factor: "1".into(),
                decimals: 2,
                ending: None
            }
        );
        assert_eq!(round.apply(None, "5.125").as_deref(), Some("5.13"));
        assert_eq!(round.apply(None, "7").as_deref(), Some("7.00"));
        assert_eq!(round.apply(None, "n/a"), None);

        let charm = learn("price", None, "20", "19.99");
        assert_eq!(
            charm,
            Transform::Numeric {
                factor: "1".into(),
                decimals: 2,
                ending: Some("99".into())
            }
        );
        assert_eq!(charm.apply(None, "35.5").as_deref(), Some("35.99"));
        assert_eq!(charm.apply(None, "12").as_deref(), Some("11.99"));

        let margin = learn("price", None, "20.00", "24.00");
        assert_eq!(
            margin,
            Transform::Numeric {
                factor: "1.2".into(),
                decimals: 2,
                ending: None
            }
        );
        assert_eq!(margin.apply(None, "10.00").as_deref(), Some("12.00"));

        let both = learn("price", None, "20.00", "23.99");
        assert_eq!(both.apply(None, "20.00").as_deref(), Some("23.99"));
        assert_eq!(both.apply(None, "10.00").as_deref(), Some("11.99"));
        assert!(both.describe().contains("1.2"), "{}", both.describe());
    }

    #[test]
    fn other_numbers_round_or_stay_constant() {
        let t = learn("lead_time_days", None, "45", "3");
        assert_eq!(t, Transform::Constant { value: "3".into() });
        let w = learn("weight", None, "0.8049", "0.80");
        assert_eq!(w.apply(None, "1.234").as_deref(), Some("1.23"));
    }

    #[test]
    fn brands_and_categories_map_from_context() {
        // The brand is the title's first word: learned as that, applies to any record.
        let a = product("A-1", "Aurora Trail Jacket", "", "Clothing/Jackets");
        let t = learn("brand", Some(&a), "", "Aurora");
        assert_eq!(
            t,
            Transform::Template {
                template: "{title_word1}".into()
            }
        );
        let b = product("B-1", "Nimbus Vest", "", "Clothing/Vests");
        assert_eq!(t.apply(Some(&b), "").as_deref(), Some("Nimbus"));

        // A brand unrelated to the title: by context.
        let m = learn("brand", Some(&a), "", "Polar Co");
        assert_eq!(
            m,
            Transform::ValueMap {
                key: "title_word1".into(),
                map: BTreeMap::from([("Aurora".into(), "Polar Co".into())])
            }
        );
        let other = product("C-1", "Aurora Gloves", "", "Clothing/Gloves");
        assert_eq!(m.apply(Some(&other), "").as_deref(), Some("Polar Co"));
        assert_eq!(m.apply(Some(&b), ""), None);

        // A category by product type; lessons accumulate.
        let mut p1 = product("D-1", "Jacket", "Aurora", "");
        p1.categories.clear();
        p1.product_type = "JACKET".into();
        let c1 = learn("categories", Some(&p1), "", "Clothing/Jackets");
        let mut p2 = p1.clone();
        p2.product_type = "SHOES".into();
        let c2 = learn("categories", Some(&p2), "", "Footwear");
        let merged = merge(Some(&c1), c2);
        assert_eq!(
            merged.apply(Some(&p1), "").as_deref(),
            Some("Clothing/Jackets")
        );
        assert_eq!(merged.apply(Some(&p2), "").as_deref(), Some("Footwear"));
        assert!(merged.describe().contains("2 known"));

        // A condition by its current (invalid) value.
        let g = learn("condition", None, "Grade A", "excellent");
        assert_eq!(g.apply(None, "Grade A").as_deref(), Some("excellent"));
        assert_eq!(g.apply(None, "Grade B"), None);
        assert!(!g.needs_record());
    }

    #[test]
    fn every_lesson_reproduces_its_example_and_round_trips_as_json() {
        let a = product("A-1", "Aurora Trail Jacket", "Aurora", "Clothing/Jackets");
        for (field, current, chosen) in [
            (
                "description",
                "",
                "Aurora Trail Jacket, a Jackets piece by Aurora",
            ),
            ("title", "aurora jacket", "Aurora Trail Jacket (A-1)"),
            ("price", "19.999", "19.99"),
            ("brand", "", "Aurora"),
            ("return_policy", "", "30 days free"),
            ("condition", "", "good"),
        ] {
            let t = learn(field, Some(&a), current, chosen);
            assert_eq!(
                t.apply(Some(&a), current).as_deref(),
                Some(chosen),
                "{field}: {t:?}"
            );
            let json = serde_json::to_value(&t).expect("json");
            assert!(json.get("kind").is_some(), "{json}");
            let back: Transform = serde_json::from_value(json).expect("back");
            assert_eq!(back, t);
        }
    }
}
