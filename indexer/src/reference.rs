//! References a user can type, parsed once at the boundary.
//!
//! A [`ComponentRef`] is one of:
//!
//! * an OCI reference, `registry/repo:tag` or `registry/repo@sha256:…`, with an optional
//!   `oci://` prefix ([`OciRef`]);
//! * a path to a `.wasm` component file;
//! * `layout:DIR[:tag]` (or `layout:DIR@sha256:…`) for an OCI image-layout directory
//!   ([`LayoutRef`]).
//!
//! How a string is classified, in order:
//!
//! 1. `layout:` prefix → layout; `oci://` prefix → OCI; `file://` prefix → file.
//! 2. ends in `.wasm`, or starts with `/`, `./`, `../` or `~` → file.
//! 3. anything else must be an OCI reference whose first path component names a registry (it
//!    contains a `.` or a `:`, or is `localhost`). There is no implicit `docker.io`: a reference
//!    says where it comes from. A reference without tag or digest means `:latest`.
//!
//! The OCI grammar is the one of the distribution project (`reference/regexp.go`): lowercase
//! path components separated by `/`, with `.`, `_`, `__` or runs of `-` inside a component; tags
//! of at most 128 characters from `[A-Za-z0-9_.-]`, not starting with `.` or `-`; a name of at
//! most 255 characters.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use forage_policy::{Digest, DigestError};

/// The tag assumed when an OCI reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";

/// Anything a user can type where forage expects a component.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ComponentRef {
    /// A component in an OCI distribution registry.
    Oci(OciRef),
    /// A `.wasm` component file on disk.
    File(PathBuf),
    /// A component in an OCI image-layout directory.
    Layout(LayoutRef),
}

/// What in an OCI registry or layout a reference points at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A tag, resolved to a digest when fetched.
    Tag(String),
    /// A manifest digest: already pinned.
    Digest(Digest),
}

/// A reference into an OCI distribution registry: `registry/repository(:tag|@digest)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OciRef {
    registry: String,
    repository: String,
    target: Target,
}

/// A reference into an OCI image-layout directory: `layout:DIR[:tag]` or `layout:DIR@sha256:…`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LayoutRef {
    /// The layout directory (holding `oci-layout`, `index.json` and `blobs/`).
    pub dir: PathBuf,
    /// The tag (`org.opencontainers.image.ref.name`) or digest to select; `None` selects the
    /// only manifest in `index.json`.
    pub target: Option<Target>,
}

/// Why a string is not a reference forage accepts. Each variant names the input at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// Nothing was given.
    #[error("empty component reference")]
    Empty,
    /// The reference has no registry host in front of the repository.
    #[error(
        "OCI reference `{0}` does not name a registry: write it as `registry/repository:tag`, \
         e.g. `ghcr.io/{0}` or `localhost:5000/{0}`"
    )]
    MissingRegistry(String),
    /// The registry part is not a valid host[:port].
    #[error("OCI reference `{reference}`: `{registry}` is not a valid registry host[:port]")]
    InvalidRegistry {
        /// The whole reference as typed.
        reference: String,
        /// The registry part.
        registry: String,
    },
    /// The repository path breaks the distribution grammar.
    #[error(
        "OCI reference `{reference}`: repository `{repository}` is invalid ({why}); repository \
         names are lowercase `[a-z0-9]` components joined by `/`, with `.`, `_`, `__` or `-` inside"
    )]
    InvalidRepository {
        /// The whole reference as typed.
        reference: String,
        /// The repository part.
        repository: String,
        /// What exactly is wrong.
        why: &'static str,
    },
    /// The tag breaks the distribution grammar.
    #[error(
        "reference `{reference}`: tag `{tag}` is invalid (tags are 1-128 characters of \
         `[A-Za-z0-9_.-]`, not starting with `.` or `-`)"
    )]
    InvalidTag {
        /// The whole reference as typed.
        reference: String,
        /// The tag part.
        tag: String,
    },
    /// The digest part is not a sha256 digest.
    #[error("reference `{reference}`: {source}")]
    InvalidDigest {
        /// The whole reference as typed.
        reference: String,
        /// What the digest parser said.
        source: DigestError,
    },
    /// `layout:` with nothing after it.
    #[error("layout reference `{0}` names no directory: write `layout:DIR[:tag]`")]
    EmptyLayoutDir(String),
}

impl OciRef {
    /// Builds a reference from parts, validating each as [`FromStr`] does.
    pub fn new(registry: &str, repository: &str, target: Target) -> Result<Self, ReferenceError> {
        let shown = match &target {
            Target::Tag(t) => format!("{registry}/{repository}:{t}"),
            Target::Digest(d) => format!("{registry}/{repository}@{d}"),
        };
        validate_registry(&shown, registry)?;
        validate_repository(&shown, repository)?;
        if let Target::Tag(t) = &target {
            validate_tag(&shown, t)?;
        }
        Ok(Self {
            registry: registry.to_string(),
            repository: repository.to_string(),
            target,
        })
    }

