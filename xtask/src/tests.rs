//! Tests: the generator writes valid components, every committed fixture is a
//! component whose exports match its WIT package, and `fixtures --check` catches a
//! stale fixture where no guest toolchain is installed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::corpus;
use crate::fixtures::{self, FIXTURES, Fixture, Outcome};
use crate::oci;
use crate::wit;

fn without_plumbing(names: BTreeSet<String>) -> BTreeSet<String> {
    names.into_iter().filter(|n| !wit::is_plumbing(n)).collect()
}

#[test]
fn generated_components_validate_and_match_their_wit() {
    let corpus = corpus::generate(60, 7, 3).unwrap();
    assert_eq!(corpus.len(), 9, "60 functions at 7 per component");
    let mut total = 0;
    let mut packages = BTreeSet::new();
    for built in &corpus {
        let name = &built.generated.name;
        wit::validate_component(&built.component).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let exports = wit::component_export_names(&built.component).unwrap();
        assert_eq!(exports.len(), built.generated.functions, "{name}");
        total += exports.len();
        let worlds = wit::package_world_exports(&built.wit_package).unwrap();
        assert_eq!(worlds.len(), 1, "{name}: one world per package");
        assert_eq!(
            worlds[0].1, exports,
            "{name}: WIT package and component disagree"
        );
        assert!(
            packages.insert(built.generated.package.clone()),
            "duplicate package {}",
            built.generated.package
        );
        assert!(
            built.generated.wit.contains("/// "),
            "{name}: generated WIT has docs"
        );
    }
    assert_eq!(total, 60);
}

#[test]
fn generator_is_deterministic_and_seed_sensitive() {
    let a = corpus::generate(20, 5, 7).unwrap();
    let b = corpus::generate(20, 5, 7).unwrap();
    let c = corpus::generate(20, 5, 8).unwrap();
    let bytes = |v: &[corpus::Built]| v.iter().map(|b| b.component.clone()).collect::<Vec<_>>();
    assert_eq!(bytes(&a), bytes(&b));
    assert_ne!(bytes(&a), bytes(&c));
}

#[test]
fn generator_handles_more_functions_than_a_domain_has_shapes() {
    // 150 functions in one component is more than the 110 verb x noun shapes of a domain.
    let corpus = corpus::generate(150, 150, 11).unwrap();
    assert_eq!(corpus.len(), 1);
    wit::validate_component(&corpus[0].component).unwrap();
    assert_eq!(
        wit::component_export_names(&corpus[0].component)
            .unwrap()
            .len(),
        150
    );
}

#[test]
fn generator_imports_wasi_in_some_components() {
    let corpus = corpus::generate(200, 4, 1).unwrap();
    assert!(corpus.iter().any(|b| !b.generated.imports.is_empty()));
    assert!(corpus.iter().any(|b| b.generated.imports.is_empty()));
}

