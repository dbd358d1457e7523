//! Envelopes signed at test time by `support::signer` (CA -> leaf code-signing chains
//! built with the same RustCrypto stack), covering the bad inputs the reference vectors
//! do not: tampering, wrong keys, chain abuse, header abuse, size.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ciborium::Value;
use forage_notary::{
    Check, CheckResult, Descriptor, MAX_ENVELOPE_BYTES, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS,
    NotaryError, Outcome, StoreType, TrustPolicyDocument, TrustStore, UnknownRevocation, Verifier,
    VerifyRequest,
};
use x509_cert::ext::pkix::KeyUsages;

use crate::support::signer::*;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const SIZE: u64 = 1234;
const REFERENCE: &str = "registry.example/acme/tool:v1";
const SIGNING_TIME: &str = "2025-06-01T12:00:00Z";
const SIGNING_TIME_UNIX: u64 = 1_748_779_200;

fn when(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn target() -> Descriptor {
    Descriptor {
        media_type: MANIFEST.into(),
        digest: DIGEST.into(),
        size: SIZE,
    }
}

fn policy(level: &str, identities: &str, extra: &str) -> TrustPolicyDocument {
    TrustPolicyDocument::from_json(&format!(
        r#"{{"version":"1.0","trustPolicies":[{{"name":"acme","registryScopes":["registry.example/acme/tool"],
        "signatureVerification":{{"level":"{level}"{extra}}},"trustStores":["ca:acme","signingAuthority:acme-sa"],
        "trustedIdentities":{identities}}}]}}"#
    ))
    .unwrap()
}

fn strict() -> TrustPolicyDocument {
    policy(
        "strict",
        r#"["x509.subject: C=US, ST=WA, O=Forage Test, CN=Forage Test Signer"]"#,
        "",
    )
}

fn store_with(root: &Issued) -> TrustStore {
    let mut s = TrustStore::new();
    s.add_certificates(StoreType::Ca, "acme", &root_pem(root))
        .unwrap();
    s.add_certificates(StoreType::SigningAuthority, "acme-sa", &root.der)
        .unwrap();
    s
}

struct Fixture {
    root: Issued,
    leaf: Issued,
}

impl Fixture {
    fn new() -> Self {
        let root = root("Forage Test Root");
        let leaf = leaf(&root, LeafSpec::default());
        Fixture { root, leaf }
    }

    fn jws(&self) -> Vec<u8> {
        sign_jws(
            &self.leaf.key,
            &jws_header(SIGNING_TIME),
            &payload(MANIFEST, DIGEST, SIZE),
            &[&self.leaf.der, &self.root.der],
        )
    }

    fn cose(&self) -> Vec<u8> {
        sign_cose(
            &self.leaf.key,
            cose_header(SIGNING_TIME_UNIX),
            &payload(MANIFEST, DIGEST, SIZE),
            &[&self.leaf.der, &self.root.der],
        )
    }
}

fn run(
    policy: TrustPolicyDocument,
    store: TrustStore,
    env: &[u8],
    media_type: &str,
) -> Result<Outcome, NotaryError> {
    run_at(policy, store, env, media_type, Y2026)
}

fn run_at(
    policy: TrustPolicyDocument,
    store: TrustStore,
    env: &[u8],
    media_type: &str,
    at: u64,
) -> Result<Outcome, NotaryError> {
    let t = target();
    Verifier::new(policy, store).verify(&VerifyRequest::new(
        env,
        media_type,
        &t,
        REFERENCE,
        when(at),
    ))
}

#[test]
fn valid_jws_and_cose_verify_fully() {
    let f = Fixture::new();
    for (env, mt) in [(f.jws(), MEDIA_TYPE_JWS), (f.cose(), MEDIA_TYPE_COSE)] {
        let o = run(strict(), store_with(&f.root), &env, mt).unwrap();
        assert!(o.fully_verified(), "{o:?}");
        assert_eq!(o.policy_statement, "acme");
        let signer = o.signer.unwrap();
        assert_eq!(
            signer.subject,
            "CN=Forage Test Signer,O=Forage Test,L=Seattle,ST=WA,C=US"
        );
        assert_eq!(signer.trust_store.as_deref(), Some("ca:acme"));
        assert_eq!(signer.chain_sha256.len(), 2);
        assert_eq!(o.checks.len(), 5);
    }
}

