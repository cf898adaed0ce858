//! The merged view of a Pebble database (`../shared/spec/format-pebble.md` §5, §9): every
//! live table's points and range tombstones, plus the WAL's unflushed batches, with the
//! per-table transforms applied (synthetic sequence numbers, virtual bounds); the newest
//! version of each user key chosen and deleted keys dropped.
//!
//! [`Db::scan`] seeks every source that overlaps a key range (index binary search, then
//! the data block) and merges them in key order; a point get is a scan of one key. Data
//! blocks are decoded once and kept in a byte-bounded [`BlockCache`], so memory is bounded
//! by the cache, not by the file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::PebbleDir;
use super::colblk::{DataBlock, Span};
use super::manifest::{InternalKey, Table};
use super::sst::Sst;
use super::wal;
use crate::error::{Error, Result};

/// Point kinds (the obsolete bit 0x40 masked off).
pub(super) mod kind {
    pub(crate) const DEL: u8 = 0;
    pub(crate) const SET: u8 = 1;
    pub(crate) const MERGE: u8 = 2;
    pub(crate) const SINGLEDEL: u8 = 7;
    pub(crate) const RANGEDEL: u8 = 15;
    pub(crate) const SETWITHDEL: u8 = 18;
    pub(crate) const DELSIZED: u8 = 23;
}

/// Decoded data blocks kept by default (bytes of keys and values, roughly).
pub const DEFAULT_BLOCK_CACHE: usize = 64 << 20;

/// A table's key range as its MANIFEST entry bounds it (user keys).
#[derive(Clone, Debug)]
struct Bounds {
    lower: Vec<u8>,
    upper: Vec<u8>,
    upper_inclusive: bool,
}

impl Bounds {
    fn of(smallest: &InternalKey, largest: &InternalKey) -> Self {
        Bounds {
            lower: smallest.user_key.clone(),
            upper: largest.user_key.clone(),
            upper_inclusive: !largest.is_exclusive_sentinel(),
        }
    }

    fn below_upper(&self, key: &[u8]) -> bool {
        if self.upper_inclusive {
            key <= self.upper.as_slice()
        } else {
            key < self.upper.as_slice()
        }
    }

    /// Whether the table's range meets `[lower, upper)`.
    fn overlaps(&self, lower: &[u8], upper: Option<&[u8]>) -> bool {
        self.below_upper(lower) && upper.is_none_or(|u| self.lower.as_slice() < u)
    }

    /// `span` clipped to the bounds; `None` if nothing is left.
    fn clip(&self, mut span: Span) -> Option<Span> {
        if span.start < self.lower {
            span.start.clone_from(&self.lower);
        }
        // An inclusive upper bound `u` ends spans at `u ‖ 00`, the next key after it.
        let mut end = self.upper.clone();
        if self.upper_inclusive {
            end.push(0);
        }
        if span.end > end {
            span.end = end;
        }
        (span.start < span.end).then_some(span)
    }
}

fn with_seqnum(trailer: u64, seqnum: Option<u64>) -> u64 {
    match seqnum {
        Some(s) => (s << 8) | (trailer & 0xff),
        None => trailer,
    }
}

/// A live table: its file (shared by the virtual tables it backs) and transforms.
#[derive(Debug)]
pub struct LiveTable {
    /// Its level (0–6).
    pub level: usize,
    /// Its table number.
    pub number: u64,
    /// The physical table.
    pub sst: Arc<Sst>,
    /// The file number of the physical table (the cache key).
    file_number: u64,
    bounds: Bounds,
    /// Replaces every seqnum of the table (an ingested table stores 0).
    synthetic_seqnum: Option<u64>,
}

/// A range tombstone, transforms applied: `[start, end)` deletes points older than
/// `seqnum`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tombstone {
    start: Vec<u8>,
    end: Vec<u8>,
    seqnum: u64,
}

/// Decoded data blocks by (file number, offset), evicting the least recently used past a
/// byte budget.
#[derive(Debug)]
pub struct BlockCache {
    budget: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    /// Block → (rows, size, last use).
    blocks: HashMap<(u64, u64), (Arc<DataBlock>, usize, u64)>,
    /// Last use → block: the least recently used is the first entry.
    by_use: std::collections::BTreeMap<u64, (u64, u64)>,
    used: usize,
    tick: u64,
    hits: u64,
    misses: u64,
}

