//! Synthetic search documents and agent-style queries, shared by the benches that need an
//! index of a given size: `indexer/benches/discovery.rs` and `daemon/benches/hotpaths.rs`
//! (both include this file with `#[path]`). Deterministic: the same size always gives the same
//! documents, so runs and benches compare like with like.

use forage_indexer::search::SearchDoc;
use forage_indexer::search::eval;
use sha2::{Digest as _, Sha256};

/// Functions per synthetic component (the xtask default).
pub const PER_COMPONENT: usize = 8;

// ---------------------------------------------------------------------------------------------
// Synthetic search documents
// ---------------------------------------------------------------------------------------------

/// SplitMix64: deterministic and good enough for picking words.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub const VENDORS: &[&str] = &[
    "acme",
    "contoso",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "tyrell",
    "cyberdyne",
    "vandelay",
    "wonka",
    "oscorp",
    "aperture",
    "soylent",
    "dunder",
    "monarch",
    "gringotts",
    "nakatomi",
    "wernham",
    "sirius",
    "veridian",
    "massive",
    "pied-piper",
];

/// (package, what it is about, nouns as (kebab, human), a type name, its cases)
pub type DomainSpec = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static [&'static str],
);

pub const DOMAINS: &[DomainSpec] = &[
    (
        "weather",
        "weather forecasts, observations and alerts",
        &[
            ("forecast", "weather forecast"),
            ("observation", "weather observation"),
            ("alert", "severe-weather alert"),
            ("station", "weather station"),
            ("humidity", "relative humidity reading"),
        ],
        "unit",
        &["celsius", "fahrenheit", "kelvin"],
    ),
    (
        "invoices",
        "invoicing and accounts receivable",
        &[
            ("invoice", "invoice"),
            ("payment", "incoming payment"),
            ("customer", "billing customer"),
            ("credit-note", "credit note"),
            ("tax-rate", "tax rate"),
        ],
        "currency",
        &["eur", "usd", "gbp", "jpy"],
    ),
    (
        "geo",
        "geocoding, routing and places",
        &[
            ("address", "postal address"),
            ("coordinate", "geographic coordinate"),
            ("route", "driving route"),
            ("place", "point of interest"),
            ("boundary", "administrative boundary"),
        ],
        "distance-unit",
        &["meter", "kilometer", "mile"],
    ),
    (
        "calendar",
        "calendars, meetings and room booking",
        &[
            ("event", "calendar event"),
            ("reminder", "reminder"),
            ("attendee", "meeting attendee"),
            ("room-booking", "meeting-room booking"),
            ("availability", "free/busy slot"),
        ],
        "granularity",
        &["minute", "hour", "day"],
    ),
    (
        "inventory",
        "stock, warehouses and purchasing",
        &[
            ("product", "product"),
            ("stock-level", "stock level"),
            ("warehouse", "warehouse"),
            ("purchase-order", "purchase order"),
            ("supplier", "supplier"),
        ],
        "stock-status",
        &["in-stock", "backordered", "discontinued"],
    ),
    (
        "text",
        "text processing and normalisation",
        &[
            ("slug", "URL slug"),
            ("paragraph", "paragraph of text"),
            ("word-count", "word count"),
            ("whitespace", "whitespace"),
            ("diacritic", "accented character"),
        ],
        "case-style",
        &["lower", "upper", "title", "snake", "kebab"],
    ),
    (
        "crypto",
        "hashing, signing and encryption",
        &[
            ("digest", "message digest"),
            ("signature", "digital signature"),
            ("key-pair", "key pair"),
            ("ciphertext", "encrypted message"),
            ("hmac", "keyed hash"),
        ],
        "algorithm",
        &["sha256", "sha512", "blake3", "ed25519"],
    ),
    (
        "images",
        "image conversion and thumbnails",
        &[
            ("thumbnail", "thumbnail"),
            ("image", "raster image"),
            ("exif-tag", "EXIF metadata tag"),
            ("palette", "color palette"),
            ("watermark", "watermark"),
        ],
        "format",
        &["png", "jpeg", "webp", "gif"],
    ),
    (
        "mail",
        "email composition and delivery",
        &[
            ("message", "email message"),
            ("mailbox", "mailbox"),
            ("attachment", "attachment"),
            ("recipient", "recipient address"),
            ("bounce", "bounce report"),
        ],
        "priority",
        &["low", "normal", "urgent"],
    ),
    (
        "finance",
        "exchange rates and market data",
        &[
            ("exchange-rate", "currency exchange rate"),
            ("quote", "stock quote"),
            ("portfolio", "investment portfolio"),
            ("dividend", "dividend payment"),
            ("ticker", "ticker symbol"),
        ],
        "market",
        &["nyse", "nasdaq", "lse", "tse"],
    ),
    (
        "hr",
        "people, payroll and time off",
        &[
            ("employee", "employee record"),
            ("payslip", "payslip"),
            ("leave-request", "time-off request"),
            ("timesheet", "timesheet"),
            ("review", "performance review"),
        ],
        "contract",
        &["full-time", "part-time", "contractor"],
    ),
    (
        "shipping",
        "parcels, labels and tracking",
        &[
            ("parcel", "parcel"),
            ("label", "shipping label"),
            ("tracking-number", "tracking number"),
            ("carrier", "carrier"),
            ("customs-form", "customs declaration"),
        ],
        "service-level",
        &["economy", "express", "overnight"],
    ),
    (
        "health",
        "clinical records and appointments",
        &[
            ("patient", "patient record"),
            ("appointment", "appointment"),
            ("prescription", "prescription"),
            ("vital-sign", "vital sign"),
            ("allergy", "allergy"),
        ],
        "severity",
        &["mild", "moderate", "severe"],
    ),
    (
        "docs",
        "documents, PDFs and templates",
        &[
            ("pdf", "PDF document"),
            ("template", "document template"),
            ("page", "page"),
            ("table", "table"),
            ("footnote", "footnote"),
        ],
        "paper-size",
        &["a4", "letter", "legal"],
    ),
    (
        "network",
        "DNS, IP addresses and HTTP checks",
        &[
            ("hostname", "hostname"),
            ("ip-address", "IP address"),
            ("certificate", "TLS certificate"),
            ("dns-record", "DNS record"),
            ("uptime", "uptime check"),
        ],
        "record-type",
        &["a", "aaaa", "cname", "mx", "txt"],
    ),
    (
        "data",
        "CSV, JSON and spreadsheet conversion",
        &[
            ("csv", "CSV file"),
            ("json", "JSON document"),
            ("spreadsheet", "spreadsheet"),
            ("schema", "data schema"),
            ("row", "table row"),
        ],
        "encoding",
        &["utf8", "latin1", "utf16"],
    ),
    (
        "translate",
        "translation and language detection",
        &[
            ("translation", "translation"),
            ("language", "language"),
            ("glossary", "glossary"),
            ("transliteration", "transliteration"),
            ("locale", "locale"),
        ],
        "formality",
        &["formal", "informal", "neutral"],
    ),
    (
        "social",
        "posts, followers and moderation",
        &[
            ("post", "social post"),
            ("follower", "follower"),
            ("hashtag", "hashtag"),
            ("comment", "comment"),
            ("report", "abuse report"),
        ],
        "visibility",
        &["public", "followers", "private"],
    ),
    (
        "units",
        "unit conversion and measurement",
        &[
            ("length", "length"),
            ("temperature", "temperature"),
            ("volume", "volume"),
            ("weight", "weight"),
            ("speed", "speed"),
        ],
        "system",
        &["metric", "imperial", "us-customary"],
    ),
    (
        "security",
        "secrets, passwords and audits",
        &[
            ("password", "password"),
            ("secret", "stored secret"),
            ("token", "access token"),
            ("audit-entry", "audit log entry"),
            ("vulnerability", "vulnerability"),
        ],
        "risk",
        &["low", "medium", "high", "critical"],
    ),
];

