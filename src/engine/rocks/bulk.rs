//! Bulk grant loading: while a `GrantBulkLoad` lives, the new grants it writes bypass the
//! memtable. Their keys collect in a buffer; a worker
//! thread sorts each full buffer into a table file, which is ingested into level 0.
//!
//! A memtable insert is a skiplist search per key, and every byte is copied again when the
//! memtable is flushed; a sorted table is written once, off the writing thread.
//!
//! Buffered grants are invisible to reads until published. A full buffer is published
//! when the next one is handed over; [`RocksStore::publish_bulk`] publishes everything
//! (layer ends of an expansion, the load's end, checkpoints, and any write that could
//! touch a buffered key). Buffered ids never repeat (callers check them first), so the
//! order in which buffers are published does not matter.

use std::path::{Path, PathBuf};
use std::sync::{MutexGuard, PoisonError};
use std::thread::JoinHandle;

use rocksdb::{IngestExternalFileOptions, SstFileWriter, WriteBatch};

use super::RocksStore;
use super::error::RocksError;
use super::idfilter::{IdFilter, IdHashSet};
use crate::error::{Error, Result};

/// Subdirectory of the database directory holding tables not yet ingested.
const BULK_DIR: &str = "c1z-bulk";

/// Somewhere keys and values go: a write batch, or a bulk buffer.
pub(super) trait KvSink {
    fn put_kv(&mut self, key: &[u8], value: &[u8]);
}

impl KvSink for WriteBatch {
    fn put_kv(&mut self, key: &[u8], value: &[u8]) {
        self.put(key, value);
    }
}

/// Keys and values back to back, sorted only when written out.
#[derive(Default)]
pub(super) struct KvBuffer {
    bytes: Vec<u8>,
    /// Start, key length, value length (a buffer stays under [`MAX_TABLE_BYTES`]).
    entries: Vec<(u32, u32, u32)>,
}

/// Largest table a bulk load builds, so offsets fit in `u32`.
const MAX_TABLE_BYTES: usize = 1 << 30;

/// Bytes an entry adds to a buffer besides its key and value.
const ENTRY_BYTES: usize = 12;

impl KvSink for KvBuffer {
    fn put_kv(&mut self, key: &[u8], value: &[u8]) {
        // In range: callers keep buffers under MAX_TABLE_BYTES (see `RocksStore::bulk_fits`).
        let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.entries
            .push((len(self.bytes.len()), len(key.len()), len(value.len())));
        self.bytes.extend_from_slice(key);
        self.bytes.extend_from_slice(value);
    }
}

impl KvBuffer {
    /// A buffer allocated once for a whole table: each regrowth would leave the old block
    /// resident.
    fn for_table(table_bytes: usize) -> Self {
        KvBuffer {
            bytes: Vec::with_capacity(table_bytes),
            // Index entries, the shortest, are about 80 bytes.
            entries: Vec::with_capacity(table_bytes / 96),
        }
    }

    /// [`KvBuffer::for_table`] with every page written once, so filling it later does not
    /// fault in (and have the kernel zero) fresh pages on the writing thread.
    fn prefaulted(table_bytes: usize) -> Self {
        let mut buffer = Self::for_table(table_bytes);
        buffer.bytes.resize(buffer.bytes.capacity(), 0);
        buffer.entries.resize(buffer.entries.capacity(), (0, 0, 0));
        buffer.clear();
        buffer
    }

    fn size(&self) -> usize {
        self.bytes.len() + self.entries.len() * ENTRY_BYTES
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sorts by key. The sort is stable and finds runs: each call's keys arrive as a few
    /// ascending runs per key family.
    fn sort(&mut self) {
        let bytes = &self.bytes;
        let key = |&(start, len, _): &(u32, u32, u32)| {
            &bytes[start as usize..start as usize + len as usize]
        };
        self.entries.sort_by(|a, b| key(a).cmp(key(b)));
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries.iter().map(|&(start, k, v)| {
            let (start, k, v) = (start as usize, k as usize, v as usize);
            (
                &self.bytes[start..start + k],
                &self.bytes[start + k..start + k + v],
            )
        })
    }

    /// Empties the buffer, keeping its memory: fresh pages cost a kernel zeroing each.
    fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
    }

