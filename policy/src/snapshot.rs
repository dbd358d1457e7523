//! Who signed an index snapshot, and what they signed.
//!
//! An indexing job signs a [`Statement`]: the digest of the snapshot's compressed index
//! archive and the sorted list of every component digest the snapshot indexes. The signature
//! is ed25519 over a DSSE envelope (the pre-authentication encoding of the in-toto/Sigstore
//! "Dead Simple Signing Envelope"), so the signed bytes are exactly the statement bytes and
//! no JSON canonicalisation is involved. A daemon accepts a statement only when one of the
//! operator's configured public keys verifies it; see `docs/SNAPSHOTS.md`.
//!
//! Keys on disk are the audit key's formats: PKCS#8 PEM private keys (mode 0600) and SPKI PEM
//! public keys, so `openssl pkey` reads both.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519::pkcs8::spki::der::pem::LineEnding;
use ed25519::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519::pkcs8::{KeypairBytes, PublicKeyBytes};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::Digest;

/// The DSSE `payloadType` of a snapshot statement.
pub const STATEMENT_TYPE: &str = "application/vnd.forage.snapshot.statement.v1+json";

/// The newest snapshot format this build reads and the one it writes.
pub const FORMAT_VERSION: u32 = 1;

/// Largest envelope accepted (a statement lists digests: 100k components fit in ~7 MiB).
pub const MAX_ENVELOPE_BYTES: usize = 32 << 20;

/// What a snapshot's signer vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Snapshot format version ([`FORMAT_VERSION`] when written by this build).
    pub format: u32,
    /// Digest of the compressed index archive (the snapshot's payload).
    pub payload: Digest,
    /// Its size in bytes.
    pub payload_size: u64,
    /// Fingerprint of the search-index schema the archive was written with: a daemon opens
    /// only an index it can read.
    pub schema: String,
    /// When the job built it, seconds since the Unix epoch.
    pub created: u64,
    /// Indexed functions.
    pub functions: u64,
    /// Every component digest the snapshot indexes, sorted, without duplicates.
    pub digests: Vec<Digest>,
}

/// Why a snapshot's signature or statement was refused.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotTrustError {
    /// No key was configured to check against.
    #[error("no trusted snapshot keys are configured (set `[snapshot] keys`)")]
    NoKeys,
    /// A key file could not be used.
    #[error("snapshot key {path}: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The envelope is not a DSSE envelope of a snapshot statement.
    #[error("snapshot signature envelope: {0}")]
    Envelope(String),
    /// No configured key verified any signature of the envelope.
    #[error("snapshot is not signed by a trusted key (signed by key id(s) {found}; trusted: {trusted})")]
    Untrusted {
        /// Key ids of the envelope's signatures.
        found: String,
        /// Key ids of the configured keys.
        trusted: String,
    },
    /// The statement is signed but unreadable.
    #[error("snapshot statement: {0}")]
    Statement(String),
    /// The snapshot was written by a newer forage.
    #[error("snapshot format version {found} is newer than this forage reads (up to {supported}); upgrade forage")]
    NewerFormat {
        /// The snapshot's version.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// Randomness or I/O while making a key.
    #[error("snapshot key generation: {0}")]
    Generate(String),
}

/// The short id of a public key: the first 16 hex digits of the SHA-256 of its 32 bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.to_bytes())[..8])
}

/// DSSE pre-authentication encoding: `DSSEv1 LEN(type) type LEN(body) body`.
fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload_type: String,
    payload: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Serialize, Deserialize)]
struct EnvelopeSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// A private key that signs snapshots.
pub struct SnapshotSigningKey {
    signing: SigningKey,
}

impl std::fmt::Debug for SnapshotSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret half.
        f.debug_struct("SnapshotSigningKey").field("key_id", &self.key_id()).finish()
    }
}

