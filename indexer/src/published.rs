//! WIT packages published on their own: the second docs source of the contract.
//!
//! Toolchains drop WIT doc comments from the component binary, and a publisher who does not
//! ship the WIT package in the same artifact can publish it separately, as `wkg publish` does:
//! package `namespace:name@version` is an OCI artifact at
//! `<registry>/<prefix><namespace>/<name>:<version>`, whose one `application/wasm` layer is the
//! binary-encoded WIT package. The operator says where such packages live ([`WitRegistry`],
//! `[[wit_source]]` in the daemon's config).
//!
//! For a component without a WIT package of its own, [`find`] looks up the package of every
//! exported interface (by name *and* version) in the configured registries, through the
//! caller's fetch (the crawler's [`crate::fetch::Fetcher`], with its credentials, TLS
//! settings, timeouts and caps), decodes it off the async runtime and checks it:
//!
//! * it must decode as a WIT package (not a component, not garbage) and be exactly the package
//!   and version looked up;
//! * it must define every exported interface of that package and, in each, every function the
//!   component exports, with the same parameter names.
//!
//! A package that fails either check is not trusted: its docs are not used, and the reason,
//! naming the reference, is kept in [`ComponentInfo::docs_warnings`] (and logged). A package
//! that is simply not published is no warning: most are not. Nothing here fails the component.
//! [`apply`] then merges the accepted packages' docs (function docs, docs of the parameters'
//! named types, the package description) into the described component.
//!
//! World-level exported functions have no package to look up and keep their names and types.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio::sync::OnceCell;
use wit_parser::decoding::DecodedWasm;
use wit_parser::{PackageId, Resolve, Type};

use crate::crawl::glob_matches;
use crate::describe::{ComponentInfo, DocsSource, decode};
use crate::fetch::{FetchError, FetchedWitPackage};
use crate::reference::{OciRef, Target};

/// One configured place where WIT packages are published, the `wkg` way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitRegistry {
    /// The registry host as written in references (`ghcr.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Prepended to `namespace/name` to make the repository (wkg's `namespacePrefix`), e.g.
    /// `wit/`; empty for none.
    pub prefix: String,
    /// Globs of the WIT namespaces published there (`acme`, `acme-*`); empty means every one.
    /// The first registry serving a namespace is the one asked.
    pub namespaces: Vec<String>,
}

impl WitRegistry {
    /// Does this registry publish packages of `namespace`?
    pub fn serves(&self, namespace: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.iter().any(|g| glob_matches(g, namespace))
    }

    /// Where `package` is published here: `<registry>/<prefix><namespace>/<name>:<version>`.
    pub fn reference(&self, package: &PackageKey) -> Result<OciRef, PublishedWitError> {
        let repository = format!("{}{}/{}", self.prefix, package.namespace, package.name);
        OciRef::new(&self.registry, &repository, Target::Tag(package.version.clone())).map_err(|e| {
            PublishedWitError::Reference {
                package: package.to_string(),
                registry: self.registry.clone(),
                detail: e.to_string(),
            }
        })
    }
}

/// A WIT package name with its version, `namespace:name@version`: what is looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageKey {
    /// `acme` of `acme:tz@1.0.0`.
    pub namespace: String,
    /// `tz` of `acme:tz@1.0.0`.
    pub name: String,
    /// `1.0.0` of `acme:tz@1.0.0`.
    pub version: String,
}

impl PackageKey {
    /// The package of an exported interface named `ns:pkg/iface@version`; `None` without a
    /// version (nothing to match it by) or without a package (a bare `iface`).
    pub fn of_interface(interface: &str) -> Option<PackageKey> {
        let (base, version) = interface.split_once('@')?;
        let (package, _iface) = base.split_once('/')?;
        let (namespace, name) = package.split_once(':')?;
        (!namespace.is_empty() && !name.is_empty() && !version.is_empty()).then(|| PackageKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
            version: version.to_string(),
        })
    }
}

impl fmt::Display for PackageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}@{}", self.namespace, self.name, self.version)
    }
}

