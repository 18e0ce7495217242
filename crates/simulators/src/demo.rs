//! Deterministic demo data: an apparel and outdoor-gear catalog with variants, stock in two
//! warehouses, orders with (fake) buyers, and a known share of listing defects.
//!
//! The same seed always gives the same data. Defects are placed on exact counts
//! ([`DefectCounts::expected`]) so tests can assert what validation must find:
//! about 10% of products miss a description, 8% a brand, 8% a category, 5% have an invalid
//! weight (0 or negative) and 5% a badly formatted price (three decimals, e.g. `19.999`).

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::rng::Rng;

/// Warehouse (location) codes every demo product is stocked in.
pub const WAREHOUSES: [&str; 2] = ["WH-EAST", "WH-WEST"];

/// One demo product. Empty strings mean "missing" (a defect, where the field is required).
#[derive(Debug, Clone, PartialEq)]
pub struct DemoProduct {
    /// Stock keeping unit of the product (variants have their own).
    pub sku: String,
    /// Title, e.g. "Aurora Merino Hoodie".
    pub name: String,
    /// HTML description; empty when missing.
    pub description: String,
    /// Brand name; empty when missing.
    pub brand: String,
    /// Category path such as "Men/Tops/Hoodies"; empty when the product has no category.
    pub category: String,
    /// Weight in kilograms; 0 or negative is a defect.
    pub weight: f64,
    /// Width in centimetres.
    pub width: f64,
    /// Height in centimetres.
    pub height: f64,
    /// Depth in centimetres.
    pub depth: f64,
    /// Price as decimal text in the catalog currency, e.g. "49.90"; three decimals is a defect.
    pub price: String,
    /// EAN-13 with a valid check digit.
    pub gtin: String,
    /// Image URLs, main image first.
    pub images: Vec<String>,
    /// Whether the product is visible in the storefront.
    pub visible: bool,
    /// Names of the variant options, e.g. `["Size", "Colour"]`; empty without variants.
    pub options: Vec<String>,
    /// Variants (size/colour combinations); empty for a simple product.
    pub variants: Vec<DemoVariant>,
    /// Stock per warehouse of a simple product (variants carry their own).
    pub stock: Vec<DemoStock>,
    /// When the product was created.
    pub created_at: DateTime<Utc>,
    /// When the product was last modified.
    pub modified_at: DateTime<Utc>,
}

/// One variant of a demo product.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoVariant {
    /// Variant sku, e.g. "HOOD-00012-M-BLK".
    pub sku: String,
    /// (option name, value) pairs, in the product's option order.
    pub options: Vec<(String, String)>,
    /// Own price as decimal text, `None` to inherit the product's.
    pub price: Option<String>,
    /// EAN-13 of the variant.
    pub gtin: String,
    /// Stock per warehouse.
    pub stock: Vec<DemoStock>,
}

/// Quantity on hand of one sku in one warehouse.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoStock {
    /// Warehouse code (one of [`WAREHOUSES`]).
    pub warehouse: String,
    /// Units on hand.
    pub on_hand: i64,
}

/// A person with an address (all fake).
#[derive(Debug, Clone, PartialEq)]
pub struct DemoParty {
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Company, often empty.
    pub company: String,
    /// E-mail address (example.com).
    pub email: String,
    /// Phone number (555 range).
    pub phone: String,
    /// Street and number.
    pub street: String,
    /// City.
    pub city: String,
    /// State or region.
    pub state: String,
    /// Postal code.
    pub zip: String,
    /// Country name.
    pub country: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country_iso2: String,
}

/// One line of a demo order.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOrderLine {
    /// Index of the product in the catalog.
    pub product: usize,
    /// Index of the variant in the product, if it has variants.
    pub variant: Option<usize>,
    /// Sku sold.
    pub sku: String,
    /// Product title.
    pub name: String,
    /// Units ordered.
    pub quantity: i64,
    /// Unit price as decimal text.
    pub unit_price: String,
}

