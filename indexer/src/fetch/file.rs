//! Reading a component from a `.wasm` file.

use std::path::Path;

use bytes::Bytes;

use super::{FetchError, FetchLimits, FetchedArtifact, WasmKind, classify, digest_of};

/// Reads, hashes and classifies a `.wasm` file. Its digest is the sha256 of the file, and its
/// reference the absolute path.
pub(crate) async fn fetch(
    path: &Path,
    limits: &FetchLimits,
) -> Result<FetchedArtifact, FetchError> {
    let expanded = expand_home(path);
    let path = std::path::absolute(&expanded).unwrap_or(expanded);
    let shown = path.display().to_string();
    let limit = limits.max_blob_bytes;
    let bytes = Bytes::from(
        super::read_regular_file(&path, limit)
            .await
            .map_err(|e| e.into_fetch_error(&path, format!("file {shown}"), "component", limit))?,
    );
    let not_component = |why: String| FetchError::NotAComponent {
        reference: shown.clone(),
        what: "the file".into(),
        why,
    };
    // Hashing and classifying are each a pass over the bytes on a blocking thread: side by
    // side, a warm load of a large file waits for the longer one only.
    let (kind, digest) = tokio::join!(classify(bytes.clone()), digest_of(bytes.clone()));
    match kind.map_err(not_component)? {
        WasmKind::Component => {}
        WasmKind::CoreModule => {
            return Err(not_component(
                "is a core wasm module, not a component".into(),
            ));
        }
        WasmKind::WitPackage => {
            return Err(not_component("is a WIT package, not a component".into()));
        }
        WasmKind::NotWasm => {
            return Err(not_component(
                "is not WebAssembly (no `\\0asm` header)".into(),
            ));
        }
    }
    Ok(FetchedArtifact {
        digest: digest.clone(),
        reference: shown,
        tag: None,
        component: bytes,
        component_digest: digest,
        wit_package: None,
        annotations: Default::default(),
        manifest: None,
        manifest_media_type: None,
        config_media_type: None,
        config: None,
        index_digest: None,
    })
}

/// `~/x` → `$HOME/x`, as a shell would have done.
pub fn expand_home(path: &Path) -> std::path::PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return std::path::PathBuf::from(home).join(rest);
    }
    path.to_path_buf()
}
