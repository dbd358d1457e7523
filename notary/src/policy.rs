//! Notary trust policy documents (`trust-store-trust-policy.md`, OCI policy version 1.0),
//! validated once at load time, and the per-level validation matrix.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

use crate::NotaryError;

/// One of the five Notary validations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// The envelope parses, its signature verifies with the signing key, and the payload
    /// names the artifact being verified.
    Integrity,
    /// The chain is well-formed, leads to a trust-store certificate and the signer is a
    /// trusted identity.
    Authenticity,
    /// The chain is valid at an authentic time (timestamp, authentic signing time, or the
    /// verification time when there is none).
    AuthenticTimestamp,
    /// The signature's `io.cncf.notary.expiry` has not passed.
    Expiry,
    /// No chain certificate is revoked.
    Revocation,
}

impl Check {
    /// All checks, in the order the spec's table lists them.
    pub const ALL: [Check; 5] = [
        Check::Integrity,
        Check::Authenticity,
        Check::AuthenticTimestamp,
        Check::Expiry,
        Check::Revocation,
    ];

    /// The name used in trust policies (`authenticTimestamp`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Integrity => "integrity",
            Check::Authenticity => "authenticity",
            Check::AuthenticTimestamp => "authenticTimestamp",
            Check::Expiry => "expiry",
            Check::Revocation => "revocation",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a verification level does with a failed check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// A failure refuses the signature.
    Enforce,
    /// A failure is recorded as a warning; verification continues.
    Log,
    /// The check is not performed.
    Skip,
}

/// `signatureVerification.level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerificationLevel {
    /// Every check enforced.
    Strict,
    /// Integrity and authenticity enforced; the rest logged.
    Permissive,
    /// Integrity enforced; the rest logged.
    Audit,
    /// No verification at all.
    Skip,
}

impl VerificationLevel {
    /// The spec's table ("Signature Verification details"), before overrides.
    pub fn action(self, check: Check) -> Action {
        use Action::*;
        use Check::*;
        match (self, check) {
            (VerificationLevel::Skip, _) => Skip,
            (VerificationLevel::Strict, _) => Enforce,
            (VerificationLevel::Permissive, Integrity | Authenticity) => Enforce,
            (VerificationLevel::Permissive, _) => Log,
            (VerificationLevel::Audit, Integrity) => Enforce,
            (VerificationLevel::Audit, _) => Log,
        }
    }
}

/// `signatureVerification.verifyTimestamp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
pub enum VerifyTimestamp {
    /// Always verify the timestamp countersignature (when a `tsa:` store is configured).
    #[default]
    #[serde(rename = "always")]
    Always,
    /// Only require the timestamp once a chain certificate has expired.
    #[serde(rename = "afterCertExpiry")]
    AfterCertExpiry,
}

/// Kind of a named trust store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreType {
    /// `ca`: roots for `notary.x509` signatures.
    Ca,
    /// `signingAuthority`: roots for `notary.x509.signingAuthority` signatures.
    SigningAuthority,
    /// `tsa`: roots for RFC 3161 timestamping authorities.
    Tsa,
}

impl StoreType {
    /// Parses `ca` / `signingAuthority` / `tsa`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ca" => Some(StoreType::Ca),
            "signingAuthority" => Some(StoreType::SigningAuthority),
            "tsa" => Some(StoreType::Tsa),
            _ => None,
        }
    }

    /// The prefix used in policies and in notation's directory layout.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreType::Ca => "ca",
            StoreType::SigningAuthority => "signingAuthority",
            StoreType::Tsa => "tsa",
        }
    }
}

/// A reference to a named trust store, `type:name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreRef {
    /// Store kind.
    pub kind: StoreType,
    /// Store name.
    pub name: String,
}

impl fmt::Display for StoreRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.name)
    }
}

