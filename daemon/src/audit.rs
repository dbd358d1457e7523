//! The daemon's side of the audit log: records go to a single writer thread, so a tool call
//! never waits for the fsync of its audit entry (the log is at most one batch behind on a
//! crash), and appends stay ordered and chained.
//!
//! A failed append is not only logged: the sink remembers it, and the daemon fails closed
//! (calls, grants and decisions are refused with the reason) until an operator fixes the store
//! and restarts it. An unaudited decision is worse than no decision.

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
    /// The first append failure, if any.
    failed: Arc<std::sync::Mutex<Option<String>>>,
}

enum Msg {
    Record(Kind, Value),
    Flush(mpsc::Sender<()>),
    FlushAsync(tokio::sync::oneshot::Sender<()>),
}

impl AuditSink {
    /// Opens the log (creating the daemon key at `key_path` on first use) and starts the writer.
    pub fn open(store: Arc<dyn Store>, key_path: &Path) -> Result<Self, AppError> {
        let key = AuditKey::load_or_create(key_path)?;
        let log = AuditLog::new(store, key)?;
        let (tx, rx) = mpsc::channel::<Msg>();
        let failed: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let writer_failed = failed.clone();
        std::thread::Builder::new()
            .name("forage-audit".into())
            .spawn(move || {
                for msg in rx {
                    match msg {
                        Msg::Record(kind, event) => {
                            if let Err(e) = log.append(kind, event) {
                                tracing::error!(error = %e, "audit append failed; refusing calls and grants from now on");
                                writer_failed.lock().unwrap().get_or_insert_with(|| e.to_string());
                            }
                        }
                        Msg::Flush(done) => {
                            let _ = done.send(());
                        }
                        Msg::FlushAsync(done) => {
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
            failed,
        })
    }

    /// Queues one record.
    pub fn record(&self, kind: Kind, event: Value) {
        if self.tx.lock().unwrap().send(Msg::Record(kind, event)).is_err() {
            self.failed.lock().unwrap().get_or_insert_with(|| "the audit writer stopped".into());
        }
    }

    /// Queues one record and waits until it is durably appended: for decisions whose
    /// acknowledgement must imply their audit record (grants), unlike calls, whose records
    /// may trail by one batch after a crash.
    pub async fn record_durable(&self, kind: Kind, event: Value) -> Result<(), String> {
        self.record(kind, event);
        self.flush_async().await;
        self.healthy()
    }

    /// `Err(why)` once an append has failed: what must not happen unaudited is refused.
    pub fn healthy(&self) -> Result<(), String> {
        match &*self.failed.lock().unwrap() {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        }
    }

    /// Waits until every queued record is written (used before answering operator reads).
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.tx.lock().unwrap().send(Msg::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }

    /// [`Self::flush`] for async callers: waits without blocking a worker.
    pub async fn flush_async(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        let sent = self.tx.lock().unwrap().send(Msg::FlushAsync(done)).is_ok();
        if sent {
            let _ = wait.await;
        }
    }

    /// Where the public key lives (`audit.pub`).
    pub fn public_key_path(&self) -> &Path {
        &self.public_key_path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forage_store::{MemoryStore, StoreError, Table};

    /// A store whose writes to the audit table fail (a full disk, a broken file).
    struct FailingAudit(MemoryStore);

    impl Store for FailingAudit {
        fn get(&self, t: Table, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
            self.0.get(t, k)
        }
        fn put(&self, t: Table, k: &str, v: &[u8]) -> Result<(), StoreError> {
            if t == Table::Audit {
                return Err(StoreError::Io { table: "audit", message: "disk full".into() });
            }
            self.0.put(t, k, v)
        }
        fn delete(&self, t: Table, k: &str) -> Result<bool, StoreError> {
            self.0.delete(t, k)
        }
        fn scan(&self, t: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
            self.0.scan(t)
        }
        fn batch(&self, t: Table, e: &[(String, Option<Vec<u8>>)]) -> Result<(), StoreError> {
            if t == Table::Audit {
                return Err(StoreError::Io { table: "audit", message: "disk full".into() });
            }
            self.0.batch(t, e)
        }
    }

    #[test]
    fn a_failed_append_is_reported_not_only_logged() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(FailingAudit(MemoryStore::default()));
        let sink = AuditSink::open(store, &dir.path().join("audit.key")).unwrap();
        assert!(sink.healthy().is_ok());
        sink.record(Kind::Call, serde_json::json!({"tool": "x"}));
        sink.flush();
        let why = sink.healthy().unwrap_err();
        assert!(why.contains("disk full"), "{why}");
    }
}
