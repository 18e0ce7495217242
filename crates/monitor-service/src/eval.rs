//! Evaluation of the built-in engine on a real catalog: the Magento Luma sample data
//! (`../shared/data/magento-luma/`, Magento's own export format), read as marketsync's
//! canonical products.
//!
//! Every configurable product is one product with its simple children as variants (their
//! `size` and `color` options); every gear product is a product of its own, grouped with the
//! other products of its sku stem (`24-WG081-blue` and `24-WG081-gray`). Cross-validation
//! folds are drawn by group, so a product and its variants (or its siblings) are never on both
//! sides. The sku is never a feature (Luma's sku prefixes name the category).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Context, bail};
use marketsync_proto::v1::{Product, Variant};

use crate::engine::{self, Model};
use crate::extract::{self, Lexicon};

/// One product of the data set with what evaluation hides from the engine.
#[derive(Debug, Clone)]
pub struct Item {
    /// The product as the engine sees it (categories, weight, colour and material included;
    /// each evaluation hides what it measures).
    pub product: Product,
    /// Its main category path (`Men/Tops/Jackets`, `Gear/Bags`).
    pub category: String,
    /// Cross-validation group (the configurable parent, or the sku stem).
    pub group: String,
    /// Colour of each variant (variant sku → colour), or of the product.
    pub colors: BTreeMap<String, String>,
    /// Materials of the product.
    pub materials: BTreeSet<String>,
}

/// Parses RFC 4180 CSV (quoted fields with `""` escapes and line breaks inside).
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// CSV rows as maps of header → value.
fn records(path: &Path) -> anyhow::Result<Vec<HashMap<String, String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = parse_csv(&text).into_iter();
    let header = rows
        .next()
        .with_context(|| format!("{} is empty", path.display()))?;
    Ok(rows
        .filter(|r| r.len() > 1)
        .map(|r| header.iter().cloned().zip(r).collect())
        .collect())
}

/// `k=v,k=v` (Magento's `additional_attributes` and `configurable_variations` entries).
fn pairs(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn get<'a>(r: &'a HashMap<String, String>, k: &str) -> &'a str {
    r.get(k).map(String::as_str).unwrap_or("")
}

/// Reads the Luma catalog: configurable products with their variants, and the gear files.
pub fn load(dir: &Path) -> anyhow::Result<Vec<Item>> {
    let mut items = Vec::new();
    let configurable = dir.join("Configurable-products.csv");
    for r in records(&configurable)? {
        if get(&r, "product_type") != "configurable" {
            continue;
        }
        let category = get(&r, "categories")
            .split(',')
            .map(|c| c.trim().trim_start_matches("Default Category/"))
            .find(|c| c.starts_with("Men/") || c.starts_with("Women/"))
            .map(str::to_string);
        let Some(category) = category else { continue };
        let mut attributes = BTreeMap::new();
        let mut materials = BTreeSet::new();
        for (k, v) in pairs(get(&r, "additional_attributes")) {
            if matches!(k.as_str(), "has_options" | "required_options") {
                continue;
            }
            if k == "material" {
                materials.extend(v.split('|').filter(|m| !m.is_empty()).map(clean_mark));
            }
            attributes.insert(k, v);
        }
        let mut variants = Vec::new();
        let mut colors = BTreeMap::new();
        for entry in get(&r, "configurable_variations").split('|') {
            let kv: HashMap<String, String> = pairs(entry).into_iter().collect();
            let Some(sku) = kv.get("sku") else { continue };
            let options: HashMap<String, String> = kv
                .iter()
                .filter(|(k, _)| k.as_str() != "sku")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if let Some(c) = options.get("color") {
                colors.insert(sku.clone(), c.clone());
            }
            variants.push(Variant {
                sku: sku.clone(),
                options,
                weight: Some(1.0),
                ..Default::default()
            });
        }
        let sku = get(&r, "sku").to_string();
        items.push(Item {
            product: Product {
                sku: sku.clone(),
                title: get(&r, "name").to_string(),
                description: get(&r, "description").to_string(),
                categories: vec![category.clone()],
                attributes: attributes.into_iter().collect(),
                raw_price: get(&r, "price").to_string(),
                weight: Some(1.0),
                variants,
                ..Default::default()
            },
            category,
            group: sku,
            colors,
            materials,
        });
    }
    let mut gear: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("Catalog-SimpleProduct-products_"))
        })
        .collect();
    gear.sort();
    for path in gear {
        for r in records(&path)? {
            let path_names: Vec<&str> = get(&r, "category").lines().map(str::trim).collect();
            let (Some(root), Some(leaf)) = (path_names.first(), path_names.get(1)) else {
                continue;
            };
            let category = format!("{root}/{leaf}");
            let sku = get(&r, "sku").to_string();
            let group = sku.split('-').take(2).collect::<Vec<_>>().join("-");
            let mut attributes = BTreeMap::new();
            let mut materials = BTreeSet::new();
            let mut colors = BTreeMap::new();
            for (k, v) in &r {
                let skip = matches!(
                    k.as_str(),
                    "category"
                        | "name"
                        | "sku"
                        | "price"
                        | "qty"
                        | "description"
                        | "visibility"
                        | "attribute_set"
                        | "url_key"
                        | "special_price"
                ) || k.contains("category");
                if skip || v.trim().is_empty() {
                    continue;
                }
                let values: Vec<&str> =
                    v.lines().map(str::trim).filter(|x| !x.is_empty()).collect();
                if k == "material" {
                    materials.extend(values.iter().map(|m| clean_mark(m)));
                }
                if k == "color" {
                    colors.insert(sku.clone(), values.join("|"));
                }
                attributes.insert(k.clone(), values.join("|"));
            }
            items.push(Item {
                product: Product {
                    sku,
                    title: get(&r, "name").to_string(),
                    description: get(&r, "description").to_string(),
                    categories: vec![category.clone()],
                    attributes: attributes.into_iter().collect(),
                    raw_price: get(&r, "price").to_string(),
                    ..Default::default()
                },
                category,
                group,
                colors,
                materials,
            });
        }
    }
    if items.is_empty() {
        bail!("no products found in {}", dir.display());
    }
    Ok(items)
}

