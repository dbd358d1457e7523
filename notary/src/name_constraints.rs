//! Name constraints (RFC 5280 §4.2.1.10, applied as in §6.1.3 (b)-(c) and §6.1.4 (g)):
//! every certificate below a CA in a certification path must have its names inside the CA's
//! permitted subtrees and outside its excluded subtrees.
//!
//! Forms enforced: directoryName (RDN prefix, attribute values compared case- and
//! whitespace-insensitively as RFC 5280 §7.1 asks), dNSName, rfc822Name,
//! uniformResourceIdentifier (its host) and iPAddress (address and mask). Any other form in a
//! CA's constraints makes the CA unusable ([`NotaryError::UnsupportedNameConstraint`]): a
//! constraint that cannot be enforced is never ignored.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use const_oid::db::{rfc3280, rfc5280};
use x509_cert::ext::pkix::constraints::name::GeneralSubtrees;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{NameConstraints, SubjectAltName};
use x509_cert::name::{Name, RelativeDistinguishedName};

use crate::NotaryError;
use crate::x509::{Cert, directory_string};

/// A name of a certificate, or the base of a subtree, in one of the enforced forms. Subtree
/// bases use the same shapes: a DN prefix, a mailbox / host / `.domain`, a DNS name, a URI
/// host / `.domain`, and for iPAddress an address followed by its mask.
#[derive(Clone, Debug)]
enum GName {
    Directory(Name),
    Email(String),
    Dns(String),
    Uri(String),
    Ip(Vec<u8>),
}

impl GName {
    fn form(&self) -> &'static str {
        match self {
            GName::Directory(_) => "directoryName",
            GName::Email(_) => "rfc822Name",
            GName::Dns(_) => "dNSName",
            GName::Uri(_) => "uniformResourceIdentifier",
            GName::Ip(_) => "iPAddress",
        }
    }

    fn value(&self) -> String {
        match self {
            GName::Directory(n) => n.to_string(),
            GName::Email(s) | GName::Dns(s) | GName::Uri(s) => s.clone(),
            GName::Ip(b) => ip_text(b),
        }
    }

    /// Whether a certificate name can be compared with subtrees of its form at all. A name
    /// that cannot (a mailbox without `@`, a URI without a host name, an address of the wrong
    /// length) is refused wherever its form is constrained, or an excluded subtree could be
    /// dodged with a malformed spelling.
    fn comparable(&self) -> bool {
        match self {
            GName::Email(s) => mailbox(s).is_some(),
            GName::Uri(s) => uri_host(s).is_some(),
            GName::Ip(b) => matches!(b.len(), 4 | 16),
            GName::Directory(_) | GName::Dns(_) => true,
        }
    }

    /// Whether this certificate name lies inside the subtree rooted at `base`. `excluded`
    /// widens dNSName matching to wildcard names that may stand for a name in the subtree.
    fn within(&self, base: &GName, excluded: bool) -> bool {
        match (self, base) {
            (GName::Directory(n), GName::Directory(b)) => dn_within(n, b),
            (GName::Dns(n), GName::Dns(b)) => {
                dns_within(n, b) || (excluded && wildcard_may_be_within(n, b))
            }
            (GName::Email(n), GName::Email(b)) => email_within(n, b),
            (GName::Uri(n), GName::Uri(b)) => uri_host(n).is_some_and(|h| host_within(h, b)),
            (GName::Ip(n), GName::Ip(b)) => ip_within(n, b),
            _ => false,
        }
    }
}

impl fmt::Display for GName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.form(), self.value())
    }
}

