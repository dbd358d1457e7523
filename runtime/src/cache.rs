//! The compiled-artifact cache: `<dir>/<engine hash>/<digest hex>.cwasm`.
//!
//! Keyed by the component digest and by the engine's compatibility hash, so a wasmtime upgrade
//! or a config change can never feed an incompatible artifact to `deserialize`. Files are
//! written to a temp name and renamed, so a crash leaves either no entry or a whole one.

use std::path::{Path, PathBuf};

use forage_policy::Digest;
use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct ArtifactCache {
    dir: Option<PathBuf>,
}

impl ArtifactCache {
    pub(crate) fn new(engine: &Engine, root: Option<&Path>) -> Self {
        use std::hash::{Hash, Hasher};
        let dir = root.map(|r| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut h);
            r.join(format!("{:016x}", h.finish()))
        });
        Self { dir }
    }

    fn path(&self, digest: &Digest) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{}.cwasm", digest.hex())))
    }

    /// The cached component, if a usable artifact exists. A corrupt or incompatible file is
    /// removed and reported as a miss.
    pub(crate) fn get(&self, engine: &Engine, digest: &Digest) -> Option<Component> {
        let path = self.path(digest)?;
        if !path.exists() {
            return None;
        }
        // SAFETY: the file lives in forage's own data directory, was produced by
        // `Component::serialize` on an engine with the same compatibility hash (it is in the
        // path), and was written atomically. wasmtime additionally checks the header.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unusable compiled artifact");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    pub(crate) fn put(&self, digest: &Digest, component: &Component) {
        let Some(path) = self.path(digest) else { return };
        let write = || -> std::io::Result<()> {
            let bytes = component.serialize().map_err(std::io::Error::other)?;
            let dir = path.parent().expect("cache path has a parent");
            std::fs::create_dir_all(dir)?;
            let tmp = dir.join(format!(".{}.{}.tmp", digest.hex(), std::process::id()));
            std::fs::write(&tmp, &bytes)?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), error = %e, "could not write compiled artifact to the cache");
        }
    }
}
