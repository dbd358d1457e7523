//! forage-fuzz: the fuzz targets, one function per untrusted input kind, each taking
//! arbitrary bytes and required never to panic, hang or allocate without bound.
//!
//! Two drivers run them: `cargo fuzz run TARGET` (the `fuzz/` crate, libFuzzer, a nightly
//! toolchain) for long runs on demand, and [`mutate_and_run`], a deterministic mutation loop
//! over seed inputs on stable Rust, whose short run is a test (`cargo test -p forage-fuzz`).
//! See `docs/RELIABILITY.md`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use wasmtime::component::types::{ComponentFunc, ComponentItem};

/// The `types` fixture: every WIT type as a parameter, the richest schema to convert into.
pub const TYPES_COMPONENT: &[u8] = include_bytes!("../../fixtures/built/types.wasm");

/// The `types` fixture's exported functions, compiled once.
fn types_functions() -> &'static [ComponentFunc] {
    static FUNCS: OnceLock<Vec<ComponentFunc>> = OnceLock::new();
    FUNCS.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        let engine = wasmtime::Engine::new(&config).expect("engine");
        let component = wasmtime::component::Component::new(&engine, TYPES_COMPONENT).expect("types fixture compiles");
        let mut out = Vec::new();
        for (_, item) in component.component_type().exports(&engine) {
            match item.ty {
                ComponentItem::ComponentFunc(f) => out.push(f),
                ComponentItem::ComponentInstance(i) => {
                    for (_, fi) in i.exports(&engine) {
                        if let ComponentItem::ComponentFunc(f) = fi.ty {
                            out.push(f);
                        }
                    }
                }
                _ => {}
            }
        }
        out
    })
}

/// JSON arguments → component values, for every function of the `types` fixture (what a
/// `tools/call` from any MCP client goes through).
pub fn json_to_component_values(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    for func in types_functions() {
        if let Some(args) = value.as_object() {
            let _ = forage_runtime::wit_json::args_to_vals(args, func);
        }
        for (_, ty) in func.params() {
            let _ = forage_runtime::wit_json::json_to_val(&value, &ty);
        }
    }
}

/// WIT extraction from arbitrary bytes, as a component and as a shipped WIT package.
pub fn wit_extraction(data: &[u8]) {
    let _ = forage_indexer::describe::describe(data, None, &BTreeMap::new());
    let _ = forage_indexer::describe::describe(TYPES_COMPONENT, Some(data), &BTreeMap::new());
}

/// OCI manifests and indexes, and the operator's trust and grant configuration.
pub fn manifest_and_config(data: &[u8]) {
    let _ = forage_indexer::fetch::check_manifest(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(trust) = toml::from_str::<forage_policy::trust::TrustConfig>(text) {
            // The allowlist compiles patterns; key material would be read from files, which a
            // fuzz target must not do.
            let _ = forage_policy::trust::Allowlist::from_config(&trust.allowlist);
        }
        if let Ok(grants) = toml::from_str::<forage_policy::grants::GrantsConfig>(text) {
            let c = forage_policy::Capability::Env { name: "X".into() };
            let _ = grants.validate_request(&c);
        }
    }
}

/// Signature envelopes: Notary JWS and COSE, Sigstore trusted roots, PEM public keys.
pub fn signature_envelopes(data: &[u8]) {
    let _ = forage_notary::parse_envelope(data, forage_notary::MEDIA_TYPE_JWS);
    let _ = forage_notary::parse_envelope(data, forage_notary::MEDIA_TYPE_COSE);
    let _ = forage_policy::trust::bundle::TrustedRoot::from_json(data);
    let _ = forage_policy::trust::PublicKey::from_pem(data, "fuzz");
}

/// A fuzz target: takes any bytes, must not panic.
pub type Target = fn(&[u8]);