/// A material as the lexicon writes it (no trademark signs or entities).
fn clean_mark(m: &str) -> String {
    m.replace("&trade;", "")
        .replace("&reg;", "")
        .replace(['™', '®'], "")
        .trim()
        .to_string()
}

/// A variant's own title as Magento names a configurable product's child:
/// `<title>-<size>-<color>` (`Chaz Kangeroo Hoodie-XS-Black`).
pub fn variant_title(title: &str, v: &Variant) -> String {
    let suffix: Vec<&str> = ["size", "color"]
        .iter()
        .filter_map(|o| v.options.get(*o).map(String::as_str))
        .collect();
    format!("{title}-{}", suffix.join("-"))
}

/// The fold of each group: groups shuffled with a fixed seed, then dealt round-robin.
pub fn folds(items: &[Item], k: usize, seed: u64) -> Vec<usize> {
    let mut groups: Vec<&str> = items.iter().map(|i| i.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut rng = seed.max(1);
    for i in (1..groups.len()).rev() {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        groups.swap(i, (rng % (i as u64 + 1)) as usize);
    }
    let fold_of: HashMap<&str, usize> = groups
        .iter()
        .enumerate()
        .map(|(n, g)| (*g, n % k))
        .collect();
    items.iter().map(|i| fold_of[i.group.as_str()]).collect()
}

/// Category accuracy.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CategoryScore {
    /// Products classified.
    pub products: usize,
    /// Right first.
    pub top1: f64,
    /// Right among the first three.
    pub top3: f64,
    /// Top-1 counting each variant (what a variant-level catalog would see).
    pub top1_by_variant: f64,
    /// Top-1 of the title-vote classifier the engine had before (measured in the same run).
    pub baseline_top1: f64,
    /// Top-3 of that classifier.
    pub baseline_top3: f64,
    /// Among the first suggestions with a confidence of at least 0.8: share of products and
    /// their accuracy.
    pub confident_share: f64,
    /// Accuracy of those.
    pub confident_top1: f64,
}

