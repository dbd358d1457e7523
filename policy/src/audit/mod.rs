//! The audit log: an append-only, hash-chained, signed record of what the daemon did (loads,
//! grant decisions, revocations, calls, unloads), kept in the store's [`Table::Audit`].
//!
//! # Format
//!
//! Each [`Record`] is stored as JSON under its sequence number zero-padded to 20 digits, so a
//! scan returns the log in order. Sequence numbers start at 1 and have no gaps.
//!
//! ```json
//! {"seq":42,"time":"2026-11-24T00:50:07.123Z","kind":"call",
//!  "event":{"tool":"text_upper","digest":"sha256:…","duration_ms":3,"outcome":"ok",
//!           "arguments_sha256":"…"},
//!  "prev":"<hash of record 41>","hash":"<64 hex>","sig":"<128 hex>"}
//! ```
//!
//! - `hash` is the hex sha256 of: the bytes `forage-audit-record-v1\0`; `seq` as 8 big-endian
//!   bytes; then `time`, `kind`, the canonical JSON of `event` and `prev`, each as an 8-byte
//!   big-endian length followed by its UTF-8 bytes. Canonical JSON has no whitespace and every
//!   object's keys sorted by their UTF-8 bytes; scalars are written as serde_json writes them.
//! - `prev` is the previous record's `hash`; the first record's is 64 zeros.
//! - `sig` is the hex ed25519 signature (RFC 8032) over the 32 raw bytes of the hash, by the
//!   daemon's [`AuditKey`].
//!
//! An operator can check a log without forage: Python's
//! `json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` produces
//! the same canonical JSON for the events forage writes (it was checked against this code,
//! signatures included, with `cryptography`'s `Ed25519PublicKey` loaded from `audit.pub`).
//! Floats are the one place encoders may disagree, so events use integers (`duration_ms`).
//!
//! Events say what happened without the data it happened to: a call records a sha256 of its
//! canonical arguments ([`hash_arguments`]), never the argument values.
//!
//! # What verification proves, and what it cannot
//!
//! [`verify`] needs only the store and the public key (`audit.pub`). It detects an edited
//! record ([`AuditError::HashMismatch`]), a record re-hashed or re-signed by another key
//! ([`AuditError::BadSignature`]), a deleted record ([`AuditError::Gap`], or
//! [`AuditError::ChainBroken`] when later records were renumbered to hide it), and moved or
//! swapped records ([`AuditError::Reordered`]).
//!
//! It cannot detect **truncation of the tail**: dropping the newest records leaves a shorter
//! log that is still a valid chain. Only an anchor kept outside the store can: record
//! [`VerifyReport::head`] somewhere the daemon cannot rewrite (a remote log, a ticket, a
//! printout) and compare it with a later report. Likewise whoever holds the private key can
//! rewrite the whole log consistently; the signature proves the daemon's key wrote it, not
//! that the daemon's host was not compromised.
//!
//! Every method here is synchronous and touches the store: async callers run them under
//! `spawn_blocking`.

mod encoding;
mod key;
pub(crate) use key::write_atomic;
mod render;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ed25519_dalek::{Signature, VerifyingKey};
use forage_store::{Store, StoreError, Table};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Digest;

pub use key::{AuditKey, public_key_path, read_public_key};