#[test]
fn three_level_chain_verifies() {
    let root = root("Forage Test Root");
    let ica = intermediate(&root, "Forage Test Intermediate");
    let leaf = leaf(&ica, LeafSpec::default());
    let env = sign_jws(
        &leaf.key,
        &jws_header(SIGNING_TIME),
        &payload(MANIFEST, DIGEST, SIZE),
        &[&leaf.der, &ica.der, &root.der],
    );
    assert!(
        run(strict(), store_with(&root), &env, MEDIA_TYPE_JWS)
            .unwrap()
            .fully_verified()
    );
    // Out of order: intermediate missing.
    let env = sign_jws(
        &leaf.key,
        &jws_header(SIGNING_TIME),
        &payload(MANIFEST, DIGEST, SIZE),
        &[&leaf.der, &root.der],
    );
    assert!(matches!(
        run(strict(), store_with(&root), &env, MEDIA_TYPE_JWS),
        Err(NotaryError::InvalidCertificateChain(_))
    ));
}

#[test]
fn tampered_payload_is_refused() {
    let f = Fixture::new();
    // JWS: swap the payload segment for another artifact's, keep the signature.
    let mut v: serde_json::Value = serde_json::from_slice(&f.jws()).unwrap();
    use base64::Engine;
    let other = payload(MANIFEST, DIGEST, SIZE + 1);
    v["payload"] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(other)
        .into();
    let r = run(
        strict(),
        store_with(&f.root),
        &serde_json::to_vec(&v).unwrap(),
        MEDIA_TYPE_JWS,
    );
    assert!(matches!(r, Err(NotaryError::SignatureInvalid(_))), "{r:?}");
    // COSE: flip a byte inside the payload.
    let mut env = f.cose();
    let needle = DIGEST.as_bytes();
    let pos = env.windows(needle.len()).position(|w| w == needle).unwrap();
    env[pos + 10] ^= 0x01;
    let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_COSE);
    assert!(matches!(r, Err(NotaryError::SignatureInvalid(_))), "{r:?}");
    // Integrity is enforced even at audit.
    let r = run(
        policy("audit", r#"["*"]"#, ""),
        store_with(&f.root),
        &env,
        MEDIA_TYPE_COSE,
    );
    assert_eq!(r.unwrap_err().check(), Some(Check::Integrity));
}

#[test]
fn signature_over_another_digest_is_refused() {
    let f = Fixture::new();
    let other = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    let env = sign_jws(
        &f.leaf.key,
        &jws_header(SIGNING_TIME),
        &payload(MANIFEST, other, SIZE),
        &[&f.leaf.der, &f.root.der],
    );
    let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS);
    assert!(
        matches!(
            r,
            Err(NotaryError::TargetMismatch {
                field: "digest",
                ..
            })
        ),
        "{r:?}"
    );
    let env = sign_cose(
        &f.leaf.key,
        cose_header(SIGNING_TIME_UNIX),
        &payload("text/plain", DIGEST, SIZE),
        &[&f.leaf.der, &f.root.der],
    );
    let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_COSE);
    assert!(
        matches!(
            r,
            Err(NotaryError::TargetMismatch {
                field: "mediaType",
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn wrong_key_is_refused() {
    let f = Fixture::new();
    let stranger = key();
    let env = sign_jws(
        &stranger,
        &jws_header(SIGNING_TIME),
        &payload(MANIFEST, DIGEST, SIZE),
        &[&f.leaf.der, &f.root.der],
    );
    assert!(matches!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS),
        Err(NotaryError::SignatureInvalid(_))
    ));
    let env = sign_cose(
        &stranger,
        cose_header(SIGNING_TIME_UNIX),
        &payload(MANIFEST, DIGEST, SIZE),
        &[&f.leaf.der, &f.root.der],
    );
    assert!(matches!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_COSE),
        Err(NotaryError::SignatureInvalid(_))
    ));
}