impl StoreRef {
    /// Parses `ca:NAME`, `signingAuthority:NAME` or `tsa:NAME`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (kind, name) = s
            .split_once(':')
            .ok_or_else(|| format!("trust store {s:?} is not of the form type:name"))?;
        let kind = StoreType::parse(kind)
            .ok_or_else(|| format!("trust store {s:?} has unknown type {kind:?}"))?;
        if !valid_store_name(name) {
            return Err(format!("trust store {s:?} has an invalid name"));
        }
        Ok(StoreRef {
            kind,
            name: name.to_owned(),
        })
    }
}

/// Store names become directory names in notation's layout: keep them to a safe alphabet.
pub(crate) fn valid_store_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A trusted identity: `*` or an `x509.subject:` DN matched as a set of attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustedIdentity {
    /// Any signer chaining to the trust stores.
    Any,
    /// Every attribute listed must be present, with the same value, in the signer's subject.
    X509Subject(Vec<(String, String)>),
}

impl TrustedIdentity {
    /// Whether a signer with these subject attributes (short names, see README) matches.
    pub fn matches(&self, subject: &[(String, String)]) -> bool {
        match self {
            TrustedIdentity::Any => true,
            TrustedIdentity::X509Subject(want) => want.iter().all(|w| subject.contains(w)),
        }
    }
}

/// A validated trust policy statement.
#[derive(Clone, Debug)]
pub struct TrustPolicyStatement {
    /// Unique statement name.
    pub name: String,
    /// Repository URIs (`registry/repo`), or `["*"]`.
    pub registry_scopes: Vec<String>,
    /// Base level.
    pub level: VerificationLevel,
    /// Per-check overrides (`override`).
    pub overrides: BTreeMap<Check, Action>,
    /// `verifyTimestamp`.
    pub verify_timestamp: VerifyTimestamp,
    /// Trust stores, in policy order.
    pub trust_stores: Vec<StoreRef>,
    /// Trusted identities (empty only for level `skip`).
    pub trusted_identities: Vec<TrustedIdentity>,
}

impl TrustPolicyStatement {
    /// The action for a check after overrides.
    pub fn action(&self, check: Check) -> Action {
        if self.level == VerificationLevel::Skip {
            return Action::Skip;
        }
        self.overrides
            .get(&check)
            .copied()
            .unwrap_or_else(|| self.level.action(check))
    }

    fn is_global(&self) -> bool {
        self.registry_scopes.iter().any(|s| s == "*")
    }
}

