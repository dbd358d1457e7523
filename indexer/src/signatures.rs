//! Signature discovery: every signature a registry or image layout holds for one manifest
//! digest, as bytes for [`forage_policy::trust::verify`].
//!
//! Discovery only finds and fetches; it never judges. A signature that does not verify is
//! still returned (the verdict says why it failed); nothing here decides whether a component
//! loads.
//!
//! # What is looked up, where, in this order
//!
//! For a registry subject `REGISTRY/REPO@sha256:HEX` ([`discover`]), all in `REPO`:
//!
//! 1. **cosign**: the manifest tagged `sha256-HEX.sig`. Each of its layers (the simple-signing
//!    payload, with the signature, Rekor bundle and Fulcio certificate in annotations) becomes
//!    a [`FoundSignature::Cosign`] via [`FoundSignature::cosign_layer`].
//! 2. **OCI referrers API**: `GET /v2/REPO/referrers/sha256:HEX`. Entries whose
//!    `artifactType` is a signature type ([`SIGNATURE_ARTIFACT_TYPES`]: Notary Project
//!    signatures, Sigstore bundles) are fetched; every layer of each becomes a
//!    [`FoundSignature::Notary`] or [`FoundSignature::SigstoreBundle`] via
//!    [`FoundSignature::referrer_layer`]. SBOMs and other referrers are not fetched. The
//!    filtering is done here, on each entry's `artifactType`, rather than with the API's
//!    `?artifactType=` parameter: that takes one type per request (two are wanted) and
//!    registries may ignore it (they say so only in `OCI-Filters-Applied`).
//! 3. **Referrers tag schema** (OCI distribution spec 1.1, for registries without the API):
//!    the image index tagged `sha256-HEX`, read like the API's answer. Distribution 2.x has no
//!    referrers API (it answers 404), and `notation` and `oras` write this tag there. The tag is
//!    read even when the API answered, because a registry that gained the API later still
//!    holds referrers pushed before; duplicates are dropped by digest.
//!
//! For an image-layout directory ([`discover_in_layout`]): the manifest tagged `sha256-HEX.sig`
//! in `index.json` (cosign, as step 1); every manifest listed in `index.json` whose `subject`
//! is the digest (how `notation` and `oras` write referrers into a layout); and the index
//! tagged `sha256-HEX` (as step 3).
//!
//! # Caps and loops
//!
//! * Every manifest, index and referrers page is capped at [`MAX_SIGNATURE_MANIFEST_BYTES`]
//!   (or the fetcher's smaller manifest cap) while it streams; every signature blob at
//!   [`MAX_SIGNATURE_BLOB_BYTES`] (a Sigstore bundle with its certificate chain is a few KiB).
//!   Manifests and blobs are verified against their digests by the fetch layer.
//! * At most [`MAX_SIGNATURES`] signatures are returned (the verifier examines no more), at
//!   most [`MAX_REFERRERS`] referrer manifests are fetched, at most [`MAX_REFERRERS_PAGES`]
//!   referrers pages are read and at most [`MAX_LAYOUT_ENTRIES`] `index.json` entries are
//!   opened. What is over a *count* cap is dropped with a warning (the first ones are kept,
//!   in the order listed: `.sig` layers, API answer, tag-schema index); a document or blob
//!   over a *size* cap is an error (see below), refused from its descriptor or
//!   `Content-Length` before it is read, or as soon as the stream passes the cap.
//! * Discovery does not recurse: a referrer's own referrers (a signature of a signature) are
//!   not looked up. Each manifest digest is fetched at most once, and the subject itself is
//!   never taken for a signature manifest (a `.sig` tag or referrers index pointing back at the
//!   subject is skipped), so self-references and cycles end.
//! * A referrer whose `subject` names another digest is skipped (it is not a signature of this
//!   manifest).
//!
//! # Using it
//!
//! ```ignore
//! let artifact = fetcher.fetch_oci(&reference).await?;            // tag resolved once
//! let pinned = reference.pinned(artifact.digest.clone());          // registry/repo@digest
//! let media_type = artifact.manifest_media_type.as_deref().unwrap_or(OCI_MANIFEST_MEDIA_TYPE);
//! let signatures = signatures::discover(&fetcher, &pinned, media_type).await?;
//! let verdict = signatures::verify_fetched(&policy, &artifact, &signatures, SystemTime::now());
//! ```
//!
//! For a layout, [`discover_in_layout`]`(&layout_ref.dir, &artifact.digest, fetcher.limits())`;
//! a `.wasm` file has no signatures (`verify_fetched` with `&[]` gives `Unverified`). When a
//! tag named an image index, [`FetchedArtifact::digest`] is the chosen manifest and
//! [`FetchedArtifact::index_digest`] the index: signatures are discovered and verified for the
//! former (signatures made on the index are not found this way).
//!
//! # Errors
//!
//! No signature anywhere is `Ok(vec![])`: a missing `.sig` or `sha256-HEX` tag and a registry
//! without the referrers API are normal. Anything else (unreachable registry, refused
//! credentials, a manifest over its cap or not matching its digest, a signature manifest that
//! does not parse) is a [`SignatureError`] naming the registry, repository and digest. It
//! fails closed: the caller cannot tell "unsigned" from "signatures we could not read", so it
//! must not load the component as if it were unsigned.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;
use forage_policy::Digest;
use forage_policy::trust::{self, FoundSignature, SubjectRef, TrustPolicy, Verdict};
use serde::Deserialize;

