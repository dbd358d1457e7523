//! What a component offers and needs, read from its binary and, for docs, from the WIT
//! package its publisher shipped beside it.
//!
//! Toolchains (wit-bindgen, componentize-py, jco) keep parameter names and types in the
//! component but drop WIT doc comments, so docs come from the first source that has them, in
//! the contract's order: a WIT-package layer in the same artifact, then a WIT package published
//! on its own (merged in afterwards by [`crate::published`], which needs the network), then OCI
//! annotations and wasm-metadata, then names and types alone. [`DocsSource`] says which one was
//! used.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use wit_parser::decoding::DecodedWasm;
use wit_parser::{Function, Resolve, Type, TypeDefKind, WorldItem};

/// Where a component's documentation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocsSource {
    /// A binary-encoded WIT package shipped with the component.
    WitPackage,
    /// WIT packages published on their own (the `wkg` convention), found in a configured
    /// source by the exported interfaces' package names and versions;
    /// [`ComponentInfo::docs_references`] says which.
    PublishedWit,
    /// OCI annotations or wasm-metadata (component-level text only).
    Annotations,
    /// Names and types alone.
    NamesOnly,
}

impl DocsSource {
    /// The name `inspect`, `load_tool` and search results show (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            DocsSource::WitPackage => "wit-package",
            DocsSource::PublishedWit => "published-wit",
            DocsSource::Annotations => "annotations",
            DocsSource::NamesOnly => "names-only",
        }
    }
}

/// One exported function as an agent should see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionInfo {
    /// The exported interface (`ns:pkg/iface@version`), `None` for world-level functions.
    pub interface: Option<String>,
    /// WIT function name (kebab-case).
    pub name: String,
    /// WIT doc comment, if any source had one.
    pub docs: Option<String>,
    /// WIT-style signature, e.g. `convert-time: func(time: string, to-zone: string) -> string`.
    pub signature: String,
    /// Parameter names and WIT types.
    pub params: Vec<(String, String)>,
    /// Per-parameter docs are not a WIT concept; type docs of named parameter types are kept
    /// here (type name → docs) because they carry enum-case and field meaning.
    pub type_docs: BTreeMap<String, String>,
}

/// A component's interface, docs and required capabilities.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComponentInfo {
    /// WIT package `namespace:name`, without version, when known.
    pub package: Option<String>,
    /// Package version, when known.
    pub version: Option<String>,
    /// Package- or component-level description.
    pub description: Option<String>,
    /// Exported functions (toolchain plumbing removed).
    pub functions: Vec<FunctionInfo>,
    /// Imported interfaces, as written (`wasi:http/outgoing-handler@0.2.0`).
    pub imports: Vec<String>,
    /// Capability classes those imports amount to: `filesystem`, `http`, `sockets`,
    /// `environment`, `clocks`, `random`.
    pub capabilities: Vec<String>,
    /// Which source the docs came from.
    pub docs_source: DocsSource,
    /// The OCI `org.opencontainers.image.title` annotation, when the artifact has one.
    #[serde(default)]
    pub title: Option<String>,
    /// The component's wasm-metadata custom sections (description, authors, licenses, …).
    #[serde(default)]
    pub metadata: WasmMetadata,
    /// With [`DocsSource::PublishedWit`]: the pinned references of the WIT packages that
    /// supplied docs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub docs_references: Vec<String>,
    /// Docs sources that were tried and refused (a published WIT package that is not the
    /// package it claims to be, or does not define what the component exports), each naming
    /// the reference at fault: what a publisher needs to fix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub docs_warnings: Vec<String>,
}

/// The wasm-metadata custom sections of a component's top level (what `wasm-tools metadata
/// add` and toolchains write): each section's content is the field's text. Nested modules'
/// sections (a language runtime's own) are not the component's and are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WasmMetadata {
    /// The component's name (`wasm-tools metadata add --name`: the component-name section).
    #[serde(default)]
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `authors`.
    pub authors: Option<String>,
    /// `licenses` (an SPDX expression).
    pub licenses: Option<String>,
    /// `homepage`.
    pub homepage: Option<String>,
    /// `source` (where the code is).
    pub source: Option<String>,
    /// `revision` (of the source).
    pub revision: Option<String>,
    /// `version`.
    pub version: Option<String>,
}