fn ip_text(b: &[u8]) -> String {
    let addr = |b: &[u8]| match b.len() {
        4 => <[u8; 4]>::try_from(b)
            .map(|a| Ipv4Addr::from(a).to_string())
            .ok(),
        16 => <[u8; 16]>::try_from(b)
            .map(|a| Ipv6Addr::from(a).to_string())
            .ok(),
        _ => None,
    };
    let hex = || b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    match b.len() {
        4 | 16 => addr(b).unwrap_or_else(hex),
        8 | 32 => {
            let (a, m) = b.split_at(b.len() / 2);
            match (addr(a), addr(m)) {
                (Some(a), Some(m)) => format!("{a}/{m}"),
                _ => hex(),
            }
        }
        _ => format!("#{}", hex()),
    }
}

/// The subtrees of one CA, in enforced forms only.
fn subtrees(ca: &Cert, trees: &GeneralSubtrees) -> Result<Vec<GName>, NotaryError> {
    let unsupported = |form: String| NotaryError::UnsupportedNameConstraint {
        ca: ca.subject(),
        form,
    };
    trees
        .iter()
        .map(|tree| {
            // RFC 5280 §4.2.1.10: minimum MUST be zero and maximum MUST be absent; no
            // meaning is defined for anything else.
            if tree.minimum != 0 || tree.maximum.is_some() {
                return Err(unsupported(format!(
                    "a subtree with minimum {} and maximum {:?} (RFC 5280 requires 0 and none)",
                    tree.minimum, tree.maximum
                )));
            }
            Ok(match &tree.base {
                GeneralName::DirectoryName(n) => GName::Directory(n.clone()),
                GeneralName::Rfc822Name(s) => GName::Email(s.to_string()),
                GeneralName::DnsName(s) => GName::Dns(s.to_string()),
                GeneralName::UniformResourceIdentifier(s) => GName::Uri(s.to_string()),
                GeneralName::IpAddress(o) if matches!(o.as_bytes().len(), 8 | 32) => {
                    GName::Ip(o.as_bytes().to_vec())
                }
                GeneralName::IpAddress(o) => {
                    return Err(unsupported(format!(
                        "an iPAddress subtree of {} bytes (an address and mask take 8 or 32)",
                        o.as_bytes().len()
                    )));
                }
                GeneralName::OtherName(o) => {
                    return Err(unsupported(format!("an otherName subtree ({})", o.type_id)));
                }
                GeneralName::EdiPartyName(_) => {
                    return Err(unsupported("an ediPartyName subtree".into()));
                }
                GeneralName::RegisteredId(oid) => {
                    return Err(unsupported(format!("a registeredID subtree ({oid})")));
                }
            })
        })
        .collect()
}

/// The names of `cert` that name constraints restrict: its subject DN (unless empty), the
/// emailAddress attributes of its subject, and its subjectAltName entries of enforced forms.
fn names_of(cert: &Cert) -> Result<Vec<GName>, NotaryError> {
    let mut names = Vec::new();
    let subject = &cert.cert.tbs_certificate.subject;
    if !subject.0.is_empty() {
        names.push(GName::Directory(subject.clone()));
    }
    // RFC 5280 §4.2.1.10 applies rfc822Name constraints to the legacy emailAddress
    // attribute when there is no subjectAltName; it is checked whether or not there is
    // one, since the subject is what the trust policy identifies signers by.
    for atv in subject.0.iter().flat_map(|rdn| rdn.0.iter()) {
        if atv.oid == rfc3280::EMAIL_ADDRESS {
            // An undecodable value stays an incomparable mailbox (no `@`), so it is refused
            // wherever rfc822Name is constrained.
            names.push(GName::Email(
                directory_string(&atv.value).unwrap_or_default(),
            ));
        }
    }
    let san = cert
        .extension::<SubjectAltName>(rfc5280::ID_CE_SUBJECT_ALT_NAME)
        .map_err(NotaryError::InvalidCertificateChain)?;
    for name in san.into_iter().flat_map(|(_, san)| san.0) {
        names.push(match name {
            GeneralName::DirectoryName(n) => GName::Directory(n),
            GeneralName::Rfc822Name(s) => GName::Email(s.to_string()),
            GeneralName::DnsName(s) => GName::Dns(s.to_string()),
            GeneralName::UniformResourceIdentifier(s) => GName::Uri(s.to_string()),
            GeneralName::IpAddress(o) => GName::Ip(o.as_bytes().to_vec()),
            // Forms no enforced subtree can restrict; a CA constraining them is refused
            // by `subtrees` before any name is compared.
            GeneralName::OtherName(_)
            | GeneralName::EdiPartyName(_)
            | GeneralName::RegisteredId(_) => continue,
        });
    }
    Ok(names)
}

