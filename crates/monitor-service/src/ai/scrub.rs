//! Removes personal data from text before it may leave for an LLM provider.
//!
//! What goes: e-mail addresses, URLs (their paths and queries can carry anything), phone
//! numbers and any run of nine digits or more, street addresses, postal codes with their town,
//! order, invoice and tracking numbers, names after a cue (`Mr`, `Mrs`, `Dr`, `contact`,
//! `attn`, `dear`, `ship to`, a signature's closing, …) and every name of an optional
//! deny-list. Each is replaced by a placeholder: `[email]`, `[url]`, `[phone]`, `[address]`,
//! `[order]`, `[name]`.
//!
//! The scrubber is the second line of defence: the prompt is built from an allow-list of
//! product fields (see `ai::prompt`), and orders, stock and buyers never reach it.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Every placeholder the scrubber writes.
pub const PLACEHOLDERS: &[&str] = &[
    "[email]",
    "[url]",
    "[phone]",
    "[address]",
    "[order]",
    "[name]",
];

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the scrubber's patterns are valid")
}

static URL: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\b(?:https?://|www\.)[^\s<>\x22']+"));

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)[a-z0-9._%+\-]+\s*(?:@|\(at\)|\[at\])\s*[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}")
});

/// Order, invoice, receipt, tracking and parcel numbers: a cue, then an id holding a digit.
static ORDER: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?i)\b(?:order|orders|commande|cmd|bestellung|auftrag|pedido|ordine|invoice|facture|",
        r"rechnung|factura|fattura|receipt|re[cç]u|tracking|suivi|shipment|consignment|parcel|",
        r"colis|paket|purchase\s+order|po|transaction|rma)\b",
        r"[\s:]*(?:(?:no|nr|num|number|num[ée]ro|n°|nº|id|#)\.?[\s:]*)*#?\s*",
        r"[a-z\-]*\d[a-z0-9\-/]{4,}",
    ))
});

/// A bare `#100012345`-like reference.
static HASH_REF: LazyLock<Regex> = LazyLock::new(|| re(r"#\s?\d{4,}\b"));

/// Street addresses: house number then a French street type (`12 rue de la Paix`), a
/// Spanish, Italian or Portuguese street then its number (`Via Roma 5`), English
/// `221B Baker Street`, German and Dutch `Hauptstraße 5`, PO boxes; an optional
/// `, 75002 Paris` after any of them. Street types that are also product words (`Drive`,
/// `Road`, `Place`, `Way`, `Row`) are left out: `2 TB Hard Drive` is not an address.
static STREET: LazyLock<Regex> = LazyLock::new(|| {
    let postal = r"(?:,?\s*(?:[A-Z]{1,2}-)?\d{4,5}\s+\p{Lu}[\p{L}'\-]+(?:[\s\-]\p{Lu}[\p{L}'\-]+)*(?:\s+cedex(?:\s+\d+)?)?)?";
    re(&format!(
        concat!(
            r"(?:",
            // 12 rue de la Paix, 3 bis avenue Foch
            r"\b\d{{1,5}}(?:\s?(?:bis|ter|[a-z]))?,?\s+(?i:rue|avenue|av\.|boulevard|bd|",
            r"(?:place|square)\s+(?:de|du|des|d')|chemin|all[ée]e|impasse|quai|route|cours|",
            r"faubourg)\s+",
            r"(?:(?:de\s+la|de\s+l'|du|des|de)\s+)*",
            r"[\p{{L}}'\-]+(?:\s+[\p{{L}}'\-]+){{0,3}}",
            r"|",
            // Via Roma 5, Calle Mayor, 10, Rua das Flores 12
            r"\b(?:Via|Viale|Piazza|Corso|Largo|Calle|Avenida|Plaza|Paseo|Carrer|Rua|Travessa)\s+",
            r"(?:(?:de|del|della|di|da|do|dos|das|dei|degli|la|el)\s+)*\p{{Lu}}[\p{{L}}'\-]+",
            r"(?:\s+\p{{Lu}}[\p{{L}}'\-]+){{0,2}},?\s+\d{{1,4}}[a-zA-Z]?\b",
            r"|",
            // 221B Baker Street, 1600 Pennsylvania Avenue NW
            r"\b\d{{1,5}}[A-Za-z]?\s+(?:\p{{Lu}}[\p{{L}}'\-]*\.?\s+){{1,4}}(?:Street|St|Rd|Avenue|Ave|",
            r"Lane|Ln|Boulevard|Blvd|Court|Ct|Terrace|Crescent|Mews|Parkway|Pkwy|Highway|Hwy)\b\.?(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?",
            r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor)\.?\s*#?\s*[A-Za-z0-9\-]+)?",
            r"|",
            // Hauptstraße 5, Lindenweg 12a
            r"\b\p{{Lu}}[\p{{L}}\-]*(?:stra(?:ß|ss)e|str\.|weg|gasse|platz|allee|gracht|",
            r"laan|straat|plein|gatan|v[äa]gen)\s+\d{{1,4}}\s?[a-zA-Z]?\b",
            r"|",
            r"(?i:\b(?:p\.?\s?o\.?\s*box|postfach|bo[iî]te\s+postale|apartado)\s*\d+)",
            r"){postal}",
        ),
        postal = postal
    ))
});

