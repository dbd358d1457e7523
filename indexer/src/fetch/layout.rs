//! Reading a component from an OCI image-layout directory (`oci-layout`, `index.json`,
//! `blobs/sha256/…`), as `skopeo copy … oci:DIR:tag`, `oras` and `wkg` write them.
//!
//! A manifest is selected by tag (the `org.opencontainers.image.ref.name` annotation in
//! `index.json`), by digest, or as the only manifest. Blobs are verified against their digests
//! and capped by their size on disk before they are read.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use forage_policy::Digest;

use super::{
    BlobSource, FetchError, FetchLimits, FetchedArtifact, ManifestDoc, REF_NAME_ANNOTATION,
    assemble, digest_of,
};
use crate::reference::{LayoutRef, Target};

/// Fetches, verifies and classifies the component `reference` selects from its layout.
pub(crate) async fn fetch(
    reference: &LayoutRef,
    limits: &FetchLimits,
) -> Result<FetchedArtifact, FetchError> {
    let dir = std::path::absolute(&reference.dir).unwrap_or_else(|_| reference.dir.clone());
    let layout = Layout {
        dir: dir.clone(),
        limits: limits.clone(),
    };
    layout.check_marker().await?;

    let index_bytes = layout
        .read_capped(
            &dir.join("index.json"),
            "index.json",
            limits.max_manifest_bytes,
        )
        .await?;
    let index = ManifestDoc::parse(&layout.source_name(), "index.json", &index_bytes)?;
    let entries = index.manifests.clone().unwrap_or_default();
    let selected = match &reference.target {
        Some(Target::Tag(tag)) => {
            let matching: Vec<_> = entries
                .iter()
                .filter(|d| ref_name_matches(d, tag))
                .collect();
            match matching.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    return Err(FetchError::LayoutSelection {
                        dir: dir.display().to_string(),
                        detail: format!("no manifest tagged `{tag}` (tags: {})", tags(&entries)),
                    });
                }
                _ => {
                    return Err(FetchError::LayoutSelection {
                        dir: dir.display().to_string(),
                        detail: format!("{} manifests are tagged `{tag}`", matching.len()),
                    });
                }
            }
        }
        Some(Target::Digest(d)) => match entries.iter().find(|e| e.digest == d.to_string()) {
            Some(e) => e.clone(),
            None => {
                // Not listed in index.json (e.g. a manifest inside a nested index): take the
                // blob itself, it is verified against the digest like everything else.
                let bytes = layout
                    .blob("manifest", d, 0, limits.max_manifest_bytes)
                    .await?;
                let doc =
                    ManifestDoc::parse(&layout.source_name(), &format!("manifest {d}"), &bytes)?;
                return finish(&layout, reference, d.clone(), bytes, doc, None, limits).await;
            }
        },
        None => match entries.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(FetchError::LayoutSelection {
                    dir: dir.display().to_string(),
                    detail: "index.json lists no manifests".into(),
                });
            }
            _ => {
                return Err(FetchError::LayoutSelection {
                    dir: dir.display().to_string(),
                    detail: format!(
                        "index.json lists {} manifests; name one as `layout:{}:TAG` (tags: {})",
                        entries.len(),
                        dir.display(),
                        tags(&entries)
                    ),
                });
            }
        },
    };

    let digest = selected.digest(&layout.source_name())?;
    let bytes = layout
        .blob(
            "manifest",
            &digest,
            selected.size,
            limits.max_manifest_bytes,
        )
        .await?;
    let doc = ManifestDoc::parse(&layout.source_name(), &format!("manifest {digest}"), &bytes)?;
    if doc.is_index() {
        let child = doc.choose_from_index(&layout.source_name())?;
        let child_digest = child.digest(&layout.source_name())?;
        let child_bytes = layout
            .blob(
                "manifest",
                &child_digest,
                child.size,
                limits.max_manifest_bytes,
            )
            .await?;
        let child_doc = ManifestDoc::parse(
            &layout.source_name(),
            &format!("manifest {child_digest}"),
            &child_bytes,
        )?;
        return finish(
            &layout,
            reference,
            child_digest,
            child_bytes,
            child_doc,
            Some(digest),
            limits,
        )
        .await;
    }
    finish(&layout, reference, digest, bytes, doc, None, limits).await
}

