//! The directory an on-disk index lives in: tantivy's mmap directory, except that the files a
//! search reads at scattered places (the doc store, the postings, the positions) are read with
//! `pread` into buffers that live only as long as tantivy holds them.
//!
//! Why: a mapped page counts in the daemon's RSS from its first touch until the mapping goes
//! away, and on a read fault the kernel maps up to 16 neighbouring cached pages as well
//! (fault-around). A search reads ten stored documents from random blocks and one posting list
//! per term, so a daemon at 100k functions that had answered 2,000 searches had 27.5 MiB of
//! `.store` and 11.4 MiB of `.idx` pages mapped, none of which it needed any more
//! (docs/BENCHMARKS.md). Read into a buffer, a block costs a copy of a few KiB, and the file's
//! pages stay in the page cache, which belongs to the system, not to the daemon.
//!
//! Everything else (the term dictionary, fast fields, norms, the dense vectors, which
//! `dense.rs` hands back itself) is read whole or at one place per search, so mapping stays
//! the cheaper way for it.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::{fmt, io};

use tantivy::HasLen;
use tantivy::directory::error::{DeleteError, LockError, OpenDirectoryError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, OwnedBytes, WatchCallback, WatchHandle, WritePtr,
};

/// Extensions of the segment files read with `pread` (see the module docs).
const READ_NOT_MAPPED: &[&str] = &["store", "idx", "pos"];

/// An [`MmapDirectory`] that reads the files of [`READ_NOT_MAPPED`] instead of mapping them.
#[derive(Clone, Debug)]
pub(crate) struct IndexDirectory {
    mmap: MmapDirectory,
    root: PathBuf,
}

impl IndexDirectory {
    pub(crate) fn open(root: &Path) -> Result<IndexDirectory, OpenDirectoryError> {
        Ok(IndexDirectory { mmap: MmapDirectory::open(root)?, root: root.to_path_buf() })
    }
}

fn read_not_mapped(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| READ_NOT_MAPPED.contains(&e))
}

impl Directory for IndexDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        if !read_not_mapped(path) {
            return self.mmap.get_file_handle(path);
        }
        let full = self.root.join(path);
        let file = File::open(&full).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => OpenReadError::FileDoesNotExist(path.to_path_buf()),
            _ => OpenReadError::wrap_io_error(e, full.clone()),
        })?;
        let len = file.metadata().map_err(|e| OpenReadError::wrap_io_error(e, full.clone()))?.len();
        let len = usize::try_from(len).map_err(|_| {
            OpenReadError::wrap_io_error(io::Error::new(io::ErrorKind::InvalidData, "file too large"), full.clone())
        })?;
        Ok(Arc::new(ReadFile { file, len, path: full }))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.mmap.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.mmap.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        self.mmap.open_write(path)
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.mmap.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.mmap.atomic_write(path, data)
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.mmap.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.mmap.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.mmap.watch(watch_callback)
    }
}

/// A segment file read with `pread`. Segment files are written once and never change, and an
/// open descriptor keeps a file that a merge deletes readable, as a mapping would. Each open
/// segment holds three descriptors; crawls merge the index back into one segment.
struct ReadFile {
    file: File,
    len: usize,
    path: PathBuf,
}

impl fmt::Debug for ReadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadFile").field("path", &self.path).field("len", &self.len).finish()
    }
}

impl HasLen for ReadFile {
    fn len(&self) -> usize {
        self.len
    }
}

impl FileHandle for ReadFile {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        if range.start > range.end || range.end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: read of {range:?} past its {} bytes", self.path.display(), self.len),
            ));
        }
        let mut buf = vec![0u8; range.len()];
        self.file.read_exact_at(&mut buf, range.start as u64)?;
        Ok(OwnedBytes::new(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scattered_files_and_maps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let d = IndexDirectory::open(dir.path()).unwrap();
        for name in ["a.store", "a.term"] {
            d.atomic_write(Path::new(name), b"0123456789").unwrap();
        }
        let store = d.get_file_handle(Path::new("a.store")).unwrap();
        assert!(format!("{store:?}").starts_with("ReadFile"), "{store:?}");
        assert_eq!(store.len(), 10);
        assert_eq!(store.read_bytes(2..5).unwrap().as_slice(), b"234");
        assert_eq!(store.read_bytes(10..10).unwrap().as_slice(), b"");
        assert!(store.read_bytes(8..11).is_err(), "a read past the end is an error, not a short read");
        let term = d.get_file_handle(Path::new("a.term")).unwrap();
        assert!(!format!("{term:?}").starts_with("ReadFile"), "{term:?}");
        assert!(matches!(d.get_file_handle(Path::new("gone.idx")), Err(OpenReadError::FileDoesNotExist(_))));
    }
}