#[test]
fn oci_layout_holds_component_and_wit_layers() {
    let built = corpus::generate(3, 3, 5).unwrap().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let digest = oci::write_layout(
        dir.path(),
        &[oci::Artifact {
            component: &built.component,
            wit_package: Some(&built.wit_package),
            tag: "1.2.3",
            created: "2025-01-01T00:00:00Z",
            annotations: vec![("org.opencontainers.image.title", "demo".into())],
            exports: vec!["demo".into()],
            imports: vec![],
        }],
    )
    .unwrap()
    .remove(0);
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").unwrap();
        let bytes = fs::read(dir.path().join("blobs/sha256").join(hex)).unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            hex,
            "blob content matches its name"
        );
        bytes
    };
    let layout: Value =
        serde_json::from_slice(&fs::read(dir.path().join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: Value =
        serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let desc = &index["manifests"][0];
    assert_eq!(desc["digest"], digest.as_str());
    assert_eq!(
        desc["annotations"]["org.opencontainers.image.ref.name"],
        "1.2.3"
    );
    let manifest: Value = serde_json::from_slice(&blob(&digest)).unwrap();
    assert_eq!(manifest["config"]["mediaType"], oci::CONFIG_MEDIA_TYPE);
    let config: Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    assert_eq!(config["architecture"], "wasm");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert!(
        layers
            .iter()
            .all(|l| l["mediaType"] == oci::WASM_MEDIA_TYPE)
    );
    assert_eq!(blob(layers[0]["digest"].as_str().unwrap()), built.component);
    assert_eq!(
        blob(layers[1]["digest"].as_str().unwrap()),
        built.wit_package
    );
    // Both layers are component-shaped binaries; decoding tells them apart, as forage does.
    assert!(wit::component_export_names(&built.component).is_ok());
    assert!(wit::component_export_names(&built.wit_package).is_err());
    assert!(wit::package_world_exports(&built.wit_package).is_ok());
}

#[test]
fn committed_fixtures_are_components_whose_exports_match_their_wit() {
    let root = fixtures::fixtures_dir();
    let manifest = fixtures::read_manifest(&root.join("built/MANIFEST.tsv")).unwrap();
    let mut seen = BTreeMap::new();
    for fixture in FIXTURES {
        let name = fixture.name;
        let bytes = fs::read(root.join("built").join(format!("{name}.wasm"))).unwrap();
        wit::validate_component(&bytes).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let row = manifest
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from MANIFEST.tsv"));
        assert_eq!(
            row.sha256,
            hex::encode(Sha256::digest(&bytes)),
            "{name}: MANIFEST sha256"
        );
        assert_eq!(row.size, bytes.len() as u64, "{name}: MANIFEST size");
        assert_eq!(row.source, fixture.source);

        let exports = without_plumbing(wit::component_export_names(&bytes).unwrap());
        assert!(!exports.is_empty(), "{name} exports nothing");
        let wit_bytes = fs::read(root.join("built").join(format!("{name}.wit.wasm"))).unwrap();
        let worlds = wit::package_world_exports(&wit_bytes).unwrap();
        assert!(
            worlds.iter().any(|(_, w)| *w == exports),
            "{name}: component exports {exports:?} match no world of its WIT package {worlds:?}"
        );
        seen.insert(name, exports.len());
    }
    assert_eq!(
        seen.len(),
        manifest.len(),
        "MANIFEST.tsv lists exactly the fixtures"
    );
}

#[test]
fn committed_wit_packages_match_their_sources() {
    // Needs no wasm toolchain, so this runs everywhere and catches a WIT edit
    // that was not followed by `cargo xtask fixtures`.
    let root = fixtures::fixtures_dir();
    let manifest = fixtures::read_manifest(&root.join("built/MANIFEST.tsv")).unwrap();
    for fixture in FIXTURES {
        let pkg = wit::encode_dir(&root.join(fixture.source).join("wit")).unwrap();
        let committed = fs::read(
            root.join("built")
                .join(format!("{}.wit.wasm", fixture.name)),
        )
        .unwrap();
        assert!(
            committed == pkg.bytes,
            "{}: built WIT package is stale; run `cargo xtask fixtures`",
            fixture.name
        );
        assert_eq!(manifest[fixture.name].package, pkg.name);
    }
}

#[test]
fn committed_fixture_sources_match_the_manifest() {
    let root = fixtures::fixtures_dir();
    let manifest = fixtures::read_manifest(&root.join("built/MANIFEST.tsv")).unwrap();
    for fixture in FIXTURES {
        assert_eq!(
            fixtures::source_sha256(&root, fixture).unwrap(),
            manifest[fixture.name].source_sha256,
            "{}: sources changed since fixtures/built was made; run `cargo xtask fixtures`",
            fixture.name
        );
    }
}

#[test]
fn wit_docs_survive_in_the_encoded_packages() {
    let root = fixtures::fixtures_dir();
    let bytes = fs::read(root.join("built/clock.wit.wasm")).unwrap();
    let wit_component::DecodedWasm::WitPackage(resolve, pkg) =
        wit_component::decode(&bytes).unwrap()
    else {
        panic!("not a WIT package");
    };
    let iface = resolve.packages[pkg].interfaces["time"];
    let docs = resolve.interfaces[iface].functions["convert-time"]
        .docs
        .contents
        .as_deref();
    assert!(
        docs.unwrap_or_default()
            .contains("Convert a local date-time"),
        "{docs:?}"
    );
}

#[test]
fn committed_layout_matches_the_built_fixtures() {
    let built = fixtures::fixtures_dir().join("built");
    let dir = tempfile::tempdir().unwrap();
    fixtures::write_fixture_layout(&built, &dir.path().join("layout")).unwrap();
    let fresh = fixtures::tree(&dir.path().join("layout")).unwrap();
    let committed = fixtures::tree(&built.join("layout")).unwrap();
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>(),
        "built/layout is stale; run `cargo xtask fixtures`"
    );
    assert!(
        committed == fresh,
        "built/layout is stale; run `cargo xtask fixtures`"
    );
    let index: Value = serde_json::from_slice(&committed["index.json"]).unwrap();
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(tags, FIXTURES.iter().map(|f| f.name).collect::<Vec<_>>());
}