#[test]
fn wrong_identity_and_unknown_root() {
    let f = Fixture::new();
    let env = f.jws();
    let other_identity = r#"["x509.subject: C=US, ST=WA, O=Someone Else"]"#;
    let r = run(
        policy("strict", other_identity, ""),
        store_with(&f.root),
        &env,
        MEDIA_TYPE_JWS,
    );
    assert!(
        matches!(r, Err(NotaryError::IdentityNotTrusted { .. })),
        "{r:?}"
    );
    // Audit: authenticity is only logged.
    let o = run(
        policy("audit", other_identity, ""),
        store_with(&f.root),
        &env,
        MEDIA_TYPE_JWS,
    )
    .unwrap();
    assert!(matches!(
        o.report(Check::Authenticity).unwrap().result,
        CheckResult::FailedLogged(NotaryError::IdentityNotTrusted { .. })
    ));
    assert!(!o.fully_verified());
    assert_eq!(o.warnings.len(), 1);
    // Unknown root: the store holds an unrelated root.
    let r = run(
        strict(),
        store_with(&root("Unrelated Root")),
        &env,
        MEDIA_TYPE_JWS,
    );
    assert!(
        matches!(r, Err(NotaryError::UntrustedChain { .. })),
        "{r:?}"
    );
    // Store named by the policy but never supplied.
    let r = run(strict(), TrustStore::new(), &env, MEDIA_TYPE_JWS);
    assert!(
        matches!(r, Err(NotaryError::TrustStoreNotFound(_))),
        "{r:?}"
    );
    // A chain signed by a different root that reuses the trusted root's name.
    let impostor = root("Forage Test Root");
    let leaf2 = leaf(&impostor, LeafSpec::default());
    let env = sign_jws(
        &leaf2.key,
        &jws_header(SIGNING_TIME),
        &payload(MANIFEST, DIGEST, SIZE),
        &[&leaf2.der, &f.root.der],
    );
    let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS);
    assert!(
        matches!(r, Err(NotaryError::InvalidCertificateChain(_))),
        "{r:?}"
    );
}

#[test]
fn expired_certificate() {
    let f = Fixture::new();
    let leaf = leaf(
        &f.root,
        LeafSpec {
            not_before: Y2020,
            not_after: Y2020 + 86_400 * 365,
            ..Default::default()
        },
    );
    let env = sign_jws(
        &leaf.key,
        &jws_header("2020-06-01T00:00:00Z"),
        &payload(MANIFEST, DIGEST, SIZE),
        &[&leaf.der, &f.root.der],
    );
    let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS);
    assert!(
        matches!(r, Err(NotaryError::CertificateExpired { .. })),
        "{r:?}"
    );
    // Valid while the certificate was.
    assert!(
        run_at(
            strict(),
            store_with(&f.root),
            &env,
            MEDIA_TYPE_JWS,
            Y2020 + 86_400
        )
        .unwrap()
        .fully_verified()
    );
    // Permissive logs it.
    let o = run(
        policy("permissive", r#"["*"]"#, ""),
        store_with(&f.root),
        &env,
        MEDIA_TYPE_JWS,
    )
    .unwrap();
    assert!(matches!(
        o.report(Check::AuthenticTimestamp).unwrap().result,
        CheckResult::FailedLogged(_)
    ));

    // signingAuthority: the authentic signing time must fall in the validity period.
    let mut h = jws_header("x");
    h.remove("io.cncf.notary.signingTime");
    h.insert(
        "io.cncf.notary.signingScheme".into(),
        "notary.x509.signingAuthority".into(),
    );
    h.insert(
        "io.cncf.notary.authenticSigningTime".into(),
        "2022-01-01T00:00:00Z".into(),
    );
    h.insert(
        "crit".into(),
        serde_json::json!([
            "io.cncf.notary.signingScheme",
            "io.cncf.notary.authenticSigningTime"
        ]),
    );
    let env = sign_jws(
        &leaf.key,
        &h,
        &payload(MANIFEST, DIGEST, SIZE),
        &[&leaf.der, &f.root.der],
    );
    let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS);
    assert!(
        matches!(r, Err(NotaryError::CertificateExpiredAtSigningTime { .. })),
        "{r:?}"
    );
    h.insert(
        "io.cncf.notary.authenticSigningTime".into(),
        "2020-06-01T00:00:00Z".into(),
    );
    let env = sign_jws(
        &leaf.key,
        &h,
        &payload(MANIFEST, DIGEST, SIZE),
        &[&leaf.der, &f.root.der],
    );
    let o = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS).unwrap();
    assert!(o.fully_verified());
    assert_eq!(
        o.signer.unwrap().trust_store.as_deref(),
        Some("signingAuthority:acme-sa")
    );
    // authenticSigningTime not marked critical.
    h.insert(
        "crit".into(),
        serde_json::json!(["io.cncf.notary.signingScheme"]),
    );
    let env = sign_jws(
        &leaf.key,
        &h,
        &payload(MANIFEST, DIGEST, SIZE),
        &[&leaf.der, &f.root.der],
    );
    assert!(matches!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS),
        Err(NotaryError::HeaderNotCritical(_))
    ));
}