/// A five-digit postal code and its town after a comma (`…, 75002 Paris`; four digits with a
/// country prefix, `CH-8001 Zürich`), a UK postcode after its town, a US state and ZIP code.
static POSTAL: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r",[ \t]*(?:[A-Z]{1,2}-\d{4,5}|\d{5})[ \t]+\p{Lu}[\p{L}'\-]+(?:[ \t\-]\p{Lu}[\p{L}'\-]+){0,2}",
        r"|\b\p{Lu}[\p{L}\-]+,?[ \t]+[A-Z]{1,2}\d[A-Z\d]?[ \t]+\d([A-Z]{2})\b",
        r"|\b(?:AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|",
        r"NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC)\s+\d{5}",
        r"(?:-\d{4})?\b",
    ))
});

/// Inward parts of a "postcode" that are storage or frequency units (`X1 2TB`).
const NOT_POSTCODES: &[&str] = &["GB", "TB", "MB", "KB", "HZ", "PB"];

/// Whatever follows an address cue and a colon, to the end of the line.
static ADDRESS_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?im)\b(?:ship(?:ping)?\s+to|deliver(?:y)?\s+to|send\s+to|billing\s+address|",
        r"shipping\s+address|delivery\s+address|address|adresse|anschrift|direcci[oó]n|indirizzo|",
        r"envoyer\s+[àa])\b[ \t]*:[ \t]*([^\n]{1,200})",
    ))
});

/// Telephone cues and whatever number-like follows them (catches short local numbers).
static PHONE_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?i)\b(?:tel|t[ée]l[ée]phone|phone|mobile|mob|cell|fax|portable|handy|telefon|",
        r"tel[ée]fono|whats\s?app|call|appelez|sms)\b\.?[\s:]*(?:at\s+|au\s+)?",
        r"\+?[\d(][\d\s().\-/]{4,}\d",
    ))
});

/// A run of digits and separators; replaced when it holds nine digits or more, or seven
/// after a `+` (an international prefix).
static DIGITS: LazyLock<Regex> = LazyLock::new(|| re(r"\+?\(?\d[\d\s().\-/]{6,}\d\)?"));

/// One name: a capitalised word, possibly hyphenated or with an apostrophe.
const NAME: &str = r"\p{Lu}[\p{L}'\-]+";

/// Honorifics, then a name of one to three words.
static HONORIFIC: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"\b(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam|Mme|Mlle|Mmes|Herr|Frau|Sr|Sra|Srta|Dott)\.?|M\.)[ \t]+{NAME}(?:[ \t]+(?:{NAME}|\p{{Lu}}\.)){{0,2}}"
    ))
});

