//! Fetching component bytes from wherever a [`ComponentRef`] points: an OCI registry
//! ([`oci`]), an OCI image-layout directory ([`layout`]) or a `.wasm` file ([`file`]).
//!
//! Invariants every path keeps:
//!
//! * **Pinned by digest.** A tag is resolved to a manifest digest exactly once, from the bytes
//!   actually received; everything after that (blobs, the returned
//!   [`FetchedArtifact::reference`]) is addressed by that digest.
//! * **Verified.** Manifest bytes and every blob are hashed here and compared with the digest
//!   that addressed them; a registry or layout that serves anything else is an error
//!   ([`FetchError::DigestMismatch`]), whatever headers it sent.
//! * **Bounded.** Manifests and blobs are capped ([`FetchLimits`]) while they stream in, so an
//!   oversized blob is refused after at most `limit` bytes, not after it has been buffered.
//! * **Off the runtime.** Whole-blob hashing and component decoding run in `spawn_blocking`;
//!   registry streams are hashed chunk by chunk as they arrive (each chunk is small).
//!
//! What is recognised as a component: the CNCF wasm artifact layout (config
//! `application/vnd.wasm.config.v0+json`, layers `application/wasm`, as `wkg` publishes it),
//! the older wasm OCI layer media types, and a plain OCI artifact/image whose single layer is a
//! component. When several wasm layers are present they are told apart by decoding them: one is
//! the component, and a binary-encoded WIT package (as `wkg wit build` writes it) is returned
//! as [`FetchedArtifact::wit_package`].
//!
//! An artifact holding only a WIT package (one published on its own, as `wkg publish` does
//! for docs) is not a component: [`Fetcher::fetch_wit_package`] reads it, with the same
//! pinning, verification and caps, for [`crate::published`].

pub mod file;
pub mod layout;
pub mod oci;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use forage_policy::Digest;
use serde::Deserialize;

use crate::reference::{ComponentRef, OciRef};

/// Config media type of the CNCF wasm OCI artifact layout (`wkg` publishes this).
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Layer media type of the CNCF wasm OCI artifact layout: a component or a WIT package.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Older layer media types that also carry a wasm binary (wasm-to-oci, runwasi).
pub const LEGACY_WASM_LAYER_MEDIA_TYPES: &[&str] = &[
    "application/vnd.wasm.content.layer.v1+wasm",
    "application/vnd.module.wasm.content.layer.v1+wasm",
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
];
/// OCI image manifest media type.
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema 2 manifest list media type.
pub const DOCKER_MANIFEST_LIST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// The annotation an image layout uses to tag a manifest in `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// Size caps and timeouts for fetching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchLimits {
    /// Largest manifest (or image index, or `index.json`) accepted, in bytes.
    pub max_manifest_bytes: u64,
    /// Largest blob (config, component, WIT package) or `.wasm` file accepted, in bytes.
    pub max_blob_bytes: u64,
    /// Time allowed for one registry request to complete (auth, manifest); for blobs, the
    /// longest the registry may stay silent mid-stream.
    pub request_timeout: Duration,
    /// Time allowed to open a connection to a registry.
    pub connect_timeout: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_manifest_bytes: 4 << 20,
            max_blob_bytes: 256 << 20,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// How to authenticate to one registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials (anonymous token from the registry's token service if it has one).
    #[default]
    Anonymous,
    /// Username and password: sent as HTTP basic auth, or exchanged at the registry's token
    /// service for a bearer token.
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: String,
    },
    /// A static bearer token, sent as is.
    Bearer(String),
    /// Look the registry up in a docker `config.json` (`auths.<registry>.auth` or
    /// `username`/`password`); `None` means `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json`. Credential helpers are not run. No entry means anonymous.
    DockerConfig(Option<PathBuf>),
}

impl std::fmt::Debug for Credentials {
    // Never print secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => write!(
                f,
                "Basic {{ username: {username:?}, password: <redacted> }}"
            ),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Self::DockerConfig(p) => write!(f, "DockerConfig({p:?})"),
        }
    }
}

/// Per-registry settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistrySettings {
    /// Accept a self-signed (unverified) certificate, or plain HTTP when the registry does not
    /// speak TLS. An explicit opt-in: without it only HTTPS with verified certificates is
    /// used, except for loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`) that have no
    /// settings at all, which are insecure by default as in docker and containerd.
    pub insecure: bool,
    /// How to authenticate.
    pub credentials: Credentials,
}