/// Why a published WIT package was not used. Every variant names the package and, once
/// there is one, the reference it was read from.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishedWitError {
    /// The package and the registry's prefix do not make a valid OCI reference.
    #[error("WIT package {package}: no valid reference for it in registry {registry}: {detail}")]
    Reference {
        /// The package looked up.
        package: String,
        /// The registry.
        registry: String,
        /// What is wrong.
        detail: String,
    },
    /// Fetching failed (the fetch error names registry and what).
    #[error("WIT package {package}: {detail}")]
    Fetch {
        /// The package looked up.
        package: String,
        /// The fetch layer's message.
        detail: String,
    },
    /// The bytes are not a binary-encoded WIT package.
    #[error("{reference}: is not a WIT package (looked up as {package}): {detail}")]
    NotWit {
        /// The pinned reference.
        reference: String,
        /// The package looked up.
        package: String,
        /// What the decoder said.
        detail: String,
    },
    /// A WIT package, but another one (or another version).
    #[error("{reference}: holds WIT package {found}, not {package}; its docs are not used")]
    WrongPackage {
        /// The pinned reference.
        reference: String,
        /// The package looked up.
        package: String,
        /// The package it holds.
        found: String,
    },
    /// The package does not define what the component exports from it.
    #[error("{reference}: WIT package {package} does not match the component: {detail}; its docs are not used")]
    Mismatch {
        /// The pinned reference.
        reference: String,
        /// The package.
        package: String,
        /// The first difference.
        detail: String,
    },
}

/// A published WIT package, decoded and known to be the package it was looked up as.
#[derive(Debug)]
pub struct PublishedPackage {
    /// The pinned reference it was read from.
    pub reference: String,
    /// What it was looked up as.
    pub key: PackageKey,
    resolve: Resolve,
    package: PackageId,
}

/// Decodes `fetched` and checks it is WIT package `key` (blocking: run it off the runtime).
/// The decoder's panics on hostile bytes become [`PublishedWitError::NotWit`].
pub fn decode_package(key: &PackageKey, fetched: &FetchedWitPackage) -> Result<PublishedPackage, PublishedWitError> {
    let (resolve, package) = match decode(&fetched.bytes) {
        Ok(DecodedWasm::WitPackage(r, p)) => (r, p),
        Ok(DecodedWasm::Component(..)) => {
            return Err(PublishedWitError::NotWit {
                reference: fetched.reference.clone(),
                package: key.to_string(),
                detail: "it is a component, not a WIT-only package".into(),
            });
        }
        Err(detail) => {
            return Err(PublishedWitError::NotWit {
                reference: fetched.reference.clone(),
                package: key.to_string(),
                detail,
            });
        }
    };
    let name = &resolve.packages[package].name;
    let found = format!(
        "{}:{}{}",
        name.namespace,
        name.name,
        name.version.as_ref().map(|v| format!("@{v}")).unwrap_or_default()
    );
    if found != key.to_string() {
        return Err(PublishedWitError::WrongPackage {
            reference: fetched.reference.clone(),
            package: key.to_string(),
            found,
        });
    }
    Ok(PublishedPackage {
        reference: fetched.reference.clone(),
        key: key.clone(),
        resolve,
        package,
    })
}

/// What one lookup gave: the package, `None` when it is not published, or why it was refused.
pub type Lookup = Result<Option<Arc<PublishedPackage>>, PublishedWitError>;

/// One lookup as the crawler remembers it, to notice a package published, moved or removed
/// since: the tag reference asked and the manifest digest it resolved to (`None` when it was
/// not there or could not be fetched).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    /// `registry/prefixns/name:version`.
    pub reference: String,
    /// `sha256:…` of the manifest read.
    pub digest: Option<String>,
}

/// What [`find`] found for one component.
#[derive(Debug, Default)]
pub struct Found {
    /// The packages accepted, for [`apply`].
    pub packages: Vec<Arc<PublishedPackage>>,
    /// The packages refused, each naming its reference.
    pub refused: Vec<PublishedWitError>,
    /// Every lookup made.
    pub seen: Vec<Seen>,
}

