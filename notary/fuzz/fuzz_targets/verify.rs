//! Whole verifier on arbitrary envelopes (first byte picks the format), against a fixed
//! audit-level policy so every check runs. Seed the corpus with
//! `../tests/data/notary/notation-go/envelopes/*`.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use forage_notary::{Descriptor, StoreType, TrustPolicyDocument, TrustStore, Verifier, VerifyRequest};
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let policy = TrustPolicyDocument::from_json(
            r#"{"version":"1.0","trustPolicies":[{"name":"f","registryScopes":["*"],
            "signatureVerification":{"level":"audit"},"trustStores":["ca:f"],"trustedIdentities":["*"]}]}"#,
        )
        .unwrap();
        let mut store = TrustStore::new();
        store
            .add_certificates(
                StoreType::Ca,
                "f",
                include_bytes!("../../tests/data/notary/notation-go/truststore/x509/ca/valid-trust-store/NotationTestRoot.pem"),
            )
            .unwrap();
        Verifier::new(policy, store)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, env)) = data.split_first() else { return };
    let mt = if sel & 1 == 0 { forage_notary::MEDIA_TYPE_JWS } else { forage_notary::MEDIA_TYPE_COSE };
    let target = Descriptor {
        media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
        digest: "sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e".into(),
        size: 528,
    };
    let t = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let _ = verifier().verify(&VerifyRequest::new(env, mt, &target, "registry.example/repo", t));
});