/// Enforces the nameConstraints of every CA certificate of `path` (ordered leaf first,
/// each certificate issued by the next) on every certificate below it.
///
/// Constraints are honoured whether or not the extension is marked critical (RFC 5280
/// requires it to be): obeying a non-critical one only refuses names the CA itself ruled
/// out. The root's own constraints count too, since in Notary the root travels in the chain
/// and is what the trust store anchors.
pub(crate) fn check_path(path: &[&Cert]) -> Result<(), NotaryError> {
    for (i, ca) in path.iter().enumerate().skip(1) {
        let Some((_, nc)) = ca
            .extension::<NameConstraints>(rfc5280::ID_CE_NAME_CONSTRAINTS)
            .map_err(NotaryError::InvalidCertificateChain)?
        else {
            continue;
        };
        let permitted = match &nc.permitted_subtrees {
            Some(t) => subtrees(ca, t)?,
            None => Vec::new(),
        };
        let excluded = match &nc.excluded_subtrees {
            Some(t) => subtrees(ca, t)?,
            None => Vec::new(),
        };
        // Top down, as RFC 5280 §6.1 processes a path: the certificate nearest the CA is
        // judged first.
        for (j, below) in path[..i].iter().enumerate().rev() {
            // RFC 5280 §6.1.3 (b)-(c): a self-issued intermediate (a CA re-certifying
            // itself, e.g. for a key rollover) is exempt; the leaf never is.
            if j > 0 && below.is_self_issued() {
                continue;
            }
            for name in names_of(below)? {
                check_name(ca, below, &name, &permitted, &excluded)?;
            }
        }
    }
    Ok(())
}

fn check_name(
    ca: &Cert,
    cert: &Cert,
    name: &GName,
    permitted: &[GName],
    excluded: &[GName],
) -> Result<(), NotaryError> {
    let violation = |constraint: String| NotaryError::NameConstraintViolated {
        ca: ca.subject(),
        subject: cert.subject(),
        name: name.to_string(),
        constraint,
    };
    let list = |trees: &[&GName]| {
        let values: Vec<String> = trees.iter().map(|t| t.value()).collect();
        format!("{values:?}")
    };
    let permitted: Vec<&GName> = permitted
        .iter()
        .filter(|t| t.form() == name.form())
        .collect();
    let excluded: Vec<&GName> = excluded
        .iter()
        .filter(|t| t.form() == name.form())
        .collect();
    if permitted.is_empty() && excluded.is_empty() {
        return Ok(());
    }
    if !name.comparable() {
        let mut trees = permitted.clone();
        trees.extend(&excluded);
        return Err(violation(format!(
            "{} subtrees {} (the name is malformed, so it cannot be checked against them)",
            name.form(),
            list(&trees)
        )));
    }
    if let Some(tree) = excluded.iter().find(|t| name.within(t, true)) {
        return Err(violation(format!(
            "excluded {} subtree {:?}",
            name.form(),
            tree.value()
        )));
    }
    if !permitted.is_empty() && !permitted.iter().any(|t| name.within(t, false)) {
        return Err(violation(format!(
            "permitted {} subtrees {}",
            name.form(),
            list(&permitted)
        )));
    }
    Ok(())
}

/// directoryName: `base`'s RDNs are a prefix of `name`'s (RFC 5280 §7.1).
fn dn_within(name: &Name, base: &Name) -> bool {
    base.0.len() <= name.0.len() && base.0.iter().zip(name.0.iter()).all(|(b, n)| rdn_eq(b, n))
}