/// The `prev` of the first record.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What went wrong with the audit log or its key, naming the record or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed.
    #[error("audit log: {0}")]
    Store(#[from] StoreError),
    /// The signing key could not be read, parsed, created or written.
    #[error("audit key {}: {message}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// The underlying reason.
        message: String,
    },
    /// The signing key file is readable by group or others.
    #[error("audit key {}: mode {mode:o} lets others read it; run `chmod 600` on it", path.display())]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The operating system gave no randomness for a new key.
    #[error("audit key: no randomness from the operating system: {0}")]
    Randomness(String),
    /// The public key file could not be read, parsed or written.
    #[error("audit public key {}: {message}", path.display())]
    PublicKey {
        /// The public key file.
        path: PathBuf,
        /// The underlying reason.
        message: String,
    },
    /// An event to append was not a JSON object.
    #[error("audit event of kind `{kind}` must be a JSON object")]
    EventNotObject {
        /// The kind of the rejected event.
        kind: Kind,
    },
    /// The newest stored record is not signed by this daemon's key, so appending would make a
    /// log that no single public key verifies.
    #[error(
        "audit record {seq}, the newest, is not signed by this daemon's audit key \
         (was the key replaced?); move the log or restore the key"
    )]
    ForeignTail {
        /// The newest record's sequence number.
        seq: u64,
    },
    /// A stored value is not a well-formed record.
    #[error("audit record under key {key}: malformed: {message}")]
    Malformed {
        /// The store key (the zero-padded sequence number).
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A record is stored under another record's key: records were moved or swapped.
    #[error("audit record {seq} is stored under key {key}: records were moved or reordered")]
    Reordered {
        /// The store key it was found under.
        key: String,
        /// The sequence number the record itself carries.
        seq: u64,
    },
    /// A sequence number is missing: a record was deleted.
    #[error(
        "audit record {expected} is missing (the next stored record is {found}): records were deleted"
    )]
    Gap {
        /// The missing sequence number.
        expected: u64,
        /// The sequence number found in its place.
        found: u64,
    },
    /// A record's contents do not match its hash: it was edited.
    #[error("audit record {seq} does not match its hash: it was edited")]
    HashMismatch {
        /// The edited record.
        seq: u64,
    },
    /// A record's `prev` is not the previous record's hash: records were deleted, inserted or
    /// renumbered.
    #[error(
        "audit record {seq} does not chain to the record before it: records were deleted or inserted"
    )]
    ChainBroken {
        /// The record whose `prev` is wrong.
        seq: u64,
    },
    /// A record's signature does not verify with the public key.
    #[error("audit record {seq} has a bad signature: forged, or signed by another key")]
    BadSignature {
        /// The record with the bad signature.
        seq: u64,
    },
}

/// What a record is about. Stored as its kebab-case name (`grant-decision`).
///
/// A closed set for appending, so a typo cannot start a new kind; [`Kind::Other`] keeps kinds
/// written by a newer forage readable (and their hashes verifiable) by an older one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum Kind {
    /// A component was loaded (or restored after a restart).
    Load,
    /// A capability grant was asked for.
    GrantRequest,
    /// A grant request was decided (by operator rule, by the user, or refused).
    GrantDecision,
    /// A grant was revoked.
    Revoke,
    /// A tool was called.
    Call,
    /// A component was unloaded.
    Unload,
    /// A kind this build does not know, kept verbatim.
    Other(String),
}

impl Kind {
    /// The stored name.
    pub fn as_str(&self) -> &str {
        match self {
            Kind::Load => "load",
            Kind::GrantRequest => "grant-request",
            Kind::GrantDecision => "grant-decision",
            Kind::Revoke => "revoke",
            Kind::Call => "call",
            Kind::Unload => "unload",
            Kind::Other(s) => s,
        }
    }
}

impl From<String> for Kind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "load" => Kind::Load,
            "grant-request" => Kind::GrantRequest,
            "grant-decision" => Kind::GrantDecision,
            "revoke" => Kind::Revoke,
            "call" => Kind::Call,
            "unload" => Kind::Unload,
            _ => Kind::Other(s),
        }
    }
}