/// (verb, how docs phrase it, a synonym agents use)
pub const VERBS: &[(&str, &str, &str)] = &[
    ("get", "Fetches", "look up"),
    ("list", "Lists every", "show all"),
    ("create", "Creates a new", "make"),
    ("update", "Updates an existing", "change"),
    ("delete", "Deletes", "remove"),
    ("validate", "Checks that the fields of", "verify"),
    ("convert", "Converts", "transform"),
    ("parse", "Parses the text form of", "read"),
    ("format", "Renders as human-readable text", "pretty print"),
    ("search", "Searches for", "find"),
    ("summarize", "Summarises", "give an overview of"),
    ("export", "Exports to a file", "download"),
    ("import", "Imports from a file", "upload"),
    ("estimate", "Estimates", "predict"),
    ("compare", "Compares two versions of", "diff"),
    ("normalize", "Normalises", "clean up"),
    ("schedule", "Schedules", "plan"),
    ("archive", "Archives", "put away"),
    ("count", "Counts", "how many"),
    ("merge", "Merges duplicates of", "combine"),
];

pub const QUALIFIERS: &[&str] = &[
    "using the vendor's public API",
    "in the caller's time zone",
    "with retries and rate limiting",
    "and returns a structured result",
    "for the given account",
    "in batches of up to one hundred",
    "without contacting the network",
    "honouring the locale of the request",
    "and records an audit entry",
    "as described in the vendor documentation",
    "including archived records",
    "with optional filtering by date range",
];

pub const PARAMS: &[(&str, &str)] = &[
    ("id", "string"),
    ("query", "string"),
    ("limit", "u32"),
    ("since", "u64"),
    ("account", "string"),
    ("locale", "string"),
    ("dry-run", "bool"),
    ("tags", "list<string>"),
    ("amount", "f64"),
    ("page", "u32"),
];

/// A deterministic 64-hex "digest" for component `i`.
pub fn fake_digest(i: usize) -> String {
    hex::encode(Sha256::digest(format!("bench-component-{i}").as_bytes()))
}

