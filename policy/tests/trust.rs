//! The trust layer, end to end through `trust::verify`: the shared cosign vectors (real cosign
//! signatures), signatures made at run time (P-256, P-384, Ed25519, RSA, Rekor SETs from a
//! test log key), Notary envelopes through the driver, level semantics, configuration,
//! allowlists, and hostile input.
//!
//! `cargo test -p forage-policy --test trust -- --nocapture` prints every vector case and
//! the totals.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use forage_policy::Digest;
use forage_policy::trust::{
    self, Check, CheckStatus, FoundSignature, KeylessIdentity, Level, PolicyConfig, ReferenceMatch,
    SubjectRef, TrustConfig, TrustPolicy, Verdict, VerdictKind,
};
use serde_json::Value;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn cosign_dir() -> PathBuf {
    data().join("cosign")
}

/// 2026-01-01T00:00:00Z: fixed, so results do not depend on the clock.
fn t2026() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

const MANIFEST_MT: &str = "application/vnd.oci.image.manifest.v1+json";

fn policy_cfg(name: &str, level: Level) -> PolicyConfig {
    PolicyConfig {
        name: name.into(),
        registry_scopes: vec!["*".into()],
        level,
        trust_stores: vec![],
        trusted_identities: vec![],
        cosign_keys: vec![],
        rekor_keys: vec![],
        fulcio_roots: vec![],
        keyless_identities: vec![],
        reference_match: ReferenceMatch::Repository,
        sigstore_trusted_root: None,
        sigstore_require_timestamp: false,
        sigstore_predicate_types: None,
    }
}

fn compile(policies: Vec<PolicyConfig>, base: &Path) -> TrustPolicy {
    let cfg = TrustConfig {
        policies,
        ..TrustConfig::default()
    };
    TrustPolicy::from_config(&cfg, base).expect("test policy compiles")
}

/// `registry/repo[:tag]` → subject pieces (the first component is a registry when it looks
/// like a host, as docker does).
fn split_reference(r: &str) -> (String, String, Option<String>) {
    let (name, tag) = match r.rfind(':') {
        Some(i) if !r[i..].contains('/') => (&r[..i], Some(r[i + 1..].to_string())),
        _ => (r, None),
    };
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string(), tag)
        }
        _ => ("docker.io".to_string(), name.to_string(), tag),
    }
}

fn subject_for(reference: &str, manifest: &[u8]) -> SubjectRef {
    let (registry, repository, tag) = split_reference(reference);
    let mut s = SubjectRef::new(
        registry,
        repository,
        Digest::of(manifest),
        MANIFEST_MT,
        manifest.len() as u64,
    );
    s.tag = tag;
    s
}

/// A containers/image "sigstore-json" file → the layer the indexer would hand over.
fn load_sigstore_json(path: &Path) -> FoundSignature {
    let bytes = std::fs::read(path).unwrap();
    let json = bytes
        .strip_prefix(b"\x00sigstore-json\n")
        .expect("sigstore-json prefix");
    let v: Value = serde_json::from_slice(json).unwrap();
    let annotations: BTreeMap<String, String> = v["annotations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    FoundSignature::cosign_layer(
        v["mimeType"].as_str().unwrap(),
        B64.decode(v["payload"].as_str().unwrap()).unwrap(),
        &annotations,
    )
}

#[derive(Default)]
struct Tally {
    verified: usize,
    refused: usize,
    skipped: Vec<(String, String)>,
}

impl Tally {
    fn expect_verified(&mut self, case: &str, v: &Verdict) {
        assert!(
            v.is_verified() && v.allows_load(),
            "{case}: expected verified, got {:?}\nchecks: {:#?}",
            v.verdict,
            v.checks
        );
        println!(
            "  verified  {case}  (signer: {})",
            v.signer.as_deref().unwrap_or("-")
        );
        self.verified += 1;
    }

    fn expect_refused(&mut self, case: &str, v: &Verdict, step: &str) {
        let VerdictKind::Failed(r) = &v.verdict else {
            panic!("{case}: expected failure at {step:?}, got {:?}", v.verdict);
        };
        assert_eq!(r.step, step, "{case}: wrong failing step; reason: {r}");
        assert!(!v.allows_load(), "{case}: strict must refuse");
        assert!(
            r.message.contains(step),
            "{case}: message must name the check: {r}"
        );
        println!("  refused   {case}  ({r})");
        self.refused += 1;
    }

    /// For vectors that need a feature not built (none today): printed and counted, never passed.
    #[allow(dead_code)]
    fn skip(&mut self, case: &str, why: &str) {
        println!("  SKIPPED   {case}  ({why})");
        self.skipped.push((case.to_string(), why.to_string()));
    }
}

mod cosign_vectors {
    use super::*;

    fn strict_policy(vector: &Value, keys: &[&str], reference: &str) -> TrustPolicy {
        let mut p = policy_cfg("vectors", Level::Strict);
        p.cosign_keys = keys.iter().map(|k| k.to_string()).collect();
        if let Some(r) = vector["rekor_public_key"].as_str() {
            p.rekor_keys = vec![r.into()];
        }
        if let Some(root) = vector["fulcio_root"].as_str() {
            p.fulcio_roots = vec![root.into()];
            p.keyless_identities = vec![KeylessIdentity {
                issuer: vector["expected_oidc_issuer"].as_str().unwrap().into(),
                subject: vector["expected_subject_email"].as_str().unwrap().into(),
            }];
        }
        if split_reference(reference).2.is_some() {
            p.reference_match = ReferenceMatch::Exact;
        }
        compile(vec![p], &cosign_dir())
    }

    fn with(sig: &FoundSignature, f: impl FnOnce(&mut FoundSignature)) -> FoundSignature {
        let mut s = sig.clone();
        f(&mut s);
        s
    }

    fn run_bundle(dir: &Path, v: &Value) -> TrustPolicy {
        let mut p = policy_cfg("bundle", Level::Strict);
        p.sigstore_trusted_root = Some(v["trusted_root"].as_str().unwrap().into());
        p.keyless_identities = vec![KeylessIdentity {
            issuer: "https://github.com/login/oauth".into(),
            subject: "cody@soyland.com".into(),
        }];
        compile(vec![p], dir)
    }

