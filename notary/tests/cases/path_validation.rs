//! RFC 5280 path validation beyond the Notary certificate requirements, on chains built at
//! test time: certificates with critical extensions the verifier does not process are
//! refused (§4.2), and CA name constraints bind every certificate below the CA (§4.2.1.10),
//! on the envelope chain and on the TSA chain of a timestamp countersignature.

use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280;
use der::Encode;
use der::asn1::{Ia5String, OctetString};
use forage_notary::{
    Check, Descriptor, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS, NotaryError, Outcome, StoreType,
    TrustPolicyDocument, TrustStore, Verifier, VerifyRequest,
};
use x509_cert::ext::pkix::constraints::name::GeneralSubtree;
use x509_cert::ext::pkix::name::{GeneralName, OtherName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, CertificatePolicies, ExtendedKeyUsage, NameConstraints,
    PolicyConstraints, SubjectAltName, SubjectKeyIdentifier, certpolicy::PolicyInformation,
};
use x509_cert::name::Name;

use crate::support::signer::*;
use crate::support::tsa::with_timestamp;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const SIZE: u64 = 1234;
const REFERENCE: &str = "registry.example/acme/tool:v1";
const SIGNING_TIME: &str = "2025-06-01T12:00:00Z";
const SIGNING_TIME_UNIX: u64 = 1_748_779_200;
/// A private-arc extension no verifier knows.
const PRIVATE_EXT: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.55555.7.1");
const TIME_STAMPING: ObjectIdentifier = rfc5280::ID_KP_TIME_STAMPING;

fn private_ext(critical: bool) -> RawExtension {
    RawExtension {
        oid: PRIVATE_EXT,
        critical,
        value: vec![0x05, 0x00], // NULL
    }
}

/// Strict, any identity, `root` in store `ca:acme`, plus `tsa_root` in `tsa:acme-tsa` when
/// given (then a timestamp is required).
fn verify_with(
    env: &[u8],
    media_type: &str,
    root: &Issued,
    tsa_root: Option<&Issued>,
) -> Result<Outcome, NotaryError> {
    let stores = if tsa_root.is_some() {
        r#"["ca:acme","tsa:acme-tsa"]"#
    } else {
        r#"["ca:acme"]"#
    };
    let policy = TrustPolicyDocument::from_json(&format!(
        r#"{{"version":"1.0","trustPolicies":[{{"name":"acme","registryScopes":["registry.example/acme/tool"],
        "signatureVerification":{{"level":"strict"}},"trustStores":{stores},"trustedIdentities":["*"]}}]}}"#
    ))
    .unwrap();
    let mut store = TrustStore::new();
    store
        .add_certificates(StoreType::Ca, "acme", &root.der)
        .unwrap();
    if let Some(t) = tsa_root {
        store
            .add_certificates(StoreType::Tsa, "acme-tsa", &t.der)
            .unwrap();
    }
    let target = Descriptor {
        media_type: MANIFEST.into(),
        digest: DIGEST.into(),
        size: SIZE,
    };
    Verifier::new(policy, store).verify(&VerifyRequest::new(
        env,
        media_type,
        &target,
        REFERENCE,
        UNIX_EPOCH + Duration::from_secs(Y2026),
    ))
}

/// JWS by `signer` carrying `chain` (signer first).
fn jws(signer: &Issued, chain: &[&Issued]) -> Vec<u8> {
    let ders: Vec<&[u8]> = chain.iter().map(|c| &c.der[..]).collect();
    sign_jws(
        &signer.key,
        &jws_header(SIGNING_TIME),
        &payload(MANIFEST, DIGEST, SIZE),
        &ders,
    )
}

fn verify(signer: &Issued, chain: &[&Issued], root: &Issued) -> Result<Outcome, NotaryError> {
    verify_with(&jws(signer, chain), MEDIA_TYPE_JWS, root, None)
}

fn dn(name: &Name) -> String {
    name.to_string()
}