#[test]
fn expired_signature() {
    let f = Fixture::new();
    let mut h = jws_header(SIGNING_TIME);
    h.insert(
        "io.cncf.notary.expiry".into(),
        "2025-07-01T00:00:00Z".into(),
    );
    h.insert(
        "crit".into(),
        serde_json::json!(["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"]),
    );
    let env = sign_jws(
        &f.leaf.key,
        &h,
        &payload(MANIFEST, DIGEST, SIZE),
        &[&f.leaf.der, &f.root.der],
    );
    let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS);
    assert!(
        matches!(r, Err(NotaryError::SignatureExpired { .. })),
        "{r:?}"
    );
    let o = run(strict().clone(), store_with(&f.root), &env, MEDIA_TYPE_JWS)
        .err()
        .unwrap();
    assert_eq!(o.check(), Some(Check::Expiry));
    let o = run(
        policy("strict", r#"["*"]"#, r#","override":{"expiry":"log"}"#),
        store_with(&f.root),
        &env,
        MEDIA_TYPE_JWS,
    )
    .unwrap();
    assert!(matches!(
        o.report(Check::Expiry).unwrap().result,
        CheckResult::FailedLogged(_)
    ));
    // Expiry present but not critical.
    h.insert(
        "crit".into(),
        serde_json::json!(["io.cncf.notary.signingScheme"]),
    );
    let env = sign_jws(
        &f.leaf.key,
        &h,
        &payload(MANIFEST, DIGEST, SIZE),
        &[&f.leaf.der, &f.root.der],
    );
    assert!(matches!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS),
        Err(NotaryError::HeaderNotCritical(_))
    ));
    // COSE expiry as tag 1.
    let mut ch = cose_header(SIGNING_TIME_UNIX);
    ch[1].1 = Value::Array(vec![
        Value::Text("io.cncf.notary.signingScheme".into()),
        Value::Text("io.cncf.notary.expiry".into()),
    ]);
    ch.push((
        Value::Text("io.cncf.notary.expiry".into()),
        Value::Tag(1, Box::new(Value::Integer((SIGNING_TIME_UNIX + 60).into()))),
    ));
    let env = sign_cose(
        &f.leaf.key,
        ch,
        &payload(MANIFEST, DIGEST, SIZE),
        &[&f.leaf.der, &f.root.der],
    );
    assert!(matches!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_COSE),
        Err(NotaryError::SignatureExpired { .. })
    ));
    assert!(
        run_at(
            strict(),
            store_with(&f.root),
            &env,
            MEDIA_TYPE_COSE,
            SIGNING_TIME_UNIX + 30
        )
        .unwrap()
        .fully_verified()
    );
}

