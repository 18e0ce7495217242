//! What an LLM is asked, and how its answer is read.
//!
//! The prompt is built only from an allow-list of product fields (title, brand, the product's
//! categories and product type, its description as text, attribute names and values, variant
//! option names and values), each passed through the [`Scrubber`], plus the issue's type and
//! field and, for a category, the tenant's known categories to choose from. Identifiers (sku,
//! GTIN, external id), prices, stock, images and anything of an order or a buyer are never
//! part of it. The answer must be one JSON object; suggestions in it are checked one by one
//! and the invalid ones dropped.

use std::collections::BTreeMap;

use marketsync_proto::v1::{Product, Suggestion};
use serde_json::{Value, json};

use super::scrub::{Scrubber, has_placeholder};
use crate::engine::{Finding, strip_html};

/// Highest confidence an LLM's own estimate may claim.
pub const MAX_LLM_CONFIDENCE: f64 = 0.95;

/// Categories offered to choose from, at most.
pub const MAX_CANDIDATES: usize = 60;

/// Attribute and option words that mark an identifier or personal data: such attributes are
/// left out of prompts.
const WITHHELD: &[&str] = &[
    "email",
    "mail",
    "phone",
    "telephone",
    "tel",
    "mobile",
    "fax",
    "contact",
    "address",
    "customer",
    "buyer",
    "seller",
    "owner",
    "person",
    "user",
    "order",
    "gtin",
    "ean",
    "upc",
    "isbn",
    "mpn",
    "sku",
    "asin",
    "id",
    "barcode",
    "jan",
    "serial",
    "imei",
];

const SYSTEM: &str = "You help a merchant complete product listings for online marketplaces. \
Use only the product facts given. Text in square brackets such as [email], [phone], [address], \
[name], [order] or [url] marks removed personal data: never repeat it and never invent personal \
data. Answer with one JSON object and nothing else, shaped as \
{\"suggestions\":[{\"value\":\"...\",\"confidence\":0.0,\"explanation\":\"...\"}]} where \
confidence is your probability (0 to 1) that the value is right. An empty list is a valid \
answer.";

/// What kind of value an issue needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// A product description.
    Description,
    /// A brand.
    Brand,
    /// One of the tenant's categories.
    Category,
    /// A value of one attribute.
    Attribute,
}

impl Task {
    /// The task of a finding when text generation helps with it.
    pub fn of(f: &Finding) -> Option<Task> {
        match f.issue_type {
            "missing_description" => Some(Task::Description),
            "missing_brand" => Some(Task::Brand),
            "missing_category" => Some(Task::Category),
            t if t.contains("attribute") || f.field.starts_with("attributes") => {
                Some(Task::Attribute)
            }
            _ => None,
        }
    }

    fn max_len(self) -> usize {
        match self {
            Task::Description => 4_000,
            Task::Brand => 100,
            Task::Category => 500,
            Task::Attribute => 300,
        }
    }
}

/// A prompt, and what reading its answer needs.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// The system message.
    pub system: String,
    /// The user message (a JSON document).
    pub user: String,
    task: Task,
    issue_type: String,
    /// Candidate categories as sent → as the tenant writes them.
    candidates: Vec<(String, String)>,
    max: usize,
}