    /// Edits of the bundle JSON that must each be refused at the named step.
    fn bundle_mutations(
        t: &mut Tally,
        _dir: &Path,
        bundle: &[u8],
        policy: &TrustPolicy,
        digest: &str,
    ) {
        let subject = SubjectRef::new(
            "127.0.0.1:60943",
            "repo",
            digest.parse().unwrap(),
            MANIFEST_MT,
            1,
        );
        let original: Value = serde_json::from_slice(bundle).unwrap();
        let entry = "/verificationMaterial/tlogEntries/0";
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, &str, Edit)> = vec![
            (
                "DSSE payload changed",
                "signature",
                Box::new(|b: &mut Value| {
                    let p = B64
                        .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
                        .unwrap();
                    let p = String::from_utf8(p).unwrap().replace("bar", "baz");
                    b["dsseEnvelope"]["payload"] = B64.encode(p).into();
                }),
            ),
            (
                "SET removed",
                "bundle",
                Box::new(move |b: &mut Value| {
                    b.pointer_mut(entry)
                        .unwrap()
                        .as_object_mut()
                        .unwrap()
                        .remove("inclusionPromise");
                }),
            ),
            (
                "integratedTime moved",
                "Rekor SET",
                Box::new(move |b: &mut Value| {
                    *b.pointer_mut(&format!("{entry}/integratedTime")).unwrap() =
                        "1740770292".into();
                }),
            ),
            (
                "inclusion proof hash changed",
                "Rekor inclusion proof",
                Box::new(move |b: &mut Value| {
                    *b.pointer_mut(&format!("{entry}/inclusionProof/hashes/0"))
                        .unwrap() = B64.encode([0u8; 32]).into();
                }),
            ),
            (
                "checkpoint for another root",
                "Rekor inclusion proof",
                Box::new(move |b: &mut Value| {
                    let cp = b
                        .pointer_mut(&format!("{entry}/inclusionProof/checkpoint/envelope"))
                        .unwrap();
                    let text = cp.as_str().unwrap().replacen("53604735", "53604736", 1);
                    *cp = text.into();
                }),
            ),
            (
                "tlog entries removed",
                "Rekor SET",
                Box::new(|b: &mut Value| {
                    b["verificationMaterial"]["tlogEntries"] = Value::Array(vec![]);
                }),
            ),
            (
                "certificate of another signer",
                "signature",
                Box::new(|b: &mut Value| {
                    let other = std::fs::read_to_string(
                        cosign_dir()
                            .join("derived/dir-img-cosign-fulcio-rekor-valid/certificate.pem"),
                    )
                    .unwrap();
                    let der = der::pem::decode_vec(other.trim().as_bytes()).unwrap().1;
                    b["verificationMaterial"]["certificate"]["rawBytes"] = B64.encode(der).into();
                }),
            ),
            (
                "messageSignature instead of DSSE",
                "bundle",
                Box::new(|b: &mut Value| {
                    b["messageSignature"] =
                        serde_json::json!({"messageDigest": {}, "signature": "AA=="});
                }),
            ),
        ];
        for (case, step, f) in cases {
            let mut b = original.clone();
            f(&mut b);
            let verdict = trust::verify(
                policy,
                &subject,
                &[FoundSignature::SigstoreBundle {
                    bundle: serde_json::to_vec(&b).unwrap(),
                    media_type: trust::SIGSTORE_BUNDLE_V03_MEDIA_TYPE.into(),
                }],
                t2026(),
            );
            t.expect_refused(&format!("bundle mutation / {case}"), &verdict, step);
        }
    }

    #[test]
    fn cosign_reference_vectors() {
        let dir = cosign_dir();
        let doc: Value =
            serde_json::from_slice(&std::fs::read(dir.join("vectors.json")).unwrap()).unwrap();
        let mut t = Tally::default();
        println!("cosign vectors ({}):", dir.display());
        for v in doc["vectors"].as_array().unwrap() {
            let id = v["id"].as_str().unwrap();
            if let Some(bundle_path) = v["bundle"].as_str() {
                // Sigstore bundle v0.3 (DSSE in-toto statement + Rekor dsse entry), verified
                // against trusted_root.json. The vector's identity is regexp `.*`; forage pins
                // identities exactly, so the policy names the certificate's own.
                let bundle = std::fs::read(dir.join(bundle_path)).unwrap();
                let run = |identity: &str, digest: &str| {
                    let mut p = policy_cfg("bundle", Level::Strict);
                    p.sigstore_trusted_root = Some(v["trusted_root"].as_str().unwrap().into());
                    p.keyless_identities = vec![KeylessIdentity {
                        issuer: "https://github.com/login/oauth".into(),
                        subject: identity.into(),
                    }];
                    trust::verify(
                        &compile(vec![p], &dir),
                        &SubjectRef::new(
                            "127.0.0.1:60943",
                            "repo",
                            digest.parse().unwrap(),
                            MANIFEST_MT,
                            1,
                        ),
                        &[FoundSignature::SigstoreBundle {
                            bundle: bundle.clone(),
                            media_type: trust::SIGSTORE_BUNDLE_V03_MEDIA_TYPE.into(),
                        }],
                        t2026(),
                    )
                };
                let digest = v["artifact_digest"].as_str().unwrap();
                t.expect_verified(id, &run("cody@soyland.com", digest));
                t.expect_refused(
                    &format!("{id} / subject_regexp=wrong"),
                    &run("wrong", digest),
                    "keyless identity",
                );
                let other =
                    "sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a";
                t.expect_refused(
                    &format!("{id} / artifact digest of a different image"),
                    &run("cody@soyland.com", other),
                    "manifest digest",
                );
                // Without a trusted root the bundle cannot count, even under a cosign key.
                let mut p = policy_cfg("b", Level::Strict);
                p.cosign_keys = vec!["containers-image/cosign.pub".into()];
                let verdict = trust::verify(
                    &compile(vec![p], &dir),
                    &SubjectRef::new(
                        "127.0.0.1:60943",
                        "repo",
                        digest.parse().unwrap(),
                        MANIFEST_MT,
                        1,
                    ),
                    &[FoundSignature::SigstoreBundle {
                        bundle: bundle.clone(),
                        media_type: trust::SIGSTORE_BUNDLE_V03_MEDIA_TYPE.into(),
                    }],
                    t2026(),
                );
                assert!(
                    matches!(verdict.verdict, VerdictKind::Unverified(_)),
                    "{id}: {:?}",
                    verdict.verdict
                );
                assert!(!verdict.allows_load());
                bundle_mutations(&mut t, &dir, &bundle, &run_bundle(&dir, v), digest);
                continue;
            }
            let manifest = std::fs::read(dir.join(v["image_manifest"].as_str().unwrap())).unwrap();
            if let Some(d) = v["expected_manifest_digest"].as_str() {
                assert_eq!(
                    Digest::of(&manifest).to_string(),
                    d,
                    "{id}: manifest digest"
                );
            }
            let reference = v["expected_docker_reference"]
                .as_str()
                .unwrap_or("192.168.64.2:5000/cosign-signed-single-sample");
            let subject = subject_for(reference, &manifest);
            let sig_paths: Vec<&str> = match v.get("signatures") {
                Some(list) => list
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap())
                    .collect(),
                None => vec![v["signature"].as_str().unwrap()],
            };
            let sigs: Vec<FoundSignature> = sig_paths
                .iter()
                .map(|p| load_sigstore_json(&dir.join(p)))
                .collect();
            // The derived convenience files must be exactly what the layer carries.
            if let (
                Some(p),
                FoundSignature::Cosign {
                    payload,
                    signature_b64,
                    bundle,
                    ..
                },
            ) = (v["payload"].as_str(), &sigs[0])
            {
                assert_eq!(
                    &std::fs::read(dir.join(p)).unwrap(),
                    payload,
                    "{id}: derived payload"
                );
                if let Some(b) = v["signature_b64"].as_str() {
                    assert_eq!(
                        std::fs::read_to_string(dir.join(b)).unwrap().trim(),
                        signature_b64.trim()
                    );
                }
                if let Some(b) = v["rekor_bundle"].as_str() {
                    assert_eq!(
                        std::fs::read_to_string(dir.join(b)).unwrap().trim(),
                        bundle.as_deref().unwrap().trim()
                    );
                }
            }
            let keys: Vec<&str> = match v.get("public_keys") {
                Some(list) => list
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap())
                    .collect(),
                None => v["public_key"].as_str().into_iter().collect(),
            };
            let policy = strict_policy(v, &keys, reference);
            let verdict = trust::verify(&policy, &subject, &sigs, t2026());
            let expected = v["expected"].as_str().unwrap();
            if expected.starts_with("valid") {
                t.expect_verified(id, &verdict);
            } else {
                t.expect_refused(id, &verdict, v["failing_check"].as_str().unwrap());
            }

            // Extra verdicts the vector states.
            match id {
                "cosign-keyed-valid-any-of-two-keys" => {
                    let rev: Vec<&str> = keys.iter().rev().copied().collect();
                    let p = strict_policy(v, &rev, reference);
                    t.expect_verified(
                        &format!("{id} / keys reversed"),
                        &trust::verify(&p, &subject, &sigs, t2026()),
                    );
                }
                "cosign-mixed-invalid-then-valid" => {
                    let verdict = trust::verify(&policy, &subject, &sigs[..1], t2026());
                    t.expect_refused(&format!("{id} / signature-1 alone"), &verdict, "signature");
                    // The failing signature stays visible as evidence next to the verified one.
                    let all = trust::verify(&policy, &subject, &sigs, t2026());
                    assert!(
                        all.checks
                            .iter()
                            .any(|c| c.signature == Some(0) && c.status == CheckStatus::Failed)
                    );
                }
                "cosign-signed-by-containers-image" => {
                    let other = "192.168.64.2:5000/skopeo-signed:othertag";
                    let p = strict_policy(v, &keys, other);
                    let verdict = trust::verify(&p, &subject_for(other, &manifest), &sigs, t2026());
                    t.expect_refused(
                        &format!("{id} / expected_docker_reference=:othertag"),
                        &verdict,
                        "docker-reference identity",
                    );
                    // Default (repository) matching accepts any tag of the repository.
                    let mut pc = policy_cfg("repo", Level::Strict);
                    pc.cosign_keys = keys.iter().map(|k| k.to_string()).collect();
                    let verdict = trust::verify(
                        &compile(vec![pc], &dir),
                        &subject_for(other, &manifest),
                        &sigs,
                        t2026(),
                    );
                    t.expect_verified(
                        &format!("{id} / reference_match=repository, :othertag"),
                        &verdict,
                    );
                }
                "cosign-fulcio-rekor-valid" => {
                    for (case, step, f) in [
                        (
                            "without dev.sigstore.cosign/bundle annotation",
                            "Rekor SET",
                            0,
                        ),
                        ("without certificate annotation", "Fulcio certificate", 1),
                        ("without chain annotation", "Fulcio chain", 2),
                    ] {
                        let s = with(&sigs[0], |s| {
                            if let FoundSignature::Cosign {
                                bundle,
                                certificate,
                                chain,
                                ..
                            } = s
                            {
                                match f {
                                    0 => *bundle = None,
                                    1 => *certificate = None,
                                    _ => *chain = None,
                                }
                            }
                        });
                        let verdict = trust::verify(&policy, &subject, &[s], t2026());
                        t.expect_refused(&format!("{id} / {case}"), &verdict, step);
                    }
                    // A trusted identity other than the certificate's.
                    let mut other = v.clone();
                    other["expected_subject_email"] = "someone-else@example.com".into();
                    let p = strict_policy(&other, &keys, reference);
                    t.expect_refused(
                        &format!("{id} / other keyless identity"),
                        &trust::verify(&p, &subject, &sigs, t2026()),
                        "keyless identity",
                    );
                }
                _ => {}
            }
        }

        // Upstream's mutation tests (README "Suggested mutation tests").
        let valid =
            load_sigstore_json(&dir.join("containers-image/dir-img-cosign-valid/signature-1"));
        let manifest =
            std::fs::read(dir.join("containers-image/dir-img-cosign-valid/manifest.json")).unwrap();
        let subject = subject_for("192.168.64.2:5000/cosign-signed-single-sample", &manifest);
        let mut p = policy_cfg("m", Level::Strict);
        p.cosign_keys = vec!["containers-image/cosign.pub".into()];
        let policy = compile(vec![p], &dir);
        let s = with(&valid, |s| {
            if let FoundSignature::Cosign { signature_b64, .. } = s {
                *signature_b64 = B64.encode("invalid signature");
            }
        });
        t.expect_refused(
            "mutation / signature = base64(\"invalid signature\")",
            &trust::verify(&policy, &subject, &[s], t2026()),
            "signature",
        );

        let key_rekor = load_sigstore_json(
            &dir.join("containers-image/dir-img-cosign-key-rekor-valid/signature-1"),
        );
        let fulcio = load_sigstore_json(
            &dir.join("containers-image/dir-img-cosign-fulcio-rekor-valid/signature-1"),
        );
        let kr_manifest = std::fs::read(
            dir.join("containers-image/dir-img-cosign-key-rekor-valid/manifest.json"),
        )
        .unwrap();
        let kr_subject = subject_for("192.168.64.2:5000/cosign-signed/key-1", &kr_manifest);
        let mut p = policy_cfg("kr", Level::Strict);
        p.cosign_keys = vec!["containers-image/cosign2.pub".into()];
        p.rekor_keys = vec!["containers-image/rekor.pub".into()];
        let kr_policy = compile(vec![p], &dir);
        let FoundSignature::Cosign {
            bundle: Some(kr_bundle),
            ..
        } = &key_rekor
        else {
            unreachable!()
        };
        let mut set: Value = serde_json::from_str(kr_bundle).unwrap();
        set["Payload"]["integratedTime"] =
            (set["Payload"]["integratedTime"].as_i64().unwrap() + 1).into();
        let s = with(&key_rekor, |s| {
            if let FoundSignature::Cosign { bundle, .. } = s {
                *bundle = Some(set.to_string());
            }
        });
        t.expect_refused(
            "mutation / key+Rekor with a modified SET payload",
            &trust::verify(&kr_policy, &kr_subject, &[s], t2026()),
            "Rekor SET",
        );
        let FoundSignature::Cosign {
            bundle: fulcio_bundle,
            ..
        } = &fulcio
        else {
            unreachable!()
        };
        let s = with(&key_rekor, |s| {
            if let FoundSignature::Cosign { bundle, .. } = s {
                *bundle = fulcio_bundle.clone();
            }
        });
        t.expect_refused(
            "mutation / SET of another signature",
            &trust::verify(&kr_policy, &kr_subject, &[s], t2026()),
            "Rekor SET",
        );
        let s = with(&key_rekor, |s| {
            if let FoundSignature::Cosign { bundle, .. } = s {
                *bundle = None;
            }
        });
        t.expect_refused(
            "mutation / key+Rekor policy, bundle removed",
            &trust::verify(&kr_policy, &kr_subject, &[s], t2026()),
            "Rekor SET",
        );

        println!(
            "cosign vectors: verified {}   refused {}   skipped {}",
            t.verified,
            t.refused,
            t.skipped.len()
        );
        for (case, why) in &t.skipped {
            println!("  skipped: {case}: {why}");
        }
        assert!(t.skipped.is_empty(), "nothing is skipped: {:?}", t.skipped);
        assert!(t.verified >= 8 && t.refused >= 6);
    }
}