use crate::fetch::layout::Layout;
use crate::fetch::oci::Repository;
use crate::fetch::{
    BlobSource, FetchError, FetchLimits, FetchedArtifact, Fetcher, OCI_INDEX_MEDIA_TYPE,
    OCI_MANIFEST_MEDIA_TYPE, REF_NAME_ANNOTATION,
};
use crate::reference::{LayoutRef, OciRef, Target};

/// At most this many signatures are returned (the verifier's own cap).
pub const MAX_SIGNATURES: usize = trust::MAX_SIGNATURES;
/// At most this many referrer manifests are fetched per subject.
pub const MAX_REFERRERS: usize = 64;
/// At most this many pages of the referrers API are read.
pub const MAX_REFERRERS_PAGES: usize = 4;
/// At most this many `index.json` entries of a layout are opened to look for a `subject`.
pub const MAX_LAYOUT_ENTRIES: usize = 1024;
/// Cap on a signature manifest, referrers index or referrers page.
pub const MAX_SIGNATURE_MANIFEST_BYTES: u64 = 1 << 20;
/// Cap on one signature blob (payload, envelope or bundle).
pub const MAX_SIGNATURE_BLOB_BYTES: u64 = 1 << 20;

/// `artifactType`s whose referrers are fetched as signatures.
pub const SIGNATURE_ARTIFACT_TYPES: &[&str] = &[
    trust::NOTARY_ARTIFACT_TYPE,
    trust::SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
];

/// Why discovery failed. Each variant names the subject (`registry/repository@digest` or
/// `layout:DIR@digest`) and the document at fault.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The reference is a tag: signatures belong to a digest, resolve it first.
    #[error(
        "signature discovery needs a reference pinned by digest, not `{reference}` (resolve the tag first)"
    )]
    NotPinned {
        /// The reference given.
        reference: String,
    },
    /// Fetching a signature manifest, index or blob failed (the fetch error names the
    /// registry or layout and the document).
    #[error("discovering the signatures of {subject}: {source}")]
    Fetch {
        /// The subject.
        subject: String,
        /// What the fetch layer said.
        #[source]
        source: FetchError,
    },
    /// A signature manifest or referrers index that does not parse.
    #[error("discovering the signatures of {subject}: invalid {what}: {detail}")]
    Invalid {
        /// The subject.
        subject: String,
        /// Which document (e.g. `cosign signature manifest sha256-….sig`).
        what: String,
        /// What is wrong.
        detail: String,
    },
}

/// Finds every signature of the manifest `subject` (pinned by digest) in its repository:
/// cosign `.sig` tag, referrers API, referrers tag schema (see the module docs for order and
/// caps). `manifest_media_type` is the subject's media type; referrers whose `subject`
/// descriptor announces another one are kept, with a warning.
pub async fn discover(
    fetcher: &Fetcher,
    subject: &OciRef,
    manifest_media_type: &str,
) -> Result<Vec<FoundSignature>, SignatureError> {
    let Some(digest) = subject.digest().cloned() else {
        return Err(SignatureError::NotPinned {
            reference: subject.to_string(),
        });
    };
    let shown = subject.to_string();
    let fetch_err = |source| SignatureError::Fetch {
        subject: shown.clone(),
        source,
    };
    let repo = fetcher.repository(subject).await.map_err(fetch_err)?;
    let manifest_cap = MAX_SIGNATURE_MANIFEST_BYTES.min(fetcher.limits().max_manifest_bytes);
    let blob_cap = MAX_SIGNATURE_BLOB_BYTES.min(fetcher.limits().max_blob_bytes);
    let source = RegistrySource {
        repo,
        manifest_cap,
        blob_cap,
    };
    let mut d = Discovery::new(&source, shown.clone(), digest.clone(), manifest_media_type);

    d.cosign().await?;

    // The referrers API, then the tag schema.
    let mut candidates = Vec::new();
    match source
        .repo
        .referrers(&digest, None, manifest_cap, MAX_REFERRERS_PAGES)
        .await
    {
        Ok(Some(pages)) => {
            for (i, page) in pages.iter().enumerate() {
                let index = parse::<RefIndex>(page).map_err(|detail| SignatureError::Invalid {
                    subject: shown.clone(),
                    what: format!("referrers API answer (page {})", i + 1),
                    detail,
                })?;
                candidates.extend(index.manifests);
            }
        }
        Ok(None) => tracing::debug!(subject = %shown, "no referrers API; using the tag schema"),
        Err(e) => return Err(fetch_err(e)),
    }
    candidates.extend(d.referrers_tag().await?);
    d.referrers(candidates).await?;
    Ok(d.finish())
}