fn rdn_eq(a: &RelativeDistinguishedName, b: &RelativeDistinguishedName) -> bool {
    a.0.len() == b.0.len()
        && a.0.iter().all(|x| {
            b.0.iter().any(|y| {
                x.oid == y.oid
                    && match (directory_string(&x.value), directory_string(&y.value)) {
                        // Different string types with the same text are the same name.
                        (Some(s), Some(t)) => normalize(&s) == normalize(&t),
                        _ => x.value == y.value,
                    }
            })
        })
}

/// RFC 4518 caseIgnoreMatch, simplified: outer whitespace dropped, inner runs collapsed,
/// case folded.
fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// `name` ends with `.suffix` (a proper subdomain), case-insensitively.
fn is_subdomain(name: &str, suffix: &str) -> bool {
    // At least one byte of label before the dot.
    let Some(dot) = name.len().checked_sub(suffix.len() + 1).filter(|&d| d > 0) else {
        return false;
    };
    // The byte at `dot` is ASCII, so `dot + 1` is a char boundary.
    name.as_bytes()[dot] == b'.' && name[dot + 1..].eq_ignore_ascii_case(suffix)
}

fn dns_within(name: &str, base: &str) -> bool {
    // A trailing root dot names the same host; without this `evil.example.` would slip
    // past an excluded `evil.example`.
    let name = name.strip_suffix('.').unwrap_or(name);
    let base = base.strip_suffix('.').unwrap_or(base);
    if base.is_empty() {
        return true;
    }
    match base.strip_prefix('.') {
        // `.example.com`: only names below example.com (a common extension of RFC 5280).
        Some(domain) => is_subdomain(name, domain),
        None => name.eq_ignore_ascii_case(base) || is_subdomain(name, base),
    }
}

/// For excluded subtrees: a wildcard name `*.parent` stands for any `label.parent`, so it may
/// name the excluded host `base` itself when `base` is exactly one label below `parent`.
fn wildcard_may_be_within(name: &str, base: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let base = base.strip_suffix('.').unwrap_or(base);
    let Some(parent) = name.strip_prefix("*.") else {
        return false;
    };
    match base.split_once('.') {
        Some((label, rest)) => !label.is_empty() && rest.eq_ignore_ascii_case(parent),
        None => false,
    }
}

/// `local@host` with both parts non-empty.
fn mailbox(s: &str) -> Option<(&str, &str)> {
    s.rsplit_once('@')
        .filter(|(local, host)| !local.is_empty() && !host.is_empty())
}

/// rfc822Name: a base with `@` is one mailbox, `.example.com` any host below example.com,
/// anything else one host (RFC 5280 §4.2.1.10).
fn email_within(name: &str, base: &str) -> bool {
    let Some((local, host)) = mailbox(name) else {
        return false;
    };
    if base.is_empty() {
        return true;
    }
    if let Some((base_local, base_host)) = base.rsplit_once('@') {
        // The local part is case-sensitive (RFC 5321), the host is not.
        return local == base_local && host.eq_ignore_ascii_case(base_host);
    }
    match base.strip_prefix('.') {
        Some(domain) => is_subdomain(host, domain),
        None => host.eq_ignore_ascii_case(base),
    }
}

/// The host name of a URI (`scheme://[userinfo@]host[:port]...`); `None` without an
/// authority or when the host is an IP literal, which no host-name subtree can contain.
fn uri_host(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once(':')?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let authority = rest.strip_prefix("//")?.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        return None;
    }
    let host = host_port.split_once(':').map_or(host_port, |(h, _)| h);
    if host.is_empty() || host.parse::<Ipv4Addr>().is_ok() {
        return None;
    }
    Some(host)
}