async fn finish(
    layout: &Layout,
    reference: &LayoutRef,
    digest: Digest,
    manifest: Bytes,
    doc: ManifestDoc,
    index_digest: Option<Digest>,
    limits: &FetchLimits,
) -> Result<FetchedArtifact, FetchError> {
    let pinned = LayoutRef {
        dir: layout.dir.clone(),
        target: Some(Target::Digest(digest.clone())),
    }
    .to_string();
    let parts = assemble(layout, &pinned, &doc, limits).await?;
    Ok(FetchedArtifact {
        digest,
        reference: pinned,
        tag: match &reference.target {
            Some(Target::Tag(t)) => Some(t.clone()),
            _ => None,
        },
        component: parts.component,
        component_digest: parts.component_digest,
        wit_package: parts.wit_package,
        annotations: doc.annotations.clone(),
        manifest: Some(manifest.to_vec()),
        manifest_media_type: doc.media_type.clone(),
        config_media_type: parts.config_media_type,
        config: parts.config,
        index_digest,
    })
}

/// `tag` as skopeo writes it, or a full `name:tag` reference as some other tools do.
fn ref_name_matches(desc: &super::Descriptor, tag: &str) -> bool {
    desc.annotations
        .get(REF_NAME_ANNOTATION)
        .is_some_and(|name| {
            name == tag
                || name
                    .rsplit_once(':')
                    .is_some_and(|(name, t)| t == tag && !t.contains('/') && !name.is_empty())
        })
}

fn tags(entries: &[super::Descriptor]) -> String {
    let tags: Vec<&str> = entries
        .iter()
        .filter_map(|d| d.annotations.get(REF_NAME_ANNOTATION))
        .map(String::as_str)
        .collect();
    if tags.is_empty() {
        "none".into()
    } else {
        tags.join(", ")
    }
}

pub(crate) struct Layout {
    pub(crate) dir: PathBuf,
    #[allow(dead_code)]
    limits: FetchLimits,
}

impl Layout {
    /// A layout at `dir` (made absolute) read under `limits`; nothing is read yet.
    pub(crate) fn new(dir: &Path, limits: &FetchLimits) -> Self {
        Layout {
            dir: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
            limits: limits.clone(),
        }
    }

    /// The `oci-layout` marker file must exist and name a version we read.
    pub(crate) async fn check_marker(&self) -> Result<(), FetchError> {
        let path = self.dir.join("oci-layout");
        let bytes = self.read_capped(&path, "oci-layout", 4096).await?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Marker {
            image_layout_version: String,
        }
        let marker: Marker =
            serde_json::from_slice(&bytes).map_err(|e| FetchError::InvalidManifest {
                source_name: self.source_name(),
                what: "oci-layout".into(),
                detail: e.to_string(),
            })?;
        if !marker.image_layout_version.starts_with("1.") {
            return Err(FetchError::InvalidManifest {
                source_name: self.source_name(),
                what: "oci-layout".into(),
                detail: format!(
                    "imageLayoutVersion {} (only 1.x is supported)",
                    marker.image_layout_version
                ),
            });
        }
        Ok(())
    }

    /// Reads a regular file of at most `limit` bytes (see [`super::read_regular_file`]).
    pub(crate) async fn read_capped(
        &self,
        path: &Path,
        what: &str,
        limit: u64,
    ) -> Result<Bytes, FetchError> {
        let bytes = super::read_regular_file(path, limit)
            .await
            .map_err(|e| e.into_fetch_error(path, self.source_name(), what, limit))?;
        Ok(Bytes::from(bytes))
    }
}

impl BlobSource for Layout {
    fn source_name(&self) -> String {
        format!("layout {}", self.dir.display())
    }

