//! [`C1zFile`]: a `.c1z` file opened for reading or writing. It owns a private work
//! directory and the store working on a decoded copy of the file there (or in memory, as
//! the engine decides). This module only tells formats and engines apart; each engine
//! opens and saves its own files (`src/engine/<name>/file.rs`).
//!
//! The input file is only ever read. Saving writes a temp file next to the output, fsyncs
//! it and renames it over the output, so readers see the old or the new file, never a torn
//! one. A store that saw no write is not saved.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::engine::pebble::{PebbleOptions, PebbleStore};
use crate::engine::rocks::{self, RocksOptions, RocksStore};
use crate::engine::sqlite::{SqliteOptions, SqliteStore};
use crate::engine::{EngineKind, OpenContext};
use crate::error::{Error, Result};
use crate::format::{self, Format, v1, v3};
use crate::lock::{self, WriterLock};
use crate::store::AnyStore;

/// How to open a file.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    read_only: bool,
    create: bool,
    engine: EngineKind,
    tmp_dir: Option<PathBuf>,
    limits: v1::DecodeLimits,
    encode: v1::EncodeOptions,
    sqlite: SqliteOptions,
    rocks: RocksOptions,
    pebble: PebbleOptions,
}

impl OpenOptions {
    /// Writable open of an existing file.
    #[must_use]
    pub fn new() -> Self {
        OpenOptions::default()
    }

    /// Refuse every write; the file is never rewritten.
    #[must_use]
    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Accept a missing path as a new, empty store (created on the first save).
    #[must_use]
    pub fn with_create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Engine of a new file (existing files keep theirs).
    #[must_use]
    pub fn with_engine(mut self, engine: EngineKind) -> Self {
        self.engine = engine;
        self
    }

    /// Parent of the private temp directory (default: the OS temp dir).
    #[must_use]
    pub fn with_tmp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.tmp_dir = Some(dir.into());
        self
    }

    /// Largest decoded database accepted (default 10 GiB).
    #[must_use]
    pub fn with_max_decoded_size(mut self, bytes: u64) -> Self {
        self.limits.max_decoded_size = bytes;
        self
    }

    /// Largest zstd window accepted, as a power of two (default 27 = 128 MiB).
    #[must_use]
    pub fn with_max_window_log(mut self, log: u32) -> Self {
        self.limits.max_window_log = log;
        self
    }

    /// How SQLite (v1) files are worked on: the in-memory threshold.
    #[must_use]
    pub fn with_sqlite(mut self, sqlite: SqliteOptions) -> Self {
        self.sqlite = sqlite;
        self
    }

    /// How RocksDB (v3) files are worked on and saved: the bulk-load buffer, the payload
    /// encoding, background precompression.
    #[must_use]
    pub fn with_rocksdb(mut self, rocks: RocksOptions) -> Self {
        self.rocks = rocks;
        self
    }

    /// How baton's Pebble (v3) files are read: the block cache.
    #[must_use]
    pub fn with_pebble(mut self, pebble: PebbleOptions) -> Self {
        self.pebble = pebble;
        self
    }

    /// zstd level and threads used when saving.
    #[must_use]
    pub fn with_encode_options(mut self, encode: v1::EncodeOptions) -> Self {
        self.encode = encode;
        self
    }

    /// Opens `path` with these options.
    ///
    /// # Errors
    /// See [`C1zFile::open`].
    pub fn open(&self, path: impl AsRef<Path>) -> Result<C1zFile> {
        C1zFile::open_with(path.as_ref(), self)
    }
}

/// What a file is, as `c1z info` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMetadata {
    /// `v1` or `v3`.
    pub format: Format,
    /// Engine name (`sqlite`, `pebble3`, ...).
    pub engine: String,
    /// Payload encoding of v3 files (`tar_zstd`, `tar`, `indexed_zstd`); `""` for v1.
    pub payload_encoding: String,
}

/// An open `.c1z` file.
///
/// Writes go to a private working copy: save them with [`C1zFile::save`] or
/// [`C1zFile::close`], or drop them with [`C1zFile::discard`]. Dropping a writable file
/// with unsaved writes loses them and prints a warning to stderr.
#[must_use = "writes to a C1zFile are lost unless it is saved or closed"]
pub struct C1zFile {
    // Field order matters: the store closes before its temp directory is removed.
    store: AnyStore,
    path: PathBuf,
    /// Whether dropping with unsaved writes warns (off after `close` and `discard`).
    warn_unsaved: bool,
    /// The private work directory the engine's working copy lives in.
    work_dir: tempfile::TempDir,
    /// The writer lock of `path`, held by writable opens until the file is dropped
    /// (released last, after the working copy is gone).
    lock: Option<WriterLock>,
}

