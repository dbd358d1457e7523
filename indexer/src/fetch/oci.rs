//! Pulling a component from an OCI distribution registry.
//!
//! `oci-client` does the auth handshake (reading the `WWW-Authenticate` challenge, asking the
//! token service for a pull token, caching it); the manifest and blob requests themselves are
//! made here, so that size caps apply while bytes stream in and every byte is hashed by us, not
//! trusted from a `Docker-Content-Digest` header.

use std::time::Duration;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use forage_policy::Digest;
use oci_client::RegistryOperation;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use sha2::{Digest as _, Sha256};

use super::{
    BlobSource, Credentials, DOCKER_MANIFEST_LIST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE,
    FetchError, FetchedArtifact, FetchedWitPackage, Fetcher, ManifestDoc, OCI_INDEX_MEDIA_TYPE,
    OCI_MANIFEST_MEDIA_TYPE, assemble,
};
use crate::reference::{OciRef, Target};

/// Every manifest type forage reads, in order of preference.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// The manifest a reference names, through one level of image index (the platform
/// [`ManifestDoc::choose_from_index`] picks): the component's and a WIT package's fetch alike.
struct Resolved {
    manifest: Bytes,
    doc: ManifestDoc,
    /// The digest of the manifest itself (the child's, when the reference named an index).
    digest: Digest,
    media_type: Option<String>,
    /// The index's digest, when the reference named one.
    index_digest: Option<Digest>,
}

async fn resolve_manifest(session: &Session<'_>, reference: &OciRef) -> Result<Resolved, FetchError> {
    let shown = reference.to_string();
    let (manifest, digest, media_type) = session.manifest(reference.target(), &shown).await?;
    let doc = ManifestDoc::parse(&session.source_name(), "manifest", &manifest)?;
    if !doc.is_index() {
        return Ok(Resolved { manifest, doc, digest, media_type, index_digest: None });
    }
    let child = doc.choose_from_index(&session.source_name())?;
    let child_digest = child.digest(&session.source_name())?;
    let (child_bytes, _, child_type) = session.manifest(&Target::Digest(child_digest.clone()), &shown).await?;
    let child_doc = ManifestDoc::parse(&session.source_name(), "manifest", &child_bytes)?;
    if child_doc.is_index() {
        return Err(FetchError::InvalidManifest {
            source_name: session.source_name(),
            what: format!("image index for {shown}"),
            detail: "nested image indexes are not supported".into(),
        });
    }
    Ok(Resolved { manifest: child_bytes, doc: child_doc, digest: child_digest, media_type: child_type, index_digest: Some(digest) })
}

/// Fetches, verifies and classifies the component `reference` names.
pub(crate) async fn fetch(
    fetcher: &Fetcher,
    reference: &OciRef,
) -> Result<FetchedArtifact, FetchError> {
    let session = Session::open(fetcher, reference).await?;
    let Resolved { manifest, doc, digest, media_type, index_digest } = resolve_manifest(&session, reference).await?;
    let pinned = reference.pinned(digest.clone()).to_string();
    let parts = assemble(&session, &pinned, &doc, fetcher.limits()).await?;
    Ok(FetchedArtifact {
        digest,
        reference: pinned,
        tag: reference.tag().map(str::to_string),
        component: parts.component,
        component_digest: parts.component_digest,
        wit_package: parts.wit_package,
        annotations: doc.annotations.clone(),
        manifest: Some(manifest.to_vec()),
        manifest_media_type: media_type.or(doc.media_type.clone()),
        config_media_type: parts.config_media_type,
        config: parts.config,
        index_digest,
    })
}

/// Fetches the binary-encoded WIT package `reference` names: an artifact published on its own
/// (`wkg publish` of a WIT package), whose wasm layer is the package. Pinned, digest-checked and
/// capped like a component; what the bytes are is for the caller to decode and check.
pub(crate) async fn fetch_wit_package(
    fetcher: &Fetcher,
    reference: &OciRef,
) -> Result<FetchedWitPackage, FetchError> {
    let session = Session::open(fetcher, reference).await?;
    let Resolved { doc, digest, .. } = resolve_manifest(&session, reference).await?;
    let pinned = reference.pinned(digest.clone()).to_string();
    let layers = super::candidate_layers(&pinned, &doc)?;
    // wkg publishes a WIT package as exactly one layer; with more, the first wasm layer is
    // the one a WIT-only artifact means (the caller checks what it decodes to).
    if layers.len() > 1 {
        tracing::warn!(reference = %pinned, layers = layers.len(), "WIT package artifact has several wasm layers; using the first");
    }
    let layer = layers[0];
    let layer_digest = layer.digest(&session.source_name())?;
    let bytes = session
        .blob(
            &format!("WIT package layer {layer_digest} of {pinned}"),
            &layer_digest,
            layer.size,
            fetcher.limits().max_blob_bytes,
        )
        .await?;
    Ok(FetchedWitPackage {
        reference: pinned,
        digest,
        bytes,
    })
}

/// Resolves a reference to the digest of the manifest (or index) it names, verifying it.
pub(crate) async fn resolve(fetcher: &Fetcher, reference: &OciRef) -> Result<Digest, FetchError> {
    let session = Session::open(fetcher, reference).await?;
    let (_, digest, _) = session
        .manifest(reference.target(), &reference.to_string())
        .await?;
    Ok(digest)
}

