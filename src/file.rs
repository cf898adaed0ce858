//! [`C1zFile`]: a `.c1z` file opened for reading or writing. It owns the store working on
//! a private decoded copy of the database: in memory for a SQLite database up to the
//! memory limit, else in a private temp directory.
//!
//! The input file is only ever read. Saving writes a temp file next to the output, fsyncs
//! it and renames it over the output, so readers see the old or the new file, never a torn
//! one. A store that saw no write is not saved.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::engine::EngineKind;
use crate::engine::rocks::{self, RocksStore};
use crate::engine::sqlite::{DatabaseImage, SqliteStore};
use crate::error::{Error, Result};
use crate::format::v3_payload::{CompressedBody, FileIdentity};
use crate::format::{self, Format, v1, v3, v3_payload};
use crate::model::SyncRun;
use crate::pb::c1::c1z::v3::{C1zManifestV3, PayloadEncoding, SyncRunSummary};
use crate::store::AnyStore;
use crate::store::ReaderExt;

/// How to open a file.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    read_only: bool,
    create: bool,
    engine: EngineKind,
    tmp_dir: Option<PathBuf>,
    limits: v1::DecodeLimits,
    encode: v1::EncodeOptions,
    payload_encoding: Option<PayloadEncoding>,
    memory_limit: Option<u64>,
}

/// Default [`OpenOptions::with_memory_limit`]: 32 MiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 32 << 20;

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

    /// Payload encoding of v3 files when saving (`TarZstd`, the default, or `Tar`); an
    /// existing v3 file keeps its own unless this is set.
    #[must_use]
    pub fn with_payload_encoding(mut self, encoding: PayloadEncoding) -> Self {
        self.payload_encoding = Some(encoding);
        self
    }

    /// Largest SQLite database kept in memory (default [`DEFAULT_MEMORY_LIMIT`]). A v1
    /// file that decodes to at most this many bytes, or a new one, is worked on in memory:
    /// no temp file, no file I/O until it is saved. A database that grows past the limit
    /// moves to the private temp directory before the next write. 0 keeps every database
    /// on disk.
    ///
    /// RocksDB stores always work on disk; the limit sizes the sorted tables a bulk grant
    /// write (expansion) builds in memory, half of it per table with up to two at a time. 0
    /// writes every grant through the memtable.
    #[must_use]
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    fn memory_limit(&self) -> u64 {
        self.memory_limit.unwrap_or(DEFAULT_MEMORY_LIMIT)
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
    format: Format,
    encode: v1::EncodeOptions,
    payload_encoding: PayloadEncoding,
    /// Compresses a writable RocksDB copy's tables ahead of a tar + zstd save.
    precompressor: Option<crate::engine::rocks::precompress::Precompressor>,
    tmp: tempfile::TempDir,
}