    /// The registry host, with its port if one was given (`ghcr.io`, `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`acme/tz`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag or digest the reference points at.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The tag, when the reference is not pinned.
    pub fn tag(&self) -> Option<&str> {
        match &self.target {
            Target::Tag(t) => Some(t),
            Target::Digest(_) => None,
        }
    }

    /// The digest, when the reference is pinned.
    pub fn digest(&self) -> Option<&Digest> {
        match &self.target {
            Target::Digest(d) => Some(d),
            Target::Tag(_) => None,
        }
    }

    /// The same repository pinned to `digest`: `registry/repo@sha256:…`.
    pub fn pinned(&self, digest: Digest) -> Self {
        Self {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            target: Target::Digest(digest),
        }
    }

    /// The same repository at another tag.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        Self::new(
            &self.registry,
            &self.repository,
            Target::Tag(tag.to_string()),
        )
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for OciRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Tag(t) => write!(f, "{}/{}:{}", self.registry, self.repository, t),
            Target::Digest(d) => write!(f, "{}/{}@{}", self.registry, self.repository, d),
        }
    }
}

impl FromStr for OciRef {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let full = s;
        let s = s.strip_prefix("oci://").unwrap_or(s);
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        // `name[:tag][@digest]`: the digest wins when both are given (as in docker).
        let (name_and_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                let digest =
                    d.parse::<Digest>()
                        .map_err(|source| ReferenceError::InvalidDigest {
                            reference: full.to_string(),
                            source,
                        })?;
                (n, Some(digest))
            }
            None => (s, None),
        };
        // A `:` after the last `/` separates the tag; one before it is a registry port.
        let last_slash = name_and_tag.rfind('/');
        let (name, tag) = match name_and_tag.rfind(':') {
            Some(colon) if last_slash.is_none_or(|sl| colon > sl) => {
                (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
            }
            _ => (name_and_tag, None),
        };
        let Some((registry, repository)) = name.split_once('/') else {
            return Err(ReferenceError::MissingRegistry(full.to_string()));
        };
        if !looks_like_registry(registry) {
            return Err(ReferenceError::MissingRegistry(full.to_string()));
        }
        validate_registry(full, registry)?;
        validate_repository(full, repository)?;
        if name.len() > 255 {
            return Err(ReferenceError::InvalidRepository {
                reference: full.to_string(),
                repository: repository.to_string(),
                why: "the full name is longer than 255 characters",
            });
        }
        if let Some(tag) = tag {
            validate_tag(full, tag)?;
        }
        let target = match (digest, tag) {
            (Some(d), _) => Target::Digest(d),
            (None, Some(t)) => Target::Tag(t.to_string()),
            (None, None) => Target::Tag(DEFAULT_TAG.to_string()),
        };
        Ok(Self {
            registry: registry.to_string(),
            repository: repository.to_string(),
            target,
        })
    }
}

/// Docker's rule for "is the first component a host": it has a `.` or a `:`, or is `localhost`.
fn looks_like_registry(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[')
}

fn validate_registry(reference: &str, registry: &str) -> Result<(), ReferenceError> {
    let bad = || ReferenceError::InvalidRegistry {
        reference: reference.to_string(),
        registry: registry.to_string(),
    };
    // IPv6 literal: `[::1]:5000`.
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(bad)?;
        if inside.is_empty()
            || !inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(bad());
        }
        match after {
            "" => (None, None),
            p => (None, Some(p.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        };
        if host.is_empty() || !host.split('.').all(component_ok) {
            return Err(bad());
        }
    }
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    Ok(())
}

fn validate_repository(reference: &str, repository: &str) -> Result<(), ReferenceError> {
    let bad = |why| ReferenceError::InvalidRepository {
        reference: reference.to_string(),
        repository: repository.to_string(),
        why,
    };
    if repository.is_empty() {
        return Err(bad("it is empty"));
    }
    for component in repository.split('/') {
        if component.is_empty() {
            return Err(bad("it has an empty path component"));
        }
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("it has uppercase letters"));
        }
        // alpha-numeric (separator alpha-numeric)*, separator := [_.] | __ | [-]*
        let bytes = component.as_bytes();
        if !bytes[0].is_ascii_alphanumeric() || !bytes[bytes.len() - 1].is_ascii_alphanumeric() {
            return Err(bad(
                "a path component must start and end with a letter or digit",
            ));
        }
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii_lowercase() || b.is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && !(bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit()) {
                i += 1;
            }
            let sep = &component[start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
            if !ok {
                return Err(bad(
                    "it has a character or separator the grammar does not allow",
                ));
            }
        }
    }
    Ok(())
}