#[test]
fn unknown_critical_header_is_refused() {
    let f = Fixture::new();
    let mut h = jws_header(SIGNING_TIME);
    h.insert("com.example.mustUnderstand".into(), "yes".into());
    h.insert(
        "crit".into(),
        serde_json::json!(["io.cncf.notary.signingScheme", "com.example.mustUnderstand"]),
    );
    let env = sign_jws(
        &f.leaf.key,
        &h,
        &payload(MANIFEST, DIGEST, SIZE),
        &[&f.leaf.der, &f.root.der],
    );
    let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS);
    assert!(
        matches!(&r, Err(NotaryError::UnknownCriticalHeader(n)) if n == "com.example.mustUnderstand"),
        "{r:?}"
    );
    // Not critical: ignored, and visible as an extended attribute.
    h.insert(
        "crit".into(),
        serde_json::json!(["io.cncf.notary.signingScheme"]),
    );
    let env = sign_jws(
        &f.leaf.key,
        &h,
        &payload(MANIFEST, DIGEST, SIZE),
        &[&f.leaf.der, &f.root.der],
    );
    assert!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS)
            .unwrap()
            .fully_verified()
    );
    // crit naming an absent header.
    h.insert(
        "crit".into(),
        serde_json::json!(["io.cncf.notary.signingScheme", "absent"]),
    );
    let env = sign_jws(
        &f.leaf.key,
        &h,
        &payload(MANIFEST, DIGEST, SIZE),
        &[&f.leaf.der, &f.root.der],
    );
    assert!(matches!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS),
        Err(NotaryError::MalformedEnvelope { .. })
    ));
    // COSE.
    let mut ch = cose_header(SIGNING_TIME_UNIX);
    ch[1].1 = Value::Array(vec![
        Value::Text("io.cncf.notary.signingScheme".into()),
        Value::Integer(99.into()),
    ]);
    ch.push((Value::Integer(99.into()), Value::Bool(true)));
    let env = sign_cose(
        &f.leaf.key,
        ch,
        &payload(MANIFEST, DIGEST, SIZE),
        &[&f.leaf.der, &f.root.der],
    );
    let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_COSE);
    assert!(
        matches!(&r, Err(NotaryError::UnknownCriticalHeader(n)) if n == "99"),
        "{r:?}"
    );
}

#[test]
fn header_rules() {
    let f = Fixture::new();
    let sign = |h: &serde_json::Map<String, serde_json::Value>| {
        sign_jws(
            &f.leaf.key,
            h,
            &payload(MANIFEST, DIGEST, SIZE),
            &[&f.leaf.der, &f.root.der],
        )
    };
    let check = |h: serde_json::Map<String, serde_json::Value>,
                 ok: &dyn Fn(&NotaryError) -> bool| {
        let r = run(strict(), store_with(&f.root), &sign(&h), MEDIA_TYPE_JWS);
        assert!(matches!(&r, Err(e) if ok(e)), "{h:?} -> {r:?}");
    };
    let mut h = jws_header(SIGNING_TIME);
    h.insert("alg".into(), "ES384".into());
    check(h, &|e| matches!(e, NotaryError::AlgorithmMismatch { .. }));
    for alg in ["RS256", "none", "HS256", "EdDSA"] {
        let mut h = jws_header(SIGNING_TIME);
        h.insert("alg".into(), alg.into());
        check(h, &|e| matches!(e, NotaryError::UnsupportedAlgorithm(_)));
    }
    let mut h = jws_header(SIGNING_TIME);
    h.insert("cty".into(), "application/json".into());
    check(h, &|e| matches!(e, NotaryError::UnsupportedContentType(_)));
    let mut h = jws_header(SIGNING_TIME);
    h.insert(
        "io.cncf.notary.signingScheme".into(),
        "notary.default.x509".into(),
    );
    check(h, &|e| {
        matches!(e, NotaryError::UnsupportedSigningScheme(_))
    });
    let mut h = jws_header(SIGNING_TIME);
    h.remove("io.cncf.notary.signingTime");
    check(h, &|e| matches!(e, NotaryError::MalformedEnvelope { .. }));
    let mut h = jws_header(SIGNING_TIME);
    h.insert("crit".into(), serde_json::json!([]));
    check(h, &|e| matches!(e, NotaryError::MalformedEnvelope { .. }));
    let mut h = jws_header(SIGNING_TIME);
    h.insert(
        "io.cncf.notary.verificationPlugin".into(),
        "com.example.plugin".into(),
    );
    h.insert(
        "crit".into(),
        serde_json::json!([
            "io.cncf.notary.signingScheme",
            "io.cncf.notary.verificationPlugin"
        ]),
    );
    check(h, &|e| {
        matches!(e, NotaryError::VerificationPluginRequired { .. })
    });

    // Duplicate protected header names are refused (RFC 7515 §4).
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let dup = br#"{"alg":"ES256","alg":"ES256","crit":["io.cncf.notary.signingScheme"],"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2025-06-01T12:00:00Z"}"#;
    let mut v: serde_json::Value = serde_json::from_slice(&f.jws()).unwrap();
    v["protected"] = b64.encode(dup).into();
    let r = forage_notary::parse_envelope(&serde_json::to_vec(&v).unwrap(), MEDIA_TYPE_JWS);
    assert!(
        matches!(r, Err(NotaryError::MalformedEnvelope { .. })),
        "{r:?}"
    );
}