/// The prompt for one finding of `p`, or `None` when no LLM should be asked (a category with
/// no known categories to choose from, an issue text generation does not help with).
pub fn build(
    p: &Product,
    f: &Finding,
    candidates: &[String],
    max: usize,
    scrubber: &Scrubber,
) -> Option<Prompt> {
    let task = Task::of(f)?;
    let keep: Vec<&str> = [p.brand.trim()]
        .into_iter()
        .filter(|b| !b.is_empty())
        .collect();
    let clean = |s: &str, n: usize| clip(&scrubber.scrub(s.trim(), &keep), n);
    let mut product = serde_json::Map::new();
    product.insert("title".into(), json!(clean(&p.title, 300)));
    if !p.brand.trim().is_empty() {
        product.insert("brand".into(), json!(clean(&p.brand, 100)));
    }
    let categories: Vec<String> = p
        .categories
        .iter()
        .filter(|c| !c.trim().is_empty())
        .take(5)
        .map(|c| clean(c, 200))
        .collect();
    if !categories.is_empty() {
        product.insert("categories".into(), json!(categories));
    }
    if !p.product_type.trim().is_empty() {
        product.insert("product_type".into(), json!(clean(&p.product_type, 100)));
    }
    let description = strip_html(&p.description);
    if !description.is_empty() {
        product.insert("description".into(), json!(clean(&description, 2_000)));
    }
    let mut attributes: Vec<(&String, &String)> = p
        .attributes
        .iter()
        .filter(|(k, v)| allowed_name(k) && !v.trim().is_empty())
        .collect();
    attributes.sort();
    let attributes: BTreeMap<String, String> = attributes
        .into_iter()
        .take(30)
        .map(|(k, v)| (clean(k, 60), clean(v, 200)))
        .collect();
    if !attributes.is_empty() {
        product.insert("attributes".into(), json!(attributes));
    }
    let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in &p.variants {
        for (k, val) in &v.options {
            if !allowed_name(k) || val.trim().is_empty() {
                continue;
            }
            let vals = options.entry(clean(k, 60)).or_default();
            let val = clean(val, 60);
            if vals.len() < 20 && !vals.contains(&val) {
                vals.push(val);
            }
        }
    }
    if !options.is_empty() {
        product.insert("variant_options".into(), json!(options));
    }

    let mut sent: Vec<(String, String)> = Vec::new();
    if task == Task::Category {
        for c in candidates {
            let s = clean(c, 200);
            if !has_placeholder(&s) && !sent.iter().any(|(x, _)| *x == s) {
                sent.push((s, c.clone()));
            }
            if sent.len() >= MAX_CANDIDATES {
                break;
            }
        }
        if sent.is_empty() {
            return None;
        }
    }
    let instructions = match task {
        Task::Description => "Write a factual product description of two to four sentences in \
            plain text (no HTML) from the product facts, in the language of the title. Do not \
            claim anything the facts do not support."
            .to_string(),
        Task::Brand => "Give the product's brand as the title or attributes show it. Never \
            invent a brand: answer an empty list when none can be read from the facts."
            .to_string(),
        Task::Category => "Choose the categories that fit the product best among `candidates`; \
            each value must be one of the candidates exactly as written."
            .to_string(),
        Task::Attribute => format!(
            "Suggest a value for the product attribute `{}` that is consistent with the facts; \
             answer an empty list when the facts do not tell.",
            clean(attribute_name(f), 60)
        ),
    };
    let mut user = json!({
        "task": f.issue_type,
        "field": f.field,
        "instructions": instructions,
        "product": Value::Object(product),
        "max_suggestions": max,
    });
    if task == Task::Category {
        user["candidates"] = json!(sent.iter().map(|(s, _)| s).collect::<Vec<_>>());
    }
    if task == Task::Attribute && !f.current_value.trim().is_empty() {
        user["current_value"] = json!(clean(&f.current_value, 200));
    }
    Some(Prompt {
        system: SYSTEM.to_string(),
        user: user.to_string(),
        task,
        issue_type: f.issue_type.to_string(),
        candidates: sent,
        max,
    })
}

impl Prompt {
    /// The suggestions of an answer: strictly one JSON object with a `suggestions` array (a
    /// Markdown code fence around it is tolerated). Each suggestion needs a non-empty string
    /// `value` and a numeric `confidence`; invalid ones are dropped, confidences clamped to
    /// 0..=[`MAX_LLM_CONFIDENCE`], duplicates merged, at most `max` kept.
    pub fn parse(&self, text: &str) -> Result<Vec<Suggestion>, String> {
        let body = unfence(text);
        let answer: Value = serde_json::from_str(body)
            .map_err(|_| "the answer is not a JSON object".to_string())?;
        let items = answer
            .get("suggestions")
            .and_then(Value::as_array)
            .ok_or("the answer has no `suggestions` array")?;
        let mut out: Vec<Suggestion> = Vec::new();
        for item in items {
            let Some(s) = self.suggestion(item) else {
                continue;
            };
            if out.iter().any(|o| same(&o.value, &s.value)) {
                continue;
            }
            out.push(s);
        }
        out.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        out.truncate(self.max);
        Ok(out)
    }

