//! Attribute extraction of the built-in engine: colour, material and size found in a product's
//! title and description, with a lexicon of common values that grows with the values the
//! tenant's catalog uses (its attributes and its variants' options).
//!
//! Matching is on whole words, case-insensitive, longest phrase first ("organic cotton" wins
//! over "cotton"), ignoring trademark signs and HTML; the title is trusted over the description
//! for colour and size (a description names the trim's colours too).

use std::collections::{BTreeMap, BTreeSet};

use marketsync_proto::v1::Product;

/// The attributes extracted, under their canonical names.
pub const ATTRIBUTES: &[&str] = &["color", "material", "size"];

/// Names platforms and catalogs give each attribute (lower case).
fn aliases(attribute: &str) -> &'static [&'static str] {
    match attribute {
        "color" => &["color", "colour", "farbe", "couleur"],
        "material" => &["material", "fabric", "composition", "matière", "matiere"],
        "size" => &["size", "taille", "größe", "grosse"],
        _ => &[],
    }
}

/// The canonical attribute a platform's attribute name stands for.
pub fn canonical(name: &str) -> Option<&'static str> {
    let lower = name.trim().to_lowercase();
    ATTRIBUTES
        .iter()
        .copied()
        .find(|a| aliases(a).contains(&lower.as_str()))
}

const COLORS: &[&str] = &[
    "black",
    "white",
    "gray",
    "grey",
    "silver",
    "red",
    "blue",
    "navy",
    "green",
    "olive",
    "yellow",
    "orange",
    "purple",
    "violet",
    "lavender",
    "pink",
    "brown",
    "beige",
    "tan",
    "khaki",
    "gold",
    "teal",
    "turquoise",
    "burgundy",
    "maroon",
    "cream",
    "ivory",
    "charcoal",
];

const MATERIALS: &[&str] = &[
    "cotton",
    "organic cotton",
    "polyester",
    "recycled polyester",
    "nylon",
    "wool",
    "merino wool",
    "cashmere",
    "silk",
    "linen",
    "hemp",
    "bamboo",
    "rayon",
    "viscose",
    "modal",
    "spandex",
    "elastane",
    "lycra",
    "fleece",
    "denim",
    "leather",
    "faux leather",
    "suede",
    "canvas",
    "mesh",
    "jersey",
    "microfiber",
    "acrylic",
    "down",
    "rubber",
    "plastic",
    "foam",
    "stainless steel",
    "steel",
    "aluminum",
    "aluminium",
    "titanium",
    "glass",
    "wood",
    "ceramic",
    "neoprene",
    "tencel",
];

const SIZES: &[&str] = &[
    "xxs", "xs", "s", "m", "l", "xl", "xxl", "xxxl", "2xl", "3xl", "small", "medium", "large",
    "x-large", "one size",
];

/// Known values per attribute: normalised phrase → the value as the catalog writes it.
#[derive(Debug, Clone)]
pub struct Lexicon {
    values: BTreeMap<&'static str, BTreeMap<String, String>>,
}

impl Default for Lexicon {
    fn default() -> Self {
        let mut l = Lexicon {
            values: BTreeMap::new(),
        };
        for (attribute, list) in [("color", COLORS), ("material", MATERIALS), ("size", SIZES)] {
            for v in list {
                // Letter sizes in capitals (XS, 2XL), words capitalised.
                let written = if attribute == "size" && v.len() <= 4 {
                    v.to_uppercase()
                } else {
                    capitalise(v)
                };
                l.add(attribute, &written);
            }
        }
        l
    }
}

/// Lower case, without marks (™ ®, HTML entities) and punctuation, single spaces.
pub fn normalise(text: &str) -> String {
    let text = text
        .replace("&trade;", " ")
        .replace("&reg;", " ")
        .replace("&amp;", " and ")
        .replace("&nbsp;", " ");
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            _ if in_tag => {}
            _ if c.is_alphanumeric() => out.extend(c.to_lowercase()),
            '\'' => out.push(c),
            _ => out.push(' '),
        }
    }
    let mut squeezed = String::with_capacity(out.len());
    let mut space = false;
    for c in out.chars() {
        if c == ' ' {
            if !space {
                squeezed.push(' ');
            }
            space = true;
        } else {
            squeezed.push(c);
            space = false;
        }
    }
    if !squeezed.ends_with(' ') {
        squeezed.push(' ');
    }
    squeezed
}