/// Every target by name, for the drivers.
/// Signed index snapshots: the arbitrary bytes as an `oci-archive` file, as a signature
/// envelope, and as an index archive that a trusted key signed (so unpacking and the content
/// checks run on them, not only the signature check).
pub fn snapshot_reading(data: &[u8]) {
    use forage_indexer::snapshot::{Snapshot, SnapshotLimits, unpack};
    use forage_policy::snapshot::{FORMAT_VERSION, SnapshotSigningKey, Statement, TrustedSnapshotKeys};
    static KEY: OnceLock<SnapshotSigningKey> = OnceLock::new();
    let key = KEY.get_or_init(|| SnapshotSigningKey::generate().expect("key"));
    let keys = TrustedSnapshotKeys::from_keys(vec![key.public_key()]);
    let limits = SnapshotLimits { max_payload_bytes: 1 << 20, max_unpacked_bytes: 4 << 20, max_files: 64 };
    if let Ok(s) = Snapshot::read_archive_from(data, "fuzz", &limits) {
        let _ = s.verify(&keys);
    }
    let _ = keys.verify(data);
    let statement = Statement {
        format: FORMAT_VERSION,
        payload: forage_policy::Digest::of(data),
        payload_size: data.len() as u64,
        schema: forage_indexer::search::SearchIndex::schema_fingerprint(),
        created: 0,
        functions: 1,
        digests: vec![forage_policy::Digest::of(b"fuzz")],
    };
    let snap = Snapshot::assemble(data.to_vec().into(), &statement, key);
    if let Ok(v) = snap.verify(&keys) {
        let dir = std::env::temp_dir().join(format!("forage-fuzz-snapshot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = unpack(&snap, &v, &dir, &limits);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A search document for function `name` of package `a:b` with `signature` (from `func(` on)
/// and `description`, in component `key`: the fields a fuzz index needs, the rest empty.
fn search_doc(name: &str, signature: &str, description: &str, key: &str) -> forage_indexer::search::SearchDoc {
    serde_json::from_value(serde_json::json!({
        "id": format!("a:b//{name}@000000000000"), "package": "a:b", "interface": null, "function": name,
        "version": null, "reference": "r", "description": description, "signature": format!("{name}: {signature}"),
        "params": [], "type_text": [], "component_description": null, "capabilities": [], "registry": "r",
        "verified": {"verdict": "unsigned", "signer": null, "scope": null}, "component_key": key}))
    .expect("a search document")
}

/// A search query, through the whole path: the compound split, the literal kinds, the
/// conversion markers, the signature parser and shape comparison, both legs and fusion. The
/// index holds converters and functions with rich signatures, so that the parsed shapes have
/// something to compare against.
pub fn search_queries(data: &[u8]) {
    use forage_indexer::search::{SearchDoc, SearchIndex, SearchQuery};
    static INDEX: OnceLock<SearchIndex> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let index = SearchIndex::in_memory();
        let digest = forage_policy::Digest::of(b"fuzz-search");
        let functions = [
            ("csv-to-json", "func(csv: string, delimiter: char) -> result<string, string>", "Convert CSV text to JSON."),
            ("json-to-csv", "func(json: string, delimiter: char) -> result<string, string>", "Convert JSON to CSV text."),
            ("from-roman", "func(numeral: string) -> result<u32, string>", "Read a Roman numeral."),
            ("resize", "func(image: list<u8>, width: u32, height: u32) -> result<list<u8>, string>", "Resize an image."),
            ("multiply", "func(a: list<list<f64>>, b: list<list<f64>>) -> result<list<list<f64>>, string>", "Matrix product."),
            ("request", "func(method: string, headers: list<tuple<string, string>>, body: option<string>) -> result<response, string>", "Send an HTTP request."),
        ];
        let key = digest.to_string();
        let docs: Vec<SearchDoc> = functions.iter().map(|(name, sig, desc)| search_doc(name, sig, desc, &key)).collect();
        index.replace_component(&digest.to_string(), &docs).expect("index");
        index.commit().expect("commit");
        index
    });
    let _ = index.search(&SearchQuery::new(String::from_utf8_lossy(data).into_owned()).limit(5));
}

pub const TARGETS: [(&str, Target); 6] = [
    ("search_queries", search_queries),
    ("snapshot_reading", snapshot_reading),
    ("json_to_component_values", json_to_component_values),
    ("wit_extraction", wit_extraction),
    ("manifest_and_config", manifest_and_config),
    ("signature_envelopes", signature_envelopes),
];

/// xorshift64*: deterministic, so a failure reproduces from its seed and iteration.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

/// One mutation of `input`: a flipped bit, a random byte, a deleted, duplicated or inserted
/// run, a truncation, or an interesting value (0, 0xff, 0x7f, 0x80) spliced in.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                v.drain(a..b);
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let run = v[a..b].to_vec();
                let at = rng.below(len);
                v.splice(at..at, run);
            }
            4 => {
                let at = rng.below(len + 1);
                let run: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
                v.splice(at..at, run);
            }
            5 if len > 0 => v.truncate(rng.below(len)),
            _ => {
                let at = rng.below(len + 1);
                let b = [0u8, 0xff, 0x7f, 0x80][rng.below(4)];
                v.insert(at, b);
            }
        }
    }
    v
}