/// Everything a [`Fetcher`] is configured with.
#[derive(Clone, Debug, Default)]
pub struct FetcherConfig {
    /// Caps and timeouts.
    pub limits: FetchLimits,
    /// Settings per registry host (`ghcr.io`, `127.0.0.1:5000`), as written in references.
    pub registries: HashMap<String, RegistrySettings>,
}

/// A component fetched, verified and ready to be described or loaded.
#[derive(Clone, Debug)]
pub struct FetchedArtifact {
    /// The manifest digest for OCI and layout sources (what a tag resolved to); the sha256 of
    /// the file for `.wasm` files. This is what gets verified, loaded and recorded.
    pub digest: Digest,
    /// The pinned reference: `registry/repo@sha256:…`, `layout:DIR@sha256:…` (absolute DIR) or
    /// the absolute file path.
    pub reference: String,
    /// The tag the digest was resolved from, if the reference named one.
    pub tag: Option<String>,
    /// The component binary.
    pub component: Bytes,
    /// The digest of [`Self::component`] (its layer digest, or the file digest).
    pub component_digest: Digest,
    /// A binary-encoded WIT package carried in the same artifact, if any.
    pub wit_package: Option<Bytes>,
    /// The manifest's annotations (empty for files).
    pub annotations: BTreeMap<String, String>,
    /// The raw manifest bytes (hash to [`Self::digest`]); `None` for files.
    pub manifest: Option<Vec<u8>>,
    /// The manifest media type, when there is a manifest.
    pub manifest_media_type: Option<String>,
    /// The config descriptor's media type, when there is a manifest.
    pub config_media_type: Option<String>,
    /// The raw config blob (verified), when there is a manifest.
    pub config: Option<Vec<u8>>,
    /// When the reference pointed at an image index, the index digest; [`Self::digest`] is
    /// then the digest of the manifest chosen from it.
    pub index_digest: Option<Digest>,
}

/// A WIT package published as an artifact of its own (see [`Fetcher::fetch_wit_package`]).
#[derive(Clone, Debug)]
pub struct FetchedWitPackage {
    /// The pinned reference it was read from, `registry/repo@sha256:…`.
    pub reference: String,
    /// The manifest digest.
    pub digest: Digest,
    /// The layer's bytes (verified against their digest; not yet decoded).
    pub bytes: Bytes,
}

/// Why fetching failed. Every variant names the registry, reference, layout or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Nothing answered (connection refused, DNS, TLS handshake).
    #[error(
        "registry {registry} is unreachable: {detail} (is it running? for a plain-HTTP or self-signed registry, \
         set `insecure = true` on its source)"
    )]
    Unreachable {
        /// The registry host.
        registry: String,
        /// What the HTTP client said.
        detail: String,
    },
    /// A request took longer than [`FetchLimits::request_timeout`].
    #[error("registry {registry} timed out after {after:?} while fetching {what}")]
    Timeout {
        /// The registry host.
        registry: String,
        /// What was being fetched.
        what: String,
        /// The limit that was hit.
        after: Duration,
    },
    /// HTTP 401 or 403, or the token service refused the credentials.
    #[error(
        "authentication failed for registry {registry} (HTTP {status}) fetching {reference}: {detail}"
    )]
    AuthFailed {
        /// The registry host.
        registry: String,
        /// The reference being fetched.
        reference: String,
        /// The HTTP status (401 or 403).
        status: u16,
        /// The registry's explanation, or ours.
        detail: String,
    },
    /// HTTP 404 (or a distribution `*_UNKNOWN` error) for a manifest or blob.
    #[error("{what} not found: registry {registry} has no {target} in repository `{repository}`")]
    NotFound {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
        /// `tag `x`` or `manifest sha256:…` or `blob sha256:…`.
        target: String,
        /// What was being fetched (e.g. the full reference).
        what: String,
    },
    /// Any other HTTP failure.
    #[error("registry {registry} answered HTTP {status} for {what}: {detail}")]
    Http {
        /// The registry host.
        registry: String,
        /// What was being fetched.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The body (truncated) or the client's error.
        detail: String,
    },
    /// Bytes did not hash to the digest that addressed them.
    #[error(
        "digest mismatch in {source_name}: {what} should be {expected} but the bytes served hash to {actual}"
    )]
    DigestMismatch {
        /// The registry, layout or file.
        source_name: String,
        /// Which manifest or blob.
        what: String,
        /// The digest it was addressed by.
        expected: String,
        /// The digest of what was received.
        actual: String,
    },
    /// A manifest or blob exceeds its cap.
    #[error("{what} from {source_name} is larger than the {limit}-byte limit{}", size.map(|s| format!(" ({s} bytes)")).unwrap_or_default())]
    TooLarge {
        /// The registry, layout or file.
        source_name: String,
        /// Which manifest or blob.
        what: String,
        /// The cap in force.
        limit: u64,
        /// The size, when it was announced.
        size: Option<u64>,
    },
    /// The artifact holds no component: a core module, a WIT package only, or not wasm.
    #[error("{reference}: {what} {why}")]
    NotAComponent {
        /// The reference being fetched.
        reference: String,
        /// Which layer or file.
        what: String,
        /// E.g. "is a core wasm module, not a component".
        why: String,
    },
    /// The artifact's manifest has no layer that could hold a component.
    #[error("{reference}: no wasm layer in the manifest (layer media types: {media_types})")]
    NoWasmLayer {
        /// The reference being fetched.
        reference: String,
        /// The media types that were there.
        media_types: String,
    },
    /// A manifest, index or `index.json` that does not parse or breaks the spec.
    #[error("{source_name}: invalid {what}: {detail}")]
    InvalidManifest {
        /// The registry, layout or file.
        source_name: String,
        /// Which document.
        what: String,
        /// What is wrong.
        detail: String,
    },
    /// A layout has no manifest for the requested tag, or several where one was expected.
    #[error("layout {dir}: {detail}")]
    LayoutSelection {
        /// The layout directory.
        dir: String,
        /// What was asked and what is there.
        detail: String,
    },
    /// Reading a file or layout failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A local path that is not a regular file (a device, a FIFO, a directory, a socket):
    /// reading one could block forever or never end.
    #[error("cannot read {path}: it is {kind}, not a regular file")]
    NotRegularFile {
        /// The path.
        path: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// The fetcher could not be set up (TLS roots, docker config).
    #[error("fetcher setup for {what}: {detail}")]
    Setup {
        /// The registry or file concerned.
        what: String,
        /// What went wrong.
        detail: String,
    },
}

