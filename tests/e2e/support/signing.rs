//! Signing pushed components at test time, and pushing signatures to a test [`Registry`].
//!
//! cosign, keyed: [`CosignKey::generate`] makes a P-256 key, [`simple_signing_payload`] the
//! payload `cosign sign` signs (`critical.identity.docker-reference`,
//! `critical.image.docker-manifest-digest`), and [`push_cosign_signature`] pushes the
//! signature manifest as cosign does: tag `sha256-<hex>.sig`, config
//! `application/vnd.oci.image.config.v1+json`, one layer per signature
//! (`application/vnd.dev.cosign.simplesigning.v1+json`, the base64 DER signature in the
//! `dev.cosignproject.cosign/signature` annotation).
//!
//! Notary: [`write_notary_layout`] writes the notation e2e layout `e2e-valid-signature` byte
//! for byte (image manifest, signature manifest with `subject`, and the referrers-tag index
//! `sha256-<hex>`; the JWS envelope comes from `policy/tests/data`), and [`push_layout`] copies
//! every manifest of a layout into a registry with its tag (or by digest when untagged), so on
//! distribution 2.8 the signature is reachable only through the referrers tag schema.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use sha2::{Digest as _, Sha256};

use super::registry::{Registry, RegistryAuth};

/// The cosign simple-signing layer media type.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding a cosign signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// OCI manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `artifactType` of a Notary Project signature.
pub const NOTARY_SIGNATURE: &str = "application/vnd.cncf.notary.signature";

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `sha256-<hex>`: the referrers tag of `digest`; cosign appends `.sig`.
pub fn tag_for(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// A P-256 cosign key pair.
pub struct CosignKey {
    sk: SigningKey,
}

impl CosignKey {
    /// A fresh random key (from the OS: no RNG crate needed).
    pub fn generate() -> Self {
        loop {
            let mut seed = [0u8; 32];
            use std::io::Read as _;
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut seed))
                .expect("read /dev/urandom");
            // Out-of-range scalars (probability ~2^-32) are retried.
            if let Ok(sk) = SigningKey::from_slice(&seed) {
                return CosignKey { sk };
            }
        }
    }

    /// The public key as a PEM `PUBLIC KEY` (what `cosign generate-key-pair` writes).
    pub fn public_pem(&self) -> String {
        self.sk
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("encode public key")
    }

    /// Writes [`Self::public_pem`] to `path` and returns it.
    pub fn write_public_pem(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.public_pem()).expect("write cosign.pub");
        path.to_path_buf()
    }

    /// The base64 DER ECDSA-SHA256 signature of `msg`, as cosign puts it in the annotation.
    pub fn sign_b64(&self, msg: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.sign_der(msg))
    }

    /// The DER ECDSA-SHA256 signature of `msg`.
    pub fn sign_der(&self, msg: &[u8]) -> Vec<u8> {
        let sig: Signature = self.sk.sign(msg);
        sig.to_der().as_bytes().to_vec()
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.sk
            .verifying_key()
            .to_public_key_der()
            .expect("encode public key")
            .as_bytes()
            .to_vec()
    }
}

// ---------------------------------------------------------------------------------------------
// Sigstore bundles: real Fulcio/Rekor are out of reach, so a test Rekor v1 log (a P-256 key in
// a test `trusted_root.json`) logs keyed bundles made at run time, in the shape cosign 3 and
// the conformance suite use (bundle v0.3, messageSignature, hashedrekord 0.0.1 entry with
// inclusion promise and an inclusion proof up to a signed checkpoint).

/// Media type / artifactType of a Sigstore bundle v0.3.
pub const SIGSTORE_BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A `trusted_root.json` whose only transparency log is `log` (valid from 2020 on).
pub fn sigstore_trusted_root(log: &CosignKey) -> serde_json::Value {
    let spki = log.spki_der();
    serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{
            "baseUrl": "https://rekor.e2e.invalid",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": b64(&spki),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": { "start": "2020-01-01T00:00:00Z" }
            },
            "logId": { "keyId": b64(Sha256::digest(&spki)) }
        }],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": []
    })
}