/// Lookups by package, so that components sharing a package cost one fetch and one decode:
/// the crawler keeps one per pass (a republished package is seen by the next pass).
#[derive(Default)]
pub struct WitCache {
    entries: Mutex<HashMap<PackageKey, Arc<CachedLookup>>>,
}

/// One package's lookup, made once however many components ask.
type CachedLookup = OnceCell<(Seen, Lookup)>;

impl fmt::Debug for WitCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.entries.lock().map(|e| e.len()).unwrap_or_default();
        f.debug_struct("WitCache").field("packages", &n).finish()
    }
}

impl WitCache {
    /// Forgets every lookup.
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// How [`find`] fetches a reference (the crawler adds its per-registry limits and retries).
pub type FetchFn<'a> = dyn Fn(OciRef) -> BoxFuture<'a, Result<FetchedWitPackage, FetchError>> + Send + Sync + 'a;

/// Looks up, fetches, decodes and checks the published WIT packages of `info`'s exported
/// interfaces (see the module docs).
pub async fn find(info: &ComponentInfo, registries: &[WitRegistry], cache: &WitCache, fetch: &FetchFn<'_>) -> Found {
    let mut keys: Vec<PackageKey> =
        info.functions.iter().filter_map(|f| f.interface.as_deref().and_then(PackageKey::of_interface)).collect();
    keys.sort();
    keys.dedup();
    let mut found = Vec::new();
    let mut refused = Vec::new();
    let mut seen = Vec::new();
    for key in keys {
        let Some(registry) = registries.iter().find(|r| r.serves(&key.namespace)) else { continue };
        let reference = match registry.reference(&key) {
            Ok(r) => r,
            Err(e) => {
                refused.push(e);
                continue;
            }
        };
        let cell = {
            let mut entries = cache.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries.entry(key.clone()).or_default().clone()
        };
        let (s, lookup) = cell.get_or_init(|| lookup(reference, &key, fetch)).await.clone();
        seen.push(s);
        match lookup {
            Ok(Some(p)) => match check(info, &p) {
                Ok(()) => found.push(p),
                Err(e) => refused.push(e),
            },
            Ok(None) => {}
            Err(e) => refused.push(e),
        }
    }
    for e in &refused {
        tracing::warn!("published WIT docs: {e}");
    }
    Found { packages: found, refused, seen }
}

async fn lookup(reference: OciRef, key: &PackageKey, fetch: &FetchFn<'_>) -> (Seen, Lookup) {
    let mut seen = Seen { reference: reference.to_string(), digest: None };
    let fetched = match fetch(reference.clone()).await {
        Ok(f) => f,
        // Not published: the usual case, and no fault of anyone's.
        Err(FetchError::NotFound { .. }) => {
            tracing::debug!(package = %key, %reference, "no published WIT package");
            return (seen, Ok(None));
        }
        Err(e) => {
            let e = PublishedWitError::Fetch {
                package: key.to_string(),
                detail: e.to_string(),
            };
            return (seen, Err(e));
        }
    };
    seen.digest = Some(fetched.digest.to_string());
    let key2 = key.clone();
    let decoded = match tokio::task::spawn_blocking(move || decode_package(&key2, &fetched)).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return (seen, Err(e)),
        Err(e) => {
            let e = PublishedWitError::Fetch {
                package: key.to_string(),
                detail: format!("decoding failed: {e}"),
            };
            return (seen, Err(e));
        }
    };
    tracing::info!(package = %key, reference = %decoded.reference, "found published WIT package");
    (seen, Ok(Some(Arc::new(decoded))))
}

