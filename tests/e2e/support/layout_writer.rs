//! Writes components as OCI image layouts the way `wkg` publishes them, and pushes layouts to a
//! test [`Registry`].
//!
//! The artifact: config `application/vnd.wasm.config.v0+json` (a wkg-like config JSON), one
//! `application/wasm` layer holding the component, an optional second `application/wasm` layer
//! holding the binary-encoded WIT package, manifest annotations, and a tag
//! (`org.opencontainers.image.ref.name`) in `index.json`.
//!
//! [`push`] uses `skopeo copy --preserve-digests oci:DIR:TAG docker://…`. skopeo 1.9.3 copies
//! these artifacts byte for byte (manifest digest, config and layer media types preserved);
//! [`push_http`] is an in-process alternative over the distribution API (via `oci-client`) for
//! machines without skopeo or for pushing hand-made manifests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

use super::registry::{Registry, RegistryAuth};

/// The wasm OCI artifact config media type.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The wasm OCI artifact layer media type.
pub const WASM_LAYER: &str = "application/wasm";
/// The OCI manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `fixtures/built/<name>`: the committed fixture components (`types.wasm`,
/// `types.wit.wasm`, …).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/built")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read fixture {}: {e}", path.display()))
}

/// A core wasm module (not a component): the smallest valid one.
pub const CORE_MODULE: &[u8] = b"\0asm\x01\0\0\0";

/// What goes into one artifact.
#[derive(Clone, Debug)]
pub struct ComponentArtifact {
    /// The component (or, for negative tests, anything).
    pub component: Vec<u8>,
    /// A binary-encoded WIT package for a second `application/wasm` layer.
    pub wit_package: Option<Vec<u8>>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// The config media type (default [`WASM_CONFIG`]).
    pub config_media_type: String,
    /// The config blob (default: a wkg-like config JSON).
    pub config: Option<Vec<u8>>,
    /// The component layer's media type (default [`WASM_LAYER`]).
    pub layer_media_type: String,
    /// Put the WIT package layer before the component layer (to test that order does not matter).
    pub wit_first: bool,
}

impl ComponentArtifact {
    /// An artifact for `component` with the usual annotations (title, description, version,
    /// source) and no WIT package.
    pub fn new(component: impl Into<Vec<u8>>) -> Self {
        let annotations = [
            ("org.opencontainers.image.title", "types"),
            (
                "org.opencontainers.image.description",
                "forage test component",
            ),
            ("org.opencontainers.image.version", "0.1.0"),
            (
                "org.opencontainers.image.source",
                "https://example.com/forage/fixtures",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Self {
            component: component.into(),
            wit_package: None,
            annotations,
            config_media_type: WASM_CONFIG.into(),
            config: None,
            layer_media_type: WASM_LAYER.into(),
            wit_first: false,
        }
    }

    /// Adds a WIT package layer.
    pub fn with_wit_package(mut self, wit: impl Into<Vec<u8>>) -> Self {
        self.wit_package = Some(wit.into());
        self
    }

    /// Sets one annotation.
    pub fn annotate(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }
}

/// What [`write_layout`] wrote.
#[derive(Clone, Debug)]
pub struct WrittenArtifact {
    /// `sha256:…` of the manifest.
    pub manifest_digest: String,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// `sha256:…` of the component layer.
    pub component_digest: String,
    /// `sha256:…` of the WIT package layer, if any.
    pub wit_digest: Option<String>,
    /// `sha256:…` of the config.
    pub config_digest: String,
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn write_blob(dir: &Path, bytes: &[u8]) -> (String, usize) {
    let digest = sha256(bytes);
    let path = dir.join("blobs/sha256").join(&digest[7..]);
    std::fs::create_dir_all(path.parent().unwrap()).expect("blobs dir");
    std::fs::write(&path, bytes).expect("write blob");
    (digest, bytes.len())
}

/// Writes `artifact` into the image layout at `dir` (created if needed; an existing
/// `index.json` keeps its other entries, and an entry with the same tag is replaced), tagged
/// `tag`.
pub fn write_layout(dir: &Path, artifact: &ComponentArtifact, tag: &str) -> WrittenArtifact {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dir");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");

    let (component_digest, component_size) = write_blob(dir, &artifact.component);
    let wit = artifact.wit_package.as_ref().map(|w| write_blob(dir, w));
    let mut layer_digests = vec![component_digest.clone()];
    if let Some((d, _)) = &wit {
        layer_digests.push(d.clone());
    }
    let config = artifact.config.clone().unwrap_or_else(|| {
        // What `wkg oci push` writes (wasm-pkg-common's `WasmConfig`).
        serde_json::to_vec(&serde_json::json!({
            "created": "2025-01-01T00:00:00Z",
            "author": null,
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": layer_digests,
            "component": { "exports": [], "imports": [], "target": null },
        }))
        .unwrap()
    });
    let (config_digest, config_size) = write_blob(dir, &config);

    let component_layer = serde_json::json!({
        "mediaType": artifact.layer_media_type,
        "digest": component_digest,
        "size": component_size,
    });
    let mut layers = vec![component_layer];
    if let Some((d, size)) = &wit {
        let layer = serde_json::json!({ "mediaType": WASM_LAYER, "digest": d, "size": size });
        if artifact.wit_first {
            layers.insert(0, layer);
        } else {
            layers.push(layer);
        }
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": artifact.config_media_type, "digest": config_digest, "size": config_size },
        "layers": layers,
        "annotations": artifact.annotations,
    }))
    .unwrap();
    let (manifest_digest, manifest_size) = write_blob(dir, &manifest);