/// Trains the engine on every fold but one and classifies the held-out fold's products with
/// their categories hidden.
pub fn categories(items: &[Item], k: usize, seed: u64) -> CategoryScore {
    let fold = folds(items, k, seed);
    let (mut top1, mut top3, mut base1, mut base3) = (0usize, 0usize, 0usize, 0usize);
    let (mut variants, mut variants_right) = (0usize, 0usize);
    let (mut confident, mut confident_right) = (0usize, 0usize);
    for f in 0..k {
        let mut model = Model::default();
        for (item, _) in items.iter().zip(&fold).filter(|(_, n)| **n != f) {
            model.learn(&item.product);
        }
        let mut untrained = model.clone();
        model.train();
        untrained.refresh_medians();
        for (item, _) in items.iter().zip(&fold).filter(|(_, n)| **n == f) {
            let mut hidden = item.product.clone();
            hidden.categories.clear();
            let (findings, _) = engine::validate(&hidden);
            let Some(finding) = findings.iter().find(|x| x.issue_type == "missing_category") else {
                continue;
            };
            let ranked: Vec<String> = model
                .suggest(&hidden, finding, 3)
                .into_iter()
                .map(|s| s.value)
                .collect();
            let first = ranked.first().is_some_and(|c| *c == item.category);
            top1 += usize::from(first);
            top3 += usize::from(ranked.contains(&item.category));
            let n = item.product.variants.len().max(1);
            variants += n;
            variants_right += if first { n } else { 0 };
            if let Some(s) = model.suggest(&hidden, finding, 1).first()
                && s.confidence >= 0.8
            {
                confident += 1;
                confident_right += usize::from(s.value == item.category);
            }
            let baseline: Vec<String> = untrained
                .category_by_title(&hidden)
                .into_iter()
                .map(|s| s.value)
                .collect();
            base1 += usize::from(baseline.first().is_some_and(|c| *c == item.category));
            base3 += usize::from(baseline.contains(&item.category));
        }
    }
    let n = items.len().max(1) as f64;
    CategoryScore {
        products: items.len(),
        top1: top1 as f64 / n,
        top3: top3 as f64 / n,
        top1_by_variant: variants_right as f64 / variants.max(1) as f64,
        baseline_top1: base1 as f64 / n,
        baseline_top3: base3 as f64 / n,
        confident_share: confident as f64 / n,
        confident_top1: confident_right as f64 / confident.max(1) as f64,
    }
}

/// Precision, recall and F1 of an extraction.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct F1 {
    /// Values found that are right.
    pub precision: f64,
    /// Right values found.
    pub recall: f64,
    /// Their harmonic mean.
    pub f1: f64,
    /// Values to find.
    pub support: usize,
}

fn f1(tp: usize, fp: usize, fn_: usize) -> F1 {
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    F1 {
        precision,
        recall,
        f1,
        support: tp + fn_,
    }
}

/// Colour and material extraction: with each product's colour and material attributes
/// hidden, extracted from its title (each variant's own title: `Chaz Kangeroo Hoodie-XS-Black`)
/// and description, the lexicon learned from the other folds' products.
pub fn attributes(items: &[Item], k: usize, seed: u64) -> (F1, F1) {
    let fold = folds(items, k, seed);
    let (mut c_tp, mut c_fp, mut c_fn) = (0, 0, 0);
    let (mut m_tp, mut m_fp, mut m_fn) = (0, 0, 0);
    let key = |s: &str| s.trim().to_lowercase();
    for f in 0..k {
        let mut lexicon = Lexicon::default();
        for (item, _) in items.iter().zip(&fold).filter(|(_, n)| **n != f) {
            lexicon.learn(&item.product);
        }
        for (item, _) in items.iter().zip(&fold).filter(|(_, n)| **n == f) {
            let mut hidden = item.product.clone();
            hidden
                .attributes
                .retain(|a, _| extract::canonical(a).is_none());
            // Colour: per variant, from the variant's own title.
            let titled: Vec<(String, String)> = if hidden.variants.is_empty() {
                vec![(hidden.sku.clone(), hidden.title.clone())]
            } else {
                hidden
                    .variants
                    .iter()
                    .map(|v| (v.sku.clone(), variant_title(&hidden.title, v)))
                    .collect()
            };
            for (sku, title) in titled {
                let one = Product {
                    title,
                    description: hidden.description.clone(),
                    ..Default::default()
                };
                let found: BTreeSet<String> = lexicon
                    .extract("color", &one)
                    .iter()
                    .map(|v| key(v))
                    .collect();
                let truth: BTreeSet<String> = item
                    .colors
                    .get(&sku)
                    .map(|c| c.split('|').map(key).collect())
                    .unwrap_or_default();
                c_tp += found.intersection(&truth).count();
                c_fp += found.difference(&truth).count();
                c_fn += truth.difference(&found).count();
            }
            let found: BTreeSet<String> = lexicon
                .extract("material", &hidden)
                .iter()
                .map(|v| key(v))
                .collect();
            let truth: BTreeSet<String> = item.materials.iter().map(|m| key(m)).collect();
            m_tp += found.intersection(&truth).count();
            m_fp += found.difference(&truth).count();
            m_fn += truth.difference(&found).count();
        }
    }
    (f1(c_tp, c_fp, c_fn), f1(m_tp, m_fp, m_fn))
}