/// Signing at run time with keys generated in the test.
mod runtime_signing {
    use super::*;
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    use signature::Signer as _;

    pub(crate) const REF: &str = "127.0.0.1:5000/components/clock";

    pub(crate) fn manifest(n: u8) -> Vec<u8> {
        format!(r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_MT}","layers":[],"n":{n}}}"#)
            .into_bytes()
    }

    pub(crate) fn payload(reference: &str, digest: &Digest) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":{{"creator":"forage test"}}}}"#
        )
        .into_bytes()
    }

    pub(crate) fn layer(payload: Vec<u8>, sig: &[u8]) -> FoundSignature {
        FoundSignature::Cosign {
            payload,
            signature_b64: B64.encode(sig),
            bundle: None,
            certificate: None,
            chain: None,
            media_type: trust::cosign::SIMPLE_SIGNING_MEDIA_TYPE.into(),
        }
    }

    pub(crate) struct P256Key {
        sk: p256::ecdsa::SigningKey,
    }

    impl P256Key {
        pub(crate) fn generate() -> Self {
            P256Key {
                sk: p256::ecdsa::SigningKey::random(&mut rand_core::OsRng),
            }
        }
        pub(crate) fn pem(&self) -> String {
            self.sk
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap()
        }
        pub(crate) fn sign(&self, msg: &[u8]) -> Vec<u8> {
            let s: p256::ecdsa::Signature = self.sk.sign(msg);
            s.to_der().as_bytes().to_vec()
        }
    }

    pub(crate) fn policy_with_key(level: Level, pem: &str) -> TrustPolicy {
        let mut p = policy_cfg("runtime", level);
        p.cosign_keys = vec![pem.to_string()];
        compile(vec![p], Path::new("."))
    }

    fn failing_step(v: &Verdict) -> &str {
        match &v.verdict {
            VerdictKind::Failed(r) => &r.step,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn p256_sign_verify_and_each_way_to_fail() {
        let key = P256Key::generate();
        let m = manifest(1);
        let subject = subject_for(REF, &m);
        let policy = policy_with_key(Level::Strict, &key.pem());
        let good_payload = payload(REF, &subject.manifest_digest);
        let good = layer(good_payload.clone(), &key.sign(&good_payload));

        let v = trust::verify(&policy, &subject, std::slice::from_ref(&good), t2026());
        assert!(v.is_verified() && v.allows_load(), "{:?}", v.verdict);
        assert!(
            v.signer
                .as_deref()
                .unwrap()
                .starts_with("cosign key (inline PEM)")
        );
        assert_eq!(v.scope, "*");
        assert_eq!(v.policy, "runtime");

        // Tampered payload: the signed bytes changed after signing.
        let mut tampered = good_payload.clone();
        let pos = tampered.windows(5).position(|w| w == b"clock").unwrap();
        tampered[pos] = b'b';
        let v = trust::verify(
            &policy,
            &subject,
            &[layer(tampered, &key.sign(&good_payload))],
            t2026(),
        );
        assert_eq!(failing_step(&v), "signature");
        assert!(!v.allows_load());

        // A genuine signature over another digest.
        let other = payload(REF, &Digest::of(&manifest(2)));
        let v = trust::verify(
            &policy,
            &subject,
            &[layer(other.clone(), &key.sign(&other))],
            t2026(),
        );
        assert_eq!(failing_step(&v), "manifest digest");
        assert!(
            v.reason()
                .unwrap()
                .message
                .contains(&subject.manifest_digest.to_string())
        );

        // Signed by a key the policy does not trust.
        let stranger = P256Key::generate();
        let v = trust::verify(
            &policy,
            &subject,
            &[layer(good_payload.clone(), &stranger.sign(&good_payload))],
            t2026(),
        );
        assert_eq!(failing_step(&v), "signature");

        // Signed for another repository.
        let wrong = payload("127.0.0.1:5000/components/evil", &subject.manifest_digest);
        let v = trust::verify(
            &policy,
            &subject,
            &[layer(wrong.clone(), &key.sign(&wrong))],
            t2026(),
        );
        assert_eq!(failing_step(&v), "docker-reference identity");
        assert_eq!(v.reason().unwrap().check, Check::Authenticity);

        // Wrong critical.type.
        let typed = String::from_utf8(good_payload.clone())
            .unwrap()
            .replace("cosign container image signature", "something else");
        let v = trust::verify(
            &policy,
            &subject,
            &[layer(
                typed.clone().into_bytes(),
                &key.sign(typed.as_bytes()),
            )],
            t2026(),
        );
        assert_eq!(failing_step(&v), "payload type");

        // Unknown field in `critical` is refused (it might carry a constraint we do not know).
        let extra = String::from_utf8(good_payload.clone())
            .unwrap()
            .replace("\"critical\":{", "\"critical\":{\"extra\":1,");
        let v = trust::verify(
            &policy,
            &subject,
            &[layer(
                extra.clone().into_bytes(),
                &key.sign(extra.as_bytes()),
            )],
            t2026(),
        );
        assert_eq!(failing_step(&v), "payload type");

        // Another attachment type with a valid signature is still not a signature.
        let mut not_sig = good.clone();
        if let FoundSignature::Cosign { media_type, .. } = &mut not_sig {
            *media_type = "text/plain".into();
        }
        let v = trust::verify(&policy, &subject, &[not_sig], t2026());
        assert_eq!(failing_step(&v), "payload type");

        // One bad and one good signature: verified, the bad one still reported.
        let v = trust::verify(
            &policy,
            &subject,
            &[
                layer(good_payload.clone(), &stranger.sign(&good_payload)),
                good.clone(),
            ],
            t2026(),
        );
        assert!(v.is_verified());
        assert!(
            v.checks
                .iter()
                .any(|c| c.signature == Some(0) && c.status == CheckStatus::Failed)
        );
    }

    #[test]
    fn downgrade_and_level_semantics() {
        let key = P256Key::generate();
        let m = manifest(3);
        let subject = subject_for(REF, &m);
        let p = payload(REF, &subject.manifest_digest);
        let good = layer(p.clone(), &key.sign(&p));
        let bad = layer(p.clone(), &P256Key::generate().sign(&p));

        // strict + no signature: refused, with its own reason (not a signature failure).
        let strict = policy_with_key(Level::Strict, &key.pem());
        let v = trust::verify(&strict, &subject, &[], t2026());
        let VerdictKind::Unverified(r) = &v.verdict else {
            panic!("{:?}", v.verdict)
        };
        assert_eq!(r.check, Check::SignaturePresent);
        assert_eq!(r.step, "no signature");
        assert!(r.message.contains("strict"), "{r}");
        assert!(!v.allows_load());

        let expect = |level: Level, sigs: &[FoundSignature], kind: &str, loads: bool| {
            let v = trust::verify(&policy_with_key(level, &key.pem()), &subject, sigs, t2026());
            assert_eq!(
                v.kind_str(),
                kind,
                "{level} with {} signature(s)",
                sigs.len()
            );
            assert_eq!(v.allows_load(), loads, "{level}: {:?}", v.verdict);
            assert_eq!(v.level, level);
            v
        };
        // | level      | verified | unsigned         | bad signature   |
        expect(Level::Strict, std::slice::from_ref(&good), "verified", true);
        expect(Level::Strict, &[], "unverified", false);
        expect(Level::Strict, std::slice::from_ref(&bad), "failed", false);
        expect(
            Level::Permissive,
            std::slice::from_ref(&good),
            "verified",
            true,
        );
        let v = expect(Level::Permissive, &[], "unverified", true);
        assert!(
            !v.warnings().is_empty(),
            "permissive warns when loading unsigned"
        );
        expect(
            Level::Permissive,
            std::slice::from_ref(&bad),
            "failed",
            false,
        );
        expect(Level::Audit, std::slice::from_ref(&good), "verified", true);
        expect(Level::Audit, &[], "unverified", true);
        let v = expect(Level::Audit, std::slice::from_ref(&bad), "failed", true);
        assert!(
            v.checks.iter().any(|c| c.status == CheckStatus::Logged),
            "audit logs rather than enforces"
        );
        assert!(
            v.warnings()
                .iter()
                .any(|w| w.contains("loaded at level audit"))
        );
        let mut skip = policy_cfg("skip", Level::Skip);
        skip.cosign_keys = vec![key.pem()];
        let v = trust::verify(
            &compile(vec![skip], Path::new(".")),
            &subject,
            std::slice::from_ref(&bad),
            t2026(),
        );
        assert_eq!(v.verdict, VerdictKind::Skipped);
        assert!(v.allows_load());

        // Strict, but the only signature is of a kind the policy has no material for.
        let mut notary_only = policy_cfg("n", Level::Strict);
        notary_only.trust_stores = vec!["ca:e2e".into()];
        notary_only.trusted_identities = vec!["*".into()];
        let cfg = TrustConfig {
            trust_stores: BTreeMap::from([(
                "ca:e2e".into(),
                vec!["notary/notation-e2e/config/localkeys/e2e.crt".into()],
            )]),
            policies: vec![notary_only],
            ..TrustConfig::default()
        };
        let v = trust::verify(
            &TrustPolicy::from_config(&cfg, &data()).unwrap(),
            &subject,
            std::slice::from_ref(&good),
            t2026(),
        );
        let VerdictKind::Unverified(r) = &v.verdict else {
            panic!("{:?}", v.verdict)
        };
        assert_eq!(r.step, "no checkable signature");
        assert!(r.message.contains("no cosign_keys"), "{r}");
        assert!(!v.allows_load());

        // No configured policy at all: the permissive default.
        let v = trust::verify(&TrustPolicy::default(), &subject, &[], t2026());
        assert_eq!(
            (v.level, v.policy.as_str(), v.scope.as_str()),
            (Level::Permissive, "default", "*")
        );
        assert!(v.allows_load());
    }

    #[test]
    fn p384_ed25519_rsa_keys() {
        use p384::pkcs8::EncodePublicKey as _;
        let m = manifest(4);
        let subject = subject_for(REF, &m);
        let p = payload(REF, &subject.manifest_digest);

        let sk384 = p384::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let pem384 = sk384
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let sig: p384::ecdsa::Signature = sk384.sign(&p);
        let v = trust::verify(
            &policy_with_key(Level::Strict, &pem384),
            &subject,
            &[layer(p.clone(), sig.to_der().as_bytes())],
            t2026(),
        );
        assert!(v.is_verified(), "P-384: {:?}", v.verdict);

        let ed = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let mut spki = hex::decode("302a300506032b6570032100").unwrap();
        spki.extend_from_slice(ed.verifying_key().as_bytes());
        let pem_ed =
            der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, &spki).unwrap();
        let sig = ed.sign(&p);
        let policy = policy_with_key(Level::Strict, &pem_ed);
        let v = trust::verify(
            &policy,
            &subject,
            &[layer(p.clone(), &sig.to_bytes())],
            t2026(),
        );
        assert!(v.is_verified(), "Ed25519: {:?}", v.verdict);
        let mut bad = sig.to_bytes();
        bad[3] ^= 1;
        assert!(
            !trust::verify(&policy, &subject, &[layer(p.clone(), &bad)], t2026()).is_verified()
        );

        let rsa_key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        let pem_rsa = rsa::RsaPublicKey::from(&rsa_key)
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa_key);
        let sig: rsa::pkcs1v15::Signature = signer.sign(&p);
        let policy = policy_with_key(Level::Strict, &pem_rsa);
        let v = trust::verify(
            &policy,
            &subject,
            &[layer(p.clone(), &Box::<[u8]>::from(sig.clone()))],
            t2026(),
        );
        assert!(v.is_verified(), "RSA: {:?}", v.verdict);
        let other = payload(REF, &Digest::of(b"x"));
        let v = trust::verify(
            &policy,
            &subject,
            &[layer(p.clone(), &Box::<[u8]>::from(signer.sign(&other)))],
            t2026(),
        );
        assert!(!v.is_verified());
    }

    /// A Rekor SET from a test log key, over a hashedrekord entry for this signature.
    pub(crate) fn rekor_bundle(
        log: &P256Key,
        payload: &[u8],
        sig: &[u8],
        key_pem: &str,
        integrated: i64,
    ) -> String {
        let body = serde_json::json!({
            "apiVersion": "0.0.1", "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(payload))}},
                "signature": {"content": B64.encode(sig), "publicKey": {"content": B64.encode(key_pem)}}
            }
        });
        let log_der = log.sk.verifying_key().to_public_key_der().unwrap();
        let log_id = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(log_der.as_bytes()));
        let body_b64 = B64.encode(body.to_string());
        let canonical = format!(
            r#"{{"body":"{body_b64}","integratedTime":{integrated},"logID":"{log_id}","logIndex":42}}"#
        );
        let set = log.sign(canonical.as_bytes());
        serde_json::json!({
            "SignedEntryTimestamp": B64.encode(set),
            "Payload": {"body": body_b64, "integratedTime": integrated, "logIndex": 42, "logID": log_id}
        })
        .to_string()
    }

    #[test]
    fn rekor_set_from_a_test_log() {
        let key = P256Key::generate();
        let log = P256Key::generate();
        let m = manifest(5);
        let subject = subject_for(REF, &m);
        let p = payload(REF, &subject.manifest_digest);
        let sig = key.sign(&p);
        let mut pc = policy_cfg("rekor", Level::Strict);
        pc.cosign_keys = vec![key.pem()];
        pc.rekor_keys = vec![log.pem()];
        let policy = compile(vec![pc], Path::new("."));
        let now = t2026().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let with_bundle = |b: String| {
            let mut l = layer(p.clone(), &sig);
            if let FoundSignature::Cosign { bundle, .. } = &mut l {
                *bundle = Some(b);
            }
            l
        };
        let v = trust::verify(
            &policy,
            &subject,
            &[with_bundle(rekor_bundle(
                &log,
                &p,
                &sig,
                &key.pem(),
                now - 60,
            ))],
            t2026(),
        );
        assert!(v.is_verified(), "{:?}", v.verdict);
        assert!(
            v.checks
                .iter()
                .any(|c| c.check == Check::Transparency && c.status == CheckStatus::Passed)
        );

        let step = |b: String| match trust::verify(&policy, &subject, &[with_bundle(b)], t2026())
            .verdict
        {
            VerdictKind::Failed(r) => (r.step, r.message),
            other => panic!("{other:?}"),
        };
        // Signed by another log.
        let (s, _) = step(rekor_bundle(
            &P256Key::generate(),
            &p,
            &sig,
            &key.pem(),
            now,
        ));
        assert_eq!(s, "Rekor SET");
        // Entry for another key.
        let (s, m) = step(rekor_bundle(
            &log,
            &p,
            &sig,
            &P256Key::generate().pem(),
            now,
        ));
        assert_eq!(s, "Rekor SET");
        assert!(m.contains("different key"), "{m}");
        // Entry for another payload.
        let (_, m) = step(rekor_bundle(&log, b"other", &sig, &key.pem(), now));
        assert!(m.contains("sha256 of this payload"), "{m}");
        // Integrated in the future.
        let (_, m) = step(rekor_bundle(&log, &p, &sig, &key.pem(), now + 86_400));
        assert!(m.contains("after the verification time"), "{m}");
        // Garbage.
        assert_eq!(step("{".into()).0, "Rekor SET");
    }
}

