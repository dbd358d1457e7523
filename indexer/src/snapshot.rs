//! Signed index snapshots: an indexing job's search index as one OCI artifact that daemons
//! pull, verify and serve (see `docs/SNAPSHOTS.md`).
//!
//! The artifact is an OCI image manifest of artifact type [`ARTIFACT_TYPE`] with the empty
//! config and two layers:
//! - [`INDEX_MEDIA_TYPE`]: a gzip-compressed tar holding `entries.json` (one [`Entry`] per
//!   component) and `index/…`, a tantivy index of this build's schema;
//! - [`SIGNATURE_MEDIA_TYPE`]: a DSSE envelope over a
//!   [`Statement`](forage_policy::snapshot::Statement): the archive's digest and size and the
//!   sorted list of every indexed component digest, signed with ed25519.
//!
//! As a file ([`Snapshot::write_archive`]) it is an `oci-archive`: a tar of an OCI image
//! layout, so `skopeo copy oci-archive:FILE docker://…` carries it too.
//!
//! Reading is the hostile path. Before anything is unpacked the signature must verify with a
//! trusted key and the archive must hash to the signed digest; unpacking then accepts only
//! regular files with plain names under `index/` plus `entries.json`, within a byte and file
//! budget (decompression bombs, path traversal), and the unpacked index must list exactly the
//! components the statement signs.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use forage_policy::Digest;
use forage_policy::snapshot::{FORMAT_VERSION, MAX_ENVELOPE_BYTES, SnapshotSigningKey, SnapshotTrustError, Statement, TrustedSnapshotKeys};
use serde::{Deserialize, Serialize};

use crate::fetch::{FetchError, Fetcher};
use crate::reference::{OciRef, Target};
use crate::search::{SearchDoc, SearchError, SearchIndex};

/// The manifest's `artifactType`.
pub const ARTIFACT_TYPE: &str = "application/vnd.forage.snapshot.v1";
/// The compressed index archive.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.forage.snapshot.index.v1.tar+gzip";
/// The DSSE envelope over the statement.
pub const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.forage.snapshot.signature.v1+json";
/// OCI's empty config descriptor (artifacts carry no image config).
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_CONFIG: &[u8] = b"{}";
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const MAX_MANIFEST_BYTES: u64 = 64 << 10;
const MAX_ENTRIES_BYTES: u64 = 256 << 20;

/// Caps on what reading a snapshot may cost.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotLimits {
    /// Largest compressed archive accepted.
    pub max_payload_bytes: u64,
    /// Most bytes the archive may unpack to (all files together).
    pub max_unpacked_bytes: u64,
    /// Most files in the archive.
    pub max_files: usize,
}

impl Default for SnapshotLimits {
    fn default() -> Self {
        Self { max_payload_bytes: 1 << 30, max_unpacked_bytes: 4 << 30, max_files: 10_000 }
    }
}

/// Why a snapshot could not be built, read, verified or unpacked. Each names what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Signature, key or statement.
    #[error(transparent)]
    Trust(#[from] SnapshotTrustError),
    /// The OCI manifest is not a forage snapshot's.
    #[error("snapshot manifest: {0}")]
    Manifest(String),
    /// A blob does not hash to what names it.
    #[error("snapshot {what}: its bytes hash to {actual}, but {expected} was {by}")]
    Digest {
        /// Which blob.
        what: &'static str,
        /// The digest computed.
        actual: Digest,
        /// The digest expected.
        expected: Digest,
        /// Who said so (the manifest, the signed statement).
        by: &'static str,
    },
    /// The archive or its contents are malformed or over a limit.
    #[error("snapshot archive: {0}")]
    Archive(String),
    /// The unpacked contents disagree with the signed statement.
    #[error("snapshot contents: {0}")]
    Contents(String),
    /// The search index inside.
    #[error("snapshot index: {0}")]
    Index(#[from] SearchError),
    /// Reading or writing local files.
    #[error("snapshot file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Pulling or pushing.
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io { path: path.to_path_buf(), source }
}

/// One indexed component, as listed in the archive's `entries.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The component's digest (its key in the index).
    pub digest: Digest,
    /// Where it loads from, pinned by digest.
    pub reference: String,
    /// The source it was found in.
    pub registry: String,
    /// The job's verdict (informational: a daemon verifies again at load).
    pub verified: String,
    /// Its indexed functions.
    pub functions: u64,
}