#[test]
fn truncated_envelopes_are_refused() {
    let f = Fixture::new();
    for (env, mt) in [(f.jws(), MEDIA_TYPE_JWS), (f.cose(), MEDIA_TYPE_COSE)] {
        for len in 0..env.len() {
            let r = run(strict(), store_with(&f.root), &env[..len], mt);
            let e = r.expect_err("a truncated envelope must not verify");
            assert_eq!(e.check(), Some(Check::Integrity), "len {len}: {e}");
        }
    }
}

#[test]
fn huge_envelope_is_refused_before_parsing() {
    let f = Fixture::new();
    let mut env = f.jws();
    env.resize(MAX_ENVELOPE_BYTES + 1, b' ');
    let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS);
    assert!(
        matches!(r, Err(NotaryError::OversizedEnvelope { .. })),
        "{r:?}"
    );
    let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_COSE);
    assert!(
        matches!(r, Err(NotaryError::OversizedEnvelope { .. })),
        "{r:?}"
    );
}

#[test]
fn chain_loops_and_long_chains_are_refused() {
    let f = Fixture::new();
    let p = payload(MANIFEST, DIGEST, SIZE);
    for chain in [
        vec![&f.leaf.der[..], &f.root.der, &f.leaf.der],
        vec![&f.leaf.der[..], &f.root.der, &f.root.der],
        vec![&f.leaf.der[..], &f.leaf.der],
    ] {
        let env = sign_jws(&f.leaf.key, &jws_header(SIGNING_TIME), &p, &chain);
        assert!(matches!(
            run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS),
            Err(NotaryError::ChainLoop { .. })
        ));
        let env = sign_cose(&f.leaf.key, cose_header(SIGNING_TIME_UNIX), &p, &chain);
        assert!(matches!(
            run(strict(), store_with(&f.root), &env, MEDIA_TYPE_COSE),
            Err(NotaryError::ChainLoop { .. })
        ));
    }
    // Eleven distinct certificates.
    let roots: Vec<Issued> = (0..10).map(|i| root(&format!("Filler {i}"))).collect();
    let mut chain: Vec<&[u8]> = vec![&f.leaf.der];
    chain.extend(roots.iter().map(|r| &r.der[..]));
    let env = sign_jws(&f.leaf.key, &jws_header(SIGNING_TIME), &p, &chain);
    assert!(matches!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS),
        Err(NotaryError::ChainTooLong { len: 11, .. })
    ));
    let env = sign_cose(&f.leaf.key, cose_header(SIGNING_TIME_UNIX), &p, &chain);
    assert!(matches!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_COSE),
        Err(NotaryError::ChainTooLong { len: 11, .. })
    ));
    // Empty chain.
    let env = sign_jws(&f.leaf.key, &jws_header(SIGNING_TIME), &p, &[]);
    assert!(matches!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS),
        Err(NotaryError::MalformedEnvelope { .. })
    ));
}

