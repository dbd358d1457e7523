//! `cargo xtask gen-corpus`: a deterministic synthetic corpus of components.
//!
//! Each component gets a WIT package with plausible names and doc comments (a
//! vendor namespace, a business domain, verb-noun functions with typed parameters),
//! is turned into a valid component with `wit_component::dummy_module` +
//! `embed_component_metadata` + `ComponentEncoder`, and is written next to its
//! binary-encoded WIT package. The same seed always gives the same bytes, so the
//! corpus can be regenerated instead of committed. The components' functions only
//! trap (`unreachable`): the corpus is for indexing, search and load benchmarks.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::{LiftLowerAbi, ManglingAndAbi, Resolve};

use crate::{oci, wit};

/// Command-line options.
pub struct Options {
    pub functions: usize,
    pub out: PathBuf,
    pub per_component: usize,
    pub seed: u64,
    pub layout: bool,
}

/// SplitMix64: tiny, deterministic and good enough for picking words.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const VENDORS: &[&str] = &[
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
    "pied-piper",
    "massive-dynamic",
    "gringotts",
    "monarch",
];

/// A business domain: package name, what it is about, its nouns (kebab, human) and units.
struct Domain {
    name: &'static str,
    about: &'static str,
    nouns: &'static [(&'static str, &'static str)],
    units: &'static [&'static str],
}