fn validate_tag(reference: &str, tag: &str) -> Result<(), ReferenceError> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::InvalidTag {
            reference: reference.to_string(),
            tag: tag.to_string(),
        })
    }
}

impl LayoutRef {
    /// The same layout pinned to a manifest digest.
    pub fn pinned(&self, digest: Digest) -> Self {
        Self {
            dir: self.dir.clone(),
            target: Some(Target::Digest(digest)),
        }
    }
}

impl fmt::Display for LayoutRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "layout:{}", self.dir.display())?;
        match &self.target {
            None => Ok(()),
            Some(Target::Tag(t)) => write!(f, ":{t}"),
            Some(Target::Digest(d)) => write!(f, "@{d}"),
        }
    }
}

impl FromStr for LayoutRef {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let full = s;
        let rest = s.strip_prefix("layout:").unwrap_or(s);
        if rest.is_empty() {
            return Err(ReferenceError::EmptyLayoutDir(full.to_string()));
        }
        // `DIR@sha256:…` pins a manifest; the digest has a `:` of its own, so look for it first.
        if let Some(at) = rest.rfind("@sha256:") {
            let digest = rest[at + 1..].parse::<Digest>().map_err(|source| {
                ReferenceError::InvalidDigest {
                    reference: full.to_string(),
                    source,
                }
            })?;
            let dir = &rest[..at];
            if dir.is_empty() {
                return Err(ReferenceError::EmptyLayoutDir(full.to_string()));
            }
            return Ok(Self {
                dir: PathBuf::from(dir),
                target: Some(Target::Digest(digest)),
            });
        }
        // `DIR:tag`: only when what follows the last `:` is a tag and has no `/` in it, so
        // directories with colons in their names still work without a tag.
        if let Some(colon) = rest.rfind(':') {
            let (dir, tag) = (&rest[..colon], &rest[colon + 1..]);
            if !tag.contains('/') && !dir.is_empty() {
                validate_tag(full, tag)?;
                return Ok(Self {
                    dir: PathBuf::from(dir),
                    target: Some(Target::Tag(tag.to_string())),
                });
            }
        }
        Ok(Self {
            dir: PathBuf::from(rest),
            target: None,
        })
    }
}

impl fmt::Display for ComponentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Oci(r) => r.fmt(f),
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Layout(l) => l.fmt(f),
        }
    }
}

impl FromStr for ComponentRef {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.starts_with("layout:") {
            return s.parse().map(Self::Layout);
        }
        if s.starts_with("oci://") {
            return s.parse().map(Self::Oci);
        }
        if let Some(path) = s.strip_prefix("file://") {
            return Ok(Self::File(PathBuf::from(path)));
        }
        let pathlike = s.ends_with(".wasm")
            || s.starts_with('/')
            || s.starts_with("./")
            || s.starts_with("../")
            || s.starts_with('~');
        if pathlike {
            return Ok(Self::File(PathBuf::from(s)));
        }
        s.parse().map(Self::Oci)
    }
}

impl From<OciRef> for ComponentRef {
    fn from(r: OciRef) -> Self {
        Self::Oci(r)
    }
}

impl From<LayoutRef> for ComponentRef {
    fn from(r: LayoutRef) -> Self {
        Self::Layout(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn oci(s: &str) -> OciRef {
        match s.parse::<ComponentRef>().unwrap() {
            ComponentRef::Oci(r) => r,
            other => panic!("{s} parsed as {other:?}"),
        }
    }

    #[test]
    fn oci_tags_digests_and_ports() {
        let r = oci("ghcr.io/acme/tz:1.0.0");
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("ghcr.io", "acme/tz", Some("1.0.0"))
        );
        assert_eq!(r.to_string(), "ghcr.io/acme/tz:1.0.0");

        let r = oci("oci://127.0.0.1:5000/components/hello-world:v2");
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "components/hello-world");
        assert_eq!(r.to_string(), "127.0.0.1:5000/components/hello-world:v2");

        let r = oci(&format!("localhost:5000/a/b@{D}"));
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.to_string(), format!("localhost:5000/a/b@{D}"));

        // tag and digest: the digest pins it.
        let r = oci(&format!("ghcr.io/a/b:1@{D}"));
        assert_eq!(r.target(), &Target::Digest(D.parse().unwrap()));

        // no tag: latest; the port is not a tag.
        let r = oci("localhost:5000/a");
        assert_eq!(r.tag(), Some(DEFAULT_TAG));
        assert_eq!(r.registry(), "localhost:5000");

        let r = oci("registry.example.com/a__b/c.d/e--f_g:TAG_1.x-y");
        assert_eq!(r.repository(), "a__b/c.d/e--f_g");
        assert_eq!(r.tag(), Some("TAG_1.x-y"));