mod notary_through_driver {
    use super::*;

    const TARGET: &str = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
    const VALID: &str = "notary/notation-e2e/oci_layout/e2e-valid-signature/blobs/sha256/c9af07e038b2b1a463e648986ad7273157511ffeba0b689f33e5472bae471f50";
    const EXPIRED: &str = "notary/notation-e2e/oci_layout/e2e-expired-signature/blobs/sha256/b5f927564088f65dad86c81bcdd0b55415a8b4c9a0a5391107210e0cdb305cc7";
    const INVALID: &str = "notary/notation-e2e/oci_layout/e2e-invalid-signature/blobs/sha256/9a8decdf3775708f4eed16859f19561d730cad40b1af0dcfc37ac1e5f879a934";

    fn policy(level: Level, cert: &str, identities: &[&str]) -> TrustPolicy {
        let mut p = policy_cfg("notary", level);
        p.registry_scopes = vec!["localhost:5000/e2e".into()];
        p.trust_stores = vec!["ca:e2e".into()];
        p.trusted_identities = identities.iter().map(|s| s.to_string()).collect();
        let cfg = TrustConfig {
            trust_stores: BTreeMap::from([(
                "ca:e2e".into(),
                vec![format!("notary/notation-e2e/config/localkeys/{cert}")],
            )]),
            policies: vec![p],
            ..TrustConfig::default()
        };
        TrustPolicy::from_config(&cfg, &data()).unwrap()
    }

    fn subject(digest: &str) -> SubjectRef {
        SubjectRef::new(
            "localhost:5000",
            "e2e",
            digest.parse().unwrap(),
            MANIFEST_MT,
            517,
        )
    }

    fn envelope(path: &str, media_type: &str) -> FoundSignature {
        let bytes = std::fs::read(data().join(path)).unwrap();
        let sig =
            FoundSignature::referrer_layer(trust::NOTARY_ARTIFACT_TYPE, media_type, bytes.clone())
                .unwrap();
        assert_eq!(
            sig,
            FoundSignature::Notary {
                envelope: bytes.clone(),
                media_type: media_type.into(),
            }
        );
        // Referrers that are not signatures are not handed to the verifier.
        assert!(
            FoundSignature::referrer_layer("application/spdx+json", "application/spdx+json", bytes)
                .is_none()
        );
        sig
    }

    #[test]
    fn notary_envelopes() {
        let mut t = Tally::default();
        println!("notary through trust::verify:");
        let valid = envelope(VALID, "application/jose+json");
        let p = policy(Level::Strict, "e2e.crt", &["*"]);
        let v = trust::verify(&p, &subject(TARGET), std::slice::from_ref(&valid), t2026());
        t.expect_verified("e2e-valid-signature (strict)", &v);
        assert!(
            v.signer.as_deref().unwrap().contains("CN=e2e"),
            "{:?}",
            v.signer
        );
        assert_eq!(v.scope, "localhost:5000/e2e");

        let id = "x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=e2e";
        t.expect_verified(
            "e2e-valid-signature, trusted identity by subject",
            &trust::verify(
                &policy(Level::Strict, "e2e.crt", &[id]),
                &subject(TARGET),
                std::slice::from_ref(&valid),
                t2026(),
            ),
        );
        let other_id = "x509.subject: C=US, ST=WA, O=Someone Else";
        t.expect_refused(
            "e2e-valid-signature, other trusted identity",
            &trust::verify(
                &policy(Level::Strict, "e2e.crt", &[other_id]),
                &subject(TARGET),
                std::slice::from_ref(&valid),
                t2026(),
            ),
            "authenticity",
        );

        let untrusted = policy(Level::Strict, "new_e2e.crt", &["*"]);
        t.expect_refused(
            "e2e-valid-signature-untrusted-store",
            &trust::verify(
                &untrusted,
                &subject(TARGET),
                std::slice::from_ref(&valid),
                t2026(),
            ),
            "authenticity",
        );
        // permissive enforces authenticity too; audit loads and records.
        assert!(
            !trust::verify(
                &policy(Level::Permissive, "new_e2e.crt", &["*"]),
                &subject(TARGET),
                std::slice::from_ref(&valid),
                t2026()
            )
            .allows_load()
        );
        let v = trust::verify(
            &policy(Level::Audit, "new_e2e.crt", &["*"]),
            &subject(TARGET),
            std::slice::from_ref(&valid),
            t2026(),
        );
        assert_eq!(v.kind_str(), "failed");
        assert!(v.allows_load());

        let other = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
        t.expect_refused(
            "e2e-valid-signature for another digest",
            &trust::verify(&p, &subject(other), std::slice::from_ref(&valid), t2026()),
            "integrity",
        );

        let expired = envelope(EXPIRED, "application/jose+json");
        t.expect_refused(
            "e2e-expired-signature (strict)",
            &trust::verify(
                &p,
                &subject(TARGET),
                std::slice::from_ref(&expired),
                t2026(),
            ),
            "expiry",
        );
        // Permissive logs expiry: verified, with the warning kept.
        let v = trust::verify(
            &policy(Level::Permissive, "e2e.crt", &["*"]),
            &subject(TARGET),
            std::slice::from_ref(&expired),
            t2026(),
        );
        t.expect_verified("e2e-expired-signature (permissive: expiry logged)", &v);
        assert!(
            v.checks
                .iter()
                .any(|c| c.check == Check::Expiry && c.status == CheckStatus::Logged)
        );
        assert!(!v.warnings().is_empty());

        let invalid = envelope(INVALID, "application/vnd.oci.image.layer.v1.tar");
        t.expect_refused(
            "e2e-invalid-signature",
            &trust::verify(&p, &subject(TARGET), &[invalid], t2026()),
            "integrity",
        );

        // Notary and cosign side by side: either kind can verify the component.
        let mixed = trust::verify(
            &p,
            &subject(TARGET),
            &[runtime_signing::layer(b"{}".to_vec(), b"x"), valid.clone()],
            t2026(),
        );
        assert!(mixed.is_verified());

        // Outside the policy's scope, the notary material does not apply.
        let v = trust::verify(
            &p,
            &SubjectRef::new(
                "localhost:5000",
                "elsewhere",
                TARGET.parse().unwrap(),
                MANIFEST_MT,
                517,
            ),
            std::slice::from_ref(&valid),
            t2026(),
        );
        assert_eq!(v.policy, "default");
        assert_eq!(v.kind_str(), "unverified");
        println!(
            "notary through the driver: verified {}   refused {}   skipped 0",
            t.verified, t.refused
        );
    }

