//! The RocksDB engine: the store in a RocksDB database, written as a v3 file (engine name
//! `rocksdb`). Byte-level format: `docs/format-rocksdb.md` (keys in `keys.rs`, values in `values.rs`).
//!
//! Every behaviour matches the SQLite engine (identities are external ids, upserts keep
//! the first write's identity and `discovered_at`, one file holds many sync runs), except
//! the order of listed rows: key order here, insertion order in SQLite.

mod bulk;
mod check;
mod error;
mod file;
#[cfg(test)]
mod golden;
mod idfilter;
mod keys;
mod precompress;
mod reader;
mod values;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use error::RocksError;
use rocksdb::{DB, Options};

use crate::engine::WriteState;
use crate::error::{Error, Result};
use crate::model::SyncId;
pub use file::RocksOptions;
use idfilter::IdFilter;

/// Engine name written in v3 manifests.
pub const ENGINE: &str = "rocksdb";

/// The RocksDB format version this build writes and reads (the manifest's
/// `engine_schema_version`, and the database's `FF format_version` entry): version 1, the
/// format documented in `docs/format-rocksdb.md`. Values are tagged (protobuf) messages, so
/// adding a field needs no new version; a new version is for a change old readers would
/// misread.
pub const SCHEMA_VERSION: u32 = 1;

/// Meta entry holding [`SCHEMA_VERSION`].
const FORMAT_VERSION_KEY: &str = "format_version";

/// Meta entry of the databases of c1z builds before the format was frozen (their layouts
/// are not readable).
const PRE_RELEASE_VERSION_KEY: &str = "schema_version";

/// Memtable size for ordinary writes.
const SMALL_MEMTABLE: usize = 16 << 20;
/// Memtable size once a sync holds [`LARGE_MEMTABLE_AFTER`] grant ids: fewer, larger
/// level-0 tables for huge expansions (fanout-6m: 20 s with 16 MB, 16 s with 32 MB).
const LARGE_MEMTABLE: usize = 32 << 20;
const LARGE_MEMTABLE_AFTER: usize = 1_000_000;

/// Per (sync number, escaped entitlement id): each entitlement snapshot's version and
/// entitlement bytes.
type SnapshotCache = HashMap<(u32, Vec<u8>), Vec<(u32, Vec<u8>)>>;

/// A store on a RocksDB database directory.
pub struct RocksStore {
    db: DB,
    path: PathBuf,
    state: WriteState,
    /// Serializes read-modify-write upserts (reads stay concurrent).
    write_lock: Mutex<()>,
    /// Per sync number, every grant-id key written so far (built on the first bulk write),
    /// so bulk writes skip the database lookup for ids that are certainly new. Every
    /// write of a grant-id key adds to a live filter; deletes leave it (false positives
    /// only cost a lookup).
    grant_ids: Mutex<HashMap<u32, IdFilter>>,
    /// Sync numbers by sync id, as looked up: reads look one up per call. Misses and
    /// deletes hold the lock across their database access, so no stale number is kept.
    seq_cache: Mutex<HashMap<String, u32>>,
    /// Whether memtables were switched to [`LARGE_MEMTABLE`].
    large_memtables: std::sync::atomic::AtomicBool,
    /// A bulk grant load lives (`Writer::bulk_grants` until its end).
    bulk_active: std::sync::atomic::AtomicBool,
    /// Grants buffered by a bulk load (see [`bulk`]) while it lives.
    bulk_load: Mutex<Option<Box<bulk::BulkLoad>>>,
    /// Called after table files are ingested (see [`RocksStore::set_table_listener`]).
    table_listener: Option<Box<dyn Fn() + Send + Sync>>,
    /// Per (sync number, escaped entitlement id): the entitlement snapshots derived grants
    /// reference, by version (loaded from the database on first use).
    snapshots: Mutex<SnapshotCache>,
    /// A bulk load failed to store buffered grants (their calls had returned): saves
    /// refuse, so no file is written without them.
    bulk_lost: std::sync::atomic::AtomicBool,
    /// Memory a bulk load may buffer (0: none; see [`RocksStore::with_bulk_memory`]).
    bulk_memory: u64,
    /// The key buffers of the last bulk grant write, reused by the next (callers hold the
    /// write lock): fresh ones of a few MiB each call cost the kernel's page zeroing.
    key_scratch: Mutex<Box<writer::KeyScratch>>,
    /// Writes skip the write-ahead log: the database is a private working copy discarded
    /// after a crash, and saving flushes memtables before the checkpoint.
    write_opts: rocksdb::WriteOptions,
    /// How [`RocksStore::save_to`] writes the `.c1z` (set by `open_file`/`create_file`;
    /// boxed to keep `AnyStore`'s variants close in size).
    save: Box<file::SaveState>,
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

fn u32_value(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}

/// Default [`RocksStore::with_bulk_memory`]: 32 MiB.
pub const DEFAULT_BULK_MEMORY: u64 = 32 << 20;

/// Options shared by the database and the tables a bulk load writes.
fn table_options() -> Options {
    let mut opts = Options::default();
    opts.set_compression_type(rocksdb::DBCompressionType::None);
    // Upserts look ids up before writing; nearly all are misses, which a bloom filter
    // answers without reading each level-0 table's index.
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    // Reads are mostly single passes over fresh tables, served from the page cache: a
    // small block cache is enough, and each cached megabyte is fresh memory.
    table.set_block_cache(&rocksdb::Cache::new_lru_cache(8 << 20));
    opts.set_block_based_table_factory(&table);
    opts
}

impl RocksStore {
    /// The file names of the tables the database's current version holds.
    pub(crate) fn live_table_names(&self) -> Result<std::collections::HashSet<String>> {
        let files = self.db.live_files().map_err(RocksError::from)?;
        Ok(files
            .into_iter()
            .map(|f| f.name.trim_start_matches('/').to_owned())
            .collect())
    }