impl SnapshotSigningKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, SnapshotTrustError> {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(|e| SnapshotTrustError::Generate(e.to_string()))?;
        Ok(Self { signing: SigningKey::from_bytes(&secret) })
    }

    /// Writes the private key to `path` (PKCS#8 PEM, mode 0600, never over an existing file)
    /// and its public half beside it as `path` with the extension `pub`; returns that path.
    pub fn write_new(&self, path: &Path) -> Result<PathBuf, SnapshotTrustError> {
        let key_err = |message: String| SnapshotTrustError::Key { path: path.to_path_buf(), message };
        let pub_path = path.with_extension("pub");
        if pub_path == path {
            return Err(key_err("the private key file must not be named `*.pub`".into()));
        }
        let pem = KeypairBytes { secret_key: self.signing.to_bytes(), public_key: None }
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| key_err(format!("cannot encode: {e}")))?;
        crate::audit::write_atomic(path, pem.as_bytes(), 0o600, false).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => key_err("already exists; refusing to overwrite a key".into()),
            _ => key_err(format!("cannot write: {e}")),
        })?;
        let public = PublicKeyBytes(self.signing.verifying_key().to_bytes())
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| key_err(format!("cannot encode the public key: {e}")))?;
        crate::audit::write_atomic(&pub_path, public.as_bytes(), 0o644, true)
            .map_err(|e| SnapshotTrustError::Key { path: pub_path.clone(), message: format!("cannot write: {e}") })?;
        Ok(pub_path)
    }

    /// Reads a private key written by [`SnapshotSigningKey::write_new`] (or any PKCS#8 PEM
    /// ed25519 key). A key that group or others can read is refused, as ssh refuses one.
    pub fn load(path: &Path) -> Result<Self, SnapshotTrustError> {
        let key_err = |message: String| SnapshotTrustError::Key { path: path.to_path_buf(), message };
        let pem = fs::read_to_string(path).map_err(|e| key_err(format!("cannot read: {e}")))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(path).map_err(|e| key_err(format!("cannot stat: {e}")))?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(key_err(format!("mode {:o} lets others read it; chmod 600 it", mode & 0o7777)));
            }
        }
        let pair = KeypairBytes::from_pkcs8_pem(&pem)
            .map_err(|e| key_err(format!("not a PKCS#8 PEM ed25519 private key: {e}")))?;
        Ok(Self { signing: SigningKey::from_bytes(&pair.secret_key) })
    }

    /// The id of this key's public half.
    pub fn key_id(&self) -> String {
        key_id(&self.signing.verifying_key())
    }

    /// The public half.
    pub fn public_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Signs `statement`: the DSSE envelope bytes (JSON).
    pub fn sign(&self, statement: &Statement) -> Vec<u8> {
        let body = serde_json::to_vec(statement).expect("a statement serializes");
        let sig: Signature = self.signing.sign(&pae(STATEMENT_TYPE, &body));
        let b64 = base64::engine::general_purpose::STANDARD;
        let env = Envelope {
            payload_type: STATEMENT_TYPE.into(),
            payload: b64.encode(&body),
            signatures: vec![EnvelopeSignature { keyid: self.key_id(), sig: b64.encode(sig.to_bytes()) }],
        };
        serde_json::to_vec(&env).expect("an envelope serializes")
    }
}

/// The public keys an operator trusts to sign snapshots.
#[derive(Debug, Clone, Default)]
pub struct TrustedSnapshotKeys {
    keys: Vec<VerifyingKey>,
}

impl TrustedSnapshotKeys {
    /// Reads SPKI PEM public keys (`-----BEGIN PUBLIC KEY-----`).
    pub fn load(paths: &[PathBuf]) -> Result<Self, SnapshotTrustError> {
        let mut keys = Vec::new();
        for path in paths {
            let key_err = |message: String| SnapshotTrustError::Key { path: path.clone(), message };
            let pem = fs::read_to_string(path).map_err(|e| key_err(format!("cannot read: {e}")))?;
            let bytes = PublicKeyBytes::from_public_key_pem(&pem)
                .map_err(|e| key_err(format!("not an SPKI PEM ed25519 public key: {e}")))?;
            keys.push(VerifyingKey::from_bytes(&bytes.0).map_err(|e| key_err(format!("not a valid ed25519 point: {e}")))?);
        }
        Ok(Self { keys })
    }

