//! forage-store: the daemon's durable state (installed components, grants, crawl state,
//! audit log), behind a small trait.
//!
//! The one implementation is [`RedbStore`]: every write is its own redb transaction committed
//! with `Durability::Immediate`, so a crash leaves either the old or the new value, never a
//! torn one (see `docs/decisions/0001-store-redb.md`). The trait exists so tests and tools can
//! swap in [`MemoryStore`], and so the rest of forage never sees redb's types.
//!
//! It is not a query engine: values are opaque bytes (JSON by convention), keys are strings
//! that sort the way callers want to scan them.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

/// The tables forage keeps. A closed set, so a typo cannot create a stray table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Components loaded through `load_tool`, restored after a restart. Key: component id.
    Installed,
    /// Capability grants and pending grant requests. Key: grant id.
    Grants,
    /// Per-source crawl state (manifest digests seen). Key: `source/repo:tag`.
    CrawlState,
    /// Cached verification verdicts. Key: digest.
    Verdicts,
    /// Append-only audit records. Key: zero-padded sequence number.
    Audit,
    /// Operators' secrets for components. Key: `component/NAME`; value: the secret.
    Secrets,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Installed => "installed",
            Table::Grants => "grants",
            Table::CrawlState => "crawl_state",
            Table::Verdicts => "verdicts",
            Table::Audit => "audit",
            Table::Secrets => "secrets",
        }
    }
}

/// What went wrong with the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("state store {path}: cannot open: {message}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The underlying reason.
        message: String,
    },
    /// A transaction failed.
    #[error("state store, table `{table}`: {message}")]
    Io {
        /// The table being accessed.
        table: &'static str,
        /// The underlying reason.
        message: String,
    },
}

/// A durable map of tables of byte values, keyed by strings.
///
/// Every method is synchronous and may touch the disk: async callers run them under
/// `spawn_blocking`.
pub trait Store: Send + Sync + 'static {
    /// The value under `key`, if any.
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `key` to `value`, durably, before returning.
    fn put(&self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key`; true when it existed.
    fn delete(&self, table: Table, key: &str) -> Result<bool, StoreError>;
    /// Every entry of `table`, in key order.
    fn scan(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Writes several entries (`None` deletes) in one atomic transaction.
    fn batch(&self, table: Table, entries: &[(String, Option<Vec<u8>>)]) -> Result<(), StoreError>;
}

/// redb's page cache, in bytes.
const CACHE_BYTES: usize = 16 << 20;

/// The redb-backed store.
pub struct RedbStore {
    db: Database,
}

impl RedbStore {
    /// Opens (or creates) the database file at `path`, creating its parent directory.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let err = |e: &dyn std::fmt::Display| StoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| err(&e))?;
        }
        // redb caches up to 1 GiB by default, so the daemon's memory would grow with the
        // audit log; state reads are few and small, and a bounded cache keeps RSS flat.
        let db = redb::Builder::new().set_cache_size(CACHE_BYTES).create(path).map_err(|e| err(&e))?;
        Ok(Self { db })
    }
}

fn def(table: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(table.name())
}

fn io(table: Table) -> impl Fn(&dyn std::fmt::Display) -> StoreError {
    move |e| StoreError::Io {
        table: table.name(),
        message: e.to_string(),
    }
}

impl Store for RedbStore {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let e = io(table);
        let tx = self.db.begin_read().map_err(|x| e(&x))?;
        let t = match tx.open_table(def(table)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(x) => return Err(e(&x)),
        };
        Ok(t.get(key).map_err(|x| e(&x))?.map(|v| v.value().to_vec()))
    }

    fn put(&self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.batch(table, &[(key.to_string(), Some(value.to_vec()))])
    }

    fn delete(&self, table: Table, key: &str) -> Result<bool, StoreError> {
        let e = io(table);
        let mut tx = self.db.begin_write().map_err(|x| e(&x))?;
        tx.set_durability(Durability::Immediate).map_err(|x| e(&x))?;
        let existed = {
            let mut t = tx.open_table(def(table)).map_err(|x| e(&x))?;
            t.remove(key).map_err(|x| e(&x))?.is_some()
        };
        tx.commit().map_err(|x| e(&x))?;
        Ok(existed)
    }

    fn scan(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let e = io(table);
        let tx = self.db.begin_read().map_err(|x| e(&x))?;
        let t = match tx.open_table(def(table)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(x) => return Err(e(&x)),
        };
        let mut out = Vec::new();
        for item in t.iter().map_err(|x| e(&x))? {
            let (k, v) = item.map_err(|x| e(&x))?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn batch(&self, table: Table, entries: &[(String, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        let e = io(table);
        let mut tx = self.db.begin_write().map_err(|x| e(&x))?;
        tx.set_durability(Durability::Immediate).map_err(|x| e(&x))?;
        {
            let mut t = tx.open_table(def(table)).map_err(|x| e(&x))?;
            for (k, v) in entries {
                match v {
                    Some(v) => {
                        t.insert(k.as_str(), v.as_slice()).map_err(|x| e(&x))?;
                    }
                    None => {
                        t.remove(k.as_str()).map_err(|x| e(&x))?;
                    }
                }
            }
        }
        tx.commit().map_err(|x| e(&x))
    }
}

/// An in-memory store, for tests and one-shot commands that must not touch the disk.
#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<BTreeMap<(Table, String), Vec<u8>>>,
}

impl Store for MemoryStore {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tables.lock().unwrap().get(&(table, key.to_string())).cloned())
    }
    fn put(&self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.tables.lock().unwrap().insert((table, key.to_string()), value.to_vec());
        Ok(())
    }
    fn delete(&self, table: Table, key: &str) -> Result<bool, StoreError> {
        Ok(self.tables.lock().unwrap().remove(&(table, key.to_string())).is_some())
    }
    fn scan(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .tables
            .lock()
            .unwrap()
            .iter()
            .filter(|((t, _), _)| *t == table)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }
    fn batch(&self, table: Table, entries: &[(String, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        let mut g = self.tables.lock().unwrap();
        for (k, v) in entries {
            match v {
                Some(v) => g.insert((table, k.clone()), v.clone()),
                None => g.remove(&(table, k.clone())),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(s: &dyn Store) {
        assert_eq!(s.get(Table::Grants, "a").unwrap(), None);
        assert!(s.scan(Table::Grants).unwrap().is_empty());
        s.put(Table::Grants, "b", b"2").unwrap();
        s.put(Table::Grants, "a", b"1").unwrap();
        s.put(Table::Installed, "a", b"x").unwrap();
        assert_eq!(s.get(Table::Grants, "a").unwrap().as_deref(), Some(&b"1"[..]));
        let keys: Vec<_> = s.scan(Table::Grants).unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(s.delete(Table::Grants, "a").unwrap());
        assert!(!s.delete(Table::Grants, "a").unwrap());
        s.batch(Table::Grants, &[("c".into(), Some(b"3".to_vec())), ("b".into(), None)]).unwrap();
        assert_eq!(s.scan(Table::Grants).unwrap(), vec![("c".to_string(), b"3".to_vec())]);
    }

    #[test]
    fn memory_store_semantics() {
        exercise(&MemoryStore::default());
    }

    #[test]
    fn redb_store_semantics_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.redb");
        {
            let s = RedbStore::open(&path).unwrap();
            exercise(&s);
        }
        // A reopened database sees every committed write.
        let s = RedbStore::open(&path).unwrap();
        assert_eq!(s.get(Table::Grants, "c").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(s.get(Table::Installed, "a").unwrap().as_deref(), Some(&b"x"[..]));
    }
}
