//! The category classifier of the built-in engine: a multinomial logistic regression over the
//! words of a product's title and description, its attributes and its variants' options,
//! trained on the tenant's own catalog (and so on every approved category correction, which
//! comes back as a corrected record).
//!
//! Features are sparse and L2-normalised: title words, the last one and two letters of the
//! title's first word (product lines are often named after people: "Mona Pullover Hoodie"), the
//! description's distinct words (a third of a title word's weight), `attribute=value` pairs and
//! `option=value` pairs of the variants. The sku is left out on purpose: a sku prefix often
//! names the category, and a classifier that learns it fails on any other sku scheme.
//!
//! Training is stochastic gradient descent with L2 regularisation and a decaying step,
//! deterministic (a fixed shuffle seed), and bounded: at most [`MAX_EXAMPLES`] examples (at
//! most [`MAX_PER_CLASS`] per category, the rest by reservoir sampling) and an operation
//! budget that lowers the number of epochs for a large catalog.

use std::collections::HashMap;

use marketsync_proto::v1::Product;

/// Examples kept for training.
pub const MAX_EXAMPLES: usize = 6_000;
/// Examples kept per category.
pub const MAX_PER_CLASS: usize = 400;
/// Multiply-adds one training may spend (about a tenth of a second).
const OPS_BUDGET: f64 = 1.5e8;
/// Passes over the examples when the budget allows.
const MAX_EPOCHS: usize = 100;
/// Passes at least.
const MIN_EPOCHS: usize = 3;
const L2: f32 = 1e-5;
const STEP: f32 = 2.0;
/// Weight of a description word against a title word.
const DESCRIPTION_WEIGHT: f32 = 0.3;

/// A sparse feature vector: (feature id, value), ids sorted, L2-normalised.
pub type Features = Vec<(u64, f32)>;

fn hash(kind: &str, text: &str) -> u64 {
    // FNV-1a: stable across runs and platforms (a std hasher's keys are not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind.bytes().chain([0xff]).chain(text.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Lower-case words of a text (letters, at least two), outside HTML tags and entities.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_tag = false;
    let mut in_entity = false;
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if word.chars().count() >= 2 {
            out.push(std::mem::take(word));
        } else {
            word.clear();
        }
    };
    for c in text.chars() {
        match c {
            '<' => {
                in_tag = true;
                flush(&mut word, &mut out);
            }
            '>' if in_tag => in_tag = false,
            '&' if !in_tag => {
                in_entity = true;
                flush(&mut word, &mut out);
            }
            ';' if in_entity => in_entity = false,
            _ if in_tag || in_entity => {
                if c.is_whitespace() {
                    in_entity = false;
                }
            }
            _ if c.is_alphabetic() || (c == '\'' && !word.is_empty()) => {
                word.extend(c.to_lowercase());
            }
            _ => flush(&mut word, &mut out),
        }
    }
    flush(&mut word, &mut out);
    for w in &mut out {
        while w.ends_with('\'') {
            w.pop();
        }
    }
    out
}

/// The classifier's features of a product (its categories are not looked at).
pub fn features(p: &Product) -> Features {
    let mut f: HashMap<u64, f32> = HashMap::new();
    let title = words(&p.title);
    for w in &title {
        *f.entry(hash("t", w)).or_default() += 1.0;
    }
    if let Some(first) = title.first() {
        let chars: Vec<char> = first.chars().collect();
        for n in 1..=2.min(chars.len()) {
            let suffix: String = chars[chars.len() - n..].iter().collect();
            *f.entry(hash(&format!("suffix{n}"), &suffix)).or_default() += 1.0;
        }
    }
    let mut seen = std::collections::HashSet::new();
    for w in words(&p.description) {
        if seen.insert(w.clone()) {
            *f.entry(hash("d", &w)).or_default() += DESCRIPTION_WEIGHT;
        }
    }
    for (k, v) in &p.attributes {
        for value in v
            .split(['|', '\n', ','])
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            let pair = format!("{}={}", k.to_lowercase(), value.to_lowercase());
            *f.entry(hash("a", &pair)).or_default() = 1.0;
        }
    }
    for v in &p.variants {
        for (k, value) in &v.options {
            let pair = format!("{}={}", k.to_lowercase(), value.trim().to_lowercase());
            *f.entry(hash("o", &pair)).or_default() = 1.0;
        }
    }
    let norm = f.values().map(|v| v * v).sum::<f32>().sqrt();
    let mut out: Features = f
        .into_iter()
        .map(|(k, v)| (k, if norm > 0.0 { v / norm } else { v }))
        .collect();
    out.sort_unstable_by_key(|(k, _)| *k);
    out
}