/// A demo order.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOrder {
    /// Canonical status: `pending`, `awaiting_fulfillment`, `shipped`, `completed` or `cancelled`.
    pub status: String,
    /// Buyer, with the billing address.
    pub buyer: DemoParty,
    /// Where to ship.
    pub shipping: DemoParty,
    /// Lines.
    pub lines: Vec<DemoOrderLine>,
    /// When the order was placed.
    pub created_at: DateTime<Utc>,
}

/// How many products carry each kind of defect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefectCounts {
    /// Products in the catalog.
    pub products: usize,
    /// Products without a description (about 10%).
    pub missing_description: usize,
    /// Products without a brand (about 8%).
    pub missing_brand: usize,
    /// Products without a category (about 8%).
    pub missing_category: usize,
    /// Products whose weight is 0 or negative (about 5%).
    pub invalid_weight: usize,
    /// Products whose price has more than two decimals (about 5%).
    pub bad_price: usize,
}

impl DefectCounts {
    /// The counts [`catalog`] places for `products` products (each share rounded half up).
    pub fn expected(products: usize) -> Self {
        let share = |percent: usize| (products * percent + 50) / 100;
        Self {
            products,
            missing_description: share(10),
            missing_brand: share(8),
            missing_category: share(8),
            invalid_weight: share(5),
            bad_price: share(5),
        }
    }

    /// Counts the defects actually present in `products`.
    pub fn of(products: &[DemoProduct]) -> Self {
        let count = |f: &dyn Fn(&DemoProduct) -> bool| products.iter().filter(|p| f(p)).count();
        Self {
            products: products.len(),
            missing_description: count(&|p| p.description.trim().is_empty()),
            missing_brand: count(&|p| p.brand.trim().is_empty()),
            missing_category: count(&|p| p.category.trim().is_empty()),
            invalid_weight: count(&|p| p.weight <= 0.0),
            bad_price: count(&|p| decimals(&p.price) > 2),
        }
    }
}

/// Number of decimals written in a decimal text ("19.999" → 3, "10" → 0).
pub fn decimals(text: &str) -> usize {
    text.split_once('.').map_or(0, |(_, frac)| frac.len())
}

/// Decimal text → ten-thousandths (4 implied decimals), e.g. "19.9" → 199000.
pub fn to_units(text: &str) -> i64 {
    let text = text.trim();
    let (neg, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let whole: i64 = whole.parse().unwrap_or(0);
    let mut frac4: String = frac.chars().take(4).collect();
    while frac4.len() < 4 {
        frac4.push('0');
    }
    let value = whole * 10_000 + frac4.parse::<i64>().unwrap_or(0);
    if neg { -value } else { value }
}

/// Ten-thousandths → decimal text with four decimals, e.g. 199000 → "19.9000".
pub fn from_units(units: i64) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let u = units.unsigned_abs();
    format!("{sign}{}.{:04}", u / 10_000, u % 10_000)
}

struct Template {
    noun: &'static str,
    code: &'static str,
    categories: &'static [&'static str],
    price: (i64, i64),
    grams: (i64, i64),
    dims: (f64, f64, f64),
    sizes: &'static [&'static str],
    colours: bool,
    blurb: &'static str,
}