    /// Sorts the entries and writes them as a table file at `path`.
    /// A failed write leaves no file behind.
    fn write_table(&mut self, path: &Path) -> Result<()> {
        self.sort();
        let opts = super::table_options();
        let mut table = SstFileWriter::create(&opts);
        let written = table.open(path).and_then(|()| {
            let granted_on = [
                super::keys::family::INDEX,
                super::keys::index::ENTITLEMENT_GRANTED_ON_RESOURCE,
            ];
            let mut last: &[u8] = &[];
            for (k, v) in self.iter() {
                // "Granted on" entries (empty values) repeat across calls: an identical
                // entry is written once. Any other key is unique by construction; a
                // repeat fails here instead of being lost.
                if k.starts_with(&granted_on) {
                    if k == last {
                        continue;
                    }
                    last = k;
                }
                table.put(k, v)?;
            }
            table.finish()
        });
        if written.is_err() {
            let _ = std::fs::remove_file(path);
        }
        Ok(written.map_err(RocksError::from)?)
    }
}

/// A table being written by the worker, with the id hashes it holds.
struct InFlight {
    /// The table's path, and the emptied buffer for reuse.
    table: JoinHandle<(Result<PathBuf>, KvBuffer)>,
    ids: IdHashSet,
}

/// The state of a bulk load.
pub(super) struct BulkLoad {
    dir: PathBuf,
    /// Buffered bytes that make a table (fewer, larger level-0 tables keep reads cheap).
    table_bytes: usize,
    buffer: KvBuffer,
    /// Hashes of the grant-id keys in `buffer`.
    buffer_ids: IdHashSet,
    in_flight: Option<InFlight>,
    /// An emptied buffer back from the worker.
    spare: Option<KvBuffer>,
    /// The second buffer, being allocated and touched on a thread of its own once the
    /// first is half full (a small load never needs it).
    second: Option<JoinHandle<KvBuffer>>,
    tables: u64,
}

impl BulkLoad {
    /// The path of the next table file (its directory created on first use).
    fn next_table_path(&mut self) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        self.tables += 1;
        Ok(self.dir.join(format!("{:06}.sst", self.tables)))
    }

    /// Whether a grant-id key may be buffered or in flight (unpublished).
    fn may_hold(&self, id_key: &[u8]) -> bool {
        self.may_hold_hash(IdFilter::hash(id_key))
    }

    fn may_hold_hash(&self, hash: u64) -> bool {
        self.buffer_ids.contains(&hash)
            || self
                .in_flight
                .as_ref()
                .is_some_and(|f| f.ids.contains(&hash))
    }
}

impl RocksStore {
    pub(super) fn bulk(&self) -> MutexGuard<'_, Option<Box<BulkLoad>>> {
        self.bulk_load
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a bulk load (a no-op if one is running, or if no memory is allowed for it).
    pub(super) fn begin_bulk(&self) {
        let mut bulk = self.bulk();
        let table_bytes = usize::try_from(self.bulk_memory / 2)
            .unwrap_or(MAX_TABLE_BYTES)
            .min(MAX_TABLE_BYTES);
        if bulk.is_none() && table_bytes > 0 {
            *bulk = Some(Box::new(BulkLoad {
                dir: self.path.join(BULK_DIR),
                table_bytes,
                buffer: KvBuffer::for_table(table_bytes),
                buffer_ids: IdHashSet::default(),
                in_flight: None,
                spare: None,
                second: None,
                tables: 0,
            }));
        }
    }

