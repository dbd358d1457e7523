//! Trust benchmark (issue 4): what signature verification costs per component.
//!
//! `cargo bench -p forage-policy --bench verify` prints, for each signature format:
//!
//! * **policy compile**: `TrustPolicy::from_config` (parsing the cosign key or the Notary
//!   trust store), paid once when the daemon starts;
//! * **cold**: the first `trust::verify` of a digest, with the compiled policy. `verify` is
//!   stateless, so every digest not yet in the cache pays this: envelope / payload parsing,
//!   certificate chain parsing and checks, and the signature itself. Reported as the very first
//!   call in the process and as the median and p99 of repeated calls;
//! * **warm**: a verdict cache hit. The daemon (`daemon/src/trust.rs`) keeps verdicts in a
//!   `Mutex<HashMap<String, VerdictInfo>>` keyed by `registry/repository:tag@digest` and returns
//!   a clone on a hit; this bench models that (key formatted per lookup, lock, get, clone), with
//!   `Verdict` in place of `VerdictInfo` (which wraps a `Verdict`).
//!
//! Formats: cosign keyed with an ECDSA P-256 key generated and used to sign at bench start
//! (the simple-signing payload `cosign sign --key` writes); Notary Project JWS and COSE from the
//! reference implementation's vectors in `notary/tests/data` (`ng-jws-signature-oci-layout`
//! and `ng-cose-signature-oci-layout`: the same self-signed RSA-2048 leaf `CN=alpine`, PS256,
//! over the same manifest, so the two envelopes differ only in their encoding); and the
//! notation e2e vector `e2e-valid-signature` (JWS, PS256, self-signed) for comparison.
//! Each verdict is asserted to be `verified` before it is timed.
//!
//! No wasmtime here (policy must not depend on it): the share of a `load_tool` is worked out
//! in `docs/BENCHMARKS.md` against the load figures recorded there.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use forage_policy::Digest;
use forage_policy::trust::{
    self, FoundSignature, Level, PolicyConfig, ReferenceMatch, SubjectRef, TrustConfig,
    TrustPolicy, Verdict,
};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use signature::Signer as _;

const MANIFEST_MT: &str = "application/vnd.oci.image.manifest.v1+json";
/// Iterations of each timed loop (after the first, cold call).
const ITERS: usize = 400;
/// Cache hits timed per batch (one hit is below the clock's resolution).
const HITS: usize = 10_000;

/// 2026-01-01T00:00:00Z, inside every vector's validity.
fn t2026() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn notary_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../notary/tests/data/notary")
}

fn policy_cfg(name: &str) -> PolicyConfig {
    PolicyConfig {
        name: name.into(),
        registry_scopes: vec!["*".into()],
        level: Level::Strict,
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

/// One format to measure: how to compile its policy, and what to verify.
struct Case {
    name: &'static str,
    config: TrustConfig,
    subject: SubjectRef,
    signature: FoundSignature,
}

fn cosign_case() -> Case {
    let sk = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let pem = sk
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_MT}","artifactType":"application/vnd.wasm.config.v0+json","layers":[]}}"#
    );
    let digest = Digest::of(manifest.as_bytes());
    let reference = "ghcr.io/acme/components/clock";
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes();
    let sig: p256::ecdsa::Signature = sk.sign(&payload);
    let mut p = policy_cfg("cosign");
    p.cosign_keys = vec![pem];
    Case {
        name: "cosign keyed (ECDSA P-256)",
        config: TrustConfig {
            policies: vec![p],
            ..TrustConfig::default()
        },
        subject: SubjectRef::new(
            "ghcr.io",
            "acme/components/clock",
            digest,
            MANIFEST_MT,
            manifest.len() as u64,
        ),
        signature: FoundSignature::Cosign {
            payload,
            signature_b64: B64.encode(sig.to_der().as_bytes()),
            bundle: None,
            certificate: None,
            chain: None,
            media_type: trust::cosign::SIMPLE_SIGNING_MEDIA_TYPE.into(),
        },
    }
}

/// A Notary case: the envelope, its media type, the certificate (PEM) anchoring it, and the
/// signed target descriptor.
fn notary_case(
    name: &'static str,
    envelope: &str,
    media_type: &str,
    anchor_pem: String,
    digest: &str,
    size: u64,
) -> Case {
    let mut p = policy_cfg("notary");
    p.trust_stores = vec!["ca:bench".into()];
    p.trusted_identities = vec!["*".into()];
    Case {
        name,
        config: TrustConfig {
            trust_stores: BTreeMap::from([("ca:bench".into(), vec![anchor_pem])]),
            policies: vec![p],
            ..TrustConfig::default()
        },
        subject: SubjectRef::new(
            "registry.example",
            "bench/component",
            digest.parse().unwrap(),
            MANIFEST_MT,
            size,
        ),
        signature: FoundSignature::Notary {
            envelope: std::fs::read(notary_data().join(envelope)).unwrap(),
            media_type: media_type.into(),
        },
    }
}