/// Like [`discover`], in the OCI image layout at `dir`: the `sha256-HEX.sig` tag, manifests
/// listed in `index.json` whose `subject` is `digest`, and the `sha256-HEX` referrers index.
pub async fn discover_in_layout(
    dir: &Path,
    digest: &Digest,
    limits: &FetchLimits,
) -> Result<Vec<FoundSignature>, SignatureError> {
    let layout = Layout::new(dir, limits);
    let shown = LayoutRef {
        dir: layout.dir.clone(),
        target: Some(Target::Digest(digest.clone())),
    }
    .to_string();
    let fetch_err = |source| SignatureError::Fetch {
        subject: shown.clone(),
        source,
    };
    layout.check_marker().await.map_err(fetch_err)?;
    let manifest_cap = MAX_SIGNATURE_MANIFEST_BYTES.min(limits.max_manifest_bytes);
    let index_bytes = layout
        .read_capped(
            &layout.dir.join("index.json"),
            "index.json",
            limits.max_manifest_bytes,
        )
        .await
        .map_err(fetch_err)?;
    let index = parse::<RefIndex>(&index_bytes).map_err(|detail| SignatureError::Invalid {
        subject: shown.clone(),
        what: "index.json".into(),
        detail,
    })?;
    let source = LayoutSource {
        layout,
        entries: index.manifests.clone(),
        manifest_cap,
        blob_cap: MAX_SIGNATURE_BLOB_BYTES.min(limits.max_blob_bytes),
    };
    let mut d = Discovery::new(&source, shown, digest.clone(), "");
    d.cosign().await?;
    // Listed manifests with a `subject`: referrer candidates, typed once fetched.
    let mut candidates: Vec<RefDescriptor> = index
        .manifests
        .iter()
        .filter(|e| e.media_type != OCI_INDEX_MEDIA_TYPE && e.digest != digest.to_string())
        .take(MAX_LAYOUT_ENTRIES)
        .cloned()
        .collect();
    candidates.extend(d.referrers_tag().await?);
    d.referrers(candidates).await?;
    Ok(d.finish())
}

/// The subject to verify for a fetched artifact: registry, repository, digest, media type and
/// size of the manifest that was loaded, and the tag it was resolved from.
///
/// Layouts have no registry: they are verified as registry `layout`, repository = the
/// absolute directory without its leading `/` (so a policy scope `layout/**` covers them);
/// files as registry `file`. A cosign signature made for a registry repository names that
/// repository, so it does not authenticate a copy in a layout.
pub fn subject_of(artifact: &FetchedArtifact) -> SubjectRef {
    let (registry, repository) = match artifact.reference.parse::<OciRef>() {
        Ok(r) if !artifact.reference.starts_with("layout:") => {
            (r.registry().to_string(), r.repository().to_string())
        }
        _ => {
            let path = artifact
                .reference
                .strip_prefix("layout:")
                .map(|rest| rest.rsplit_once('@').map_or(rest, |(dir, _)| dir));
            match path {
                Some(dir) => (
                    "layout".to_string(),
                    dir.trim_start_matches('/').to_string(),
                ),
                None => (
                    "file".to_string(),
                    artifact.reference.trim_start_matches('/').to_string(),
                ),
            }
        }
    };
    let media_type =
        artifact
            .manifest_media_type
            .clone()
            .unwrap_or_else(|| match &artifact.manifest {
                Some(_) => OCI_MANIFEST_MEDIA_TYPE.to_string(),
                None => crate::fetch::WASM_LAYER_MEDIA_TYPE.to_string(),
            });
    let size = artifact
        .manifest
        .as_ref()
        .map_or(artifact.component.len(), Vec::len) as u64;
    let mut subject = SubjectRef::new(
        registry,
        repository,
        artifact.digest.clone(),
        media_type,
        size,
    );
    subject.tag = artifact.tag.clone();
    subject
}