impl FetchError {
    /// Worth trying again: the registry was unreachable, timed out, rate-limited us (429) or
    /// failed on its side (5xx). Everything else (auth, not found, digest mismatch, malformed
    /// documents, not a component) will fail the same way next time.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Unreachable { .. } | FetchError::Timeout { .. } => true,
            FetchError::Http { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// The delay the registry asked for with `Retry-After` (delta-seconds form) on a 429 or
    /// 5xx answer, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        let FetchError::Http { detail, .. } = self else {
            return None;
        };
        let rest = detail.rsplit_once("(Retry-After: ")?.1;
        let secs = rest.strip_suffix("s)")?.parse::<u64>().ok()?;
        Some(Duration::from_secs(secs))
    }
}

/// Fetches components from registries, layouts and files. Cheap to share (`Arc` it); keeps a
/// client (and its token cache) per registry.
pub struct Fetcher {
    config: FetcherConfig,
    http: reqwest::Client,
    /// For `insecure` registries: accepts self-signed and otherwise invalid certificates.
    http_insecure: reqwest::Client,
    /// Insecure registries found to speak HTTPS (the rest are spoken to in plain HTTP).
    https_seen: Mutex<std::collections::HashSet<String>>,
    /// Insecure registries whose HTTPS probe failed: they speak plain HTTP, so later requests
    /// skip the probe (one round trip each) for the life of this fetcher.
    plain_seen: Mutex<std::collections::HashSet<String>>,
    /// One oci-client per (registry, scheme), created on first use: it does the auth handshake.
    oci_clients: Mutex<HashMap<(String, bool), oci_client::Client>>,
}

/// How to reach one registry: base URL and the HTTP client to use for it.
pub(crate) struct Endpoint {
    /// `http(s)://host[:port]`.
    pub base: String,
    /// TLS (possibly unverified, for insecure registries) rather than plain HTTP.
    pub https: bool,
    /// The client: the verifying one, or for insecure registries the permissive one.
    pub http: reqwest::Client,
    /// Certificates go unchecked (the registry is configured `insecure`).
    pub insecure: bool,
}

impl Default for Fetcher {
    fn default() -> Self {
        Self::new(FetcherConfig::default()).expect("default fetcher")
    }
}