const DOMAINS: &[Domain] = &[
    Domain {
        name: "weather",
        about: "weather forecasts, observations and alerts",
        nouns: &[
            ("forecast", "weather forecast"),
            ("observation", "weather observation"),
            ("alert", "severe-weather alert"),
            ("station", "weather station"),
            ("precipitation", "precipitation report"),
        ],
        units: &["celsius", "fahrenheit", "kelvin"],
    },
    Domain {
        name: "invoices",
        about: "invoicing and accounts receivable",
        nouns: &[
            ("invoice", "invoice"),
            ("payment", "incoming payment"),
            ("customer", "billing customer"),
            ("credit-note", "credit note"),
            ("tax-rate", "tax rate"),
        ],
        units: &["eur", "usd", "gbp", "jpy"],
    },
    Domain {
        name: "geo",
        about: "geocoding, routing and places",
        nouns: &[
            ("address", "postal address"),
            ("coordinate", "geographic coordinate"),
            ("route", "driving route"),
            ("place", "point of interest"),
            ("boundary", "administrative boundary"),
        ],
        units: &["meter", "kilometer", "mile", "foot"],
    },
    Domain {
        name: "calendar",
        about: "calendars, meetings and room booking",
        nouns: &[
            ("event", "calendar event"),
            ("reminder", "reminder"),
            ("attendee", "meeting attendee"),
            ("room-booking", "meeting-room booking"),
            ("availability", "free/busy slot"),
        ],
        units: &["minute", "hour", "day"],
    },
    Domain {
        name: "inventory",
        about: "stock, warehouses and purchasing",
        nouns: &[
            ("product", "product"),
            ("stock-level", "stock level"),
            ("warehouse", "warehouse"),
            ("supplier", "supplier"),
            ("purchase-order", "purchase order"),
        ],
        units: &["piece", "box", "pallet"],
    },
    Domain {
        name: "crm",
        about: "customer relationship management",
        nouns: &[
            ("contact", "contact"),
            ("lead", "sales lead"),
            ("deal", "deal in the pipeline"),
            ("account", "customer account"),
            ("note", "call note"),
        ],
        units: &["eur", "usd"],
    },
    Domain {
        name: "payroll",
        about: "employees, leave and payroll",
        nouns: &[
            ("employee", "employee"),
            ("leave-request", "leave request"),
            ("payslip", "payslip"),
            ("review", "performance review"),
            ("position", "open position"),
        ],
        units: &["hour", "day", "week"],
    },
    Domain {
        name: "shipping",
        about: "parcels, labels and carrier tracking",
        nouns: &[
            ("shipment", "shipment"),
            ("parcel", "parcel"),
            ("label", "shipping label"),
            ("tracking-event", "tracking event"),
            ("carrier", "carrier"),
        ],
        units: &["gram", "kilogram", "pound", "ounce"],
    },
    Domain {
        name: "translate",
        about: "machine translation and glossaries",
        nouns: &[
            ("translation", "translation"),
            ("glossary", "terminology glossary"),
            ("language", "supported language"),
            ("phrase", "phrase"),
            ("dictionary-entry", "dictionary entry"),
        ],
        units: &["character", "word"],
    },
    Domain {
        name: "metrics",
        about: "time-series metrics and alerting",
        nouns: &[
            ("metric", "metric"),
            ("dashboard", "dashboard"),
            ("alert-rule", "alert rule"),
            ("time-series", "time series"),
            ("threshold", "threshold"),
        ],
        units: &["second", "millisecond", "microsecond"],
    },
    Domain {
        name: "wiki",
        about: "documents, pages and revisions",
        nouns: &[
            ("document", "document"),
            ("page", "wiki page"),
            ("comment", "comment"),
            ("revision", "page revision"),
            ("template", "page template"),
        ],
        units: &["byte", "kilobyte", "megabyte"],
    },
    Domain {
        name: "payments",
        about: "card payments, refunds and subscriptions",
        nouns: &[
            ("charge", "card charge"),
            ("refund", "refund"),
            ("payout", "payout"),
            ("card", "stored card"),
            ("subscription", "subscription"),
        ],
        units: &["eur", "usd", "chf"],
    },
    Domain {
        name: "helpdesk",
        about: "support tickets and incident response",
        nouns: &[
            ("ticket", "support ticket"),
            ("incident", "incident"),
            ("escalation", "escalation"),
            ("sla", "service-level agreement"),
            ("queue", "support queue"),
        ],
        units: &["minute", "hour"],
    },
    Domain {
        name: "recipes",
        about: "recipes, meal plans and nutrition",
        nouns: &[
            ("recipe", "recipe"),
            ("ingredient", "ingredient"),
            ("meal-plan", "weekly meal plan"),
            ("shopping-list", "shopping list"),
            ("nutrition-fact", "nutrition fact"),
        ],
        units: &["gram", "cup", "tablespoon", "ounce"],
    },
    Domain {
        name: "travel",
        about: "flights, hotels and itineraries",
        nouns: &[
            ("flight", "flight"),
            ("hotel", "hotel"),
            ("itinerary", "trip itinerary"),
            ("booking", "booking"),
            ("fare", "fare"),
        ],
        units: &["kilometer", "mile"],
    },
    Domain {
        name: "music",
        about: "music catalogues and playlists",
        nouns: &[
            ("track", "track"),
            ("playlist", "playlist"),
            ("album", "album"),
            ("artist", "artist"),
            ("lyric", "song lyric"),
        ],
        units: &["second", "minute"],
    },
    Domain {
        name: "vcs",
        about: "source repositories, reviews and releases",
        nouns: &[
            ("commit", "commit"),
            ("branch", "branch"),
            ("pull-request", "pull request"),
            ("issue", "issue"),
            ("release", "release"),
        ],
        units: &["line", "file"],
    },
    Domain {
        name: "dns",
        about: "DNS zones, records and certificates",
        nouns: &[
            ("dns-record", "DNS record"),
            ("zone", "DNS zone"),
            ("domain", "registered domain"),
            ("certificate", "TLS certificate"),
            ("nameserver", "name server"),
        ],
        units: &["second", "hour", "day"],
    },
    Domain {
        name: "energy",
        about: "meters, tariffs and consumption",
        nouns: &[
            ("meter-reading", "meter reading"),
            ("tariff", "energy tariff"),
            ("consumption", "energy consumption"),
            ("solar-output", "solar output"),
            ("battery-state", "battery state"),
        ],
        units: &["watt-hour", "kilowatt-hour", "megajoule"],
    },
    Domain {
        name: "clinic",
        about: "appointments, prescriptions and lab results",
        nouns: &[
            ("appointment", "appointment"),
            ("prescription", "prescription"),
            ("vital-sign", "vital sign"),
            ("lab-result", "lab result"),
            ("patient", "patient"),
        ],
        units: &["milligram", "milliliter"],
    },
    Domain {
        name: "courses",
        about: "courses, lessons and grading",
        nouns: &[
            ("course", "course"),
            ("lesson", "lesson"),
            ("quiz", "quiz"),
            ("grade", "grade"),
            ("student", "student"),
        ],
        units: &["point", "percent"],
    },
    Domain {
        name: "property",
        about: "real-estate listings and valuations",
        nouns: &[
            ("listing", "property listing"),
            ("valuation", "valuation"),
            ("mortgage", "mortgage quote"),
            ("viewing", "viewing appointment"),
            ("parcel-plot", "land plot"),
        ],
        units: &["square-meter", "square-foot", "acre"],
    },
    Domain {
        name: "mlops",
        about: "models, datasets and predictions",
        nouns: &[
            ("model", "trained model"),
            ("dataset", "dataset"),
            ("prediction", "prediction"),
            ("embedding", "embedding vector"),
            ("training-run", "training run"),
        ],
        units: &["sample", "batch", "epoch"],
    },
    Domain {
        name: "secops",
        about: "vulnerabilities, secrets and audit trails",
        nouns: &[
            ("vulnerability", "vulnerability"),
            ("secret", "stored secret"),
            ("audit-event", "audit event"),
            ("policy", "access policy"),
            ("scan", "security scan"),
        ],
        units: &["finding", "host"],
    },
];