/// A snapshot as it travels: the manifest and its two layers (the config is the constant
/// empty JSON object).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The OCI image manifest bytes.
    pub manifest: Bytes,
    /// The compressed index archive.
    pub payload: Bytes,
    /// The DSSE envelope.
    pub envelope: Bytes,
}

/// A snapshot whose signature, digests and format were checked.
#[derive(Debug, Clone)]
pub struct Verified {
    /// What the signer vouched for.
    pub statement: Statement,
    /// The id of the trusted key that verified it.
    pub key_id: String,
    /// The manifest digest: the snapshot's identity in a registry.
    pub digest: Digest,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: Digest,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// The two layers a manifest names, checked for shape.
struct Layers {
    payload: Descriptor,
    envelope: Descriptor,
}

fn parse_manifest(bytes: &[u8]) -> Result<Layers, SnapshotError> {
    let bad = |m: String| SnapshotError::Manifest(m);
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(bad(format!("{} bytes, more than {MAX_MANIFEST_BYTES}", bytes.len())));
    }
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| bad(format!("not an OCI image manifest: {e}")))?;
    if m.schema_version != 2 {
        return Err(bad(format!("schemaVersion {}, expected 2", m.schema_version)));
    }
    if m.artifact_type.as_deref() != Some(ARTIFACT_TYPE) {
        return Err(bad(format!(
            "artifactType {:?} is not a forage snapshot's ({ARTIFACT_TYPE})",
            m.artifact_type.as_deref().unwrap_or("(none)")
        )));
    }
    let mut payload = None;
    let mut envelope = None;
    for l in m.layers {
        let slot = match l.media_type.as_str() {
            INDEX_MEDIA_TYPE => &mut payload,
            SIGNATURE_MEDIA_TYPE => &mut envelope,
            other => return Err(bad(format!("unexpected layer of media type `{other}`"))),
        };
        if slot.replace(l).is_some() {
            return Err(bad("two layers of the same media type".into()));
        }
    }
    match (payload, envelope) {
        (Some(payload), Some(envelope)) => Ok(Layers { payload, envelope }),
        (None, _) => Err(bad(format!("no `{INDEX_MEDIA_TYPE}` layer"))),
        (_, None) => Err(bad(format!("no `{SIGNATURE_MEDIA_TYPE}` layer (unsigned)"))),
    }
}

fn check_digest(what: &'static str, bytes: &[u8], expected: &Digest, by: &'static str) -> Result<(), SnapshotError> {
    let actual = Digest::of(bytes);
    if &actual != expected {
        return Err(SnapshotError::Digest { what, actual, expected: expected.clone(), by });
    }
    Ok(())
}

impl Snapshot {
    /// Builds a signed snapshot of everything `index` holds now. The index is rewritten into
    /// a fresh directory under `work` (one consistent view, no lock files, compact), archived
    /// and signed.
    pub fn build(index: &SearchIndex, key: &SnapshotSigningKey, work: &Path) -> Result<(Snapshot, Statement), SnapshotError> {
        let docs = index.all_docs()?;
        let mut by_component: BTreeMap<Digest, Vec<SearchDoc>> = BTreeMap::new();
        for d in docs {
            let digest: Digest = d.component_key.parse().map_err(|e| {
                SnapshotError::Contents(format!("component key `{}` of {} is not a digest: {e}", d.component_key, d.id))
            })?;
            by_component.entry(digest).or_default().push(d);
        }
        std::fs::create_dir_all(work).map_err(io_err(work))?;
        let tmp = tempfile::Builder::new().prefix("snapshot-build-").tempdir_in(work).map_err(io_err(work))?;
        let index_dir = tmp.path().join("index");
        let mut entries = Vec::new();
        let mut functions = 0u64;
        {
            let fresh = SearchIndex::open_or_create(&index_dir)?;
            for (digest, docs) in &by_component {
                fresh.replace_component(&digest.to_string(), docs)?;
                let first = &docs[0];
                entries.push(Entry {
                    digest: digest.clone(),
                    reference: first.reference.clone(),
                    registry: first.registry.clone(),
                    verified: first.verified.verdict.clone(),
                    functions: docs.len() as u64,
                });
                functions += docs.len() as u64;
            }
            fresh.commit()?;
            // Daemons search the snapshot as it is: in one segment, searches are faster.
            fresh.merge_segments()?;
        }
        let payload = {
            let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
            let mut add = |name: &str, bytes: &[u8]| append_file(&mut tar, name, bytes);
            let entries_json = serde_json::to_vec(&entries).expect("entries serialize");
            add("entries.json", &entries_json).map_err(io_err(tmp.path()))?;
            let mut names: Vec<String> = std::fs::read_dir(&index_dir)
                .map_err(io_err(&index_dir))?
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                // Lock files belong to the writer that made the index, not to the index.
                .filter(|n| !n.ends_with(".lock"))
                .collect();
            names.sort();
            for n in names {
                let path = index_dir.join(&n);
                let bytes = std::fs::read(&path).map_err(io_err(&path))?;
                add(&format!("index/{n}"), &bytes).map_err(io_err(&path))?;
            }
            let gz = tar.into_inner().map_err(io_err(tmp.path()))?;
            Bytes::from(gz.finish().map_err(io_err(tmp.path()))?)
        };
        let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let statement = Statement {
            format: FORMAT_VERSION,
            payload: Digest::of(&payload),
            payload_size: payload.len() as u64,
            schema: SearchIndex::schema_fingerprint(),
            created,
            functions,
            digests: by_component.keys().cloned().collect(),
        };
        Ok((Self::assemble(payload, &statement, key), statement))
    }