impl Fetcher {
    /// A fetcher with the given limits and per-registry settings.
    pub fn new(config: FetcherConfig) -> Result<Self, FetchError> {
        let builder = || {
            reqwest::Client::builder()
                .user_agent(concat!("forage/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(config.limits.connect_timeout)
                .read_timeout(config.limits.request_timeout)
        };
        let setup = |e: reqwest::Error| FetchError::Setup {
            what: "HTTP client".into(),
            detail: e.to_string(),
        };
        let http = builder().build().map_err(setup)?;
        let http_insecure = builder()
            .danger_accept_invalid_certs(true)
            .build()
            .map_err(setup)?;
        Ok(Self {
            config,
            http,
            http_insecure,
            https_seen: Mutex::new(Default::default()),
            plain_seen: Mutex::new(Default::default()),
            oci_clients: Mutex::new(HashMap::new()),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> &FetchLimits {
        &self.config.limits
    }

    /// The settings used for `registry`: its own, or the defaults (plain HTTP for loopback).
    pub fn settings_for(&self, registry: &str) -> RegistrySettings {
        self.config
            .registries
            .get(registry)
            .cloned()
            .unwrap_or_else(|| RegistrySettings {
                insecure: is_loopback(registry),
                credentials: Credentials::Anonymous,
            })
    }

    /// Fetches and verifies the component `reference` points at.
    pub async fn fetch(&self, reference: &ComponentRef) -> Result<FetchedArtifact, FetchError> {
        match reference {
            ComponentRef::Oci(r) => self.fetch_oci(r).await,
            ComponentRef::Layout(l) => layout::fetch(l, &self.config.limits).await,
            ComponentRef::File(p) => file::fetch(p, &self.config.limits).await,
        }
    }

    /// Fetches and verifies a component from a registry.
    pub async fn fetch_oci(&self, reference: &OciRef) -> Result<FetchedArtifact, FetchError> {
        oci::fetch(self, reference).await
    }

    /// Fetches a WIT package published on its own at `reference` (the `wkg` convention: a
    /// wasm artifact whose layer is the binary-encoded package), with the same credentials,
    /// TLS settings, timeouts and size caps as components.
    pub async fn fetch_wit_package(&self, reference: &OciRef) -> Result<FetchedWitPackage, FetchError> {
        oci::fetch_wit_package(self, reference).await
    }

    /// Resolves `reference` to the digest of the manifest it names now (for a digest reference,
    /// checks the registry has it). Fetches and verifies the manifest, no blobs.
    pub async fn resolve(&self, reference: &OciRef) -> Result<Digest, FetchError> {
        oci::resolve(self, reference).await
    }

    /// Opens `reference`'s repository for reading manifests, blobs and referrers by digest
    /// (authenticated as for [`Fetcher::fetch_oci`]; the reference's tag or digest only scopes
    /// the token request). Used by [`crate::signatures`].
    pub async fn repository(&self, reference: &OciRef) -> Result<oci::Repository<'_>, FetchError> {
        oci::Repository::open(self, reference).await
    }

    /// Pushes an artifact: `blobs` (config and layers; any the registry has are skipped), then
    /// `manifest` (of `media_type`) at `reference`. Returns the manifest digest.
    pub async fn push(&self, reference: &OciRef, blobs: &[Bytes], manifest: Bytes, media_type: &str) -> Result<Digest, FetchError> {
        oci::push(self, reference, blobs, manifest, media_type).await
    }

    /// Lists the repositories of `registry` through the catalog API (`/v2/_catalog`, all
    /// pages), for crawlers. `Ok(None)` when the registry does not offer a catalog (404, as
    /// on most public registries): the caller then needs an explicit repository list. With token
    /// auth this asks the token service for the `registry:catalog:*` scope.
    pub async fn catalog(&self, registry: &str) -> Result<Option<Vec<String>>, FetchError> {
        oci::catalog(self, registry).await
    }

    /// Lists the tags of `registry/repository` (for crawlers).
    pub async fn list_tags(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Vec<String>, FetchError> {
        oci::list_tags(self, registry, repository).await
    }

    /// Where and how to reach `host` (the API host of `registry`). A secure registry is
    /// HTTPS with verified certificates. An insecure one is tried the way docker tries its
    /// insecure registries: HTTPS without certificate checks first (a self-signed registry),
    /// and plain HTTP when no TLS server answers; a registry found to speak HTTPS is
    /// remembered.
    pub(crate) async fn endpoint(&self, host: &str, insecure: bool) -> Endpoint {
        if !insecure {
            return Endpoint {
                base: format!("https://{host}"),
                https: true,
                http: self.http.clone(),
                insecure: false,
            };
        }
        let seen = |s: &Self| {
            s.https_seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(host)
        };
        let mut https = seen(self);
        let plain = self.plain_seen.lock().unwrap_or_else(|e| e.into_inner()).contains(host);
        if !https && !plain {
            let probe = self
                .http_insecure
                .get(format!("https://{host}/v2/"))
                // A plain-HTTP server answers a TLS hello at once (Go's, distribution's,
                // with a 400) or not at all; either way a short wait is enough.
                .timeout(
                    self.config
                        .limits
                        .connect_timeout
                        .min(Duration::from_secs(3)),
                )
                .send()
                .await;
            if probe.is_ok() {
                https = true;
                self.https_seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(host.to_string());
            } else {
                self.plain_seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(host.to_string());
            }
        }
        Endpoint {
            base: format!("{}://{host}", if https { "https" } else { "http" }),
            https,
            http: self.http_insecure.clone(),
            insecure: true,
        }
    }

    pub(crate) fn oci_client(&self, registry: &str, endpoint: &Endpoint) -> oci_client::Client {
        let mut clients = self.oci_clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry((registry.to_string(), endpoint.https))
            .or_insert_with(|| {
                oci_client::Client::new(oci_client::client::ClientConfig {
                    protocol: if endpoint.https {
                        oci_client::client::ClientProtocol::Https
                    } else {
                        oci_client::client::ClientProtocol::Http
                    },
                    // Only ever set for registries configured `insecure`.
                    accept_invalid_certificates: endpoint.insecure,
                    read_timeout: Some(self.config.limits.request_timeout),
                    connect_timeout: Some(self.config.limits.connect_timeout),
                    platform_resolver: None,
                    ..Default::default()
                })
            })
            .clone()
    }
}

/// `localhost`, `127.0.0.0/8` or `[::1]`, with any port.
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        registry.split(':').next().unwrap_or_default()
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

// ---------------------------------------------------------------------------------------------
// Manifests and the choice of layers, shared by the registry and layout paths.

/// An OCI content descriptor, as far as forage reads it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
}

/// A manifest or an index: both parse into this, `manifests` tells them apart.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ManifestDoc {
    #[serde(default)]
    pub schema_version: Option<u32>,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl ManifestDoc {
    pub(crate) fn parse(source_name: &str, what: &str, bytes: &[u8]) -> Result<Self, FetchError> {
        let invalid = |detail: String| FetchError::InvalidManifest {
            source_name: source_name.to_string(),
            what: what.to_string(),
            detail,
        };
        let doc: ManifestDoc = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if doc.schema_version.is_some_and(|v| v != 2) {
            return Err(invalid(format!(
                "schemaVersion {} (only 2 is supported)",
                doc.schema_version.unwrap_or_default()
            )));
        }
        Ok(doc)
    }

    pub(crate) fn is_index(&self) -> bool {
        self.manifests.is_some()
            || matches!(
                self.media_type.as_deref(),
                Some(OCI_INDEX_MEDIA_TYPE | DOCKER_MANIFEST_LIST_MEDIA_TYPE)
            )
    }

    /// The manifest to follow in an index: the only one, else the one for wasm/wasi.
    pub(crate) fn choose_from_index(&self, source_name: &str) -> Result<Descriptor, FetchError> {
        let entries = self.manifests.as_deref().unwrap_or_default();
        let pick = if entries.len() == 1 {
            entries.first()
        } else {
            entries.iter().find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.architecture == "wasm" || p.os.starts_with("wasi"))
            })
        };
        pick.cloned().ok_or_else(|| FetchError::InvalidManifest {
            source_name: source_name.to_string(),
            what: "image index".into(),
            detail: format!(
                "{} manifests and none for platform wasm/wasi; reference one of them by digest",
                entries.len()
            ),
        })
    }
}

impl Descriptor {
    pub(crate) fn digest(&self, source_name: &str) -> Result<Digest, FetchError> {
        self.digest.parse().map_err(
            |e: forage_policy::DigestError| FetchError::InvalidManifest {
                source_name: source_name.to_string(),
                what: "descriptor".into(),
                detail: e.to_string(),
            },
        )
    }
}

/// Where blobs come from: a registry repository or a layout directory.
pub(crate) trait BlobSource {
    /// Names the source in errors (`registry 127.0.0.1:5000`, `layout /srv/x`).
    fn source_name(&self) -> String;
    /// Fetches a blob by digest, verified and capped at `limit` bytes.
    async fn blob(
        &self,
        what: &str,
        digest: &Digest,
        size: u64,
        limit: u64,
    ) -> Result<Bytes, FetchError>;
}

/// What a wasm binary is, from its header and, for component-model binaries, decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WasmKind {
    Component,
    WitPackage,
    CoreModule,
    NotWasm,
}