/// Lists a repository's tags, following `Link` pagination.
pub(crate) async fn list_tags(
    fetcher: &Fetcher,
    registry: &str,
    repository: &str,
) -> Result<Vec<String>, FetchError> {
    let reference = OciRef::new(
        registry,
        repository,
        Target::Tag(crate::reference::DEFAULT_TAG.into()),
    )
    .map_err(|e| FetchError::Setup {
        what: format!("{registry}/{repository}"),
        detail: e.to_string(),
    })?;
    let session = Session::open(fetcher, &reference).await?;
    let what = format!("the tag list of {registry}/{repository}");
    let mut all = Vec::new();
    let mut last: Option<String> = None;
    // Registries that paginate (ghcr, Harbor) send a `Link: <…>; rel="next"` header; each
    // page is capped like a manifest.
    loop {
        let mut url = format!("{}/v2/{}/tags/list?n=1000", session.base, repository);
        if let Some(l) = &last {
            url.push_str("&last=");
            url.push_str(&percent_encode(l));
        }
        let resp = session.get(&url, None, &what).await?;
        let resp = session.check_status(resp, &what, "repository").await?;
        let has_next = resp
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|l| l.contains("rel=\"next\""));
        let (body, _) = read_capped(
            resp,
            fetcher.limits().max_manifest_bytes,
            &session.source_name(),
            &what,
            fetcher.limits().request_timeout,
        )
        .await?;
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let page: Tags =
            serde_json::from_slice(&body).map_err(|e| FetchError::InvalidManifest {
                source_name: session.source_name(),
                what: "tag list".into(),
                detail: e.to_string(),
            })?;
        let page = page.tags.unwrap_or_default();
        let n = page.len();
        last = page.last().cloned();
        all.extend(page);
        if !has_next || n == 0 {
            return Ok(all);
        }
    }
}

/// Lists a registry's repositories, following `Link` pagination. Does its own token
/// handshake: the one oci-client does is scoped to a repository, and the catalog needs
/// `registry:catalog:*`.
pub(crate) async fn catalog(
    fetcher: &Fetcher,
    registry: &str,
) -> Result<Option<Vec<String>>, FetchError> {
    const PAGE: usize = 1000;
    let settings = fetcher.settings_for(registry);
    let credentials = resolve_credentials(&settings.credentials, registry).await?;
    let endpoint = fetcher.endpoint(registry, settings.insecure).await;
    let base = endpoint.base.clone();
    let timeout = fetcher.limits().request_timeout;
    let what = format!("the catalog of {registry}");
    let basic = match &credentials {
        Credentials::Basic { username, password } => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
        )),
        _ => None,
    };
    let mut authorization = match &credentials {
        Credentials::Bearer(token) => Some(format!("Bearer {token}")),
        _ => basic.clone(),
    };
    let mut tried_token = false;
    let mut repositories = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let mut url = format!("{base}/v2/_catalog?n={PAGE}");
        if let Some(l) = &last {
            url.push_str("&last=");
            url.push_str(&percent_encode(l));
        }
        let mut req = endpoint.http.get(&url);
        if let Some(a) = &authorization {
            req = req.header(AUTHORIZATION, a);
        }
        let resp = send_timed(req, registry, &what, timeout).await?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED && !tried_token {
            let challenge = resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_bearer_challenge);
            if let Some((realm, service)) = challenge {
                tried_token = true;
                let token = catalog_token(
                    fetcher,
                    &endpoint.http,
                    registry,
                    &realm,
                    service.as_deref(),
                    basic.as_deref(),
                )
                .await?;
                authorization = Some(format!("Bearer {token}"));
                continue;
            }
        }
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body = resp.bytes().await.unwrap_or_default();
            let mut detail = registry_error_detail(&body);
            if let Some(secs) = retry_after {
                detail.push_str(&format!(" (Retry-After: {secs}s)"));
            }
            return Err(
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    FetchError::AuthFailed {
                        registry: registry.into(),
                        reference: what,
                        status: status.as_u16(),
                        detail,
                    }
                } else {
                    FetchError::Http {
                        registry: registry.into(),
                        what,
                        status: status.as_u16(),
                        detail,
                    }
                },
            );
        }
        let has_next = resp
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|l| l.contains("rel=\"next\""));
        let source_name = format!("registry {registry}");
        let (body, _) = read_capped(
            resp,
            fetcher.limits().max_manifest_bytes,
            &source_name,
            &what,
            timeout,
        )
        .await?;
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let page: Page =
            serde_json::from_slice(&body).map_err(|e| FetchError::InvalidManifest {
                source_name,
                what: "catalog".into(),
                detail: e.to_string(),
            })?;
        let n = page.repositories.len();
        last = page.repositories.last().cloned();
        repositories.extend(page.repositories);
        if !has_next || n == 0 {
            return Ok(Some(repositories));
        }
    }
}

/// Asks a token service for a `registry:catalog:*` token.
async fn catalog_token(
    fetcher: &Fetcher,
    http: &reqwest::Client,
    registry: &str,
    realm: &str,
    service: Option<&str>,
    basic: Option<&str>,
) -> Result<String, FetchError> {
    let timeout = fetcher.limits().request_timeout;
    let what = format!("a catalog token for {registry}");
    let mut url = format!("{realm}?scope={}", percent_encode("registry:catalog:*"));
    if let Some(s) = service {
        url.push_str("&service=");
        url.push_str(&percent_encode(s));
    }
    let mut req = http.get(&url);
    if let Some(b) = basic {
        req = req.header(AUTHORIZATION, b);
    }
    let resp = send_timed(req, registry, &what, timeout).await?;
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    if !status.is_success() {
        return Err(FetchError::AuthFailed {
            registry: registry.into(),
            reference: what,
            status: status.as_u16(),
            detail: format!(
                "the token service refused the credentials: {}",
                registry_error_detail(&body)
            ),
        });
    }
    #[derive(serde::Deserialize)]
    struct Token {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        access_token: Option<String>,
    }
    let t: Token = serde_json::from_slice(&body).map_err(|e| FetchError::Http {
        registry: registry.into(),
        what: what.clone(),
        status: status.as_u16(),
        detail: format!("token response is not JSON: {e}"),
    })?;
    t.token.or(t.access_token).ok_or_else(|| FetchError::Http {
        registry: registry.into(),
        what,
        status: status.as_u16(),
        detail: "token response has no token".into(),
    })
}

