//! Named trust stores of X.509 certificates (`ca:`, `signingAuthority:`, `tsa:`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::NotaryError;
use crate::policy::{StoreRef, StoreType, valid_store_name};
use crate::x509::{Cert, parse_pem_or_der};

/// Named collections of trusted certificates, as referenced by a trust policy's
/// `trustStores`. A signature is trusted when a certificate of its chain is byte-identical
/// (DER) to a certificate of one of the applicable stores.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    stores: BTreeMap<StoreRef, Vec<Cert>>,
}

impl TrustStore {
    /// An empty set of stores.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the certificates in `bytes` (DER, or PEM with one or more `CERTIFICATE`
    /// blocks) to the store `kind:name`, creating it if needed. Returns how many certificates
    /// `bytes` held (duplicates of certificates already in the store are kept once).
    pub fn add_certificates(
        &mut self,
        kind: StoreType,
        name: &str,
        bytes: &[u8],
    ) -> Result<usize, NotaryError> {
        let store = StoreRef {
            kind,
            name: name.to_owned(),
        };
        if !valid_store_name(name) {
            return Err(NotaryError::InvalidTrustStore {
                store: store.to_string(),
                reason: "invalid store name".into(),
            });
        }
        let certs = parse_pem_or_der(bytes).map_err(|reason| NotaryError::InvalidTrustStore {
            store: store.to_string(),
            reason,
        })?;
        let n = certs.len();
        let entry = self.stores.entry(store).or_default();
        for c in certs {
            if !entry.iter().any(|e| e.der == c.der) {
                entry.push(c);
            }
        }
        Ok(n)
    }

    /// Reads one certificate file (PEM or DER) into `kind:name`.
    pub fn add_file(
        &mut self,
        kind: StoreType,
        name: &str,
        path: &Path,
    ) -> Result<usize, NotaryError> {
        let bytes = std::fs::read(path).map_err(|e| NotaryError::InvalidTrustStore {
            store: format!("{}:{name}", kind.as_str()),
            reason: format!("cannot read {}: {e}", path.display()),
        })?;
        self.add_certificates(kind, name, &bytes)
            .map_err(|e| match e {
                NotaryError::InvalidTrustStore { store, reason } => {
                    NotaryError::InvalidTrustStore {
                        store,
                        reason: format!("{}: {reason}", path.display()),
                    }
                }
                other => other,
            })
    }

    /// Loads notation's on-disk layout: `ROOT/x509/{ca,signingAuthority,tsa}/<name>/*`
    /// with `.pem`, `.crt`, `.cer` or `.der` files. Missing type directories are fine.
    pub fn load_notation_dir(root: &Path) -> Result<Self, NotaryError> {
        let mut ts = TrustStore::new();
        ts.add_notation_dir(root)?;
        Ok(ts)
    }

    /// Adds notation's on-disk layout (see [`TrustStore::load_notation_dir`]) to this store;
    /// certificates of a store that already exists are appended to it.
    pub fn add_notation_dir(&mut self, root: &Path) -> Result<(), NotaryError> {
        let ts = self;
        for kind in [StoreType::Ca, StoreType::SigningAuthority, StoreType::Tsa] {
            let dir = root.join("x509").join(kind.as_str());
            let Ok(names) = std::fs::read_dir(&dir) else {
                continue;
            };
            let io = |e: std::io::Error| NotaryError::InvalidTrustStore {
                store: kind.as_str().to_owned(),
                reason: format!("{}: {e}", dir.display()),
            };
            for entry in names {
                let entry = entry.map_err(io)?;
                if !entry.file_type().map_err(io)?.is_dir() {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let mut files: Vec<_> = std::fs::read_dir(entry.path())
                    .map_err(io)?
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                            matches!(
                                x.to_ascii_lowercase().as_str(),
                                "pem" | "crt" | "cer" | "der"
                            )
                        })
                    })
                    .collect();
                files.sort();
                ts.stores
                    .entry(StoreRef {
                        kind,
                        name: name.clone(),
                    })
                    .or_default();
                for f in files {
                    ts.add_file(kind, &name, &f)?;
                }
            }
        }
        Ok(())
    }

    /// Whether the store `kind:name` exists (possibly empty).
    pub fn has_store(&self, store: &StoreRef) -> bool {
        self.stores.contains_key(store)
    }

    /// Number of certificates in `kind:name` (0 if it does not exist).
    pub fn len_of(&self, store: &StoreRef) -> usize {
        self.stores.get(store).map_or(0, Vec::len)
    }

    pub(crate) fn certificates(&self, store: &StoreRef) -> Option<&[Cert]> {
        self.stores.get(store).map(Vec::as_slice)
    }
}