/// A function shape: name verb, doc template (`{n}` = the noun in words), WIT params and result.
/// In params/results, `@` stands for the noun's record type and `!` for the domain's unit enum.
struct Verb {
    verb: &'static str,
    plural: bool,
    doc: &'static str,
    params: &'static [(&'static str, &'static str)],
    result: Option<&'static str>,
}

const VERBS: &[Verb] = &[
    Verb {
        verb: "get",
        plural: false,
        doc: "Fetch one {n} by its identifier.",
        params: &[("id", "string")],
        result: Some("result<@, string>"),
    },
    Verb {
        verb: "list",
        plural: true,
        doc: "List {n}s, newest first. `limit` caps how many are returned.",
        params: &[("filter", "option<string>"), ("limit", "u32")],
        result: Some("list<@>"),
    },
    Verb {
        verb: "search",
        plural: true,
        doc: "Search {n}s by a free-text query and return the best matches.",
        params: &[("query", "string"), ("limit", "option<u32>")],
        result: Some("list<@>"),
    },
    Verb {
        verb: "create",
        plural: false,
        doc: "Create a new {n} and return its identifier.",
        params: &[("name", "string"), ("tags", "list<string>")],
        result: Some("result<string, string>"),
    },
    Verb {
        verb: "update",
        plural: false,
        doc: "Update fields of an existing {n}, given as (field, value) pairs.",
        params: &[("id", "string"), ("changes", "list<tuple<string, string>>")],
        result: Some("result<_, string>"),
    },
    Verb {
        verb: "delete",
        plural: false,
        doc: "Delete a {n}. Fails when no {n} has that identifier.",
        params: &[("id", "string")],
        result: Some("result<_, string>"),
    },
    Verb {
        verb: "count",
        plural: true,
        doc: "Count the {n}s that match an optional filter.",
        params: &[("filter", "option<string>")],
        result: Some("u64"),
    },
    Verb {
        verb: "validate",
        plural: false,
        doc: "Check that a {n} is well-formed and list the problems found (empty when valid).",
        params: &[("input", "string")],
        result: Some("list<string>"),
    },
    Verb {
        verb: "convert",
        plural: false,
        doc: "Convert a {n} amount from one unit to another.",
        params: &[("value", "f64"), ("from-unit", "!"), ("to-unit", "!")],
        result: Some("f64"),
    },
    Verb {
        verb: "summarize",
        plural: true,
        doc: "Summarize {n} activity over the last `days` days as a short paragraph.",
        params: &[("days", "u32")],
        result: Some("string"),
    },
    Verb {
        verb: "export",
        plural: true,
        doc: "Export every {n} as CSV or JSON text.",
        params: &[("format", "export-format"), ("since", "option<string>")],
        result: Some("result<string, string>"),
    },
    Verb {
        verb: "estimate",
        plural: false,
        doc: "Estimate the {n} for a quantity, optionally for one region.",
        params: &[
            ("quantity", "f64"),
            ("unit", "!"),
            ("region", "option<string>"),
        ],
        result: Some("f64"),
    },
    Verb {
        verb: "lookup",
        plural: false,
        doc: "Look up a {n} by its exact name.",
        params: &[("name", "string")],
        result: Some("option<@>"),
    },
    Verb {
        verb: "compare",
        plural: true,
        doc: "Compare two {n}s and describe each difference in one line.",
        params: &[("left", "string"), ("right", "string")],
        result: Some("list<string>"),
    },
    Verb {
        verb: "schedule",
        plural: false,
        doc: "Schedule work on a {n} at an ISO 8601 time; returns the job identifier.",
        params: &[("id", "string"), ("at", "string")],
        result: Some("result<string, string>"),
    },
    Verb {
        verb: "parse",
        plural: false,
        doc: "Parse a {n} from its text form.",
        params: &[("text", "string")],
        result: Some("result<@, string>"),
    },
    Verb {
        verb: "format",
        plural: false,
        doc: "Render a {n} as human-readable text in the given locale (default en-US).",
        params: &[("item", "@"), ("locale", "option<string>")],
        result: Some("string"),
    },
    Verb {
        verb: "check",
        plural: false,
        doc: "Report the processing status of a {n}.",
        params: &[("id", "string")],
        result: Some("status"),
    },
    Verb {
        verb: "archive",
        plural: false,
        doc: "Archive a {n} so it no longer shows up in listings.",
        params: &[("id", "string"), ("reason", "option<string>")],
        result: None,
    },
    Verb {
        verb: "tag",
        plural: false,
        doc: "Attach tags to a {n}; returns the full tag set.",
        params: &[("id", "string"), ("tags", "list<string>")],
        result: Some("result<list<string>, string>"),
    },
    Verb {
        verb: "rank",
        plural: true,
        doc: "Rank {n}s by score, highest first, returning (identifier, score) pairs.",
        params: &[("ids", "list<string>")],
        result: Some("list<tuple<string, f32>>"),
    },
    Verb {
        verb: "watch",
        plural: false,
        doc: "Subscribe to changes of a {n}; returns false when already watched.",
        params: &[("id", "string"), ("notify", "bool")],
        result: Some("bool"),
    },
];