/// A validated Notary trust policy document (OCI, version 1.0; 1.1 documents using only
/// the 1.0 fields are accepted).
#[derive(Clone, Debug)]
pub struct TrustPolicyDocument {
    /// `version`.
    pub version: String,
    /// The statements.
    pub statements: Vec<TrustPolicyStatement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawDocument {
    version: String,
    trust_policies: Vec<RawStatement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawStatement {
    name: String,
    registry_scopes: Vec<String>,
    signature_verification: RawSignatureVerification,
    #[serde(default)]
    trust_stores: Vec<String>,
    #[serde(default)]
    trusted_identities: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSignatureVerification {
    level: String,
    #[serde(default, rename = "override")]
    overrides: BTreeMap<String, String>,
    #[serde(default)]
    verify_timestamp: Option<String>,
}

impl TrustPolicyDocument {
    /// Parses and validates a trust policy document. `//` and `/* */` comments (as in the
    /// spec's JSONC examples) are accepted. Unknown fields are refused rather than
    /// ignored, so a policy using a feature this crate lacks never silently loosens.
    pub fn from_json(text: &str) -> Result<Self, NotaryError> {
        let err = |m: String| NotaryError::InvalidTrustPolicy(m);
        let raw: RawDocument =
            serde_json::from_str(&strip_json_comments(text)).map_err(|e| err(e.to_string()))?;
        if raw.version != "1.0" && raw.version != "1.1" {
            return Err(err(format!(
                "unsupported trust policy version {:?}",
                raw.version
            )));
        }
        if raw.trust_policies.is_empty() {
            return Err(err("the document has no trust policy statements".into()));
        }
        let mut names = BTreeSet::new();
        let mut scopes_seen = BTreeSet::new();
        let mut statements = Vec::new();
        for st in raw.trust_policies {
            let statement = validate_statement(st).map_err(err)?;
            if !names.insert(statement.name.clone()) {
                return Err(err(format!(
                    "multiple trust policy statements use the name {:?}",
                    statement.name
                )));
            }
            for scope in &statement.registry_scopes {
                if !scopes_seen.insert(scope.clone()) {
                    return Err(err(if scope == "*" {
                        "multiple trust policy statements use the global scope \"*\"".into()
                    } else {
                        format!(
                            "registry scope {scope:?} appears in multiple trust policy statements"
                        )
                    }));
                }
            }
            statements.push(statement);
        }
        Ok(TrustPolicyDocument {
            version: raw.version,
            statements,
        })
    }

    /// The applicable statement for a repository URI (`registry/repo`): exact scope match
    /// first, then the global `*` statement.
    pub fn statement_for(&self, repository: &str) -> Option<&TrustPolicyStatement> {
        self.statements
            .iter()
            .find(|s| s.registry_scopes.iter().any(|r| r == repository))
            .or_else(|| self.statements.iter().find(|s| s.is_global()))
    }
}

fn validate_statement(st: RawStatement) -> Result<TrustPolicyStatement, String> {
    let name = st.name;
    if name.trim().is_empty() {
        return Err("a trust policy statement has an empty name".into());
    }
    let ctx = |m: String| format!("trust policy statement {name:?}: {m}");
    if st.registry_scopes.is_empty() {
        return Err(ctx("registryScopes is empty".into()));
    }
    if st.registry_scopes.iter().any(|s| s == "*") {
        if st.registry_scopes.len() > 1 {
            return Err(ctx(
                "a wildcard scope cannot be used in conjunction with other scope values".into(),
            ));
        }
    } else {
        for scope in &st.registry_scopes {
            validate_scope(scope).map_err(ctx)?;
        }
        let unique: BTreeSet<_> = st.registry_scopes.iter().collect();
        if unique.len() != st.registry_scopes.len() {
            return Err(ctx("registryScopes repeats a value".into()));
        }
    }

    let level = match st.signature_verification.level.as_str() {
        "strict" => VerificationLevel::Strict,
        "permissive" => VerificationLevel::Permissive,
        "audit" => VerificationLevel::Audit,
        "skip" => VerificationLevel::Skip,
        other => {
            return Err(ctx(format!(
                "unknown signatureVerification level {other:?}"
            )));
        }
    };
    let mut overrides = BTreeMap::new();
    if level == VerificationLevel::Skip && !st.signature_verification.overrides.is_empty() {
        return Err(ctx(
            "level \"skip\" cannot be customized with override".into()
        ));
    }
    for (check, action) in &st.signature_verification.overrides {
        let check = match check.as_str() {
            "integrity" => return Err(ctx("integrity validation cannot be overridden".into())),
            "authenticity" => Check::Authenticity,
            "authenticTimestamp" => Check::AuthenticTimestamp,
            "expiry" => Check::Expiry,
            "revocation" => Check::Revocation,
            other => return Err(ctx(format!("unknown override key {other:?}"))),
        };
        let action = match action.as_str() {
            "enforce" => Action::Enforce,
            "log" => Action::Log,
            "skip" if check == Check::Revocation => Action::Skip,
            other => {
                return Err(ctx(format!(
                    "override value {other:?} is not allowed for {check}"
                )));
            }
        };
        overrides.insert(check, action);
    }
    let verify_timestamp = match st.signature_verification.verify_timestamp.as_deref() {
        None | Some("always") => VerifyTimestamp::Always,
        Some("afterCertExpiry") => VerifyTimestamp::AfterCertExpiry,
        Some(other) => return Err(ctx(format!("unknown verifyTimestamp value {other:?}"))),
    };

    if level == VerificationLevel::Skip {
        if !st.trust_stores.is_empty() || !st.trusted_identities.is_empty() {
            return Err(ctx(
                "level \"skip\" must not list trustStores or trustedIdentities".into(),
            ));
        }
        return Ok(TrustPolicyStatement {
            name,
            registry_scopes: st.registry_scopes,
            level,
            overrides,
            verify_timestamp,
            trust_stores: Vec::new(),
            trusted_identities: Vec::new(),
        });
    }

    if st.trust_stores.is_empty() {
        return Err(ctx("trustStores is empty".into()));
    }
    let mut trust_stores = Vec::new();
    for s in &st.trust_stores {
        let r = StoreRef::parse(s).map_err(ctx)?;
        if trust_stores.contains(&r) {
            return Err(ctx(format!("trust store {s:?} is listed twice")));
        }
        trust_stores.push(r);
    }
    if !trust_stores.iter().any(|s| s.kind != StoreType::Tsa) {
        return Err(ctx(
            "trustStores lists no ca or signingAuthority store".into()
        ));
    }

    if st.trusted_identities.is_empty() {
        return Err(ctx("trustedIdentities is empty".into()));
    }
    let trusted_identities = if st.trusted_identities.iter().any(|i| i.trim() == "*") {
        if st.trusted_identities.len() > 1 {
            return Err(ctx(
                "a wildcard trusted identity cannot be used in conjunction with other values"
                    .into(),
            ));
        }
        vec![TrustedIdentity::Any]
    } else {
        let mut dns: Vec<Vec<(String, String)>> = Vec::new();
        for ident in &st.trusted_identities {
            let dn = ident.trim().strip_prefix("x509.subject:").ok_or_else(|| {
                ctx(format!(
                    "trusted identity {ident:?} must start with \"x509.subject:\" or be \"*\""
                ))
            })?;
            let attrs =
                parse_dn(dn).map_err(|e| ctx(format!("trusted identity {ident:?}: {e}")))?;
            for required in ["C", "ST", "O"] {
                if !attrs.iter().any(|(k, _)| k == required) {
                    return Err(ctx(format!(
                        "trusted identity {ident:?} must contain C, ST and O"
                    )));
                }
            }
            dns.push(attrs);
        }
        // Overlapping identities (one a subset of another) make the policy invalid.
        for (i, a) in dns.iter().enumerate() {
            for b in &dns[i + 1..] {
                if a.iter().all(|x| b.contains(x)) || b.iter().all(|x| a.contains(x)) {
                    return Err(ctx(
                        "trustedIdentities contains overlapping identities".into()
                    ));
                }
            }
        }
        dns.into_iter().map(TrustedIdentity::X509Subject).collect()
    };
    Ok(TrustPolicyStatement {
        name,
        registry_scopes: st.registry_scopes,
        level,
        overrides,
        verify_timestamp,
        trust_stores,
        trusted_identities,
    })
}

fn validate_scope(scope: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("registry scope {scope:?} {why}"));
    if scope.contains('*') {
        return bad("must not contain '*' (only the single value \"*\" is a wildcard)");
    }
    if scope.chars().any(|c| c.is_whitespace() || c == '@') {
        return bad("must be a repository URI without whitespace or digest");
    }
    let Some((registry, repo)) = scope.split_once('/') else {
        return bad("must be a fully qualified repository URI (registry/repository)");
    };
    if registry.is_empty() || repo.is_empty() || repo.ends_with('/') || repo.contains("//") {
        return bad("must be a fully qualified repository URI (registry/repository)");
    }
    if repo
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
    {
        return bad("must not contain a tag");
    }
    Ok(())
}

/// Parses an RFC 4514-style DN (`C=US, ST=WA, O=Example, CN=signer`) into attribute
/// (upper-cased short name, value) pairs. Escapes `\,` `\;` `\\` `\+` `\"` `\=` `\<` `\>`
/// `\#`, `\ ` and `\XX` (hex) are understood; `+` separates multi-valued RDN parts.
pub fn parse_dn(dn: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut chars = dn.chars().peekable();
    loop {
        // attribute type
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        let key = key.trim().to_ascii_uppercase();
        let is_name = key.starts_with(|c: char| c.is_ascii_alphabetic())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let is_oid = !key.is_empty()
            && key
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        if !is_name && !is_oid {
            return Err(format!("invalid attribute type {key:?} in {dn:?}"));
        }
        let key = match key.as_str() {
            "S" => "ST".to_owned(),
            "EMAILADDRESS" => "E".to_owned(),
            _ => key,
        };
        // attribute value: track which trailing spaces were escaped so trimming keeps them
        let mut value = String::new();
        let mut significant_len = 0usize; // length up to and including last escaped/non-space char
        let mut started = false;
        let mut ended = false;
        while let Some(&c) = chars.peek() {
            chars.next();
            match c {
                ',' | ';' | '+' => {
                    ended = true;
                    break;
                }
                '\\' => {
                    let Some(n) = chars.next() else {
                        return Err(format!("dangling escape in {dn:?}"));
                    };
                    if n.is_ascii_hexdigit() {
                        let Some(m) = chars.next().filter(char::is_ascii_hexdigit) else {
                            return Err(format!("bad hex escape in {dn:?}"));
                        };
                        let byte = u8::from_str_radix(&format!("{n}{m}"), 16)
                            .map_err(|e| e.to_string())?;
                        // Multi-byte UTF-8 escapes are rare in policies; keep ASCII only.
                        if !byte.is_ascii() {
                            return Err(format!("non-ASCII hex escape in {dn:?} is not supported"));
                        }
                        value.push(byte as char);
                    } else if matches!(
                        n,
                        ',' | ';' | '\\' | '+' | '"' | '=' | '<' | '>' | '#' | ' '
                    ) {
                        value.push(n);
                    } else {
                        return Err(format!("invalid escape \\{n} in {dn:?}"));
                    }
                    started = true;
                    significant_len = value.len();
                }
                ' ' if !started => {}
                c => {
                    if c == '"' || c == '=' {
                        return Err(format!("unescaped {c:?} in attribute value in {dn:?}"));
                    }
                    started = true;
                    value.push(c);
                    if c != ' ' {
                        significant_len = value.len();
                    }
                }
            }
        }
        value.truncate(significant_len);
        if value.is_empty() {
            return Err(format!("attribute {key} has an empty value in {dn:?}"));
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(format!("attribute {key} appears more than once in {dn:?}"));
        }
        out.push((key, value));
        if !ended {
            break;
        }
    }
    Ok(out)
}

/// Removes `//` line and `/* */` block comments outside JSON strings.
fn strip_json_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut prev = '\0';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(statements: &str) -> Result<TrustPolicyDocument, NotaryError> {
        TrustPolicyDocument::from_json(&format!(
            r#"{{"version":"1.0","trustPolicies":[{statements}]}}"#
        ))
    }

    const GOOD: &str = r#"{"name":"a","registryScopes":["r.io/x"],"signatureVerification":{"level":"strict"},
        "trustStores":["ca:s"],"trustedIdentities":["x509.subject: C=US, ST=WA, O=Acme\\, Inc, CN=signer"]}"#;