/// Does `p` define every interface and function `info` exports from its package, with the same
/// parameter names? A package that differs is for another build and its docs would mislead.
fn check(info: &ComponentInfo, p: &PublishedPackage) -> Result<(), PublishedWitError> {
    let mismatch = |detail: String| PublishedWitError::Mismatch {
        reference: p.reference.clone(),
        package: p.key.to_string(),
        detail,
    };
    let pkg = &p.resolve.packages[p.package];
    for f in &info.functions {
        let Some(interface) = f.interface.as_deref() else { continue };
        if PackageKey::of_interface(interface).as_ref() != Some(&p.key) {
            continue;
        }
        let short = short_interface(interface);
        let Some(iid) = pkg.interfaces.get(short) else {
            return Err(mismatch(format!("it has no interface `{short}`")));
        };
        let Some(df) = p.resolve.interfaces[*iid].functions.get(&f.name) else {
            return Err(mismatch(format!("interface `{short}` has no function `{}`", f.name)));
        };
        let theirs: Vec<&str> = df.params.iter().map(|p| p.name.as_str()).collect();
        let ours: Vec<&str> = f.params.iter().map(|(n, _)| n.as_str()).collect();
        if theirs != ours {
            return Err(mismatch(format!(
                "`{short}.{}` takes ({}) there but ({}) in the component",
                f.name,
                theirs.join(", "),
                ours.join(", ")
            )));
        }
    }
    Ok(())
}

/// `ns:pkg/iface@1.0.0` → `iface`.
fn short_interface(interface: &str) -> &str {
    let base = interface.split('@').next().unwrap_or(interface);
    base.rsplit('/').next().unwrap_or(base)
}

/// Merges the docs of `packages` (accepted by [`find`]) into `info`, and records `refused`.
/// Function docs and type docs fill what is missing; the package description of the
/// component's package replaces one taken from annotations or wasm-metadata (the contract puts
/// published WIT before them). [`ComponentInfo::docs_source`] becomes
/// [`DocsSource::PublishedWit`] when any docs were taken.
pub fn apply(info: &mut ComponentInfo, packages: &[Arc<PublishedPackage>], refused: &[PublishedWitError]) {
    info.docs_warnings.extend(refused.iter().map(|e| e.to_string()));
    let mut used = Vec::new();
    for p in packages {
        let pkg = &p.resolve.packages[p.package];
        let mut took = false;
        for f in &mut info.functions {
            let Some(interface) = f.interface.as_deref() else { continue };
            if PackageKey::of_interface(interface).as_ref() != Some(&p.key) {
                continue;
            }
            let Some(iid) = pkg.interfaces.get(short_interface(interface)) else { continue };
            let iface = &p.resolve.interfaces[*iid];
            let Some(df) = iface.functions.get(&f.name) else { continue };
            if f.docs.is_none()
                && let Some(d) = &df.docs.contents
            {
                f.docs = Some(d.clone());
                took = true;
            }
            // Docs of the named types the parameters use, as the WIT package names them.
            for param in &df.params {
                if let Type::Id(id) = param.ty
                    && let Some(name) = &p.resolve.types[id].name
                    && let Some(d) = &p.resolve.types[id].docs.contents
                    && !f.type_docs.contains_key(name)
                {
                    f.type_docs.insert(name.clone(), d.clone());
                    took = true;
                }
            }
        }
        let is_main = info.package.as_deref() == Some(&format!("{}:{}", p.key.namespace, p.key.name));
        if is_main
            && info.docs_source != DocsSource::WitPackage
            && let Some(d) = &pkg.docs.contents
        {
            info.description = Some(d.clone());
            took = true;
        }
        if took {
            used.push(p.reference.clone());
        }
    }
    if !used.is_empty() && info.docs_source != DocsSource::WitPackage {
        info.docs_source = DocsSource::PublishedWit;
        info.docs_references = used;
    }
}


