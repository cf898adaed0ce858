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

use crate::engine::rocks::{self, RocksOptions, RocksStore};
use crate::engine::sqlite::{SqliteOptions, SqliteStore};
use crate::engine::{EngineKind, OpenContext};
use crate::error::{Error, Result};
use crate::format::{self, Format, v1, v3};
use crate::store::{AnyStore, Writer};

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
pub struct C1zFile {
    // Field order matters: the store closes before its temp directory is removed.
    store: AnyStore,
    path: PathBuf,
    /// The private work directory the engine's working copy lives in.
    work_dir: tempfile::TempDir,
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
    /// [`Error::EngineNotSupported`] (baton's Pebble v3 files), [`Error::LimitExceeded`],
    /// [`Error::Corrupt`]. On error nothing is left behind and the input is untouched.
    pub fn open_with(path: &Path, opts: &OpenOptions) -> Result<Self> {
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
                    engine => {
                        return Err(Error::EngineNotSupported {
                            engine: engine.to_owned(),
                            detail: if v3::PEBBLE_ENGINES.contains(&engine) {
                                "baton's Pebble payloads cannot be read by this build; `c1z info` \
                                 and `c1z verify` still read the envelope"
                                    .into()
                            } else {
                                "unknown v3 engine".into()
                            },
                        });
                    }
                }
            }
        };
        Ok(C1zFile {
            store,
            path: path.to_owned(),
            work_dir,
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
    /// wrote.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] for a read-only store with changes; I/O and engine errors (the
    /// file on disk is then unchanged).
    pub fn save(&self) -> Result<bool> {
        if !self.store.is_dirty() {
            return Ok(false);
        }
        if self.store.is_read_only() {
            return Err(Error::ReadOnly { operation: "save" });
        }
        // A save ends any bulk phase, so the file has every grant and index.
        self.store.end_bulk_grants()?;
        self.store.save_to(&self.path)?;
        self.store.mark_clean();
        Ok(true)
    }

    /// Writes the current content to `out` (always, changed or not), atomically.
    ///
    /// # Errors
    /// I/O and engine errors; `out` is then unchanged.
    pub fn save_as(&self, out: impl AsRef<Path>) -> Result<()> {
        self.store.end_bulk_grants()?;
        self.store.save_to(out.as_ref())
    }

    /// Saves if anything changed, then releases the temp directory.
    ///
    /// # Errors
    /// As [`C1zFile::save`].
    pub fn close(self) -> Result<bool> {
        self.save()
    }
}

/// Writes `out` through a temp file in the same directory: write, fsync, rename, fsync the
/// directory. On error the temp file is removed and `out` is untouched.
///
/// # Errors
/// I/O errors and those of `write`.
pub fn write_atomically(
    out: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<()>,
) -> Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map_or_else(|| "c1z".into(), |n| n.to_string_lossy().into_owned());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
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