    /// Whether any of `id_keys` may be unpublished in the running bulk load.
    pub(super) fn bulk_may_hold<K: AsRef<[u8]>>(
        &self,
        id_keys: impl IntoIterator<Item = K>,
    ) -> bool {
        self.bulk()
            .as_ref()
            .is_some_and(|b| id_keys.into_iter().any(|k| b.may_hold(k.as_ref())))
    }

    /// Whether a call adding about `bytes` may be buffered (see [`MAX_TABLE_BYTES`]).
    pub(super) fn bulk_fits(bytes: usize) -> bool {
        bytes <= MAX_TABLE_BYTES
    }

    /// Whether a grant-id key, by its [`IdFilter::hash`], may be unpublished.
    pub(super) fn bulk_may_hold_hashes(&self, hashes: impl IntoIterator<Item = u64>) -> bool {
        self.bulk()
            .as_ref()
            .is_some_and(|b| hashes.into_iter().any(|h| b.may_hold_hash(h)))
    }

    /// Buffers the rows `write` puts (about `bytes`, [`Self::bulk_fits`]), whose grant-id
    /// keys have the [`IdFilter::hash`]es `id_hashes`. A full buffer goes to the worker,
    /// first ingesting the table the worker finished: at most one is in flight, which
    /// bounds memory.
    pub(super) fn bulk_write(
        &self,
        bulk: &mut BulkLoad,
        bytes: usize,
        id_hashes: &[u64],
        write: impl FnOnce(&mut KvBuffer),
    ) -> Result<()> {
        // A call that would overflow the buffer starts the next one.
        if !bulk.buffer.is_empty() && bulk.buffer.size() + bytes > bulk.table_bytes {
            self.hand_off(bulk)?;
        }
        bulk.buffer_ids.extend(id_hashes.iter().copied());
        write(&mut bulk.buffer);
        if bulk.tables == 0 && bulk.second.is_none() && bulk.buffer.size() >= bulk.table_bytes / 2 {
            let table_bytes = bulk.table_bytes;
            // Without the thread, the hand-off allocates the buffer itself.
            bulk.second = std::thread::Builder::new()
                .name("c1z-bulk-alloc".into())
                .spawn(move || KvBuffer::prefaulted(table_bytes))
                .ok();
        }
        if bulk.buffer.size() >= bulk.table_bytes {
            self.hand_off(bulk)?;
        }
        Ok(())
    }

    fn hand_off(&self, bulk: &mut BulkLoad) -> Result<()> {
        let handed = self.hand_off_inner(bulk);
        self.note_lost(handed)
    }

    /// Remembers that buffered grants may be lost if `result` failed: a save then refuses
    /// (see `RocksStore::checkpoint_to`) instead of writing a file missing them.
    fn note_lost<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.bulk_lost
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    fn hand_off_inner(&self, bulk: &mut BulkLoad) -> Result<()> {
        self.ingest_in_flight(bulk)?;
        let path = bulk.next_table_path()?;
        let table_bytes = bulk.table_bytes;
        let next = bulk
            .spare
            .take()
            .or_else(|| bulk.second.take().and_then(|t| t.join().ok()))
            .unwrap_or_else(|| KvBuffer::for_table(table_bytes));
        let mut buffer = std::mem::replace(&mut bulk.buffer, next);
        let table = std::thread::Builder::new()
            .name("c1z-bulk-table".into())
            .spawn(move || {
                let written = buffer.write_table(&path).map(|()| path);
                buffer.clear();
                (written, buffer)
            })
            .map_err(|e| Error::io(&bulk.dir, e))?;
        bulk.in_flight = Some(InFlight {
            table,
            ids: std::mem::take(&mut bulk.buffer_ids),
        });
        Ok(())
    }

    fn ingest_in_flight(&self, bulk: &mut BulkLoad) -> Result<()> {
        let Some(in_flight) = bulk.in_flight.take() else {
            return Ok(());
        };
        let (written, buffer) = in_flight.table.join().map_err(|_| Error::Engine {
            engine: super::ENGINE,
            source: "the bulk table writer panicked".into(),
        })?;
        bulk.spare = Some(buffer);
        let path = written?;
        self.ingest(&path)
    }