/// Classifies `bytes` off the async runtime (decoding a large component is real work).
pub(crate) async fn classify(bytes: Bytes) -> Result<WasmKind, String> {
    match sniff(&bytes) {
        WasmKind::Component => {}
        other => return Ok(other),
    }
    tokio::task::spawn_blocking(move || {
        // A top-level code section (a core module, a nested component, an instance or a
        // canonical function) means a component, which a WIT package never has: that is found
        // in the first few sections, without validating the whole binary (18 MB of Python
        // took ~12 ms per load to validate here, and the describe and the compile that follow
        // decode and validate it anyway, with errors that name it). Anything else is small and
        // decoded in full.
        if has_code_section(&bytes)? {
            return Ok(WasmKind::Component);
        }
        match wit_component::decode(&bytes) {
            Ok(wit_component::DecodedWasm::Component(..)) => Ok(WasmKind::Component),
            Ok(wit_component::DecodedWasm::WitPackage(..)) => Ok(WasmKind::WitPackage),
            Err(e) => Err(format!("is not a valid component: {e:#}")),
        }
    })
    .await
    .map_err(|e| format!("decoding panicked: {e}"))?
}

/// Whether the component's top level has a section that only components with code have.
fn has_code_section(bytes: &[u8]) -> Result<bool, String> {
    use wasmparser::Payload;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| format!("is not a valid component: {e}"))? {
            Payload::ModuleSection { .. }
            | Payload::ComponentSection { .. }
            | Payload::InstanceSection(_)
            | Payload::ComponentInstanceSection(_)
            | Payload::ComponentCanonicalSection(_) => return Ok(true),
            Payload::End(_) => break,
            _ => {}
        }
    }
    Ok(false)
}