/// The self-signed leaf of a JWS envelope (`header.x5c[0]`) as PEM: the trust anchor of the
/// `ng-*-signature-oci-layout` vectors, which ship no separate certificate file.
fn jws_leaf_pem(envelope: &str) -> String {
    let bytes = std::fs::read(notary_data().join(envelope)).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let der = v["header"]["x5c"][0].as_str().expect("x5c[0]");
    let body = der
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Row {
    name: &'static str,
    compile: Duration,
    first: Duration,
    p50: Duration,
    p99: Duration,
    warm: Duration,
}

fn measure(case: &Case) -> Row {
    let started = Instant::now();
    let policy = TrustPolicy::from_config(&case.config, Path::new(".")).expect("policy compiles");
    let compile = started.elapsed();

    let started = Instant::now();
    let v = trust::verify(
        &policy,
        &case.subject,
        std::slice::from_ref(&case.signature),
        t2026(),
    );
    let first = started.elapsed();
    assert!(
        v.is_verified(),
        "{}: {:?}\n{:#?}",
        case.name,
        v.verdict,
        v.checks
    );

    let mut samples = Vec::with_capacity(ITERS);
    for _ in 0..ITERS {
        let started = Instant::now();
        let v = trust::verify(
            black_box(&policy),
            black_box(&case.subject),
            std::slice::from_ref(&case.signature),
            t2026(),
        );
        samples.push(started.elapsed());
        black_box(v);
    }
    samples.sort();

    // The daemon's verdict cache (`daemon/src/trust.rs`): a `Mutex<HashMap>` keyed by
    // `registry/repository:tag@digest`, the key formatted on every lookup, a clone returned on a
    // hit; here with a few hundred other entries in it.
    let cache_key = |s: &SubjectRef| {
        format!(
            "{}/{}:{}@{}",
            s.registry,
            s.repository,
            s.tag.as_deref().unwrap_or(""),
            s.manifest_digest
        )
    };
    let cache: Mutex<HashMap<String, Verdict>> = Mutex::new(HashMap::new());
    for i in 0..500u32 {
        let mut other = case.subject.clone();
        other.manifest_digest = Digest::of(&i.to_le_bytes());
        cache.lock().unwrap().insert(cache_key(&other), v.clone());
    }
    cache
        .lock()
        .unwrap()
        .insert(cache_key(&case.subject), v.clone());
    let mut batches = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        for _ in 0..HITS {
            let key = cache_key(black_box(&case.subject));
            let hit = cache.lock().unwrap().get(&key).cloned();
            assert!(black_box(hit).is_some());
        }
        batches.push(started.elapsed() / HITS as u32);
    }
    batches.sort();

    Row {
        name: case.name,
        compile,
        first,
        p50: percentile(&samples, 0.5),
        p99: percentile(&samples, 0.99),
        warm: percentile(&batches, 0.5),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects cases by substring.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let cases = vec![
        cosign_case(),
        notary_case(
            "Notary JWS (RSA-2048 PS256, ng vector)",
            "notation-go/envelopes/jws_signature.sig",
            "application/jose+json",
            jws_leaf_pem("notation-go/envelopes/jws_signature.sig"),
            "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0",
            481,
        ),
        notary_case(
            "Notary COSE (RSA-2048 PS256, ng vector)",
            "notation-go/envelopes/cose_signature.sig",
            "application/cose",
            jws_leaf_pem("notation-go/envelopes/jws_signature.sig"),
            "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0",
            481,
        ),
        notary_case(
            "Notary JWS (RSA-2048 PS256, notation e2e vector)",
            "notation-e2e/oci_layout/e2e-valid-signature/blobs/sha256/c9af07e038b2b1a463e648986ad7273157511ffeba0b689f33e5472bae471f50",
            "application/jose+json",
            std::fs::read_to_string(notary_data().join("notation-e2e/config/localkeys/e2e.crt"))
                .unwrap(),
            "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9",
            517,
        ),
    ];
    println!(
        "trust verification per component ({} timed verifies per format; warm = median of 20 batches of {} cache hits)",
        ITERS, HITS
    );
    println!(
        "| format | policy compile (once) | cold: first verify | cold: verify p50 | cold: verify p99 | warm: cache hit |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for case in &cases {
        if filter.as_deref().is_some_and(|f| !case.name.contains(f)) {
            continue;
        }
        let r = measure(case);
        println!(
            "| {} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs | {:.2} µs |",
            r.name,
            us(r.compile),
            us(r.first),
            us(r.p50),
            us(r.p99),
            us(r.warm)
        );
    }
}