fn capitalise(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Lexicon {
    /// Adds a value of an attribute (as the catalog writes it).
    pub fn add(&mut self, attribute: &str, value: &str) {
        let Some(attribute) = canonical(attribute) else {
            return;
        };
        let key = normalise(value).trim().to_string();
        if key.is_empty() || key.len() > 40 {
            return;
        }
        let clean = value
            .replace("&trade;", "")
            .replace("&reg;", "")
            .replace(['™', '®'], "");
        self.values
            .entry(attribute)
            .or_default()
            .insert(key, clean.trim().to_string());
    }

    /// Learns the values a product's attributes and variant options use.
    pub fn learn(&mut self, p: &Product) {
        for (k, v) in &p.attributes {
            if canonical(k).is_some() {
                for value in v.split(['|', ',', '\n']).filter(|v| !v.trim().is_empty()) {
                    self.add(k, value);
                }
            }
        }
        for variant in &p.variants {
            for (k, v) in &variant.options {
                self.add(k, v);
            }
        }
    }

    /// The values of `attribute` a text names, longest phrases first, as the catalog writes
    /// them (without repeats).
    pub fn find(&self, attribute: &str, text: &str) -> Vec<String> {
        let Some(values) = canonical(attribute).and_then(|a| self.values.get(a)) else {
            return Vec::new();
        };
        let mut text = normalise(text);
        let mut by_length: Vec<(&String, &String)> = values.iter().collect();
        by_length.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(b.0)));
        let mut found = Vec::new();
        let mut seen = BTreeSet::new();
        for (key, value) in by_length {
            let needle = format!(" {key} ");
            let blank = " ".repeat(needle.len());
            let mut first = None;
            // Blank every match so a shorter phrase inside it does not match again.
            while let Some(at) = text.find(&needle) {
                text.replace_range(at..at + needle.len(), &blank);
                first.get_or_insert(at);
            }
            if let Some(at) = first
                && seen.insert(value.to_lowercase())
            {
                found.push((at, value.clone()));
            }
        }
        found.sort();
        found.into_iter().map(|(_, v)| v).collect()
    }

    /// The values of `attribute` for a product: from the title when it names any (colour and
    /// size), else from the title and description.
    pub fn extract(&self, attribute: &str, p: &Product) -> Vec<String> {
        let title = self.find(attribute, &p.title);
        if !title.is_empty() && canonical(attribute) != Some("material") {
            return title;
        }
        self.find(attribute, &format!("{}\n{}", p.title, p.description))
    }
}

/// The attributes a product lacks (none among its attributes or variant options) but whose
/// values its title or description name: (attribute, values found).
pub fn missing(lexicon: &Lexicon, p: &Product) -> Vec<(&'static str, Vec<String>)> {
    let has = |a: &str| {
        p.attributes
            .iter()
            .any(|(k, v)| canonical(k) == Some(a) && !v.trim().is_empty())
            || p.variants
                .iter()
                .any(|v| v.options.keys().any(|k| canonical(k) == Some(a)))
    };
    ATTRIBUTES
        .iter()
        .copied()
        .filter(|a| !has(a))
        .map(|a| (a, lexicon.extract(a, p)))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(title: &str, description: &str) -> Product {
        Product {
            title: title.into(),
            description: description.into(),
            ..Default::default()
        }
    }

    #[test]
    fn finds_whole_words_longest_first() {
        let l = Lexicon::default();
        let p = product(
            "Chaz Hoodie-XS-Black",
            "<p>Organic cotton with a polyester lining; red piping.</p>",
        );
        assert_eq!(l.extract("color", &p), vec!["Black"]);
        assert_eq!(l.extract("size", &p), vec!["XS"]);
        assert_eq!(
            l.extract("material", &p),
            vec!["Organic Cotton", "Polyester"]
        );
        // "tan" inside "tank", "s" inside words: never.
        assert!(l.find("color", "a tank top").is_empty());
        assert!(l.find("size", "sleeves").is_empty());
        // The description's colours count when the title names none.
        assert_eq!(
            l.extract("color", &product("Tee", "in navy blue")),
            vec!["Navy", "Blue"]
        );
    }

    #[test]
    fn the_catalog_teaches_its_own_values() {
        let mut l = Lexicon::default();
        let mut p = product("Jacket", "");
        p.attributes
            .insert("material".into(), "LumaTech&trade;|Nylon".into());
        l.learn(&p);
        assert_eq!(
            l.extract(
                "material",
                &product("Proteus Jacket", "Made of LumaTech™ fabric")
            ),
            vec!["LumaTech"]
        );
        assert_eq!(canonical("Colour"), Some("color"));
        assert_eq!(canonical("weight"), None);
    }

    #[test]
    fn missing_attributes_are_the_ones_the_text_names() {
        let l = Lexicon::default();
        let mut p = product("Merino Wool Beanie in Gray", "Soft merino wool.");
        p.attributes.insert("color".into(), "Gray".into());
        assert_eq!(
            missing(&l, &p),
            vec![("material", vec!["Merino Wool".to_string()])]
        );
    }
}