impl std::fmt::Debug for C1zFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("C1zFile")
            .field("path", &self.path)
            .field("store", &self.store)
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
        let tmp = match &opts.tmp_dir {
            Some(dir) => tempfile::Builder::new().prefix("c1z").tempdir_in(dir),
            None => tempfile::Builder::new().prefix("c1z").tempdir(),
        }
        .map_err(|e| Error::io(opts.tmp_dir.clone().unwrap_or_else(std::env::temp_dir), e))?;
        let detected = match std::fs::metadata(path) {
            Ok(_) => format::sniff_file(path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && opts.create => None,
            Err(e) => return Err(Error::io(path, e)),
        };
        let db = tmp.path().join("db");
        let mut payload_encoding = opts.payload_encoding.unwrap_or(PayloadEncoding::TarZstd);
        let (format, store) = match (detected, opts.engine) {
            (None, EngineKind::Sqlite) => (
                Format::V1,
                AnyStore::Sqlite(match opts.memory_limit() {
                    0 => SqliteStore::open(&db, opts.read_only)?,
                    limit => SqliteStore::open_in_memory(Vec::new(), &db, opts.read_only, limit)?,
                }),
            ),
            (None, EngineKind::Rocks) => (
                Format::V3,
                AnyStore::Rocks(
                    RocksStore::open(&db, opts.read_only)?.with_bulk_memory(opts.memory_limit()),
                ),
            ),
            (Some(Format::V1), _) => {
                let limit = opts.memory_limit();
                let declared = match limit {
                    0 => None,
                    _ => v1::declared_size(path)?,
                };
                // No memory allowed, or declared too large for it: straight to the file.
                let store = if limit == 0 || declared.is_some_and(|size| size > limit) {
                    v1::decode(path, &db, opts.limits)?;
                    SqliteStore::open(&db, opts.read_only)?
                } else {
                    let mut decoded = SpillWriter::new(&db, limit, declared.unwrap_or(0));
                    v1::decode_to(path, &mut decoded, &db, opts.limits)?;
                    match decoded.finish().map_err(|e| Error::io(&db, e))? {
                        Some(image) => {
                            SqliteStore::open_in_memory(image, &db, opts.read_only, limit)?
                        }
                        None => SqliteStore::open(&db, opts.read_only)?,
                    }
                };
                (Format::V1, AnyStore::Sqlite(store))
            }
            (Some(Format::V3), _) => {
                let header = v3::read_header(path)?;
                let engine = header.manifest.engine.as_str();
                if engine != rocks::ENGINE {
                    return Err(Error::EngineNotSupported {
                        engine: engine.to_owned(),
                        detail: if v3::PEBBLE_ENGINES.contains(&engine) {
                            "baton's Pebble payloads cannot be read by this build; `c1z info` and \
                             `c1z verify` still read the envelope"
                                .into()
                        } else {
                            "unknown v3 engine".into()
                        },
                    });
                }
                if header.manifest.engine_schema_version > rocks::SCHEMA_VERSION {
                    return Err(Error::UnsupportedFormat {
                        reason: format!(
                            "rocksdb keyspace version {} is newer than this build's ({})",
                            header.manifest.engine_schema_version,
                            rocks::SCHEMA_VERSION
                        ),
                    });
                }
                if opts.payload_encoding.is_none() {
                    payload_encoding =
                        match PayloadEncoding::try_from(header.manifest.payload_encoding) {
                            Ok(PayloadEncoding::Tar) => PayloadEncoding::Tar,
                            _ => PayloadEncoding::TarZstd,
                        };
                }
                v3_payload::extract(path, &header, &db, opts.limits)?;
                (
                    Format::V3,
                    AnyStore::Rocks(
                        RocksStore::open(&db, opts.read_only)?
                            .with_bulk_memory(opts.memory_limit()),
                    ),
                )
            }
        };
        let mut store = store;
        let precompressor = match &mut store {
            AnyStore::Rocks(s)
                if !opts.read_only && payload_encoding == PayloadEncoding::TarZstd =>
            {
                let p = crate::engine::rocks::precompress::Precompressor::start(
                    db.clone(),
                    tmp.path().join("frames"),
                    opts.encode.level,
                )
                .map_err(|e| Error::io(tmp.path(), e))?;
                s.set_table_listener(p.notifier());
                Some(p)
            }
            _ => None,
        };
        Ok(C1zFile {
            store,
            path: path.to_owned(),
            format,
            encode: opts.encode,
            payload_encoding,
            precompressor,
            tmp,
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
        FileMetadata {
            format: self.format,
            engine: crate::store::Reader::engine(&self.store).to_owned(),
            payload_encoding: match self.format {
                Format::V1 => String::new(),
                Format::V3 => v3::payload_encoding_name(self.payload_encoding as i32).to_owned(),
            },
        }
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
        self.write_to(&self.path)?;
        self.store.mark_clean();
        Ok(true)
    }

    /// Writes the current content to `out` (always, changed or not), atomically.
    ///
    /// # Errors
    /// I/O and engine errors; `out` is then unchanged.
    pub fn save_as(&self, out: impl AsRef<Path>) -> Result<()> {
        self.write_to(out.as_ref())
    }

    /// Saves if anything changed, then releases the temp directory.
    ///
    /// # Errors
    /// As [`C1zFile::save`].
    pub fn close(self) -> Result<bool> {
        self.save()
    }

    fn write_to(&self, out: &Path) -> Result<()> {
        // A save ends any bulk phase, so the file has every grant and index.
        crate::store::Writer::end_bulk_grants(&self.store)?;
        match &self.store {
            AnyStore::Sqlite(s) => s.with_image(|image| {
                write_atomically(out, |w| match image {
                    DatabaseImage::File(db) => v1::encode(db, w, self.encode),
                    DatabaseImage::Memory(bytes) => v1::encode_bytes(bytes, w, self.encode),
                })
            }),
            AnyStore::Rocks(s) => {
                let staging = tempfile::Builder::new()
                    .prefix("checkpoint")
                    .tempdir_in(self.tmp.path())
                    .map_err(|e| Error::io(self.tmp.path(), e))?;
                let checkpoint = staging.path().join("db");
                s.checkpoint_to(&checkpoint)?;
                let manifest = C1zManifestV3 {
                    engine: rocks::ENGINE.to_owned(),
                    engine_schema_version: rocks::SCHEMA_VERSION,
                    payload_encoding: self.payload_encoding as i32,
                    sync_runs: self.store.sync_runs()?.iter().map(summary).collect(),
                    ..Default::default()
                };
                let write = |frames: &dyn Fn(&FileIdentity) -> Option<CompressedBody>| {
                    write_atomically(out, |w| {
                        v3::write_with(w, &manifest, &checkpoint, self.encode, frames)
                    })
                };
                match &self.precompressor {
                    Some(p) => p.with_frames(write),
                    None => write(&|_| None),
                }
            }
        }
    }
}

/// Collects a decoded database in memory while it fits in `limit` bytes, else writes it
/// to `path` (for files that do not declare their decoded size).
struct SpillWriter<'a> {
    path: &'a Path,
    limit: u64,
    image: Vec<u8>,
    file: Option<File>,
}