/// Judges `signatures` (from [`discover`] or [`discover_in_layout`] for `artifact.digest`)
/// for `artifact` under `policy`, at `now`. See [`subject_of`] for the subject.
pub fn verify_fetched(
    policy: &TrustPolicy,
    artifact: &FetchedArtifact,
    signatures: &[FoundSignature],
    now: SystemTime,
) -> Verdict {
    trust::verify(policy, &subject_of(artifact), signatures, now)
}

// ---------------------------------------------------------------------------------------------

/// A descriptor in a referrers index, `index.json` or signature manifest.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefDescriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// An index: a referrers answer, a referrers-tag index or `index.json`.
#[derive(Debug, Deserialize)]
struct RefIndex {
    #[serde(default)]
    manifests: Vec<RefDescriptor>,
}

/// A signature manifest (cosign `.sig`, or a referrer).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigManifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    config: Option<RefDescriptor>,
    #[serde(default)]
    layers: Vec<RefDescriptor>,
    #[serde(default)]
    manifests: Option<Vec<RefDescriptor>>,
    #[serde(default)]
    subject: Option<RefDescriptor>,
}

impl SigManifest {
    fn is_index(&self) -> bool {
        self.manifests.is_some() || self.media_type.as_deref() == Some(OCI_INDEX_MEDIA_TYPE)
    }

    /// `artifactType`, else the config media type (OCI image spec 1.1 "artifact type").
    fn artifact_type(&self) -> Option<&str> {
        self.artifact_type
            .as_deref()
            .or(self.config.as_ref().map(|c| c.media_type.as_str()))
    }
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// Where signatures are read from: a registry repository or a layout.
trait Source {
    /// The manifest tagged `tag`, or `None` when there is no such tag.
    async fn tagged(&self, tag: &str) -> Result<Option<(Bytes, Digest)>, FetchError>;
    /// The manifest `digest` (announced as `size` bytes; 0 = unknown), verified.
    async fn manifest(&self, digest: &Digest, size: u64) -> Result<Bytes, FetchError>;
    /// A signature blob, verified and capped.
    async fn blob(&self, what: &str, digest: &Digest, size: u64) -> Result<Bytes, FetchError>;
}

struct RegistrySource<'a> {
    repo: Repository<'a>,
    manifest_cap: u64,
    blob_cap: u64,
}

impl Source for RegistrySource<'_> {
    async fn tagged(&self, tag: &str) -> Result<Option<(Bytes, Digest)>, FetchError> {
        match self
            .repo
            .manifest(&Target::Tag(tag.to_string()), self.manifest_cap)
            .await
        {
            Ok((bytes, digest, _)) => Ok(Some((bytes, digest))),
            Err(FetchError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn manifest(&self, digest: &Digest, size: u64) -> Result<Bytes, FetchError> {
        if size > self.manifest_cap {
            return Err(FetchError::TooLarge {
                source_name: format!("registry {}", self.repo.registry()),
                what: format!(
                    "signature manifest {digest} of {}/{}",
                    self.repo.registry(),
                    self.repo.repository()
                ),
                limit: self.manifest_cap,
                size: Some(size),
            });
        }
        let (bytes, _, _) = self
            .repo
            .manifest(&Target::Digest(digest.clone()), self.manifest_cap)
            .await?;
        Ok(bytes)
    }

    async fn blob(&self, what: &str, digest: &Digest, size: u64) -> Result<Bytes, FetchError> {
        self.repo.blob(what, digest, size, self.blob_cap).await
    }
}

struct LayoutSource {
    layout: Layout,
    entries: Vec<RefDescriptor>,
    manifest_cap: u64,
    blob_cap: u64,
}

impl Source for LayoutSource {
    async fn tagged(&self, tag: &str) -> Result<Option<(Bytes, Digest)>, FetchError> {
        let Some(entry) = self
            .entries
            .iter()
            .find(|e| e.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) == Some(tag))
        else {
            return Ok(None);
        };
        let digest = entry
            .digest
            .parse::<Digest>()
            .map_err(|e| FetchError::InvalidManifest {
                source_name: self.layout.source_name(),
                what: format!("index.json entry tagged `{tag}`"),
                detail: e.to_string(),
            })?;
        let bytes = self.manifest(&digest, entry.size).await?;
        Ok(Some((bytes, digest)))
    }

    async fn manifest(&self, digest: &Digest, size: u64) -> Result<Bytes, FetchError> {
        self.layout
            .blob("signature manifest", digest, size, self.manifest_cap)
            .await
    }

    async fn blob(&self, what: &str, digest: &Digest, size: u64) -> Result<Bytes, FetchError> {
        self.layout.blob(what, digest, size, self.blob_cap).await
    }
}

/// One discovery run: what was found, what was already fetched.
struct Discovery<'s, S> {
    source: &'s S,
    shown: String,
    subject: Digest,
    media_type: String,
    found: Vec<FoundSignature>,
    /// Manifest digests already fetched (or the subject itself): never fetched again.
    seen: HashSet<String>,
    truncated: bool,
}