/// A cue (any case), then a name of one to three capitalised words: greetings and `contact`
/// directly, labels (`customer:`) with a colon, a signature's closing with a comma or a line
/// break.
static NAME_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        concat!(
            r"(?:(?i:\b(?:contact(?:ez)?|attn|dear|bonjour|cher|ch[èe]re|estimad[oa]|gentile|",
            r"c/o|care\s+of|ship\s+to|deliver\s+to)\b)[ \t]*:?[ \t]*",
            r"|(?i:\b(?:name|full\s+name|nom|pr[ée]nom|customer|buyer|client|cliente|kunde|",
            r"recipient|destinataire|contact\s+person|sender|exp[ée]diteur)\b)[ \t]*:[ \t]*",
            r"|(?i:\b(?:regards|best\s+wishes|thanks|thank\s+you|cheers|sincerely|",
            r"cordialement|salutations|gr[üu](?:ß|ss)e|saludos|saluti)\b)[ \t]*",
            r"(?:,[ \t]*(?:\r?\n[ \t]*)?|\r?\n[ \t]*))",
            r"({name}(?:[ \t]+(?:{name}|\p{{Lu}}\.)){{0,2}})",
        ),
        name = NAME
    ))
});

/// Words a cue may be followed by that are not names (`Contact Lens Case` is a product).
const NOT_NAMES: &[&str] = &[
    "us",
    "our",
    "the",
    "customer",
    "service",
    "support",
    "team",
    "sales",
    "store",
    "shop",
    "lens",
    "lenses",
    "grill",
    "paper",
    "glue",
    "adhesive",
    "cement",
    "microphone",
    "mic",
    "sensor",
    "switch",
    "form",
    "details",
    "info",
    "information",
    "center",
    "centre",
    "point",
    "spray",
    "solution",
    "case",
];

/// Removes personal data from text.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    /// Known personal names, matched whole and word by word (case-insensitive).
    deny: Option<Regex>,
}