/// Extra record fields, beyond `id` and `name`.
const FIELDS: &[(&str, &str, &str)] = &[
    ("created-at", "string", "When it was created (ISO 8601)."),
    ("amount", "f64", "Amount in the account currency."),
    ("quantity", "u32", "How many units."),
    ("tags", "list<string>", "Free-form labels."),
    ("active", "bool", "Whether it is currently active."),
    ("notes", "option<string>", "Optional free-text notes."),
    (
        "score",
        "f32",
        "Relevance or quality score between 0 and 1.",
    ),
    ("priority", "u8", "Priority from 0 (lowest) to 9."),
    ("owner", "option<string>", "Who is responsible for it."),
    ("revision", "u64", "Monotonic revision number."),
];

/// `wasi:*` packages some generated worlds import, copied verbatim from WASI 0.2.0
/// (these two have no dependencies), so corpus components show capabilities too.
const WASI_CLI: &str = "package wasi:cli@0.2.0;\n\ninterface environment {\n  get-environment: func() -> list<tuple<string, string>>;\n  get-arguments: func() -> list<string>;\n  initial-cwd: func() -> option<string>;\n}\n";
const WASI_CLOCKS: &str = "package wasi:clocks@0.2.0;\n\ninterface wall-clock {\n  record datetime {\n    seconds: u64,\n    nanoseconds: u32,\n  }\n  now: func() -> datetime;\n  resolution: func() -> datetime;\n}\n";

fn plural(noun: &str) -> String {
    if noun.ends_with('s') || noun.ends_with('x') || noun.ends_with("ch") {
        format!("{noun}es")
    } else if let Some(stem) = noun
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'o', 'u']))
    {
        format!("{stem}ies")
    } else {
        format!("{noun}s")
    }
}

fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// FNV-1a, to derive a stable seed from a name.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `massive-dynamic` -> `Massive Dynamic`.
fn title(kebab: &str) -> String {
    kebab
        .split('-')
        .map(capitalise)
        .collect::<Vec<_>>()
        .join(" ")
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// One generated component's WIT.
pub struct Generated {
    /// File stem, e.g. `acme-weather`.
    pub name: String,
    /// WIT package name `namespace:name@version`.
    pub package: String,
    /// The WIT source of the main package.
    pub wit: String,
    /// Number of exported functions.
    pub functions: usize,
    /// Which `wasi:*` packages the world imports.
    pub imports: Vec<&'static str>,
}

/// Generate the WIT for one component with `count` functions.
fn generate_wit(
    rng: &mut Rng,
    index: usize,
    count: usize,
    used: &mut BTreeSet<String>,
) -> Generated {
    let domain = &DOMAINS[(index + rng.below(3)) % DOMAINS.len()];
    let vendor = *rng.pick(VENDORS);
    let mut pkg_name = domain.name.to_string();
    let mut k = 2;
    while !used.insert(format!("{vendor}:{pkg_name}")) {
        pkg_name = format!("{}-v{k}", domain.name);
        k += 1;
    }
    let version = format!("{}.{}.{}", rng.below(2), rng.below(12), rng.below(8));
    let package = format!("{vendor}:{pkg_name}@{version}");

    // A world-level function in about a third of the components; the rest in interfaces.
    let world_fn = count > 1 && rng.chance(33);
    let iface_fns = count - usize::from(world_fn);
    // Big components split their functions over two interfaces.
    let split = iface_fns > 6 && rng.chance(50);

    let mut wit = String::new();
    let _ = writeln!(
        wit,
        "/// {} by {}: {}.\npackage {package};\n",
        capitalise(domain.name),
        title(vendor),
        domain.about
    );

    // Pick distinct (verb, noun) pairs.
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let total = VERBS.len() * domain.nouns.len();
    let wanted = iface_fns.min(total);
    while pairs.len() < wanted {
        let pair = (rng.below(VERBS.len()), rng.below(domain.nouns.len()));
        if !pairs.contains(&pair) {
            pairs.push(pair);
        }
    }
    let mut extra = iface_fns - wanted; // more functions asked for than shapes: numbered variants

    let halves: Vec<Vec<(usize, usize)>> = if split {
        let mid = pairs.len() / 2;
        vec![pairs[..mid].to_vec(), pairs[mid..].to_vec()]
    } else {
        vec![pairs]
    };
    let mut iface_names: Vec<String> = Vec::new();
    for (h, half) in halves.iter().enumerate() {
        // Name the interface after the first of its nouns not already taken.
        let iface_noun = half
            .iter()
            .map(|p| p.1)
            .find(|&n| !iface_names.contains(&plural(domain.nouns[n].0)))
            .unwrap_or(half.first().map_or(0, |p| p.1));
        let mut iface = plural(domain.nouns[iface_noun].0);
        if iface_names.contains(&iface) {
            iface = format!("{}-admin", domain.name);
        }

        // Functions first, to learn which types they use.
        let mut funcs: Vec<(String, &Verb, &str, &str)> = Vec::new();
        for &(v, n) in half {
            let verb = &VERBS[v];
            let (noun, human) = domain.nouns[n];
            let fname = if verb.plural {
                format!("{}-{}", verb.verb, plural(noun))
            } else {
                format!("{}-{noun}", verb.verb)
            };
            funcs.push((fname, verb, noun, human));
        }
        // Numbered variants only when a tiny domain cannot supply enough distinct shapes.
        while extra > 0 && h == halves.len() - 1 {
            let v = rng.below(VERBS.len());
            let (noun, human) = *rng.pick(domain.nouns);
            let fname = format!("{}-{noun}-v{}", VERBS[v].verb, extra + 1);
            funcs.push((fname, &VERBS[v], noun, human));
            extra -= 1;
        }
        let mut records: Vec<(&str, &str)> = Vec::new();
        let mut uses = |ty: &str, noun: &'static str, human: &'static str| {
            if ty.contains('@') && !records.iter().any(|(n, _)| *n == noun) {
                records.push((noun, human));
            }
        };
        let mut text_of_funcs = String::new();
        let mut all_types = String::new();
        for (fname, verb, noun, human) in &funcs {
            let doc = verb
                .doc
                .replace("{n}s", &plural(human))
                .replace("a {n}", &format!("{} {human}", article(human)))
                .replace("{n}", human);
            let params: Vec<String> = verb
                .params
                .iter()
                .map(|(p, t)| {
                    uses(t, noun, human);
                    all_types.push_str(t);
                    format!("{p}: {}", t.replace('@', noun).replace('!', "unit"))
                })
                .collect();
            let result = verb
                .result
                .map(|r| {
                    uses(r, noun, human);
                    all_types.push_str(r);
                    format!(" -> {}", r.replace('@', noun))
                })
                .unwrap_or_default();
            let _ = write!(
                text_of_funcs,
                "\n    /// {doc}\n    {fname}: func({}){result};\n",
                params.join(", ")
            );
        }

        let _ = writeln!(
            wit,
            "/// Operations on {} {}.\ninterface {iface} {{",
            if h == 0 { "the" } else { "more" },
            plural(domain.nouns[iface_noun].1)
        );
        let mut first = true;
        let mut sep = |wit: &mut String| {
            if !std::mem::take(&mut first) {
                wit.push('\n');
            }
        };
        for (noun, human) in records {
            sep(&mut wit);
            let _ = writeln!(
                wit,
                "    /// {} {human}.\n    record {noun} {{",
                capitalise(article(human))
            );
            let _ = writeln!(wit, "        /// Stable identifier.\n        id: string,");
            let _ = writeln!(wit, "        /// Display name.\n        name: string,");
            // Fields depend on the vendor and noun only, so a record looks the same wherever it appears.
            let mut field_rng = Rng(fnv(&format!("{vendor}/{noun}")));
            let mut fields: Vec<usize> = Vec::new();
            for _ in 0..1 + field_rng.below(3) {
                let f = field_rng.below(FIELDS.len());
                if !fields.contains(&f) {
                    fields.push(f);
                }
            }
            fields.sort_unstable();
            for f in fields {
                let (fname, fty, fdoc) = FIELDS[f];
                let _ = writeln!(wit, "        /// {fdoc}\n        {fname}: {fty},");
            }
            let _ = writeln!(wit, "    }}");
        }
        if all_types.contains('!') {
            sep(&mut wit);
            let _ = writeln!(wit, "    /// A unit of measure.\n    enum unit {{");
            for u in domain.units {
                let _ = writeln!(
                    wit,
                    "        /// {}.\n        {u},",
                    capitalise(&u.replace('-', " "))
                );
            }
            let _ = writeln!(wit, "    }}");
        }
        if all_types.contains("status") {
            sep(&mut wit);
            let _ = writeln!(
                wit,
                "    /// Processing status.\n    enum status {{\n        /// Waiting to start.\n        pending,\n        /// In progress.\n        active,\n        /// Finished successfully.\n        completed,\n        /// Finished with an error.\n        failed,\n    }}"
            );
        }
        if all_types.contains("export-format") {
            sep(&mut wit);
            let _ = writeln!(
                wit,
                "    /// Output format for exports.\n    enum export-format {{\n        /// Comma-separated values with a header row.\n        csv,\n        /// A JSON array of objects.\n        json,\n    }}"
            );
        }
        wit.push_str(&text_of_funcs);
        let _ = writeln!(wit, "}}\n");
        iface_names.push(iface);
    }

    // Imports: some components read the environment or the clock.
    let mut imports = Vec::new();
    if rng.chance(25) {
        imports.push("wasi:cli/environment@0.2.0");
    }
    if rng.chance(25) {
        imports.push("wasi:clocks/wall-clock@0.2.0");
    }

    // A world may not share a name with an interface of its package.
    let world_name = if iface_names.contains(&pkg_name) {
        format!("{pkg_name}-service")
    } else {
        pkg_name.clone()
    };
    let _ = writeln!(
        wit,
        "/// The {} {} component.\nworld {world_name} {{",
        title(vendor),
        domain.name
    );
    for import in &imports {
        let _ = writeln!(wit, "    import {import};");
    }
    for iface in &iface_names {
        let _ = writeln!(wit, "    export {iface};");
    }
    if world_fn {
        let _ = writeln!(
            wit,
            "    /// Report the {} service version and whether its backend is reachable.\n    export health-check: func() -> tuple<string, bool>;",
            domain.name
        );
    }
    let _ = writeln!(wit, "}}");

    Generated {
        name: format!("{vendor}-{pkg_name}"),
        package,
        wit,
        functions: count,
        imports,
    }
}

/// A generated component and its encoded WIT package.
pub struct Built {
    pub generated: Generated,
    pub component: Vec<u8>,
    pub wit_package: Vec<u8>,
}

/// Turn generated WIT into a component and an encoded WIT package.
pub fn build(generated: Generated) -> Result<Built> {
    let mut resolve = Resolve::default();
    resolve.push_str("wasi-cli.wit", WASI_CLI)?;
    resolve.push_str("wasi-clocks.wit", WASI_CLOCKS)?;
    let pkg = resolve
        .push_str(format!("{}.wit", generated.name), &generated.wit)
        .with_context(|| {
            format!(
                "generated WIT for {} does not parse:\n{}",
                generated.name, generated.wit
            )
        })?;
    let world = resolve.select_world(&[pkg], None)?;
    let mut module =
        wit_component::dummy_module(&resolve, world, ManglingAndAbi::Legacy(LiftLowerAbi::Sync));
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)?;
    let component = ComponentEncoder::default()
        .module(&module)?
        .validate(true)
        .encode()
        .with_context(|| format!("encoding component {}", generated.name))?;
    let wit_package = wit::encode(&resolve, pkg)?.bytes;
    Ok(Built {
        generated,
        component,
        wit_package,
    })
}