/// A keyed Sigstore bundle v0.3: `signer`'s message signature over `artifact`, logged by the
/// test log `log` at `integrated` (unix seconds) as entry 0 of a one-entry tree.
pub fn sigstore_bundle(
    signer: &CosignKey,
    log: &CosignKey,
    artifact: &[u8],
    integrated: i64,
) -> serde_json::Value {
    let digest = Sha256::digest(artifact);
    let sig = signer.sign_der(artifact);
    let body = serde_json::to_vec(&serde_json::json!({
        "apiVersion": "0.0.1", "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": hex::encode(digest) } },
            "signature": { "content": b64(&sig), "publicKey": { "content": b64(signer.public_pem()) } }
        }
    }))
    .unwrap();
    let log_spki = log.spki_der();
    let log_id = Sha256::digest(&log_spki);
    // Inclusion promise: the log's signature over the canonical JSON of the entry.
    let set_payload = format!(
        r#"{{"body":"{}","integratedTime":{integrated},"logID":"{}","logIndex":0}}"#,
        b64(&body),
        hex::encode(log_id)
    );
    let set = log.sign_der(set_payload.as_bytes());
    // A one-leaf tree: the root is the leaf hash; the checkpoint is a signed note.
    let mut leaf = vec![0u8];
    leaf.extend_from_slice(&body);
    let root = Sha256::digest(&leaf);
    let note = format!("rekor.e2e.invalid - 1\n1\n{}\n", b64(root));
    let mut note_sig = log_id[..4].to_vec();
    note_sig.extend(log.sign_der(note.as_bytes()));
    let checkpoint = format!("{note}\n\u{2014} rekor.e2e.invalid {}\n", b64(&note_sig));
    serde_json::json!({
        "mediaType": SIGSTORE_BUNDLE_V03,
        "verificationMaterial": {
            "publicKey": { "hint": b64(Sha256::digest(signer.spki_der())) },
            "tlogEntries": [{
                "logIndex": "0",
                "logId": { "keyId": b64(log_id) },
                "kindVersion": { "kind": "hashedrekord", "version": "0.0.1" },
                "integratedTime": integrated.to_string(),
                "inclusionPromise": { "signedEntryTimestamp": b64(&set) },
                "inclusionProof": {
                    "logIndex": "0",
                    "rootHash": b64(root),
                    "treeSize": "1",
                    "hashes": [],
                    "checkpoint": { "envelope": checkpoint }
                },
                "canonicalizedBody": b64(&body)
            }],
            "timestampVerificationData": {}
        },
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": b64(digest) },
            "signature": b64(&sig)
        }
    })
}

/// Attaches `bundle` to the manifest `subject_digest` (of `subject_size` bytes) of `repo` as an
/// OCI 1.1 referrer (artifactType Sigstore bundle v0.3, empty config, `subject`), and lists it
/// in the referrers tag `sha256-<hex>` (distribution 2.8 has no referrers API). Returns the
/// referrer manifest's digest.
pub async fn push_sigstore_bundle_referrer(
    registry: &Registry,
    repo: &str,
    subject_digest: &str,
    subject_size: usize,
    bundle: &[u8],
) -> String {
    let (config_digest, config_size) = push_blob(registry, repo, b"{}").await;
    let (layer_digest, layer_size) = push_blob(registry, repo, bundle).await;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGSTORE_BUNDLE_V03,
        "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": config_digest, "size": config_size },
        "layers": [{ "mediaType": SIGSTORE_BUNDLE_V03, "digest": layer_digest, "size": layer_size }],
        "subject": { "mediaType": OCI_MANIFEST, "digest": subject_digest, "size": subject_size },
    }))
    .unwrap();
    let digest = sha256(&manifest);
    push_manifest(registry, repo, &digest, &manifest, OCI_MANIFEST).await;
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len(),
            "artifactType": SIGSTORE_BUNDLE_V03
        }]
    }))
    .unwrap();
    push_manifest(registry, repo, &tag_for(subject_digest), &index, OCI_INDEX).await;
    digest
}

/// The simple-signing payload cosign signs for `docker_reference` (`registry/repo`) at
/// `digest` (`sha256:…`).
pub fn simple_signing_payload(docker_reference: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": { "docker-reference": docker_reference },
            "image": { "docker-manifest-digest": digest },
            "type": "cosign container image signature",
        },
        "optional": { "creator": "forage e2e" },
    }))
    .unwrap()
}

/// One layer of a cosign signature manifest.
#[derive(Clone, Debug)]
pub struct CosignLayer {
    /// The blob (the payload).
    pub payload: Vec<u8>,
    /// Layer media type.
    pub media_type: String,
    /// Layer annotations (the signature among them).
    pub annotations: BTreeMap<String, String>,
}

impl CosignLayer {
    /// `payload` signed by `key`.
    pub fn signed(key: &CosignKey, payload: Vec<u8>) -> Self {
        let sig = key.sign_b64(&payload);
        Self::with_signature(payload, sig)
    }

    /// `payload` with a given signature annotation (for tampering).
    pub fn with_signature(payload: Vec<u8>, signature_b64: String) -> Self {
        CosignLayer {
            payload,
            media_type: SIMPLE_SIGNING.into(),
            annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_string(), signature_b64)]),
        }
    }
}