impl From<Kind> for String {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Other(s) => s,
            known => known.as_str().to_string(),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One audit record, as stored (see the [module docs](self) for the format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When it was appended, RFC 3339 in UTC with milliseconds.
    pub time: String,
    /// What it is about.
    pub kind: Kind,
    /// The details, a JSON object.
    pub event: Value,
    /// The previous record's `hash` ([`GENESIS_PREV`] for the first).
    pub prev: String,
    /// Hex sha256 over the canonical encoding of `seq`, `time`, `kind`, `event` and `prev`.
    pub hash: String,
    /// Hex ed25519 signature over the raw bytes of `hash`.
    pub sig: String,
}

impl Record {
    /// The hash this record's contents should have.
    fn computed_hash(&self) -> [u8; 32] {
        encoding::record_hash(
            self.seq,
            &self.time,
            self.kind.as_str(),
            &self.event,
            &self.prev,
        )
    }

    /// Whether `sig` is `public_key`'s signature over `hash`. Strict verification: no
    /// malleable signatures, no weak keys.
    fn signed_by(&self, hash: &[u8; 32], public_key: &VerifyingKey) -> bool {
        let Some(sig) = hex::decode(&self.sig)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        else {
            return false;
        };
        public_key
            .verify_strict(hash, &Signature::from_bytes(&sig))
            .is_ok()
    }
}

/// The store key for sequence number `seq`: zero-padded so string order is numeric order.
fn store_key(seq: u64) -> String {
    format!("{seq:020}")
}

fn parse(key: &str, value: &[u8]) -> Result<Record, AuditError> {
    serde_json::from_slice(value).map_err(|e| AuditError::Malformed {
        key: key.to_string(),
        message: e.to_string(),
    })
}

/// The hex sha256 of `arguments` in canonical JSON (no whitespace, object keys sorted), so
/// equal arguments hash equally however they were written. The audit log records this
/// instead of the arguments themselves.
pub fn hash_arguments(arguments: &Value) -> String {
    encoding::sha256_canonical(arguments)
}

/// The event of a [`Kind::Call`] record. Built from the arguments so the values themselves
/// cannot end up in the log by mistake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallEvent {
    /// The MCP tool name that was called.
    pub tool: String,
    /// The component that served it.
    pub digest: String,
    /// Wall-clock time of the call.
    pub duration_ms: u64,
    /// `ok`, or a short reason it failed (`trap`, `deadline`, `denied`, …).
    pub outcome: String,
    /// [`hash_arguments`] of the call's arguments.
    pub arguments_sha256: String,
}

impl CallEvent {
    /// Describes a call of `tool` on component `digest` with `arguments`.
    pub fn new(
        tool: &str,
        digest: &Digest,
        arguments: &Value,
        duration: Duration,
        outcome: &str,
    ) -> Self {
        Self {
            tool: tool.to_string(),
            digest: digest.to_string(),
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            outcome: outcome.to_string(),
            arguments_sha256: hash_arguments(arguments),
        }
    }

    /// The JSON object to pass to [`AuditLog::append`] with [`Kind::Call`].
    pub fn to_event(&self) -> Value {
        serde_json::to_value(self).expect("a struct of strings and integers serialises")
    }
}

/// The end of the chain, where the next record attaches.
struct Head {
    next_seq: u64,
    prev: String,
}

/// The daemon's audit log: appends signed records to [`Table::Audit`].
///
/// Appends are serialised by an internal lock, so records appended from several threads still
/// form one chain. The log assumes it is the only writer of the table (the store's database
/// lock keeps a second daemon out).
pub struct AuditLog {
    store: Arc<dyn Store>,
    key: AuditKey,
    head: Mutex<Head>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the log in `store`, continuing the chain after its newest record.
    ///
    /// Fails with [`AuditError::ForeignTail`] when that record is not signed by `key`, rather
    /// than start a stretch of log no single public key verifies. The rest of the log is not
    /// checked here (that is [`verify`]'s job, and reads every record).
    pub fn new(store: Arc<dyn Store>, key: AuditKey) -> Result<Self, AuditError> {
        // The store has no "last entry" query, so this reads the table once.
        let head = match store.scan(Table::Audit)?.pop() {
            None => Head {
                next_seq: 1,
                prev: GENESIS_PREV.to_string(),
            },
            Some((k, v)) => {
                let last = parse(&k, &v)?;
                if !last.signed_by(&last.computed_hash(), &key.public_key()) {
                    return Err(AuditError::ForeignTail { seq: last.seq });
                }
                Head {
                    next_seq: last.seq + 1,
                    prev: last.hash,
                }
            }
        };
        Ok(Self {
            store,
            key,
            head: Mutex::new(head),
        })
    }