impl BlockCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // A panic elsewhere cannot leave the map inconsistent: each update is whole.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A cache of about `budget` bytes of decoded rows.
    #[must_use]
    pub fn new(budget: usize) -> Self {
        BlockCache {
            budget,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    fn get_or_load(
        &self,
        key: (u64, u64),
        load: impl FnOnce() -> Result<DataBlock>,
    ) -> Result<Arc<DataBlock>> {
        {
            let mut c = self.lock();
            c.tick += 1;
            let tick = c.tick;
            if let Some(entry) = c.blocks.get_mut(&key) {
                let old = std::mem::replace(&mut entry.2, tick);
                let rows = entry.0.clone();
                c.by_use.remove(&old);
                c.by_use.insert(tick, key);
                c.hits += 1;
                return Ok(rows);
            }
            c.misses += 1;
        }
        // Decoded outside the lock: two threads may both decode a block, never block each
        // other on I/O.
        let rows = Arc::new(load()?);
        let size = rows.size();
        let mut c = self.lock();
        c.tick += 1;
        let tick = c.tick;
        if let Some(old) = c.blocks.insert(key, (rows.clone(), size, tick)) {
            c.used -= old.1;
            c.by_use.remove(&old.2);
        }
        c.by_use.insert(tick, key);
        c.used += size;
        // The least recently used go first; the block just loaded is the most recent.
        while c.used > self.budget && c.blocks.len() > 1 {
            let Some((_, oldest)) = c.by_use.pop_first() else {
                break;
            };
            if let Some(old) = c.blocks.remove(&oldest) {
                c.used -= old.1;
            }
        }
        Ok(rows)
    }

    /// Bytes of decoded rows held, and (hits, misses) so far.
    #[must_use]
    pub fn usage(&self) -> (usize, u64, u64) {
        let c = self.lock();
        (c.used, c.hits, c.misses)
    }
}

/// A Pebble database opened for reading: the live tables, tombstones and WAL contents.
#[derive(Debug)]
pub struct Db {
    /// The directory and its live version.
    pub dir: PebbleDir,
    /// Every live table, L0 first.
    pub tables: Vec<LiveTable>,
    tombstones: Vec<Tombstone>,
    /// Unflushed WAL points, in internal-key order.
    memtable: Arc<DataBlock>,
    cache: BlockCache,
}

impl Db {
    /// Opens every live table of `dir` (footer, metaindex, properties, index, range
    /// deletions) and replays its WAL files.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the file for a damaged table or WAL; [`Error::Unsupported`]
    /// for features baton never writes.
    pub fn open(dir: PebbleDir, cache_bytes: usize) -> Result<Self> {
        let mut files: HashMap<u64, Arc<Sst>> = HashMap::new();
        let mut tables = Vec::new();
        let mut tombstones = Vec::new();
        for (level, live) in dir.version.levels.iter().enumerate() {
            for t in live.values() {
                let number = t.file_number();
                let sst = match files.get(&number) {
                    Some(s) => s.clone(),
                    None => {
                        let s = Arc::new(Sst::open(&dir.path.join(format!("{number:06}.sst")))?);
                        files.insert(number, s.clone());
                        s
                    }
                };
                let table = LiveTable::new(level, t, sst);
                for span in &table.sst.range_dels {
                    let Some(span) = table.bounds.clip(span.clone()) else {
                        continue;
                    };
                    let seqnum = span
                        .trailers
                        .iter()
                        .map(|tr| with_seqnum(*tr, table.synthetic_seqnum) >> 8)
                        .max()
                        .unwrap_or(0);
                    tombstones.push(Tombstone {
                        start: span.start,
                        end: span.end,
                        seqnum,
                    });
                }
                tables.push(table);
            }
        }
        let replayed = wal::replay(&dir)?;
        for span in replayed.range_dels {
            tombstones.push(Tombstone {
                start: span.start,
                end: span.end,
                seqnum: span.trailers.iter().map(|t| t >> 8).max().unwrap_or(0),
            });
        }
        Ok(Db {
            dir,
            tables,
            tombstones,
            memtable: Arc::new(DataBlock::from_rows(replayed.points)?),
            cache: BlockCache::new(cache_bytes),
        })
    }

    /// The block cache (for stats).
    #[must_use]
    pub fn cache(&self) -> &BlockCache {
        &self.cache
    }

    /// The live pairs with keys in `[lower, upper)` (`upper: None`: to the end), in key
    /// order.
    ///
    /// # Errors
    /// Errors of reading the first data block of a source (later blocks fail as items of
    /// the stream).
    pub fn scan(self: &Arc<Self>, lower: &[u8], upper: Option<&[u8]>) -> Result<Scan> {
        let mut cursors = Vec::new();
        if !self.memtable.is_empty() {
            let pos = self.memtable.seek(lower);
            cursors.push(Cursor {
                table: None,
                done: false,
                block: 0,
                rows: self.memtable.clone(),
                pos,
            });
        }
        for (i, t) in self.tables.iter().enumerate() {
            if !t.bounds.overlaps(lower, upper) {
                continue;
            }
            let start = if lower < t.bounds.lower.as_slice() {
                t.bounds.lower.as_slice()
            } else {
                lower
            };
            let block = t
                .sst
                .blocks
                .partition_point(|b| b.separator.as_slice() < start);
            let mut c = Cursor {
                table: Some(i),
                done: false,
                block,
                rows: Arc::new(DataBlock::default()),
                pos: 0,
            };
            if block < t.sst.blocks.len() {
                c.rows = self.block(t, block)?;
                c.pos = c.rows.seek(start);
            }
            cursors.push(c);
        }
        let tombstones = self
            .tombstones
            .iter()
            .filter(|t| upper.is_none_or(|u| t.start.as_slice() < u) && t.end.as_slice() > lower)
            .cloned()
            .collect();
        let mut scan = Scan {
            db: self.clone(),
            cursors,
            tombstones,
            upper: upper.map(<[u8]>::to_vec),
            keys_only: false,
            failed: false,
        };
        for i in 0..scan.cursors.len() {
            scan.settle(i)?;
        }
        Ok(scan)
    }

    /// The live keys in `[lower, upper)`, in key order (values are not copied).
    ///
    /// # Errors
    /// As [`Db::scan`].
    pub fn scan_keys(
        self: &Arc<Self>,
        lower: &[u8],
        upper: Option<&[u8]>,
    ) -> Result<impl Iterator<Item = Result<Vec<u8>>> + use<>> {
        let mut scan = self.scan(lower, upper)?;
        scan.keys_only = true;
        Ok(scan.map(|e| e.map(|(k, _)| k)))
    }

    /// The value of `key`, if live.
    ///
    /// # Errors
    /// As [`Db::scan`].
    pub fn get(self: &Arc<Self>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut upper = key.to_vec();
        upper.push(0);
        Ok(self
            .scan(key, Some(&upper))?
            .next()
            .transpose()?
            .map(|(_, v)| v))
    }

    fn block(&self, t: &LiveTable, block: usize) -> Result<Arc<DataBlock>> {
        let handle = t.sst.blocks[block].handle;
        self.cache
            .get_or_load((t.file_number, handle.offset), || t.sst.data_rows(handle))
    }
}

impl LiveTable {
    fn new(level: usize, t: &Table, sst: Arc<Sst>) -> Self {
        LiveTable {
            level,
            number: t.number,
            sst,
            file_number: t.file_number(),
            bounds: Bounds::of(&t.smallest, &t.largest),
            synthetic_seqnum: (t.smallest_seq == t.largest_seq && t.smallest_seq != 0)
                .then_some(t.smallest_seq),
        }
    }
}

/// One source's position: a row of a decoded block.
/// One source's position: a row of a decoded block.
struct Cursor {
    /// The table (index into [`Db::tables`]); `None` for the WAL's memtable.
    table: Option<usize>,
    /// Past the table's bounds or the scan's range: nothing more to read.
    done: bool,
    block: usize,
    rows: Arc<DataBlock>,
    pos: usize,
}

/// The live pairs of a key range, in key order (see [`Db::scan`]).
pub struct Scan {
    db: Arc<Db>,
    cursors: Vec<Cursor>,
    tombstones: Vec<Tombstone>,
    upper: Option<Vec<u8>>,
    /// Leave values out (counting).
    keys_only: bool,
    failed: bool,
}

impl Scan {
    /// Moves cursor `i` to a row inside its table's bounds and the scan's range, loading
    /// later blocks as needed; an exhausted cursor ends with `pos == rows.len()`.
    fn settle(&mut self, i: usize) -> Result<()> {
        let db = self.db.clone();
        let c = &mut self.cursors[i];
        loop {
            if c.done {
                return Ok(());
            }
            if c.pos < c.rows.len() {
                let key = c.rows.key(c.pos);
                let past_table = c
                    .table
                    .is_some_and(|t| !db.tables[t].bounds.below_upper(key));
                let past_scan = self.upper.as_deref().is_some_and(|u| key >= u);
                if past_table || past_scan {
                    c.done = true;
                }
                return Ok(());
            }
            let Some(t) = c.table else {
                c.done = true;
                return Ok(());
            };
            let table = &db.tables[t];
            c.block += 1;
            if c.block >= table.sst.blocks.len() {
                c.done = true;
                return Ok(());
            }
            c.rows = db.block(table, c.block)?;
            c.pos = 0;
        }
    }

    fn head(&self, i: usize) -> Option<(&[u8], u64)> {
        let c = &self.cursors[i];
        if c.done {
            return None;
        }
        if c.pos >= c.rows.len() {
            return None;
        }
        let seq = c.table.and_then(|t| self.db.tables[t].synthetic_seqnum);
        Some((c.rows.key(c.pos), with_seqnum(c.rows.trailer(c.pos), seq)))
    }

    /// The next live row, borrowed from its decoded block (no copy).
    ///
    /// # Errors
    /// A damaged block of a later part of the range; unsupported kinds (merges).
    pub fn next_row(&mut self) -> Result<Option<LiveRow>> {
        if self.failed {
            return Ok(None);
        }
        let next = self.next_live();
        self.failed = next.is_err();
        next
    }

    fn next_live(&mut self) -> Result<Option<LiveRow>> {
        loop {
            // The newest version of the smallest user key: key ascending, trailer descending.
            let mut best: Option<(usize, &[u8], u64)> = None;
            for i in 0..self.cursors.len() {
                if let Some((key, trailer)) = self.head(i) {
                    let better = match best {
                        None => true,
                        Some((_, bk, bt)) => key < bk || key == bk && trailer > bt,
                    };
                    if better {
                        best = Some((i, key, trailer));
                    }
                }
            }
            let Some((i, _, trailer)) = best else {
                return Ok(None);
            };
            let c = &self.cursors[i];
            let row = LiveRow {
                rows: c.rows.clone(),
                index: c.pos,
            };
            // Every version of the key, in any source, is consumed.
            for j in 0..self.cursors.len() {
                while self.head(j).is_some_and(|(k, _)| k == row.key()) {
                    self.cursors[j].pos += 1;
                    self.settle(j)?;
                }
            }
            let seqnum = trailer >> 8;
            let key = row.key();
            let deleted = self
                .tombstones
                .iter()
                .any(|t| t.seqnum > seqnum && t.start.as_slice() <= key && key < t.end.as_slice());
            if deleted {
                continue;
            }
            match (trailer & 0xff) as u8 & 0xbf {
                kind::SET | kind::SETWITHDEL => return Ok(Some(row)),
                kind::DEL | kind::SINGLEDEL | kind::DELSIZED => {}
                kind::MERGE => {
                    return Err(Error::Unsupported {
                        engine: "pebble",
                        operation: "merge operands",
                    });
                }
                other => {
                    return Err(Error::corrupt(
                        "pebble table",
                        format!("point key of kind {other}"),
                    ));
                }
            }
        }
    }
}

/// A live key and its value, borrowed from the decoded block that holds them.
#[derive(Clone, Debug)]
pub struct LiveRow {
    rows: Arc<DataBlock>,
    index: usize,
}

impl LiveRow {
    /// The user key.
    #[must_use]
    pub fn key(&self) -> &[u8] {
        self.rows.key(self.index)
    }

    /// The value.
    #[must_use]
    pub fn value(&self) -> &[u8] {
        self.rows.value(self.index)
    }
}

impl Iterator for Scan {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let keys_only = self.keys_only;
        self.next_row()
            .map(|row| {
                row.map(|r| {
                    let value = if keys_only {
                        Vec::new()
                    } else {
                        r.value().to_vec()
                    };
                    (r.key().to_vec(), value)
                })
            })
            .transpose()
    }
}

/// Every live key/value pair of `dir`, streamed in key order (a whole-database
/// [`Db::scan`]).
///
/// # Errors
/// As [`Db::open`] and [`Db::scan`].
pub fn live_entries(dir: &PebbleDir) -> Result<Scan> {
    Arc::new(Db::open(dir.clone(), DEFAULT_BLOCK_CACHE)?).scan(&[], None)
}