/// Header-level check: `\0asm` then version 1 (core module) or the component-model layer.
/// Both components and WIT packages report `Component` here.
pub(crate) fn sniff(bytes: &[u8]) -> WasmKind {
    match bytes {
        [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ..] => WasmKind::CoreModule,
        [0x00, 0x61, 0x73, 0x6d, _, _, 0x01, 0x00, ..] => WasmKind::Component,
        _ => WasmKind::NotWasm,
    }
}

/// Hashes `bytes` off the async runtime when they are big enough for it to matter.
/// Parses a manifest or index document exactly as the fetcher does before it trusts one
/// (media types, descriptors, digests, sizes), without fetching anything: for tools and the
/// fuzz targets.
pub fn check_manifest(bytes: &[u8]) -> Result<(), FetchError> {
    ManifestDoc::parse("input", "manifest", bytes).map(|_| ())
}

/// Why a local file could not be read by [`read_regular_file`].
#[derive(Debug)]
pub enum LocalReadError {
    /// The OS refused.
    Io(std::io::Error),
    /// Not a regular file; what it is.
    NotRegular(&'static str),
    /// Larger than the limit; the size seen (on disk, or read so far).
    TooLarge(u64),
}

impl std::fmt::Display for LocalReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocalReadError::Io(e) => write!(f, "{e}"),
            LocalReadError::NotRegular(kind) => write!(f, "it is {kind}, not a regular file"),
            LocalReadError::TooLarge(size) => write!(f, "it is larger than the limit ({size} bytes)"),
        }
    }
}

impl LocalReadError {
    /// As a [`FetchError`] about `path`, read as `what` from `source_name`, under `limit`.
    pub fn into_fetch_error(self, path: &Path, source_name: String, what: &str, limit: u64) -> FetchError {
        match self {
            LocalReadError::Io(source) => FetchError::Io { path: path.display().to_string(), source },
            LocalReadError::NotRegular(kind) => FetchError::NotRegularFile { path: path.display().to_string(), kind },
            LocalReadError::TooLarge(size) => FetchError::TooLarge { source_name, what: what.to_string(), limit, size: Some(size) },
        }
    }
}

/// Reads a local file that must be a regular file of at most `limit` bytes, off the async
/// workers.
///
/// Every local read of an untrusted path goes through here. `/dev/zero` or `/dev/urandom`
/// never end, a FIFO blocks its reader until a writer comes, a sparse file can claim
/// terabytes: so the type is checked before opening (opening some devices has effects), the
/// file is opened non-blocking and checked again on the open handle (the path may have been
/// swapped in between), and the read itself is capped at `limit + 1` bytes (a file may grow
/// while it is read).
pub async fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, LocalReadError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || read_regular_blocking(&path, limit))
        .await
        .unwrap_or_else(|e| Err(LocalReadError::Io(std::io::Error::other(e.to_string()))))
}