/// A trained model: one weight vector per category over the features seen in training.
#[derive(Debug, Clone, Default)]
pub struct Trained {
    classes: Vec<String>,
    /// feature id → its column in `weights`.
    vocab: HashMap<u64, usize>,
    /// `weights[column * classes + class]`.
    weights: Vec<f32>,
    bias: Vec<f32>,
}

/// A ranked guess.
#[derive(Debug, Clone, PartialEq)]
pub struct Guess {
    /// The category.
    pub category: String,
    /// Its probability under the model.
    pub probability: f64,
}

impl Trained {
    /// Trains on `(features, category)` examples.
    pub fn train(examples: &[(&Features, &str)]) -> Self {
        let mut classes: Vec<String> = examples.iter().map(|(_, c)| (*c).to_string()).collect();
        classes.sort();
        classes.dedup();
        let class_of: HashMap<&str, usize> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let mut vocab: HashMap<u64, usize> = HashMap::new();
        let rows: Vec<(Vec<(usize, f32)>, usize)> = examples
            .iter()
            .map(|(f, c)| {
                let cols = f
                    .iter()
                    .map(|(id, v)| {
                        let next = vocab.len();
                        (*vocab.entry(*id).or_insert(next), *v)
                    })
                    .collect();
                (cols, class_of[*c])
            })
            .collect();
        let k = classes.len();
        let mut model = Trained {
            weights: vec![0.0; vocab.len() * k],
            bias: vec![0.0; k],
            classes,
            vocab,
        };
        if k < 2 {
            return model;
        }
        let nnz: usize = rows.iter().map(|(r, _)| r.len()).sum();
        let per_epoch = (nnz * k * 2) as f64;
        let epochs = ((OPS_BUDGET / per_epoch.max(1.0)) as usize).clamp(MIN_EPOCHS, MAX_EPOCHS);
        let mut order: Vec<usize> = (0..rows.len()).collect();
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut scores = vec![0.0f32; k];
        for epoch in 0..epochs {
            // Fisher-Yates with xorshift: the same order on every run.
            for i in (1..order.len()).rev() {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                order.swap(i, (rng % (i as u64 + 1)) as usize);
            }
            let step = STEP / (1.0 + 0.1 * epoch as f32);
            for &i in &order {
                let (cols, label) = &rows[i];
                model.scores_into(cols, &mut scores);
                softmax(&mut scores);
                for (c, p) in scores.iter().enumerate() {
                    let g = p - if c == *label { 1.0 } else { 0.0 };
                    for (col, v) in cols {
                        let w = &mut model.weights[col * k + c];
                        *w -= step * (g * v + L2 * *w);
                    }
                    model.bias[c] -= step * g;
                }
            }
        }
        model
    }

    fn scores_into(&self, cols: &[(usize, f32)], out: &mut [f32]) {
        let k = self.classes.len();
        out.copy_from_slice(&self.bias);
        for (col, v) in cols {
            let row = &self.weights[col * k..col * k + k];
            for (o, w) in out.iter_mut().zip(row) {
                *o += w * v;
            }
        }
    }

    /// Whether there is anything to classify into.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The categories of `features`, most probable first.
    pub fn rank(&self, features: &Features) -> Vec<Guess> {
        if self.classes.is_empty() {
            return Vec::new();
        }
        let cols: Vec<(usize, f32)> = features
            .iter()
            .filter_map(|(id, v)| self.vocab.get(id).map(|c| (*c, *v)))
            .collect();
        let mut scores = vec![0.0f32; self.classes.len()];
        self.scores_into(&cols, &mut scores);
        softmax(&mut scores);
        let mut out: Vec<Guess> = self
            .classes
            .iter()
            .zip(scores)
            .map(|(c, p)| Guess {
                category: c.clone(),
                probability: f64::from(p),
            })
            .collect();
        out.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        out
    }
}

fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
}

/// The examples a tenant's catalog gives, bounded, with the model trained on them when asked.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    /// sku fingerprint → (features, category).
    examples: HashMap<u64, (Features, String)>,
    /// Per category: the skus of its examples and how many it was offered.
    classes: HashMap<String, Bag>,
    /// Examples added or replaced since the last training.
    changed: usize,
    trained: Trained,
}

#[derive(Debug, Clone, Default)]
struct Bag {
    skus: Vec<u64>,
    offered: u64,
}

impl Classifier {
    /// Examples a category keeps: [`MAX_PER_CLASS`], fewer when many categories share
    /// [`MAX_EXAMPLES`] (at least 20).
    fn cap(&self) -> usize {
        (MAX_EXAMPLES / self.classes.len().max(1)).clamp(20, MAX_PER_CLASS)
    }