/// `Bearer realm="…",service="…",…` → `(realm, service)`.
fn parse_bearer_challenge(header: &str) -> Option<(String, Option<String>)> {
    let rest = header
        .trim()
        .strip_prefix("Bearer ")
        .or_else(|| header.trim().strip_prefix("bearer "))?;
    let mut params = std::collections::HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            break;
        }
        let value: String = if chars.peek() == Some(&'"') {
            chars.next();
            let v = std::iter::from_fn(|| chars.next_if(|c| *c != '"')).collect();
            chars.next();
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect()
        };
        params.insert(key.trim().to_ascii_lowercase(), value);
    }
    let realm = params.remove("realm")?;
    Some((realm, params.remove("service")))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An authenticated conversation with one repository of one registry.
struct Session<'a> {
    fetcher: &'a Fetcher,
    registry: String,
    repository: String,
    /// `http(s)://host[:port]`.
    base: String,
    /// The client for this registry (certificate checks per its settings).
    http: reqwest::Client,
    authorization: Option<HeaderValue>,
    timeout: Duration,
}

impl<'a> Session<'a> {
    async fn open(fetcher: &'a Fetcher, reference: &OciRef) -> Result<Self, FetchError> {
        let registry = reference.registry().to_string();
        let settings = fetcher.settings_for(&registry);
        let credentials = resolve_credentials(&settings.credentials, &registry).await?;
        let oci_ref = match reference.target() {
            Target::Tag(t) => oci_client::Reference::with_tag(
                registry.clone(),
                reference.repository().into(),
                t.clone(),
            ),
            Target::Digest(d) => oci_client::Reference::with_digest(
                registry.clone(),
                reference.repository().into(),
                d.to_string(),
            ),
        };
        // oci-client maps `docker.io` to the host that actually serves the API.
        let host = oci_ref.resolve_registry().to_string();
        let endpoint = fetcher.endpoint(&host, settings.insecure).await;
        let auth = match &credentials {
            Credentials::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Credentials::Bearer(token) => RegistryAuth::Bearer(token.clone()),
            Credentials::Anonymous | Credentials::DockerConfig(_) => RegistryAuth::Anonymous,
        };
        let client = fetcher.oci_client(&registry, &endpoint);
        let timeout = fetcher.limits().request_timeout;
        let shown = reference.to_string();
        let token = tokio::time::timeout(
            timeout,
            client.auth(&oci_ref, &auth, RegistryOperation::Pull),
        )
        .await
        .map_err(|_| FetchError::Timeout {
            registry: registry.clone(),
            what: format!("authentication for {shown}"),
            after: timeout,
        })?
        .map_err(|e| map_oci_error(e, &registry, &shown))?;
        let authorization = match (token, &credentials) {
            (Some(token), _) => Some(format!("Bearer {token}")),
            // No bearer challenge: basic credentials go on every request.
            (None, Credentials::Basic { username, password }) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            (None, _) => None,
        };
        let authorization = authorization
            .map(|v| {
                let mut v = HeaderValue::from_str(&v).map_err(|e| FetchError::Setup {
                    what: format!("credentials for registry {registry}"),
                    detail: e.to_string(),
                })?;
                v.set_sensitive(true);
                Ok::<_, FetchError>(v)
            })
            .transpose()?;
        Ok(Self {
            fetcher,
            registry,
            repository: reference.repository().to_string(),
            base: endpoint.base,
            http: endpoint.http,
            authorization,
            timeout,
        })
    }

    fn source_name(&self) -> String {
        format!("registry {}", self.registry)
    }

    /// Reads a small body (manifest, index, referrers page) whole, capped at `limit` bytes and
    /// bounded by the session timeout; returns it with its digest.
    async fn read_small(&self, resp: reqwest::Response, limit: u64, what: &str) -> Result<(Bytes, Digest), FetchError> {
        tokio::time::timeout(self.timeout, read_capped(resp, limit, &self.source_name(), what, self.timeout))
            .await
            .map_err(|_| FetchError::Timeout {
                registry: self.registry.clone(),
                what: what.to_string(),
                after: self.timeout,
            })?
    }