    /// Opens (or creates) the database directory at `path`, a private working copy.
    ///
    /// # Errors
    /// [`Error::UnsupportedFormat`] for a keyspace written by a newer c1z; engine errors.
    pub fn open(path: &Path, read_only: bool) -> Result<Self> {
        let mut opts = table_options();
        opts.create_if_missing(true);
        // Small memtables keep peak memory low; a bulk write past a million grant ids
        // switches to larger ones (see `LARGE_MEMTABLE`).
        opts.set_write_buffer_size(SMALL_MEMTABLE);
        opts.increase_parallelism(2);
        // A private working copy: never stall writes for compaction debt, and never
        // compact on its own. Connector writes and expansion add new keys; compacting them
        // while they are written only rewrites the same bytes on the core the writer needs
        // (measured: 1M connector grants 10.2 s with background compaction, 6.7 s
        // without; the file comes out about 25 % larger). `Writer::compact` merges them.
        opts.set_disable_auto_compactions(true);
        // The payload comes from a file someone else may have written: check every table
        // and the MANIFEST as they are opened (RocksDB's default, stated; reads verify
        // block checksums by default too).
        opts.set_paranoid_checks(true);
        let db = DB::open(&opts, path).map_err(RocksError::from)?;
        let store = RocksStore {
            db,
            path: path.to_owned(),
            state: WriteState::new(read_only),
            write_lock: Mutex::new(()),
            grant_ids: Mutex::new(HashMap::new()),
            seq_cache: Mutex::new(HashMap::new()),
            large_memtables: std::sync::atomic::AtomicBool::new(false),
            bulk_active: std::sync::atomic::AtomicBool::new(false),
            bulk_load: Mutex::new(None),
            bulk_lost: std::sync::atomic::AtomicBool::new(false),
            bulk_memory: DEFAULT_BULK_MEMORY,
            key_scratch: Mutex::default(),
            table_listener: None,
            snapshots: Mutex::new(HashMap::new()),
            write_opts: {
                let mut w = rocksdb::WriteOptions::default();
                w.disable_wal(true);
                w
            },
            save: Box::default(),
        };
        store.check_format_version()?;
        Ok(store)
    }

