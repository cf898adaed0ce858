//! A v3 file's working copy: extracting a `.c1z` payload into a RocksDB store in the work
//! directory, and saving the store as a `.c1z` (manifest, checkpoint, payload; table
//! bodies compressed ahead by [`Precompressor`] are spliced in).

use std::path::{Path, PathBuf};

use super::precompress::Precompressor;
use super::{DEFAULT_BULK_MEMORY, ENGINE, RocksStore, SCHEMA_VERSION};
use crate::engine::OpenContext;
use crate::error::{Error, Result};
use crate::file::FileMetadata;
use crate::format::v3_payload::{CompressedBody, FileIdentity};
use crate::format::{Format, v1, v3, v3_payload};
use crate::model::SyncRun;
use crate::pb::c1::c1z::v3::{C1zManifestV3, PayloadEncoding, SyncRunSummary};
use crate::store::ReaderExt;

/// How the RocksDB engine works on a file and saves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RocksOptions {
    bulk_buffer: u64,
    payload_encoding: Option<PayloadEncoding>,
    precompress: bool,
}

impl Default for RocksOptions {
    fn default() -> Self {
        RocksOptions {
            bulk_buffer: DEFAULT_BULK_MEMORY,
            payload_encoding: None,
            precompress: true,
        }
    }
}

impl RocksOptions {
    /// The defaults.
    #[must_use]
    pub fn new() -> Self {
        RocksOptions::default()
    }

    /// Memory a bulk grant write (expansion) buffers for the sorted tables it builds: half
    /// of it per table, with up to two at a time (default [`DEFAULT_BULK_MEMORY`]). 0
    /// writes every grant through the memtable.
    #[must_use]
    pub fn with_bulk_buffer(mut self, bytes: u64) -> Self {
        self.bulk_buffer = bytes;
        self
    }

    /// Payload encoding when saving (`TarZstd`, the default, or `Tar`); an existing file
    /// keeps its own unless this is set.
    #[must_use]
    pub fn with_payload_encoding(mut self, encoding: PayloadEncoding) -> Self {
        self.payload_encoding = Some(encoding);
        self
    }

    /// Whether a writable tar + zstd working copy compresses its tables in the background,
    /// on an otherwise idle core, so saving copies them instead (default on).
    #[must_use]
    pub fn with_precompression(mut self, on: bool) -> Self {
        self.precompress = on;
        self
    }
}

/// What [`RocksStore::save_to`] needs beyond the database.
pub(super) struct SaveState {
    payload_encoding: PayloadEncoding,
    encode: v1::EncodeOptions,
    /// Where checkpoints are staged (`None`: beside the database).
    work_dir: Option<PathBuf>,
    /// Compresses the tables ahead of a tar + zstd save.
    precompressor: Option<Precompressor>,
}

impl Default for SaveState {
    fn default() -> Self {
        SaveState {
            payload_encoding: PayloadEncoding::TarZstd,
            encode: v1::EncodeOptions::default(),
            work_dir: None,
            precompressor: None,
        }
    }
}

/// The names of the table files (`*.sst`) in a database directory.
fn table_names(db: &Path) -> Result<std::collections::HashSet<String>> {
    let entries = std::fs::read_dir(db).map_err(|e| Error::io(db, e))?;
    let mut names = std::collections::HashSet::new();
    for entry in entries {
        let name = entry.map_err(|e| Error::io(db, e))?.file_name();
        if let Some(name) = name.to_str().filter(|n| n.ends_with(".sst")) {
            names.insert(name.to_owned());
        }
    }
    Ok(names)
}

impl RocksStore {
    /// A new, empty store for a file that does not exist yet.
    pub(crate) fn create_file(ctx: &OpenContext<'_>, opts: &RocksOptions) -> Result<Self> {
        let encoding = opts.payload_encoding.unwrap_or(PayloadEncoding::TarZstd);
        Self::working_copy(ctx, opts, encoding)
    }