    async fn blob(
        &self,
        what: &str,
        digest: &Digest,
        size: u64,
        limit: u64,
    ) -> Result<Bytes, FetchError> {
        let what = format!("{what} {digest}");
        if size > limit {
            return Err(FetchError::TooLarge {
                source_name: self.source_name(),
                what,
                limit,
                size: Some(size),
            });
        }
        let path = self.dir.join("blobs").join("sha256").join(digest.hex());
        let bytes = self.read_capped(&path, &what, limit).await?;
        let actual = digest_of(bytes.clone()).await;
        if actual != *digest {
            return Err(FetchError::DigestMismatch {
                source_name: self.source_name(),
                what,
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{blob, fixture, layout, manifest};
    use super::super::{FetchError, FetchLimits, OCI_INDEX_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE};
    use super::*;

    async fn get(s: &str, limits: &FetchLimits) -> Result<FetchedArtifact, FetchError> {
        fetch(&s.parse::<LayoutRef>().unwrap(), limits).await
    }

    #[tokio::test]
    async fn selects_by_tag_only_manifest_and_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("l");
        let component = fixture("types.wasm");
        let wit = fixture("types.wit.wasm");
        let annotations = serde_json::json!({"org.opencontainers.image.title": "types"});
        let m1 = manifest(
            &dir,
            &[
                (WASM_LAYER_MEDIA_TYPE, &wit),
                (WASM_LAYER_MEDIA_TYPE, &component),
            ],
            annotations,
        );
        let limits = FetchLimits::default();

        let digests = layout(&dir, &[(&m1, Some("1.0"))]);
        let only = get(&format!("layout:{}", dir.display()), &limits)
            .await
            .unwrap();
        assert_eq!(only.digest.to_string(), digests[0]);
        assert_eq!(only.component.as_ref(), component.as_slice());
        assert_eq!(only.wit_package.as_deref(), Some(wit.as_slice()));
        assert_eq!(only.annotations["org.opencontainers.image.title"], "types");
        assert_eq!(only.manifest.as_deref(), Some(m1.as_slice()));
        assert_eq!(
            only.reference,
            format!("layout:{}@{}", dir.display(), digests[0])
        );

        let m2 = manifest(
            &dir,
            &[("application/vnd.wasm.content.layer.v1+wasm", &component)],
            serde_json::json!({}),
        );
        let digests = layout(&dir, &[(&m1, Some("1.0")), (&m2, Some("2.0")), (&m1, None)]);
        let err = get(&format!("layout:{}", dir.display()), &limits)
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::LayoutSelection { .. }), "{err}");
        let two = get(&format!("layout:{}:2.0", dir.display()), &limits)
            .await
            .unwrap();
        assert_eq!(two.digest.to_string(), digests[1]);
        assert!(two.wit_package.is_none());
        let pinned = get(&format!("layout:{}@{}", dir.display(), digests[0]), &limits)
            .await
            .unwrap();
        assert_eq!(pinned.digest.to_string(), digests[0]);
        let err = get(&format!("layout:{}:3.0", dir.display()), &limits)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("no manifest tagged `3.0`")
                && err.to_string().contains("1.0, 2.0"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn follows_an_index_and_refuses_bad_content() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("l");
        let component = fixture("types.wasm");
        let m = manifest(
            &dir,
            &[(WASM_LAYER_MEDIA_TYPE, &component)],
            serde_json::json!({}),
        );
        let (md, ms) = blob(&dir, &m);
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX_MEDIA_TYPE,
            "manifests": [{"mediaType": super::super::OCI_MANIFEST_MEDIA_TYPE, "digest": md, "size": ms,
                           "platform": {"os": "wasip2", "architecture": "wasm"}}]
        }))
        .unwrap();
        let digests = layout(&dir, &[(&index, Some("multi"))]);
        let got = get(
            &format!("layout:{}:multi", dir.display()),
            &FetchLimits::default(),
        )
        .await
        .unwrap();
        assert_eq!(got.digest.to_string(), md);
        assert_eq!(
            got.index_digest.map(|d| d.to_string()),
            Some(digests[0].clone())
        );

        // Caps: a blob over the limit is refused before it is read.
        let small = FetchLimits {
            max_blob_bytes: 100,
            ..FetchLimits::default()
        };
        let err = get(&format!("layout:{}:multi", dir.display()), &small)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { limit: 100, .. }),
            "{err}"
        );

        // Core module, and a corrupted blob.
        let core = b"\0asm\x01\0\0\0".as_slice();
        let mc = manifest(
            &dir,
            &[(WASM_LAYER_MEDIA_TYPE, core)],
            serde_json::json!({}),
        );
        layout(&dir, &[(&mc, Some("core")), (&m, Some("ok"))]);
        let err = get(
            &format!("layout:{}:core", dir.display()),
            &FetchLimits::default(),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("is a core wasm module, not a component"),
            "{err}"
        );
        let layer = Digest::of(&component);
        let path = dir.join("blobs/sha256").join(layer.hex());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] = b'X';
        std::fs::write(&path, bytes).unwrap();
        let err = get(
            &format!("layout:{}:ok", dir.display()),
            &FetchLimits::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, FetchError::DigestMismatch { .. }), "{err}");
        assert!(err.to_string().contains(&layer.to_string()), "{err}");

        // An image with a tar layer is not a component.
        let img = manifest(
            &dir,
            &[("application/vnd.oci.image.layer.v1.tar+gzip", b"tar")],
            serde_json::json!({}),
        );
        layout(&dir, &[(&img, Some("img"))]);
        let err = get(
            &format!("layout:{}:img", dir.display()),
            &FetchLimits::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, FetchError::NoWasmLayer { .. }), "{err}");

        // Not a layout at all.
        let err = get(
            &format!("layout:{}", tmp.path().display()),
            &FetchLimits::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, FetchError::Io { .. }), "{err}");
    }
}