/// Generate the whole corpus in memory.
pub fn generate(functions: usize, per_component: usize, seed: u64) -> Result<Vec<Built>> {
    if per_component == 0 {
        bail!("--per-component must be at least 1");
    }
    let mut rng = Rng(seed);
    let mut used = BTreeSet::new();
    let mut left = functions;
    let mut out = Vec::new();
    let mut index = 0;
    while left > 0 {
        let count = left.min(per_component);
        out.push(build(generate_wit(&mut rng, index, count, &mut used))?);
        left -= count;
        index += 1;
    }
    Ok(out)
}

/// `cargo xtask gen-corpus`.
pub fn run(opts: &Options) -> Result<()> {
    let corpus = generate(opts.functions, opts.per_component, opts.seed)?;
    fs::create_dir_all(opts.out.join("wit"))
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let mut index =
        String::from("name\tpackage\tfunctions\timports\tsha256\tsize\tmanifest_digest\n");
    for built in &corpus {
        let g = &built.generated;
        fs::write(opts.out.join(format!("{}.wasm", g.name)), &built.component)?;
        fs::write(
            opts.out.join(format!("{}.wit.wasm", g.name)),
            &built.wit_package,
        )?;
        fs::write(opts.out.join("wit").join(format!("{}.wit", g.name)), &g.wit)?;
        let manifest_digest = if opts.layout {
            let (name, version) = g.package.split_once('@').expect("packages are versioned");
            let (imports, exports) = wit::component_world_items(&built.component)?;
            oci::write_layout(
                &opts.out.join("layouts").join(&g.name),
                &[oci::Artifact {
                    component: &built.component,
                    wit_package: Some(&built.wit_package),
                    tag: version,
                    created: "2025-01-01T00:00:00Z",
                    annotations: vec![
                        ("org.opencontainers.image.title", name.to_string()),
                        ("org.opencontainers.image.version", version.to_string()),
                        (
                            "org.opencontainers.image.description",
                            first_doc_line(&g.wit),
                        ),
                        (
                            "org.opencontainers.image.created",
                            "2025-01-01T00:00:00Z".to_string(),
                        ),
                    ],
                    exports,
                    imports,
                }],
            )?
            .remove(0)
        } else {
            "-".to_string()
        };
        let _ = writeln!(
            index,
            "{}\t{}\t{}\t{}\t{}\t{}\t{manifest_digest}",
            g.name,
            g.package,
            g.functions,
            if g.imports.is_empty() {
                "-".to_string()
            } else {
                g.imports.join(",")
            },
            hex::encode(Sha256::digest(&built.component)),
            built.component.len()
        );
    }
    fs::write(opts.out.join("corpus.tsv"), index)?;
    println!(
        "wrote {} components with {} functions to {}{}",
        corpus.len(),
        opts.functions,
        opts.out.display(),
        if opts.layout {
            " (with OCI layouts under layouts/)"
        } else {
            ""
        }
    );
    Ok(())
}

fn first_doc_line(wit: &str) -> String {
    wit.lines()
        .next()
        .and_then(|l| l.strip_prefix("/// "))
        .unwrap_or_default()
        .to_string()
}
