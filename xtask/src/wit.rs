//! WIT helpers shared by the fixture builder, the corpus generator and the tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use wit_component::DecodedWasm;
use wit_parser::{
    Function, FunctionKind, Handle, PackageId, Resolve, Type, TypeDefKind, TypeId, WorldId,
    WorldItem, WorldKey,
};

/// Exports that toolchains add for their own plumbing, as flat names (see
/// [`world_export_names`]); forage does not treat them as tools and no fixture's WIT
/// declares them. componentize-py exports an instance named `exports` holding `init`
/// (its wizer-style pre-initialisation hook).
pub const PLUMBING_EXPORTS: &[&str] = &["exports#init"];

/// Whether a flat export name is toolchain plumbing rather than part of the fixture's world.
pub fn is_plumbing(name: &str) -> bool {
    PLUMBING_EXPORTS.contains(&name)
}

/// A WIT package parsed from source and its binary encoding (what `wkg wit build` writes).
pub struct EncodedPackage {
    /// `namespace:name@version`.
    pub name: String,
    /// The `wit_component::encode` output, docs included.
    pub bytes: Vec<u8>,
    /// The first paragraph of the package's doc comment, on one line.
    pub summary: String,
}

/// The first paragraph of a doc comment, on one line.
pub fn summary(doc: Option<&str>) -> String {
    let first = doc
        .unwrap_or_default()
        .split("\n\n")
        .next()
        .unwrap_or_default();
    first.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parse the WIT package in `dir` (with `dir/deps` if present) and binary-encode it.
pub fn encode_dir(dir: &Path) -> Result<EncodedPackage> {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve
        .push_dir(dir)
        .with_context(|| format!("parsing WIT in {}", dir.display()))?;
    encode(&resolve, pkg)
}

/// Binary-encode one package of `resolve`.
pub fn encode(resolve: &Resolve, pkg: PackageId) -> Result<EncodedPackage> {
    let bytes = wit_component::encode(resolve, pkg)
        .with_context(|| format!("encoding WIT package {}", resolve.packages[pkg].name))?;
    Ok(EncodedPackage {
        name: resolve.packages[pkg].name.to_string(),
        bytes,
        summary: summary(resolve.packages[pkg].docs.contents.as_deref()),
    })
}

/// True when `bytes` is a component (as opposed to a core module or something else).
pub fn is_component(bytes: &[u8]) -> bool {
    wasmparser::Parser::is_component(bytes)
}

/// Validate `bytes` as a component with the component-model features wasmtime enables.
pub fn validate_component(bytes: &[u8]) -> Result<()> {
    if !is_component(bytes) {
        bail!("not a component (a core module or not WebAssembly at all)");
    }
    let mut validator = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    validator
        .validate_all(bytes)
        .context("component does not validate")?;
    Ok(())
}

/// Exports of a world, as flat names: `hello` for a world-level function and
/// `forage:clock/time@0.1.0#now` for a function of an exported interface.
pub fn world_export_names(resolve: &Resolve, world: WorldId) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (key, item) in &resolve.worlds[world].exports {
        match item {
            WorldItem::Function(f) => {
                names.insert(f.name.clone());
            }
            WorldItem::Interface { id, .. } => {
                let prefix = resolve.name_world_key(key);
                for name in resolve.interfaces[*id].functions.keys() {
                    names.insert(format!("{prefix}#{name}"));
                }
            }
            WorldItem::Type { .. } => {}
        }
    }
    names
}

/// The export names of a built component.
pub fn component_export_names(bytes: &[u8]) -> Result<BTreeSet<String>> {
    match wit_component::decode(bytes).context("decoding component")? {
        DecodedWasm::Component(resolve, world) => Ok(world_export_names(&resolve, world)),
        DecodedWasm::WitPackage(..) => bail!("this is a WIT package, not a component"),
    }
}

/// A component's world imports and exports as names: `wasi:http/types@0.2.0` for an
/// interface, the plain name for a function.
pub fn component_world_items(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>)> {
    match wit_component::decode(bytes).context("decoding component")? {
        DecodedWasm::Component(resolve, world) => {
            let w = &resolve.worlds[world];
            let names = |keys: &mut dyn Iterator<Item = &WorldKey>| -> Vec<String> {
                keys.map(|k| resolve.name_world_key(k)).collect()
            };
            Ok((names(&mut w.imports.keys()), names(&mut w.exports.keys())))
        }
        DecodedWasm::WitPackage(..) => bail!("this is a WIT package, not a component"),
    }
}