    fn ingest(&self, path: &Path) -> Result<()> {
        let mut opts = IngestExternalFileOptions::default();
        opts.set_move_files(true);
        let ingested = self.db.ingest_external_file_opts(&opts, vec![path]);
        // Moved on success; removed on failure, since nothing else will.
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound && ingested.is_ok() => {
                return Err(Error::io(path, e));
            }
            _ => {}
        }
        ingested.map_err(RocksError::from)?;
        if let Some(listener) = &self.table_listener {
            listener();
        }
        Ok(())
    }

    /// Makes every buffered grant visible to reads. The bulk load goes on.
    pub(super) fn publish_bulk(&self) -> Result<()> {
        let published = self.publish_bulk_inner(false);
        self.note_lost(published)
    }

    /// `last`: the bulk load ends, so no later write could use the memtable instead.
    fn publish_bulk_inner(&self, last: bool) -> Result<()> {
        let mut guard = self.bulk();
        let Some(bulk) = guard.as_mut() else {
            return Ok(());
        };
        self.ingest_in_flight(bulk)?;
        bulk.buffer_ids.clear();
        if bulk.buffer.is_empty() {
            return Ok(());
        }
        // A small buffer goes through a write batch: a small table per expansion layer
        // would pile up level-0 files that every later scan has to seek. The last one is
        // a table whatever its size: a memtable would only be flushed into one later.
        if last || bulk.buffer.size() >= bulk.table_bytes / 4 {
            let path = bulk.next_table_path()?;
            let written = bulk.buffer.write_table(&path);
            bulk.buffer.clear();
            written?;
            return self.ingest(&path);
        }
        // Sorted, so the memtable inserts walk forward.
        let buffer = &mut bulk.buffer;
        buffer.sort();
        let mut batch = WriteBatch::with_capacity_bytes(buffer.size());
        for (k, v) in buffer.iter() {
            batch.put(k, v);
        }
        buffer.clear();
        self.db
            .write_opt(batch, &self.write_opts)
            .map_err(RocksError::from)?;
        Ok(())
    }

    /// Publishes everything and ends the bulk load.
    pub(super) fn end_bulk(&self) -> Result<()> {
        let published = self.publish_bulk_inner(true);
        let published = self.note_lost(published);
        if let Some(bulk) = self.bulk().take() {
            // Every table was ingested (moved) or removed: only an empty directory remains.
            let _ = std::fs::remove_dir(&bulk.dir);
        }
        published
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{KvBuffer, KvSink};

    #[test]
    fn buffer_sorts_by_key_and_keeps_values() {
        let mut b = KvBuffer::default();
        for (k, v) in [("b", "2"), ("a", "1"), ("ab", ""), ("c", "333")] {
            b.put_kv(k.as_bytes(), v.as_bytes());
        }
        b.sort();
        let got: Vec<(&[u8], &[u8])> = b.iter().collect();
        let want: Vec<(&[u8], &[u8])> =
            vec![(b"a", b"1"), (b"ab", b""), (b"b", b"2"), (b"c", b"333")];
        assert_eq!(got, want);
    }

    #[test]
    fn tables_write_repeated_granted_on_entries_once_and_refuse_other_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = KvBuffer::default();
        let on = |k: &str| [&[0x07, 0x07][..], k.as_bytes()].concat();
        for k in [on("b"), on("a"), on("b"), on("c")] {
            b.put_kv(&k, b"");
        }
        b.put_kv(b"\x04row", b"value");
        let path = dir.path().join("t.sst");
        b.write_table(&path).unwrap();
        assert!(path.exists());
        let mut conflicting = KvBuffer::default();
        for (k, v) in [("a", "1"), ("a", "1")] {
            conflicting.put_kv(k.as_bytes(), v.as_bytes());
        }
        let path = dir.path().join("u.sst");
        assert!(conflicting.write_table(&path).is_err());
        assert!(!path.exists());
    }
}