impl<'s, S: Source> Discovery<'s, S> {
    fn new(source: &'s S, shown: String, subject: Digest, media_type: &str) -> Self {
        let seen = HashSet::from([subject.to_string()]);
        Self {
            source,
            shown,
            subject,
            media_type: media_type.to_string(),
            found: Vec::new(),
            seen,
            truncated: false,
        }
    }

    fn fetch_err(&self, source: FetchError) -> SignatureError {
        SignatureError::Fetch {
            subject: self.shown.clone(),
            source,
        }
    }

    fn invalid(&self, what: String, detail: String) -> SignatureError {
        SignatureError::Invalid {
            subject: self.shown.clone(),
            what,
            detail,
        }
    }

    fn full(&mut self) -> bool {
        if self.found.len() >= MAX_SIGNATURES {
            self.truncated = true;
        }
        self.truncated
    }

    /// `sha256-HEX` (the referrers tag); cosign appends `.sig`.
    fn tag_base(&self) -> String {
        let text = self.subject.to_string();
        text.replacen(':', "-", 1)
    }

    /// Step 1: the cosign `.sig` manifest.
    async fn cosign(&mut self) -> Result<(), SignatureError> {
        let tag = format!("{}.sig", self.tag_base());
        let Some((bytes, digest)) = self
            .source
            .tagged(&tag)
            .await
            .map_err(|e| self.fetch_err(e))?
        else {
            return Ok(());
        };
        if !self.seen.insert(digest.to_string()) {
            tracing::warn!(subject = %self.shown, %tag, "the cosign signature tag points back at the subject; skipped");
            return Ok(());
        }
        let what = format!("cosign signature manifest {tag} ({digest})");
        let doc: SigManifest = parse(&bytes).map_err(|e| self.invalid(what.clone(), e))?;
        if doc.is_index() {
            tracing::warn!(subject = %self.shown, %tag, "the cosign signature tag holds an index, not a manifest; skipped");
            return Ok(());
        }
        for layer in &doc.layers {
            if self.full() {
                break;
            }
            let layer_digest: Digest =
                layer
                    .digest
                    .parse()
                    .map_err(|e: forage_policy::DigestError| {
                        self.invalid(what.clone(), format!("layer digest: {e}"))
                    })?;
            let blob = self
                .source
                .blob(
                    &format!("cosign signature layer {layer_digest}"),
                    &layer_digest,
                    layer.size,
                )
                .await
                .map_err(|e| self.fetch_err(e))?;
            self.found.push(FoundSignature::cosign_layer(
                &layer.media_type,
                blob.to_vec(),
                &layer.annotations,
            ));
        }
        Ok(())
    }

    /// Step 3: the `sha256-HEX` index, as referrer candidates.
    async fn referrers_tag(&mut self) -> Result<Vec<RefDescriptor>, SignatureError> {
        let tag = self.tag_base();
        let Some((bytes, digest)) = self
            .source
            .tagged(&tag)
            .await
            .map_err(|e| self.fetch_err(e))?
        else {
            return Ok(Vec::new());
        };
        if !self.seen.insert(digest.to_string()) {
            tracing::warn!(subject = %self.shown, %tag, "the referrers tag points back at the subject; skipped");
            return Ok(Vec::new());
        }
        let what = format!("referrers index {tag} ({digest})");
        let doc: SigManifest = parse(&bytes).map_err(|e| self.invalid(what.clone(), e))?;
        if !doc.is_index() {
            tracing::warn!(subject = %self.shown, %tag, "the referrers tag holds a manifest, not an index; skipped");
            return Ok(Vec::new());
        }
        Ok(doc.manifests.unwrap_or_default())
    }