    /// Keys given directly (tests, embedding).
    pub fn from_keys(keys: Vec<VerifyingKey>) -> Self {
        Self { keys }
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks `envelope` against the trusted keys and returns the statement with the id of the
    /// key that verified it. The statement's format version is checked here too: a newer one is
    /// refused before anything reads the archive it describes.
    pub fn verify(&self, envelope: &[u8]) -> Result<(Statement, String), SnapshotTrustError> {
        if self.keys.is_empty() {
            return Err(SnapshotTrustError::NoKeys);
        }
        if envelope.len() > MAX_ENVELOPE_BYTES {
            return Err(SnapshotTrustError::Envelope(format!("{} bytes, more than the {MAX_ENVELOPE_BYTES} allowed", envelope.len())));
        }
        let env: Envelope = serde_json::from_slice(envelope).map_err(|e| SnapshotTrustError::Envelope(format!("not a DSSE envelope: {e}")))?;
        if env.payload_type != STATEMENT_TYPE {
            return Err(SnapshotTrustError::Envelope(format!("payloadType `{}`, expected `{STATEMENT_TYPE}`", env.payload_type)));
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = b64.decode(&env.payload).map_err(|e| SnapshotTrustError::Envelope(format!("payload is not base64: {e}")))?;
        let message = pae(STATEMENT_TYPE, &body);
        let mut found = Vec::new();
        let mut verified_by = None;
        'sigs: for s in env.signatures.iter().take(16) {
            found.push(if s.keyid.is_empty() { "(none)".to_string() } else { s.keyid.chars().take(64).collect() });
            let Ok(bytes) = b64.decode(&s.sig) else { continue };
            let Ok(sig) = Signature::from_slice(&bytes) else { continue };
            for k in &self.keys {
                if k.verify_strict(&message, &sig).is_ok() {
                    verified_by = Some(key_id(k));
                    break 'sigs;
                }
            }
        }
        let Some(key) = verified_by else {
            return Err(SnapshotTrustError::Untrusted {
                found: if found.is_empty() { "none".into() } else { found.join(", ") },
                trusted: self.keys.iter().map(key_id).collect::<Vec<_>>().join(", "),
            });
        };
        // Only now, with the bytes authenticated, is the statement parsed; the version first, so
        // a newer format's extra fields are reported as what they are.
        #[derive(Deserialize)]
        struct Version {
            format: u32,
        }
        let v: Version = serde_json::from_slice(&body).map_err(|e| SnapshotTrustError::Statement(e.to_string()))?;
        if v.format > FORMAT_VERSION {
            return Err(SnapshotTrustError::NewerFormat { found: v.format, supported: FORMAT_VERSION });
        }
        let st: Statement = serde_json::from_slice(&body).map_err(|e| SnapshotTrustError::Statement(e.to_string()))?;
        if st.digests.windows(2).any(|w| w[0] >= w[1]) {
            return Err(SnapshotTrustError::Statement("its digest list is not sorted and unique".into()));
        }
        Ok((st, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(format: u32) -> Statement {
        Statement {
            format,
            payload: format!("sha256:{}", "ab".repeat(32)).parse().unwrap(),
            payload_size: 10,
            schema: "s".into(),
            created: 1,
            functions: 2,
            digests: vec![format!("sha256:{}", "01".repeat(32)).parse().unwrap(), format!("sha256:{}", "02".repeat(32)).parse().unwrap()],
        }
    }

    #[test]
    fn a_trusted_key_verifies_and_others_do_not() {
        let k = SnapshotSigningKey::generate().unwrap();
        let other = SnapshotSigningKey::generate().unwrap();
        let env = k.sign(&statement(1));
        let (st, id) = TrustedSnapshotKeys::from_keys(vec![other.public_key(), k.public_key()]).verify(&env).unwrap();
        assert_eq!(st, statement(1));
        assert_eq!(id, k.key_id());
        let e = TrustedSnapshotKeys::from_keys(vec![other.public_key()]).verify(&env).unwrap_err();
        assert!(e.to_string().contains(&k.key_id()) && e.to_string().contains("not signed by a trusted key"), "{e}");
        assert!(matches!(TrustedSnapshotKeys::default().verify(&env), Err(SnapshotTrustError::NoKeys)));
    }

    #[test]
    fn any_changed_byte_of_the_statement_is_refused() {
        let k = SnapshotSigningKey::generate().unwrap();
        let keys = TrustedSnapshotKeys::from_keys(vec![k.public_key()]);
        let env: serde_json::Value = serde_json::from_slice(&k.sign(&statement(1))).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut body = b64.decode(env["payload"].as_str().unwrap()).unwrap();
        let at = body.iter().position(|&b| b == b'2').unwrap(); // `"functions":2`
        body[at] = b'3';
        let mut forged = env.clone();
        forged["payload"] = b64.encode(&body).into();
        let e = keys.verify(&serde_json::to_vec(&forged).unwrap()).unwrap_err();
        assert!(matches!(e, SnapshotTrustError::Untrusted { .. }), "{e}");
    }

    #[test]
    fn newer_formats_and_unsorted_digests_are_refused_after_the_signature() {
        let k = SnapshotSigningKey::generate().unwrap();
        let keys = TrustedSnapshotKeys::from_keys(vec![k.public_key()]);
        let e = keys.verify(&k.sign(&statement(2))).unwrap_err();
        assert!(e.to_string().contains("format version 2 is newer"), "{e}");
        let mut st = statement(1);
        st.digests.reverse();
        let e = keys.verify(&k.sign(&st)).unwrap_err();
        assert!(e.to_string().contains("not sorted"), "{e}");
        for junk in [&b"{"[..], b"{}", b"\xff\xfe", br#"{"payloadType":"x","payload":"","signatures":[]}"#] {
            assert!(keys.verify(junk).is_err());
        }
    }

    #[test]
    fn keys_round_trip_through_pem_files_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.key");
        let k = SnapshotSigningKey::generate().unwrap();
        let pub_path = k.write_new(&path).unwrap();
        assert_eq!(pub_path, dir.path().join("snap.pub"));
        let again = SnapshotSigningKey::load(&path).unwrap();
        assert_eq!(again.key_id(), k.key_id());
        let keys = TrustedSnapshotKeys::load(&[pub_path]).unwrap();
        assert!(keys.verify(&again.sign(&statement(1))).is_ok());
        let e = SnapshotSigningKey::generate().unwrap().write_new(&path).unwrap_err();
        assert!(e.to_string().contains("refusing to overwrite"), "{e}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(SnapshotSigningKey::load(&path).unwrap_err().to_string().contains("chmod 600"));
        }
    }
}