#[test]
fn leaf_certificate_requirements() {
    let f = Fixture::new();
    let p = payload(MANIFEST, DIGEST, SIZE);
    for (name, spec) in [
        (
            "serverAuth EKU",
            LeafSpec {
                eku: vec![SERVER_AUTH],
                ..Default::default()
            },
        ),
        (
            "CA leaf",
            LeafSpec {
                ca: true,
                ..Default::default()
            },
        ),
        (
            "no keyUsage",
            LeafSpec {
                key_usage: None,
                ..Default::default()
            },
        ),
        (
            "keyCertSign",
            LeafSpec {
                key_usage: Some(KeyUsages::KeyCertSign),
                ..Default::default()
            },
        ),
    ] {
        let l = leaf(&f.root, spec);
        let env = sign_jws(
            &l.key,
            &jws_header(SIGNING_TIME),
            &p,
            &[&l.der, &f.root.der],
        );
        let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS);
        assert!(
            matches!(r, Err(NotaryError::InvalidCertificateChain(_))),
            "{name}: {r:?}"
        );
    }
    // No EKU at all is allowed by the spec.
    let l = leaf(
        &f.root,
        LeafSpec {
            eku: vec![],
            ..Default::default()
        },
    );
    let env = sign_jws(
        &l.key,
        &jws_header(SIGNING_TIME),
        &p,
        &[&l.der, &f.root.der],
    );
    assert!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS)
            .unwrap()
            .fully_verified()
    );
    // A leaf signed by a CA certificate that is used as a leaf in x5c (chain ends in a non-root).
    let ica = intermediate(&f.root, "Forage Test Intermediate");
    let l = leaf(&ica, LeafSpec::default());
    let env = sign_jws(&l.key, &jws_header(SIGNING_TIME), &p, &[&l.der, &ica.der]);
    assert!(matches!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS),
        Err(NotaryError::InvalidCertificateChain(_))
    ));
}

#[test]
fn revocation_information_handling() {
    let f = Fixture::new();
    let l = leaf(
        &f.root,
        LeafSpec {
            crl_url: Some("http://crl.example/acme.crl"),
            ..Default::default()
        },
    );
    let env = sign_jws(
        &l.key,
        &jws_header(SIGNING_TIME),
        &payload(MANIFEST, DIGEST, SIZE),
        &[&l.der, &f.root.der],
    );
    // Spec default: unknown status fails where revocation is enforced.
    let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS);
    assert!(
        matches!(r, Err(NotaryError::RevocationUnknown { .. })),
        "{r:?}"
    );
    // ... is logged at permissive.
    let o = run(
        policy("permissive", r#"["*"]"#, ""),
        store_with(&f.root),
        &env,
        MEDIA_TYPE_JWS,
    )
    .unwrap();
    assert!(matches!(
        o.report(Check::Revocation).unwrap().result,
        CheckResult::FailedLogged(_)
    ));
    // ... can be skipped by policy.
    let o = run(
        policy("strict", r#"["*"]"#, r#","override":{"revocation":"skip"}"#),
        store_with(&f.root),
        &env,
        MEDIA_TYPE_JWS,
    )
    .unwrap();
    assert!(matches!(
        o.report(Check::Revocation).unwrap().result,
        CheckResult::Skipped(_)
    ));
    // ... or downgraded to a warning by the caller.
    let t = target();
    let o = Verifier::new(strict(), store_with(&f.root))
        .with_unknown_revocation(UnknownRevocation::Warn)
        .verify(&VerifyRequest::new(
            &env,
            MEDIA_TYPE_JWS,
            &t,
            REFERENCE,
            when(Y2026),
        ))
        .unwrap();
    assert!(matches!(
        o.report(Check::Revocation).unwrap().result,
        CheckResult::Skipped(_)
    ));
    assert_eq!(o.warnings.len(), 1);
}

#[test]
fn skip_level_and_policy_selection() {
    let f = Fixture::new();
    let p = TrustPolicyDocument::from_json(
        r#"{"version":"1.0","trustPolicies":[{"name":"off","registryScopes":["registry.example/acme/tool"],
        "signatureVerification":{"level":"skip"}}]}"#,
    )
    .unwrap();
    let o = run(
        p,
        TrustStore::new(),
        b"not even an envelope",
        MEDIA_TYPE_JWS,
    )
    .unwrap();
    assert!(o.signer.is_none());
    assert!(
        o.checks
            .iter()
            .all(|c| matches!(c.result, CheckResult::Skipped(_)))
    );
    // No statement for this repository.
    let t = target();
    let r = Verifier::new(strict(), store_with(&f.root)).verify(&VerifyRequest::new(
        &f.jws(),
        MEDIA_TYPE_JWS,
        &t,
        "other.example/repo",
        when(Y2026),
    ));
    assert!(
        matches!(r, Err(NotaryError::NoApplicablePolicy { .. })),
        "{r:?}"
    );
    assert_eq!(r.unwrap_err().check(), None);
}