impl std::fmt::Debug for C1zFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("C1zFile")
            .field("path", &self.path)
            .field("store", &self.store)
            .field("work_dir", &self.work_dir.path())
            .finish_non_exhaustive()
    }
}

impl C1zFile {
    /// Opens an existing file for reading and writing.
    ///
    /// # Errors
    /// See [`C1zFile::open_with`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        OpenOptions::new().open(path)
    }

    /// Opens an existing file read-only.
    ///
    /// # Errors
    /// See [`C1zFile::open_with`].
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        OpenOptions::new().with_read_only(true).open(path)
    }

    /// Opens `path` for writing, as a new empty store if it does not exist yet.
    ///
    /// # Errors
    /// See [`C1zFile::open_with`].
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        OpenOptions::new().with_create(true).open(path)
    }

    /// Opens `path`: decodes it into a private working copy (in memory up to the memory
    /// limit, else in a private temp directory) and opens its store. An
    /// existing empty file opens as a new store (as in baton).
    ///
    /// # Errors
    /// [`Error::Io`] (a missing file without `create`), [`Error::UnsupportedFormat`],
    /// [`Error::EngineNotSupported`] (an unknown v3 engine; a writable open of baton's
    /// Pebble files, which c1z reads but does not write), [`Error::LimitExceeded`],
    /// [`Error::Corrupt`]; [`Error::Locked`] for a writable open of a path another
    /// writable open holds (in this process or another). On error nothing is left behind
    /// and the input is untouched.
    ///
    /// A writable open takes the path's advisory writer lock (`.NAME.lock` beside it)
    /// before reading anything, and holds it until the `C1zFile` is dropped. Read-only
    /// opens take no lock and see the last saved state, whoever is writing.
    pub fn open_with(path: &Path, opts: &OpenOptions) -> Result<Self> {
        let lock = if opts.read_only {
            None
        } else {
            Some(WriterLock::acquire(path)?)
        };
        let work_dir = match &opts.tmp_dir {
            Some(dir) => tempfile::Builder::new().prefix("c1z").tempdir_in(dir),
            None => tempfile::Builder::new().prefix("c1z").tempdir(),
        }
        .map_err(|e| Error::io(opts.tmp_dir.clone().unwrap_or_else(std::env::temp_dir), e))?;
        let detected = match std::fs::metadata(path) {
            Ok(_) => format::sniff_file(path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && opts.create => None,
            Err(e) => return Err(Error::io(path, e)),
        };
        let ctx = OpenContext {
            work_dir: work_dir.path(),
            read_only: opts.read_only,
            limits: opts.limits,
            encode: opts.encode,
        };
        let store = match detected {
            None => match opts.engine {
                EngineKind::Sqlite => {
                    AnyStore::Sqlite(SqliteStore::create_file(&ctx, &opts.sqlite)?)
                }
                EngineKind::Rocks => AnyStore::Rocks(RocksStore::create_file(&ctx, &opts.rocks)?),
            },
            Some(Format::V1) => AnyStore::Sqlite(SqliteStore::open_file(path, &ctx, &opts.sqlite)?),
            Some(Format::V3) => {
                let header = v3::read_header(path)?;
                match header.manifest.engine.as_str() {
                    rocks::ENGINE => {
                        AnyStore::Rocks(RocksStore::open_file(path, &header, &ctx, &opts.rocks)?)
                    }
                    engine if v3::PEBBLE_ENGINES.contains(&engine) => {
                        AnyStore::Pebble(PebbleStore::open_file(path, &header, &ctx, &opts.pebble)?)
                    }
                    engine => {
                        return Err(Error::EngineNotSupported {
                            engine: engine.to_owned(),
                            detail: "unknown v3 engine".into(),
                        });
                    }
                }
            }
        };
        Ok(C1zFile {
            store,
            path: path.to_owned(),
            warn_unsaved: true,
            work_dir,
            lock,
        })
    }

    /// The store: read with [`crate::Reader`]/[`crate::ReaderExt`], write with
    /// [`crate::Writer`]/[`crate::WriterExt`].
    #[must_use]
    pub fn store(&self) -> &AnyStore {
        &self.store
    }

    /// The path the file was opened from (and saves to).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Format, engine and payload encoding.
    #[must_use]
    pub fn metadata(&self) -> FileMetadata {
        self.store.file_metadata()
    }

    /// Saves to the path the file was opened from if anything changed; returns whether it
    /// wrote. A write made while the save runs (from another thread) may miss the file,
    /// and keeps the store dirty.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] for a read-only store with changes; I/O and engine errors (the
    /// file on disk is then unchanged).
    pub fn save(&self) -> Result<bool> {
        self.save_then(|| ())
    }

    /// [`C1zFile::save`], running `before_write` after the save captured the store's write
    /// count and before it writes (tests race a write there).
    fn save_then(&self, before_write: impl FnOnce()) -> Result<bool> {
        if !self.store.is_dirty() {
            return Ok(false);
        }
        if self.store.is_read_only() {
            return Err(Error::ReadOnly { operation: "save" });
        }
        // A save ends any bulk phase, so the file has every grant and index.
        self.store.end_bulk_load()?;
        let generation = self.store.generation();
        before_write();
        self.store.save_to(&self.path)?;
        self.store.mark_saved(generation);
        Ok(true)
    }

    /// Writes the current content to `out` (always, changed or not), atomically. The
    /// file's own path is not saved by this: close or discard it afterwards. Another
    /// path's writer lock is held while it is written.
    ///
    /// # Errors
    /// [`Error::Locked`] if another writer holds `out`; I/O and engine errors; `out` is
    /// then unchanged.
    pub fn save_as(&self, out: impl AsRef<Path>) -> Result<()> {
        let out = out.as_ref();
        let _lock = if self.lock.is_some() && same_path(out, &self.path) {
            None
        } else {
            Some(WriterLock::acquire(out)?)
        };
        self.store.end_bulk_load()?;
        self.store.save_to(out)
    }

    /// Saves if anything changed, then releases the temp directory.
    ///
    /// # Errors
    /// As [`C1zFile::save`].
    pub fn close(mut self) -> Result<bool> {
        // A failed save is reported by its error, not again by the drop.
        self.warn_unsaved = false;
        self.save()
    }

    /// Releases the file without saving: unsaved writes are dropped on purpose.
    pub fn discard(mut self) {
        self.warn_unsaved = false;
    }

    /// The warning a drop prints: for a writable file with unsaved writes.
    fn unsaved_warning(&self) -> Option<String> {
        (self.warn_unsaved && !self.store.is_read_only() && self.store.is_dirty()).then(|| {
            format!(
                "c1z: {}: dropped with unsaved changes; call close() or save(), or discard()",
                self.path.display()
            )
        })
    }
}