    async fn get(
        &self,
        url: &str,
        accept: Option<&str>,
        what: &str,
    ) -> Result<reqwest::Response, FetchError> {
        let mut req = self.http.get(url);
        if let Some(accept) = accept {
            req = req.header(ACCEPT, accept);
        }
        if let Some(auth) = &self.authorization {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        // The whole-response timeout is applied by the callers that read small bodies; a blob
        // stream is bounded by the client's read (idle) timeout instead.
        send_timed(req, &self.registry, what, self.timeout).await
    }

    /// Turns a non-success status into the error that says what happened.
    async fn check_status(
        &self,
        resp: reqwest::Response,
        what: &str,
        target: &str,
    ) -> Result<reqwest::Response, FetchError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        // Kept in the error text, in a form `FetchError::retry_after` reads back, so a
        // crawler can honour it.
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = resp.bytes().await.unwrap_or_default();
        let mut detail = registry_error_detail(&body);
        if let Some(secs) = retry_after {
            detail.push_str(&format!(" (Retry-After: {secs}s)"));
        }
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => FetchError::AuthFailed {
                registry: self.registry.clone(),
                reference: what.to_string(),
                status: status.as_u16(),
                detail: if detail.is_empty() {
                    "the registry refused the credentials configured for it (or none were configured)".into()
                } else {
                    detail
                },
            },
            StatusCode::NOT_FOUND => FetchError::NotFound {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                target: target.to_string(),
                what: what.to_string(),
            },
            _ => FetchError::Http {
                registry: self.registry.clone(),
                what: what.to_string(),
                status: status.as_u16(),
                detail,
            },
        })
    }

    /// GETs a manifest by tag or digest; returns its bytes, their digest and the media type
    /// the registry gave. The digest is computed here, and must equal a requested digest.
    async fn manifest(
        &self,
        target: &Target,
        shown: &str,
    ) -> Result<(Bytes, Digest, Option<String>), FetchError> {
        self.manifest_capped(target, shown, self.fetcher.limits().max_manifest_bytes)
            .await
    }

    /// [`Session::manifest`] with its own cap (at most the configured manifest cap).
    async fn manifest_capped(
        &self,
        target: &Target,
        shown: &str,
        limit: u64,
    ) -> Result<(Bytes, Digest, Option<String>), FetchError> {
        let (path, target_text) = match target {
            Target::Tag(t) => (t.clone(), format!("tag `{t}`")),
            Target::Digest(d) => (d.to_string(), format!("manifest {d}")),
        };
        let what = match target {
            Target::Tag(_) => format!("manifest of {shown}"),
            Target::Digest(d) => format!("manifest {d} of {shown}"),
        };
        let url = format!("{}/v2/{}/manifests/{}", self.base, self.repository, path);
        let resp = self.get(&url, Some(MANIFEST_ACCEPT), &what).await?;
        let resp = self.check_status(resp, shown, &target_text).await?;
        let media_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string())
            .filter(|s| {
                [
                    OCI_MANIFEST_MEDIA_TYPE,
                    OCI_INDEX_MEDIA_TYPE,
                    DOCKER_MANIFEST_MEDIA_TYPE,
                    DOCKER_MANIFEST_LIST_MEDIA_TYPE,
                ]
                .contains(&s.as_str())
            });
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let limit = limit.min(self.fetcher.limits().max_manifest_bytes);
        let (bytes, digest) = self.read_small(resp, limit, &what).await?;
        if let Target::Digest(expected) = target
            && *expected != digest
        {
            return Err(FetchError::DigestMismatch {
                source_name: self.source_name(),
                what,
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
        // A registry that announces one digest and serves other bytes is broken or lying.
        if let Some(header) = header_digest
            && header.starts_with("sha256:")
            && header != digest.to_string()
        {
            return Err(FetchError::DigestMismatch {
                source_name: self.source_name(),
                what: format!("{what} (Docker-Content-Digest header)"),
                expected: header,
                actual: digest.to_string(),
            });
        }
        Ok((bytes, digest, media_type))
    }
}

/// An authenticated, read-only view of one repository: manifests and blobs by digest or tag,
/// each verified against its digest and capped, and the OCI referrers API. Signature
/// discovery uses it ([`crate::signatures`]); open one with [`Fetcher::repository`].
pub struct Repository<'a> {
    session: Session<'a>,
}

impl<'a> Repository<'a> {
    pub(crate) async fn open(fetcher: &'a Fetcher, reference: &OciRef) -> Result<Self, FetchError> {
        Ok(Self {
            session: Session::open(fetcher, reference).await?,
        })
    }

    /// The registry host.
    pub fn registry(&self) -> &str {
        &self.session.registry
    }

    /// The repository path.
    pub fn repository(&self) -> &str {
        &self.session.repository
    }

    /// GETs the manifest (or index) at `target`, capped at `limit` bytes (never more than
    /// [`super::FetchLimits::max_manifest_bytes`]). Returns its bytes, their digest (computed
    /// here; it must equal a requested digest) and the media type the registry announced.
    /// A missing tag or manifest is [`FetchError::NotFound`].
    pub async fn manifest(
        &self,
        target: &Target,
        limit: u64,
    ) -> Result<(Bytes, Digest, Option<String>), FetchError> {
        let shown = match target {
            Target::Tag(t) => format!("{}/{}:{t}", self.session.registry, self.session.repository),
            Target::Digest(d) => {
                format!("{}/{}@{d}", self.session.registry, self.session.repository)
            }
        };
        self.session.manifest_capped(target, &shown, limit).await
    }

    /// GETs the blob `digest` (announced as `size` bytes), refusing it past `limit` bytes and
    /// unless it hashes to `digest`. `what` names it in errors.
    pub async fn blob(
        &self,
        what: &str,
        digest: &Digest,
        size: u64,
        limit: u64,
    ) -> Result<Bytes, FetchError> {
        BlobSource::blob(&self.session, what, digest, size, limit).await
    }