/// Runs `target` on each seed and on `iterations` mutations of them; returns how many inputs
/// ran. A panic names the target, the seed and the iteration, so it reproduces.
pub fn mutate_and_run(name: &str, target: Target, seeds: &[Vec<u8>], iterations: usize, seed: u64) -> usize {
    let mut rng = Rng(seed | 1);
    let mut ran = 0;
    let mut run = |input: &[u8], what: &str| {
        if std::panic::catch_unwind(|| target(input)).is_err() {
            // Keep the input, so it can become a regression test (fuzz-targets/regressions/).
            let saved = std::env::temp_dir().join(format!("forage-fuzz-{name}-{seed}-{}.bin", what.replace(' ', "-")));
            let _ = std::fs::write(&saved, input);
            panic!("fuzz target {name} panicked on {what} (seed {seed}); input saved to {}", saved.display());
        }
        ran += 1;
    };
    for (i, s) in seeds.iter().enumerate() {
        run(s, &format!("seed input {i}"));
    }
    for it in 0..iterations {
        let base = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base);
        run(&input, &format!("iteration {it}"));
    }
    ran
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(path: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path))
            .unwrap_or_else(|e| panic!("seed {path}: {e}"))
    }

    /// Seed inputs per target: real, valid inputs of each kind, which the mutations then break.
    fn seeds(name: &str) -> Vec<Vec<u8>> {
        match name {
            "json_to_component_values" => [
                r#"{"a": 1, "b": 2}"#,
                r#"{"value": {"x": 1.5, "y": -2.0}, "items": ["a", "b"], "flag": [true]}"#,
                r#"{"v": {"some": {"some": null}}, "r": {"ok": [1, 2, 3]}, "e": "red"}"#,
                r#"[{"k": "v"}, 18446744073709551615, -9223372036854775808, 1e308, "\u0000"]"#,
            ]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect(),
            "wit_extraction" => vec![repo("fixtures/built/types.wit.wasm"), repo("fixtures/built/hostile.wit.wasm")],
            "manifest_and_config" => {
                let mut v = vec![repo("fixtures/built/layout/index.json")];
                let index: serde_json::Value = serde_json::from_slice(&v[0]).unwrap();
                let first = index["manifests"][0]["digest"].as_str().unwrap();
                v.push(repo(&format!("fixtures/built/layout/blobs/sha256/{}", &first[7..])));
                v.push(b"[allowlist]\nallow = [\"ghcr.io/acme/*\"]\ndeny = [\"ghcr.io/acme/x-*\"]\n".to_vec());
                v.push(
                    b"[[rule]]\nname = \"r\"\neffect = \"allow\"\ncapability = { kind = \"storage\", path = \"/srv\" }\n".to_vec(),
                );
                v
            }
            "signature_envelopes" => vec![
                repo(
                    "notary/tests/data/notary/notation-e2e/oci_layout/e2e-valid-signature/blobs/sha256/\
                     c9af07e038b2b1a463e648986ad7273157511ffeba0b689f33e5472bae471f50",
                ),
                repo("notary/tests/data/notary/notation-go/timestamp/coseWithTimestamp.sig"),
                b"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n".to_vec(),
                br#"{"tlogs":[{"baseUrl":"x","hashAlgorithm":"SHA2_256","publicKey":{"rawBytes":"AA==","keyDetails":"PKIX_ECDSA_P256_SHA_256","validFor":{"start":"2021-01-01T00:00:00Z"}},"logId":{"keyId":"AA=="}}]}"#.to_vec(),
            ],
            "snapshot_reading" => {
                // A real snapshot of a one-function index: the archive file and its layers.
                use forage_indexer::search::SearchIndex;
                let index = SearchIndex::in_memory();
                let digest = forage_policy::Digest::of(b"seed");
                let doc = search_doc("f", "func()", "d", &digest.to_string());
                index.replace_component(&digest.to_string(), &[doc]).unwrap();
                index.commit().unwrap();
                let work = std::env::temp_dir().join(format!("forage-fuzz-seed-{}", std::process::id()));
                let key = forage_policy::snapshot::SnapshotSigningKey::generate().unwrap();
                let (snap, _) = forage_indexer::snapshot::Snapshot::build(&index, &key, &work).unwrap();
                let file = work.join("seed.tar");
                snap.write_archive(&file).unwrap();
                let archive = std::fs::read(&file).unwrap();
                let _ = std::fs::remove_dir_all(&work);
                vec![archive, snap.payload.to_vec(), snap.envelope.to_vec()]
            }
            "search_queries" => [
                "fn(year: u32) -> bool",
                "func(xs, ys []float64) ([]float64, error)",
                "(headers: Array<[string, string]>, body?: string) => Promise<Response>",
                "def f(m: list[list[float]]) -> Optional[int]",
                "takes pdf bytes, returns a list of strings; bytes in, string out",
                "pdftotext html2text xlsx2csv qrencode uuid4",
                "got csv, need json; from yaml into toml",
                "what year is MCMLXXXIV, 98.6F at 51.5, -0.12 for alice@example.com",
                "AND( \" : * -> => [ ] < > ( ) ' &'a mut",
            ]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect(),
            other => panic!("no seeds for {other}"),
        }
    }

    /// The short run CI does; `FORAGE_FUZZ_ITERATIONS` makes it longer on demand.
    #[test]
    fn targets_survive_mutated_inputs() {
        let iterations: usize = std::env::var("FORAGE_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
        for (i, (name, target)) in TARGETS.iter().enumerate() {
            let ran = mutate_and_run(name, *target, &seeds(name), iterations, 0x5eed + i as u64);
            eprintln!("{name}: {ran} inputs, no panic");
        }
    }

    /// Every input a run ever crashed on (`regressions/TARGET-N.bin`) stays fixed.
    #[test]
    fn regressions_stay_fixed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
        let mut ran = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_str().unwrap().to_string();
            let (name, target) = TARGETS
                .iter()
                .find(|(n, _)| file.starts_with(&format!("{n}-")))
                .unwrap_or_else(|| panic!("{file}: names no target"));
            let input = std::fs::read(&path).unwrap();
            assert!(std::panic::catch_unwind(|| target(&input)).is_ok(), "{name} panics again on {file}");
            ran += 1;
        }
        assert!(ran > 0);
    }

    #[test]
    fn the_runner_reports_a_panicking_target() {
        fn fragile(data: &[u8]) {
            assert!(!data.contains(&0xff), "found 0xff");
        }
        let r = std::panic::catch_unwind(|| mutate_and_run("fragile", fragile, &[b"abc".to_vec()], 5000, 7));
        assert!(r.is_err(), "mutations must reach a byte the target cannot take");
    }
}