    #[test]
    fn parses_dn_with_escapes() {
        let dn = parse_dn(r" C=US, ST=WA, O=Acme\, Inc\;x, CN=\ padded\  ").unwrap();
        assert_eq!(
            dn,
            vec![
                ("C".into(), "US".into()),
                ("ST".into(), "WA".into()),
                ("O".into(), "Acme, Inc;x".into()),
                ("CN".into(), " padded ".into())
            ]
        );
        assert!(parse_dn("C=US,,O=x").is_err());
        assert!(parse_dn("C=US,C=CA").is_err());
        assert!(parse_dn("=x").is_err());
        assert!(parse_dn("C=").is_err());
        assert!(parse_dn(r"C=US\").is_err());
    }

    #[test]
    fn accepts_valid_statement_and_selects_scope() {
        let d = doc(&format!(
            r#"{GOOD}, {{"name":"g","registryScopes":["*"],"signatureVerification":{{"level":"audit"}},
            "trustStores":["ca:s"],"trustedIdentities":["*"]}}"#
        ))
        .unwrap();
        assert_eq!(d.statement_for("r.io/x").unwrap().name, "a");
        assert_eq!(d.statement_for("other.io/y").unwrap().name, "g");
        let a = d.statement_for("r.io/x").unwrap();
        assert!(a.trusted_identities[0].matches(&[
            ("C".into(), "US".into()),
            ("ST".into(), "WA".into()),
            ("L".into(), "Seattle".into()),
            ("O".into(), "Acme, Inc".into()),
            ("CN".into(), "signer".into()),
        ]));
        assert!(
            !a.trusted_identities[0]
                .matches(&[("C".into(), "US".into()), ("O".into(), "Acme, Inc".into())])
        );
    }