    /// A notation configuration directory in a temp dir: `trustpolicy*.json` files copied
    /// from the notation e2e policies, and `truststore/x509/ca/<name>/` stores.
    fn notation_dir(files: &[(&str, &str)], stores: &[(&str, Option<&str>)]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let conf = tmp.path().join("notation");
        std::fs::create_dir_all(&conf).unwrap();
        for (name, from) in files {
            std::fs::copy(data().join(from), conf.join(name)).unwrap();
        }
        for (store, cert) in stores {
            let d = conf.join("truststore/x509/ca").join(store);
            std::fs::create_dir_all(&d).unwrap();
            if let Some(c) = cert {
                std::fs::copy(data().join(c), d.join("cert.crt")).unwrap();
            }
        }
        tmp
    }

    fn notation_cfg(entry: &str) -> TrustConfig {
        TrustConfig {
            notation_policy: Some(entry.into()),
            ..TrustConfig::default()
        }
    }

    const E2E_POLICIES: &str = "notary/notation-e2e/trustpolicies";
    const E2E_CERT: &str = "notary/notation-e2e/config/localkeys/e2e.crt";

    /// `[trust] notation_policy`: Notation 2's `trustpolicy.oci.json` (and the older
    /// `trustpolicy.json`) translated into forage policies, with notation's trust store
    /// directory or `[trust.trust_stores]`.
    #[test]
    fn notation_policy_files() {
        let mut t = Tally::default();
        println!("notation trust policy files:");
        let valid = envelope(VALID, "application/jose+json");
        let invalid = envelope(INVALID, "application/vnd.oci.image.layer.v1.tar");
        let e2e = |f: &str| format!("{E2E_POLICIES}/{f}");

        // Notation 2 layout: trustpolicy.oci.json + truststore/x509/ca/e2e/.
        let tmp = notation_dir(
            &[("trustpolicy.oci.json", &e2e("trustpolicy.json"))],
            &[("e2e", Some(E2E_CERT))],
        );
        let policy = TrustPolicy::from_config(&notation_cfg("notation"), tmp.path()).unwrap();
        let v = trust::verify(&policy, &subject(TARGET), std::slice::from_ref(&valid), t2026());
        t.expect_verified("trustpolicy.oci.json (dir) / e2e-valid-signature", &v);
        assert_eq!((v.policy.as_str(), v.scope.as_str(), v.level), ("e2e", "*", Level::Strict));
        t.expect_refused(
            "trustpolicy.oci.json (dir) / e2e-invalid-signature",
            &trust::verify(&policy, &subject(TARGET), std::slice::from_ref(&invalid), t2026()),
            "integrity",
        );
        // The file named directly works the same.
        let by_file =
            TrustPolicy::from_config(&notation_cfg("notation/trustpolicy.oci.json"), tmp.path())
                .unwrap();
        assert!(
            trust::verify(&by_file, &subject(TARGET), std::slice::from_ref(&valid), t2026())
                .is_verified()
        );

        // Both names in one directory: trustpolicy.oci.json wins (Notation 2), so the
        // stale trustpolicy.json with a wrong identity is ignored.
        let tmp = notation_dir(
            &[
                ("trustpolicy.oci.json", &e2e("valid_trusted_identity_trustpolicy.json")),
                ("trustpolicy.json", &e2e("invalid_trusted_identity_trustpolicy.json")),
            ],
            &[("e2e", Some(E2E_CERT))],
        );
        let policy = TrustPolicy::from_config(&notation_cfg("notation"), tmp.path()).unwrap();
        t.expect_verified(
            "trustpolicy.oci.json beside trustpolicy.json",
            &trust::verify(&policy, &subject(TARGET), std::slice::from_ref(&valid), t2026()),
        );
        // The old file named explicitly: its identity does not match the signer.
        let policy =
            TrustPolicy::from_config(&notation_cfg("notation/trustpolicy.json"), tmp.path())
                .unwrap();
        t.expect_refused(
            "trustpolicy.json / invalid_trusted_identity",
            &trust::verify(&policy, &subject(TARGET), std::slice::from_ref(&valid), t2026()),
            "authenticity",
        );

        // Trust stores from [trust.trust_stores] (no truststore directory), policy file
        // named by its path in the test data.
        let cfg = TrustConfig {
            notation_policy: Some(e2e("audit_trustpolicy.json")),
            trust_stores: BTreeMap::from([("ca:e2e".into(), vec![E2E_CERT.into()])]),
            ..TrustConfig::default()
        };
        let policy = TrustPolicy::from_config(&cfg, &data()).unwrap();
        let v = trust::verify(&policy, &subject(TARGET), std::slice::from_ref(&invalid), t2026());
        assert_eq!((v.level, v.kind_str()), (Level::Audit, "failed"));
        assert!(v.allows_load(), "audit loads and records");
        assert!(
            trust::verify(&policy, &subject(TARGET), std::slice::from_ref(&valid), t2026())
                .is_verified()
        );

        // The spec's example: four statements, exact scopes, skip, override, global audit.
        let tmp = tempfile::tempdir().unwrap();
        let conf = tmp.path().join("notation");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::copy(
            data().join("notary/policies/spec-example-trustpolicy.oci.jsonc"),
            conf.join("trustpolicy.oci.json"),
        )
        .unwrap();
        for s in ["wabbit-networks", "acme-rockets", "acme-rockets-ca2"] {
            let d = conf.join("truststore/x509/ca").join(s);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::copy(data().join(E2E_CERT), d.join("root.crt")).unwrap();
        }
        let policy = TrustPolicy::from_config(&notation_cfg("notation"), tmp.path()).unwrap();
        let pick = |r: &str, repo: &str| {
            let (p, s) = policy.policy_for(r, repo);
            (p.name.clone(), s.to_string(), p.level)
        };
        assert_eq!(
            pick("registry.acme-rockets.io", "software/net-logger"),
            (
                "wabbit-networks-images".into(),
                "registry.acme-rockets.io/software/net-logger".into(),
                Level::Strict
            )
        );
        assert_eq!(
            pick("registry.acme-rockets.io", "software/legacy/metrics").0,
            "use-expired-image"
        );
        assert_eq!(
            pick("ghcr.io", "anything/else"),
            ("global-policy-for-all-other-images".into(), "*".into(), Level::Audit)
        );
        let unsigned = SubjectRef::new(
            "registry.wabbit-networks.io",
            "software/unsigned/net-utils",
            TARGET.parse().unwrap(),
            MANIFEST_MT,
            517,
        );
        let v = trust::verify(&policy, &unsigned, &[], t2026());
        assert_eq!((v.kind_str(), v.policy.as_str()), ("skipped", "unsigned-image"));
        // wabbit-networks-images wants O=wabbit-networks.io; the e2e signer is not it.
        let net_monitor = SubjectRef::new(
            "registry.acme-rockets.io",
            "software/net-monitor",
            TARGET.parse().unwrap(),
            MANIFEST_MT,
            517,
        );
        t.expect_refused(
            "spec example / wabbit-networks-images, e2e signer",
            &trust::verify(&policy, &net_monitor, std::slice::from_ref(&valid), t2026()),
            "authenticity",
        );

        // Errors name the file and, when one is at fault, the statement.
        let err = |cfg: TrustConfig, base: &Path| {
            TrustPolicy::from_config(&cfg, base).unwrap_err().to_string()
        };
        let tmp = notation_dir(&[("trustpolicy.oci.json", &e2e("trustpolicy.json"))], &[]);
        let e = err(notation_cfg("notation"), tmp.path());
        assert!(
            e.contains("trustpolicy.oci.json")
                && e.contains("statement \"e2e\"")
                && e.contains("ca:e2e"),
            "{e}"
        );
        for (file, needle) in [
            ("malformed_trust_store_trustpolicy.json", "ca:"),
            ("multi_statements_with_the_same_name_trustpolicy.json", "e2e"),
            ("wildcard_plus_other_registry_scope_trustpolicy.json", "wildcard"),
        ] {
            let e = err(notation_cfg(&e2e(file)), &data());
            assert!(e.contains(file) && e.contains(needle), "{file}: {e}");
            println!("  refused   config {file}  ({e})");
        }
        let tmp = notation_dir(&[], &[]);
        let e = err(notation_cfg("notation"), tmp.path());
        assert!(e.contains("neither trustpolicy.oci.json nor trustpolicy.json"), "{e}");
        // A statement whose scope a [[trust.policy]] already covers.
        let tmp = notation_dir(
            &[("trustpolicy.oci.json", &e2e("trustpolicy.json"))],
            &[("e2e", Some(E2E_CERT))],
        );
        let mut p = policy_cfg("mine", Level::Strict);
        p.cosign_keys = vec![
            cosign_dir()
                .join("containers-image/cosign.pub")
                .display()
                .to_string(),
        ];
        let cfg = TrustConfig {
            policies: vec![p],
            ..notation_cfg("notation")
        };
        let e = err(cfg, tmp.path());
        assert!(e.contains("statement \"e2e\"") && e.contains("registry scope \"*\""), "{e}");
        println!(
            "notation policy files: verified {}   refused {}   skipped 0",
            t.verified, t.refused
        );
    }
}

mod config {
    use super::*;

    const TOML: &str = r#"
default_level = "strict"
unknown_revocation = "warn"

[allowlist]
allow = ["127.0.0.1:5000/components/**", "ghcr.io/acme/*"]
deny = ["ghcr.io/acme/experimental"]

[trust_stores]
"ca:e2e" = ["notary/notation-e2e/config/localkeys/e2e.crt"]

[[policy]]
name = "local"
registry_scopes = ["127.0.0.1:5000/components/*"]
level = "permissive"
cosign_keys = ["cosign/containers-image/cosign.pub"]

[[policy]]
name = "clock"
registry_scopes = ["127.0.0.1:5000/components/clock"]
level = "strict"
cosign_keys = ["cosign/containers-image/cosign.pub"]
trust_stores = ["ca:e2e"]
trusted_identities = ["*"]

[[policy]]
name = "everything"
registry_scopes = ["*"]
level = "audit"
cosign_keys = ["cosign/containers-image/cosign2.pub"]

[[policy]]
name = "ghcr"
registry_scopes = ["ghcr.io"]
level = "skip"
"#;

