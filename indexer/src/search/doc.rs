//! [`SearchDoc`]: one exported function as the search index stores and returns it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use wit_parser::{Function, PackageId, Resolve, Type, TypeDefKind};

use crate::describe::{ComponentInfo, DocsSource, FunctionInfo, type_name};

/// One exported function of one component, the unit of search.
///
/// Built from a described component ([`SearchDoc::from_component`]) or straight from a WIT
/// package ([`SearchDoc::from_wit_package`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchDoc {
    /// Stable id: `{package}/{interface-or-empty}/{function}@{digest12}`.
    pub id: String,
    /// WIT package `namespace:name`, without version.
    pub package: String,
    /// Short interface name (`zones` for `acme:tz/zones@1.0.0`), `None` for world-level functions.
    pub interface: Option<String>,
    /// WIT function name (kebab-case).
    pub function: String,
    /// Package version, when known.
    pub version: Option<String>,
    /// OCI reference pinned by digest (`registry/repo@sha256:…`), or whatever REF loads it.
    pub reference: String,
    /// The function's doc comment.
    pub description: Option<String>,
    /// WIT-style signature, e.g. `convert-time: func(time: string, to-zone: string) -> string`.
    pub signature: String,
    /// Parameter names and WIT types.
    pub params: Vec<(String, String)>,
    /// Names and docs of the types the function uses, their enum cases and field names: extra
    /// text that says what the arguments mean.
    pub type_text: Vec<String>,
    /// Package- or component-level description.
    pub component_description: Option<String>,
    /// Capability classes the component imports: `filesystem`, `http`, `sockets`, …
    pub capabilities: Vec<String>,
    /// The source (registry host or configured source name) it was found in.
    pub registry: String,
    /// Verification verdict, with the signer and the trust scope that judged it.
    pub verified: Verdict,
    /// Groups all functions of one component (typically its digest or pinned reference):
    /// the unit that [`crate::search::SearchIndex::replace_component`] replaces.
    pub component_key: String,
    /// Where the docs came from ([`crate::describe::DocsSource`], kebab-case), when known.
    #[serde(default)]
    pub docs_source: Option<String>,
}

/// A verification verdict as the index stores it and search results show it: three stored
/// fields, never an encoded string to parse per result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// `verified`, `unverified`, `unsigned`, `failed`, …;
    /// [`crate::search::SearchQuery::verified_only`] keeps those whose first word is `verified`.
    pub verdict: String,
    /// Who signed it, when a signature was verified.
    pub signer: Option<String>,
    /// The trust-policy scope that judged it (or why it could not be judged).
    pub scope: Option<String>,
}

impl Verdict {
    /// A verdict with its signer and scope.
    pub fn new(verdict: impl Into<String>, signer: Option<String>, scope: Option<String>) -> Self {
        Verdict { verdict: verdict.into(), signer, scope }
    }

    /// Does it count as verified? Its first word (before `:` or a space) is `verified`.
    pub fn is_verified(&self) -> bool {
        self.verdict.split([':', ' ']).next().is_some_and(|w| w.eq_ignore_ascii_case("verified"))
    }
}

/// A bare verdict, without signer or scope (`"unverified".into()`).
impl From<&str> for Verdict {
    fn from(verdict: &str) -> Self {
        Verdict { verdict: verdict.to_string(), signer: None, scope: None }
    }
}

impl PartialEq<&str> for Verdict {
    fn eq(&self, other: &&str) -> bool {
        self.verdict == *other
    }
}

/// What a search result carries of a [`SearchDoc`]: the fields stored in the index, read back
/// as they are (no JSON, no other store). The indexed-only text (parameters, type text, the
/// component description, thesaurus words) is not kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultDoc {
    /// As [`SearchDoc::id`].
    pub id: String,
    /// As [`SearchDoc::package`].
    pub package: String,
    /// As [`SearchDoc::interface`].
    pub interface: Option<String>,
    /// As [`SearchDoc::function`].
    pub function: String,
    /// As [`SearchDoc::version`].
    pub version: Option<String>,
    /// As [`SearchDoc::reference`].
    pub reference: String,
    /// As [`SearchDoc::description`].
    pub description: Option<String>,
    /// As [`SearchDoc::signature`].
    pub signature: String,
    /// As [`SearchDoc::capabilities`].
    pub capabilities: Vec<String>,
    /// As [`SearchDoc::registry`].
    pub registry: String,
    /// As [`SearchDoc::verified`].
    pub verified: Verdict,
    /// As [`SearchDoc::component_key`].
    pub component_key: String,
    /// As [`SearchDoc::docs_source`].
    pub docs_source: Option<String>,
}