        let pinned = r.pinned(D.parse().unwrap());
        assert_eq!(
            pinned.to_string(),
            format!("registry.example.com/a__b/c.d/e--f_g@{D}")
        );
        assert_eq!(pinned.to_string().parse::<OciRef>().unwrap(), pinned);
    }

    #[test]
    fn oci_errors_name_the_part_at_fault() {
        let err = |s: &str| s.parse::<ComponentRef>().unwrap_err();
        assert!(matches!(
            err("acme/tz:1"),
            ReferenceError::MissingRegistry(_)
        ));
        assert!(
            err("acme/tz:1")
                .to_string()
                .contains("does not name a registry")
        );
        assert!(matches!(err("tz:1"), ReferenceError::MissingRegistry(_)));
        assert!(matches!(
            err("ghcr.io/Acme/tz:1"),
            ReferenceError::InvalidRepository { .. }
        ));
        assert!(matches!(
            err("ghcr.io/acme//tz"),
            ReferenceError::InvalidRepository { .. }
        ));
        assert!(matches!(
            err("ghcr.io/acme/-tz"),
            ReferenceError::InvalidRepository { .. }
        ));
        assert!(matches!(
            err("ghcr.io/acme/t...z"),
            ReferenceError::InvalidRepository { .. }
        ));
        assert!(matches!(
            err("ghcr.io/"),
            ReferenceError::InvalidRepository { .. }
        ));
        assert!(matches!(
            err("ghcr.io/acme/tz:.bad"),
            ReferenceError::InvalidTag { .. }
        ));
        assert!(matches!(
            err("ghcr.io/acme/tz:"),
            ReferenceError::InvalidTag { .. }
        ));
        let long = format!("ghcr.io/a:{}", "x".repeat(129));
        assert!(matches!(err(&long), ReferenceError::InvalidTag { .. }));
        assert!(matches!(
            err("ghcr.io/acme/tz@sha256:abc"),
            ReferenceError::InvalidDigest { .. }
        ));
        assert!(matches!(
            err("ghcr.io/acme/tz@md5:abc"),
            ReferenceError::InvalidDigest { .. }
        ));
        assert!(matches!(
            err("bad_host.io/a"),
            ReferenceError::InvalidRegistry { .. }
        ));
        assert!(matches!(
            err("host.io:port/a"),
            ReferenceError::InvalidRegistry { .. }
        ));
        assert!(matches!(err("oci://"), ReferenceError::Empty));
        assert!(matches!(err("  "), ReferenceError::Empty));
        let msg = err("ghcr.io/Acme/tz:1").to_string();
        assert!(
            msg.contains("ghcr.io/Acme/tz:1") && msg.contains("Acme/tz"),
            "{msg}"
        );
    }

    #[test]
    fn files_and_layouts() {
        assert_eq!(
            "./x/hello.wasm".parse::<ComponentRef>().unwrap(),
            ComponentRef::File("./x/hello.wasm".into())
        );
        assert_eq!(
            "hello.wasm".parse::<ComponentRef>().unwrap(),
            ComponentRef::File("hello.wasm".into())
        );
        assert_eq!(
            "/abs/comp".parse::<ComponentRef>().unwrap(),
            ComponentRef::File("/abs/comp".into())
        );
        assert_eq!(
            "file:///a/b.wasm".parse::<ComponentRef>().unwrap(),
            ComponentRef::File("/a/b.wasm".into())
        );

        let l = |s: &str| match s.parse::<ComponentRef>().unwrap() {
            ComponentRef::Layout(l) => l,
            other => panic!("{s} parsed as {other:?}"),
        };
        assert_eq!(
            l("layout:/srv/comp"),
            LayoutRef {
                dir: "/srv/comp".into(),
                target: None
            }
        );
        assert_eq!(
            l("layout:/srv/comp:v1.2"),
            LayoutRef {
                dir: "/srv/comp".into(),
                target: Some(Target::Tag("v1.2".into()))
            }
        );
        let pinned = l(&format!("layout:./out@{D}"));
        assert_eq!(pinned.target, Some(Target::Digest(D.parse().unwrap())));
        assert_eq!(pinned.to_string(), format!("layout:./out@{D}"));
        assert_eq!(l(&pinned.to_string()), pinned);
        assert_eq!(
            l("layout:a:b/c"),
            LayoutRef {
                dir: "a:b/c".into(),
                target: None
            }
        );
        assert!(matches!(
            "layout:".parse::<ComponentRef>(),
            Err(ReferenceError::EmptyLayoutDir(_))
        ));
        assert!(matches!(
            "layout:/x:-bad".parse::<ComponentRef>(),
            Err(ReferenceError::InvalidTag { .. })
        ));
        assert_eq!(
            l("layout:/srv/comp:v1.2").to_string(),
            "layout:/srv/comp:v1.2"
        );
    }
}