/// The package name (`namespace:name@version`) of an encoded WIT package and the first
/// paragraph of its doc comment.
pub fn package_name_and_doc(bytes: &[u8]) -> Result<(String, String)> {
    match wit_component::decode(bytes).context("decoding WIT package")? {
        DecodedWasm::WitPackage(resolve, pkg) => {
            let package = &resolve.packages[pkg];
            Ok((
                package.name.to_string(),
                summary(package.docs.contents.as_deref()),
            ))
        }
        DecodedWasm::Component(..) => bail!("this is a component, not a WIT package"),
    }
}

/// The export names of each world in an encoded WIT package, by world name.
#[cfg_attr(not(test), allow(dead_code))]
pub fn package_world_exports(bytes: &[u8]) -> Result<Vec<(String, BTreeSet<String>)>> {
    match wit_component::decode(bytes).context("decoding WIT package")? {
        DecodedWasm::WitPackage(resolve, pkg) => Ok(resolve.packages[pkg]
            .worlds
            .iter()
            .map(|(name, id)| (name.clone(), world_export_names(&resolve, *id)))
            .collect()),
        DecodedWasm::Component(..) => bail!("this is a component, not a WIT package"),
    }
}

/// The exported functions of a world with their signatures, keyed by flat name (as in
/// [`world_export_names`]: `iface#name`, or `name` for a world-level function), each
/// rendered as `func(a: T) -> R` with every type printed resolved (see [`render_type`]).
///
/// A component and the WIT it was built from decode to different `Resolve`s (ids,
/// docs, alias chains and `use`s all differ), so they are compared as these strings
/// rather than as `Resolve` items: equal strings mean the same component-level
/// signature. Plumbing exports ([`PLUMBING_EXPORTS`]) are left out.
pub fn world_export_signatures(resolve: &Resolve, world: WorldId) -> BTreeMap<String, String> {
    let mut sigs = BTreeMap::new();
    for (key, item) in &resolve.worlds[world].exports {
        match item {
            WorldItem::Function(f) => {
                sigs.insert(f.name.clone(), render_function(resolve, f));
            }
            WorldItem::Interface { id, .. } => {
                let prefix = resolve.name_world_key(key);
                for (name, f) in &resolve.interfaces[*id].functions {
                    sigs.insert(format!("{prefix}#{name}"), render_function(resolve, f));
                }
            }
            WorldItem::Type { .. } => {}
        }
    }
    sigs.retain(|name, _| !is_plumbing(name));
    sigs
}

/// [`world_export_signatures`] of a built component's own world.
pub fn component_export_signatures(bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    match wit_component::decode(bytes).context("decoding component")? {
        DecodedWasm::Component(resolve, world) => Ok(world_export_signatures(&resolve, world)),
        DecodedWasm::WitPackage(..) => bail!("this is a WIT package, not a component"),
    }
}

/// [`world_export_signatures`] of the world named `world` in the WIT package in `dir`.
pub fn source_export_signatures(dir: &Path, world: &str) -> Result<BTreeMap<String, String>> {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve
        .push_dir(dir)
        .with_context(|| format!("parsing WIT in {}", dir.display()))?;
    let worlds = &resolve.packages[pkg].worlds;
    let Some(&id) = worlds.get(world) else {
        bail!(
            "no world {world:?} in the WIT package in {} (it has: {})",
            dir.display(),
            worlds.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    };
    Ok(world_export_signatures(&resolve, id))
}

/// `func(a: T, b: U) -> R` (`async func` for async kinds). The name is left out: it is
/// the key the signature is stored under.
pub fn render_function(resolve: &Resolve, f: &Function) -> String {
    let keyword = match f.kind {
        FunctionKind::AsyncFreestanding
        | FunctionKind::AsyncMethod(_)
        | FunctionKind::AsyncStatic(_) => "async func",
        FunctionKind::Freestanding
        | FunctionKind::Method(_)
        | FunctionKind::Static(_)
        | FunctionKind::Constructor(_) => "func",
    };
    let params = f
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, render_type(resolve, &p.ty)))
        .collect::<Vec<_>>()
        .join(", ");
    match &f.result {
        Some(ty) => format!("{keyword}({params}) -> {}", render_type(resolve, ty)),
        None => format!("{keyword}({params})"),
    }
}

