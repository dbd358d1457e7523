//! WIT helpers shared by the fixture builder, the corpus generator and the tests.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use wit_component::DecodedWasm;
use wit_parser::{PackageId, Resolve, WorldId, WorldItem, WorldKey};

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