const TEMPLATES: &[Template] = &[
    Template {
        noun: "Hoodie",
        code: "HOOD",
        categories: &["Men/Tops/Hoodies", "Women/Tops/Hoodies"],
        price: (49, 89),
        grams: (450, 750),
        dims: (30.0, 5.0, 40.0),
        sizes: &["S", "M", "L", "XL"],
        colours: true,
        blurb: "A warm, breathable hoodie with a brushed interior and a roomy kangaroo pocket.",
    },
    Template {
        noun: "T-Shirt",
        code: "TEE",
        categories: &["Men/Tops/T-Shirts", "Women/Tops/T-Shirts"],
        price: (19, 39),
        grams: (140, 220),
        dims: (25.0, 2.0, 35.0),
        sizes: &["XS", "S", "M", "L", "XL"],
        colours: true,
        blurb: "An everyday tee that wicks moisture and keeps its shape wash after wash.",
    },
    Template {
        noun: "Jacket",
        code: "JKT",
        categories: &["Men/Outerwear/Jackets", "Women/Outerwear/Jackets"],
        price: (99, 229),
        grams: (380, 900),
        dims: (35.0, 8.0, 45.0),
        sizes: &["S", "M", "L", "XL"],
        colours: true,
        blurb: "A wind- and water-resistant jacket with taped seams and an adjustable hood.",
    },
    Template {
        noun: "Leggings",
        code: "LEG",
        categories: &["Women/Bottoms/Leggings"],
        price: (39, 79),
        grams: (180, 260),
        dims: (20.0, 3.0, 30.0),
        sizes: &["XS", "S", "M", "L"],
        colours: true,
        blurb: "High-rise leggings with four-way stretch and a hidden waistband pocket.",
    },
    Template {
        noun: "Hiking Pants",
        code: "PNT",
        categories: &["Men/Bottoms/Pants", "Women/Bottoms/Pants"],
        price: (59, 119),
        grams: (300, 480),
        dims: (30.0, 4.0, 40.0),
        sizes: &["S", "M", "L", "XL"],
        colours: true,
        blurb: "Durable trail pants with articulated knees and zip-off lower legs.",
    },
    Template {
        noun: "Backpack",
        code: "BAG",
        categories: &["Gear/Bags/Backpacks"],
        price: (69, 179),
        grams: (700, 1400),
        dims: (32.0, 20.0, 52.0),
        sizes: &[],
        colours: true,
        blurb: "A 28-litre daypack with a ventilated back panel and a padded laptop sleeve.",
    },
    Template {
        noun: "Water Bottle",
        code: "BTL",
        categories: &["Gear/Hydration"],
        price: (19, 39),
        grams: (250, 420),
        dims: (8.0, 8.0, 26.0),
        sizes: &[],
        colours: true,
        blurb: "A double-walled stainless bottle that keeps drinks cold for 24 hours.",
    },
    Template {
        noun: "Beanie",
        code: "BNE",
        categories: &["Accessories/Hats"],
        price: (19, 35),
        grams: (60, 110),
        dims: (20.0, 2.0, 22.0),
        sizes: &[],
        colours: true,
        blurb: "A rib-knit beanie, soft against the skin and warm on windy ridges.",
    },
    Template {
        noun: "Trail Socks",
        code: "SCK",
        categories: &["Accessories/Socks"],
        price: (14, 26),
        grams: (50, 90),
        dims: (10.0, 2.0, 20.0),
        sizes: &["S", "M", "L"],
        colours: false,
        blurb: "Cushioned crew socks with arch support and a seamless toe.",
    },
    Template {
        noun: "Sleeping Bag",
        code: "SLP",
        categories: &["Gear/Camping"],
        price: (129, 299),
        grams: (900, 1800),
        dims: (25.0, 25.0, 45.0),
        sizes: &[],
        colours: false,
        blurb: "A three-season mummy bag rated to -5 °C with a draft collar.",
    },
    Template {
        noun: "Headlamp",
        code: "LMP",
        categories: &["Gear/Camping"],
        price: (24, 59),
        grams: (70, 120),
        dims: (7.0, 5.0, 4.0),
        sizes: &[],
        colours: false,
        blurb: "A rechargeable 400-lumen headlamp with red night mode.",
    },
];

