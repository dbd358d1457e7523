//! Property-style robustness tests: random, truncated, mutated and adversarial inputs go
//! through both envelope parsers and the full verifier; nothing may panic, and nothing
//! but the untouched envelope may verify.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, UNIX_EPOCH};

use forage_notary::{
    Descriptor, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS, StoreType, TrustPolicyDocument, TrustStore,
    Verifier, VerifyRequest, parse_envelope,
};

use crate::support::signer::*;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().take(256).map(|x| format!("{x:02x}")).collect()
}

fn no_panic<T>(what: &str, input: &[u8], f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => panic!("{what} panicked on input (first 256 bytes): {}", hex(input)),
    }
}

fn parse_both(input: &[u8]) {
    for mt in [MEDIA_TYPE_JWS, MEDIA_TYPE_COSE] {
        no_panic(mt, input, || {
            let _ = parse_envelope(input, mt);
        });
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let n = rng.below(1024);
        parse_both(&rng.bytes(n));
    }
    // Random bytes behind plausible first bytes of each format.
    for _ in 0..2000 {
        let n = rng.below(512);
        let mut jws = br#"{"payload":""#.to_vec();
        jws.extend(rng.bytes(n));
        parse_both(&jws);
        let mut cose = vec![0xd2, 0x84];
        cose.extend(rng.bytes(n));
        parse_both(&cose);
    }
}

#[test]
fn adversarial_cbor_and_json_never_panic() {
    let mut cases: Vec<Vec<u8>> = vec![
        // array / map / bstr / text claiming 2^64-1 elements or bytes
        vec![0xd2, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0xd2, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![
            0xd2, 0x84, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
        vec![
            0xd2, 0x84, 0x7b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
        // indefinite-length items, unterminated
        vec![0xd2, 0x9f, 0x9f, 0x9f],
        vec![0xd2, 0x84, 0x5f, 0x41, 0x00],
        // deep nesting
        [vec![0xd2], vec![0x81; 100_000]].concat(),
        [vec![0xd2], vec![0xc1; 100_000]].concat(),
        // protected header bstr holding nested garbage
        vec![0xd2, 0x84, 0x43, 0xa1, 0x01, 0x9b, 0xa0, 0x40, 0x40],
        // JSON nesting and huge numbers
        [b"{\"payload\":".to_vec(), vec![b'['; 100_000]].concat(),
        br#"{"payload":"","protected":"","signature":"","header":{"x5c":[1e999999]}}"#.to_vec(),
        br#"{"payload":"a","protected":"eyJ9","signature":"","header":{"x5c":[]}}"#.to_vec(),
    ];
    // A COSE envelope whose protected header is a map of 10k entries.
    let mut big = vec![0xd2, 0x84, 0x5a, 0, 0, 0, 0];
    let mut map = vec![0xb9, 0x27, 0x10];
    for i in 0..10_000u16 {
        map.extend([0x19]);
        map.extend(i.to_be_bytes());
        map.push(0x00);
    }
    big[3..7].copy_from_slice(&(map.len() as u32).to_be_bytes());
    big.extend(map);
    big.extend([0xa0, 0x40, 0x40]);
    cases.push(big);
    for c in &cases {
        parse_both(c);
    }
}

fn setup() -> (Verifier, Verifier, Vec<u8>, Vec<u8>) {
    let root = root("Fuzz Root");
    let leaf = leaf(&root, LeafSpec::default());
    let p = payload(
        "application/vnd.oci.image.manifest.v1+json",
        &format!("sha256:{}", "ab".repeat(32)),
        7,
    );
    let jws = sign_jws(
        &leaf.key,
        &jws_header("2025-01-01T00:00:00Z"),
        &p,
        &[&leaf.der, &root.der],
    );
    let cose = sign_cose(
        &leaf.key,
        cose_header(1_735_689_600),
        &p,
        &[&leaf.der, &root.der],
    );
    let mut store = TrustStore::new();
    store
        .add_certificates(StoreType::Ca, "fuzz", &root.der)
        .unwrap();
    let policy = TrustPolicyDocument::from_json(
        r#"{"version":"1.0","trustPolicies":[{"name":"f","registryScopes":["*"],
        "signatureVerification":{"level":"audit"},"trustStores":["ca:fuzz"],"trustedIdentities":["*"]}]}"#,
    )
    .unwrap();
    let strict = TrustPolicyDocument::from_json(
        r#"{"version":"1.0","trustPolicies":[{"name":"f","registryScopes":["*"],
        "signatureVerification":{"level":"strict"},"trustStores":["ca:fuzz"],"trustedIdentities":["*"]}]}"#,
    )
    .unwrap();
    (
        Verifier::new(policy, store.clone()),
        Verifier::new(strict, store),
        jws,
        cose,
    )
}