impl ResultDoc {
    /// `package/function`, the identifier acceptance checks and the golden set use.
    pub fn short_id(&self) -> String {
        format!("{}/{}", self.package, self.function)
    }
}

impl From<&SearchDoc> for ResultDoc {
    fn from(d: &SearchDoc) -> Self {
        ResultDoc {
            id: d.id.clone(),
            package: d.package.clone(),
            interface: d.interface.clone(),
            function: d.function.clone(),
            version: d.version.clone(),
            reference: d.reference.clone(),
            description: d.description.clone(),
            signature: d.signature.clone(),
            capabilities: d.capabilities.clone(),
            registry: d.registry.clone(),
            verified: d.verified.clone(),
            component_key: d.component_key.clone(),
            docs_source: d.docs_source.clone(),
        }
    }
}

/// Where a component was found and what was decided about it: the fields of a [`SearchDoc`]
/// that do not come from its WIT.
#[derive(Debug, Clone, Default)]
pub struct ComponentOrigin {
    /// OCI reference pinned by digest.
    pub reference: String,
    /// Manifest (or file) digest, `sha256:…` or bare hex; its first 12 hex digits go in ids.
    pub digest: String,
    /// Registry or source name.
    pub registry: String,
    /// Verification verdict.
    pub verified: Verdict,
    /// Capability classes (overrides nothing when built from [`ComponentInfo`], which has its own).
    pub capabilities: Vec<String>,
}

impl ComponentOrigin {
    /// The component key: the digest, which is the component's identity.
    pub fn key(&self) -> String {
        self.digest.clone()
    }

    fn digest12(&self) -> String {
        let hex = self.digest.rsplit(':').next().unwrap_or(&self.digest);
        hex.chars().take(12).collect()
    }
}

/// `ns:pkg/iface@1.0.0` → `iface`; `iface` → `iface`.
fn short_interface(name: &str) -> String {
    let base = name.split('@').next().unwrap_or(name);
    base.rsplit('/').next().unwrap_or(base).to_string()
}

fn make_id(package: &str, interface: Option<&str>, function: &str, digest12: &str) -> String {
    format!("{package}/{}/{function}@{digest12}", interface.unwrap_or(""))
}