const ADJECTIVES: &[&str] = &[
    "Aurora", "Summit", "Ridge", "Glacier", "Canyon", "Harbor", "Timber", "Nova", "Drift", "Ember",
    "Cascade", "Boreal",
];
const MATERIALS: &[&str] = &[
    "Merino",
    "Fleece",
    "Cotton",
    "Softshell",
    "Recycled",
    "Ultralight",
    "Organic",
    "Thermal",
];
const BRANDS: &[&str] = &[
    "Northpeak",
    "Aurora Outfitters",
    "Trailforge",
    "Bluewater",
    "Cedar & Pine",
    "Summit Supply",
    "Urban Nomad",
    "Kestrel",
];
const COLOURS: &[(&str, &str)] = &[
    ("Black", "BLK"),
    ("Navy", "NVY"),
    ("Forest Green", "GRN"),
    ("Heather Grey", "GRY"),
    ("Rust", "RST"),
    ("Sand", "SND"),
];
const FIRST_NAMES: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Mason", "Sophia", "Lucas", "Mia", "Ethan", "Harper",
    "Elijah",
];
const LAST_NAMES: &[&str] = &[
    "Johnson", "Martinez", "Nguyen", "Smith", "Brown", "Garcia", "Walker", "Kim", "Patel",
    "Robinson", "Clark", "Lewis",
];
const STREETS: &[&str] = &[
    "Maple Avenue",
    "Oak Street",
    "Pine Road",
    "Lakeview Drive",
    "Cedar Lane",
    "Hillcrest Boulevard",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Austin", "Texas", "78701"),
    ("Denver", "Colorado", "80202"),
    ("Portland", "Oregon", "97205"),
    ("Boston", "Massachusetts", "02108"),
    ("Madison", "Wisconsin", "53703"),
    ("Asheville", "North Carolina", "28801"),
];

fn ean13(rng: &mut Rng) -> String {
    let mut digits: Vec<u32> = vec![0, 6, 1, 4, 1, 4, 1];
    for _ in 0..5 {
        digits.push(rng.below(10) as u32);
    }
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
        .sum();
    digits.push((10 - sum % 10) % 10);
    digits.iter().map(|d| char::from(b'0' + *d as u8)).collect()
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn stock(rng: &mut Rng) -> Vec<DemoStock> {
    vec![
        DemoStock {
            warehouse: WAREHOUSES[0].into(),
            on_hand: rng.range(0, 120),
        },
        DemoStock {
            warehouse: WAREHOUSES[1].into(),
            on_hand: rng.range(0, 80),
        },
    ]
}

/// A catalog of `products` products generated from `seed`, with the defects of
/// [`DefectCounts::expected`].
pub fn catalog(seed: u64, products: usize) -> Vec<DemoProduct> {
    let mut rng = Rng::new(seed);
    let mut names = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(products);
    for i in 0..products {
        let t = rng.pick(TEMPLATES);
        let adjective = *rng.pick(ADJECTIVES);
        let material = *rng.pick(MATERIALS);
        let mut name = format!("{adjective} {material} {}", t.noun);
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{adjective} {material} {} {n}", t.noun);
            n += 1;
        }
        names.insert(name.clone());
        let sku = format!("{}-{:05}", t.code, i + 1);
        let cents = *rng.pick(&[0i64, 50, 90, 95, 99]);
        let price = format!("{}.{cents:02}", rng.range(t.price.0, t.price.1));
        let weight = rng.range(t.grams.0, t.grams.1) as f64 / 1000.0;
        let brand = (*rng.pick(BRANDS)).to_string();
        let category = (*rng.pick(t.categories)).to_string();
        let description = format!(
            "<p>{} The {name} by {brand} is built for long days outdoors and easy days in town.</p>",
            t.blurb
        );
        let mut options = Vec::new();
        if !t.sizes.is_empty() {
            options.push("Size".to_string());
        }
        if t.colours {
            options.push("Colour".to_string());
        }
        let sizes: Vec<&str> = t.sizes.to_vec();
        let colours: Vec<(&str, &str)> = if t.colours {
            let k = 2 + rng.below(2);
            rng.sample(COLOURS.len(), k)
                .into_iter()
                .map(|c| COLOURS[c])
                .collect()
        } else {
            Vec::new()
        };
        let mut variants = Vec::new();
        let size_axis: Vec<Option<&str>> = if sizes.is_empty() {
            vec![None]
        } else {
            sizes.iter().map(|s| Some(*s)).collect()
        };
        let colour_axis: Vec<Option<(&str, &str)>> = if colours.is_empty() {
            vec![None]
        } else {
            colours.iter().map(|c| Some(*c)).collect()
        };
        if !options.is_empty() {
            for size in &size_axis {
                for colour in &colour_axis {
                    let mut vsku = sku.clone();
                    let mut opts = Vec::new();
                    if let Some(s) = size {
                        vsku.push('-');
                        vsku.push_str(s);
                        opts.push(("Size".to_string(), (*s).to_string()));
                    }
                    if let Some((label, code)) = colour {
                        vsku.push('-');
                        vsku.push_str(code);
                        opts.push(("Colour".to_string(), (*label).to_string()));
                    }
                    let price = (*size == Some("XL"))
                        .then(|| from_units(to_units(&price) + 50_000))
                        .map(|p| p.trim_end_matches('0').trim_end_matches('.').to_string());
                    variants.push(DemoVariant {
                        sku: vsku,
                        options: opts,
                        price,
                        gtin: ean13(&mut rng),
                        stock: stock(&mut rng),
                    });
                }
            }
        }
        let created_at = base_time() + Duration::hours(i as i64 * 7);
        let modified_at = created_at + Duration::days(rng.range(1, 60));
        out.push(DemoProduct {
            images: (1..=1 + rng.below(3))
                .map(|k| format!("https://cdn.example.com/marketsync-demo/{sku}-{k}.jpg"))
                .collect(),
            stock: if variants.is_empty() {
                stock(&mut rng)
            } else {
                Vec::new()
            },
            gtin: ean13(&mut rng),
            visible: !rng.chance(5),
            sku,
            name,
            description,
            brand,
            category,
            weight,
            width: t.dims.0,
            height: t.dims.1,
            depth: t.dims.2,
            price,
            options,
            variants,
            created_at,
            modified_at,
        });
    }
    let want = DefectCounts::expected(products);
    for i in rng.sample(products, want.missing_description) {
        out[i].description.clear();
    }
    for i in rng.sample(products, want.missing_brand) {
        out[i].brand.clear();
    }
    for i in rng.sample(products, want.missing_category) {
        out[i].category.clear();
    }
    for (k, i) in rng
        .sample(products, want.invalid_weight)
        .into_iter()
        .enumerate()
    {
        out[i].weight = if k % 2 == 0 { 0.0 } else { -0.5 };
    }
    for i in rng.sample(products, want.bad_price) {
        let p = &mut out[i];
        let whole = to_units(&p.price) / 10_000;
        p.price = format!("{}.999", whole.max(1) - 1);
        for v in &mut p.variants {
            v.price = None;
        }
    }
    out
}