#[test]
fn truncated_and_mutated_envelopes_never_panic_or_verify() {
    let (audit, strict, jws, cose) = setup();
    let target = Descriptor {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: format!("sha256:{}", "ab".repeat(32)),
        size: 7,
    };
    let t = UNIX_EPOCH + Duration::from_secs(Y2026);
    let verify_with = |v: &Verifier, env: &[u8], mt: &str| {
        no_panic("verify", env, || {
            v.verify(&VerifyRequest::new(env, mt, &target, "r.example/x", t))
        })
    };
    let verify = |env: &[u8], mt: &str| verify_with(&audit, env, mt);
    for (env, mt) in [(&jws, MEDIA_TYPE_JWS), (&cose, MEDIA_TYPE_COSE)] {
        assert!(verify(env, mt).is_ok(), "baseline must verify");
        for len in 0..env.len() {
            assert!(verify(&env[..len], mt).is_err());
        }
    }
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for round in 0..3000 {
        let (base, mt) = if round % 2 == 0 {
            (&jws, MEDIA_TYPE_JWS)
        } else {
            (&cose, MEDIA_TYPE_COSE)
        };
        let mut env = base.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(env.len());
            env[i] = rng.next() as u8;
        }
        if env == *base {
            continue;
        }
        // A mutation may land in bytes the envelope signature does not cover: the
        // unprotected signing agent, or any certificate bytes other than the signer's key
        // (only authenticity looks at those, and audit merely logs authenticity). So: at
        // audit, acceptance requires the signed payload to be unchanged; at strict, the
        // whole chain too.
        if verify(&env, mt).is_ok() {
            let a = parse_envelope(&env, mt).unwrap();
            let b = parse_envelope(base, mt).unwrap();
            assert_eq!(a.payload, b.payload, "mutated payload verified at audit");
        }
        if verify_with(&strict, &env, mt).is_ok() {
            let a = parse_envelope(&env, mt).unwrap();
            let b = parse_envelope(base, mt).unwrap();
            assert_eq!(a.payload, b.payload, "mutated payload verified at strict");
            assert_eq!(
                a.certificate_chain, b.certificate_chain,
                "mutated chain verified at strict"
            );
        }
    }
}

#[test]
fn mutated_reference_vectors_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/notary");
    let files = [
        (
            "notation-go/envelopes/ca_valid_sig_env.json",
            MEDIA_TYPE_JWS,
        ),
        ("notation-go/envelopes/cose_signature.sig", MEDIA_TYPE_COSE),
        (
            "notation-go/timestamp/coseWithTimestamp.sig",
            MEDIA_TYPE_COSE,
        ),
    ];
    let mut rng = Rng(42);
    for (f, mt) in files {
        let base = std::fs::read(dir.join(f)).unwrap();
        for _ in 0..300 {
            let mut env = base.clone();
            let i = rng.below(env.len());
            env[i] ^= 1 << rng.below(8);
            no_panic(f, &env, || {
                let _ = parse_envelope(&env, mt);
            });
        }
    }
}

#[test]
fn mutated_timestamp_tokens_never_panic_or_verify() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/notary");
    let mut jws: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("notation-go/timestamp/jwsWithTimestamp.sig")).unwrap(),
    )
    .unwrap();
    let token = b64
        .decode(
            jws["header"]["io.cncf.notary.timestampSignature"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let mut store = TrustStore::new();
    store
        .add_file(
            StoreType::Ca,
            "ca",
            &dir.join("notation-go/truststore/x509/ca/valid-trust-store/TestTimestamp.crt"),
        )
        .unwrap();
    store
        .add_file(
            StoreType::Tsa,
            "tsa",
            &dir.join("notation-go/truststore/x509/tsa/test-timestamp/globalsignRoot.cer"),
        )
        .unwrap();
    let policy = TrustPolicyDocument::from_json(
        r#"{"version":"1.0","trustPolicies":[{"name":"f","registryScopes":["*"],
        "signatureVerification":{"level":"strict"},"trustStores":["ca:ca","tsa:tsa"],"trustedIdentities":["*"]}]}"#,
    )
    .unwrap();
    let verifier = Verifier::new(policy, store);
    let target = Descriptor {
        media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
        digest: "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda".into(),
        size: 528,
    };
    let t = UNIX_EPOCH + Duration::from_secs(Y2026);
    let mut run = |tok: &[u8]| {
        jws["header"]["io.cncf.notary.timestampSignature"] = b64.encode(tok).into();
        let env = serde_json::to_vec(&jws).unwrap();
        no_panic("timestamp", tok, || {
            verifier.verify(&VerifyRequest::new(
                &env,
                MEDIA_TYPE_JWS,
                &target,
                "r.example/x",
                t,
            ))
        })
    };
    assert!(run(&token).is_ok(), "baseline must verify");
    let mut rng = Rng(7);
    for _ in 0..400 {
        let mut tok = token.clone();
        let i = rng.below(tok.len());
        tok[i] ^= 1 << rng.below(8);
        if let Ok(o) = run(&tok) {
            // Only bytes outside what is signed or checked may change (e.g. unsigned
            // attributes, certificates not on the path); the trusted time must be unchanged.
            assert!(o.signer.unwrap().timestamp.is_some());
        }
    }
    for len in (0..token.len()).step_by(7) {
        assert!(run(&token[..len]).is_err());
    }
}