#[test]
fn cose_structure_rules() {
    let f = Fixture::new();
    let env = f.cose();
    // Untagged COSE_Sign1 (drop the 0xd2 tag byte).
    assert_eq!(env[0], 0xd2);
    let r = run(strict(), store_with(&f.root), &env[1..], MEDIA_TYPE_COSE);
    assert!(
        matches!(r, Err(NotaryError::MalformedEnvelope { .. })),
        "{r:?}"
    );
    // Trailing garbage.
    let mut long = env.clone();
    long.push(0);
    let r = run(strict(), store_with(&f.root), &long, MEDIA_TYPE_COSE);
    assert!(
        matches!(r, Err(NotaryError::MalformedEnvelope { .. })),
        "{r:?}"
    );
    // A JWS given as COSE and vice versa.
    assert!(run(strict(), store_with(&f.root), &f.jws(), MEDIA_TYPE_COSE).is_err());
    assert!(run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS).is_err());
    // Unknown envelope media type.
    let r = run(
        strict(),
        store_with(&f.root),
        &env,
        "application/octet-stream",
    );
    assert!(
        matches!(r, Err(NotaryError::UnsupportedEnvelopeType(_))),
        "{r:?}"
    );
}

#[test]
fn p384_and_p521_leaves() {
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    let f = Fixture::new();
    let p = payload(MANIFEST, DIGEST, SIZE);
    let set_alg = |jws: &str, cose: i64| {
        let mut h = jws_header(SIGNING_TIME);
        h.insert("alg".into(), jws.into());
        let mut c = cose_header(SIGNING_TIME_UNIX);
        c[0].1 = Value::Integer(cose.into());
        (h, c)
    };

    let k384 = p384::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let spki384 = SubjectPublicKeyInfoOwned::from_key(*k384.verifying_key()).unwrap();
    let der = leaf_for_key(&f.root, &LeafSpec::default(), spki384);
    let sign384 = |m: &[u8]| -> Vec<u8> {
        let s: p384::ecdsa::Signature = p384::ecdsa::signature::Signer::sign(&k384, m);
        s.to_bytes().to_vec()
    };
    let (h, c) = set_alg("ES384", -35);
    let env = sign_jws_with(sign384, &h, &p, &[&der, &f.root.der]);
    assert!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS)
            .unwrap()
            .fully_verified()
    );
    let env = sign_cose_with(sign384, c, &p, &[&der, &f.root.der]);
    assert!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_COSE)
            .unwrap()
            .fully_verified()
    );
    // A P-384 key claiming ES256.
    let env = sign_jws_with(sign384, &jws_header(SIGNING_TIME), &p, &[&der, &f.root.der]);
    let r = run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS);
    assert!(
        matches!(r, Err(NotaryError::AlgorithmMismatch { .. })),
        "{r:?}"
    );

    let sk521 = p521::SecretKey::random(&mut rand_core::OsRng);
    let k521 = p521::ecdsa::SigningKey::from_bytes(&sk521.to_bytes()).unwrap();
    let spki521 = SubjectPublicKeyInfoOwned::from_key(sk521.public_key()).unwrap();
    let der = leaf_for_key(&f.root, &LeafSpec::default(), spki521);
    let sign521 = |m: &[u8]| -> Vec<u8> {
        let s: p521::ecdsa::Signature = p521::ecdsa::signature::Signer::sign(&k521, m);
        s.to_bytes().to_vec()
    };
    let (h, c) = set_alg("ES512", -36);
    let env = sign_jws_with(sign521, &h, &p, &[&der, &f.root.der]);
    assert!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_JWS)
            .unwrap()
            .fully_verified()
    );
    let env = sign_cose_with(sign521, c, &p, &[&der, &f.root.der]);
    assert!(
        run(strict(), store_with(&f.root), &env, MEDIA_TYPE_COSE)
            .unwrap()
            .fully_verified()
    );
}