    /// Extracts the payload of the v3 file at `path` (whose header names this engine) into
    /// a working copy and opens it.
    pub(crate) fn open_file(
        path: &Path,
        header: &v3::Header,
        ctx: &OpenContext<'_>,
        opts: &RocksOptions,
    ) -> Result<Self> {
        if header.manifest.engine_schema_version != SCHEMA_VERSION {
            return Err(Error::UnsupportedFormat {
                reason: format!(
                    "rocksdb format version {} (this build reads version {SCHEMA_VERSION}; \
                     files of c1z builds from before the format was frozen are not readable)",
                    header.manifest.engine_schema_version
                ),
            });
        }
        let encoding = opts.payload_encoding.unwrap_or_else(|| {
            match PayloadEncoding::try_from(header.manifest.payload_encoding) {
                Ok(PayloadEncoding::Tar) => PayloadEncoding::Tar,
                _ => PayloadEncoding::TarZstd,
            }
        });
        let db = ctx.work_dir.join("db");
        v3_payload::extract(path, header, &db, ctx.limits)?;
        // RocksDB would create an empty database where the payload has none.
        if !db.join("CURRENT").is_file() {
            return Err(Error::corrupt(
                "rocksdb payload",
                "no CURRENT file: the payload holds no RocksDB database",
            ));
        }
        // Listed before opening: RocksDB deletes the tables its MANIFEST does not name.
        let tables = table_names(&db)?;
        let store = Self::working_copy(ctx, opts, encoding)?;
        // A save is a checkpoint of live tables only. A table the MANIFEST does not name
        // means a damaged MANIFEST (RocksDB recovers a truncated one to an older state
        // without complaint): the file would read as less than it holds.
        let live = store.live_table_names()?;
        if let Some(lost) = tables.iter().find(|t| !live.contains(*t)) {
            return Err(Error::corrupt(
                "rocksdb payload",
                format!("table {lost} is not named by the MANIFEST (damaged or stale MANIFEST)"),
            ));
        }
        Ok(store)
    }

    fn working_copy(
        ctx: &OpenContext<'_>,
        opts: &RocksOptions,
        payload_encoding: PayloadEncoding,
    ) -> Result<Self> {
        let db = ctx.work_dir.join("db");
        let mut store = RocksStore::open(&db, ctx.read_only)?.with_bulk_memory(opts.bulk_buffer);
        let precompressor =
            if opts.precompress && !ctx.read_only && payload_encoding == PayloadEncoding::TarZstd {
                let p = Precompressor::start(db, ctx.work_dir.join("frames"), ctx.encode.level)
                    .map_err(|e| Error::io(ctx.work_dir, e))?;
                store.set_table_listener(p.notifier());
                Some(p)
            } else {
                None
            };
        *store.save = SaveState {
            payload_encoding,
            encode: ctx.encode,
            work_dir: Some(ctx.work_dir.to_owned()),
            precompressor,
        };
        Ok(store)
    }

    /// What `c1z info` reports about the file this store saves.
    pub(crate) fn file_metadata(&self) -> FileMetadata {
        FileMetadata {
            format: Format::V3,
            engine: ENGINE.to_owned(),
            payload_encoding: v3::payload_encoding_name(self.save.payload_encoding as i32)
                .to_owned(),
        }
    }

    /// Writes the store as a v3 file at `out`, atomically: a checkpoint staged in the work
    /// directory, under a manifest listing the sync runs.
    pub(crate) fn save_to(&self, out: &Path) -> Result<()> {
        let work = match &self.save.work_dir {
            Some(dir) => dir.as_path(),
            None => self.path.parent().unwrap_or(&self.path),
        };
        let staging = tempfile::Builder::new()
            .prefix("checkpoint")
            .tempdir_in(work)
            .map_err(|e| Error::io(work, e))?;
        let checkpoint = staging.path().join("db");
        self.checkpoint_to(&checkpoint)?;
        let manifest = C1zManifestV3 {
            engine: ENGINE.to_owned(),
            engine_schema_version: SCHEMA_VERSION,
            payload_encoding: self.save.payload_encoding as i32,
            sync_runs: self.sync_runs()?.iter().map(summary).collect(),
            ..Default::default()
        };
        let write = |frames: &dyn Fn(&FileIdentity) -> Option<CompressedBody>| {
            crate::write_atomically(out, |w| {
                v3::write_with(w, &manifest, &checkpoint, self.save.encode, frames)
            })
        };
        match &self.save.precompressor {
            Some(p) => p.with_frames(write),
            None => write(&|_| None),
        }
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
