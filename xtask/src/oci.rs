//! Writing an OCI image layout that holds one Wasm component artifact.
//!
//! The manifest follows the CNCF "Wasm OCI artifact" layout that `wkg` and
//! `wasm-pkg-tools` use: config media type `application/vnd.wasm.config.v0+json`,
//! the component as an `application/wasm` layer, and (the forage convention from
//! CONTRACT.md) a second `application/wasm` layer holding the binary-encoded WIT package.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_MEDIA_TYPE: &str = "application/wasm";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// What goes into one artifact.
pub struct Artifact<'a> {
    /// The component bytes.
    pub component: &'a [u8],
    /// The encoded WIT package, if any.
    pub wit_package: Option<&'a [u8]>,
    /// Tag recorded as `org.opencontainers.image.ref.name` in `index.json`.
    pub tag: &'a str,
    /// Fixed creation time, so that layouts are reproducible.
    pub created: &'a str,
    /// Manifest annotations (title, description, version, ...).
    pub annotations: Vec<(&'static str, String)>,
    /// Export names for the config's `component.exports`.
    pub exports: Vec<String>,
    /// Import names for the config's `component.imports`.
    pub imports: Vec<String>,
}

/// A content descriptor.
fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({
        "mediaType": media_type,
        "digest": format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
        "size": bytes.len(),
    })
}

fn write_blob(dir: &Path, bytes: &[u8]) -> Result<()> {
    let path = dir
        .join("blobs/sha256")
        .join(hex::encode(Sha256::digest(bytes)));
    fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Write `artifacts` as a fresh OCI image layout in `dir`, one manifest per artifact,
/// each tagged in `index.json`; returns the manifest digests in order.
pub fn write_layout(dir: &Path, artifacts: &[Artifact<'_>]) -> Result<Vec<String>> {
    if dir.exists() {
        // Blobs of a previous run must not linger.
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(dir.join("blobs/sha256"))
        .with_context(|| format!("creating {}", dir.display()))?;
    fs::write(
        dir.join("oci-layout"),
        b"{\"imageLayoutVersion\":\"1.0.0\"}",
    )?;
    let mut descriptors = Vec::new();
    for artifact in artifacts {
        descriptors.push(write_artifact(dir, artifact)?);
    }
    let digests = descriptors
        .iter()
        .map(|d| d["digest"].as_str().unwrap_or_default().to_string())
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": descriptors,
    });
    let mut text = serde_json::to_vec_pretty(&index)?;
    text.push(b'\n');
    fs::write(dir.join("index.json"), text)?;
    Ok(digests)
}

/// Write one artifact's blobs; return its manifest descriptor for `index.json`.
fn write_artifact(dir: &Path, artifact: &Artifact<'_>) -> Result<Value> {
    let mut layers = vec![descriptor(WASM_MEDIA_TYPE, artifact.component)];
    write_blob(dir, artifact.component)?;
    if let Some(wit) = artifact.wit_package {
        let mut layer = descriptor(WASM_MEDIA_TYPE, wit);
        layer["annotations"] = json!({ "org.opencontainers.image.title": "package.wit.wasm" });
        layers.push(layer);
        write_blob(dir, wit)?;
    }

    let layer_digests: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    let config = serde_json::to_vec(&json!({
        "created": artifact.created,
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": layer_digests,
        "component": {
            "exports": artifact.exports,
            "imports": artifact.imports,
            "target": null,
        },
    }))?;
    write_blob(dir, &config)?;

    let annotations: serde_json::Map<String, Value> = artifact
        .annotations
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": CONFIG_MEDIA_TYPE,
        "config": descriptor(CONFIG_MEDIA_TYPE, &config),
        "layers": layers,
        "annotations": annotations,
    }))?;
    write_blob(dir, &manifest)?;

    let mut manifest_desc = descriptor(MANIFEST_MEDIA_TYPE, &manifest);
    manifest_desc["artifactType"] = json!(CONFIG_MEDIA_TYPE);
    manifest_desc["annotations"] = json!({ "org.opencontainers.image.ref.name": artifact.tag });
    Ok(manifest_desc)
}
