//! Signature discovery (`forage_indexer::signatures`) and verification against a real
//! registry (docker-registry 2.8: no referrers API, so OCI referrers are found through the
//! `sha256-<hex>` tag schema), with signatures made at test time (cosign, P-256) and the
//! notation e2e vector (Notary, JWS).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use forage_indexer::fetch::{
    Credentials, FetchError, FetchLimits, FetchedArtifact, Fetcher, FetcherConfig, RegistrySettings,
};
use forage_indexer::reference::{OciRef, Target};
use forage_indexer::signatures::{
    self, MAX_SIGNATURES, SignatureError, discover, discover_in_layout, verify_fetched,
};
use forage_policy::Digest;
use forage_policy::trust::{
    Check, FoundSignature, SubjectRef, TrustConfig, TrustPolicy, Verdict, VerdictKind,
};

use crate::support::layout_writer::{ComponentArtifact, fixture, push, write_layout};
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signing::{
    self, CosignKey, CosignLayer, NOTARY_SIGNATURE, NOTARY_SUBJECT, OCI_INDEX, OCI_MANIFEST,
    cosign_sign, push_blob, push_cosign_signature, push_manifest, simple_signing_payload, tag_for,
};

const MANIFEST_MT: &str = "application/vnd.oci.image.manifest.v1+json";

fn fetcher_for(registry: &Registry) -> Fetcher {
    let credentials = match registry.auth.credentials() {
        Some((u, p)) => Credentials::Basic {
            username: u.into(),
            password: p.into(),
        },
        None => Credentials::Anonymous,
    };
    Fetcher::new(FetcherConfig {
        limits: FetchLimits::default(),
        registries: HashMap::from([(
            registry.host(),
            RegistrySettings {
                insecure: true,
                credentials,
            },
        )]),
    })
    .expect("fetcher")
}

/// Pushes the `types` fixture component as `repo:1.0` and fetches it back by tag.
async fn publish(registry: &Registry, tmp: &Path, repo: &str) -> (Fetcher, FetchedArtifact) {
    let dir = tmp.join(repo.replace('/', "_"));
    write_layout(&dir, &ComponentArtifact::new(fixture("types.wasm")), "1.0");
    push(registry, &dir, "1.0", &format!("{repo}:1.0"));
    let fetcher = fetcher_for(registry);
    let r: OciRef = registry.reference(&format!("{repo}:1.0")).parse().unwrap();
    let artifact = fetcher.fetch_oci(&r).await.expect("fetch the component");
    (fetcher, artifact)
}

fn pinned(artifact: &FetchedArtifact) -> OciRef {
    artifact.reference.parse().expect("pinned reference")
}

/// Discovery, bounded in time: a loop would hang the test, not pass it.
async fn find(fetcher: &Fetcher, artifact: &FetchedArtifact) -> Vec<FoundSignature> {
    try_find(fetcher, artifact).await.expect("discover")
}

async fn try_find(
    fetcher: &Fetcher,
    artifact: &FetchedArtifact,
) -> Result<Vec<FoundSignature>, SignatureError> {
    let media_type = artifact
        .manifest_media_type
        .as_deref()
        .unwrap_or(MANIFEST_MT);
    tokio::time::timeout(
        Duration::from_secs(60),
        discover(fetcher, &pinned(artifact), media_type),
    )
    .await
    .expect("discovery finishes")
}

/// A policy from TOML (paths relative to `base`).
fn policy(toml_text: &str, base: &Path) -> TrustPolicy {
    let cfg: TrustConfig = toml::from_str(toml_text).expect("policy TOML");
    TrustPolicy::from_config(&cfg, base).expect("policy compiles")
}

/// One cosign policy for `scope` at `level`, trusting `key_path`.
fn cosign_policy(scope: &str, level: &str, key_path: &Path) -> TrustPolicy {
    policy(
        &format!(
            "[[policy]]\nname = \"e2e\"\nregistry_scopes = [\"{scope}\"]\nlevel = \"{level}\"\ncosign_keys = [\"{}\"]\n",
            key_path.display()
        ),
        Path::new("/"),
    )
}

