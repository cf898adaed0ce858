//! The advisory writer lock of a `.c1z` path: `.NAME.lock` beside the file, held with an
//! exclusive `flock` by every writable open and by every save to another path.
//!
//! The lock is on a separate file because saving replaces the `.c1z` file by a rename: a
//! lock on the file itself would be on an inode the next save unlinks. Readers take no
//! lock: a save is atomic, so they see the last saved state. The lock dies with the
//! process (the OS releases it on SIGKILL), so a stale lock file never blocks anyone.
//!
//! The holder removes the lock file when it lets go. A second writer may have opened the
//! old file just before that; after locking, it checks that the path still names the inode
//! it locked, and otherwise starts again on the new file.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// How many times the lock is retried when the lock file is replaced under us.
const ATTEMPTS: usize = 16;

/// An exclusive writer lock on one path, released on drop.
#[derive(Debug)]
pub(crate) struct WriterLock {
    /// Held open: closing it releases the lock.
    file: File,
    lock_path: PathBuf,
}

/// The directory and file name of `path` (`.` and `c1z` when it has none).
pub(crate) fn dir_and_name(path: &Path) -> (PathBuf, String) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "c1z".into(), |n| n.to_string_lossy().into_owned());
    (dir, name)
}

/// Where the lock of `path` lives.
#[must_use]
pub(crate) fn lock_path_of(path: &Path) -> PathBuf {
    let (dir, name) = dir_and_name(path);
    dir.join(format!(".{name}.lock"))
}

impl WriterLock {
    /// Takes the writer lock of `path` without waiting, then removes the temp files killed
    /// savers of `path` left behind (only a lock holder saves to `path`, so any there are
    /// stale).
    ///
    /// # Errors
    /// [`Error::Locked`] if another writer holds it; [`Error::Io`] if the lock file cannot
    /// be created (the directory is not writable, say).
    pub(crate) fn acquire(path: &Path) -> Result<Self> {
        let lock_path = lock_path_of(path);
        for _ in 0..ATTEMPTS {
            let file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_path)
                .map_err(|e| Error::io(&lock_path, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::Locked {
                        path: path.to_owned(),
                        lock: lock_path,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
            }
            if same_file(&file, &lock_path) {
                remove_stale_temp_files(path);
                return Ok(WriterLock { file, lock_path });
            }
            // The previous holder removed the file we locked: lock the one now there.
        }
        Err(Error::Locked {
            path: path.to_owned(),
            lock: lock_path,
        })
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Removed while still held, so no one can lock this inode and think it current.
        let _ = fs::remove_file(&self.lock_path);
        let _ = self.file.unlock();
    }
}

/// Whether `path` still names the file `file` has open.
#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// Length of the random part of a save's temp file name (`.NAME.XXXXXX.tmp`).
pub(crate) const TEMP_RANDOM_LEN: usize = 6;

/// Whether `file_name` is the name of a temp file a save of `name` writes.
fn is_temp_file_of(file_name: &str, name: &str) -> bool {
    file_name
        .strip_prefix('.')
        .and_then(|s| s.strip_prefix(name))
        .and_then(|s| s.strip_prefix('.'))
        .and_then(|s| s.strip_suffix(".tmp"))
        .is_some_and(|random| {
            random.len() == TEMP_RANDOM_LEN && random.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Removes `.NAME.XXXXXX.tmp` files beside `path`. Best effort: a directory that cannot
/// be listed keeps them.
fn remove_stale_temp_files(path: &Path) {
    let (dir, name) = dir_and_name(path);
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        if let Some(file_name) = entry.file_name().to_str()
            && is_temp_file_of(file_name, &name)
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn temp_file_names_match_only_their_own_file() {
        assert!(is_temp_file_of(".a.c1z.Ab3xZ9.tmp", "a.c1z"));
        assert!(!is_temp_file_of(".a.c1z.Ab3xZ.tmp", "a.c1z"));
        assert!(!is_temp_file_of(".a.c1z.x.c1z.Ab3xZ9.tmp", "a.c1z"));
        assert!(!is_temp_file_of(".a.c1z.Ab-xZ9.tmp", "a.c1z"));
        assert!(!is_temp_file_of("a.c1z.Ab3xZ9.tmp", "a.c1z"));
        assert!(!is_temp_file_of(".b.c1z.Ab3xZ9.tmp", "a.c1z"));
    }

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.c1z");
        let first = WriterLock::acquire(&path).unwrap();
        assert!(lock_path_of(&path).exists());
        let err = WriterLock::acquire(&path).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        assert!(
            err.to_string().contains("locked by another process"),
            "{err}"
        );
        drop(first);
        assert!(!lock_path_of(&path).exists(), "the lock file is removed");
        let again = WriterLock::acquire(&path).unwrap();
        drop(again);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_lock_file_replaced_under_a_waiter_is_not_shared() {
        // A waiter that opened the old lock file, then saw it removed, must not hold a
        // lock on the unlinked inode while a third writer holds the new file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.c1z");
        let lock_path = lock_path_of(&path);
        let first = WriterLock::acquire(&path).unwrap();
        let stale = File::open(&lock_path).unwrap();
        drop(first);
        stale.try_lock().unwrap();
        assert!(!same_file(&stale, &lock_path));
        let second = WriterLock::acquire(&path).unwrap();
        assert!(matches!(
            WriterLock::acquire(&path),
            Err(Error::Locked { .. })
        ));
        drop(second);
    }

    #[test]
    fn stale_temp_files_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.c1z");
        for name in [".s.c1z.aB3dE6.tmp", ".s.c1z.x.c1z.aB3dE6.tmp", "keep.tmp"] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        let lock = WriterLock::acquire(&path).unwrap();
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [".s.c1z.lock", ".s.c1z.x.c1z.aB3dE6.tmp", "keep.tmp"]);
        drop(lock);
    }
}