/// Weight suggestions against the data's weights (of the products that have one).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct WeightScore {
    /// Products with a weight to hide.
    pub products: usize,
    /// Those that got a suggestion.
    pub suggested: usize,
    /// Mean absolute error of the first suggestion.
    pub mean_abs_error: f64,
    /// Mean absolute error relative to the true weight.
    pub mean_rel_error: f64,
}

/// Hides each product's weight and takes the engine's first suggestion, trained on the other
/// folds.
pub fn weights(items: &[Item], k: usize, seed: u64) -> WeightScore {
    let fold = folds(items, k, seed);
    let (mut n, mut suggested, mut abs, mut rel) = (0, 0, 0.0, 0.0);
    for f in 0..k {
        let mut model = Model::default();
        for (item, _) in items.iter().zip(&fold).filter(|(_, n)| **n != f) {
            model.learn(&item.product);
        }
        model.refresh_medians();
        for (item, _) in items.iter().zip(&fold).filter(|(_, n)| **n == f) {
            let Some(truth) = item.product.weight else {
                continue;
            };
            n += 1;
            let mut hidden = item.product.clone();
            hidden.weight = None;
            let (findings, _) = engine::validate(&hidden);
            let Some(finding) = findings.iter().find(|x| x.issue_type == "invalid_weight") else {
                continue;
            };
            if let Some(s) = model.suggest(&hidden, finding, 1).first()
                && let Ok(w) = s.value.parse::<f64>()
            {
                suggested += 1;
                abs += (w - truth).abs();
                rel += (w - truth).abs() / truth;
            }
        }
    }
    WeightScore {
        products: n,
        suggested,
        mean_abs_error: abs / suggested.max(1) as f64,
        mean_rel_error: rel / suggested.max(1) as f64,
    }
}

/// Checks of the descriptions the engine writes for products whose description is hidden.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DescriptionScore {
    /// Descriptions written.
    pub products: usize,
    /// Share that name the product's title.
    pub names_title: f64,
    /// Share that name every option value of the variants (every size and colour).
    pub names_options: f64,
    /// Share with no HTML tag or entity left.
    pub plain_text: f64,
    /// Share within every channel's description limit (the shortest: Amazon's 2,000).
    pub within_limits: f64,
    /// Mean length in characters.
    pub mean_chars: f64,
    /// Share of descriptions that differ from every other (not one text for all).
    pub distinct: f64,
}

/// Writes a description for every product with its own hidden.
pub fn descriptions(items: &[Item]) -> DescriptionScore {
    let mut s = DescriptionScore {
        products: items.len(),
        ..Default::default()
    };
    let mut texts = BTreeSet::new();
    let (mut title, mut options, mut plain, mut within, mut chars) = (0, 0, 0, 0, 0usize);
    for item in items {
        let mut hidden = item.product.clone();
        hidden.description.clear();
        let text = engine::generate_description(&hidden);
        title += usize::from(text.contains(engine::decode_entities(hidden.title.trim()).as_str()));
        let all_options = hidden
            .variants
            .iter()
            .flat_map(|v| v.options.values())
            .all(|o| text.contains(engine::decode_entities(o).as_str()));
        options += usize::from(all_options);
        plain += usize::from(!text.contains('<') && engine::decode_entities(&text) == text);
        within += usize::from(text.chars().count() <= engine::shortest_description_limit());
        chars += text.chars().count();
        texts.insert(text);
    }
    let n = items.len().max(1) as f64;
    s.names_title = title as f64 / n;
    s.names_options = options as f64 / n;
    s.plain_text = plain as f64 / n;
    s.within_limits = within as f64 / n;
    s.mean_chars = chars as f64 / n;
    s.distinct = texts.len() as f64 / n;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_and_line_breaks() {
        let rows = parse_csv("a,b,c\n1,\"x, \"\"y\"\"\nz\",3\r\n");
        assert_eq!(rows[0], vec!["a", "b", "c"]);
        assert_eq!(rows[1], vec!["1", "x, \"y\"\nz", "3"]);
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn folds_keep_groups_whole() {
        let item = |g: &str| Item {
            product: Product::default(),
            category: String::new(),
            group: g.into(),
            colors: BTreeMap::new(),
            materials: BTreeSet::new(),
        };
        let items: Vec<Item> = ["a", "b", "a", "c", "b", "d", "e", "a"]
            .iter()
            .map(|g| item(g))
            .collect();
        let f = folds(&items, 5, 7);
        for (i, x) in items.iter().enumerate() {
            for (j, y) in items.iter().enumerate() {
                if x.group == y.group {
                    assert_eq!(f[i], f[j]);
                }
            }
        }
        assert_eq!(f, folds(&items, 5, 7), "deterministic");
    }
}