#[test]
fn rust_fixtures_carry_wasm_metadata_descriptions() {
    let root = fixtures::fixtures_dir();
    let bytes = fs::read(root.join("built/clock.wasm")).unwrap();
    let mut found = BTreeMap::new();
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let Ok(wasmparser::Payload::CustomSection(c)) = payload {
            found.insert(
                c.name().to_string(),
                String::from_utf8_lossy(c.data()).into_owned(),
            );
        }
    }
    assert_eq!(
        found.get("description").map(String::as_str),
        Some("Clocks and time zones: the current time, and conversion between zones.")
    );
    assert_eq!(
        found.get("licenses").map(String::as_str),
        Some("Apache-2.0")
    );
}

#[test]
fn gen_corpus_writes_components_wit_and_layouts() {
    let dir = tempfile::tempdir().unwrap();
    corpus::run(&corpus::Options {
        functions: 10,
        out: dir.path().to_path_buf(),
        per_component: 4,
        seed: 9,
        layout: true,
    })
    .unwrap();
    let index = fs::read_to_string(dir.path().join("corpus.tsv")).unwrap();
    let rows: Vec<&str> = index.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "10 functions at 4 per component");
    for row in rows {
        let name = row.split('\t').next().unwrap();
        let wasm = fs::read(dir.path().join(format!("{name}.wasm"))).unwrap();
        wit::validate_component(&wasm).unwrap();
        assert!(dir.path().join(format!("{name}.wit.wasm")).is_file());
        assert!(dir.path().join("wit").join(format!("{name}.wit")).is_file());
        let layout = dir.path().join("layouts").join(name);
        assert!(layout.join("oci-layout").is_file() && layout.join("index.json").is_file());
        let digest = row.rsplit('\t').next().unwrap();
        assert!(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:"))
                .is_file()
        );
    }
}

/// Copy `from` to `to` recursively, leaving out build output (`target`) and installed
/// npm packages (`node_modules`).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "target" || entry.file_name() == "node_modules" {
            continue;
        }
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// A writable copy of `fixtures/`, for tests that edit sources.
fn fixtures_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures::fixtures_dir(), dir.path());
    dir
}

fn fixture(name: &str) -> &'static Fixture {
    FIXTURES.iter().find(|f| f.name == name).unwrap()
}

/// Replace exactly one occurrence of `from` in `path`, so an edit cannot silently miss.
fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} in {}",
        path.display()
    );
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// `cargo xtask fixtures --check` under `root` as it runs where no guest toolchain is
/// installed (CI): every selected fixture skipped, nothing rebuilt. Returns the problems.
fn check_without_toolchain(root: &Path, names: &[&str]) -> Vec<String> {
    let built = root.join("built");
    let committed = fixtures::read_manifest(&built.join("MANIFEST.tsv")).unwrap();
    let selected: Vec<&Fixture> = names.iter().map(|n| fixture(n)).collect();
    let outcomes: BTreeMap<&str, Outcome> = selected
        .iter()
        .map(|f| (f.name, Outcome::Skipped))
        .collect();
    let out = tempfile::tempdir().unwrap();
    fixtures::check(root, &built, &committed, &selected, &outcomes, out.path()).unwrap()
}

#[test]
fn committed_fixtures_export_exactly_what_their_source_wit_declares() {
    let root = fixtures::fixtures_dir();
    for fixture in FIXTURES {
        let name = fixture.name;
        let bytes = fs::read(root.join("built").join(format!("{name}.wasm"))).unwrap();
        let wit_dir = root.join(fixture.source).join("wit");
        let drift = fixtures::export_drift(fixture, &bytes, &wit_dir).unwrap();
        assert!(drift.is_empty(), "{name}: {drift:#?}");
        assert!(
            !wit::component_export_signatures(&bytes).unwrap().is_empty(),
            "{name} exports nothing"
        );
    }
    // componentize-py's plumbing is in the component but is not compared.
    let pytext = fs::read(root.join("built/pytext.wasm")).unwrap();
    assert!(
        wit::component_export_names(&pytext)
            .unwrap()
            .contains("exports#init")
    );
    assert!(
        !wit::component_export_signatures(&pytext)
            .unwrap()
            .contains_key("exports#init")
    );
    // Types are printed resolved, nominal types with their whole body.
    let types = wit::component_export_signatures(&fs::read(root.join("built/types.wasm")).unwrap())
        .unwrap();
    assert_eq!(
        types["forage-fixtures:types/kitchen-sink@0.1.0#maybe-fail"],
        "func(fail: bool, code: u32) -> result<_, record error-record { code: u32, message: string }>"
    );
    assert_eq!(
        types["greet"],
        "func(name: string, title: option<string>) -> string"
    );
    assert_eq!(types["noop"], "func()");
}