impl WasmMetadata {
    /// Reads the top-level custom sections of `component`; malformed ones are skipped.
    pub fn read(component: &[u8]) -> Self {
        let mut m = WasmMetadata::default();
        let mut depth = 0usize;
        for payload in wasmparser::Parser::new(0).parse_all(component) {
            let Ok(payload) = payload else { break };
            match payload {
                wasmparser::Payload::ModuleSection { .. } | wasmparser::Payload::ComponentSection { .. } => depth += 1,
                wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
                wasmparser::Payload::CustomSection(c) if depth == 0 && c.name() == "component-name" => {
                    // A binary name section, not text: its component-level name is the one.
                    let reader = wasmparser::ComponentNameSectionReader::new(wasmparser::BinaryReader::new(c.data(), c.data_offset()));
                    for sub in reader.into_iter().flatten() {
                        if let wasmparser::ComponentName::Component { name, .. } = sub {
                            m.name = Some(name.trim().to_string()).filter(|t| !t.is_empty() && t.len() <= 4096);
                        }
                    }
                }
                wasmparser::Payload::CustomSection(c) if depth == 0 => {
                    let Ok(text) = std::str::from_utf8(c.data()) else { continue };
                    let text = Some(text.trim().to_string()).filter(|t| !t.is_empty() && t.len() <= 4096);
                    match c.name() {
                        "description" => m.description = text,
                        "authors" => m.authors = text,
                        "licenses" => m.licenses = text,
                        "homepage" => m.homepage = text,
                        "source" => m.source = text,
                        "revision" => m.revision = text,
                        "version" => m.version = text,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        m
    }

    /// `name: value` lines of the fields present, for `inspect`.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("name", &self.name),
            ("description", &self.description),
            ("authors", &self.authors),
            ("licenses", &self.licenses),
            ("homepage", &self.homepage),
            ("source", &self.source),
            ("revision", &self.revision),
            ("version", &self.version),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// Why a component's interface could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DescribeError {
    /// The bytes are not a component whose types decode.
    #[error("cannot decode the component's WIT: {0}")]
    Component(String),
    /// The bytes decode, but as a WIT package rather than a component.
    #[error("expected a component but found a WIT package")]
    NotAComponent,
}

/// wit-parser's decoder, with its panics turned into errors. Hostile bytes reach it from any
/// registry (a component, or a "WIT package" layer), and some make it panic (found by the
/// `wit_extraction` fuzz target, kept in `fuzz-targets/regressions/`); every caller gets an
/// error naming the input instead.
pub(crate) fn decode(bytes: &[u8]) -> Result<DecodedWasm, String> {
    match std::panic::catch_unwind(|| wit_parser::decoding::decode(bytes)) {
        Ok(r) => r.map_err(|e| format!("{e:#}")),
        Err(p) => Err(format!(
            "the WIT decoder failed on these bytes ({})",
            p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "panic".into())
        )),
    }
}

/// Is `bytes` a binary-encoded WIT package (as opposed to a component or anything else)?
pub fn is_wit_package(bytes: &[u8]) -> bool {
    matches!(decode(bytes), Ok(DecodedWasm::WitPackage(..)))
}

/// Toolchain plumbing exports that are never tools.
pub fn is_plumbing_export(name: &str) -> bool {
    name.starts_with("componentize-py#") || name.starts_with("wasi:cli/run") || name == "init"
}

/// Capability class of an imported interface, if it is one a grant can cover or a user
/// should know about.
pub fn capability_of_import(name: &str) -> Option<&'static str> {
    let base = name.split('@').next().unwrap_or(name);
    match base {
        b if b.starts_with("wasi:filesystem/") => Some("filesystem"),
        b if b.starts_with("wasi:http/") => Some("http"),
        b if b.starts_with("wasi:sockets/") => Some("sockets"),
        "wasi:cli/environment" => Some("environment"),
        b if b.starts_with("wasi:clocks/") => Some("clocks"),
        b if b.starts_with("wasi:random/") => Some("random"),
        _ => None,
    }
}

/// Reads `component`'s exports and imports, taking docs from `wit_package` when given and
/// `annotations` (OCI) for the component-level description.
pub fn describe(
    component: &[u8],
    wit_package: Option<&[u8]>,
    annotations: &BTreeMap<String, String>,
) -> Result<ComponentInfo, DescribeError> {
    let (resolve, world) = match decode(component).map_err(DescribeError::Component)? {
        DecodedWasm::Component(r, w) => (r, w),
        DecodedWasm::WitPackage(..) => return Err(DescribeError::NotAComponent),
    };
    let docs = wit_package.and_then(|b| match decode(b) {
        Ok(DecodedWasm::WitPackage(r, p)) => Some((r, p)),
        _ => None,
    });
    let w = &resolve.worlds[world];

    let mut functions = Vec::new();
    let mut exported_pkg: Option<(String, Option<String>)> = None;
    for (key, item) in &w.exports {
        match item {
            WorldItem::Function(f) => {
                if is_plumbing_export(&f.name) {
                    continue;
                }
                let d = docs.as_ref().and_then(|(r, p)| world_function_docs(r, *p, &f.name));
                functions.push(function_info(&resolve, None, f, d, docs.as_ref().map(|x| &x.0)));
            }
            WorldItem::Interface { id, .. } => {
                let name = resolve.name_world_key(key);
                if is_plumbing_export(&name) {
                    continue;
                }
                let iface = &resolve.interfaces[*id];
                if exported_pkg.is_none()
                    && let Some(pid) = iface.package
                {
                    let pn = &resolve.packages[pid].name;
                    exported_pkg = Some((format!("{}:{}", pn.namespace, pn.name), pn.version.as_ref().map(|v| v.to_string())));
                }
                let doc_iface = docs.as_ref().and_then(|(r, p)| {
                    let iname = iface.name.as_deref()?;
                    let pkg = &r.packages[*p];
                    let pn = iface.package.map(|pid| &resolve.packages[pid].name)?;
                    (pkg.name.namespace == pn.namespace && pkg.name.name == pn.name)
                        .then(|| pkg.interfaces.get(iname).copied())
                        .flatten()
                });
                for (fname, f) in &iface.functions {
                    // componentize-py exports its `init` hook in an instance named `exports`.
                    if name == "exports" && fname == "init" {
                        continue;
                    }
                    let d = docs
                        .as_ref()
                        .zip(doc_iface)
                        .and_then(|((r, _), di)| r.interfaces[di].functions.get(fname))
                        .and_then(|df| df.docs.contents.clone());
                    functions.push(function_info(&resolve, Some(name.clone()), f, d, docs.as_ref().map(|x| &x.0)));
                }
            }
            WorldItem::Type { .. } => {}
        }
    }

    let mut imports = Vec::new();
    let mut caps = BTreeSet::new();
    for (key, item) in &w.imports {
        if let WorldItem::Interface { .. } = item {
            let name = resolve.name_world_key(key);
            if let Some(c) = capability_of_import(&name) {
                caps.insert(c.to_string());
            }
            imports.push(name);
        }
    }

    let (mut package, mut version, mut description) = (None, None, None);
    let mut docs_source = DocsSource::NamesOnly;
    if let Some((r, p)) = &docs {
        let pkg = &r.packages[*p];
        package = Some(format!("{}:{}", pkg.name.namespace, pkg.name.name));
        version = pkg.name.version.as_ref().map(|v| v.to_string());
        description = pkg.docs.contents.clone();
        docs_source = DocsSource::WitPackage;
    } else if let Some((p, v)) = exported_pkg {
        package = Some(p);
        version = v;
    }
    // Source 3 of the contract: OCI annotations, then the wasm-metadata sections.
    let metadata = WasmMetadata::read(component);
    let ann_desc = annotations.get("org.opencontainers.image.description").cloned();
    let fallback = ann_desc.or_else(|| metadata.description.clone());
    if description.is_none() && fallback.is_some() {
        description = fallback;
        if docs_source == DocsSource::NamesOnly {
            docs_source = DocsSource::Annotations;
        }
    }
    if version.is_none() {
        version = annotations.get("org.opencontainers.image.version").cloned().or_else(|| metadata.version.clone());
    }
    let title = annotations.get("org.opencontainers.image.title").cloned();
    Ok(ComponentInfo {
        package,
        version,
        description,
        functions,
        imports,
        capabilities: caps.into_iter().collect(),
        docs_source,
        title,
        metadata,
        docs_references: Vec::new(),
        docs_warnings: Vec::new(),
    })
}

/// Docs of a world-level function `name` in any world of the WIT package.
fn world_function_docs(r: &Resolve, pkg: wit_parser::PackageId, name: &str) -> Option<String> {
    r.packages[pkg].worlds.values().find_map(|w| {
        r.worlds[*w].exports.iter().find_map(|(_, item)| match item {
            WorldItem::Function(f) if f.name == name => f.docs.contents.clone(),
            _ => None,
        })
    })
}

fn function_info(
    resolve: &Resolve,
    interface: Option<String>,
    f: &Function,
    docs: Option<String>,
    doc_resolve: Option<&Resolve>,
) -> FunctionInfo {
    let params: Vec<(String, String)> = f.params.iter().map(|p| (p.name.clone(), type_name(resolve, &p.ty))).collect();
    let mut signature = format!(
        "{}: func({})",
        f.name,
        params.iter().map(|(n, t)| format!("{n}: {t}")).collect::<Vec<_>>().join(", ")
    );
    if let Some(r) = &f.result {
        signature.push_str(" -> ");
        signature.push_str(&type_name(resolve, r));
    }
    // Named types used by the parameters: their docs (from the WIT package, matched by name).
    let mut type_docs = BTreeMap::new();
    if let Some(dr) = doc_resolve {
        for p in &f.params {
            if let Type::Id(id) = p.ty
                && let Some(tn) = &resolve.types[id].name
                && let Some(d) = dr.types.iter().find(|(_, t)| t.name.as_deref() == Some(tn)).and_then(|(_, t)| t.docs.contents.clone())
            {
                type_docs.insert(tn.clone(), d);
            }
        }
    }
    FunctionInfo {
        interface,
        name: f.name.clone(),
        docs,
        signature,
        params,
        type_docs,
    }
}

/// A WIT-syntax name for `ty`: named types by name, anonymous ones by structure.
pub fn type_name(resolve: &Resolve, ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::S8 => "s8".into(),
        Type::S16 => "s16".into(),
        Type::S32 => "s32".into(),
        Type::S64 => "s64".into(),
        Type::F32 => "f32".into(),
        Type::F64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => "error-context".into(),
        Type::Id(id) => {
            let t = &resolve.types[*id];
            if let Some(n) = &t.name {
                return n.clone();
            }
            match &t.kind {
                TypeDefKind::List(t) => format!("list<{}>", type_name(resolve, t)),
                TypeDefKind::Option(t) => format!("option<{}>", type_name(resolve, t)),
                TypeDefKind::Result(r) => match (&r.ok, &r.err) {
                    (None, None) => "result".into(),
                    (Some(o), None) => format!("result<{}>", type_name(resolve, o)),
                    (None, Some(e)) => format!("result<_, {}>", type_name(resolve, e)),
                    (Some(o), Some(e)) => format!("result<{}, {}>", type_name(resolve, o), type_name(resolve, e)),
                },
                TypeDefKind::Tuple(t) => format!(
                    "tuple<{}>",
                    t.types.iter().map(|t| type_name(resolve, t)).collect::<Vec<_>>().join(", ")
                ),
                TypeDefKind::Handle(wit_parser::Handle::Own(r)) => {
                    format!("own<{}>", resolve.types[*r].name.clone().unwrap_or_default())
                }
                TypeDefKind::Handle(wit_parser::Handle::Borrow(r)) => {
                    format!("borrow<{}>", resolve.types[*r].name.clone().unwrap_or_default())
                }
                TypeDefKind::Type(t) => type_name(resolve, t),
                TypeDefKind::Future(_) => "future".into(),
                TypeDefKind::Stream(_) => "stream".into(),
                _ => "type".into(),
            }
        }
    }
}