    /// Signs `statement` and wraps it with `payload` in a manifest. [`Snapshot::build`] uses
    /// it; it is public for tools that make their own archive (and for fuzzing).
    pub fn assemble(payload: Bytes, statement: &Statement, key: &SnapshotSigningKey) -> Snapshot {
        let envelope = Bytes::from(key.sign(statement));
        let layer = |media_type: &str, bytes: &[u8]| Descriptor {
            media_type: media_type.into(),
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        };
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.into()),
            artifact_type: Some(ARTIFACT_TYPE.into()),
            config: layer(EMPTY_CONFIG_MEDIA_TYPE, EMPTY_CONFIG),
            layers: vec![layer(INDEX_MEDIA_TYPE, &payload), layer(SIGNATURE_MEDIA_TYPE, &envelope)],
            annotations: BTreeMap::from([
                ("dev.forage.snapshot.components".to_string(), statement.digests.len().to_string()),
                ("dev.forage.snapshot.functions".to_string(), statement.functions.to_string()),
                ("dev.forage.snapshot.key-id".to_string(), key.key_id()),
            ]),
        };
        let manifest = Bytes::from(serde_json::to_vec(&manifest).expect("a manifest serializes"));
        Snapshot { manifest, payload, envelope }
    }

    /// The manifest digest: the snapshot's identity.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }

    /// Checks the manifest's shape, that each layer is the bytes it names, that a trusted key
    /// signed the statement, that the archive is the one signed, and that this build can read
    /// the index inside. Nothing is unpacked.
    pub fn verify(&self, keys: &TrustedSnapshotKeys) -> Result<Verified, SnapshotError> {
        let layers = parse_manifest(&self.manifest)?;
        check_digest("signature envelope", &self.envelope, &layers.envelope.digest, "named by the manifest")?;
        check_digest("index archive", &self.payload, &layers.payload.digest, "named by the manifest")?;
        let (statement, key_id) = keys.verify(&self.envelope)?;
        check_digest("index archive", &self.payload, &statement.payload, "signed in the statement")?;
        if statement.payload_size != self.payload.len() as u64 {
            return Err(SnapshotError::Contents(format!(
                "the archive is {} bytes but the statement signs {}",
                self.payload.len(),
                statement.payload_size
            )));
        }
        let ours = SearchIndex::schema_fingerprint();
        if statement.schema != ours {
            return Err(SnapshotError::Contents(format!(
                "its index was written with schema {} but this forage reads schema {ours}; rebuild it with this version",
                statement.schema
            )));
        }
        Ok(Verified { statement, key_id, digest: self.digest() })
    }

    /// Writes the snapshot to `path` as an `oci-archive` (a tar of an OCI image layout whose
    /// `index.json` names the manifest, tagged `latest`), atomically.
    pub fn write_archive(&self, path: &Path) -> Result<(), SnapshotError> {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": MANIFEST_MEDIA_TYPE,
                "artifactType": ARTIFACT_TYPE,
                "digest": self.digest(),
                "size": self.manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }],
        });
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(path))?;
        {
            let mut tar = tar::Builder::new(std::io::BufWriter::new(tmp.as_file_mut()));
            let mut add = |name: &str, bytes: &[u8]| append_file(&mut tar, name, bytes);
            let blob = |b: &[u8]| format!("blobs/sha256/{}", Digest::of(b).hex());
            add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_err(path))?;
            add("index.json", &serde_json::to_vec(&index).expect("json")).map_err(io_err(path))?;
            for b in [&self.manifest[..], EMPTY_CONFIG, &self.payload[..], &self.envelope[..]] {
                add(&blob(b), b).map_err(io_err(path))?;
            }
            tar.into_inner().map_err(io_err(path))?.flush().map_err(io_err(path))?;
        }
        tmp.as_file().sync_all().map_err(io_err(path))?;
        // Nothing in a snapshot is secret (the signature is public): readable like any artifact.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(io_err(path))?;
        }
        tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
        Ok(())
    }

    /// Reads an `oci-archive` written by [`Snapshot::write_archive`] (or by `skopeo copy …
    /// oci-archive:FILE`). Only the layout's own files are accepted, each within its cap.
    pub fn read_archive(path: &Path, limits: &SnapshotLimits) -> Result<Snapshot, SnapshotError> {
        let file = std::fs::File::open(path).map_err(io_err(path))?;
        let meta = file.metadata().map_err(io_err(path))?;
        if !meta.is_file() {
            return Err(SnapshotError::Archive(format!("{}: not a regular file", path.display())));
        }
        Self::read_archive_from(std::io::BufReader::new(file), &path.display().to_string(), limits)
    }

    /// [`Snapshot::read_archive`] over any reader; `name` names it in errors.
    pub fn read_archive_from(reader: impl Read, name: &str, limits: &SnapshotLimits) -> Result<Snapshot, SnapshotError> {
        let shown = name;
        let bad = |m: String| SnapshotError::Archive(format!("{shown}: {m}"));
        let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut index_json = None;
        let mut archive = tar::Archive::new(reader);
        let cap_total = limits.max_payload_bytes + MAX_ENVELOPE_BYTES as u64 + 2 * MAX_MANIFEST_BYTES;
        let mut total = 0u64;
        for (n, entry) in archive.entries().map_err(|e| bad(e.to_string()))?.enumerate() {
            let mut entry = entry.map_err(|e| bad(e.to_string()))?;
            if n >= 64 {
                return Err(bad("more than 64 entries; not a snapshot archive".into()));
            }
            let name = entry.path().map_err(|e| bad(e.to_string()))?.to_string_lossy().into_owned();
            let name = name.strip_prefix("./").unwrap_or(&name).to_string();
            match entry.header().entry_type() {
                tar::EntryType::Directory => continue,
                tar::EntryType::Regular => {}
                other => return Err(bad(format!("`{name}` is a {other:?} entry; only regular files are accepted"))),
            }
            let cap = match name.as_str() {
                "oci-layout" | "index.json" => MAX_MANIFEST_BYTES,
                n if n.strip_prefix("blobs/sha256/").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())) => {
                    limits.max_payload_bytes.max(MAX_ENVELOPE_BYTES as u64)
                }
                _ => return Err(bad(format!("unexpected entry `{name}`"))),
            };
            let size = entry.header().size().map_err(|e| bad(e.to_string()))?;
            total += size;
            if size > cap || total > cap_total {
                return Err(bad(format!("`{name}` is {size} bytes, over the limit")));
            }
            let mut bytes = Vec::with_capacity(size as usize);
            (&mut entry).take(cap + 1).read_to_end(&mut bytes).map_err(|e| bad(e.to_string()))?;
            if name == "index.json" {
                index_json = Some(bytes);
            } else if let Some(h) = name.strip_prefix("blobs/sha256/") {
                blobs.insert(h.to_ascii_lowercase(), bytes);
            }
        }
        let index_json = index_json.ok_or_else(|| bad("no index.json; not an OCI layout archive".into()))?;
        #[derive(Deserialize)]
        struct Index {
            manifests: Vec<Descriptor>,
        }
        let index: Index = serde_json::from_slice(&index_json).map_err(|e| bad(format!("index.json: {e}")))?;
        let [m] = &index.manifests[..] else {
            return Err(bad(format!("index.json lists {} manifests; a snapshot archive has one", index.manifests.len())));
        };
        let take = |d: &Digest, what: &str| blobs.get(&d.hex()).cloned().ok_or_else(|| bad(format!("{what} {d} is missing")));
        let manifest = take(&m.digest, "manifest")?;
        check_digest("manifest", &manifest, &m.digest, "named by index.json")?;
        let layers = parse_manifest(&manifest)?;
        Ok(Snapshot {
            payload: take(&layers.payload.digest, "index archive")?.into(),
            envelope: take(&layers.envelope.digest, "signature envelope")?.into(),
            manifest: manifest.into(),
        })
    }

    /// Pushes the snapshot to `reference` (a tag), with the fetcher's credentials and TLS
    /// settings for that registry. Returns the manifest digest.
    pub async fn push(&self, fetcher: &Fetcher, reference: &OciRef) -> Result<Digest, SnapshotError> {
        let blobs = [Bytes::from_static(EMPTY_CONFIG), self.payload.clone(), self.envelope.clone()];
        Ok(fetcher.push(reference, &blobs, self.manifest.clone(), MANIFEST_MEDIA_TYPE).await?)
    }

    /// The manifest digest `reference` names now, and the manifest: what a poll compares
    /// before pulling any layer.
    pub async fn resolve(fetcher: &Fetcher, reference: &OciRef) -> Result<(Digest, Bytes), SnapshotError> {
        let repo = fetcher.repository(reference).await?;
        let target: &Target = reference.target();
        let (manifest, digest, _) = repo.manifest(target, MAX_MANIFEST_BYTES).await?;
        Ok((digest, manifest))
    }

    /// Pulls the snapshot at `reference`; each layer is capped and checked against its digest.
    /// (Verification is [`Snapshot::verify`].)
    pub async fn pull(fetcher: &Fetcher, reference: &OciRef, limits: &SnapshotLimits) -> Result<Snapshot, SnapshotError> {
        let (digest, manifest) = Self::resolve(fetcher, reference).await?;
        Self::pull_manifest(fetcher, &reference.pinned(digest), manifest, limits).await
    }

    /// Pulls the layers of an already fetched `manifest`.
    pub async fn pull_manifest(fetcher: &Fetcher, reference: &OciRef, manifest: Bytes, limits: &SnapshotLimits) -> Result<Snapshot, SnapshotError> {
        let layers = parse_manifest(&manifest)?;
        let repo = fetcher.repository(reference).await?;
        let p = &layers.payload;
        if p.size > limits.max_payload_bytes {
            return Err(SnapshotError::Archive(format!("the index archive is {} bytes, over the {} allowed", p.size, limits.max_payload_bytes)));
        }
        let payload = repo.blob("snapshot index archive", &p.digest, p.size, limits.max_payload_bytes).await?;
        let e = &layers.envelope;
        let envelope = repo.blob("snapshot signature", &e.digest, e.size, MAX_ENVELOPE_BYTES as u64).await?;
        Ok(Snapshot { manifest, payload, envelope })
    }
}