#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use forage_policy::Digest;

    use super::*;
    use crate::describe::describe;
    use crate::fetch::testutil::fixture;

    fn registry() -> WitRegistry {
        WitRegistry { registry: "reg.example".into(), prefix: "wit/".into(), namespaces: vec!["forage*".into()] }
    }

    /// A fetch that serves `bytes` for every reference (or 404 for `None`), counting calls.
    fn serving<'a>(
        bytes: Option<Vec<u8>>,
        calls: &'a AtomicUsize,
    ) -> impl Fn(OciRef) -> BoxFuture<'a, Result<FetchedWitPackage, FetchError>> + Send + Sync + 'a {
        move |r: OciRef| {
            calls.fetch_add(1, Ordering::SeqCst);
            let bytes = bytes.clone();
            Box::pin(async move {
                match bytes {
                    Some(b) => Ok(FetchedWitPackage {
                        reference: r.pinned(Digest::of(&b)).to_string(),
                        digest: Digest::of(&b),
                        bytes: Bytes::from(b),
                    }),
                    None => Err(FetchError::NotFound {
                        registry: r.registry().into(),
                        repository: r.repository().into(),
                        target: "tag".into(),
                        what: "manifest".into(),
                    }),
                }
            })
        }
    }

    fn hash_component() -> ComponentInfo {
        describe(&fixture("hash.wasm"), None, &BTreeMap::new()).unwrap()
    }

    fn encode(wit: &str) -> Vec<u8> {
        let mut r = Resolve::default();
        let pkg = r.push_str("t.wit", wit).unwrap();
        wit_component::encode(&r, pkg).unwrap()
    }

    #[test]
    fn packages_map_to_wkg_references() {
        let key = PackageKey::of_interface("forage:hash/hash@0.1.0").unwrap();
        assert_eq!(key.to_string(), "forage:hash@0.1.0");
        assert_eq!(registry().reference(&key).unwrap().to_string(), "reg.example/wit/forage/hash:0.1.0");
        assert_eq!(PackageKey::of_interface("forage:hash/hash"), None, "no version, nothing to match");
        assert_eq!(PackageKey::of_interface("exports"), None);
        assert!(registry().serves("forage") && registry().serves("forage-fixtures"));
        assert!(!registry().serves("acme"));
        assert!(WitRegistry { namespaces: vec![], ..registry() }.serves("acme"));
    }

    #[tokio::test]
    async fn docs_come_from_the_published_package() {
        let mut info = hash_component();
        assert!(info.functions.iter().all(|f| f.docs.is_none()), "the fixture carries no docs");
        let calls = AtomicUsize::new(0);
        let fetch = serving(Some(fixture("hash.wit.wasm")), &calls);
        let cache = WitCache::default();
        let Found { packages: found, refused, seen } = find(&info, &[registry()], &cache, &fetch).await;
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(found.len(), 1);
        let wit_digest = Digest::of(&fixture("hash.wit.wasm")).to_string();
        assert_eq!(seen, [Seen { reference: "reg.example/wit/forage/hash:0.1.0".into(), digest: Some(wit_digest) }]);
        apply(&mut info, &found, &refused);
        assert_eq!(info.docs_source, DocsSource::PublishedWit);
        assert_eq!(info.docs_references.len(), 1);
        assert!(info.docs_references[0].starts_with("reg.example/wit/forage/hash@sha256:"), "{:?}", info.docs_references);
        assert_eq!(info.description.as_deref(), Some("Hashes, checksums and byte encodings."));
        let crc = info.functions.iter().find(|f| f.name == "crc32").unwrap();
        assert_eq!(crc.docs.as_deref(), Some("CRC-32 (IEEE) checksum of a UTF-8 string."));
        let digest = info.functions.iter().find(|f| f.name == "digest").unwrap();
        assert_eq!(digest.type_docs.get("algorithm").map(String::as_str), Some("A digest algorithm."));
        // Cached for the pass: a second component of the same package costs no fetch.
        find(&hash_component(), &[registry()], &cache, &fetch).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn unpublished_or_unserved_packages_change_nothing() {
        let before = hash_component();
        let calls = AtomicUsize::new(0);
        let Found { packages: found, refused, seen } = find(&before, &[registry()], &WitCache::default(), &serving(None, &calls)).await;
        assert!(found.is_empty() && refused.is_empty(), "a 404 is not a warning: {refused:?}");
        assert_eq!(seen, [Seen { reference: "reg.example/wit/forage/hash:0.1.0".into(), digest: None }], "remembered as absent");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let other = WitRegistry { namespaces: vec!["acme".into()], ..registry() };
        let Found { packages: found, seen, .. } = find(&before, &[other], &WitCache::default(), &serving(Some(fixture("hash.wit.wasm")), &calls)).await;
        assert!(found.is_empty() && seen.is_empty());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a namespace no registry serves is not looked up");
    }

    /// Hostile or mistaken publications are refused with the reference named, and cost only
    /// the docs.
    #[tokio::test]
    async fn wrong_packages_are_refused_naming_the_reference() {
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("another package", fixture("clock.wit.wasm"), "holds WIT package forage:clock@0.1.0, not forage:hash@0.1.0"),
            ("another version", encode("package forage:hash@0.2.0;\ninterface hash { crc32: func(text: string) -> u32; }\n"), "not forage:hash@0.1.0"),
            ("a component", fixture("hash.wasm"), "is not a WIT package"),
            ("not wasm", b"{\"not\": \"wasm\"}".to_vec(), "is not a WIT package"),
            ("truncated", fixture("hash.wit.wasm")[..200].to_vec(), "is not a WIT package"),
            (
                "a function missing",
                encode("/// Lies.\npackage forage:hash@0.1.0;\ninterface hash {\n  /// Lies.\n  crc32: func(text: string) -> u32;\n}\n"),
                "interface `hash` has no function",
            ),
            (
                "other parameters",
                encode(&String::from_utf8_lossy(&std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/rust/hash/wit/hash.wit")).unwrap()).replace("crc32: func(text: string)", "crc32: func(input: string)")),
                "`hash.crc32` takes (input) there but (text) in the component",
            ),
        ];
        for (what, bytes, expected) in cases {
            let mut info = hash_component();
            let source = info.docs_source;
            let calls = AtomicUsize::new(0);
            let Found { packages: found, refused, seen } = find(&info, &[registry()], &WitCache::default(), &serving(Some(bytes), &calls)).await;
            assert!(found.is_empty(), "{what}: accepted");
            assert!(seen[0].digest.is_some(), "{what}: a refused package is remembered by digest, to notice a fix");
            assert_eq!(refused.len(), 1, "{what}: {refused:?}");
            let message = refused[0].to_string();
            assert!(message.contains(expected), "{what}: {message}");
            assert!(message.contains("reg.example/wit/forage/hash@sha256:"), "{what}: names the reference: {message}");
            apply(&mut info, &found, &refused);
            assert_eq!(info.docs_source, source, "{what}");
            assert!(info.functions.iter().all(|f| f.docs.is_none()), "{what}: no docs taken");
            assert_eq!(info.docs_warnings, [message], "{what}");
        }
    }

    #[tokio::test]
    async fn fetch_failures_name_the_package() {
        let info = hash_component();
        let fetch = |r: OciRef| -> BoxFuture<'_, Result<FetchedWitPackage, FetchError>> {
            Box::pin(async move {
                Err(FetchError::TooLarge { source_name: format!("registry {}", r.registry()), what: "layer".into(), limit: 10, size: Some(11) })
            })
        };
        let Found { packages: found, refused, seen } = find(&info, &[registry()], &WitCache::default(), &fetch).await;
        assert!(found.is_empty() && seen[0].digest.is_none());
        let message = refused[0].to_string();
        assert!(message.contains("WIT package forage:hash@0.1.0") && message.contains("larger than the 10-byte limit"), "{message}");
    }

    /// A component that ships its own WIT package keeps it as its docs source.
    #[tokio::test]
    async fn an_own_wit_package_comes_first() {
        let mut info = describe(&fixture("hash.wasm"), Some(&fixture("hash.wit.wasm")), &BTreeMap::new()).unwrap();
        assert_eq!(info.docs_source, DocsSource::WitPackage);
        let calls = AtomicUsize::new(0);
        let Found { packages: found, refused, .. } = find(&info, &[registry()], &WitCache::default(), &serving(Some(fixture("hash.wit.wasm")), &calls)).await;
        apply(&mut info, &found, &refused);
        assert_eq!(info.docs_source, DocsSource::WitPackage);
        assert!(info.docs_references.is_empty());
    }
}