    let index_path = dir.join("index.json");
    let mut entries: Vec<serde_json::Value> = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("manifests").and_then(|m| m.as_array()).cloned())
        .unwrap_or_default();
    entries.retain(|e| {
        e.pointer("/annotations/org.opencontainers.image.ref.name")
            .and_then(|v| v.as_str())
            != Some(tag)
    });
    entries.push(serde_json::json!({
        "mediaType": OCI_MANIFEST,
        "digest": manifest_digest,
        "size": manifest_size,
        "annotations": { "org.opencontainers.image.ref.name": tag },
    }));
    let index = serde_json::json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries });
    std::fs::write(&index_path, serde_json::to_vec_pretty(&index).unwrap())
        .expect("write index.json");

    WrittenArtifact {
        manifest_digest,
        manifest,
        component_digest,
        wit_digest: wit.map(|(d, _)| d),
        config_digest,
    }
}

/// Writes `artifact` to a fresh layout under `parent` and returns its directory.
pub fn layout_for(
    parent: &Path,
    artifact: &ComponentArtifact,
    tag: &str,
) -> (PathBuf, WrittenArtifact) {
    let dir = parent.join(format!("layout-{tag}"));
    let written = write_layout(&dir, artifact, tag);
    (dir, written)
}

/// Pushes the manifest tagged `tag` in `layout_dir` to `registry` as `repo_and_tag`
/// (`repo:tag`), with skopeo. Panics with skopeo's output when it fails.
pub fn push(registry: &Registry, layout_dir: &Path, tag: &str, repo_and_tag: &str) {
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "copy",
        "--quiet",
        "--preserve-digests",
        "--dest-tls-verify=false",
    ]);
    // Do not pick up the machine's policy.json or auth files.
    let policy = registry.dir().join("skopeo-policy.json");
    std::fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .expect("skopeo policy");
    cmd.arg("--policy").arg(&policy);
    match registry.auth.credentials() {
        Some((user, pass)) => {
            cmd.arg("--dest-creds").arg(format!("{user}:{pass}"));
        }
        None => {
            cmd.arg("--dest-no-creds");
        }
    }
    cmd.arg(format!("oci:{}:{tag}", layout_dir.display()));
    cmd.arg(format!("docker://{}", registry.reference(repo_and_tag)));
    cmd.env(
        "REGISTRY_AUTH_FILE",
        registry.dir().join("skopeo-auth.json"),
    );
    let out = cmd.output().expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo copy to {} failed:\n{}\n--- registry log ---\n{}",
        registry.reference(repo_and_tag),
        String::from_utf8_lossy(&out.stderr),
        registry.log()
    );
}

/// Pushes `written` (blobs from `layout_dir`) over the distribution API, in process, with the
/// registry's credentials (basic, or a token from its token server). The fallback to [`push`].
pub async fn push_http(
    registry: &Registry,
    layout_dir: &Path,
    written: &WrittenArtifact,
    repo_and_tag: &str,
) {
    let (repo, tag) = repo_and_tag.split_once(':').expect("repo:tag");
    let reference =
        oci_client::Reference::with_tag(registry.host(), repo.to_string(), tag.to_string());
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let auth = match &registry.auth {
        RegistryAuth::None => oci_client::secrets::RegistryAuth::Anonymous,
        RegistryAuth::Basic { user, pass } | RegistryAuth::Bearer { user, pass } => {
            oci_client::secrets::RegistryAuth::Basic(user.clone(), pass.clone())
        }
    };
    client
        .auth(&reference, &auth, oci_client::RegistryOperation::Push)
        .await
        .expect("auth for push");
    let mut blobs = vec![
        written.config_digest.clone(),
        written.component_digest.clone(),
    ];
    blobs.extend(written.wit_digest.clone());
    for digest in blobs {
        let bytes =
            std::fs::read(layout_dir.join("blobs/sha256").join(&digest[7..])).expect("read blob");
        client
            .push_blob(&reference, bytes, &digest)
            .await
            .unwrap_or_else(|e| panic!("push blob {digest}: {e}"));
    }
    client
        .push_manifest_raw(
            &reference,
            written.manifest.clone(),
            OCI_MANIFEST.parse().unwrap(),
        )
        .await
        .unwrap_or_else(|e| panic!("push manifest: {e}"));
}