impl Scrubber {
    /// A scrubber without a deny-list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also removes these names wherever they appear (buyers the caller knows of), whole and
    /// each of their words of three letters or more.
    pub fn with_names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut words: Vec<String> = Vec::new();
        for n in names {
            let n = n.as_ref().trim();
            if n.chars().count() < 2 {
                continue;
            }
            words.push(n.to_string());
            words.extend(
                n.split_whitespace()
                    .filter(|w| w.chars().count() >= 3)
                    .map(str::to_string),
            );
        }
        // Longest first, so a full name goes as one placeholder.
        words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        words.dedup();
        if !words.is_empty() {
            let alt = words
                .iter()
                .map(|w| regex::escape(w))
                .collect::<Vec<_>>()
                .join("|");
            self.deny = Regex::new(&format!(r"(?i)\b(?:{alt})\b")).ok();
        }
        self
    }

    /// `text` without personal data. `keep` lists phrases (the product's own brand) that
    /// look like a name after a cue but are not one (`Dr. Martens`).
    pub fn scrub(&self, text: &str, keep: &[&str]) -> String {
        let mut s = URL.replace_all(text, "[url]").into_owned();
        s = EMAIL.replace_all(&s, "[email]").into_owned();
        s = ORDER.replace_all(&s, "[order]").into_owned();
        s = HASH_REF.replace_all(&s, "[order]").into_owned();
        s = ADDRESS_CUE
            .replace_all(&s, |c: &Captures| {
                let all = &c[0];
                let rest = &c[1];
                format!("{}[address]", &all[..all.len() - rest.len()])
            })
            .into_owned();
        s = STREET.replace_all(&s, "[address]").into_owned();
        s = POSTAL
            .replace_all(&s, |c: &Captures| {
                let m = &c[0];
                if c.get(1)
                    .is_some_and(|u| NOT_POSTCODES.contains(&u.as_str()))
                {
                    return m.to_string();
                }
                let lead: String = m
                    .chars()
                    .take_while(|c| *c == ',' || *c == ' ' || *c == '\t')
                    .collect();
                format!("{lead}[address]")
            })
            .into_owned();
        s = PHONE_CUE
            .replace_all(&s, |c: &Captures| {
                let m = &c[0];
                let digits = m.find(|ch: char| ch.is_ascii_digit() || ch == '+' || ch == '(');
                match digits {
                    Some(i) => format!("{}[phone]", &m[..i]),
                    None => m.to_string(),
                }
            })
            .into_owned();
        s = DIGITS
            .replace_all(&s, |c: &Captures| {
                let m = &c[0];
                let digits = m.chars().filter(char::is_ascii_digit).count();
                if digits >= 9 || (m.starts_with('+') && digits >= 7) {
                    "[phone]".to_string()
                } else {
                    m.to_string()
                }
            })
            .into_owned();
        // A match is kept when it starts with a kept phrase or is a run of its words.
        let kept = |m: &str| {
            let n = normalise(m);
            let nw: Vec<&str> = n.split(' ').collect();
            keep.iter().any(|k| {
                let k = normalise(k);
                let kw: Vec<&str> = k.split(' ').collect();
                !k.is_empty()
                    && (nw.starts_with(&kw) || kw.windows(nw.len()).any(|w| w == nw.as_slice()))
            })
        };
        s = HONORIFIC
            .replace_all(&s, |c: &Captures| {
                if kept(&c[0]) {
                    c[0].to_string()
                } else {
                    "[name]".to_string()
                }
            })
            .into_owned();
        s = NAME_CUE
            .replace_all(&s, |c: &Captures| {
                let all = &c[0];
                let name = &c[1];
                let first = name.split_whitespace().next().unwrap_or("");
                if kept(name) || NOT_NAMES.contains(&first.to_lowercase().as_str()) {
                    return all.to_string();
                }
                format!("{}[name]", &all[..all.len() - name.len()])
            })
            .into_owned();
        if let Some(deny) = &self.deny {
            s = deny.replace_all(&s, "[name]").into_owned();
        }
        s
    }
}