impl SearchDoc {
    /// One doc per exported function of a described component.
    ///
    /// The package falls back to the component's first exported interface's package, then to
    /// `unknown:component`; capabilities come from `info` unless `origin` lists some.
    pub fn from_component(info: &ComponentInfo, origin: &ComponentOrigin) -> Vec<SearchDoc> {
        fn component_text(info: &ComponentInfo) -> Option<String> {
            let m = &info.metadata;
            // Every wasm-metadata field a publisher wrote is searchable, at the component
            // description's low weight: a name, an author or a licence is a fair query.
            let parts: Vec<&str> = [
                info.title.as_deref(),
                info.description.as_deref(),
                m.name.as_deref(),
                m.description.as_deref(),
                m.authors.as_deref(),
                m.licenses.as_deref(),
                m.homepage.as_deref(),
                m.source.as_deref(),
                m.revision.as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect();
            let mut seen = Vec::new();
            for p in parts {
                if !seen.contains(&p) {
                    seen.push(p);
                }
            }
            let mut text = String::new();
            for p in seen {
                if !text.is_empty() {
                    // Sentences stay sentences: "Hashes." and "Apache-2.0", not "Hashes..".
                    text.push_str(if text.ends_with(['.', '!', '?']) { " " } else { ". " });
                }
                text.push_str(p);
            }
            (!text.is_empty()).then_some(text)
        }
        let package = info.package.clone().unwrap_or_else(|| {
            info.functions
                .iter()
                .filter_map(|f| f.interface.as_deref())
                .find_map(|i| i.split_once('/').map(|(p, _)| p.to_string()))
                .unwrap_or_else(|| "unknown:component".to_string())
        });
        let capabilities =
            if origin.capabilities.is_empty() { info.capabilities.clone() } else { origin.capabilities.clone() };
        let d12 = origin.digest12();
        info.functions
            .iter()
            .map(|f: &FunctionInfo| {
                let interface = f.interface.as_deref().map(short_interface);
                let mut type_text = Vec::new();
                for (name, docs) in &f.type_docs {
                    type_text.push(name.clone());
                    type_text.push(docs.clone());
                }
                SearchDoc {
                    id: make_id(&package, interface.as_deref(), &f.name, &d12),
                    package: package.clone(),
                    interface,
                    function: f.name.clone(),
                    version: info.version.clone(),
                    reference: origin.reference.clone(),
                    description: f.docs.clone(),
                    signature: f.signature.clone(),
                    params: f.params.clone(),
                    type_text,
                    // The title and the wasm-metadata description weigh as little as the
                    // component description does.
                    component_description: component_text(info),
                    capabilities: capabilities.clone(),
                    registry: origin.registry.clone(),
                    verified: origin.verified.clone(),
                    component_key: origin.key(),
                    docs_source: Some(info.docs_source.as_str().to_string()),
                }
            })
            .collect()
    }

    /// One doc per function of every interface (and world-level export) of a WIT package, with
    /// the richest type text WIT offers: names and docs of every named type reachable from the
    /// parameters and result, their enum cases, variant cases and record fields.
    ///
    /// For WIT packages published on their own (the `wkg` convention) and for the golden set.
    pub fn from_wit_package(resolve: &Resolve, pkg: PackageId, origin: &ComponentOrigin) -> Vec<SearchDoc> {
        let p = &resolve.packages[pkg];
        let package = format!("{}:{}", p.name.namespace, p.name.name);
        let version = p.name.version.as_ref().map(|v| v.to_string());
        let d12 = origin.digest12();
        let mut out = Vec::new();
        let mut push = |iface: Option<&str>, f: &Function| {
            out.push(SearchDoc {
                id: make_id(&package, iface, &f.name, &d12),
                package: package.clone(),
                interface: iface.map(str::to_string),
                function: f.name.clone(),
                version: version.clone(),
                reference: origin.reference.clone(),
                description: f.docs.contents.clone(),
                signature: signature(resolve, f),
                params: f.params.iter().map(|p| (p.name.clone(), type_name(resolve, &p.ty))).collect(),
                type_text: type_text(resolve, f),
                component_description: p.docs.contents.clone(),
                capabilities: origin.capabilities.clone(),
                registry: origin.registry.clone(),
                verified: origin.verified.clone(),
                component_key: origin.key(),
                docs_source: Some(DocsSource::WitPackage.as_str().to_string()),
            });
        };
        for (iname, iid) in &p.interfaces {
            for f in resolve.interfaces[*iid].functions.values() {
                push(Some(iname), f);
            }
        }
        for wid in p.worlds.values() {
            for item in resolve.worlds[*wid].exports.values() {
                if let wit_parser::WorldItem::Function(f) = item {
                    push(None, f);
                }
            }
        }
        out
    }

    /// `package/function`, the identifier acceptance checks and the golden set use.
    pub fn short_id(&self) -> String {
        format!("{}/{}", self.package, self.function)
    }
}

fn signature(resolve: &Resolve, f: &Function) -> String {
    let params: Vec<String> = f.params.iter().map(|p| format!("{}: {}", p.name, type_name(resolve, &p.ty))).collect();
    let mut s = format!("{}: func({})", f.name, params.join(", "));
    if let Some(r) = &f.result {
        s.push_str(" -> ");
        s.push_str(&type_name(resolve, r));
    }
    s
}

/// Names, docs, cases and fields of the named types reachable from `f`'s parameters and result.
fn type_text(resolve: &Resolve, f: &Function) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut stack: Vec<Type> = f.params.iter().map(|p| p.ty).collect();
    stack.extend(f.result);
    while let Some(ty) = stack.pop() {
        let Type::Id(id) = ty else { continue };
        if !seen.insert(id) || seen.len() > 64 {
            continue;
        }
        let t = &resolve.types[id];
        if let Some(n) = &t.name {
            out.push(n.clone());
        }
        if let Some(d) = &t.docs.contents {
            out.push(d.clone());
        }
        match &t.kind {
            TypeDefKind::Record(r) => {
                for field in &r.fields {
                    out.push(field.name.clone());
                    stack.push(field.ty);
                }
            }
            TypeDefKind::Enum(e) => out.extend(e.cases.iter().map(|c| c.name.clone())),
            TypeDefKind::Flags(fl) => out.extend(fl.flags.iter().map(|c| c.name.clone())),
            TypeDefKind::Variant(v) => {
                for c in &v.cases {
                    out.push(c.name.clone());
                    stack.extend(c.ty);
                }
            }
            TypeDefKind::List(t) | TypeDefKind::Option(t) | TypeDefKind::Type(t) => stack.push(*t),
            TypeDefKind::Tuple(tu) => stack.extend(tu.types.iter().copied()),
            TypeDefKind::Result(r) => {
                stack.extend(r.ok);
                stack.extend(r.err);
            }
            _ => {}
        }
    }
    out
}