    /// Steps 2 and 3: fetch signature-typed referrers (untyped ones only from a layout's
    /// `index.json`, where the type is known once the manifest is read).
    async fn referrers(&mut self, candidates: Vec<RefDescriptor>) -> Result<(), SignatureError> {
        let mut fetched = 0usize;
        for desc in candidates {
            if self.full() {
                break;
            }
            if let Some(t) = &desc.artifact_type
                && !is_signature_type(t)
            {
                continue;
            }
            if !self.seen.insert(desc.digest.clone()) {
                continue; // the subject itself, or listed twice (API and tag)
            }
            if desc.media_type == OCI_INDEX_MEDIA_TYPE {
                continue;
            }
            if fetched >= MAX_REFERRERS {
                tracing::warn!(subject = %self.shown, cap = MAX_REFERRERS, "more referrers than the cap; the rest are ignored");
                break;
            }
            fetched += 1;
            let digest: Digest = desc
                .digest
                .parse()
                .map_err(|e: forage_policy::DigestError| {
                    self.invalid("referrer descriptor".into(), e.to_string())
                })?;
            let bytes = match self.source.manifest(&digest, desc.size).await {
                Ok(b) => b,
                // An untyped layout entry may be any image (a large one, a missing blob):
                // only typed referrers are known to be signatures.
                Err(e) if desc.artifact_type.is_none() => {
                    tracing::debug!(subject = %self.shown, entry = %digest, "layout entry skipped: {e}");
                    continue;
                }
                Err(e) => return Err(self.fetch_err(e)),
            };
            let what = format!("referrer manifest {digest}");
            let Ok(doc) = parse::<SigManifest>(&bytes) else {
                if desc.artifact_type.is_some() {
                    return Err(self.invalid(what, "not a JSON manifest".into()));
                }
                continue; // an untyped layout entry that is not ours
            };
            match &doc.subject {
                Some(s) if s.digest == self.subject.to_string() => {
                    if !self.media_type.is_empty()
                        && !s.media_type.is_empty()
                        && s.media_type != self.media_type
                    {
                        tracing::warn!(subject = %self.shown, referrer = %digest, announced = %s.media_type, "referrer's subject descriptor has another media type");
                    }
                }
                Some(_) | None if desc.artifact_type.is_none() => continue,
                other => {
                    tracing::warn!(subject = %self.shown, referrer = %digest, names = ?other.as_ref().map(|s| &s.digest), "referrer is not about this subject; skipped");
                    continue;
                }
            }
            let Some(artifact_type) = doc
                .artifact_type()
                .or(desc.artifact_type.as_deref())
                .map(str::to_string)
            else {
                continue;
            };
            if !is_signature_type(&artifact_type) {
                continue;
            }
            for layer in &doc.layers {
                if self.full() {
                    break;
                }
                let layer_digest: Digest =
                    layer
                        .digest
                        .parse()
                        .map_err(|e: forage_policy::DigestError| {
                            self.invalid(what.clone(), format!("layer digest: {e}"))
                        })?;
                let blob = self
                    .source
                    .blob(
                        &format!("signature layer {layer_digest} of referrer {digest}"),
                        &layer_digest,
                        layer.size,
                    )
                    .await
                    .map_err(|e| self.fetch_err(e))?;
                if let Some(sig) =
                    FoundSignature::referrer_layer(&artifact_type, &layer.media_type, blob.to_vec())
                {
                    self.found.push(sig);
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Vec<FoundSignature> {
        if self.truncated {
            tracing::warn!(subject = %self.shown, cap = MAX_SIGNATURES, "more signatures than the cap; the rest are ignored");
        }
        self.found
    }
}

fn is_signature_type(t: &str) -> bool {
    SIGNATURE_ARTIFACT_TYPES.contains(&t) || t.starts_with("application/vnd.dev.sigstore.bundle")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::fetch::testutil::blob;

    fn write_index(dir: &Path, entries: serde_json::Value) {
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        std::fs::write(
            dir.join("index.json"),
            serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": entries}))
                .unwrap(),
        )
        .unwrap();
    }

    /// A subject, a Notary-typed referrer (listed untyped in index.json, as notation writes
    /// it), the same referrer in a `sha256-HEX` index, and a cosign `.sig` manifest.
    #[tokio::test]
    async fn layout_finds_cosign_subject_listed_and_tag_schema_referrers_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let subject = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;
        let (sd, ss) = blob(dir, subject);
        let (cd, cs) = blob(dir, b"{}");
        let (ed, es) = blob(dir, b"envelope");
        let referrer = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": trust::NOTARY_ARTIFACT_TYPE, "digest": cd, "size": cs},
            "layers": [{"mediaType": "application/jose+json", "digest": ed, "size": es}],
            "subject": {"mediaType": OCI_MANIFEST_MEDIA_TYPE, "digest": sd, "size": ss},
        }))
        .unwrap();
        let (rd, rs) = blob(dir, &referrer);
        let tag_index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX_MEDIA_TYPE,
            "manifests": [
                {"mediaType": OCI_MANIFEST_MEDIA_TYPE, "digest": rd, "size": rs, "artifactType": trust::NOTARY_ARTIFACT_TYPE},
                // Points back at the subject: skipped, no loop.
                {"mediaType": OCI_MANIFEST_MEDIA_TYPE, "digest": sd, "size": ss, "artifactType": trust::NOTARY_ARTIFACT_TYPE},
                // Not a signature: not fetched (its blob does not even exist).
                {"mediaType": OCI_MANIFEST_MEDIA_TYPE, "digest": Digest::of(b"sbom").to_string(), "size": 4, "artifactType": "application/spdx+json"},
            ],
        }))
        .unwrap();
        let (id, is) = blob(dir, &tag_index);
        let (pd, ps) = blob(dir, b"payload");
        let sig = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
            "layers": [{"mediaType": trust::cosign::SIMPLE_SIGNING_MEDIA_TYPE, "digest": pd, "size": ps,
                        "annotations": {trust::annotations::SIGNATURE: "c2ln"}}],
        }))
        .unwrap();
        let (gd, gs) = blob(dir, &sig);
        let hex = &sd[7..];
        write_index(
            dir,
            serde_json::json!([
                {"mediaType": OCI_MANIFEST_MEDIA_TYPE, "digest": sd, "size": ss, "annotations": {REF_NAME_ANNOTATION: "v1"}},
                {"mediaType": OCI_MANIFEST_MEDIA_TYPE, "digest": rd, "size": rs},
                {"mediaType": OCI_INDEX_MEDIA_TYPE, "digest": id, "size": is, "annotations": {REF_NAME_ANNOTATION: format!("sha256-{hex}")}},
                {"mediaType": OCI_MANIFEST_MEDIA_TYPE, "digest": gd, "size": gs, "annotations": {REF_NAME_ANNOTATION: format!("sha256-{hex}.sig")}},
            ]),
        );
        let found = discover_in_layout(dir, &sd.parse().unwrap(), &FetchLimits::default())
            .await
            .unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            matches!(&found[0], FoundSignature::Cosign { payload, signature_b64, .. }
            if payload == b"payload" && signature_b64 == "c2ln")
        );
        assert_eq!(
            found[1],
            FoundSignature::Notary {
                envelope: b"envelope".to_vec(),
                media_type: "application/jose+json".into()
            }
        );

        // Another digest has none.
        let none = discover_in_layout(dir, &Digest::of(b"other"), &FetchLimits::default())
            .await
            .unwrap();
        assert!(none.is_empty());

        // A corrupted signature blob is an error naming the layout and the blob.
        std::fs::write(dir.join("blobs/sha256").join(&ed[7..]), b"tampered").unwrap();
        let err = discover_in_layout(dir, &sd.parse().unwrap(), &FetchLimits::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                SignatureError::Fetch {
                    source: FetchError::DigestMismatch { .. },
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains(&ed) && err.to_string().contains(hex),
            "{err}"
        );
    }

    /// A registry with the referrers API (distribution 2.8 has none), served from a route
    /// table: `path?query` → (status, headers, body). A TLS hello (the HTTPS probe) is hung up
    /// on, as a plain-HTTP server does.
    async fn serve(routes: HashMap<String, (u16, Vec<(String, String)>, Vec<u8>)>) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes = std::sync::Arc::new(routes);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let routes = routes.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        if buf.first() == Some(&0x16) {
                            return;
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                    let not_found = (
                        404,
                        vec![],
                        br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#.to_vec(),
                    );
                    let (status, headers, body) = routes.get(&path).unwrap_or(&not_found);
                    let mut out = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                        body.len()
                    );
                    for (k, v) in headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    let _ = s.write_all(out.as_bytes()).await;
                    let _ = s.write_all(body).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        addr.to_string()
    }

    #[tokio::test]
    async fn referrers_api_pages_filtered_by_type_and_subject() {
        let subject = br#"{"schemaVersion":2,"layers":[]}"#;
        let sd = Digest::of(subject).to_string();
        let other = Digest::of(b"other").to_string();
        let mut routes = HashMap::new();
        let mut ok = |path: String, body: Vec<u8>, headers: Vec<(String, String)>| {
            routes.insert(path, (200u16, headers, body));
        };
        ok("/v2/".into(), b"{}".to_vec(), vec![]);
        let mut referrer = |artifact_type: &str, layer_type: &str, blob: &[u8], subject: &str| {
            let (bd, bs) = (Digest::of(blob).to_string(), blob.len());
            let m = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST_MEDIA_TYPE, "artifactType": artifact_type,
                "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}").to_string(), "size": 2},
                "layers": [{"mediaType": layer_type, "digest": bd, "size": bs}],
                "subject": {"mediaType": OCI_MANIFEST_MEDIA_TYPE, "digest": subject, "size": 10},
            }))
            .unwrap();
            let md = Digest::of(&m).to_string();
            ok(format!("/v2/acme/x/blobs/{bd}"), blob.to_vec(), vec![]);
            ok(format!("/v2/acme/x/manifests/{md}"), m.clone(), vec![]);
            serde_json::json!({"mediaType": OCI_MANIFEST_MEDIA_TYPE, "digest": md, "size": m.len(), "artifactType": artifact_type})
        };
        let notary = referrer(
            trust::NOTARY_ARTIFACT_TYPE,
            "application/cose",
            b"cose",
            &sd,
        );
        let bundle = referrer(
            trust::SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
            trust::SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
            b"{\"bundle\":1}",
            &sd,
        );
        let misplaced = referrer(
            trust::NOTARY_ARTIFACT_TYPE,
            "application/cose",
            b"x",
            &other,
        );
        let sbom = serde_json::json!({"mediaType": OCI_MANIFEST_MEDIA_TYPE,
            "digest": Digest::of(b"sbom").to_string(), "size": 4, "artifactType": "application/spdx+json"});
        let first = format!("/v2/acme/x/referrers/{sd}");
        let second = format!("/v2/acme/x/referrers/{sd}?last=2");
        let page = |m: Vec<serde_json::Value>| {
            serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX_MEDIA_TYPE, "manifests": m})).unwrap()
        };
        let link = |to: &str| vec![("Link".to_string(), format!("<{to}>; rel=\"next\""))];
        ok(
            first.clone(),
            page(vec![sbom, notary.clone(), misplaced]),
            link(&second),
        );
        // The second page links back to the first: read once.
        ok(second, page(vec![bundle, notary]), link(&first));
        let host = serve(routes).await;

        let fetcher = Fetcher::default();
        let r: OciRef = format!("{host}/acme/x@{sd}").parse().unwrap();
        let found = discover(&fetcher, &r, OCI_MANIFEST_MEDIA_TYPE)
            .await
            .unwrap();
        assert_eq!(
            found,
            vec![
                FoundSignature::Notary {
                    envelope: b"cose".to_vec(),
                    media_type: "application/cose".into()
                },
                FoundSignature::SigstoreBundle {
                    bundle: b"{\"bundle\":1}".to_vec(),
                    media_type: trust::SIGSTORE_BUNDLE_V03_MEDIA_TYPE.into()
                },
            ]
        );
    }

    #[test]
    fn subjects_of_fetched_artifacts() {
        let artifact = FetchedArtifact {
            digest: Digest::of(b"m"),
            reference: format!("127.0.0.1:5000/components/clock@{}", Digest::of(b"m")),
            tag: Some("1.0".into()),
            component: Bytes::new(),
            component_digest: Digest::of(b""),
            wit_package: None,
            annotations: BTreeMap::new(),
            manifest: Some(b"m".to_vec()),
            manifest_media_type: None,
            config_media_type: None,
            config: None,
            index_digest: None,
        };
        let s = subject_of(&artifact);
        assert_eq!(
            (s.registry.as_str(), s.repository.as_str()),
            ("127.0.0.1:5000", "components/clock")
        );
        assert_eq!(s.manifest_media_type, OCI_MANIFEST_MEDIA_TYPE);
        assert_eq!((s.manifest_size, s.tag.as_deref()), (1, Some("1.0")));
        let layout = FetchedArtifact {
            reference: format!("layout:/srv/l@{}", Digest::of(b"m")),
            ..artifact
        };
        let s = subject_of(&layout);
        assert_eq!(
            (s.registry.as_str(), s.repository.as_str()),
            ("layout", "srv/l")
        );
    }
}