/// An oci-client for pushing to `repo` of `registry` with its credentials.
pub async fn pusher(
    registry: &Registry,
    repo: &str,
) -> (oci_client::Client, oci_client::Reference) {
    let reference =
        oci_client::Reference::with_tag(registry.host(), repo.to_string(), "latest".into());
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
    (client, reference)
}

/// Pushes `bytes` as a blob of `repo`; returns `(digest, size)`.
pub async fn push_blob(registry: &Registry, repo: &str, bytes: &[u8]) -> (String, usize) {
    let (client, reference) = pusher(registry, repo).await;
    let digest = sha256(bytes);
    client
        .push_blob(&reference, bytes.to_vec(), &digest)
        .await
        .unwrap_or_else(|e| panic!("push blob {digest} to {repo}: {e}"));
    (digest, bytes.len())
}

/// Pushes manifest `bytes` (exactly) to `repo` under `tag_or_digest` with `media_type`;
/// returns its digest.
pub async fn push_manifest(
    registry: &Registry,
    repo: &str,
    tag_or_digest: &str,
    bytes: &[u8],
    media_type: &str,
) -> String {
    let (client, _) = pusher(registry, repo).await;
    let reference = if tag_or_digest.starts_with("sha256:") {
        oci_client::Reference::with_digest(registry.host(), repo.into(), tag_or_digest.into())
    } else {
        oci_client::Reference::with_tag(registry.host(), repo.into(), tag_or_digest.into())
    };
    client
        .push_manifest_raw(&reference, bytes.to_vec(), media_type.parse().unwrap())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "push manifest {tag_or_digest} to {repo}: {e}\n--- registry log ---\n{}",
                registry.log()
            )
        });
    sha256(bytes)
}

/// The bytes of a cosign signature manifest over `layers`, whose blobs are pushed to `repo`.
pub async fn cosign_manifest(registry: &Registry, repo: &str, layers: &[CosignLayer]) -> Vec<u8> {
    let config = br#"{"architecture":"","config":{},"created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let (cd, cs) = push_blob(registry, repo, config).await;
    let mut descriptors = Vec::new();
    for layer in layers {
        let (d, s) = push_blob(registry, repo, &layer.payload).await;
        descriptors.push(serde_json::json!({
            "mediaType": layer.media_type, "size": s, "digest": d, "annotations": layer.annotations,
        }));
    }
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "size": cs, "digest": cd },
        "layers": descriptors,
    }))
    .unwrap()
}

/// Pushes a cosign signature manifest over `layers` for `subject_digest` under the
/// `sha256-<hex>.sig` tag of `repo`; returns the signature manifest's digest.
pub async fn push_cosign_signature(
    registry: &Registry,
    repo: &str,
    subject_digest: &str,
    layers: &[CosignLayer],
) -> String {
    let manifest = cosign_manifest(registry, repo, layers).await;
    let tag = format!("{}.sig", tag_for(subject_digest));
    push_manifest(registry, repo, &tag, &manifest, OCI_MANIFEST).await
}

/// Signs `registry/repo@digest` with `key` as `cosign sign --key` would and pushes the
/// signature; returns the payload signed.
pub async fn cosign_sign(
    registry: &Registry,
    key: &CosignKey,
    repo: &str,
    digest: &str,
) -> Vec<u8> {
    let payload = simple_signing_payload(&registry.reference(repo), digest);
    push_cosign_signature(
        registry,
        repo,
        digest,
        &[CosignLayer::signed(key, payload.clone())],
    )
    .await;
    payload
}

// ---------------------------------------------------------------------------------------------
// Notary: the notation e2e layout `e2e-valid-signature`.

/// The signed image of the notation e2e layouts.
pub const NOTARY_SUBJECT: &str =
    "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
/// Its size.
pub const NOTARY_SUBJECT_SIZE: u64 = 517;
/// When the vector verifies (its README: any time in the leaf's validity, e.g. this one).
pub const NOTARY_VERIFICATION_TIME: &str = "2026-01-01T00:00:00Z";

