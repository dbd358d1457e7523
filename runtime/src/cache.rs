//! The compiled-artifact cache: `<dir>/<engine hash>/<digest hex>.cwasm`, each beside a
//! `<digest hex>.cwasm.sha256` recording the hash of the digest and the bytes that were written.
//!
//! Keyed by the component digest and by the engine's compatibility hash, so a wasmtime upgrade
//! or a config change can never feed an incompatible artifact to `deserialize`. The engine hash
//! in the path is a sha256 (not `DefaultHasher`, whose output may change between Rust releases
//! and would strand or confuse old entries). Files are written to a temp name and renamed, so
//! a crash leaves either no entry or a whole one.
//!
//! `Component::deserialize` trusts its input: compiled code from the file runs natively. So an
//! entry is used only when its bytes hash to the recorded value (a truncated, corrupted or
//! swapped file is discarded and recompiled), the directory is private to forage's user
//! (0700), and no grant may ever mount forage's data directory into a guest (the daemon
//! refuses such grants whoever approves them; see `docs/SECURITY.md`).
//!
//! A hit maps the file (`Component::deserialize_file`) rather than copying it into memory: for
//! the 35 MB artifact of an 18 MB Python component that is ~3 ms against ~40 ms, and its code
//! pages stay file-backed. The hash is checked once per process and file: a file is known by
//! its device, inode, size and modification time, taken before the check and again after the
//! mapping, so what is mapped is what was checked (the cache writes by rename, so a new
//! artifact is a new inode; rewriting one in place changes its size or time).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use forage_policy::Digest;
use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct ArtifactCache {
    dir: Option<PathBuf>,
    /// Artifacts whose hash was checked in this process: digest hex → the file checked.
    checked: Mutex<HashMap<String, FileStamp>>,
}

/// Which file a path named when it was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            Some(FileStamp {
                dev: m.dev(),
                ino: m.ino(),
                len: m.len(),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            })
        }
        #[cfg(not(unix))]
        {
            let mtime = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
            Some(FileStamp { dev: 0, ino: 0, len: m.len(), mtime_ns: mtime.as_nanos() as i128 })
        }
    }
}

/// A `Hasher` over sha256, so `precompile_compatibility_hash` (which implements `Hash`) gives
/// the same directory name in every forage build on the same engine configuration.
struct StableHasher(Sha256);

impl std::hash::Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        let d = self.0.clone().finalize();
        u64::from_le_bytes(d[..8].try_into().expect("sha256 has 32 bytes"))
    }
}

/// The cache directory name for an engine configuration.
pub(crate) fn engine_dir_name(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = StableHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.finish())
}

impl ArtifactCache {
    pub(crate) fn new(engine: &Engine, root: Option<&Path>) -> Self {
        let dir = root.map(|r| r.join(engine_dir_name(engine)));
        Self { dir, checked: Mutex::default() }
    }

    fn paths(&self, digest: &Digest) -> Option<(PathBuf, PathBuf)> {
        self.dir.as_ref().map(|d| {
            (
                d.join(format!("{}.cwasm", digest.hex())),
                d.join(format!("{}.cwasm.sha256", digest.hex())),
            )
        })
    }

    /// The cached component, if a usable artifact exists. A file whose hash is not the recorded
    /// one, or that wasmtime refuses, is removed and reported as a miss.
    pub(crate) fn get(&self, engine: &Engine, digest: &Digest) -> Option<Component> {
        let (path, sum) = self.paths(digest)?;
        let stamp = FileStamp::of(&path)?;
        let discard = |why: &str| {
            tracing::warn!(path = %path.display(), why, "discarding compiled artifact");
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(&sum);
            self.checked.lock().unwrap_or_else(|p| p.into_inner()).remove(&digest.hex());
        };
        let known = self.checked.lock().unwrap_or_else(|p| p.into_inner()).get(&digest.hex()) == Some(&stamp);
        if !known {
            let bytes = std::fs::read(&path).ok()?;
            if FileStamp::of(&path) != Some(stamp) {
                return None; // replaced while being read: a miss, the next load looks again
            }
            let recorded = std::fs::read_to_string(&sum).unwrap_or_default();
            if recorded.trim() != record(digest, &bytes) {
                discard("its hash is not the one recorded when it was written for this digest");
                return None;
            }
        }
        // SAFETY: the file holds exactly what `Component::serialize` produced on an engine with
        // the same compatibility hash (it is in the path): its sha256 matched the one recorded
        // at write time, in a 0700 directory that no guest can be granted, and the stamp check
        // below makes sure the file mapped is the file checked.
        let c = match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => c,
            Err(e) => {
                discard(&format!("wasmtime refused it: {e}"));
                return None;
            }
        };
        if FileStamp::of(&path) != Some(stamp) {
            return None;
        }
        self.checked.lock().unwrap_or_else(|p| p.into_inner()).insert(digest.hex(), stamp);
        Some(c)
    }

    pub(crate) fn put(&self, digest: &Digest, component: &Component) {
        let Some((path, sum)) = self.paths(digest) else { return };
        let write = || -> std::io::Result<()> {
            let bytes = component.serialize().map_err(std::io::Error::other)?;
            let dir = path.parent().expect("cache path has a parent");
            create_private_dir(dir)?;
            let tmp = dir.join(format!(".{}.{}.tmp", digest.hex(), std::process::id()));
            // The hash first: an artifact without a matching record is never used, so a crash
            // between the two renames leaves a miss, not a trusted stray file.
            std::fs::write(&tmp, record(digest, &bytes))?;
            std::fs::rename(&tmp, &sum)?;
            std::fs::write(&tmp, &bytes)?;
            std::fs::rename(&tmp, &path)?;
            // Written from these very bytes, under the hash just recorded: no need to read
            // them back to check them in this process.
            if let Some(stamp) = FileStamp::of(&path) {
                self.checked.lock().unwrap_or_else(|p| p.into_inner()).insert(digest.hex(), stamp);
            }
            Ok(())
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), error = %e, "could not write compiled artifact to the cache");
        }
    }
}

/// What is recorded beside an artifact: sha256 over the component digest and the artifact's
/// bytes. Binding the digest means an entry copied under another component's name (with its
/// record) is refused too: a component never runs another component's compiled code.
fn record(digest: &Digest, bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(digest.hex().as_bytes());
    h.update(b"\n");
    h.update(bytes);
    hex::encode(h.finalize())
}

/// Creates `dir` (and parents) and makes it private to this user.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for d in [Some(dir), dir.parent()].into_iter().flatten() {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_dir_name_is_stable_and_engine_specific() {
        let a = Engine::default();
        let b = Engine::default();
        assert_eq!(engine_dir_name(&a), engine_dir_name(&b));
        let mut c = wasmtime::Config::new();
        c.epoch_interruption(true);
        let other = Engine::new(&c).unwrap();
        assert_ne!(engine_dir_name(&a), engine_dir_name(&other));
    }
}