    fn parse(text: &str) -> Result<TrustConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn toml_shape_scopes_and_allowlist() {
        let cfg = parse(TOML).unwrap();
        let policy = TrustPolicy::from_config(&cfg, &data()).unwrap();
        let pick = |reg: &str, repo: &str| {
            let (p, s) = policy.policy_for(reg, repo);
            (p.name.clone(), s.as_str().to_string())
        };
        // Most specific wins: exact name > longer literal prefix > `*`.
        assert_eq!(
            pick("127.0.0.1:5000", "components/clock"),
            ("clock".into(), "127.0.0.1:5000/components/clock".into())
        );
        assert_eq!(
            pick("127.0.0.1:5000", "components/text"),
            ("local".into(), "127.0.0.1:5000/components/*".into())
        );
        assert_eq!(
            pick("127.0.0.1:5000", "components/a/b"),
            ("everything".into(), "*".into()),
            "`*` stays within one segment"
        );
        assert_eq!(
            pick("GHCR.io", "acme/tool"),
            ("ghcr".into(), "ghcr.io".into()),
            "registry compared case-insensitively"
        );
        assert_eq!(pick("example.com", "x"), ("everything".into(), "*".into()));
        assert!(policy.policies()[1].checks_notary() && policy.policies()[1].checks_cosign());

        assert!(policy.allows("127.0.0.1:5000", "components/a/b").is_ok());
        assert!(policy.allows("ghcr.io", "acme/tool").is_ok());
        let e = policy.allows("ghcr.io", "acme/experimental").unwrap_err();
        assert!(
            e.to_string().contains("outside the operator's allowlist")
                && e.to_string().contains("denied by"),
            "{e}"
        );
        let e = policy.allows("docker.io", "library/alpine").unwrap_err();
        assert!(
            e.to_string()
                .contains("matches none of the allowed patterns"),
            "{e}"
        );
        assert!(
            policy.allows("ghcr.io", "acme/a/b").is_err(),
            "`*` does not cross `/`"
        );

        // Unknown keys are refused, at every level of the table.
        for bad in [
            "colour = 1",
            "[allowlist]\nallows = []",
            "[[policy]]\nname = \"x\"\nregistry_scopes = [\"*\"]\nlevel = \"strict\"\ncosign_key = []",
            "[[policy]]\nname = \"x\"\nregistry_scopes = [\"*\"]\nlevel = \"paranoid\"",
        ] {
            assert!(parse(bad).is_err(), "accepted: {bad}");
        }
    }

    #[test]
    fn invalid_configurations_name_their_culprit() {
        let err = |text: &str| match parse(text) {
            Ok(cfg) => TrustPolicy::from_config(&cfg, &data())
                .unwrap_err()
                .to_string(),
            Err(e) => panic!("TOML refused: {e}"),
        };
        let e = err("[[policy]]\nname = \"a\"\nregistry_scopes = [\"*\"]\nlevel = \"strict\"");
        assert!(
            e.contains("\"a\"") && e.contains("needs verification material"),
            "{e}"
        );
        let e = err(
            "[[policy]]\nname = \"a\"\nregistry_scopes = [\"*\"]\nlevel = \"strict\"\ncosign_keys = [\"nope.pub\"]",
        );
        assert!(e.contains("nope.pub"), "{e}");
        let e = err(
            "[[policy]]\nname = \"a\"\nregistry_scopes = [\"*\"]\nlevel = \"strict\"\ncosign_keys = [\"cosign/containers-image/fulcio_v1.crt.pem\"]",
        );
        assert!(e.contains("cosign key") && e.contains("PUBLIC KEY"), "{e}");
        let e = err(
            "[[policy]]\nname = \"a\"\nregistry_scopes = [\"*\"]\nlevel = \"strict\"\nfulcio_roots = [\"cosign/containers-image/fulcio_v1.crt.pem\"]\nkeyless_identities = [{ issuer = \"i\", subject = \"s\" }]",
        );
        assert!(e.contains("rekor_keys"), "{e}");
        let e = err(
            "[[policy]]\nname = \"a\"\nregistry_scopes = [\"*\"]\nlevel = \"skip\"\n[[policy]]\nname = \"b\"\nregistry_scopes = [\"*\"]\nlevel = \"skip\"",
        );
        assert!(e.contains("more than one policy"), "{e}");
        let e = err(
            "[[policy]]\nname = \"a\"\nregistry_scopes = [\"*\"]\nlevel = \"strict\"\ntrust_stores = [\"ca:missing\"]\ntrusted_identities = [\"*\"]",
        );
        assert!(e.contains("ca:missing"), "{e}");
        let e = err(
            "[[policy]]\nname = \"a\"\nregistry_scopes = [\"*\"]\nlevel = \"strict\"\ntrust_stores = [\"ca:e2e\"]\ntrusted_identities = [\"CN=x\"]\n[trust_stores]\n\"ca:e2e\" = [\"notary/notation-e2e/config/localkeys/e2e.crt\"]",
        );
        assert!(e.contains("x509.subject"), "{e}");
        let e = err(
            "[[policy]]\nname = \"a\"\nregistry_scopes = [\"*\"]\nlevel = \"strict\"\nsigstore_trusted_root = \"cosign/sigstore-cosign/trusted_root_pgi.json\"",
        );
        assert!(e.contains("needs keyless_identities"), "{e}");
        let e = err(
            "[[policy]]\nname = \"a\"\nregistry_scopes = [\"*\"]\nlevel = \"strict\"\nsigstore_trusted_root = \"cosign/vectors.json\"\nkeyless_identities = [{ issuer = \"i\", subject = \"s\" }]",
        );
        assert!(
            e.contains("sigstore_trusted_root cosign/vectors.json"),
            "{e}"
        );
        let e = err("[allowlist]\nallow = [\"ghcr.io/a b\"]");
        assert!(e.contains("trust.allowlist.allow"), "{e}");
    }

    #[test]
    fn shared_across_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<TrustPolicy>();
        send_sync::<Verdict>();
        send_sync::<FoundSignature>();
    }

    #[test]
    fn verdict_serialises_for_the_cache_and_search_results() {
        let v = trust::verify(
            &TrustPolicy::default(),
            &SubjectRef::new("r.example", "x", Digest::of(b"m"), MANIFEST_MT, 1),
            &[],
            t2026(),
        );
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["verdict"], "unverified");
        assert_eq!(json["reason"]["check"], "signaturePresent");
        assert_eq!(json["level"], "permissive");
        let back: Verdict = serde_json::from_value(json).unwrap();
        assert_eq!(back, v);
        let s = serde_json::to_value(v.summary()).unwrap();
        assert_eq!(
            s,
            serde_json::json!({"verdict": "unverified", "signer": null, "scope": "*"})
        );

        let key = runtime_signing::P256Key::generate();
        let m = runtime_signing::manifest(9);
        let subject = subject_for(runtime_signing::REF, &m);
        let p = runtime_signing::payload(runtime_signing::REF, &subject.manifest_digest);
        let v = trust::verify(
            &runtime_signing::policy_with_key(Level::Strict, &key.pem()),
            &subject,
            &[runtime_signing::layer(p.clone(), &key.sign(&p))],
            t2026(),
        );
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["verdict"], "verified");
        assert!(json.get("reason").is_none());
        assert_eq!(serde_json::from_value::<Verdict>(json).unwrap(), v);
    }
}