    #[test]
    fn level_matrix_and_overrides() {
        use Action::*;
        let table = [
            (
                VerificationLevel::Strict,
                [Enforce, Enforce, Enforce, Enforce, Enforce],
            ),
            (
                VerificationLevel::Permissive,
                [Enforce, Enforce, Log, Log, Log],
            ),
            (VerificationLevel::Audit, [Enforce, Log, Log, Log, Log]),
            (VerificationLevel::Skip, [Skip, Skip, Skip, Skip, Skip]),
        ];
        for (level, actions) in table {
            for (check, action) in Check::ALL.iter().zip(actions) {
                assert_eq!(level.action(*check), action, "{level:?} {check}");
            }
        }
        let d = doc(r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict",
            "override":{"expiry":"log","revocation":"skip"}},"trustStores":["ca:s"],"trustedIdentities":["*"]}"#)
        .unwrap();
        let s = &d.statements[0];
        assert_eq!(s.action(Check::Expiry), Log);
        assert_eq!(s.action(Check::Revocation), Skip);
        assert_eq!(s.action(Check::Authenticity), Enforce);
    }

    #[test]
    fn rejects_invalid_documents() {
        let cases = [
            // duplicate names
            format!("{GOOD},{GOOD}"),
            // wildcard with other scopes
            r#"{"name":"a","registryScopes":["*","r.io/x"],"signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":["*"]}"#.into(),
            // bad store type
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["bogus:s"],"trustedIdentities":["*"]}"#.into(),
            // integrity override
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"integrity":"log"}},"trustStores":["ca:s"],"trustedIdentities":["*"]}"#.into(),
            // skip on expiry not allowed
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"expiry":"skip"}},"trustStores":["ca:s"],"trustedIdentities":["*"]}"#.into(),
            // skip with trust stores
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"skip"},"trustStores":["ca:s"],"trustedIdentities":["*"]}"#.into(),
            // identity missing ST
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":["x509.subject:C=US,O=x"]}"#.into(),
            // overlapping identities
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":["x509.subject:C=US,ST=WA,O=x","x509.subject:C=US,ST=WA,O=x,OU=y"]}"#.into(),
            // unknown field
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":["*"],"extra":1}"#.into(),
            // scope with tag
            r#"{"name":"a","registryScopes":["r.io/x:1"],"signatureVerification":{"level":"strict"},"trustStores":["ca:s"],"trustedIdentities":["*"]}"#.into(),
            // unknown level
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"lax"},"trustStores":["ca:s"],"trustedIdentities":["*"]}"#.into(),
            // only tsa store
            r#"{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["tsa:s"],"trustedIdentities":["*"]}"#.into(),
        ];
        for c in cases {
            assert!(
                matches!(doc(&c), Err(NotaryError::InvalidTrustPolicy(_))),
                "accepted: {c}"
            );
        }
        assert!(TrustPolicyDocument::from_json(r#"{"version":"2.0","trustPolicies":[]}"#).is_err());
        assert!(TrustPolicyDocument::from_json(r#"{"version":"1.0","trustPolicies":[]}"#).is_err());
    }

    #[test]
    fn strips_comments_outside_strings() {
        let s = strip_json_comments("{\"a\":\"x//y\", // c\n /* b */ \"b\":1}");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["a"], "x//y");
        assert_eq!(v["b"], 1);
    }
}