impl Drop for C1zFile {
    fn drop(&mut self) {
        if let Some(warning) = self.unsaved_warning() {
            #[cfg(test)]
            tests::WARNINGS.with(|w| w.borrow_mut().push(warning.clone()));
            eprintln!("{warning}");
        }
    }
}

/// Whether `a` and `b` name the same file (their directories resolved).
fn same_path(a: &Path, b: &Path) -> bool {
    let resolved = |p: &Path| {
        let (dir, name) = lock::dir_and_name(p);
        (std::fs::canonicalize(&dir).unwrap_or(dir), name)
    };
    resolved(a) == resolved(b)
}

/// Writes `out` through a temp file in the same directory (`.NAME.XXXXXX.tmp`): write,
/// fsync, rename, fsync the directory. On error the temp file is removed and `out` is
/// untouched. It takes no lock: [`C1zFile`]'s saves hold `out`'s writer lock around it,
/// and the next lock holder removes temp files a killed save left behind.
///
/// # Errors
/// I/O errors and those of `write`.
pub fn write_atomically(
    out: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<()>,
) -> Result<()> {
    let (dir, name) = lock::dir_and_name(out);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .rand_bytes(lock::TEMP_RANDOM_LEN)
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        write(&mut w)?;
        w.flush().map_err(|e| Error::io(out, e))?;
    }
    let file = tmp.as_file();
    file.sync_all().map_err(|e| Error::io(out, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out).map_or(0o644, |m| m.permissions().mode() & 0o7777);
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(out, e))?;
    }
    tmp.persist(out).map_err(|e| Error::io(out, e.error))?;
    // Make the rename itself durable; failing to open a directory is not fatal.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::cell::RefCell;

    use super::*;
    use crate::engine::EngineKind;
    use crate::model::{Record, SyncId};
    use crate::pb::c1::connector::v2::ResourceType;
    use crate::store::Reader;
    use crate::store::Writer;

    thread_local! {
        /// Warnings dropped files printed on this thread.
        pub(super) static WARNINGS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    fn warnings() -> Vec<String> {
        WARNINGS.with(|w| w.take())
    }

    fn write_one(file: &C1zFile, id: &str) -> Result<()> {
        let rt = ResourceType {
            id: id.into(),
            ..Default::default()
        };
        file.store()
            .put_resource_types(&SyncId::new("sync"), &[Record::now(rt)])
    }

    fn resource_types(file: &C1zFile) -> usize {
        // Written to a sync with no run row: only "every sync" sees them.
        let query = crate::store::ResourceTypeQuery {
            sync: crate::store::SyncSelector::All,
        };
        let all = file
            .store()
            .list_resource_types(&query, &Default::default());
        all.unwrap().items.len()
    }

    fn created(dir: &Path, engine: EngineKind) -> (PathBuf, C1zFile) {
        let path = dir.join(format!("{}.c1z", engine.name()));
        let file = OpenOptions::new()
            .with_create(true)
            .with_engine(engine)
            .open(&path)
            .unwrap();
        (path, file)
    }

    #[test]
    fn a_write_racing_a_save_keeps_the_store_dirty() {
        for engine in [EngineKind::Sqlite, EngineKind::Rocks] {
            let dir = tempfile::tempdir().unwrap();
            let (path, file) = created(dir.path(), engine);
            write_one(&file, "before").unwrap();
            assert!(
                file.save_then(|| write_one(&file, "during").unwrap())
                    .unwrap()
            );
            assert!(
                file.store().is_dirty(),
                "{engine:?}: the racing write is unsaved"
            );
            assert!(file.save().unwrap(), "{engine:?}: the next save writes it");
            assert!(!file.store().is_dirty());
            assert!(!file.save().unwrap(), "{engine:?}: then nothing is left");
            file.close().unwrap();
            let reopened = C1zFile::open_read_only(&path).unwrap();
            assert_eq!(resource_types(&reopened), 2, "{engine:?}");
        }
    }

    #[test]
    fn dropping_unsaved_writes_warns_and_discard_does_not() {
        for engine in [EngineKind::Sqlite, EngineKind::Rocks] {
            let dir = tempfile::tempdir().unwrap();
            let (path, file) = created(dir.path(), engine);
            write_one(&file, "lost").unwrap();
            drop(file);
            let warned = warnings();
            assert_eq!(warned.len(), 1, "{engine:?}");
            assert!(
                warned[0].contains("dropped with unsaved changes"),
                "{}",
                warned[0]
            );
            assert!(warned[0].contains(&path.display().to_string()));
            assert!(!path.exists());

            let (path, file) = created(dir.path(), engine);
            write_one(&file, "dropped on purpose").unwrap();
            file.discard();
            assert_eq!(warnings(), Vec::<String>::new(), "{engine:?}: discard");
            assert!(!path.exists());

            let (path, file) = created(dir.path(), engine);
            write_one(&file, "kept").unwrap();
            assert!(file.save().unwrap());
            drop(file);
            assert_eq!(
                warnings(),
                Vec::<String>::new(),
                "{engine:?}: saved, then clean"
            );

            let file = C1zFile::open(&path).unwrap();
            write_one(&file, "kept too").unwrap();
            assert!(file.close().unwrap());
            assert_eq!(warnings(), Vec::<String>::new(), "{engine:?}: close");
        }
    }

    #[test]
    fn read_only_files_never_write_or_warn() {
        for engine in [EngineKind::Sqlite, EngineKind::Rocks] {
            let dir = tempfile::tempdir().unwrap();
            let (path, file) = created(dir.path(), engine);
            write_one(&file, "saved").unwrap();
            file.close().unwrap();
            let before = std::fs::read(&path).unwrap();
            let file = C1zFile::open_read_only(&path).unwrap();
            let err = write_one(&file, "refused").unwrap_err();
            assert!(matches!(err, Error::ReadOnly { .. }), "{err}");
            assert!(!file.store().is_dirty());
            assert!(!file.save().unwrap());
            drop(file);
            assert_eq!(warnings(), Vec::<String>::new(), "{engine:?}");
            assert_eq!(std::fs::read(&path).unwrap(), before);
            let names: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                names.len(),
                1,
                "{engine:?}: no temp file beside it: {names:?}"
            );
        }
    }
}
