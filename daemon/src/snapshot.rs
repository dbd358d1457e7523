//! Serving signed index snapshots: the daemon side of `[snapshot]` (see `docs/SNAPSHOTS.md`).
//!
//! A snapshot daemon does not crawl. It serves the index an indexing job built, signed and
//! published, and swaps in newer ones: verify (signature, digests, format) → unpack into
//! `DATA_DIR/snapshots/<manifest hex>/` (checked against the signed statement) → open
//! read-only → one pointer swap. A search holds the `Arc` of the index it started on, so a
//! swap never fails or mixes a search; a refused snapshot leaves the serving one untouched.
//! `DATA_DIR/snapshots/current` names the one in service across restarts; at start its
//! stored envelope is verified again against the keys configured now, so removing a key
//! takes effect.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use forage_indexer::fetch::Fetcher;
use forage_indexer::reference::OciRef;
use forage_indexer::search::SearchIndex;
use forage_indexer::snapshot::{self, Snapshot, SnapshotError, SnapshotLimits};
use forage_policy::Digest;
use forage_policy::snapshot::{Statement, TrustedSnapshotKeys};
use serde_json::{Value, json};

use crate::config::SnapshotConfig;

/// What was installed (or found already in service).
#[derive(Debug, Clone)]
pub struct Installed {
    /// The manifest digest.
    pub digest: Digest,
    /// The signed statement.
    pub statement: Statement,
    /// Which trusted key signed it.
    pub key_id: String,
    /// False when it was already the one in service.
    pub swapped: bool,
}

impl Installed {
    /// The JSON the CLI and admin socket print.
    pub fn to_json(&self) -> Value {
        json!({
            "digest": self.digest,
            "swapped": self.swapped,
            "components": self.statement.digests.len(),
            "functions": self.statement.functions,
            "key_id": self.key_id,
            "created": self.statement.created,
        })
    }
}

struct Current {
    index: Arc<SearchIndex>,
    digest: Digest,
}

/// The snapshots of one data directory and the one in service.
pub struct Snapshots {
    dir: PathBuf,
    keys: TrustedSnapshotKeys,
    limits: SnapshotLimits,
    reference: Option<OciRef>,
    poll: Duration,
    current: RwLock<Option<Current>>,
    /// One install at a time (a poll and an operator's import may race).
    installing: tokio::sync::Mutex<()>,
    /// Why the last pull or install failed, for `search_tools` errors and the status.
    last_error: Mutex<Option<String>>,
}

impl Snapshots {
    /// Loads the trusted keys; nothing is opened yet ([`Snapshots::open_current`] does).
    pub fn new(cfg: &SnapshotConfig, data_dir: &Path) -> anyhow::Result<Self> {
        let keys = TrustedSnapshotKeys::load(&cfg.keys)?;
        Ok(Self {
            dir: data_dir.join("snapshots"),
            keys,
            limits: SnapshotLimits {
                max_payload_bytes: cfg.max_mib << 20,
                max_unpacked_bytes: (cfg.max_mib << 20).saturating_mul(4),
                ..SnapshotLimits::default()
            },
            reference: cfg.reference.as_deref().map(str::parse).transpose()?,
            poll: Duration::from_secs(cfg.poll_secs),
            current: RwLock::new(None),
            installing: tokio::sync::Mutex::new(()),
            last_error: Mutex::new(None),
        })
    }