/// `r` is the refusal of certificate `subject` for critical extension `oid`.
fn refused_for_extension(
    r: Result<Outcome, NotaryError>,
    subject: &Name,
    oid: ObjectIdentifier,
) -> Result<(), String> {
    match &r {
        Err(e @ NotaryError::UnrecognizedCriticalExtension { subject: s, oid: o })
            if *s == dn(subject)
                && *o == oid.to_string()
                && e.check() == Some(Check::Authenticity) =>
        {
            Ok(())
        }
        _ => Err(format!("{r:?}")),
    }
}

#[test]
fn unprocessed_critical_extensions_are_refused() {
    let root = ca(None, "Forage Test Root", &[]);

    // The same extension, not critical, may be ignored (RFC 5280 §4.2).
    let l = leaf(
        &root,
        LeafSpec {
            extra: vec![private_ext(false)],
            ..Default::default()
        },
    );
    assert!(verify(&l, &[&l, &root], &root).unwrap().fully_verified());

    let mut failures = Vec::new();
    let mut judge = |what: &str, verdict: Result<(), String>| {
        if let Err(e) = verdict {
            failures.push(format!("{what}: {e}"));
        }
    };

    // Critical on the signing certificate: refused in both envelope formats, naming the
    // certificate and the extension.
    let l = leaf(
        &root,
        LeafSpec {
            extra: vec![private_ext(true)],
            ..Default::default()
        },
    );
    let cose = sign_cose(
        &l.key,
        cose_header(SIGNING_TIME_UNIX),
        &payload(MANIFEST, DIGEST, SIZE),
        &[&l.der, &root.der],
    );
    judge(
        "private extension on the leaf, JWS",
        refused_for_extension(verify(&l, &[&l, &root], &root), &l.subject, PRIVATE_EXT),
    );
    judge(
        "private extension on the leaf, COSE",
        refused_for_extension(
            verify_with(&cose, MEDIA_TYPE_COSE, &root, None),
            &l.subject,
            PRIVATE_EXT,
        ),
    );

    // On an intermediate: policyConstraints (RFC 5280 requires it critical; policy
    // processing is not built, so the CA cannot be used).
    let policy_constraints = RawExtension::of(
        &PolicyConstraints {
            require_explicit_policy: Some(0),
            inhibit_policy_mapping: None,
        },
        true,
    );
    let ica = ca(Some(&root), "Policy CA", &[policy_constraints]);
    let l = leaf(&ica, LeafSpec::default());
    judge(
        "policyConstraints on the intermediate",
        refused_for_extension(
            verify(&l, &[&l, &ica, &root], &root),
            &ica.subject,
            rfc5280::ID_CE_POLICY_CONSTRAINTS,
        ),
    );

    // On the root: critical certificatePolicies.
    let policies = RawExtension::of(
        &CertificatePolicies(vec![PolicyInformation {
            policy_identifier: rfc5280::ANY_POLICY,
            policy_qualifiers: None,
        }]),
        true,
    );
    let policy_root = ca(None, "Policy Root", &[policies]);
    let l = leaf(&policy_root, LeafSpec::default());
    judge(
        "certificatePolicies on the root",
        refused_for_extension(
            verify(&l, &[&l, &policy_root], &policy_root),
            &policy_root.subject,
            rfc5280::ID_CE_CERTIFICATE_POLICIES,
        ),
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Extensions the verifier does process are accepted when critical.
    let l = leaf(
        &root,
        LeafSpec {
            eku: vec![],
            extra: vec![
                RawExtension::of(&ExtendedKeyUsage(vec![CODE_SIGNING]), true),
                RawExtension::of(
                    &SubjectAltName(vec![GeneralName::DnsName(
                        Ia5String::new("build.acme.example").unwrap(),
                    )]),
                    true,
                ),
                RawExtension::of(
                    &SubjectKeyIdentifier(OctetString::new(vec![1; 20]).unwrap()),
                    true,
                ),
                RawExtension::of(
                    &AuthorityKeyIdentifier {
                        key_identifier: Some(OctetString::new(vec![2; 20]).unwrap()),
                        authority_cert_issuer: None,
                        authority_cert_serial_number: None,
                    },
                    true,
                ),
            ],
            ..Default::default()
        },
    );
    let ica = ca(
        Some(&root),
        "Constrained CA",
        &[name_constraints(vec![dns("acme.example")], vec![], true)],
    );
    let l2 = leaf(
        &ica,
        LeafSpec {
            san: vec![dns("build.acme.example")],
            ..Default::default()
        },
    );
    assert!(verify(&l, &[&l, &root], &root).unwrap().fully_verified());
    assert!(
        verify(&l2, &[&l2, &ica, &root], &root)
            .unwrap()
            .fully_verified()
    );
}

fn dns(s: &str) -> GeneralName {
    GeneralName::DnsName(Ia5String::new(s).unwrap())
}

fn email(s: &str) -> GeneralName {
    GeneralName::Rfc822Name(Ia5String::new(s).unwrap())
}

fn uri(s: &str) -> GeneralName {
    GeneralName::UniformResourceIdentifier(Ia5String::new(s).unwrap())
}

fn dir(s: &str) -> GeneralName {
    GeneralName::DirectoryName(Name::from_str(s).unwrap())
}

fn ip(bytes: &[u8]) -> GeneralName {
    GeneralName::IpAddress(OctetString::new(bytes).unwrap())
}

fn name_constraints(
    permitted: Vec<GeneralName>,
    excluded: Vec<GeneralName>,
    critical: bool,
) -> RawExtension {
    let trees = |names: Vec<GeneralName>| {
        (!names.is_empty()).then(|| {
            names
                .into_iter()
                .map(|base| GeneralSubtree {
                    base,
                    minimum: 0,
                    maximum: None,
                })
                .collect()
        })
    };
    RawExtension::of(
        &NameConstraints {
            permitted_subtrees: trees(permitted),
            excluded_subtrees: trees(excluded),
        },
        critical,
    )
}

/// Subject alternative names of one of each constrained form.
fn all_sans() -> Vec<GeneralName> {
    vec![
        dns("build.acme.example"),
        email("signer@acme.example"),
        uri("https://build.acme.example/pipeline"),
        ip(&[10, 1, 2, 3]),
    ]
}

enum Expect {
    Verified,
    /// A violation: substrings of the offending name and of the constraint.
    Violated(&'static str, &'static str),
    /// Substring of the unsupported form.
    Unsupported(&'static str),
}

#[test]
fn name_constraints_of_an_intermediate_bind_the_leaf() {
    use Expect::*;
    let default_subject = LeafSpec::default().subject;
    let cases: Vec<(&str, RawExtension, Vec<GeneralName>, String, Expect)> = vec![
        (
            "every name inside the permitted subtrees",
            name_constraints(
                vec![
                    dir("L=Seattle,ST=WA,C=US"),
                    dns("acme.example"),
                    email("acme.example"),
                    uri(".acme.example"),
                    ip(&[10, 0, 0, 0, 255, 0, 0, 0]),
                ],
                vec![dns("evil.example"), ip(&[192, 168, 0, 0, 255, 255, 0, 0])],
                true,
            ),
            all_sans(),
            default_subject.clone(),
            Verified,
        ),
        (
            "constraints on forms the leaf has no name of restrict nothing",
            name_constraints(
                vec![
                    dns("other.example"),
                    email("other.example"),
                    uri("other.example"),
                    ip(&[192, 168, 0, 0, 255, 255, 0, 0]),
                ],
                vec![],
                true,
            ),
            vec![],
            default_subject.clone(),
            Verified,
        ),
        (
            "subject DN outside the permitted directoryName",
            name_constraints(vec![dir("ST=OR,C=US")], vec![], true),
            vec![],
            default_subject.clone(),
            Violated(
                r#"directoryName "CN=Forage Test Signer"#,
                r#"permitted directoryName subtrees ["ST=OR,C=US"]"#,
            ),
        ),
        (
            "subject DN inside an excluded directoryName",
            name_constraints(vec![], vec![dir("L=Seattle,ST=WA,C=US")], true),
            vec![],
            default_subject.clone(),
            Violated(
                "directoryName",
                r#"excluded directoryName subtree "L=Seattle,ST=WA,C=US""#,
            ),
        ),
        (
            "directoryName in the subjectAltName outside the permitted subtree",
            name_constraints(vec![dir("L=Seattle,ST=WA,C=US")], vec![], true),
            vec![dir("CN=Someone,O=Elsewhere,C=FR")],
            default_subject.clone(),
            Violated(
                r#"directoryName "CN=Someone,O=Elsewhere,C=FR""#,
                "permitted directoryName",
            ),
        ),
        (
            "dNSName outside the permitted subtree",
            name_constraints(vec![dns("other.example")], vec![], true),
            all_sans(),
            default_subject.clone(),
            Violated(
                r#"dNSName "build.acme.example""#,
                r#"permitted dNSName subtrees ["other.example"]"#,
            ),
        ),
        (
            "dNSName subtrees match whole labels only",
            name_constraints(vec![dns("cme.example")], vec![], true),
            all_sans(),
            default_subject.clone(),
            Violated(r#"dNSName "build.acme.example""#, "permitted dNSName"),
        ),
        (
            "dNSName inside an excluded subtree",
            name_constraints(vec![], vec![dns("acme.example")], true),
            all_sans(),
            default_subject.clone(),
            Violated(
                r#"dNSName "build.acme.example""#,
                r#"excluded dNSName subtree "acme.example""#,
            ),
        ),
        (
            "wildcard dNSName that may name an excluded host",
            name_constraints(vec![], vec![dns("www.acme.example")], true),
            vec![dns("*.acme.example")],
            default_subject.clone(),
            Violated(r#"dNSName "*.acme.example""#, "excluded dNSName"),
        ),
        (
            "rfc822Name: .domain permits only hosts below it",
            name_constraints(vec![email(".acme.example")], vec![], true),
            all_sans(),
            default_subject.clone(),
            Violated(
                r#"rfc822Name "signer@acme.example""#,
                "permitted rfc822Name",
            ),
        ),
        (
            "rfc822Name: excluded mailbox",
            name_constraints(vec![], vec![email("signer@acme.example")], true),
            all_sans(),
            default_subject.clone(),
            Violated(
                r#"rfc822Name "signer@acme.example""#,
                r#"excluded rfc822Name subtree "signer@acme.example""#,
            ),
        ),
        (
            "rfc822Name: the subject's emailAddress attribute is constrained too",
            name_constraints(vec![email("acme.example")], vec![], true),
            vec![],
            // emailAddress as an IA5String, hex-encoded DER.
            format!(
                "1.2.840.113549.1.9.1=#{},{default_subject}",
                Ia5String::new("signer@evil.example")
                    .unwrap()
                    .to_der()
                    .unwrap()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ),
            Violated(
                r#"rfc822Name "signer@evil.example""#,
                "permitted rfc822Name",
            ),
        ),
        (
            "URI host outside the permitted subtree",
            name_constraints(vec![uri("acme.example")], vec![], true),
            all_sans(),
            default_subject.clone(),
            Violated(
                r#"uniformResourceIdentifier "https://build.acme.example/pipeline""#,
                r#"permitted uniformResourceIdentifier subtrees ["acme.example"]"#,
            ),
        ),
        (
            "URI host inside an excluded subtree",
            name_constraints(vec![], vec![uri("build.acme.example")], true),
            all_sans(),
            default_subject.clone(),
            Violated(
                "uniformResourceIdentifier",
                r#"excluded uniformResourceIdentifier subtree "build.acme.example""#,
            ),
        ),
        (
            "URI without a host name where URIs are constrained",
            name_constraints(vec![], vec![uri("evil.example")], true),
            vec![uri("urn:acme:pipeline")],
            default_subject.clone(),
            Violated(r#""urn:acme:pipeline""#, "cannot be checked"),
        ),
        (
            "iPAddress outside the permitted range",
            name_constraints(vec![ip(&[192, 168, 0, 0, 255, 255, 0, 0])], vec![], true),
            all_sans(),
            default_subject.clone(),
            Violated(
                r#"iPAddress "10.1.2.3""#,
                r#"permitted iPAddress subtrees ["192.168.0.0/255.255.0.0"]"#,
            ),
        ),
        (
            "iPAddress inside an excluded range",
            name_constraints(vec![], vec![ip(&[10, 0, 0, 0, 255, 0, 0, 0])], true),
            all_sans(),
            default_subject.clone(),
            Violated(
                r#"iPAddress "10.1.2.3""#,
                r#"excluded iPAddress subtree "10.0.0.0/255.0.0.0""#,
            ),
        ),
        (
            "a non-critical nameConstraints is enforced all the same",
            name_constraints(vec![], vec![dns("acme.example")], false),
            all_sans(),
            default_subject.clone(),
            Violated("dNSName", "excluded dNSName"),
        ),
        (
            "registeredID subtrees cannot be enforced",
            name_constraints(
                vec![GeneralName::RegisteredId(PRIVATE_EXT), dns("acme.example")],
                vec![],
                true,
            ),
            vec![],
            default_subject.clone(),
            Unsupported("registeredID"),
        ),
        (
            "otherName subtrees cannot be enforced",
            name_constraints(
                vec![],
                vec![GeneralName::OtherName(OtherName {
                    type_id: PRIVATE_EXT,
                    value: der::Any::encode_from(&Ia5String::new("x").unwrap()).unwrap(),
                })],
                true,
            ),
            all_sans(),
            default_subject.clone(),
            Unsupported("otherName"),
        ),
    ];
    let root = ca(None, "Forage Test Root", &[]);
    // Every case runs; the failures are reported together.
    let mut failures = Vec::new();
    for (what, nc, san, subject, expect) in cases {
        let ica = ca(Some(&root), "Constrained CA", &[nc]);
        let l = leaf(
            &ica,
            LeafSpec {
                subject,
                san,
                ..Default::default()
            },
        );
        let r = verify(&l, &[&l, &ica, &root], &root);
        let ok = match (&expect, &r) {
            (Verified, Ok(o)) => o.fully_verified(),
            (
                Violated(want_name, want_constraint),
                Err(
                    e @ NotaryError::NameConstraintViolated {
                        ca,
                        subject,
                        name,
                        constraint,
                    },
                ),
            ) => {
                *ca == dn(&ica.subject)
                    && *subject == dn(&l.subject)
                    && name.contains(want_name)
                    && constraint.contains(want_constraint)
                    && e.check() == Some(Check::Authenticity)
            }
            (Unsupported(want), Err(NotaryError::UnsupportedNameConstraint { ca, form })) => {
                *ca == dn(&ica.subject) && form.contains(want)
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{what}: {r:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn name_constraints_of_the_root_bind_intermediates_too() {
    let root = ca(
        None,
        "Forage Test Root",
        &[name_constraints(vec![dir("ST=OR,C=US")], vec![], true)],
    );
    // Its own subject (ST=WA) is outside the root's subtree: the intermediate is refused
    // before the leaf is looked at.
    let ica = ca(Some(&root), "Forage Test Intermediate", &[]);
    let l = leaf(&ica, LeafSpec::default());
    match verify(&l, &[&l, &ica, &root], &root) {
        Err(NotaryError::NameConstraintViolated {
            ca,
            subject,
            constraint,
            ..
        }) => {
            assert_eq!(ca, dn(&root.subject));
            assert_eq!(subject, dn(&ica.subject));
            assert!(
                constraint.contains("permitted directoryName"),
                "{constraint}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Inside it, both pass.
    let root = ca(
        None,
        "Forage Test Root",
        &[name_constraints(vec![dir("ST=WA,C=US")], vec![], true)],
    );
    let ica = ca(Some(&root), "Forage Test Intermediate", &[]);
    let l = leaf(&ica, LeafSpec::default());
    assert!(
        verify(&l, &[&l, &ica, &root], &root)
            .unwrap()
            .fully_verified()
    );
}

/// Envelope chain root -> leaf, timestamped by TSA leaf `tsa` under `tsa_ca` under
/// `tsa_root`.
fn verify_timestamped(
    tsa_ca_extra: &[RawExtension],
    tsa_leaf_extra: Vec<RawExtension>,
) -> (Result<Outcome, NotaryError>, Issued, Issued) {
    let root = ca(None, "Forage Test Root", &[]);
    let l = leaf(&root, LeafSpec::default());
    let tsa_root = ca(None, "Forage TSA Root", &[]);
    let tsa_ca = ca(Some(&tsa_root), "Forage TSA CA", tsa_ca_extra);
    let tsa = leaf(
        &tsa_ca,
        LeafSpec {
            subject: "CN=Forage Test TSA,O=Forage Test,ST=WA,C=US".into(),
            eku: vec![TIME_STAMPING],
            extra: tsa_leaf_extra,
            ..Default::default()
        },
    );
    let env = with_timestamp(
        &jws(&l, &[&l, &root]),
        &tsa,
        &[&tsa_ca.der],
        SIGNING_TIME_UNIX,
    );
    (
        verify_with(&env, MEDIA_TYPE_JWS, &root, Some(&tsa_root)),
        tsa_ca,
        tsa,
    )
}

#[test]
fn the_timestamp_authority_path_is_validated_the_same_way() {
    // Baseline: the test TSA's token is verified and vouches for the signing time.
    let (r, _, _) = verify_timestamped(&[], vec![]);
    let o = r.unwrap();
    assert!(o.fully_verified());
    let ts = o.signer.unwrap().timestamp.expect("timestamp verified");
    assert_eq!(ts.0.to_string(), SIGNING_TIME);

    // Each refusal is a TimestampInvalid whose message contains all of `want`.
    let mut failures = Vec::new();
    let mut judge = |what: &str, r: Result<Outcome, NotaryError>, want: &[&str]| match &r {
        Err(NotaryError::TimestampInvalid(msg)) if want.iter().all(|w| msg.contains(w)) => {}
        _ => failures.push(format!("{what}: {r:?}")),
    };

    // A critical extension the verifier does not process, on the TSA certificate.
    let (r, _, tsa) = verify_timestamped(&[], vec![private_ext(true)]);
    judge(
        "critical private extension on the TSA certificate",
        r,
        &[&dn(&tsa.subject), &PRIVATE_EXT.to_string()],
    );

    // The TSA's CA excludes the TSA certificate's subject.
    let (r, tsa_ca, tsa) = verify_timestamped(
        &[name_constraints(
            vec![],
            vec![dir("O=Forage Test,ST=WA,C=US")],
            true,
        )],
        vec![],
    );
    judge(
        "TSA subject excluded by its CA",
        r,
        &[
            "nameConstraints",
            &dn(&tsa_ca.subject),
            &dn(&tsa.subject),
            "excluded directoryName",
        ],
    );

    // ... and an unsupported form in the TSA CA's constraints.
    let (r, tsa_ca, _) = verify_timestamped(
        &[name_constraints(
            vec![GeneralName::RegisteredId(PRIVATE_EXT)],
            vec![],
            true,
        )],
        vec![],
    );
    judge(
        "registeredID constraint on the TSA CA",
        r,
        &[&dn(&tsa_ca.subject), "registeredID"],
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