impl<'a> SpillWriter<'a> {
    /// `expected`: the declared size (0 if unknown), reserved up front when it fits.
    fn new(path: &'a Path, limit: u64, expected: u64) -> Self {
        let reserve = usize::try_from(expected.min(limit)).unwrap_or(0);
        SpillWriter {
            path,
            limit,
            image: Vec::with_capacity(reserve),
            file: None,
        }
    }

    /// The image if it stayed in memory (an empty one: a new database), `None` if it went
    /// to the file.
    fn finish(self) -> std::io::Result<Option<Vec<u8>>> {
        match self.file {
            Some(mut f) => {
                f.flush()?;
                Ok(None)
            }
            None => Ok(Some(self.image)),
        }
    }

    fn spill(&mut self) -> std::io::Result<&mut File> {
        let mut f = File::create(self.path)?;
        f.write_all(&self.image)?;
        self.image = Vec::new();
        Ok(self.file.insert(f))
    }
}

impl Write for SpillWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = &mut self.file {
            return f.write(data);
        }
        if (self.image.len() + data.len()) as u64 > self.limit {
            self.spill()?.write_all(data)?;
        } else {
            self.image.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

fn timestamp(t: &chrono::NaiveDateTime) -> prost_types::Timestamp {
    let utc = t.and_utc();
    prost_types::Timestamp {
        seconds: utc.timestamp(),
        nanos: i32::try_from(utc.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The manifest's summary of a sync run (times are the stored wall clock, read as UTC).
fn summary(run: &SyncRun) -> SyncRunSummary {
    use crate::pb::c1::storage::v3::SyncType as Storage;
    let ty = match run.kind() {
        Some(crate::SyncType::Full) => Storage::Full,
        Some(crate::SyncType::Partial) => Storage::Partial,
        Some(crate::SyncType::ResourcesOnly) => Storage::ResourcesOnly,
        Some(crate::SyncType::PartialUpserts) => Storage::PartialUpserts,
        Some(crate::SyncType::PartialDeletions) => Storage::PartialDeletions,
        None => Storage::Unspecified,
    };
    SyncRunSummary {
        sync_id: run.id.to_string(),
        r#type: ty as i32,
        started_at: Some(timestamp(&run.started_at)),
        ended_at: run.ended_at.as_ref().map(timestamp),
        parent_sync_id: run
            .parent_sync_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        stats: None,
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