    /// The public key that verifies this log.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.public_key()
    }

    /// Appends a record of `kind` with `event` (a JSON object), durably, and returns it.
    pub fn append(&self, kind: Kind, event: Value) -> Result<Record, AuditError> {
        if !event.is_object() {
            return Err(AuditError::EventNotObject { kind });
        }
        // A panic while holding the lock cannot leave the head half-updated (it is assigned
        // in one statement after the write), so a poisoned lock is still a good one.
        let mut head = self.head.lock().unwrap_or_else(|p| p.into_inner());
        let time = encoding::rfc3339_utc(SystemTime::now());
        let hash = encoding::record_hash(head.next_seq, &time, kind.as_str(), &event, &head.prev);
        let record = Record {
            seq: head.next_seq,
            time,
            kind,
            event,
            prev: head.prev.clone(),
            hash: hex::encode(hash),
            sig: hex::encode(self.key.sign(&hash).to_bytes()),
        };
        let value = serde_json::to_vec(&record).expect("a record serialises");
        self.store
            .put(Table::Audit, &store_key(record.seq), &value)?;
        *head = Head {
            next_seq: record.seq + 1,
            prev: record.hash.clone(),
        };
        Ok(record)
    }

    /// The newest `n` records, oldest first.
    pub fn tail(&self, n: usize) -> Result<Vec<Record>, AuditError> {
        tail(self.store.as_ref(), n)
    }
}

/// The newest `n` records in `store`, oldest first, without checking them (for
/// `forage audit tail`, which needs no key).
pub fn tail(store: &dyn Store, n: usize) -> Result<Vec<Record>, AuditError> {
    let entries = store.scan(Table::Audit)?;
    let skip = entries.len().saturating_sub(n);
    entries
        .into_iter()
        .skip(skip)
        .map(|(k, v)| parse(&k, &v))
        .collect()
}

/// What a successful [`verify`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// How many records verified.
    pub records: u64,
    /// The newest record's sequence number and hash, `None` for an empty log. Keep it outside
    /// the store to detect a later truncation of the tail, which the chain alone cannot.
    pub head: Option<(u64, String)>,
}

/// Checks every record in `store` against `public_key`: sequence, chain, hashes, signatures.
/// Stops at the first fault, naming the record (see the [module docs](self) for what this can
/// and cannot detect).
pub fn verify(store: &dyn Store, public_key: &VerifyingKey) -> Result<VerifyReport, AuditError> {
    let mut prev = GENESIS_PREV.to_string();
    let mut expected = 1u64;
    for (key, value) in store.scan(Table::Audit)? {
        let record = parse(&key, &value)?;
        let seq = record.seq;
        if key != store_key(seq) {
            return Err(AuditError::Reordered { key, seq });
        }
        if seq != expected {
            return Err(AuditError::Gap {
                expected,
                found: seq,
            });
        }
        let hash = record.computed_hash();
        if hex::encode(hash) != record.hash {
            return Err(AuditError::HashMismatch { seq });
        }
        if record.prev != prev {
            return Err(AuditError::ChainBroken { seq });
        }
        if !record.signed_by(&hash, public_key) {
            return Err(AuditError::BadSignature { seq });
        }
        prev = record.hash;
        expected += 1;
    }
    let records = expected - 1;
    Ok(VerifyReport {
        records,
        head: (records > 0).then_some((records, prev)),
    })
}