    /// Checks the database's format version, stamping a new (empty) database.
    fn check_format_version(&self) -> Result<()> {
        match self
            .db
            .get(keys::meta_key(FORMAT_VERSION_KEY))
            .map_err(RocksError::from)?
        {
            Some(v) => match u32_value(&v) {
                Some(SCHEMA_VERSION) if v.len() == 4 => Ok(()),
                Some(other) if v.len() == 4 => Err(Error::UnsupportedFormat {
                    reason: format!(
                        "rocksdb format version {other} (this build reads version {SCHEMA_VERSION})"
                    ),
                }),
                _ => Err(Error::corrupt(
                    "rocksdb database",
                    "malformed format version",
                )),
            },
            None => {
                if let Some(v) = self
                    .db
                    .get(keys::meta_key(PRE_RELEASE_VERSION_KEY))
                    .map_err(RocksError::from)?
                {
                    return Err(Error::UnsupportedFormat {
                        reason: format!(
                            "a rocksdb database of a c1z build from before the format was \
                             frozen (keyspace {}); convert it to v1 with that build",
                            u32_value(&v).map_or_else(|| "?".into(), |n| n.to_string())
                        ),
                    });
                }
                let mut any = self.db.raw_iterator();
                any.seek_to_first();
                if any.valid() {
                    return Err(Error::corrupt(
                        "rocksdb database",
                        "rows without a format version",
                    ));
                }
                any.status().map_err(RocksError::from)?;
                // A new database: stamp it (a working copy, so even read-only opens may).
                self.db
                    .put(
                        keys::meta_key(FORMAT_VERSION_KEY),
                        SCHEMA_VERSION.to_be_bytes(),
                    )
                    .map_err(RocksError::from)?;
                Ok(())
            }
        }
    }

    /// Sets the memory a bulk grant load buffers for sorted tables: half of it per table, with at most two
    /// tables in memory (one filling, one being written). 0 sends every grant through the
    /// memtable. Default [`DEFAULT_BULK_MEMORY`].
    #[must_use]
    pub fn with_bulk_memory(mut self, bytes: u64) -> Self {
        self.bulk_memory = bytes;
        self
    }

    /// Sets a callback run after table files join the database directory by ingestion (a
    /// bulk load), e.g. to compress them ahead of a save.
    pub fn set_table_listener(&mut self, listener: impl Fn() + Send + Sync + 'static) {
        self.table_listener = Some(Box::new(listener));
    }

    /// Read-only flag and change tracking.
    #[must_use]
    pub fn state(&self) -> &WriteState {
        &self.state
    }

    /// The database directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a consistent copy of the database into `dir` (which must not exist): refuses
    /// if a bulk load lost grants, publishes buffered ones, flushes the memtable, takes a
    /// RocksDB checkpoint and empties its write-ahead logs, which hold nothing the flushed
    /// tables do not.
    ///
    /// # Errors
    /// Engine and I/O errors.
    pub fn checkpoint_to(&self, dir: &Path) -> Result<()> {
        let _writes = self.lock();
        self.publish_bulk()?;
        if self.bulk_lost.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Error::Engine {
                engine: ENGINE,
                source: "a bulk grant write failed earlier and its grants are not stored: \
                         this working copy is not saved"
                    .into(),
            });
        }
        self.db.flush().map_err(RocksError::from)?;
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .map_err(RocksError::from)?
            .create_checkpoint(dir)
            .map_err(RocksError::from)?;
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let path = entry.map_err(|e| Error::io(dir, e))?.path();
            if path.extension().is_some_and(|x| x == "log") {
                std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn writable(&self, operation: &'static str) -> Result<MutexGuard<'_, ()>> {
        self.state.check(operation)?;
        Ok(self.lock())
    }

    fn touched(&self) {
        self.state.touched();
    }

    /// The sync number of `sync`, if it has one.
    fn seq(&self, sync: &SyncId) -> Result<Option<u32>> {
        let mut cache = self.seq_cache();
        if let Some(&seq) = cache.get(sync.as_str()) {
            return Ok(Some(seq));
        }
        let seq = self
            .db
            .get(keys::sync_id_key(sync.as_str()))
            .map_err(RocksError::from)?
            .as_deref()
            .and_then(u32_value);
        if let Some(seq) = seq {
            cache.insert(sync.as_str().to_owned(), seq);
        }
        Ok(seq)
    }

    fn seq_cache(&self) -> MutexGuard<'_, HashMap<String, u32>> {
        self.seq_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The grant-id filters, with the one for `seq` built from the database if missing.
    /// Callers hold the write lock, so no key is written while it is built.
    fn grant_id_filters(&self, seq: u32) -> Result<MutexGuard<'_, HashMap<u32, IdFilter>>> {
        let mut filters = self
            .grant_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let std::collections::hash_map::Entry::Vacant(slot) = filters.entry(seq) {
            let prefix = keys::index_head(keys::index::GRANT_BY_ID, seq);
            // Stages grow with the ids found, so no count is needed up front.
            let mut filter = IdFilter::new();
            let mut it = self.db.raw_iterator();
            it.seek(&prefix);
            while let Some(k) = it.key() {
                if !k.starts_with(&prefix) {
                    break;
                }
                filter.insert(k);
                it.next();
            }
            it.status().map_err(RocksError::from)?;
            slot.insert(filter);
        }
        Ok(filters)
    }

    /// Switches to large memtables once `ids` grant ids are known (once per store).
    fn grow_memtables_for(&self, ids: usize) -> Result<()> {
        use std::sync::atomic::Ordering;
        if ids >= LARGE_MEMTABLE_AFTER && !self.large_memtables.swap(true, Ordering::Relaxed) {
            self.db
                .set_options(&[("write_buffer_size", &LARGE_MEMTABLE.to_string())])
                .map_err(RocksError::from)?;
        }
        Ok(())
    }

    /// Whether `seq` has a grant-id filter that writes must keep up to date.
    fn tracks_grant_ids(&self, seq: u32) -> bool {
        self.grant_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&seq)
    }