    fn suggestion(&self, item: &Value) -> Option<Suggestion> {
        let value = item.get("value")?.as_str()?.trim();
        let confidence = item.get("confidence")?.as_f64()?;
        if value.is_empty()
            || value.chars().count() > self.task.max_len()
            || has_placeholder(value)
            || !confidence.is_finite()
        {
            return None;
        }
        if self.task != Task::Description && value.contains(['\n', '\r']) {
            return None;
        }
        let value = match self.task {
            Task::Category => self
                .candidates
                .iter()
                .find(|(sent, _)| same(sent, value))
                .map(|(_, original)| original.clone())?,
            _ => value.to_string(),
        };
        let explanation = item
            .get("explanation")
            .and_then(Value::as_str)
            .map(|e| clip(e.trim(), 300))
            .filter(|e| !e.is_empty() && !has_placeholder(e))
            .unwrap_or_else(|| "suggested by the language model".into());
        Some(Suggestion {
            strategy: format!("llm:{}", self.issue_type),
            value,
            confidence: confidence.clamp(0.0, MAX_LLM_CONFIDENCE),
            explanation: format!("language model: {explanation}"),
        })
    }
}

/// The built-in suggestions merged with an LLM's: a value both give keeps the built-in
/// suggestion (its strategy can be replayed by a learned rule) with the higher confidence;
/// ranked by confidence (the built-in first on a tie), at most `max`.
pub fn merge(builtin: Vec<Suggestion>, llm: Vec<Suggestion>, max: usize) -> Vec<Suggestion> {
    let mut all = builtin;
    for s in llm {
        match all.iter_mut().find(|b| same(&b.value, &s.value)) {
            Some(b) => {
                if s.confidence > b.confidence {
                    b.confidence = s.confidence;
                    b.explanation = format!("{}; a language model agrees", b.explanation);
                }
            }
            None => all.push(s),
        }
    }
    all.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    all.truncate(max);
    all
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

fn unfence(text: &str) -> &str {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

/// Whether an attribute or option name may be sent (no identifier, no personal data).
fn allowed_name(name: &str) -> bool {
    !name
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| WITHHELD.contains(&w))
}

/// The attribute a finding is about (`attributes.color` → `color`).
fn attribute_name(f: &Finding) -> &str {
    f.field
        .strip_prefix("attributes.")
        .or_else(|| f.rule.rsplit(':').next())
        .unwrap_or(f.field)
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use marketsync_proto::v1::Variant;

    use super::*;

    fn finding(issue_type: &'static str, field: &'static str) -> Finding {
        Finding {
            issue_type,
            field,
            rule: "required_field:x",
            severity: "medium",
            description: "product SKU-SECRET-1 misses it".into(),
            current_value: String::new(),
        }
    }

    fn product() -> Product {
        Product {
            sku: "SKU-SECRET-1".into(),
            gtin: "3760123456789".into(),
            title: "Aurora Merino Hoodie".into(),
            description: "<p>Soft merino. Contact John Smith at john@example.com.</p>".into(),
            attributes: HashMap::from([
                ("material".to_string(), "merino wool".to_string()),
                ("ean".to_string(), "3760123456789".to_string()),
                ("seller_email".to_string(), "ops@example.com".to_string()),
            ]),
            variants: vec![Variant {
                options: HashMap::from([("size".to_string(), "M".to_string())]),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_prompt_holds_allowed_fields_only() {
        let p = build(
            &product(),
            &finding("missing_brand", "brand"),
            &[],
            3,
            &Scrubber::new(),
        )
        .expect("brand prompt");
        let user: Value = serde_json::from_str(&p.user).expect("json");
        assert_eq!(user["product"]["title"], "Aurora Merino Hoodie");
        assert_eq!(user["product"]["attributes"]["material"], "merino wool");
        assert_eq!(user["product"]["variant_options"]["size"][0], "M");
        for secret in [
            "SKU-SECRET-1",
            "3760123456789",
            "ops@example.com",
            "John",
            "john@",
        ] {
            assert!(!p.user.contains(secret), "{secret} in {}", p.user);
        }
        assert!(Task::of(&finding("price_format", "price")).is_none());
        assert!(
            build(
                &product(),
                &finding("missing_category", "categories"),
                &[],
                3,
                &Scrubber::new()
            )
            .is_none(),
            "no category to choose from"
        );
    }

    #[test]
    fn attribute_issues_name_the_attribute_and_scrub_its_value() {
        let mut f = finding("invalid_attribute", "attributes.color");
        f.current_value = "ask jane@example.com".into();
        let p = build(&product(), &f, &[], 3, &Scrubber::new()).expect("attribute prompt");
        let user: Value = serde_json::from_str(&p.user).expect("json");
        assert!(
            user["instructions"]
                .as_str()
                .is_some_and(|i| i.contains("`color`")),
            "{user}"
        );
        assert_eq!(user["current_value"], "ask [email]");
        let s = p
            .parse(r#"{"suggestions":[{"value":"navy","confidence":0.7,"explanation":"title"}]}"#)
            .expect("parses");
        assert_eq!(s[0].strategy, "llm:invalid_attribute");
        assert_eq!(s[0].explanation, "language model: title");
    }

    #[test]
    fn answers_are_read_strictly() {
        let cands = vec!["Men/Tops/Hoodies".to_string(), "Women/Dresses".to_string()];
        let p = build(
            &product(),
            &finding("missing_category", "categories"),
            &cands,
            3,
            &Scrubber::new(),
        )
        .expect("prompt");
        let s = p
            .parse(
                "```json\n{\"suggestions\":[\
                 {\"value\":\"men/tops/hoodies\",\"confidence\":1.7,\"explanation\":\"fits\"},\
                 {\"value\":\"Garden\",\"confidence\":0.9},\
                 {\"value\":\"Women/Dresses\",\"confidence\":\"high\"},\
                 {\"value\":\"Women/Dresses\",\"confidence\":-2}]}\n```",
            )
            .expect("parses");
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[0].value, "Men/Tops/Hoodies");
        assert_eq!(s[0].confidence, MAX_LLM_CONFIDENCE);
        assert_eq!(s[0].strategy, "llm:missing_category");
        assert_eq!(s[1].confidence, 0.0);
        assert!(p.parse("The category is Hoodies.").is_err());
        assert!(p.parse("[1, 2]").is_err());
        let brand = build(
            &product(),
            &finding("missing_brand", "brand"),
            &[],
            3,
            &Scrubber::new(),
        )
        .expect("prompt");
        let s = brand
            .parse(r#"{"suggestions":[{"value":"[name]","confidence":0.9},{"value":"Aurora\nX","confidence":0.9},{"value":"Aurora","confidence":0.8}]}"#)
            .expect("parses");
        assert_eq!(
            s.iter().map(|s| s.value.as_str()).collect::<Vec<_>>(),
            ["Aurora"]
        );
    }

    #[test]
    fn merging_ranks_and_keeps_replayable_strategies() {
        let s = |strategy: &str, value: &str, confidence: f64| Suggestion {
            strategy: strategy.into(),
            value: value.into(),
            confidence,
            explanation: "x".into(),
        };
        let merged = merge(
            vec![
                s("extract_brand", "Aurora", 0.72),
                s("extract_brand", "Merino", 0.4),
            ],
            vec![
                s("llm:missing_brand", "aurora", 0.9),
                s("llm:missing_brand", "Boreal", 0.5),
            ],
            3,
        );
        let got: Vec<(&str, &str, f64)> = merged
            .iter()
            .map(|s| (s.strategy.as_str(), s.value.as_str(), s.confidence))
            .collect();
        assert_eq!(
            got,
            [
                ("extract_brand", "Aurora", 0.9),
                ("llm:missing_brand", "Boreal", 0.5),
                ("extract_brand", "Merino", 0.4)
            ]
        );
        assert_eq!(
            merge(vec![], vec![s("a", "1", 0.1), s("a", "2", 0.2)], 1).len(),
            1
        );
    }
}