/// `n` functions of synthetic components (8 per component), deterministic.
pub fn synthetic_docs(n: usize, first_component: usize) -> Vec<SearchDoc> {
    let mut rng = Rng(0x5EED);
    let mut out = Vec::with_capacity(n);
    let mut c = first_component;
    while out.len() < n {
        let (domain, about, nouns, ty, cases) = DOMAINS[c % DOMAINS.len()];
        let vendor = *rng.pick(VENDORS);
        let package = format!("{vendor}:{domain}-{c}");
        let digest = fake_digest(c);
        let d12 = &digest[..12];
        let version = format!("{}.{}.{}", rng.below(3), rng.below(10), rng.below(10));
        let iface = nouns[rng.below(nouns.len())].0.to_string() + "s";
        let component_description = format!("{} by {vendor}: {about}.", domain.replace('-', " "));
        let capabilities: Vec<String> = match rng.below(4) {
            0 => vec![],
            1 => vec!["http".into()],
            2 => vec!["http".into(), "clocks".into()],
            _ => vec!["filesystem".into()],
        };
        let verified = if rng.below(3) == 0 {
            "unsigned"
        } else {
            "verified: acme-release-key"
        };
        let mut used = std::collections::BTreeSet::new();
        for _ in 0..PER_COMPONENT.min(n - out.len()) {
            let (mut v, mut k) = (rng.below(VERBS.len()), rng.below(nouns.len()));
            while !used.insert((v, k)) {
                v = (v + 1) % VERBS.len();
                if v == 0 {
                    k = (k + 1) % nouns.len();
                }
            }
            let (verb, phrase, _) = VERBS[v];
            let (noun, human) = nouns[k];
            let function = format!("{verb}-{noun}");
            let mut params: Vec<(String, String)> = vec![(noun.to_string(), "string".to_string())];
            for _ in 0..rng.below(3) {
                let (p, t) = *rng.pick(PARAMS);
                if !params.iter().any(|(q, _)| q == p) {
                    params.push((p.to_string(), t.to_string()));
                }
            }
            params.push((ty.to_string(), ty.to_string()));
            let sig_params: Vec<String> = params.iter().map(|(p, t)| format!("{p}: {t}")).collect();
            let result = if verb == "list" || verb == "search" {
                format!("list<{noun}>")
            } else {
                format!("result<{noun}, error>")
            };
            let description = format!(
                "{phrase} {human} {} {}.\n\nThe `{ty}` selects one of {}.",
                rng.pick(QUALIFIERS),
                rng.pick(QUALIFIERS),
                cases.join(", ")
            );
            let mut type_text = vec![noun.to_string(), format!("A {human}."), ty.to_string()];
            type_text.extend(cases.iter().map(|s| s.to_string()));
            out.push(SearchDoc {
                id: format!("{package}/{iface}/{function}@{d12}"),
                package: package.clone(),
                interface: Some(iface.clone()),
                function: function.clone(),
                version: Some(version.clone()),
                reference: format!("ghcr.io/{vendor}/{domain}-{c}@sha256:{digest}"),
                description: Some(description),
                signature: format!("{function}: func({}) -> {result}", sig_params.join(", ")),
                params,
                type_text,
                component_description: Some(component_description.clone()),
                capabilities: capabilities.clone(),
                registry: "ghcr.io".into(),
                verified: verified.into(),
                component_key: format!("sha256:{digest}"),
                docs_source: None,
            });
        }
        c += 1;
    }
    out
}

/// 200 queries: every other golden query (agent phrasing, including ones about functions the
/// synthetic corpus lacks), and 100 from the corpus vocabulary, every fifth with a typo.
pub fn queries(golden: &eval::Golden) -> Vec<String> {
    let mut q: Vec<String> = golden
        .queries
        .iter()
        .step_by(2)
        .take(100)
        .map(|g| g.query.clone())
        .collect();
    let mut rng = Rng(42);
    let mut i = 0;
    while q.len() < 200 {
        let (_, _, nouns, _, cases) = *rng.pick(DOMAINS);
        let (_, _, synonym) = *rng.pick(VERBS);
        let (_, human) = *rng.pick(nouns);
        let mut text = match i % 4 {
            0 => format!("{synonym} a {human}"),
            1 => format!("I need to {synonym} the {human} in {}", rng.pick(cases)),
            2 => format!("{human} {}", rng.pick(cases)),
            _ => format!("tool to {synonym} {human}s {}", rng.pick(QUALIFIERS)),
        };
        if i % 5 == 0 {
            // A typo: swap two adjacent letters of the longest word.
            let words: Vec<String> = text.split(' ').map(str::to_string).collect();
            let longest = words
                .iter()
                .enumerate()
                .max_by_key(|(_, w)| w.len())
                .map(|(j, _)| j)
                .unwrap();
            let mut chars: Vec<char> = words[longest].chars().collect();
            if chars.len() > 4 {
                chars.swap(2, 3);
            }
            let mut words = words;
            words[longest] = chars.into_iter().collect();
            text = words.join(" ");
        }
        q.push(text);
        i += 1;
    }
    q
}