fn read_regular_blocking(path: &Path, limit: u64) -> Result<Vec<u8>, LocalReadError> {
    use std::io::Read as _;
    fn kind(meta: &std::fs::Metadata) -> Option<&'static str> {
        let t = meta.file_type();
        if t.is_file() {
            return None;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt as _;
            if t.is_fifo() {
                return Some("a FIFO");
            }
            if t.is_char_device() {
                return Some("a character device");
            }
            if t.is_block_device() {
                return Some("a block device");
            }
            if t.is_socket() {
                return Some("a socket");
            }
        }
        Some(if t.is_dir() { "a directory" } else { "not a regular file" })
    }
    let meta = std::fs::metadata(path).map_err(LocalReadError::Io)?;
    if let Some(k) = kind(&meta) {
        return Err(LocalReadError::NotRegular(k));
    }
    if meta.len() > limit {
        return Err(LocalReadError::TooLarge(meta.len()));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path).map_err(LocalReadError::Io)?;
    let meta = file.metadata().map_err(LocalReadError::Io)?;
    if let Some(k) = kind(&meta) {
        return Err(LocalReadError::NotRegular(k));
    }
    let mut buf = Vec::with_capacity(meta.len().min(limit) as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut buf).map_err(LocalReadError::Io)?;
    if buf.len() as u64 > limit {
        return Err(LocalReadError::TooLarge(buf.len() as u64));
    }
    Ok(buf)
}

pub(crate) async fn digest_of(bytes: Bytes) -> Digest {
    if bytes.len() < 64 * 1024 {
        return Digest::of(&bytes);
    }
    tokio::task::spawn_blocking(move || Digest::of(&bytes))
        .await
        .expect("hashing does not panic")
}

fn is_wasm_layer(media_type: &str) -> bool {
    media_type == WASM_LAYER_MEDIA_TYPE || LEGACY_WASM_LAYER_MEDIA_TYPES.contains(&media_type)
}