    /// The index in service, if any.
    pub fn index(&self) -> Option<Arc<SearchIndex>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|c| c.index.clone())
    }

    /// Why there is no index to serve: for the error a search returns meanwhile.
    pub fn unavailable(&self) -> String {
        let why = self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match (&self.reference, why) {
            (_, Some(e)) => format!("no index snapshot is in service yet: {e}"),
            (Some(r), None) => format!("no index snapshot is in service yet: waiting for the first pull of {r}"),
            (None, None) => "no index snapshot is in service: import one with `forage snapshot import FILE`".into(),
        }
    }

    /// The limits snapshots are read under.
    pub fn limits(&self) -> &SnapshotLimits {
        &self.limits
    }

    fn failed(&self, e: &SnapshotError) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }

    /// Opens the snapshot that was in service before a restart, verifying its stored
    /// signature against the keys configured now.
    pub async fn open_current(self: &Arc<Self>) {
        let this = self.clone();
        let r = tokio::task::spawn_blocking(move || this.open_current_blocking()).await;
        match r {
            Ok(Ok(Some(digest))) => tracing::info!(%digest, "serving the index snapshot in service before the restart"),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the index snapshot in service before the restart is refused");
                self.failed(&e);
            }
            Err(e) => tracing::error!(error = %e, "opening the index snapshot panicked"),
        }
    }

    fn open_current_blocking(&self) -> Result<Option<Digest>, SnapshotError> {
        let pointer = self.dir.join("current");
        let hex = match std::fs::read_to_string(&pointer) {
            Ok(h) => h.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SnapshotError::Io { path: pointer, source }),
        };
        let digest: Digest = format!("sha256:{hex}")
            .parse()
            .map_err(|e| SnapshotError::Contents(format!("{} names `{hex}`: {e}", pointer.display())))?;
        let dest = self.dir.join(digest.hex());
        let envelope_path = dest.join("envelope.json");
        let envelope = std::fs::read(&envelope_path).map_err(|source| SnapshotError::Io { path: envelope_path, source })?;
        let (statement, _key) = self.keys.verify(&envelope)?;
        if statement.schema != SearchIndex::schema_fingerprint() {
            return Err(SnapshotError::Contents("it was written with another index schema; pull a new one".into()));
        }
        let index = snapshot::open_unpacked(&dest)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Current { index: Arc::new(index), digest: digest.clone() });
        Ok(Some(digest))
    }

    /// Verifies `snap`, unpacks it and swaps it into service. A refused snapshot changes
    /// nothing; one already in service is a no-op.
    pub async fn install(self: &Arc<Self>, snap: Snapshot) -> Result<Installed, SnapshotError> {
        let _one = self.installing.lock().await;
        let this = self.clone();
        let r = tokio::task::spawn_blocking(move || this.install_blocking(snap))
            .await
            .unwrap_or_else(|e| Err(SnapshotError::Contents(format!("installing panicked: {e}"))));
        match &r {
            Ok(i) => {
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                if i.swapped {
                    tracing::info!(digest = %i.digest, functions = i.statement.functions, key = i.key_id, "index snapshot swapped in");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "index snapshot refused; the one in service stays");
                self.failed(e);
            }
        }
        r
    }

    fn install_blocking(&self, snap: Snapshot) -> Result<Installed, SnapshotError> {
        let verified = snap.verify(&self.keys)?;
        let digest = verified.digest.clone();
        let in_service = self.current.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|c| c.digest.clone());
        if in_service.as_ref() == Some(&digest) {
            return Ok(Installed { digest, statement: verified.statement, key_id: verified.key_id, swapped: false });
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SnapshotError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let dest = self.dir.join(digest.hex());
        // Left over from a crash mid-unpack, or an older copy: never trusted, always redone.
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(io(&dest))?;
        }
        let (_entries, index) = snapshot::unpack(&snap, &verified, &dest, &self.limits)?;
        for (name, bytes) in [("envelope.json", &snap.envelope), ("manifest.json", &snap.manifest)] {
            let p = dest.join(name);
            write_synced(&p, bytes).map_err(io(&p))?;
        }
        // The pointer moves last: a crash before this leaves the old snapshot in service.
        let pointer = self.dir.join("current");
        let tmp = self.dir.join(".current.tmp");
        write_synced(&tmp, &Bytes::from(digest.hex())).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &pointer).map_err(io(&pointer))?;
        std::fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(&self.dir))?;
        let previous = self
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .replace(Current { index: Arc::new(index), digest: digest.clone() });
        // Keep the one just replaced (searches may still read it; unlinked files stay readable
        // while mapped anyway); remove anything older.
        let keep = [Some(digest.hex()), previous.map(|p| p.digest.hex())];
        if let Ok(dir) = std::fs::read_dir(&self.dir) {
            for e in dir.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.path().is_dir() && !keep.iter().flatten().any(|k| *k == name) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(Installed { digest, statement: verified.statement, key_id: verified.key_id, swapped: true })
    }

    /// Pulls `reference` when it names a snapshot other than the one in service, and installs
    /// it. `None` when nothing changed.
    pub async fn pull(self: &Arc<Self>, fetcher: &Fetcher, reference: &OciRef) -> Result<Option<Installed>, SnapshotError> {
        let r = async {
            let (digest, manifest) = Snapshot::resolve(fetcher, reference).await?;
            let in_service = self.current.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|c| c.digest.clone());
            if in_service.as_ref() == Some(&digest) {
                return Ok(None);
            }
            Snapshot::pull_manifest(fetcher, &reference.pinned(digest), manifest, &self.limits).await.map(Some)
        }
        .await;
        match r {
            Ok(None) => Ok(None),
            Ok(Some(snap)) => self.install(snap).await.map(Some),
            Err(e) => {
                tracing::warn!(error = %e, %reference, "pulling the index snapshot failed; the one in service stays");
                self.failed(&e);
                Err(e)
            }
        }
    }

    /// Polls the configured reference every `poll_secs` in the background.
    pub fn spawn_poll(self: &Arc<Self>, fetcher: Arc<Fetcher>) {
        let Some(reference) = self.reference.clone() else { return };
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let _ = this.pull(&fetcher, &reference).await;
                tokio::time::sleep(this.poll).await;
            }
        });
    }

    /// For `forage doctor`-style status output.
    pub fn status(&self) -> Value {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|c| (c.digest.to_string(), c.index.num_docs()));
        json!({
            "reference": self.reference.as_ref().map(|r| r.to_string()),
            "in_service": current.as_ref().map(|c| &c.0),
            "functions": current.as_ref().map(|c| c.1),
            "last_error": *self.last_error.lock().unwrap_or_else(|p| p.into_inner()),
        })
    }
}

fn write_synced(path: &Path, bytes: &Bytes) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