/// Unpacks a verified snapshot's archive into `dest` (which must not exist yet) and checks it
/// against the statement: every entry and every indexed component is one the statement signs,
/// and the function count is the signed one. Returns the entries and the index, opened
/// read-only. On error `dest` is removed.
pub fn unpack(snapshot: &Snapshot, verified: &Verified, dest: &Path, limits: &SnapshotLimits) -> Result<(Vec<Entry>, SearchIndex), SnapshotError> {
    // The caller verified these bytes; a different `snapshot` here would be a bug, and a
    // dangerous one.
    check_digest("index archive", &snapshot.payload, &verified.statement.payload, "signed in the statement")?;
    let r = unpack_into(&snapshot.payload, &verified.statement, dest, limits);
    if r.is_err() {
        let _ = std::fs::remove_dir_all(dest);
    }
    r
}

fn unpack_into(payload: &[u8], statement: &Statement, dest: &Path, limits: &SnapshotLimits) -> Result<(Vec<Entry>, SearchIndex), SnapshotError> {
    let bad = |m: String| SnapshotError::Archive(m);
    std::fs::create_dir_all(dest.parent().unwrap_or(Path::new("."))).map_err(io_err(dest))?;
    std::fs::create_dir(dest).map_err(io_err(dest))?;
    let index_dir = dest.join("index");
    std::fs::create_dir(&index_dir).map_err(io_err(&index_dir))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(payload));
    let mut unpacked = 0u64;
    let mut entries_json = None;
    for (n, entry) in archive.entries().map_err(|e| bad(e.to_string()))?.enumerate() {
        let mut entry = entry.map_err(|e| bad(format!("entry {n}: {e}")))?;
        if n >= limits.max_files {
            return Err(bad(format!("more than {} files", limits.max_files)));
        }
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8(raw).map_err(|_| bad(format!("entry {n} has a non-UTF-8 name")))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(bad(format!("`{name}` is a {:?} entry; only regular files are accepted", entry.header().entry_type())));
        }
        // Plain names only: no directories beyond `index/`, no `..`, no absolute paths.
        let target = match name.split_once('/') {
            None if name == "entries.json" => None,
            Some(("index", file)) if is_plain_name(file) => Some(index_dir.join(file)),
            _ => return Err(bad(format!("unexpected path `{name}` (only entries.json and index/<file>)"))),
        };
        let left = limits.max_unpacked_bytes.saturating_sub(unpacked);
        let mut limited = (&mut entry).take(left + 1);
        let written = match &target {
            None => {
                let mut bytes = Vec::new();
                (&mut limited).take(MAX_ENTRIES_BYTES + 1).read_to_end(&mut bytes).map_err(|e| bad(format!("`{name}`: {e}")))?;
                if bytes.len() as u64 > MAX_ENTRIES_BYTES {
                    return Err(bad(format!("entries.json is over {MAX_ENTRIES_BYTES} bytes")));
                }
                let len = bytes.len() as u64;
                if entries_json.replace(bytes).is_some() {
                    return Err(bad("entries.json appears twice".into()));
                }
                len
            }
            Some(path) => {
                let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => bad(format!("`{name}` appears twice")),
                    _ => io_err(path)(e),
                })?;
                let n = std::io::copy(&mut limited, &mut f).map_err(|e| bad(format!("`{name}`: {e}")))?;
                // Durable before the caller points at this directory.
                f.sync_all().map_err(io_err(path))?;
                n
            }
        };
        unpacked += written;
        if unpacked > limits.max_unpacked_bytes {
            return Err(bad(format!(
                "it unpacks to more than {} bytes (a decompression bomb, or raise the limit)",
                limits.max_unpacked_bytes
            )));
        }
    }
    let entries_json = entries_json.ok_or_else(|| bad("no entries.json".into()))?;
    let entries: Vec<Entry> = serde_json::from_slice(&entries_json).map_err(|e| bad(format!("entries.json: {e}")))?;
    let signed = |d: &Digest| statement.digests.binary_search(d).is_ok();
    if let Some(e) = entries.iter().find(|e| !signed(&e.digest)) {
        return Err(SnapshotError::Contents(format!("entry {} ({}) is not in the signed manifest of digests", e.digest, e.reference)));
    }
    if entries.len() != statement.digests.len() {
        return Err(SnapshotError::Contents(format!(
            "{} entries, but the statement signs {} digests",
            entries.len(),
            statement.digests.len()
        )));
    }
    let index = SearchIndex::open_read_only(&index_dir)?;
    for key in index.component_keys()? {
        let ok = key.parse::<Digest>().is_ok_and(|d| signed(&d));
        if !ok {
            return Err(SnapshotError::Contents(format!("the index holds component `{key}`, which the statement does not sign")));
        }
    }
    if index.num_docs() != statement.functions {
        return Err(SnapshotError::Contents(format!(
            "the index holds {} functions but the statement signs {}",
            index.num_docs(),
            statement.functions
        )));
    }
    Ok((entries, index))
}

/// Opens a snapshot unpacked earlier by [`unpack`] (after a restart), read-only.
pub fn open_unpacked(dest: &Path) -> Result<SearchIndex, SnapshotError> {
    Ok(SearchIndex::open_read_only(&dest.join("index"))?)
}

/// Appends a regular file with fixed metadata (mode 0644, mtime 0): the same bytes give the
/// same archive.
fn append_file<W: Write>(tar: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, bytes)
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests;