    /// Calls the OCI referrers API, `GET /v2/<name>/referrers/<digest>[?artifactType=…]`,
    /// following `Link: rel="next"` for at most `max_pages` pages, each capped at `limit`
    /// bytes. Returns the pages (image indexes, as the registry generated them: there is no
    /// digest to check them against). `Ok(None)` when the registry has no referrers API
    /// (404, 405 or 501, as distribution 2.x answers): the caller then falls back to the
    /// `sha256-<hex>` tag schema.
    pub async fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
        limit: u64,
        max_pages: usize,
    ) -> Result<Option<Vec<Bytes>>, FetchError> {
        let s = &self.session;
        let what = format!("the referrers of {}/{}@{subject}", s.registry, s.repository);
        let mut url = format!("{}/v2/{}/referrers/{subject}", s.base, s.repository);
        if let Some(t) = artifact_type {
            url.push_str("?artifactType=");
            url.push_str(&percent_encode(t));
        }
        let mut pages = Vec::new();
        let mut visited = std::collections::HashSet::new();
        while pages.len() < max_pages && visited.insert(url.clone()) {
            let resp = s.get(&url, Some(OCI_INDEX_MEDIA_TYPE), &what).await?;
            let status = resp.status();
            if pages.is_empty()
                && matches!(
                    status,
                    StatusCode::NOT_FOUND
                        | StatusCode::METHOD_NOT_ALLOWED
                        | StatusCode::NOT_IMPLEMENTED
                )
            {
                return Ok(None);
            }
            let resp = s
                .check_status(resp, &what, &format!("referrers of {subject}"))
                .await?;
            let next = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let (body, _) = s.read_small(resp, limit, &what).await?;
            pages.push(body);
            match next {
                Some(n) if n.starts_with('/') => url = format!("{}{n}", s.base),
                // Only links into the same registry are followed.
                Some(n) if n.starts_with(&format!("{}/", s.base)) => url = n,
                _ => break,
            }
        }
        Ok(Some(pages))
    }
}

/// The target of a `Link: <…>; rel="next"` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

impl BlobSource for Session<'_> {
    fn source_name(&self) -> String {
        Session::source_name(self)
    }

    async fn blob(
        &self,
        what: &str,
        digest: &Digest,
        size: u64,
        limit: u64,
    ) -> Result<Bytes, FetchError> {
        let what = format!("{what} of {}/{}", self.registry, self.repository);
        if size > limit {
            return Err(FetchError::TooLarge {
                source_name: self.source_name(),
                what,
                limit,
                size: Some(size),
            });
        }
        let url = format!("{}/v2/{}/blobs/{}", self.base, self.repository, digest);
        let resp = self.get(&url, None, &what).await?;
        let resp = self
            .check_status(resp, &what, &format!("blob {digest}"))
            .await?;
        // A registry that trickles a blob out (a slow-loris) would otherwise hold the crawl as
        // long as it likes: each read is bounded by the idle timeout, the whole transfer by the
        // request timeout plus the time the blob takes at a floor rate.
        let budget = self.timeout + Duration::from_secs_f64(size as f64 / MIN_BLOB_BYTES_PER_SEC);
        let (bytes, actual) =
            tokio::time::timeout(budget, read_capped(resp, limit, &self.source_name(), &what, self.timeout))
                .await
                .map_err(|_| FetchError::Timeout {
                    registry: self.registry.to_string(),
                    what: what.clone(),
                    after: budget,
                })??;
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

/// The slowest a blob may arrive before its download is abandoned (64 KiB/s).
const MIN_BLOB_BYTES_PER_SEC: f64 = 64.0 * 1024.0;

/// Reads a response body, refusing it as soon as it passes `limit` bytes, hashing as it goes.
/// Chunks are small (a few KiB), so hashing each one inline costs microseconds of runtime time
/// and saves a second pass over the blob.
async fn read_capped(
    mut resp: reqwest::Response,
    limit: u64,
    source_name: &str,
    what: &str,
    timeout: Duration,
) -> Result<(Bytes, Digest), FetchError> {
    let too_large = |size| FetchError::TooLarge {
        source_name: source_name.to_string(),
        what: what.to_string(),
        limit,
        size,
    };
    let announced = resp.content_length();
    if let Some(len) = announced
        && len > limit
    {
        return Err(too_large(Some(len)));
    }
    let registry = source_name
        .strip_prefix("registry ")
        .unwrap_or(source_name)
        .to_string();
    let mut buf = BytesMut::with_capacity(announced.unwrap_or(0).min(limit) as usize);
    let mut hasher = Sha256::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| map_reqwest_error(e, &registry, what, timeout))?
    {
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(too_large(announced));
        }
        hasher.update(&chunk);
        buf.extend_from_slice(&chunk);
    }
    let digest: Digest = format!("sha256:{}", hex::encode(hasher.finalize()))
        .parse()
        .expect("sha256 hex is a digest");
    Ok((buf.freeze(), digest))
}