#[test]
fn check_without_toolchain_passes_on_the_committed_fixtures() {
    let names: Vec<&str> = FIXTURES.iter().map(|f| f.name).collect();
    let problems = check_without_toolchain(&fixtures::fixtures_dir(), &names);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn check_without_toolchain_fails_when_the_component_no_longer_implements_its_wit() {
    // A WIT edit followed by `cargo xtask fixtures` where wasm32-wasip2 is missing:
    // the WIT package, the layout and MANIFEST.tsv are refreshed (that needs no
    // toolchain) but built/types.wasm is the old binary. The manifest's source_sha256
    // is made current as well (hand-edited, or a merge that took one side), so only
    // the component's own type can tell that it does not implement the new WIT.
    let copy = fixtures_copy();
    let root = copy.path();
    let built = root.join("built");
    let types = fixture("types");
    edit(
        &root.join("rust/types/wit/types.wit"),
        "export add: func(a: u32, b: u32) -> u32;",
        "export add: func(a: u32, b: u64) -> u32;",
    );
    let pkg = wit::encode_dir(&root.join("rust/types/wit")).unwrap();
    fs::write(built.join("types.wit.wasm"), &pkg.bytes).unwrap();
    let mut manifest = fixtures::read_manifest(&built.join("MANIFEST.tsv")).unwrap();
    let row = manifest.get_mut("types").unwrap();
    row.wit_sha256 = hex::encode(Sha256::digest(&pkg.bytes));
    row.source_sha256 = fixtures::source_sha256(root, types).unwrap();
    fixtures::write_manifest(&built.join("MANIFEST.tsv"), &manifest).unwrap();
    fixtures::write_fixture_layout(&built, &built.join("layout")).unwrap();

    let problems = check_without_toolchain(root, &["types"]);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let line = &problems[0];
    assert!(
        line.starts_with("types: world types, function add: "),
        "{line}"
    );
    assert!(
        line.contains("`func(a: u32, b: u32) -> u32`")
            && line.contains("`func(a: u32, b: u64) -> u32`"),
        "{line}"
    );
}

#[test]
fn export_drift_names_every_changed_function_and_ignores_docs() {
    let root = fixtures::fixtures_dir();
    let types = fixture("types");
    let component = fs::read(root.join("built/types.wasm")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&root.join("rust/types/wit"), dir.path());
    let wit_file = dir.path().join("types.wit");
    for (from, to) in [
        // Docs are not part of the component type.
        ("/// Echo a boolean.", "/// Echo a boolean, reworded."),
        ("/// A 2D point.", ""),
        // A parameter type, a result type, a parameter name.
        (
            "echo-u8: func(value: u8) -> u8;",
            "echo-u8: func(value: u16) -> u8;",
        ),
        (
            "echo-u16: func(value: u16) -> u16;",
            "echo-u16: func(value: u16) -> u32;",
        ),
        (
            "echo-s8: func(value: s8) -> s8;",
            "echo-s8: func(v: s8) -> s8;",
        ),
        // A renamed function and a removed one.
        ("sum: func(", "total: func("),
        ("chars: func(text: string) -> list<char>;", ""),
        // A field deep inside types that three functions use (point < rect < shape).
        ("y: f64,", "y: f32,"),
        // A world-level function.
        ("export noop: func();", "export noop: func(x: u32);"),
    ] {
        edit(&wit_file, from, to);
    }
    let drift = fixtures::export_drift(types, &component, dir.path()).unwrap();
    let iface = "interface forage-fixtures:types/kitchen-sink@0.1.0, function";
    let expected = [
        format!("types: {iface} echo-u8: built/types.wasm exports `func(value: u8) -> u8` but"),
        format!("types: {iface} echo-u16: built/types.wasm exports `func(value: u16) -> u16` but"),
        format!("types: {iface} echo-s8: built/types.wasm exports `func(value: s8) -> s8` but"),
        format!("types: {iface} total: declared in {}/wit as `func(values: list<f64>) -> f64` but not exported", types.source),
        format!("types: {iface} sum: exported by built/types.wasm as `func(values: list<f64>) -> f64` but not declared"),
        format!("types: {iface} chars: exported by built/types.wasm as"),
        format!("types: {iface} echo-rect: built/types.wasm exports"),
        format!("types: {iface} echo-shape: built/types.wasm exports"),
        format!("types: {iface} area: built/types.wasm exports"),
        "types: world types, function noop: built/types.wasm exports `func()` but rust/types/wit declares `func(x: u32)`".to_string(),
    ];
    for want in &expected {
        assert_eq!(
            drift
                .iter()
                .filter(|line| line.starts_with(want.as_str()))
                .count(),
            1,
            "expected one line starting {want:?} in {drift:#?}"
        );
    }
    assert_eq!(drift.len(), expected.len(), "{drift:#?}");
    let area = drift.iter().find(|l| l.contains("function area:")).unwrap();
    assert!(area.contains("record point { x: f64, y: f32 }"), "{area}");
}

#[test]
fn check_without_toolchain_fails_when_rust_sources_changed_since_the_build() {
    // Without wasm32-wasip2 the committed text.wasm cannot be rebuilt from edited
    // sources, so it is not known to match them, even though its exports still do.
    let copy = fixtures_copy();
    let root = copy.path();
    let lib = root.join("rust/text/src/lib.rs");
    let mut source = fs::read_to_string(&lib).unwrap();
    source.push_str("\n// An edit after the committed build.\n");
    fs::write(&lib, source).unwrap();
    let problems = check_without_toolchain(root, &["text"]);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("text: sources in rust/text changed since the committed build")
            && problems[0].contains("source_sha256"),
        "{}",
        problems[0]
    );
}