    /// Learns a product's category (a re-synced sku replaces its example: a corrected category
    /// teaches the classifier). Past a category's cap, the n-th product offered replaces one
    /// of its kept examples with probability cap / n (reservoir sampling), so the examples
    /// stay a uniform sample and features are computed only for the ones kept.
    pub fn learn(&mut self, sku: u64, p: &Product, category: &str) {
        if let Some((_, old)) = self.examples.get(&sku) {
            if old == category {
                return;
            }
            let old = old.clone();
            if let Some(bag) = self.classes.get_mut(&old) {
                bag.skus.retain(|s| *s != sku);
            }
            self.examples.remove(&sku);
        }
        let cap = self.cap();
        let bag = self.classes.entry(category.to_string()).or_default();
        bag.offered += 1;
        if bag.skus.len() >= cap {
            let mut x = sku ^ bag.offered.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            x ^= x >> 29;
            x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x ^= x >> 32;
            let slot = (x % bag.offered) as usize;
            if slot >= bag.skus.len() {
                return;
            }
            let victim = std::mem::replace(&mut bag.skus[slot], sku);
            self.examples.remove(&victim);
        } else {
            bag.skus.push(sku);
        }
        self.examples
            .insert(sku, (features(p), category.to_string()));
        self.changed += 1;
    }

    /// Examples kept.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// Whether nothing was learned.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// Whether enough changed since the last training to train again (a tenth of the
    /// examples, or anything before the first training).
    pub fn stale(&self) -> bool {
        self.changed > 0 && (self.trained.is_empty() || self.changed * 10 >= self.examples.len())
    }

    /// Trains on the kept examples.
    pub fn train(&mut self) {
        // HashMap order is random per process: in sku order, the same model on every run.
        let mut keyed: Vec<(&u64, &(Features, String))> = self.examples.iter().collect();
        keyed.sort_unstable_by_key(|(sku, _)| **sku);
        let examples: Vec<(&Features, &str)> =
            keyed.iter().map(|(_, (f, c))| (f, c.as_str())).collect();
        self.trained = Trained::train(&examples);
        self.changed = 0;
    }

    /// The categories of a product, most probable first (empty before any training).
    pub fn rank(&self, p: &Product) -> Vec<Guess> {
        self.trained.rank(&features(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketsync_proto::v1::Variant;

    fn product(title: &str, description: &str, size: &str) -> Product {
        Product {
            sku: title.to_string(),
            title: title.into(),
            description: description.into(),
            variants: vec![Variant {
                sku: format!("{title}-{size}"),
                options: [("size".to_string(), size.to_string())].into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn words_skip_markup_and_entities() {
        assert_eq!(
            words("<p>LumaTech&trade; fabric, men's <b>tee</b> x</p>"),
            vec!["lumatech", "fabric", "men's", "tee"]
        );
    }

    #[test]
    fn learns_categories_from_words_and_options() {
        let mut c = Classifier::default();
        let data = [
            (
                "Atlas Running Short",
                "light shorts for running",
                "32",
                "Men/Bottoms/Shorts",
            ),
            (
                "Boreas Trail Short",
                "shorts with pockets",
                "34",
                "Men/Bottoms/Shorts",
            ),
            (
                "Clara Running Short",
                "light shorts for running",
                "28",
                "Women/Bottoms/Shorts",
            ),
            (
                "Diana Yoga Short",
                "stretchy shorts",
                "29",
                "Women/Bottoms/Shorts",
            ),
            (
                "Eos Hooded Jacket",
                "a warm jacket with hood",
                "M",
                "Men/Tops/Jackets",
            ),
            (
                "Fiona Rain Jacket",
                "a rain jacket",
                "S",
                "Women/Tops/Jackets",
            ),
        ];
        for (i, (t, d, s, cat)) in data.iter().enumerate() {
            c.learn(i as u64, &product(t, d, s), cat);
        }
        assert!(c.stale());
        c.train();
        assert!(!c.stale());
        let guess = c.rank(&product("Gaia Gym Short", "shorts for the gym", "28"));
        assert_eq!(guess[0].category, "Women/Bottoms/Shorts", "{guess:?}");
        let sum: f64 = guess.iter().map(|g| g.probability).sum();
        assert!((sum - 1.0).abs() < 1e-3);
        let guess = c.rank(&product("Helios Storm Jacket", "a jacket for rain", "L"));
        assert!(guess[0].category.ends_with("Jackets"), "{guess:?}");
        // A corrected category replaces the sku's example.
        c.learn(
            0,
            &product("Atlas Running Short", "", "32"),
            "Men/Bottoms/Pants",
        );
        assert_eq!(c.len(), data.len());
        assert!(c.stale());
    }

    #[test]
    fn the_kept_examples_stay_bounded() {
        let mut c = Classifier::default();
        for i in 0..(MAX_PER_CLASS as u64 + 50) {
            c.learn(i, &product(&format!("Tee {i}"), "", "M"), "Tees");
        }
        assert_eq!(c.len(), MAX_PER_CLASS);
    }
}