/// uniformResourceIdentifier: the base is a host, or `.domain` for any host below it.
fn host_within(host: &str, base: &str) -> bool {
    if base.is_empty() {
        return true;
    }
    match base.strip_prefix('.') {
        Some(domain) => is_subdomain(host, domain),
        None => host.eq_ignore_ascii_case(base),
    }
}

/// iPAddress: the address, masked, equals the base address, masked (same family only).
fn ip_within(ip: &[u8], base: &[u8]) -> bool {
    let (addr, mask) = base.split_at(base.len() / 2);
    ip.len() == addr.len()
        && ip
            .iter()
            .zip(addr)
            .zip(mask)
            .all(|((i, a), m)| i & m == a & m)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn dns() {
        assert!(dns_within("build.acme.example", "acme.example"));
        assert!(dns_within("ACME.example", "acme.EXAMPLE"));
        assert!(dns_within("acme.example.", "acme.example"));
        assert!(dns_within("anything", ""));
        assert!(!dns_within("evilacme.example", "acme.example"));
        assert!(!dns_within("acme.example", ".acme.example"));
        assert!(dns_within("a.acme.example", ".acme.example"));
        assert!(!dns_within("acme.example.org", "acme.example"));
        assert!(wildcard_may_be_within("*.acme.example", "www.acme.example"));
        assert!(!wildcard_may_be_within(
            "*.acme.example",
            "a.b.acme.example"
        ));
        assert!(!wildcard_may_be_within("*.acme.example", ".acme.example"));
        assert!(!wildcard_may_be_within(
            "www.acme.example",
            "www.acme.example"
        ));
    }

    #[test]
    fn email() {
        assert!(email_within("signer@acme.example", "acme.example"));
        assert!(email_within("signer@ACME.example", "signer@acme.example"));
        assert!(!email_within("Signer@acme.example", "signer@acme.example"));
        assert!(!email_within("signer@acme.example", ".acme.example"));
        assert!(email_within("signer@ci.acme.example", ".acme.example"));
        assert!(!email_within("signer@evilacme.example", ".acme.example"));
        assert!(!email_within("no-at-sign", ""));
        assert!(!GName::Email("no-at-sign".into()).comparable());
    }

    #[test]
    fn uri() {
        assert_eq!(
            uri_host("https://user@Build.acme.example:8443/x?y#z"),
            Some("Build.acme.example")
        );
        assert_eq!(uri_host("urn:acme:thing"), None);
        assert_eq!(uri_host("https://[::1]/"), None);
        assert_eq!(uri_host("https://10.0.0.1/"), None);
        assert_eq!(uri_host("://host/"), None);
        assert!(host_within("build.acme.example", ".acme.example"));
        assert!(!host_within("acme.example", ".acme.example"));
        assert!(host_within("ACME.example", "acme.example"));
        assert!(!host_within("build.acme.example", "acme.example"));
    }

    #[test]
    fn ip() {
        assert!(ip_within(&[10, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_within(&[11, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_within(&[10; 16], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(ip_within(&[1, 2, 3, 4], &[0; 8]));
        assert_eq!(ip_text(&[10, 0, 0, 0, 255, 0, 0, 0]), "10.0.0.0/255.0.0.0");
    }

    #[test]
    fn directory_names() {
        let name = Name::from_str("CN=Signer,O=Forage  Test,L=Seattle,ST=WA,C=US").unwrap();
        let within = |base: &str| dn_within(&name, &Name::from_str(base).unwrap());
        assert!(within("ST=WA,C=US"));
        assert!(within("o=forage test,L=seattle,ST=wa,C=US"));
        assert!(!within("L=Seattle,C=US"));
        assert!(!within("ST=OR,C=US"));
        assert!(!within("CN=Other,O=Forage Test,L=Seattle,ST=WA,C=US"));
        assert!(!within(
            "CN=Signer,CN=Signer,O=Forage Test,L=Seattle,ST=WA,C=US"
        ));
        assert!(dn_within(&name, &Name::default()));
    }
}