const NOTARY_IMAGE: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.notation.config","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:6de5fe1f75e4b1094c98086f403d5fd8117776ebe5aad1609281403d13dea070","size":17,"annotations":{"org.opencontainers.image.title":"e2e.txt"}}],"annotations":{"org.opencontainers.image.created":"2023-06-27T05:01:36Z"}}"#;
const NOTARY_SIGNATURE_MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.notary.signature","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/jose+json","digest":"sha256:c9af07e038b2b1a463e648986ad7273157511ffeba0b689f33e5472bae471f50","size":2070}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9","size":517},"annotations":{"io.cncf.notary.x509chain.thumbprint#S256":"[\"e38aea13f2b051f7183cca64a51ee676f4d4456f41d9fecf15eb367efc7343b9\"]","org.opencontainers.image.created":"2023-06-27T05:30:33Z"}}"#;
const NOTARY_REFERRERS_INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f","size":728,"annotations":{"io.cncf.notary.x509chain.thumbprint#S256":"[\"e38aea13f2b051f7183cca64a51ee676f4d4456f41d9fecf15eb367efc7343b9\"]","org.opencontainers.image.created":"2023-06-27T05:30:33Z"},"artifactType":"application/vnd.cncf.notary.signature"}]}"#;

/// `policy/tests/data/<rel>`.
pub fn policy_data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policy/tests/data")
        .join(rel)
}

/// The JWS envelope of `e2e-valid-signature`.
pub fn notary_envelope() -> Vec<u8> {
    std::fs::read(policy_data(
        "notary/notation-e2e/oci_layout/e2e-valid-signature/blobs/sha256/c9af07e038b2b1a463e648986ad7273157511ffeba0b689f33e5472bae471f50",
    ))
    .expect("notary envelope")
}

/// The certificate of trust store `ca:e2e` (`e2e.crt`, the signer) or another (`new_e2e.crt`).
pub fn notary_cert(name: &str) -> PathBuf {
    policy_data(&format!("notary/notation-e2e/config/localkeys/{name}"))
}

/// Writes the notation e2e layout `e2e-valid-signature` at `dir` byte for byte (the digests
/// are checked against upstream's), with the same `index.json`: the image tagged `v1`, the
/// signature manifest untagged, the referrers index tagged `sha256-<hex>`.
pub fn write_notary_layout(dir: &Path) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let envelope = notary_envelope();
    let blobs: [&[u8]; 6] = [
        NOTARY_IMAGE.as_bytes(),
        NOTARY_SIGNATURE_MANIFEST.as_bytes(),
        NOTARY_REFERRERS_INDEX.as_bytes(),
        b"{}",
        b"awesome notation\n",
        &envelope,
    ];
    for b in blobs {
        let d = sha256(b);
        std::fs::write(dir.join("blobs/sha256").join(&d[7..]), b).unwrap();
    }
    assert_eq!(sha256(NOTARY_IMAGE.as_bytes()), NOTARY_SUBJECT);
    assert_eq!(
        sha256(NOTARY_SIGNATURE_MANIFEST.as_bytes()),
        "sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f"
    );
    assert_eq!(
        sha256(NOTARY_REFERRERS_INDEX.as_bytes()),
        "sha256:13e107e0dd246f07ff18998a3d39e226965c41477a1bc1765f7617632ff3f283"
    );
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{NOTARY_SUBJECT}","size":517,"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}},{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":728}},{{"mediaType":"{OCI_INDEX}","digest":"{}","size":485,"annotations":{{"org.opencontainers.image.ref.name":"{}"}}}}]}}"#,
        sha256(NOTARY_SIGNATURE_MANIFEST.as_bytes()),
        sha256(NOTARY_REFERRERS_INDEX.as_bytes()),
        tag_for(NOTARY_SUBJECT),
    );
    std::fs::write(dir.join("index.json"), index).unwrap();
}

/// Copies every manifest of the layout at `dir` into `repo`, byte for byte: all blobs first,
/// then manifests, then indexes (distribution checks that what they reference exists), each
/// under its `org.opencontainers.image.ref.name` tag or by digest when untagged.
pub async fn push_layout(registry: &Registry, dir: &Path, repo: &str) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let manifest_digests: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["digest"].as_str())
        .collect();
    for entry in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        let digest = format!("sha256:{}", path.file_name().unwrap().to_string_lossy());
        if !manifest_digests.contains(&digest.as_str()) {
            push_blob(registry, repo, &std::fs::read(&path).unwrap()).await;
        }
    }
    let mut ordered = entries.clone();
    ordered.sort_by_key(|e| e["mediaType"] == OCI_INDEX);
    for e in ordered {
        let digest = e["digest"].as_str().unwrap();
        let media_type = e["mediaType"].as_str().unwrap();
        let bytes = std::fs::read(dir.join("blobs/sha256").join(&digest[7..])).unwrap();
        let target = e
            .pointer("/annotations/org.opencontainers.image.ref.name")
            .and_then(|v| v.as_str())
            .unwrap_or(digest)
            .to_string();
        push_manifest(registry, repo, &target, &bytes, media_type).await;
    }
}