/// Hostile input never panics and never verifies.
mod hostile {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    #[test]
    fn garbage_truncations_and_mutations() {
        let dir = cosign_dir();
        let fulcio = load_sigstore_json(
            &dir.join("containers-image/dir-img-cosign-fulcio-rekor-valid/signature-1"),
        );
        let manifest = std::fs::read(
            dir.join("containers-image/dir-img-cosign-fulcio-rekor-valid/manifest.json"),
        )
        .unwrap();
        let subject = subject_for("192.168.64.2:5000/cosign-signed/fulcio-rekor-1", &manifest);
        let mut p = policy_cfg("h", Level::Strict);
        p.cosign_keys = vec!["containers-image/cosign.pub".into()];
        p.rekor_keys = vec!["containers-image/rekor.pub".into()];
        p.fulcio_roots = vec!["containers-image/fulcio_v1.crt.pem".into()];
        p.keyless_identities = vec![KeylessIdentity {
            issuer: "https://github.com/login/oauth".into(),
            subject: "mitr@redhat.com".into(),
        }];
        let mut pc = policy_cfg("n", Level::Strict);
        pc.registry_scopes = vec!["n.example".into()];
        pc.trust_stores = vec!["ca:e2e".into()];
        pc.trusted_identities = vec!["*".into()];
        let cfg = TrustConfig {
            trust_stores: BTreeMap::from([(
                "ca:e2e".into(),
                vec!["../notary/notation-e2e/config/localkeys/e2e.crt".into()],
            )]),
            policies: vec![p, pc],
            ..TrustConfig::default()
        };
        let policy = TrustPolicy::from_config(&cfg, &dir).unwrap();
        assert!(
            trust::verify(&policy, &subject, std::slice::from_ref(&fulcio), t2026()).is_verified()
        );
        let FoundSignature::Cosign {
            payload,
            signature_b64,
            bundle,
            certificate,
            chain,
            media_type,
        } = fulcio
        else {
            unreachable!()
        };
        let fields = [
            payload.clone(),
            signature_b64.clone().into_bytes(),
            bundle.clone().unwrap().into_bytes(),
            certificate.clone().unwrap().into_bytes(),
            chain.clone().unwrap().into_bytes(),
        ];
        let build = |i: usize, v: Vec<u8>| {
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let mut f = fields.clone();
            f[i] = v;
            FoundSignature::Cosign {
                payload: f[0].clone(),
                signature_b64: s(&f[1]),
                bundle: Some(s(&f[2])),
                certificate: Some(s(&f[3])),
                chain: Some(s(&f[4])),
                media_type: media_type.clone(),
            }
        };
        let mut rng = Rng(0x9e3779b97f4a7c15);
        let mut cases = 0;
        for (i, field) in fields.iter().enumerate() {
            // Every truncation (stepped for the long PEM fields), then random byte flips.
            let step = (field.len() / 200).max(1);
            for n in (0..field.len()).step_by(step) {
                let v = trust::verify(&policy, &subject, &[build(i, field[..n].to_vec())], t2026());
                // Benign truncations keep the meaning: only trailing whitespace dropped, or
                // (certificate / chain) the cut falls after a complete PEM block; a chain cut
                // after the intermediate still reaches the configured root.
                let end = b"-----END CERTIFICATE-----";
                let kept = |b: &[u8]| b.windows(end.len()).filter(|w| w == end).count();
                let benign = field[n..].iter().all(u8::is_ascii_whitespace)
                    || (i == 3 && kept(&field[..n]) == 1)
                    || (i == 4 && kept(&field[..n]) >= 1);
                assert!(
                    !v.is_verified() || benign,
                    "field {i} truncated to {n} verified"
                );
                cases += 1;
            }
            for _ in 0..150 {
                let mut m = field.clone();
                let pos = (rng.next() as usize) % m.len();
                m[pos] ^= 1 << (rng.next() % 8);
                let v = trust::verify(&policy, &subject, &[build(i, m.clone())], t2026());
                // Flipping bits in PEM/base64 padding or whitespace may leave the meaning intact;
                // all that matters is no panic, and no change of meaning accepted silently.
                if v.is_verified() {
                    assert!(i != 0, "a modified payload verified");
                }
                cases += 1;
            }
        }
        // Random garbage in every field, every kind of signature.
        let nsubject = SubjectRef::new("n.example", "x", Digest::of(b"m"), MANIFEST_MT, 1);
        for n in [0usize, 1, 2, 7, 64, 600, 5000, 70_000] {
            let g = rng.bytes(n);
            let gs = String::from_utf8_lossy(&g).into_owned();
            for sig in [
                FoundSignature::Cosign {
                    payload: g.clone(),
                    signature_b64: gs.clone(),
                    bundle: Some(gs.clone()),
                    certificate: Some(gs.clone()),
                    chain: Some(gs.clone()),
                    media_type: trust::cosign::SIMPLE_SIGNING_MEDIA_TYPE.into(),
                },
                FoundSignature::Notary {
                    envelope: g.clone(),
                    media_type: "application/jose+json".into(),
                },
                FoundSignature::Notary {
                    envelope: g.clone(),
                    media_type: "application/cose".into(),
                },
                FoundSignature::SigstoreBundle {
                    bundle: g.clone(),
                    media_type: gs.clone(),
                },
            ] {
                assert!(
                    !trust::verify(&policy, &subject, std::slice::from_ref(&sig), t2026())
                        .is_verified()
                );
                assert!(
                    !trust::verify(&policy, &nsubject, std::slice::from_ref(&sig), t2026())
                        .is_verified()
                );
                cases += 2;
            }
        }
        // The Sigstore bundle: every truncation and random bit flips, against a policy that
        // would accept the original.
        let bundle =
            std::fs::read(dir.join("sigstore-cosign/oci-attestation.sigstore.json")).unwrap();
        let mut bp = policy_cfg("bundle", Level::Strict);
        bp.sigstore_trusted_root = Some("sigstore-cosign/trusted_root_pgi.json".into());
        bp.keyless_identities = vec![KeylessIdentity {
            issuer: "https://github.com/login/oauth".into(),
            subject: "cody@soyland.com".into(),
        }];
        let bpolicy = compile(vec![bp], &dir);
        let bsubject = SubjectRef::new(
            "127.0.0.1:60943",
            "repo",
            "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
                .parse()
                .unwrap(),
            MANIFEST_MT,
            1,
        );
        let as_sig = |b: Vec<u8>| FoundSignature::SigstoreBundle {
            bundle: b,
            media_type: trust::SIGSTORE_BUNDLE_V03_MEDIA_TYPE.into(),
        };
        assert!(
            trust::verify(&bpolicy, &bsubject, &[as_sig(bundle.clone())], t2026()).is_verified()
        );
        for n in (0..bundle.len()).step_by(7) {
            let v = trust::verify(
                &bpolicy,
                &bsubject,
                &[as_sig(bundle[..n].to_vec())],
                t2026(),
            );
            assert!(!v.is_verified() || bundle[n..].iter().all(u8::is_ascii_whitespace));
            cases += 1;
        }
        for _ in 0..600 {
            let mut m = bundle.clone();
            let pos = (rng.next() as usize) % m.len();
            m[pos] ^= 1 << (rng.next() % 8);
            // Some bytes are not covered by any check (the signer name in the checkpoint's
            // signature line, JSON keys serde ignores): only "no panic" is asserted.
            let _ = trust::verify(&bpolicy, &bsubject, &[as_sig(m)], t2026());
            cases += 1;
        }

        // Many signatures: bounded.
        let many = vec![build(1, b"AAAA".to_vec()); trust::MAX_SIGNATURES + 10];
        let v = trust::verify(&policy, &subject, &many, t2026());
        assert!(!v.is_verified());
        assert!(v.checks.iter().any(|c| c.detail.contains("only the first")));
        println!("hostile: {cases} cases, no panic, none verified");
    }
}

/// The shared Sigstore bundle vectors (`tests/data/sigstore-bundle`, copied byte-exact from
/// the shared collection: sigstore-conformance, sigstore-go and sigstore-rs files), each
/// through forage's own trust driver: a strict `[[trust.policy]]` with the vector's
/// `trusted_root.json` and its keyless identity or key, and a subject whose manifest digest
/// is the artifact's sha256 (what a `messageSignature` signs, and what a DSSE statement's
/// subject names). Every vector verifies or is refused as `expected` (and each
/// `also_expected`) says, at a named check; none is skipped.
mod sigstore_bundle_vectors {
    use super::*;
    use forage_policy::trust::bundle;

    fn dir() -> PathBuf {
        data().join("sigstore-bundle")
    }

    /// The vectors sign arbitrary statements (SLSA provenance about `a.txt`); forage's
    /// default predicate types are cosign's, so these policies accept any.
    fn policy_for(v: &Value, identity: Option<(&str, &str)>) -> PolicyConfig {
        let mut p = policy_cfg("sigstore-bundle", Level::Strict);
        p.sigstore_trusted_root = Some(v["trusted_root"].as_str().unwrap().into());
        p.sigstore_predicate_types = Some(vec!["*".into()]);
        if let Some(k) = v["public_key"].as_str() {
            p.cosign_keys = vec![k.into()];
        }
        if let Some((subject, issuer)) = identity {
            p.keyless_identities = vec![KeylessIdentity {
                issuer: issuer.into(),
                subject: subject.into(),
            }];
        }
        p
    }

    fn compile_cfg(p: PolicyConfig) -> Result<TrustPolicy, String> {
        let cfg = TrustConfig {
            policies: vec![p],
            ..TrustConfig::default()
        };
        TrustPolicy::from_config(&cfg, &dir()).map_err(|e| e.to_string())
    }

    /// The artifact digest the bundle must sign, as the component's manifest digest.
    fn artifact_digest(v: &Value) -> Option<Digest> {
        if let Some(a) = v["artifact"].as_str() {
            return Some(Digest::of(&std::fs::read(dir().join(a)).unwrap()));
        }
        if let Some(b) = v["artifact_bytes"].as_str() {
            return Some(Digest::of(b.as_bytes()));
        }
        v["artifact_digest"].as_str().map(|d| d.parse().unwrap())
    }

    fn run(policy: &TrustPolicy, bundle: &[u8], digest: &Digest) -> Verdict {
        trust::verify(
            policy,
            &SubjectRef::new("127.0.0.1:5000", "components/a", digest.clone(), MANIFEST_MT, 1),
            &[FoundSignature::SigstoreBundle {
                bundle: bundle.to_vec(),
                media_type: trust::SIGSTORE_BUNDLE_V03_MEDIA_TYPE.into(),
            }],
            t2026(),
        )
    }

    /// Where forage refuses each invalid vector: (check, step). The upstream reason is in
    /// `vectors.json`; the step is forage's name for the same failure.
    fn expected_refusal(id: &str) -> (Check, &'static str) {
        use Check::*;
        match id {
            "conformance/bundle-unknown-version_fail" => (Integrity, "bundle"),
            "conformance/bundle-with-root-cert_fail" => (Transparency, "Rekor inclusion proof"),
            "conformance/checkpoint-wrong-roothash_fail" => {
                (Transparency, "Rekor inclusion proof")
            }
            "conformance/intoto-expired-certificate_fail" => (Authenticity, "certificate validity"),
            "conformance/intoto-log-entry-mismatch_fail" => (Transparency, "Rekor SET"),
            "conformance/intoto-missing-inclusion-proof_fail" => {
                (Transparency, "Rekor inclusion proof")
            }
            "conformance/intoto-set-outside-signing-cert-validity_fail" => {
                (Authenticity, "certificate validity")
            }
            "conformance/intoto-tsa-timestamp-outside-cert-validity_fail" => {
                (Authenticity, "certificate validity")
            }
            "conformance/invalid-ct-key_fail" => (Authenticity, "SCT"),
            "conformance/invalid-inclusion-proof_fail" => (Transparency, "Rekor inclusion proof"),
            "conformance/message-digest-mismatch_fail" => (Integrity, "manifest digest"),
            "conformance/rekor2-dsse-invalid-sig_fail" => (Integrity, "signature"),
            "conformance/rekor2-no-inclusion-proof_fail" => {
                (Transparency, "Rekor inclusion proof")
            }
            "conformance/rekor2-timestamp-outside-tsa-cert-validity_fail" => {
                (AuthenticTimestamp, "timestamp")
            }
            "conformance/rekor2-timestamp-payload-mismatch_fail" => {
                (AuthenticTimestamp, "timestamp")
            }
            "conformance/set-invalid-signature_fail" => (Transparency, "Rekor SET"),
            "conformance/signature-mismatch_fail" => (Integrity, "signature"),
            "conformance/wrong-material_fail" => (Integrity, "manifest digest"),
            "sigstore-go/dsse-2sigs" => (Integrity, "bundle"),
            // The bundle has no tlog entry; forage refuses unlogged signatures before the
            // key's validity window (upstream's reason) comes into play.
            "sigstore-go/public-key-validity" => (Transparency, "Rekor SET"),
            other => panic!("{other}: no expected refusal recorded for this invalid vector"),
        }
    }

    fn refused(t: &mut Tally, case: &str, v: &Verdict, (check, step): (Check, &str)) {
        let VerdictKind::Failed(r) = &v.verdict else {
            panic!("{case}: expected refusal at {check}/{step}, got {:?}", v.verdict);
        };
        assert_eq!(r.check, check, "{case}: wrong failing check; reason: {r}");
        t.expect_refused(case, v, step);
    }

