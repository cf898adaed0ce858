//! Background compression of a v3 working copy's table files.
//!
//! RocksDB table files never change once written, so their tar + zstd bodies can be
//! compressed while the program is still working, on a core that is otherwise idle: a
//! save then copies those frames instead of compressing the tables again (a stream of
//! zstd frames decodes to the concatenation of their contents). Files are matched by
//! identity (device, inode, length, modification time), which a checkpoint's hard links
//! share, and checked against the table's content hash when spliced (see
//! [`crate::format::v3_payload::write_tar_zstd`]); anything else is compressed at save
//! time. Frames of tables that no longer exist (compacted away) are deleted at each scan
//! and each save.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crate::format::v3_payload::{BodyCompressor, CompressedBody, FileIdentity};

/// A table's frames, and the table they were made from.
struct Frame {
    table: PathBuf,
    body: CompressedBody,
}

#[derive(Default)]
struct State {
    /// Table files may have appeared since the last scan.
    dirty: bool,
    /// A save is reading `frames`: finish or abandon the current file and wait.
    paused: bool,
    /// The worker is compressing.
    busy: bool,
    stop: bool,
    frames: HashMap<FileIdentity, Frame>,
}

impl State {
    /// Deletes the frames of tables that are gone or changed identity (a checkpoint's
    /// hard link keeps the identity, so frames of tables in a save still match).
    fn prune(&mut self) {
        self.frames.retain(|id, frame| {
            let live = std::fs::metadata(&frame.table)
                .ok()
                .and_then(|m| FileIdentity::of(&m))
                .is_some_and(|now| now == *id);
            if !live {
                let _ = std::fs::remove_file(&frame.body.path);
            }
            live
        });
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// Set while a save waits, so a file in progress is abandoned at its next frame.
    yield_now: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Compresses the `*.sst` files of a database directory in the background.
pub(crate) struct Precompressor {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Precompressor {
    /// Starts a worker compressing the tables of `db` at `level` into `frames_dir`
    /// (created here, owned by the worker). Scans once at the start and after each call
    /// of the [`Precompressor::notifier`] callback.
    pub(crate) fn start(db: PathBuf, frames_dir: PathBuf, level: i32) -> std::io::Result<Self> {
        std::fs::create_dir_all(&frames_dir)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                dirty: true,
                ..State::default()
            }),
            changed: Condvar::new(),
            yield_now: AtomicBool::new(false),
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("c1z-precompress".into())
            .spawn(move || run(&worker, &db, &frames_dir, level))?;
        Ok(Precompressor {
            shared,
            thread: Some(thread),
        })
    }

    /// A callback for [`crate::engine::rocks::RocksStore::set_table_listener`]: new table
    /// files may exist.
    pub(crate) fn notifier(&self) -> impl Fn() + Send + Sync + 'static {
        let shared = Arc::downgrade(&self.shared);
        move || {
            if let Some(shared) = shared.upgrade() {
                shared.lock().dirty = true;
                shared.changed.notify_all();
            }
        }
    }

    /// Pauses the worker (abandoning a file in progress), deletes frames of tables that
    /// are gone, and runs `f` with a lookup of the frames made so far.
    pub(crate) fn with_frames<T>(
        &self,
        f: impl FnOnce(&dyn Fn(&FileIdentity) -> Option<CompressedBody>) -> T,
    ) -> T {
        self.shared.yield_now.store(true, Ordering::Relaxed);
        let mut state = self.shared.lock();
        state.paused = true;
        while state.busy {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.shared.yield_now.store(false, Ordering::Relaxed);
        state.prune();
        let frames = &state.frames;
        let out = f(&|id| frames.get(id).map(|frame| frame.body.clone()));
        state.paused = false;
        drop(state);
        self.shared.changed.notify_all();
        out
    }
}

impl Drop for Precompressor {
    fn drop(&mut self) {
        self.shared.yield_now.store(true, Ordering::Relaxed);
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared, db: &Path, frames_dir: &Path, level: i32) {
    let mut next = 0u64;
    let mut compressor = BodyCompressor::new(level);
    loop {
        {
            let mut state = shared.lock();
            while !state.stop && (state.paused || !state.dirty) {
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.stop {
                return;
            }
            state.dirty = false;
            state.busy = true;
        }
        let mut idle = Idle {
            shared,
            interrupted: true,
        };
        idle.interrupted = !scan(shared, db, frames_dir, &mut compressor, &mut next);
    }
}

/// Marks the worker idle when a scan ends, however it ends (a panic included), so a save
/// waiting for it never hangs.
struct Idle<'a> {
    shared: &'a Shared,
    interrupted: bool,
}

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.busy = false;
        // Interrupted: look again once the save is over.
        state.dirty |= self.interrupted;
        drop(state);
        self.shared.changed.notify_all();
    }
}

/// Compresses every table not compressed yet; `false` if interrupted.
fn scan(
    shared: &Shared,
    db: &Path,
    frames_dir: &Path,
    compressor: &mut BodyCompressor,
    next: &mut u64,
) -> bool {
    let Ok(entries) = std::fs::read_dir(db) else {
        return true;
    };
    let mut tables: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .collect();
    tables.sort();
    shared.lock().prune();
    let cancelled = || shared.yield_now.load(Ordering::Relaxed);
    for table in tables {
        if cancelled() {
            return false;
        }
        let known = std::fs::metadata(&table)
            .ok()
            .and_then(|m| FileIdentity::of(&m))
            .is_none_or(|id| shared.lock().frames.contains_key(&id));
        if known {
            continue;
        }
        *next += 1;
        let out = frames_dir.join(format!("{next:06}.zst"));
        // A failure (a table deleted meanwhile, a full disk) only loses the head start.
        if let Ok(Some(body)) = compressor.compress(&table, &out, &cancelled) {
            shared
                .lock()
                .frames
                .insert(body.identity, Frame { table, body });
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Waits until the worker has made `n` frames (it runs on its own schedule).
    fn wait_for_frames(p: &Precompressor, n: usize) {
        for _ in 0..1000 {
            if p.shared.lock().frames.len() == n {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the worker did not compress {n} tables");
    }

    fn identity(path: &Path) -> FileIdentity {
        FileIdentity::of(&std::fs::metadata(path).unwrap()).unwrap()
    }

    #[test]
    fn frames_of_deleted_tables_are_removed_at_save() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap();
        let (kept, gone) = (db.join("000001.sst"), db.join("000002.sst"));
        std::fs::write(&kept, vec![1u8; 10_000]).unwrap();
        std::fs::write(&gone, vec![2u8; 10_000]).unwrap();
        let frames_dir = dir.path().join("frames");
        let p = Precompressor::start(db.clone(), frames_dir.clone(), 1).unwrap();
        wait_for_frames(&p, 2);
        let (kept_id, gone_id) = (identity(&kept), identity(&gone));
        std::fs::remove_file(&gone).unwrap();
        // What a save sees: the live table's frames only; the orphan's file is deleted.
        let seen = p.with_frames(|lookup| (lookup(&kept_id), lookup(&gone_id)));
        assert!(seen.0.is_some());
        assert!(seen.1.is_none());
        let left: Vec<_> = std::fs::read_dir(&frames_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(left, vec![seen.0.unwrap().path]);
    }
}