/// Which layers to fetch: the wasm-typed ones, else a manifest's single layer of any type
/// that is not a tarball (a plain artifact whose layer is the component).
pub(crate) fn candidate_layers<'a>(
    reference: &str,
    doc: &'a ManifestDoc,
) -> Result<Vec<&'a Descriptor>, FetchError> {
    let wasm: Vec<&Descriptor> = doc
        .layers
        .iter()
        .filter(|l| is_wasm_layer(&l.media_type))
        .collect();
    if !wasm.is_empty() {
        return Ok(wasm);
    }
    if let [only] = doc.layers.as_slice()
        && !only.media_type.contains("tar")
    {
        return Ok(vec![only]);
    }
    Err(FetchError::NoWasmLayer {
        reference: reference.to_string(),
        media_types: if doc.layers.is_empty() {
            "none".into()
        } else {
            doc.layers
                .iter()
                .map(|l| l.media_type.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
    })
}

/// The parts of an artifact taken from an image manifest: the manifest itself is verified
/// by the caller.
pub(crate) struct Assembled {
    pub component: Bytes,
    pub component_digest: Digest,
    pub wit_package: Option<Bytes>,
    pub config: Option<Vec<u8>>,
    pub config_media_type: Option<String>,
}

/// Fetches the config and candidate layers of an image manifest and picks out the component
/// and the WIT package.
pub(crate) async fn assemble(
    source: &impl BlobSource,
    reference: &str,
    doc: &ManifestDoc,
    limits: &FetchLimits,
) -> Result<Assembled, FetchError> {
    let source_name = source.source_name();
    let (config, config_media_type) = match &doc.config {
        Some(desc) => {
            let digest = desc.digest(&source_name)?;
            // Configs are small JSON documents; the manifest cap is the right scale for them.
            let bytes = source
                .blob("config", &digest, desc.size, limits.max_manifest_bytes)
                .await?;
            (Some(bytes.to_vec()), Some(desc.media_type.clone()))
        }
        None => (None, None),
    };

    let mut component: Option<(Bytes, Digest)> = None;
    let mut wit_package = None;
    let mut rejected: Vec<(String, String)> = Vec::new();
    for layer in candidate_layers(reference, doc)? {
        let digest = layer.digest(&source_name)?;
        let what = format!("layer {digest}");
        let bytes = source
            .blob(&what, &digest, layer.size, limits.max_blob_bytes)
            .await?;
        match classify(bytes.clone()).await {
            Ok(WasmKind::Component) if component.is_none() => component = Some((bytes, digest)),
            Ok(WasmKind::Component) => {
                tracing::warn!(reference, layer = %digest, "more than one component layer; using the first")
            }
            Ok(WasmKind::WitPackage) if wit_package.is_none() => wit_package = Some(bytes),
            Ok(WasmKind::WitPackage) => {
                tracing::warn!(reference, layer = %digest, "more than one WIT package layer; using the first")
            }
            Ok(WasmKind::CoreModule) => {
                rejected.push((what, "is a core wasm module, not a component".into()))
            }
            Ok(WasmKind::NotWasm) => {
                rejected.push((what, "is not WebAssembly (no `\\0asm` header)".into()))
            }
            Err(why) => rejected.push((what, why)),
        }
    }
    let Some((component, component_digest)) = component else {
        let (what, why) = match rejected.into_iter().next() {
            Some(r) => r,
            None => (
                "the artifact".into(),
                "holds only a WIT package, not a component".into(),
            ),
        };
        return Err(FetchError::NotAComponent {
            reference: reference.to_string(),
            what,
            why,
        });
    };
    Ok(Assembled {
        component,
        component_digest,
        wit_package,
        config,
        config_media_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_headers() {
        assert_eq!(sniff(b"\0asm\x01\0\0\0rest"), WasmKind::CoreModule);
        assert_eq!(sniff(b"\0asm\x0d\0\x01\0"), WasmKind::Component);
        assert_eq!(sniff(b"{\"json\": 1}"), WasmKind::NotWasm);
        assert_eq!(sniff(b""), WasmKind::NotWasm);
    }

    /// The shortcut (a top-level code section) agrees with the full decode on every fixture
    /// component and WIT package, and damage after the header is still an error.
    #[tokio::test]
    async fn classify_tells_components_from_wit_packages() {
        for name in ["json.wasm", "types.wasm", "pytext.wasm", "gotext.wasm"] {
            let bytes = testutil::fixture(name);
            assert!(has_code_section(&bytes).unwrap(), "{name}");
            assert_eq!(classify(Bytes::from(bytes)).await, Ok(WasmKind::Component), "{name}");
        }
        for name in ["json.wit.wasm", "types.wit.wasm", "pytext.wit.wasm"] {
            let bytes = testutil::fixture(name);
            assert!(!has_code_section(&bytes).unwrap(), "{name}");
            assert_eq!(classify(Bytes::from(bytes)).await, Ok(WasmKind::WitPackage), "{name}");
        }
        let mut damaged = b"\0asm\x0d\0\x01\0".to_vec();
        damaged.extend_from_slice(&[0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
        let err = classify(Bytes::from(damaged)).await.unwrap_err();
        assert!(err.contains("is not a valid component"), "{err}");
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("127.1.2.3"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("ghcr.io"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }
}

/// Helpers shared by the fetch tests: a minimal image-layout writer and the fixture component.
#[cfg(test)]
pub(crate) mod testutil {
    use std::path::Path;

    use forage_policy::Digest;

    /// `fixtures/built/<name>` from the workspace.
    pub fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/built")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Writes `bytes` as a blob of the layout at `dir`; returns its descriptor fields.
    pub fn blob(dir: &Path, bytes: &[u8]) -> (String, usize) {
        let d = Digest::of(bytes);
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("blobs/sha256").join(d.hex()), bytes).unwrap();
        (d.to_string(), bytes.len())
    }

    /// A wasm-artifact manifest over `layers` (each `(media type, bytes)`), blobs written to `dir`.
    pub fn manifest(
        dir: &Path,
        layers: &[(&str, &[u8])],
        annotations: serde_json::Value,
    ) -> Vec<u8> {
        let (cd, cs) = blob(dir, br#"{"architecture":"wasm","os":"wasip2"}"#);
        let layers: Vec<_> = layers
            .iter()
            .map(|(mt, bytes)| {
                let (d, s) = blob(dir, bytes);
                serde_json::json!({"mediaType": mt, "digest": d, "size": s})
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": super::OCI_MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": super::WASM_CONFIG_MEDIA_TYPE, "digest": cd, "size": cs},
            "layers": layers,
            "annotations": annotations,
        }))
        .unwrap()
    }

    /// Writes a layout at `dir` whose `index.json` lists `entries` (manifest bytes, optional tag).
    pub fn layout(dir: &Path, entries: &[(&[u8], Option<&str>)]) -> Vec<String> {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let mut digests = Vec::new();
        let manifests: Vec<_> = entries
            .iter()
            .map(|(bytes, tag)| {
                let (d, s) = blob(dir, bytes);
                digests.push(d.clone());
                let mut e = serde_json::json!({"mediaType": super::OCI_MANIFEST_MEDIA_TYPE, "digest": d, "size": s});
                if let Some(t) = tag {
                    e["annotations"] = serde_json::json!({ super::REF_NAME_ANNOTATION: t });
                }
                e
            })
            .collect();
        std::fs::write(
            dir.join("index.json"),
            serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": manifests}))
                .unwrap(),
        )
        .unwrap();
        digests
    }
}