fn normalise(s: &str) -> String {
    s.to_lowercase()
        .replace('.', "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether text holds one of the scrubber's placeholders.
pub fn has_placeholder(s: &str) -> bool {
    PLACEHOLDERS.iter().any(|p| s.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(s: &str) -> String {
        Scrubber::new().scrub(s, &[])
    }

    /// Every personal datum of `text` is gone and `kept` survived.
    fn check(text: &str, gone: &[&str], kept: &[&str]) {
        let out = scrub(text);
        for g in gone {
            assert!(!out.contains(g), "`{g}` survived in {out:?}");
        }
        for k in kept {
            assert!(out.contains(k), "`{k}` was lost in {out:?}");
        }
    }

    #[test]
    fn emails_and_urls() {
        check(
            "Questions? Write to jean.dupont+shop@example.fr or JOHN_SMITH@Mail.Co.UK, or \
             see https://shop.example.com/account?email=jane@x.io and www.example.com/u/42.",
            &[
                "jean.dupont",
                "example.fr",
                "JOHN_SMITH",
                "Mail.Co.UK",
                "jane@x.io",
                "account?",
                "/u/42",
            ],
            &["Questions? Write to [email] or [email], or", "[url]"],
        );
        check(
            "mail: anna (at) example.org",
            &["anna", "example.org"],
            &["[email]"],
        );
    }

    #[test]
    fn phone_numbers() {
        check(
            "Call +33 6 12 34 56 78 or (555) 123-4567, office 020 7946 0958, \
             +49 (0)30 1234567, 06.12.34.56.78, tel: 555-1234, +1-555-0113.",
            &[
                "6 12 34 56 78",
                "123-4567",
                "7946 0958",
                "1234567",
                "06.12.34.56.78",
                "555-1234",
                "555-0113",
            ],
            &["[phone]"],
        );
        // Product numbers stay: sizes, years, dimensions, prices.
        check(
            "Sizes 38-40-42, model 2024, 120 x 60 x 75 cm, 1 299.00 EUR, 3 pack of 250 ml.",
            &["[phone]"],
            &["38-40-42", "2024", "120 x 60 x 75 cm", "1 299.00", "250 ml"],
        );
    }

    #[test]
    fn street_addresses_and_postal_codes() {
        check(
            "Returns to 12 rue de la Paix, 75002 Paris. London office: 221B Baker Street, \
             London NW1 6XE. US: 1600 Pennsylvania Avenue NW, Washington, DC 20500. \
             Lager: Hauptstraße 5, 10115 Berlin. PO Box 1234.",
            &[
                "rue de la Paix",
                "75002",
                "Paris",
                "221B",
                "Baker Street",
                "NW1 6XE",
                "1600 Pennsylvania",
                "20500",
                "Hauptstraße 5",
                "10115",
                "Box 1234",
            ],
            &["Returns to [address]", "London office: [address]"],
        );
        check(
            "Ship to: Marie Curie, 5 Elm St, Springfield\nColour: red",
            &["Marie", "Curie", "Elm", "Springfield"],
            &["Colour: red"],
        );
    }

    #[test]
    fn names_after_cues_and_in_signatures() {
        check(
            "Contact John Smith for wholesale. Dear Mrs. Jane Doe, thanks. Attn: Pierre \
             Martin. Made for Dr. Watson.\nBest regards,\nAlice Martin",
            &[
                "John", "Smith", "Jane", "Doe", "Pierre", "Watson", "Alice", "Martin",
            ],
            &["[name] for wholesale", "Best regards,\n[name]"],
        );
        // Not a name: the shop's own team, or the brand the caller keeps.
        let out = Scrubber::new().scrub(
            "Contact our team. Dr. Martens 1460 boots, by Dr. Martens.",
            &["Dr. Martens"],
        );
        assert_eq!(
            out,
            "Contact our team. Dr. Martens 1460 boots, by Dr. Martens."
        );
    }

    #[test]
    fn order_details() {
        check(
            "Re order #100012345 (invoice INV-2024-0042, tracking 1Z999AA10123456784): \
             reference #88812345 shipped.",
            &[
                "100012345",
                "INV-2024-0042",
                "1Z999AA10123456784",
                "88812345",
            ],
            &["[order]"],
        );
        check(
            "Commande n° 45-8812 expédiée; Bestellnummer: siehe Bestellung Nr. 778812.",
            &["45-8812", "778812"],
            &["[order]"],
        );
        // Words alone are not order numbers.
        check("Order now, ships in 2 days.", &["[order]"], &["Order now"]);
    }

    #[test]
    fn a_deny_list_removes_known_names_anywhere() {
        let s = Scrubber::new().with_names(["Ada Lovelace", "Grace Hopper"]);
        let out = s.scrub(
            "Ada Lovelace loved it; lovelace edition, Hopper approved.",
            &[],
        );
        assert_eq!(out, "[name] loved it; [name] edition, [name] approved.");
    }

    #[test]
    fn product_text_passes_unchanged() {
        let text = "Aurora Merino Hoodie in navy blue. 100% merino wool, machine washable \
                    at 30 degrees. Available in S, M, L and XL. Weight 0.6 kg.";
        assert_eq!(scrub(text), text);
        // Product words that look like an address, a postcode, a name or an order number.
        let text = "Lenovo ThinkPad X1 2TB SSD, 2 TB Hard Drive, Contact Lens Case, 12 Piece \
                    Place Setting, 26 Inch Road Bike, 4 Way Stretch, sleep tracking 24/7, \
                    Order now, Size M Hoodie, Dinner for 6, Best seller, 5th Avenue perfume.";
        assert_eq!(scrub(text), text);
    }
}