/// A type in WIT-like syntax with every reference expanded: aliases (`type x = y`,
/// `use`) are followed, and records, variants, enums and flags are printed with their
/// name and their whole body (`record point { x: f64, y: f64 }`), so two `Resolve`s
/// that name the same type through different ids print it the same way, and a change
/// anywhere inside a type changes the signature of every function that uses it. The
/// names of nominal types are kept because they are part of the component's type
/// (an exported interface exports them by name).
pub fn render_type(resolve: &Resolve, ty: &Type) -> String {
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
        Type::Id(id) => render_typedef(resolve, *id),
    }
}

fn render_typedef(resolve: &Resolve, id: TypeId) -> String {
    let def = &resolve.types[id];
    let join = |items: Vec<String>| items.join(", ");
    let nominal = |keyword: &str, body: String| match &def.name {
        Some(name) => format!("{keyword} {name} {{ {body} }}"),
        None => format!("{keyword} {{ {body} }}"),
    };
    let ty = |t: &Type| render_type(resolve, t);
    let opt = |t: &Option<Type>| t.as_ref().map(ty);
    match &def.kind {
        TypeDefKind::Type(inner) => ty(inner),
        TypeDefKind::Record(r) => nominal(
            "record",
            join(
                r.fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name, ty(&f.ty)))
                    .collect(),
            ),
        ),
        TypeDefKind::Variant(v) => nominal(
            "variant",
            join(
                v.cases
                    .iter()
                    .map(|c| match &c.ty {
                        Some(t) => format!("{}({})", c.name, ty(t)),
                        None => c.name.clone(),
                    })
                    .collect(),
            ),
        ),
        TypeDefKind::Enum(e) => nominal(
            "enum",
            join(e.cases.iter().map(|c| c.name.clone()).collect()),
        ),
        TypeDefKind::Flags(f) => nominal(
            "flags",
            join(f.flags.iter().map(|f| f.name.clone()).collect()),
        ),
        TypeDefKind::Resource => format!("resource {}", resource_name(resolve, id)),
        TypeDefKind::Handle(Handle::Own(r)) => format!("own<{}>", resource_name(resolve, *r)),
        TypeDefKind::Handle(Handle::Borrow(r)) => {
            format!("borrow<{}>", resource_name(resolve, *r))
        }
        TypeDefKind::Tuple(t) => format!("tuple<{}>", join(t.types.iter().map(ty).collect())),
        TypeDefKind::Option(t) => format!("option<{}>", ty(t)),
        TypeDefKind::Result(r) => match (opt(&r.ok), opt(&r.err)) {
            (None, None) => "result".into(),
            (Some(ok), None) => format!("result<{ok}>"),
            (None, Some(err)) => format!("result<_, {err}>"),
            (Some(ok), Some(err)) => format!("result<{ok}, {err}>"),
        },
        TypeDefKind::List(t) => format!("list<{}>", ty(t)),
        TypeDefKind::Map(k, v) => format!("map<{}, {}>", ty(k), ty(v)),
        TypeDefKind::FixedLengthList(t, n) => format!("list<{}, {n}>", ty(t)),
        TypeDefKind::Future(t) => match opt(t) {
            Some(t) => format!("future<{t}>"),
            None => "future".into(),
        },
        TypeDefKind::Stream(t) => match opt(t) {
            Some(t) => format!("stream<{t}>"),
            None => "stream".into(),
        },
        // Only exists in unresolved packages; printed rather than panicking so that a
        // comparison reports it as a difference.
        TypeDefKind::Unknown => "<unknown type>".into(),
    }
}

/// The name of the resource a handle refers to, following aliases (`use`) to the
/// definition. Handles print by name only: a resource's methods are exported functions
/// of their own and are compared as such.
fn resource_name(resolve: &Resolve, mut id: TypeId) -> String {
    while let TypeDefKind::Type(Type::Id(next)) = resolve.types[id].kind {
        id = next;
    }
    resolve.types[id]
        .name
        .clone()
        .unwrap_or_else(|| "<anonymous resource>".into())
}
