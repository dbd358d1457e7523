//! Capabilities a component can be granted: a network host, a directory, an environment
//! variable. The JSON shape is the one in the contract (`{"kind": "network", ...}`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Read-only or read-write access to a granted directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StorageAccess {
    /// Files may be read and directories listed.
    Read,
    /// Files may also be created, written and removed.
    ReadWrite,
}

/// One capability, as an agent requests it and an operator grants it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Capability {
    /// Outgoing HTTP(S) to a host (`*.example.com` where operators allow wildcards).
    Network {
        /// Host name or `*.`-prefixed wildcard.
        host: String,
        /// Port; any port of the scheme's default when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        /// `http` or `https`; either when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scheme: Option<String>,
    },
    /// A host directory, preopened into the guest.
    Storage {
        /// Absolute host path.
        path: String,
        /// Access mode.
        access: StorageAccess,
    },
    /// One environment variable.
    Env {
        /// Variable name.
        name: String,
    },
}

/// Why a capability request is malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CapabilityError {
    /// The host is empty or has characters no host name has.
    #[error("network capability: `{0}` is not a host name (expected e.g. `api.example.com` or `*.example.com`)")]
    Host(String),
    /// The scheme is neither http nor https.
    #[error("network capability: scheme `{0}` is not supported (expected `http` or `https`)")]
    Scheme(String),
    /// The storage path is not absolute.
    #[error("storage capability: path `{0}` must be absolute")]
    Path(String),
    /// The variable name is empty or contains `=` or NUL.
    #[error("env capability: `{0}` is not a valid variable name")]
    EnvName(String),
}

impl Capability {
    /// Checks the fields a serde shape cannot check.
    pub fn validate(&self) -> Result<(), CapabilityError> {
        match self {
            Capability::Network { host, scheme, .. } => {
                let bare = host.strip_prefix("*.").unwrap_or(host);
                let ok = !bare.is_empty()
                    && bare.len() <= 253
                    && bare
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
                if !ok {
                    return Err(CapabilityError::Host(host.clone()));
                }
                if let Some(s) = scheme
                    && s != "http"
                    && s != "https"
                {
                    return Err(CapabilityError::Scheme(s.clone()));
                }
                Ok(())
            }
            Capability::Storage { path, .. } => {
                if std::path::Path::new(path).is_absolute() {
                    Ok(())
                } else {
                    Err(CapabilityError::Path(path.clone()))
                }
            }
            Capability::Env { name } => {
                if name.is_empty() || name.contains('=') || name.contains('\0') {
                    Err(CapabilityError::EnvName(name.clone()))
                } else {
                    Ok(())
                }
            }
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::Network { host, port, scheme } => {
                if let Some(s) = scheme {
                    write!(f, "{s}://")?;
                }
                write!(f, "{host}")?;
                if let Some(p) = port {
                    write!(f, ":{p}")?;
                }
                Ok(())
            }
            Capability::Storage { path, access } => {
                let a = match access {
                    StorageAccess::Read => "read",
                    StorageAccess::ReadWrite => "read-write",
                };
                write!(f, "{path} ({a})")
            }
            Capability::Env { name } => write!(f, "env {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_contract_shapes() {
        let c: Capability = serde_json::from_str(
            r#"{"kind":"network","host":"api.example.com","port":443,"scheme":"https"}"#,
        )
        .unwrap();
        assert_eq!(c.to_string(), "https://api.example.com:443");
        c.validate().unwrap();
        let s: Capability =
            serde_json::from_str(r#"{"kind":"storage","path":"/srv/data","access":"read-write"}"#).unwrap();
        assert!(matches!(s, Capability::Storage { access: StorageAccess::ReadWrite, .. }));
        let e: Capability = serde_json::from_str(r#"{"kind":"env","name":"API_KEY"}"#).unwrap();
        e.validate().unwrap();
        assert!(serde_json::from_str::<Capability>(r#"{"kind":"env","name":"A","x":1}"#).is_err());
        let bad: Capability = serde_json::from_str(r#"{"kind":"storage","path":"rel","access":"read"}"#).unwrap();
        assert_eq!(bad.validate(), Err(CapabilityError::Path("rel".into())));
    }
}
