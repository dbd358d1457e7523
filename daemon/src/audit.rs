//! The daemon's side of the audit log: records go to a single writer thread, so a tool call
//! never waits for the fsync of its audit entry (the log is at most one batch behind on a
//! crash), and appends stay ordered and chained.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use forage_policy::audit::{AuditKey, AuditLog, Kind};
use forage_store::Store;
use serde_json::Value;

use crate::app::AppError;

/// Sends audit records to the writer thread.
pub struct AuditSink {
    tx: std::sync::Mutex<mpsc::Sender<Msg>>,
    public_key_path: std::path::PathBuf,
}

enum Msg {
    Record(Kind, Value),
    Flush(mpsc::Sender<()>),
}

impl AuditSink {
    /// Opens the log (creating the daemon key at `key_path` on first use) and starts the writer.
    pub fn open(store: Arc<dyn Store>, key_path: &Path) -> Result<Self, AppError> {
        let key = AuditKey::load_or_create(key_path)?;
        let log = AuditLog::new(store, key)?;
        let (tx, rx) = mpsc::channel::<Msg>();
        std::thread::Builder::new()
            .name("forage-audit".into())
            .spawn(move || {
                for msg in rx {
                    match msg {
                        Msg::Record(kind, event) => {
                            if let Err(e) = log.append(kind, event) {
                                tracing::error!(error = %e, "audit append failed");
                            }
                        }
                        Msg::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })
            .map_err(|e| AppError::Io {
                path: key_path.to_path_buf(),
                message: format!("cannot start the audit writer: {e}"),
            })?;
        Ok(Self {
            tx: std::sync::Mutex::new(tx),
            public_key_path: forage_policy::audit::public_key_path(key_path),
        })
    }

    /// Queues one record.
    pub fn record(&self, kind: Kind, event: Value) {
        let _ = self.tx.lock().unwrap().send(Msg::Record(kind, event));
    }

    /// Waits until every queued record is written (used before answering operator reads).
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.tx.lock().unwrap().send(Msg::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }

    /// Where the public key lives (`audit.pub`).
    pub fn public_key_path(&self) -> &Path {
        &self.public_key_path
    }
}