fn failed_reason(v: &Verdict) -> (Check, String) {
    match &v.verdict {
        VerdictKind::Failed(r) => (r.check, r.step.clone()),
        other => panic!("expected failed, got {other:?}: {v:#?}"),
    }
}

async fn cosign_signed_component_verifies(auth: RegistryAuth) {
    let registry = Registry::start(auth);
    let tmp = tempfile::tempdir().unwrap();
    let repo = "components/signed";
    let (fetcher, artifact) = publish(&registry, tmp.path(), repo).await;
    let key = CosignKey::generate();
    let key_path = key.write_public_pem(&tmp.path().join("cosign.pub"));
    let payload = cosign_sign(&registry, &key, repo, &artifact.digest.to_string()).await;

    let found = find(&fetcher, &artifact).await;
    assert_eq!(found.len(), 1, "{found:?}");
    match &found[0] {
        FoundSignature::Cosign {
            payload: p,
            media_type,
            ..
        } => {
            assert_eq!(p, &payload);
            assert_eq!(media_type, signing::SIMPLE_SIGNING);
        }
        other => panic!("expected a cosign signature, got {other:?}"),
    }

    let scope = format!("{}/components/*", registry.host());
    let strict = cosign_policy(&scope, "strict", &key_path);
    let v = verify_fetched(&strict, &artifact, &found, SystemTime::now());
    assert!(v.is_verified(), "{v:#?}");
    assert!(v.allows_load());
    assert!(
        v.signer.as_deref().is_some_and(|s| s.contains("cosign")),
        "{v:?}"
    );
    assert_eq!(v.scope, scope);

    // The wrong key: a signature is there, but not by a trusted signer.
    let other = CosignKey::generate().write_public_pem(&tmp.path().join("other.pub"));
    let v = verify_fetched(
        &cosign_policy(&scope, "strict", &other),
        &artifact,
        &found,
        SystemTime::now(),
    );
    let (check, step) = failed_reason(&v);
    assert!(!v.allows_load());
    println!("wrong key: {check} / {step}");
    // Permissive refuses a bad signature too.
    let v = verify_fetched(
        &cosign_policy(&scope, "permissive", &other),
        &artifact,
        &found,
        SystemTime::now(),
    );
    assert!(
        matches!(v.verdict, VerdictKind::Failed(_)) && !v.allows_load(),
        "{v:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_cosign_signed_component_is_discovered_and_verified() {
    cosign_signed_component_verifies(RegistryAuth::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_cosign_discovery_with_basic_auth() {
    cosign_signed_component_verifies(RegistryAuth::Basic {
        user: "sig".into(),
        pass: "s3cret".into(),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_cosign_discovery_with_token_auth() {
    cosign_signed_component_verifies(RegistryAuth::Bearer {
        user: "sig".into(),
        pass: "s3cret".into(),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_unsigned_component_is_unverified() {
    let registry = Registry::start(RegistryAuth::None);
    let tmp = tempfile::tempdir().unwrap();
    let (fetcher, artifact) = publish(&registry, tmp.path(), "components/plain").await;
    let found = find(&fetcher, &artifact).await;
    assert!(found.is_empty(), "{found:?}");

    let key_path = CosignKey::generate().write_public_pem(&tmp.path().join("cosign.pub"));
    let scope = format!("{}/components/*", registry.host());
    let v = verify_fetched(
        &cosign_policy(&scope, "strict", &key_path),
        &artifact,
        &found,
        SystemTime::now(),
    );
    match &v.verdict {
        VerdictKind::Unverified(r) => {
            assert_eq!(r.check, Check::SignaturePresent);
            assert_eq!(r.step, "no signature");
        }
        other => panic!("expected unverified, got {other:?}"),
    }
    assert!(!v.allows_load(), "strict refuses an unsigned component");
    let v = verify_fetched(
        &cosign_policy(&scope, "permissive", &key_path),
        &artifact,
        &found,
        SystemTime::now(),
    );
    assert!(matches!(v.verdict, VerdictKind::Unverified(_)), "{v:?}");
    assert!(v.allows_load(), "permissive loads an unsigned component");
    assert!(!v.warnings().is_empty());

    // A pinned reference is required: a tag is refused before anything is fetched.
    let tagged: OciRef = registry.reference("components/plain:1.0").parse().unwrap();
    let err = discover(&fetcher, &tagged, MANIFEST_MT).await.unwrap_err();
    assert!(matches!(err, SignatureError::NotPinned { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_tampered_payload_and_other_digest_fail() {
    let registry = Registry::start(RegistryAuth::None);
    let tmp = tempfile::tempdir().unwrap();
    let repo = "components/tampered";
    let (fetcher, artifact) = publish(&registry, tmp.path(), repo).await;
    let key = CosignKey::generate();
    let key_path = key.write_public_pem(&tmp.path().join("cosign.pub"));
    let scope = format!("{}/components/*", registry.host());
    let strict = cosign_policy(&scope, "strict", &key_path);
    let digest = artifact.digest.to_string();
    let docker_reference = registry.reference(repo);

    // Tampered: the registry serves a payload other than the one signed.
    let payload = simple_signing_payload(&docker_reference, &digest);
    let sig = key.sign_b64(&payload);
    let mut tampered = payload.clone();
    let at = tampered.len() - 3;
    tampered[at] ^= 0x01;
    push_cosign_signature(
        &registry,
        repo,
        &digest,
        &[CosignLayer::with_signature(tampered, sig)],
    )
    .await;
    let found = find(&fetcher, &artifact).await;
    assert_eq!(found.len(), 1);
    let v = verify_fetched(&strict, &artifact, &found, SystemTime::now());
    let (check, step) = failed_reason(&v);
    assert_eq!(
        (check, step.as_str()),
        (Check::Integrity, "signature"),
        "{v:#?}"
    );

    // A valid signature by the trusted key, over another digest, replayed onto this one.
    let other = Digest::of(b"another manifest").to_string();
    let replay = CosignLayer::signed(&key, simple_signing_payload(&docker_reference, &other));
    push_cosign_signature(&registry, repo, &digest, &[replay]).await;
    let found = find(&fetcher, &artifact).await;
    let v = verify_fetched(&strict, &artifact, &found, SystemTime::now());
    let (check, step) = failed_reason(&v);
    assert_eq!(
        (check, step.as_str()),
        (Check::Integrity, "manifest digest"),
        "{v:#?}"
    );

    // Signed for another repository (same digest): authenticity fails.
    let elsewhere = CosignLayer::signed(
        &key,
        simple_signing_payload(&registry.reference("components/evil"), &digest),
    );
    push_cosign_signature(&registry, repo, &digest, &[elsewhere]).await;
    let found = find(&fetcher, &artifact).await;
    let v = verify_fetched(&strict, &artifact, &found, SystemTime::now());
    let (check, step) = failed_reason(&v);
    assert_eq!(
        (check, step.as_str()),
        (Check::Authenticity, "docker-reference identity"),
        "{v:#?}"
    );
}

fn notary_policy(host: &str, cert: &str) -> TrustPolicy {
    policy(
        &format!(
            "[trust_stores]\n\"ca:e2e\" = [\"{}\"]\n\n[[policy]]\nname = \"notary\"\nregistry_scopes = [\"{host}/e2e\"]\nlevel = \"strict\"\ntrust_stores = [\"ca:e2e\"]\ntrusted_identities = [\"*\"]\n",
            signing::notary_cert(cert).display()
        ),
        Path::new("/"),
    )
}

/// 2026-01-01T00:00:00Z ([`signing::NOTARY_VERIFICATION_TIME`]), inside the leaf's validity.
fn notary_time() -> SystemTime {
    assert_eq!(signing::NOTARY_VERIFICATION_TIME, "2026-01-01T00:00:00Z");
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_notary_signature_found_through_the_referrers_tag_schema() {
    let registry = Registry::start(RegistryAuth::None);
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("e2e-valid-signature");
    signing::write_notary_layout(&layout);
    let subject: Digest = NOTARY_SUBJECT.parse().unwrap();

    // In the layout itself: the signature manifest listed with `subject` and the same one
    // through the `sha256-<hex>` index are one signature.
    let in_layout = discover_in_layout(&layout, &subject, &FetchLimits::default())
        .await
        .expect("layout discovery");
    assert_eq!(
        in_layout,
        vec![FoundSignature::Notary {
            envelope: signing::notary_envelope(),
            media_type: "application/jose+json".into()
        }]
    );

    // In the registry, which has no referrers API.
    signing::push_layout(&registry, &layout, "e2e").await;
    let fetcher = fetcher_for(&registry);
    let pinned = OciRef::new(&registry.host(), "e2e", Target::Digest(subject.clone())).unwrap();
    let repo = fetcher.repository(&pinned).await.unwrap();
    assert!(
        repo.referrers(&subject, None, 1 << 20, 1)
            .await
            .unwrap()
            .is_none(),
        "distribution 2.8 has no referrers API"
    );
    let (manifest, digest, media_type) = repo
        .manifest(&Target::Tag("v1".into()), 1 << 20)
        .await
        .unwrap();
    assert_eq!(digest, subject);
    let media_type = media_type.unwrap_or_else(|| MANIFEST_MT.into());
    let found = tokio::time::timeout(
        Duration::from_secs(60),
        discover(&fetcher, &pinned, &media_type),
    )
    .await
    .unwrap()
    .expect("discover");
    assert_eq!(found, in_layout);

    let subject_ref = SubjectRef::new(
        registry.host(),
        "e2e",
        subject.clone(),
        media_type,
        manifest.len() as u64,
    );
    let v = forage_policy::trust::verify(
        &notary_policy(&registry.host(), "e2e.crt"),
        &subject_ref,
        &found,
        notary_time(),
    );
    assert!(v.is_verified(), "{v:#?}");
    assert!(
        v.signer.as_deref().is_some_and(|s| s.contains("CN=e2e")),
        "{v:?}"
    );

    // The same signature under a trust store holding another certificate.
    let v = forage_policy::trust::verify(
        &notary_policy(&registry.host(), "new_e2e.crt"),
        &subject_ref,
        &found,
        notary_time(),
    );
    assert_eq!(failed_reason(&v).0, Check::Authenticity, "{v:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_self_references_and_cycles_end() {
    let registry = Registry::start(RegistryAuth::None);
    let tmp = tempfile::tempdir().unwrap();
    let repo = "components/loop";
    let (fetcher, artifact) = publish(&registry, tmp.path(), repo).await;
    let digest = artifact.digest.to_string();
    let subject_bytes = artifact.manifest.clone().unwrap();

    // The `.sig` tag holds the subject itself.
    push_manifest(
        &registry,
        repo,
        &format!("{}.sig", tag_for(&digest)),
        &subject_bytes,
        OCI_MANIFEST,
    )
    .await;
    // A Notary-typed referrer S of the subject…
    let (cd, cs) = push_blob(&registry, repo, b"{}").await;
    let (ed, es) = push_blob(&registry, repo, b"not really an envelope").await;
    let referrer = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": NOTARY_SIGNATURE, "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/jose+json", "digest": ed, "size": es}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": subject_bytes.len()},
    }))
    .unwrap();
    let s = push_manifest(
        &registry,
        repo,
        &signing::sha256(&referrer),
        &referrer,
        OCI_MANIFEST,
    )
    .await;
    let entry = |d: &str, size: usize| serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d, "size": size, "artifactType": NOTARY_SIGNATURE});
    // …listed in the subject's referrers index with the subject itself and a duplicate…
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [entry(&digest, subject_bytes.len()), entry(&s, referrer.len()), entry(&s, referrer.len())],
    }))
    .unwrap();
    push_manifest(&registry, repo, &tag_for(&digest), &index, OCI_INDEX).await;
    // …and S's own referrers index points back at the subject (a cycle).
    let back = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [entry(&digest, subject_bytes.len())],
    }))
    .unwrap();
    push_manifest(&registry, repo, &tag_for(&s), &back, OCI_INDEX).await;

    let found = find(&fetcher, &artifact).await;
    assert_eq!(
        found,
        vec![FoundSignature::Notary {
            envelope: b"not really an envelope".to_vec(),
            media_type: "application/jose+json".into()
        }],
        "the self-references are skipped, the duplicate dropped, nothing recursed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_caps_on_size_and_count() {
    let registry = Registry::start(RegistryAuth::None);
    let tmp = tempfile::tempdir().unwrap();
    let repo = "components/caps";
    let (fetcher, artifact) = publish(&registry, tmp.path(), repo).await;
    let digest = artifact.digest.to_string();
    let key = CosignKey::generate();

    // More signature layers than the verifier examines: the first MAX_SIGNATURES are kept.
    let layer = CosignLayer::signed(
        &key,
        simple_signing_payload(&registry.reference(repo), &digest),
    );
    let many = vec![layer; MAX_SIGNATURES + 8];
    push_cosign_signature(&registry, repo, &digest, &many).await;
    let found = find(&fetcher, &artifact).await;
    assert_eq!(found.len(), MAX_SIGNATURES);

    // A signature manifest of 1.5 MiB (one annotation stuffed): refused at the cap while it
    // streams, with an error naming the registry, repository and digest.
    let mut huge = CosignLayer::signed(
        &key,
        simple_signing_payload(&registry.reference(repo), &digest),
    );
    huge.annotations
        .insert("padding".into(), "x".repeat(3 << 19));
    push_cosign_signature(&registry, repo, &digest, &[huge]).await;
    let started = std::time::Instant::now();
    let err = try_find(&fetcher, &artifact).await.unwrap_err();
    assert!(
        matches!(
            &err,
            SignatureError::Fetch {
                source: FetchError::TooLarge {
                    limit: signatures::MAX_SIGNATURE_MANIFEST_BYTES,
                    ..
                },
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&registry.host()) && text.contains(repo) && text.contains(&digest),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    // A signature blob over the blob cap is refused from its descriptor, before any byte.
    let big_payload = vec![b'{'; (signatures::MAX_SIGNATURE_BLOB_BYTES + 1) as usize];
    push_cosign_signature(
        &registry,
        repo,
        &digest,
        &[CosignLayer::with_signature(big_payload, "c2ln".into())],
    )
    .await;
    let err = try_find(&fetcher, &artifact).await.unwrap_err();
    assert!(
        matches!(
            &err,
            SignatureError::Fetch {
                source: FetchError::TooLarge { size: Some(_), .. },
                ..
            }
        ),
        "{err}"
    );
}

/// Every notation e2e layout of the reference test vectors (copied into `tests/data/notary`): each
/// holds one signature, `e2e-valid-multiple-signatures` two (one by an untrusted signer),
/// found from `index.json` (`subject`) and the `sha256-<hex>` index without duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_notation_vector_layouts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/notary/notation-e2e/oci_layout");
    assert!(root.exists(), "{} is missing", root.display());
    let subject: Digest = NOTARY_SUBJECT.parse().unwrap();
    let policy = notary_policy("localhost:5000", "e2e.crt");
    let subject_ref = SubjectRef::new("localhost:5000", "e2e", subject.clone(), MANIFEST_MT, 517);
    for (name, count, verified) in [
        ("e2e-valid-signature", 1, true),
        ("e2e-valid-multiple-signatures", 2, true),
        ("e2e-expired-signature", 1, false),
        ("e2e-invalid-signature", 1, false),
        ("e2e-with-expired-cert", 1, false),
    ] {
        let found = discover_in_layout(&root.join(name), &subject, &FetchLimits::default())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(found.len(), count, "{name}: {found:?}");
        assert!(found.iter().all(|s| s.format() == "notary"), "{name}");
        let v = forage_policy::trust::verify(&policy, &subject_ref, &found, notary_time());
        assert_eq!(v.is_verified(), verified, "{name}: {v:#?}");
    }
}

/// A keyed bundle policy for `scope` at `level`: `key_path` and the test log's trusted root.
fn bundle_policy(scope: &str, level: &str, key_path: &Path, root_path: &Path) -> TrustPolicy {
    policy(
        &format!(
            "[[policy]]\nname = \"bundles\"\nregistry_scopes = [\"{scope}\"]\nlevel = \"{level}\"\n\
             cosign_keys = [\"{}\"]\nsigstore_trusted_root = \"{}\"\n",
            key_path.display(),
            root_path.display()
        ),
        Path::new("/"),
    )
}

/// A Sigstore bundle v0.3 attached as an OCI 1.1 referrer (artifactType
/// `application/vnd.dev.sigstore.bundle.v0.3+json`, `subject` = the component's manifest), as
/// cosign 3 attaches it: found through the referrers tag schema, verified under strict against
/// a test trusted root (real Fulcio/Rekor are unreachable: a test Rekor v1 log signs the
/// inclusion promise and checkpoint), and refused, naming the check, when tampered with or
/// under another key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_sigstore_bundle_referrer_loads_under_strict_and_refusals_name_the_check() {
    let registry = Registry::start(RegistryAuth::None);
    let tmp = tempfile::tempdir().unwrap();
    let key = CosignKey::generate();
    let log = CosignKey::generate();
    let key_path = key.write_public_pem(&tmp.path().join("cosign.pub"));
    let root_path = tmp.path().join("trusted_root.json");
    std::fs::write(
        &root_path,
        serde_json::to_vec(&signing::sigstore_trusted_root(&log)).unwrap(),
    )
    .unwrap();
    let scope = format!("{}/components/*", registry.host());
    let strict = bundle_policy(&scope, "strict", &key_path, &root_path);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;

    // Signed and logged: loads under strict.
    let repo = "components/bundled";
    let (fetcher, artifact) = publish(&registry, tmp.path(), repo).await;
    let manifest = artifact.manifest.clone().expect("manifest bytes");
    assert_eq!(signing::sha256(&manifest), artifact.digest.to_string());
    let bundle = signing::sigstore_bundle(&key, &log, &manifest, now - 60);
    let bundle_bytes = serde_json::to_vec(&bundle).unwrap();
    signing::push_sigstore_bundle_referrer(
        &registry,
        repo,
        &artifact.digest.to_string(),
        manifest.len(),
        &bundle_bytes,
    )
    .await;
    let found = find(&fetcher, &artifact).await;
    assert_eq!(
        found,
        vec![FoundSignature::SigstoreBundle {
            bundle: bundle_bytes.clone(),
            media_type: signing::SIGSTORE_BUNDLE_V03.into()
        }]
    );
    let v = verify_fetched(&strict, &artifact, &found, SystemTime::now());
    assert!(v.is_verified() && v.allows_load(), "{v:#?}");
    assert_eq!((v.policy.as_str(), v.scope.as_str()), ("bundles", scope.as_str()));
    assert!(
        v.signer.as_deref().is_some_and(|s| s.contains("cosign.pub")),
        "{v:?}"
    );
    println!("bundle referrer: verified, signer {:?}", v.signer);

    // Another key: the bundle is there, but not by a trusted signer.
    let other = CosignKey::generate().write_public_pem(&tmp.path().join("other.pub"));
    let v = verify_fetched(
        &bundle_policy(&scope, "strict", &other, &root_path),
        &artifact,
        &found,
        SystemTime::now(),
    );
    assert_eq!(
        failed_reason(&v),
        (Check::Integrity, "signature".to_string()),
        "{v:#?}"
    );
    assert!(!v.allows_load());
    println!("bundle referrer, other key: {}", v.reason().unwrap());

    // A log the trusted root does not know: transparency.
    let stranger = CosignKey::generate();
    let unknown_log = serde_json::to_vec(&signing::sigstore_bundle(&key, &stranger, &manifest, now - 60))
        .unwrap();
    let v = verify_fetched(
        &strict,
        &artifact,
        &[FoundSignature::SigstoreBundle {
            bundle: unknown_log,
            media_type: signing::SIGSTORE_BUNDLE_V03.into(),
        }],
        SystemTime::now(),
    );
    assert_eq!(
        failed_reason(&v),
        (Check::Transparency, "Rekor inclusion proof".to_string()),
        "{v:#?}"
    );
    println!("bundle referrer, unknown log: {}", v.reason().unwrap());

    // Tampered in the registry: a second component whose referrer carries a bundle with the
    // signature of other bytes spliced in. Found like the first, refused at integrity.
    let repo2 = "components/bundled-tampered";
    let (fetcher2, artifact2) = publish(&registry, tmp.path(), repo2).await;
    let manifest2 = artifact2.manifest.clone().expect("manifest bytes");
    let mut tampered = signing::sigstore_bundle(&key, &log, &manifest2, now - 60);
    tampered["messageSignature"]["signature"] =
        serde_json::Value::String(key.sign_b64(b"something else"));
    let tampered = serde_json::to_vec(&tampered).unwrap();
    signing::push_sigstore_bundle_referrer(
        &registry,
        repo2,
        &artifact2.digest.to_string(),
        manifest2.len(),
        &tampered,
    )
    .await;
    let found2 = find(&fetcher2, &artifact2).await;
    assert_eq!(found2.len(), 1, "{found2:?}");
    let v = verify_fetched(&strict, &artifact2, &found2, SystemTime::now());
    assert_eq!(
        failed_reason(&v),
        (Check::Integrity, "signature".to_string()),
        "{v:#?}"
    );
    assert!(!v.allows_load());
    println!("bundle referrer, tampered: {}", v.reason().unwrap());

    // Rekor v2 shape (hashedrekord 0.0.2: no integrated time, no inclusion promise) and no
    // RFC 3161 timestamp: nothing authenticates when it was signed. Found through the
    // registry like the others, refused at authenticTimestamp, naming Rekor v2.
    let repo3 = "components/bundled-rekor2";
    let (fetcher3, artifact3) = publish(&registry, tmp.path(), repo3).await;
    let manifest3 = artifact3.manifest.clone().expect("manifest bytes");
    let mut v2 = signing::sigstore_bundle(&key, &log, &manifest3, now - 60);
    let v2_body = serde_json::to_vec(&serde_json::json!({
        "apiVersion": "0.0.2", "kind": "hashedrekord",
        "spec": { "hashedRekordV002": {
            "data": { "algorithm": "SHA2_256", "digest": v2["messageSignature"]["messageDigest"]["digest"] },
            "signature": { "content": v2["messageSignature"]["signature"],
                "verifier": { "publicKey": { "rawBytes": signing::b64(key.spki_der()) }, "keyDetails": "PKIX_ECDSA_P256_SHA_256" } }
        } }
    }))
    .unwrap();
    let entry = &mut v2["verificationMaterial"]["tlogEntries"][0];
    entry["kindVersion"]["version"] = "0.0.2".into();
    entry["integratedTime"] = "0".into();
    entry["canonicalizedBody"] = signing::b64(&v2_body).into();
    entry.as_object_mut().unwrap().remove("inclusionPromise");
    let v2 = serde_json::to_vec(&v2).unwrap();
    signing::push_sigstore_bundle_referrer(&registry, repo3, &artifact3.digest.to_string(), manifest3.len(), &v2).await;
    let found3 = find(&fetcher3, &artifact3).await;
    assert_eq!(found3.len(), 1, "{found3:?}");
    let v = verify_fetched(&strict, &artifact3, &found3, SystemTime::now());
    assert_eq!(failed_reason(&v), (Check::AuthenticTimestamp, "timestamp".to_string()), "{v:#?}");
    assert!(v.reason().unwrap().to_string().contains("Rekor v2"), "{v:#?}");
    assert!(!v.allows_load());
    println!("bundle referrer, Rekor v2 without a timestamp: {}", v.reason().unwrap());

    // The bundle does not vouch for another manifest (both repositories hold the same
    // fixture, hence the same digest: another digest is made up).
    let mut elsewhere = signatures::subject_of(&artifact);
    elsewhere.manifest_digest = Digest::of(b"another component manifest");
    let v = forage_policy::trust::verify(&strict, &elsewhere, &found, SystemTime::now());
    assert_eq!(
        failed_reason(&v),
        (Check::Integrity, "manifest digest".to_string()),
        "{v:#?}"
    );
}