fn party(rng: &mut Rng) -> DemoParty {
    let first = *rng.pick(FIRST_NAMES);
    let last = *rng.pick(LAST_NAMES);
    let (city, state, zip) = *rng.pick(CITIES);
    DemoParty {
        first_name: first.into(),
        last_name: last.into(),
        company: if rng.chance(15) {
            format!("{last} Outdoor Co.")
        } else {
            String::new()
        },
        email: format!(
            "{}.{}{}@example.com",
            first.to_lowercase(),
            last.to_lowercase(),
            rng.below(100)
        ),
        phone: format!("+1-555-01{:02}", rng.below(100)),
        street: format!("{} {}", rng.range(10, 9999), rng.pick(STREETS)),
        city: city.into(),
        state: state.into(),
        zip: zip.into(),
        country: "United States".into(),
        country_iso2: "US".into(),
    }
}

/// `count` orders of products of `catalog`, generated from `seed`.
pub fn orders(seed: u64, catalog: &[DemoProduct], count: usize) -> Vec<DemoOrder> {
    let mut rng = Rng::new(seed.wrapping_add(0x0BAD_5EED));
    if catalog.is_empty() {
        return Vec::new();
    }
    let statuses = [
        "awaiting_fulfillment",
        "awaiting_fulfillment",
        "pending",
        "shipped",
        "completed",
        "cancelled",
    ];
    (0..count)
        .map(|i| {
            let buyer = party(&mut rng);
            let shipping = if rng.chance(80) {
                buyer.clone()
            } else {
                party(&mut rng)
            };
            let lines = (0..1 + rng.below(3))
                .map(|_| {
                    let product = rng.below(catalog.len());
                    let p = &catalog[product];
                    let variant = (!p.variants.is_empty()).then(|| rng.below(p.variants.len()));
                    let (sku, price) = match variant {
                        Some(v) => (
                            p.variants[v].sku.clone(),
                            p.variants[v]
                                .price
                                .clone()
                                .unwrap_or_else(|| p.price.clone()),
                        ),
                        None => (p.sku.clone(), p.price.clone()),
                    };
                    DemoOrderLine {
                        product,
                        variant,
                        sku,
                        name: p.name.clone(),
                        quantity: 1 + rng.below(3) as i64,
                        unit_price: price,
                    }
                })
                .collect();
            DemoOrder {
                status: (*rng.pick(&statuses)).to_string(),
                buyer,
                shipping,
                lines,
                created_at: base_time() + Duration::days(90) + Duration::hours(i as i64 * 5),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic() {
        assert_eq!(catalog(7, 40), catalog(7, 40));
        assert_ne!(catalog(7, 40), catalog(8, 40));
    }

    #[test]
    fn defects_are_exact() {
        for n in [0, 1, 10, 37, 100, 250] {
            let c = catalog(42, n);
            assert_eq!(DefectCounts::of(&c), DefectCounts::expected(n), "n={n}");
        }
        let e = DefectCounts::expected(100);
        assert_eq!(
            (
                e.missing_description,
                e.missing_brand,
                e.missing_category,
                e.invalid_weight,
                e.bad_price
            ),
            (10, 8, 8, 5, 5)
        );
    }

    #[test]
    fn realistic_catalog() {
        let c = catalog(1, 60);
        let skus: std::collections::BTreeSet<_> = c
            .iter()
            .flat_map(|p| {
                std::iter::once(p.sku.clone()).chain(p.variants.iter().map(|v| v.sku.clone()))
            })
            .collect();
        let total: usize = c.iter().map(|p| 1 + p.variants.len()).sum();
        assert_eq!(skus.len(), total, "skus are unique");
        let names: std::collections::BTreeSet<_> = c.iter().map(|p| &p.name).collect();
        assert_eq!(names.len(), c.len(), "names are unique");
        assert!(c.iter().any(|p| p.variants.len() >= 6));
        assert!(c.iter().any(|p| p.variants.is_empty()));
        for p in &c {
            assert_eq!(p.gtin.len(), 13);
            for v in &p.variants {
                assert_eq!(v.stock.len(), 2);
            }
        }
    }

    #[test]
    fn units_round_trip() {
        assert_eq!(to_units("19.9"), 199_000);
        assert_eq!(to_units("10"), 100_000);
        assert_eq!(from_units(199_000), "19.9000");
        assert_eq!(from_units(-5_000), "-0.5000");
        assert_eq!(decimals("19.999"), 3);
    }

    #[test]
    fn orders_reference_catalog() {
        let c = catalog(3, 20);
        let o = orders(3, &c, 10);
        assert_eq!(o.len(), 10);
        for order in &o {
            assert!(!order.lines.is_empty());
            for l in &order.lines {
                assert!(l.quantity > 0);
                assert!(l.product < c.len());
            }
        }
    }
}

/// Refurbished grades marketplaces for refurbished goods (BackMarket, Refurbed) list, in the
/// canonical spelling the monitor's grade rule accepts, best first.
pub const GRADES: [&str; 4] = ["premium", "excellent", "very_good", "good"];

/// Listing errors a marketplace may report, as (code, message, field).
const LISTING_ERRORS: &[(&str, &str, &str)] = &[
    (
        "MISSING_IMAGE",
        "The listing needs at least one main image.",
        "images",
    ),
    (
        "INVALID_GTIN",
        "The GTIN is not registered for this brand.",
        "gtin",
    ),
    (
        "PRICE_OUT_OF_RANGE",
        "The price is far from the reference price of this product.",
        "price",
    ),
];

/// One product as offered on a marketplace: what the seller lists there besides the catalog
/// record (one offer per demo product, under the product's sku).
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOffer {
    /// Index of the product in the catalog.
    pub product: usize,
    /// Seller sku (the product's).
    pub sku: String,
    /// Listed price (the product's).
    pub price: String,
    /// Listed quantity: every unit of the product and its variants in every warehouse.
    pub quantity: i64,
    /// Refurbished grade (one of [`GRADES`]); empty when missing (a defect on refurbished
    /// marketplaces, about 5%).
    pub grade: String,
    /// Days to dispatch; `None` when missing (a defect on Mirakl, about 5%).
    pub lead_time_days: Option<i32>,
    /// Whether the offer names a return policy (missing is a defect on eBay, about 5%).
    pub return_policy: bool,
    /// The marketplace's complaint about the listing, as (code, message, field) (about 6%).
    pub listing_error: Option<(String, String, String)>,
}

/// How many offers carry each kind of marketplace defect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OfferDefects {
    /// Offers in all.
    pub offers: usize,
    /// Offers with a listing error of the marketplace.
    pub listing_errors: usize,
    /// Offers without a refurbished grade.
    pub missing_grade: usize,
    /// Offers without a lead time.
    pub missing_lead_time: usize,
    /// Offers without a return policy.
    pub missing_return_policy: usize,
}

impl OfferDefects {
    /// Counts the defects of `offers`.
    pub fn of(offers: &[DemoOffer]) -> Self {
        let count = |f: &dyn Fn(&DemoOffer) -> bool| offers.iter().filter(|o| f(o)).count();
        Self {
            offers: offers.len(),
            listing_errors: count(&|o| o.listing_error.is_some()),
            missing_grade: count(&|o| o.grade.is_empty()),
            missing_lead_time: count(&|o| o.lead_time_days.is_none()),
            missing_return_policy: count(&|o| !o.return_policy),
        }
    }
}

/// The offers of a catalog on a marketplace, generated from `seed`: exact shares of defects
/// (listing errors 6%, missing grade, lead time and return policy 5% each, rounded half up).
pub fn offers(seed: u64, catalog: &[DemoProduct]) -> Vec<DemoOffer> {
    let mut rng = Rng::new(seed ^ 0x0FFE_25EE_D5EE_D000);
    let n = catalog.len();
    let share = |percent: usize| (n * percent + 50) / 100;
    let pick = |rng: &mut Rng, k: usize| -> std::collections::BTreeSet<usize> {
        rng.sample(n, k.min(n)).into_iter().collect()
    };
    let errors = pick(&mut rng, share(6));
    let no_grade = pick(&mut rng, share(5));
    let no_lead = pick(&mut rng, share(5));
    let no_policy = pick(&mut rng, share(5));
    catalog
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let quantity = p.stock.iter().map(|s| s.on_hand).sum::<i64>()
                + p.variants
                    .iter()
                    .flat_map(|v| v.stock.iter())
                    .map(|s| s.on_hand)
                    .sum::<i64>();
            DemoOffer {
                product: i,
                sku: p.sku.clone(),
                price: p.price.clone(),
                quantity,
                grade: if no_grade.contains(&i) {
                    String::new()
                } else {
                    (*rng.pick(&GRADES)).to_string()
                },
                lead_time_days: (!no_lead.contains(&i)).then(|| rng.range(1, 5) as i32),
                return_policy: !no_policy.contains(&i),
                listing_error: errors.contains(&i).then(|| {
                    let (c, m, f) = *rng.pick(LISTING_ERRORS);
                    (c.to_string(), m.to_string(), f.to_string())
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod offer_tests {
    use super::*;

    #[test]
    fn offers_carry_exact_defect_shares() {
        let cat = catalog(7, 100);
        let offers = offers(7, &cat);
        let d = OfferDefects::of(&offers);
        assert_eq!(d.offers, 100);
        assert_eq!(d.listing_errors, 6);
        assert_eq!(d.missing_grade, 5);
        assert_eq!(d.missing_lead_time, 5);
        assert_eq!(d.missing_return_policy, 5);
        assert_eq!(offers, super::offers(7, &cat), "deterministic");
        assert!(offers.iter().all(|o| o.quantity >= 0));
    }
}