#[test]
fn check_without_toolchain_fails_when_go_sources_changed_since_the_build() {
    // Go builds are byte-reproducible, so like a Rust fixture, a Go fixture whose sources
    // moved cannot pass on the committed binary where Go is missing.
    let copy = fixtures_copy();
    let root = copy.path();
    edit(&root.join("go/gotext/textutil.go"), "c.lines++", "c.lines += 2");
    let problems = check_without_toolchain(root, &["gotext"]);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("gotext: sources in go/gotext changed since the committed build")
            && problems[0].contains("(go not available)"),
        "{}",
        problems[0]
    );
}

#[test]
fn check_without_toolchain_fails_when_javascript_sources_changed_since_the_build() {
    let copy = fixtures_copy();
    let root = copy.path();
    edit(&root.join("js/semver/semver.js"), "const MAX_U32 = 4294967295;", "const MAX_U32 = 65535;");
    let problems = check_without_toolchain(root, &["semver"]);
    assert_eq!(problems, ["semver: sources changed since the committed build (source_sha256)"]);
    // npm's install directory is not a source: its presence or absence changes nothing.
    let before = fixtures::source_sha256(root, fixture("semver")).unwrap();
    fs::create_dir_all(root.join("js/semver/node_modules/x")).unwrap();
    fs::write(root.join("js/semver/node_modules/x/index.js"), "1").unwrap();
    assert_eq!(fixtures::source_sha256(root, fixture("semver")).unwrap(), before);
}

#[test]
fn javascript_and_go_fixtures_carry_their_descriptions_and_no_http() {
    let root = fixtures::fixtures_dir();
    for (name, description) in [
        ("semver", "Semantic versions in JavaScript (built with componentize-js)"),
        ("gotext", "Text utilities written in Go"),
    ] {
        let bytes = fs::read(root.join(format!("built/{name}.wasm"))).unwrap();
        let mut found = BTreeMap::new();
        for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
            if let Ok(wasmparser::Payload::CustomSection(c)) = payload {
                found.insert(c.name().to_string(), String::from_utf8_lossy(c.data()).into_owned());
            }
        }
        assert!(found["description"].starts_with(description), "{name}: {found:?}");
        assert_eq!(found["licenses"], "Apache-2.0");
        // Neither needs the network, so neither may import wasi:http.
        let (imports, _) = wit::component_world_items(&bytes).unwrap();
        assert!(!imports.is_empty(), "{name} imports WASI for its runtime");
        assert!(imports.iter().all(|i| !i.contains("wasi:http")), "{name}: {imports:?}");
    }
}