    /// Every media type form a bundle referrer may carry (cosign 3's
    /// `application/vnd.dev.sigstore.bundle.v0.3+json` and the older
    /// `application/vnd.dev.sigstore.bundle+json;version=0.x`) reaches the verifier and
    /// verifies; a generically typed layer is judged by its artifactType; an unknown version
    /// is refused as a bundle.
    #[test]
    fn bundle_referrers_of_every_media_type_form_verify() {
        let doc: Value =
            serde_json::from_slice(&std::fs::read(dir().join("vectors.json")).unwrap()).unwrap();
        let v = doc["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == "conformance/happy-path-v0.3")
            .unwrap();
        let bundle_bytes = std::fs::read(dir().join(v["bundle"].as_str().unwrap())).unwrap();
        let policy = compile_cfg(policy_for(
            v,
            Some((v["identity"].as_str().unwrap(), v["issuer"].as_str().unwrap())),
        ))
        .unwrap();
        let subject = SubjectRef::new(
            "127.0.0.1:5000",
            "components/a",
            artifact_digest(v).unwrap(),
            MANIFEST_MT,
            1,
        );
        for mt in bundle::BUNDLE_MEDIA_TYPES {
            for layer in [mt, "application/json"] {
                let found =
                    FoundSignature::referrer_layer(mt, layer, bundle_bytes.clone()).unwrap();
                assert_eq!(
                    found,
                    FoundSignature::SigstoreBundle {
                        bundle: bundle_bytes.clone(),
                        media_type: mt.into()
                    }
                );
                let verdict = trust::verify(&policy, &subject, &[found], t2026());
                assert!(verdict.is_verified(), "{mt} / {layer}: {:?}", verdict.verdict);
            }
        }
        let odd = "application/vnd.dev.sigstore.bundle+json;version=99.9";
        let found = FoundSignature::referrer_layer(odd, odd, bundle_bytes.clone()).unwrap();
        let verdict = trust::verify(&policy, &subject, &[found], t2026());
        let r = verdict.reason().expect("refused");
        assert_eq!((r.check, r.step.as_str()), (Check::Integrity, "bundle"), "{r}");
    }

    #[test]
    fn sigstore_bundle_vectors() {
        let doc: Value =
            serde_json::from_slice(&std::fs::read(dir().join("vectors.json")).unwrap()).unwrap();
        let vectors = doc["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 37, "the collection has 37 entries");
        let mut t = Tally::default();
        let mut parsed = 0;
        let mut config_refused = 0;
        // The verdict on each vector itself (the counts above also include the extra cases:
        // another digest, also_expected, timestamp removed).
        let mut per_vector: BTreeMap<&str, &str> = BTreeMap::new();
        println!("sigstore bundle vectors ({}):", dir().display());
        for v in vectors {
            let id = v["id"].as_str().unwrap();
            let expected = v["expected"].as_str().unwrap();
            let bundle_bytes = std::fs::read(dir().join(v["bundle"].as_str().unwrap())).unwrap();
            if expected == "unknown" {
                // Parse-only: no verdict is asserted upstream.
                let info = bundle::inspect(&bundle_bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
                println!("  parsed    {id}  ({info:?})");
                per_vector.insert(id, "parsed");
                parsed += 1;
                continue;
            }
            let identity = v["identity"]
                .as_str()
                .map(|s| (s, v["issuer"].as_str().unwrap()))
                .or_else(|| {
                    v["expected_fields"]["certificate SAN"]
                        .as_str()
                        .map(|s| (s, "https://token.actions.githubusercontent.com"))
                })
                .or_else(|| {
                    // sigstore-go/dsse-2sigs names no identity; it is refused as a bundle
                    // (two DSSE signatures) before any identity is compared.
                    (v["public_key"].is_null()).then_some(("nobody@example.com", "https://example.com"))
                });
            let policy = match compile_cfg(policy_for(v, identity)) {
                Ok(p) => p,
                Err(e) => {
                    // Trust material forage refuses to load: the policy cannot be built,
                    // so nothing could verify under it. Only expected for invalid vectors,
                    // and the error must name the material at fault.
                    assert_eq!(expected, "invalid", "{id}: configuration refused: {e}");
                    let what = match id {
                        "conformance/trust-root-tlog-missing-validity-start_fail" => {
                            "sigstore_trusted_root"
                        }
                        "conformance/managed-key-wrong-key_fail" => "cosign key",
                        other => panic!("{other}: unexpected configuration error: {e}"),
                    };
                    assert!(e.contains(what), "{id}: error must name {what}: {e}");
                    println!("  refused   {id}  (configuration: {e})");
                    t.refused += 1;
                    config_refused += 1;
                    per_vector.insert(id, "refused");
                    continue;
                }
            };
            let Some(digest) = artifact_digest(v) else {
                // No artifact: the statement's subject is an npm tarball named by sha512
                // (sigstore.js provenance, dsse-2sigs), which no OCI manifest digest can
                // be. Verified against that digest through the same bundle rules the
                // driver applies (bundle::verify_artifact).
                let sp = policy.policy_for("127.0.0.1:5000", "components/a").0;
                let payload: Value = serde_json::from_slice(
                    &B64.decode(
                        serde_json::from_slice::<Value>(&bundle_bytes).unwrap()["dsseEnvelope"]
                            ["payload"]
                            .as_str()
                            .unwrap(),
                    )
                    .unwrap(),
                )
                .unwrap();
                let sha512: [u8; 64] =
                    hex::decode(payload["subject"][0]["digest"]["sha512"].as_str().unwrap())
                        .unwrap()
                        .try_into()
                        .unwrap();
                let art = bundle::ArtifactRef::Sha512(sha512);
                let mt = trust::SIGSTORE_BUNDLE_V03_MEDIA_TYPE;
                if expected == "invalid" {
                    let e = bundle::verify_artifact(sp, &bundle_bytes, mt, &art).unwrap_err();
                    let (check, step) = expected_refusal(id);
                    assert_eq!((e.check(), e.check_name()), (check, step), "{id}: {e}");
                    println!("  refused   {id}  ({check}: {e})");
                    t.refused += 1;
                    per_vector.insert(id, "refused");
                    continue;
                }
                assert_eq!(payload["predicateType"], "https://slsa.dev/provenance/v1");
                let signer = bundle::verify_artifact(sp, &bundle_bytes, mt, &art)
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                assert!(signer.contains(identity.unwrap().0), "{signer}");
                println!("  verified  {id}  (signer: {signer}; artifact {art})");
                t.verified += 1;
                per_vector.insert(id, "verified");
                // Another artifact: refused.
                let other = bundle::ArtifactRef::Sha512([7; 64]);
                let e = bundle::verify_artifact(sp, &bundle_bytes, mt, &other).unwrap_err();
                assert_eq!(e.check_name(), "manifest digest", "{e}");
                // also_expected: a policy requiring an RFC 3161 timestamp refuses it.
                assert!(v["also_expected"].to_string().contains("RFC3161"));
                let mut p = policy_for(v, identity);
                p.sigstore_require_timestamp = true;
                let strict_ts = compile_cfg(p).unwrap();
                let sp = strict_ts.policy_for("127.0.0.1:5000", "components/a").0;
                let e = bundle::verify_artifact(sp, &bundle_bytes, mt, &art).unwrap_err();
                assert_eq!(e.check(), Check::AuthenticTimestamp, "{e}");
                assert_eq!(e.check_name(), "timestamp", "{e}");
                println!("  refused   {id} / also: require an RFC 3161 timestamp  ({e})");
                t.refused += 1;
                continue;
            };
            let verdict = run(&policy, &bundle_bytes, &digest);
            per_vector.insert(id, if verdict.is_verified() { "verified" } else { "refused" });
            let substitute_unknown = v["expected_with_substitute_root"] == "unknown";
            match expected {
                "valid" if substitute_unknown => {
                    // managed-key-happy-path: its RFC 3161 timestamp comes from the
                    // production TSA, which the substitute (sigstore-go snapshot) root does
                    // not list; a timestamp forage cannot authenticate refuses the bundle.
                    refused(&mut t, &format!("{id} (substitute root)"), &verdict,
                        (Check::AuthenticTimestamp, "timestamp"));
                    assert!(verdict.reason().unwrap().message.contains("TSA"));
                }
                "valid" => {
                    t.expect_verified(id, &verdict);
                    // The same bundle for any other component is refused.
                    let other = run(&policy, &bundle_bytes, &Digest::of(b"another component"));
                    refused(&mut t, &format!("{id} / another manifest digest"), &other,
                        (Check::Integrity, "manifest digest"));
                }
                "invalid" => refused(&mut t, id, &verdict, expected_refusal(id)),
                other => panic!("{id}: unknown expectation {other}"),
            }
            if id == "sigstore-go/othername-san" {
                // also_expected: identity foo@oidc.local is another signer.
                let p = policy_for(v, Some(("foo@oidc.local", v["issuer"].as_str().unwrap())));
                let verdict = run(&compile_cfg(p).unwrap(), &bundle_bytes, &digest);
                refused(&mut t, &format!("{id} / also: identity foo@oidc.local"), &verdict,
                    (Check::Authenticity, "keyless identity"));
            }
            if id.starts_with("conformance/rekor2-") && expected == "valid" {
                // Rekor v2 entries carry no integrated time: without its RFC 3161 timestamp
                // the bundle has no authenticated signing time and is refused by name.
                let mut b: Value = serde_json::from_slice(&bundle_bytes).unwrap();
                b["verificationMaterial"]
                    .as_object_mut()
                    .unwrap()
                    .remove("timestampVerificationData");
                let stripped = run(&policy, &serde_json::to_vec(&b).unwrap(), &digest);
                refused(&mut t, &format!("{id} / RFC 3161 timestamp removed"), &stripped,
                    (Check::AuthenticTimestamp, "timestamp"));
                assert!(stripped.reason().unwrap().message.contains("Rekor v2"));
            }
        }
        let invalid = vectors.iter().filter(|v| v["expected"] == "invalid").count();
        let valid = vectors.iter().filter(|v| v["expected"] == "valid").count();
        let count = |k: &str| per_vector.values().filter(|v| **v == k).count();
        println!(
            "sigstore bundle vectors: {valid} valid, {invalid} invalid, {parsed} parse-only; \
             per vector: verified {}, refused {} ({config_refused} at configuration), \
             parsed {}; all cases: verified {}, refused {}, skipped {}",
            count("verified"),
            count("refused"),
            count("parsed"),
            t.verified,
            t.refused,
            t.skipped.len()
        );
        assert_eq!(per_vector.len(), 37, "every vector was judged");
        // 13 valid vectors verify; managed-key-happy-path (valid upstream, "unknown" with the
        // substitute root) is refused at its unauthenticated TSA timestamp.
        assert_eq!((count("verified"), count("refused"), count("parsed")), (13, 23, 1));
        assert_eq!((valid, invalid, parsed), (14, 22, 1));
        assert_eq!(t.skipped.len(), 0, "skipped: {:?}", t.skipped);
    }
}