    /// The grant-id filters, locked (building none).
    fn grant_id_filters_if_built(&self) -> MutexGuard<'_, HashMap<u32, IdFilter>> {
        self.grant_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The one place a filter learns ids after it is built: every write of a new
    /// grant-by-id entry reports the key's [`IdFilter::hash`] here (to `seq`'s filter, if
    /// it has one), so the filter never answers "certainly new" for a stored id. Returns
    /// the ids the filter holds (0 without one). Deletes need no call (a stale id costs a
    /// lookup, never a wrong answer).
    fn note_new_grant_ids(
        filters: &mut HashMap<u32, IdFilter>,
        seq: u32,
        hashes: impl IntoIterator<Item = u64>,
    ) -> usize {
        match filters.get_mut(&seq) {
            Some(f) => {
                for h in hashes {
                    f.insert_hash(h);
                }
                f.len()
            }
            None => 0,
        }
    }

    fn snapshot_cache(&self) -> MutexGuard<'_, SnapshotCache> {
        self.snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops `seq`'s filter (its keys were deleted wholesale).
    fn forget_grant_ids(&self, seq: u32) {
        self.grant_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&seq);
    }

    /// Sync numbers a query reads: the one sync, or every sync in creation order.
    fn seqs(&self, sync: Option<&SyncId>) -> Result<Vec<u32>> {
        match sync {
            Some(id) => Ok(self.seq(id)?.into_iter().collect()),
            None => {
                let mut seqs = Vec::new();
                let prefix = [keys::family::SYNC_ID];
                for item in self.db.prefix_iterator(prefix) {
                    let (k, v) = item.map_err(RocksError::from)?;
                    if !k.starts_with(&prefix) {
                        break;
                    }
                    seqs.extend(u32_value(&v));
                }
                seqs.sort_unstable();
                Ok(seqs)
            }
        }
    }

    /// The sync number of `sync`, allocating one for a sync with no number yet (writes to a
    /// sync whose run row does not exist are allowed, as in SQLite).
    fn seq_for_write(&self, sync: &SyncId) -> Result<u32> {
        if let Some(seq) = self.seq(sync)? {
            return Ok(seq);
        }
        let next = self
            .db
            .get(keys::meta_key("next_sync_seq"))
            .map_err(RocksError::from)?
            .as_deref()
            .and_then(u32_value)
            .unwrap_or(1);
        let after = next
            .checked_add(1)
            .ok_or_else(|| Error::corrupt("rocksdb database", "sync numbers exhausted"))?;
        // Claimed at once, outside the caller's batch: a failed batch leaves a harmless gap.
        let mut claim = rocksdb::WriteBatch::default();
        claim.put(keys::meta_key("next_sync_seq"), after.to_be_bytes());
        claim.put(keys::sync_id_key(sync.as_str()), next.to_be_bytes());
        self.db
            .write_opt(claim, &self.write_opts)
            .map_err(RocksError::from)?;
        Ok(next)
    }
}
