//! The daemon's audit signing key on disk.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519::pkcs8::spki::der::pem::LineEnding;
use ed25519::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519::pkcs8::{KeypairBytes, PublicKeyBytes};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::AuditError;

/// The ed25519 key the daemon signs audit records with.
///
/// On disk it is a PKCS#8 PEM file (`-----BEGIN PRIVATE KEY-----`, mode 0600) in the data
/// directory, conventionally `audit.key`, with its public half exported beside it as an SPKI
/// PEM file (`audit.pub`, see [`public_key_path`]) so an operator can verify a log, or a copy
/// of it, with the public key alone: `openssl pkey -pubin -in audit.pub` reads it.
pub struct AuditKey {
    signing: SigningKey,
}

impl AuditKey {
    /// Loads the key at `path`, or creates one there when there is none, and (re)writes the
    /// public key file beside it.
    ///
    /// A new key is written atomically (a temporary file, synced, then linked into place
    /// without replacing anything), so a crash never leaves a half-written key, and two
    /// processes racing to create it end up sharing one. An existing key that group or others
    /// can read is refused, as ssh refuses such a key.
    pub fn load_or_create(path: &Path) -> Result<Self, AuditError> {
        let key_err = |message: String| AuditError::Key {
            path: path.to_path_buf(),
            message,
        };
        let pub_path = public_key_path(path);
        if pub_path == path {
            return Err(key_err("the key file must not be named `*.pub`".into()));
        }
        let key = match Self::load(path)? {
            Some(key) => key,
            None => {
                let key = Self::generate()?;
                let pem = KeypairBytes {
                    secret_key: key.signing.to_bytes(),
                    public_key: None,
                }
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| key_err(format!("cannot encode: {e}")))?;
                match write_atomic(path, pem.as_bytes(), 0o600, false) {
                    Ok(()) => key,
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Self::load(path)?
                        .ok_or_else(|| key_err("vanished after it was created".into()))?,
                    Err(e) => return Err(key_err(format!("cannot write: {e}"))),
                }
            }
        };
        key.export_public(&pub_path)?;
        Ok(key)
    }

    /// A fresh key from the operating system's random source that lives only in memory: for
    /// tests and for one-shot commands whose log is thrown away.
    pub fn generate() -> Result<Self, AuditError> {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(|e| AuditError::Randomness(e.to_string()))?;
        Ok(Self {
            signing: SigningKey::from_bytes(&secret),
        })
    }

    /// The public key that verifies this key's signatures.
    pub fn public_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    pub(super) fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }

    /// The key at `path`, `None` when there is no file.
    fn load(path: &Path) -> Result<Option<Self>, AuditError> {
        let key_err = |message: String| AuditError::Key {
            path: path.to_path_buf(),
            message,
        };
        let pem = match fs::read_to_string(path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(key_err(format!("cannot read: {e}"))),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(path)
                .map_err(|e| key_err(format!("cannot stat: {e}")))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(AuditError::KeyPermissions {
                    path: path.to_path_buf(),
                    mode: mode & 0o7777,
                });
            }
        }
        let pair = KeypairBytes::from_pkcs8_pem(&pem)
            .map_err(|e| key_err(format!("not a PKCS#8 PEM ed25519 private key: {e}")))?;
        let signing = SigningKey::from_bytes(&pair.secret_key);
        if let Some(public) = &pair.public_key
            && public.0 != signing.verifying_key().to_bytes()
        {
            return Err(key_err(
                "its public key does not match its private key".into(),
            ));
        }
        Ok(Some(Self { signing }))
    }

    /// Writes the public key to `path` unless it already holds exactly that.
    fn export_public(&self, path: &Path) -> Result<(), AuditError> {
        let pub_err = |message: String| AuditError::PublicKey {
            path: path.to_path_buf(),
            message,
        };
        let pem = PublicKeyBytes(self.public_key().to_bytes())
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| pub_err(format!("cannot encode: {e}")))?;
        if fs::read_to_string(path).is_ok_and(|old| old == pem) {
            return Ok(());
        }
        write_atomic(path, pem.as_bytes(), 0o644, true)
            .map_err(|e| pub_err(format!("cannot write: {e}")))
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret half.
        f.debug_struct("AuditKey")
            .field("public", &hex::encode(self.public_key().to_bytes()))
            .finish()
    }
}

/// Where [`AuditKey::load_or_create`] exports the public half of the key at `key_path`: the
/// same name with the extension `pub` (`audit.key` → `audit.pub`).
pub fn public_key_path(key_path: &Path) -> PathBuf {
    key_path.with_extension("pub")
}

/// Reads an exported public key (SPKI PEM, `-----BEGIN PUBLIC KEY-----`), for
/// [`verify`](super::verify).
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, AuditError> {
    let pub_err = |message: String| AuditError::PublicKey {
        path: path.to_path_buf(),
        message,
    };
    let pem = fs::read_to_string(path).map_err(|e| pub_err(format!("cannot read: {e}")))?;
    let bytes = PublicKeyBytes::from_public_key_pem(&pem)
        .map_err(|e| pub_err(format!("not an SPKI PEM ed25519 public key: {e}")))?;
    VerifyingKey::from_bytes(&bytes.0)
        .map_err(|e| pub_err(format!("not a valid ed25519 point: {e}")))
}

/// Writes `contents` to `path` through a synced temporary file in the same directory, so
/// readers see the old file or the new one, never part of one. With `replace` false an
/// existing file is left alone and the error is `AlreadyExists`.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32, replace: bool) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        if replace {
            fs::rename(&tmp, path)
        } else {
            fs::hard_link(&tmp, path)
        }
    })();
    // After a rename this finds nothing; after a link (or a failure) it drops the temporary.
    let _ = fs::remove_file(&tmp);
    result?;
    // Make the new directory entry itself durable.
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}