/// Pulls the human part out of a distribution error body (`{"errors":[{code,message}]}`).
fn registry_error_detail(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(env) = serde_json::from_slice::<Envelope>(body) {
        return env
            .errors
            .iter()
            .map(|e| {
                if e.message.is_empty() {
                    e.code.clone()
                } else {
                    format!("{}: {}", e.code, e.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    text.chars().take(300).collect()
}

/// The error chain of `e`, one cause after another: reqwest hides the interesting part
/// ("Connection refused") in its sources.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Sends `req`, giving up after `timeout`; every failure names `registry` and `what`.
async fn send_timed(
    req: reqwest::RequestBuilder,
    registry: &str,
    what: &str,
    timeout: Duration,
) -> Result<reqwest::Response, FetchError> {
    tokio::time::timeout(timeout, req.send())
        .await
        .map_err(|_| FetchError::Timeout {
            registry: registry.to_string(),
            what: what.to_string(),
            after: timeout,
        })?
        .map_err(|e| map_reqwest_error(e, registry, what, timeout))
}

fn map_reqwest_error(
    e: reqwest::Error,
    registry: &str,
    what: &str,
    timeout: Duration,
) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout {
            registry: registry.to_string(),
            what: what.to_string(),
            after: timeout,
        }
    } else if e.is_connect() || connection_dropped(&e) {
        FetchError::Unreachable {
            registry: registry.to_string(),
            detail: chain(&e),
        }
    } else {
        FetchError::Http {
            registry: registry.to_string(),
            what: what.to_string(),
            status: 0,
            detail: chain(&e),
        }
    }
}

/// A pooled keep-alive connection the registry closed (it stopped or restarted): as far as
/// the user is concerned the registry went away, like a refused connection.
fn connection_dropped(e: &reqwest::Error) -> bool {
    if !e.is_request() || e.status().is_some() {
        return false;
    }
    let text = chain(e).to_ascii_lowercase();
    ["connection closed", "connection reset", "broken pipe"]
        .iter()
        .any(|m| text.contains(m))
}

fn map_oci_error(e: OciDistributionError, registry: &str, shown: &str) -> FetchError {
    match e {
        OciDistributionError::RequestError(e) => map_reqwest_error(
            e,
            registry,
            &format!("authentication for {shown}"),
            Duration::ZERO,
        ),
        OciDistributionError::AuthenticationFailure(detail) => FetchError::AuthFailed {
            registry: registry.to_string(),
            reference: shown.to_string(),
            status: 401,
            detail: format!(
                "the token service refused the credentials: {}",
                registry_error_detail(detail.as_bytes())
            ),
        },
        OciDistributionError::UnauthorizedError { .. } => FetchError::AuthFailed {
            registry: registry.to_string(),
            reference: shown.to_string(),
            status: 401,
            detail: "unauthorized".into(),
        },
        other => FetchError::Http {
            registry: registry.to_string(),
            what: format!("authentication for {shown}"),
            status: 0,
            detail: chain(&other),
        },
    }
}

/// Turns [`Credentials::DockerConfig`] into basic credentials (or anonymous).
async fn resolve_credentials(
    credentials: &Credentials,
    registry: &str,
) -> Result<Credentials, FetchError> {
    let Credentials::DockerConfig(path) = credentials else {
        return Ok(credentials.clone());
    };
    let path = match path {
        Some(p) => p.clone(),
        None => match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => std::path::PathBuf::from(dir).join("config.json"),
            None => match std::env::var_os("HOME") {
                Some(home) => std::path::PathBuf::from(home).join(".docker/config.json"),
                None => return Ok(Credentials::Anonymous),
            },
        },
    };
    let text = match tokio::fs::read(&path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credentials::Anonymous),
        Err(source) => {
            return Err(FetchError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    docker_config_lookup(&text, registry).map_err(|detail| FetchError::Setup {
        what: format!("docker config {} for registry {registry}", path.display()),
        detail,
    })
}

/// Finds `registry` in a docker `config.json` (`auths` keyed by host, or by URL for Hub).
pub(crate) fn docker_config_lookup(json: &[u8], registry: &str) -> Result<Credentials, String> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        auths: std::collections::HashMap<String, Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        auth: Option<String>,
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        password: Option<String>,
        #[serde(default)]
        identitytoken: Option<String>,
    }
    let config: Config = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let wanted = if registry == "docker.io" {
        "index.docker.io"
    } else {
        registry
    };
    let host_of = |key: &str| {
        let k = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        k.split('/').next().unwrap_or(k).to_string()
    };
    let Some(entry) = config
        .auths
        .iter()
        .find(|(k, _)| host_of(k) == wanted)
        .map(|(_, v)| v)
    else {
        return Ok(Credentials::Anonymous);
    };
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Credentials::Basic {
            username: u.clone(),
            password: p.clone(),
        });
    }
    if let Some(auth) = &entry.auth {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| format!("`auth` is not base64: {e}"))?;
        let decoded = String::from_utf8(decoded).map_err(|_| "`auth` is not UTF-8".to_string())?;
        let (u, p) = decoded
            .split_once(':')
            .ok_or("`auth` is not `user:password`")?;
        return Ok(Credentials::Basic {
            username: u.into(),
            password: p.into(),
        });
    }
    if let Some(token) = &entry.identitytoken {
        // An identity token is a refresh token for the token service; docker sends it as the
        // password of the `<token>` user.
        return Ok(Credentials::Basic {
            username: "<token>".into(),
            password: token.clone(),
        });
    }
    Ok(Credentials::Anonymous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_entries() {
        let json = br#"{"auths": {
            "127.0.0.1:5000": {"auth": "dXNlcjpwYXNz"},
            "https://index.docker.io/v1/": {"username": "hub", "password": "pw"},
            "ghcr.io": {}
        }}"#;
        assert_eq!(
            docker_config_lookup(json, "127.0.0.1:5000").unwrap(),
            Credentials::Basic {
                username: "user".into(),
                password: "pass".into()
            }
        );
        assert_eq!(
            docker_config_lookup(json, "docker.io").unwrap(),
            Credentials::Basic {
                username: "hub".into(),
                password: "pw".into()
            }
        );
        assert_eq!(
            docker_config_lookup(json, "ghcr.io").unwrap(),
            Credentials::Anonymous
        );
        assert_eq!(
            docker_config_lookup(json, "quay.io").unwrap(),
            Credentials::Anonymous
        );
        assert!(docker_config_lookup(b"not json", "quay.io").is_err());
    }

    #[test]
    fn bearer_challenges() {
        assert_eq!(
            parse_bearer_challenge(
                r#"Bearer realm="http://a/token",service="reg",scope="registry:catalog:*""#
            ),
            Some(("http://a/token".into(), Some("reg".into())))
        );
        assert_eq!(
            parse_bearer_challenge(r#"Bearer realm=http://a/token"#),
            Some(("http://a/token".into(), None))
        );
        assert_eq!(parse_bearer_challenge(r#"Basic realm="x""#), None);
        assert_eq!(
            percent_encode("registry:catalog:*"),
            "registry%3Acatalog%3A%2A"
        );
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            registry_error_detail(
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
            ),
            "MANIFEST_UNKNOWN: manifest unknown"
        );
        assert_eq!(registry_error_detail(b"plain text\n"), "plain text");
    }
}

/// Misbehaving registries the real one will not imitate: no `Content-Length`, lying
/// descriptors and headers, silence.
#[cfg(test)]
mod fake_registry_tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::super::testutil::fixture;
    use super::super::{
        FetchLimits, Fetcher, FetcherConfig, OCI_MANIFEST_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE,
    };
    use super::*;

    enum Reply {
        Full {
            status: u16,
            headers: Vec<(String, String)>,
            body: Vec<u8>,
        },
        /// Chunked transfer (no Content-Length) of `total` bytes of `b'a'`.
        Chunked { total: usize },
        /// Accept the request and never answer.
        Hang,
    }

    /// Serves `route(path)` for each request on a loopback port.
    async fn serve(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let route = Arc::new(route);
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let route = route.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        // A TLS hello (the HTTPS probe): hang up, as a plain-HTTP server does.
                        if buf.first() == Some(&0x16) {
                            return;
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                    match route(&path) {
                        Reply::Full {
                            status,
                            headers,
                            body,
                        } => {
                            let mut out = format!(
                                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                                body.len()
                            );
                            for (k, v) in headers {
                                out.push_str(&format!("{k}: {v}\r\n"));
                            }
                            out.push_str("\r\n");
                            let _ = s.write_all(out.as_bytes()).await;
                            let _ = s.write_all(&body).await;
                        }
                        Reply::Chunked { total } => {
                            let _ = s
                                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                                .await;
                            let piece = vec![b'a'; 16 * 1024];
                            let mut sent = 0;
                            while sent < total {
                                let n = piece.len().min(total - sent);
                                let frame = [format!("{n:x}\r\n").as_bytes(), &piece[..n], b"\r\n"]
                                    .concat();
                                if s.write_all(&frame).await.is_err() {
                                    return; // the client gave up, as it should
                                }
                                sent += n;
                            }
                            let _ = s.write_all(b"0\r\n\r\n").await;
                        }
                        Reply::Hang => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                    }
                    let _ = s.shutdown().await;
                });
            }
        });
        addr.to_string()
    }

    fn json(status: u16, body: &[u8], extra: &[(&str, &str)]) -> Reply {
        let mut headers = vec![(
            "Content-Type".to_string(),
            OCI_MANIFEST_MEDIA_TYPE.to_string(),
        )];
        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Reply::Full {
            status,
            headers,
            body: body.to_vec(),
        }
    }

    fn manifest_over(layer_digest: &str, layer_size: u64) -> Vec<u8> {
        let config = br#"{}"#;
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": Digest::of(config).to_string(), "size": 2},
            "layers": [{"mediaType": WASM_LAYER_MEDIA_TYPE, "digest": layer_digest, "size": layer_size}],
        }))
        .unwrap()
    }

    fn fetcher(limits: FetchLimits) -> Fetcher {
        Fetcher::new(FetcherConfig {
            limits,
            ..Default::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn caps_a_blob_while_it_streams() {
        // The descriptor claims 100 bytes; the registry streams 64 MiB without a length.
        let m = manifest_over(&Digest::of(b"x").to_string(), 100);
        let host = serve(move |path| match path {
            "/v2/" => json(200, b"{}", &[]),
            p if p.contains("/manifests/") => json(200, &m, &[]),
            p if p.ends_with(&Digest::of(b"{}").to_string()) => json(200, b"{}", &[]),
            _ => Reply::Chunked { total: 64 << 20 },
        })
        .await;
        let r: OciRef = format!("{host}/acme/big:1").parse().unwrap();
        let started = std::time::Instant::now();
        let err = fetcher(FetchLimits {
            max_blob_bytes: 1 << 20,
            ..Default::default()
        })
        .fetch_oci(&r)
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::TooLarge {
                    limit: 1048576,
                    size: None,
                    ..
                }
            ),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[tokio::test]
    async fn distrusts_digest_headers_and_checks_pinned_manifests() {
        let component = fixture("types.wasm");
        let m = manifest_over(&Digest::of(&component).to_string(), component.len() as u64);
        let m_digest = Digest::of(&m);
        let liar = Digest::of(b"something else").to_string();
        let m2 = m.clone();
        let host = serve(move |path| match path {
            "/v2/" => json(200, b"{}", &[]),
            "/v2/acme/x/manifests/lying-header" => {
                json(200, &m2, &[("Docker-Content-Digest", &liar)])
            }
            p if p.contains("/manifests/") => json(200, &m2, &[]),
            _ => Reply::Full {
                status: 404,
                headers: vec![],
                body: br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#.to_vec(),
            },
        })
        .await;
        let f = fetcher(FetchLimits::default());

        let r: OciRef = format!("{host}/acme/x:lying-header").parse().unwrap();
        let err = f.resolve(&r).await.unwrap_err();
        assert!(
            matches!(err, FetchError::DigestMismatch { .. })
                && err.to_string().contains("Docker-Content-Digest"),
            "{err}"
        );

        // A digest reference whose manifest hashes to something else.
        let other = Digest::of(b"other");
        let r: OciRef = format!("{host}/acme/x@{other}").parse().unwrap();
        let err = f.resolve(&r).await.unwrap_err();
        assert!(matches!(err, FetchError::DigestMismatch { .. }), "{err}");
        assert!(err.to_string().contains(&m_digest.to_string()), "{err}");

        // Honest manifest, missing blobs.
        let r: OciRef = format!("{host}/acme/x:1").parse().unwrap();
        assert_eq!(f.resolve(&r).await.unwrap(), m_digest);
        let err = f.fetch_oci(&r).await.unwrap_err();
        assert!(
            matches!(err, FetchError::NotFound { .. }) && err.to_string().contains("blob sha256:"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn times_out_and_reports_forbidden() {
        let host = serve(|path| match path {
            "/v2/" => json(200, b"{}", &[]),
            "/v2/acme/slow/manifests/1" => Reply::Hang,
            _ => json(403, br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#, &[]),
        })
        .await;
        let f = fetcher(FetchLimits {
            request_timeout: Duration::from_millis(300),
            ..Default::default()
        });
        let r: OciRef = format!("{host}/acme/slow:1").parse().unwrap();
        let err = f.fetch_oci(&r).await.unwrap_err();
        assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains(&host), "{err}");

        let r: OciRef = format!("{host}/acme/private:1").parse().unwrap();
        let err = f.fetch_oci(&r).await.unwrap_err();
        assert!(
            matches!(err, FetchError::AuthFailed { status: 403, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("DENIED"), "{err}");
    }
}

/// Pushes `blobs` (each skipped when the registry already has it) and then `manifest` to
/// `reference`, with the same credentials, TLS settings and timeouts as every pull. Returns
/// the manifest's digest.
pub(crate) async fn push(
    fetcher: &Fetcher,
    reference: &OciRef,
    blobs: &[Bytes],
    manifest: Bytes,
    media_type: &str,
) -> Result<Digest, FetchError> {
    let registry = reference.registry().to_string();
    let settings = fetcher.settings_for(&registry);
    let credentials = resolve_credentials(&settings.credentials, &registry).await?;
    let oci_ref = match reference.target() {
        Target::Tag(t) => oci_client::Reference::with_tag(registry.clone(), reference.repository().into(), t.clone()),
        Target::Digest(d) => oci_client::Reference::with_digest(registry.clone(), reference.repository().into(), d.to_string()),
    };
    let host = oci_ref.resolve_registry().to_string();
    let endpoint = fetcher.endpoint(&host, settings.insecure).await;
    let auth = match &credentials {
        Credentials::Basic { username, password } => RegistryAuth::Basic(username.clone(), password.clone()),
        Credentials::Bearer(token) => RegistryAuth::Bearer(token.clone()),
        Credentials::Anonymous | Credentials::DockerConfig(_) => RegistryAuth::Anonymous,
    };
    let client = fetcher.oci_client(&registry, &endpoint);
    let shown = reference.to_string();
    let timeout = fetcher.limits().request_timeout;
    // The same budget as a download: the request timeout plus the time the bytes take at a
    // slow-but-alive 64 KiB/s.
    let budget = |size: usize| timeout + Duration::from_secs(size as u64 / (64 << 10));
    let timed_out = |what: String, after: Duration| FetchError::Timeout { registry: registry.clone(), what, after };
    tokio::time::timeout(timeout, client.auth(&oci_ref, &auth, RegistryOperation::Push))
        .await
        .map_err(|_| timed_out(format!("authentication to push {shown}"), timeout))?
        .map_err(|e| map_oci_error(e, &registry, &shown))?;
    let push_err = |what: String, e: OciDistributionError| FetchError::Http {
        registry: registry.clone(),
        what,
        status: 0,
        detail: chain(&e),
    };
    for blob in blobs {
        let digest = Digest::of(blob).to_string();
        let what = format!("pushing blob {digest} to {shown}");
        let exists = tokio::time::timeout(timeout, client.blob_exists(&oci_ref, &digest))
            .await
            .map_err(|_| timed_out(what.clone(), timeout))?
            .unwrap_or(false);
        if exists {
            continue;
        }
        tokio::time::timeout(budget(blob.len()), client.push_blob(&oci_ref, blob.clone(), &digest))
            .await
            .map_err(|_| timed_out(what.clone(), budget(blob.len())))?
            .map_err(|e| push_err(what.clone(), e))?;
    }
    let digest = Digest::of(&manifest);
    let content_type = HeaderValue::from_str(media_type).map_err(|e| FetchError::Setup {
        what: format!("manifest media type `{media_type}`"),
        detail: e.to_string(),
    })?;
    let what = format!("pushing the manifest of {shown}");
    tokio::time::timeout(timeout, client.push_manifest_raw(&oci_ref, manifest, content_type))
        .await
        .map_err(|_| timed_out(what.clone(), timeout))?
        .map_err(|e| push_err(what, e))?;
    Ok(digest)
}
