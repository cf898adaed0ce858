//! The merged view of a Pebble database: every live table's points and range tombstones,
//! with the per-table transforms applied (synthetic sequence numbers, virtual bounds), the
//! newest version of each user key chosen and deleted keys dropped
//! (`../shared/spec/format-pebble.md` §5).
//!
//! This first version streams a k-way merge over every live table in key order (one data
//! block per table in memory); point lookups through the levels come with the engine.

use std::sync::Arc;

use super::PebbleDir;
use super::colblk::{self, DataRow, Span};
use super::manifest::{InternalKey, Table};
use super::table::{BlockHandle, TableFile, attribute};
use crate::error::{Error, Result};

/// Point kinds (the obsolete bit 0x40 masked off).
mod kind {
    pub(super) const DEL: u8 = 0;
    pub(super) const SET: u8 = 1;
    pub(super) const MERGE: u8 = 2;
    pub(super) const SINGLEDEL: u8 = 7;
    pub(super) const SETWITHDEL: u8 = 18;
    pub(super) const DELSIZED: u8 = 23;
}

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

    fn contains(&self, key: &[u8]) -> bool {
        key >= self.lower.as_slice()
            && if self.upper_inclusive {
                key <= self.upper.as_slice()
            } else {
                key < self.upper.as_slice()
            }
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

/// What a live table contributes, transforms applied.
struct Source {
    table: Arc<TableFile>,
    data_blocks: Vec<BlockHandle>,
    next_block: usize,
    rows: std::vec::IntoIter<DataRow>,
    head: Option<DataRow>,
    /// Replaces every seqnum of the table (an ingested table stores 0).
    synthetic_seqnum: Option<u64>,
    bounds: Option<Bounds>,
}

fn with_seqnum(trailer: u64, seqnum: Option<u64>) -> u64 {
    match seqnum {
        Some(s) => (s << 8) | (trailer & 0xff),
        None => trailer,
    }
}

impl Source {
    fn open(
        dir: &PebbleDir,
        t: &Table,
        files: &mut Vec<(u64, Arc<TableFile>)>,
    ) -> Result<(Self, Vec<Span>)> {
        let number = t.file_number();
        let table = match files.iter().find(|(n, _)| *n == number) {
            Some((_, f)) => f.clone(),
            None => {
                let f = Arc::new(TableFile::read(&dir.path.join(format!("{number:06}.sst")))?);
                files.push((number, f.clone()));
                f
            }
        };
        let top = colblk::index_block(&table.block(table.footer.index)?)?;
        let data_blocks = if table.footer.attributes & attribute::TWO_LEVEL_INDEX != 0 {
            let mut out = Vec::new();
            for p in top {
                out.extend(
                    colblk::index_block(&table.block(p.handle)?)?
                        .into_iter()
                        .map(|r| r.handle),
                );
            }
            out
        } else {
            top.into_iter().map(|r| r.handle).collect()
        };
        let synthetic_seqnum =
            (t.smallest_seq == t.largest_seq && t.smallest_seq != 0).then_some(t.smallest_seq);
        let bounds = t.backing.map(|_| Bounds::of(&t.smallest, &t.largest));
        // Range deletions, from the metaindex's "rocksdb.range_del2" block.
        let mut spans = Vec::new();
        for (name, value) in colblk::key_value_block(&table.block(table.footer.metaindex)?)? {
            if name == b"rocksdb.range_del2" {
                let (handle, _) = BlockHandle::decode(&value)
                    .filter(|(_, rest)| rest.is_empty())
                    .ok_or_else(|| {
                        Error::corrupt("pebble table", format!("{}: range-del handle", table.name))
                    })?;
                for mut span in colblk::keyspan_block(&table.block(handle)?)? {
                    for tr in &mut span.trailers {
                        *tr = with_seqnum(*tr, synthetic_seqnum);
                    }
                    let span = match &bounds {
                        Some(b) => b.clip(span),
                        None => Some(span),
                    };
                    spans.extend(span);
                }
            }
        }
        let mut s = Source {
            table,
            data_blocks,
            next_block: 0,
            rows: Vec::new().into_iter(),
            head: None,
            synthetic_seqnum,
            bounds,
        };
        s.advance()?;
        Ok((s, spans))
    }

    /// Moves `head` to the next row inside the bounds.
    fn advance(&mut self) -> Result<()> {
        loop {
            if let Some(mut row) = self.rows.next() {
                if self.bounds.as_ref().is_some_and(|b| !b.contains(&row.key)) {
                    continue;
                }
                row.trailer = with_seqnum(row.trailer, self.synthetic_seqnum);
                self.head = Some(row);
                return Ok(());
            }
            let Some(&handle) = self.data_blocks.get(self.next_block) else {
                self.head = None;
                return Ok(());
            };
            self.next_block += 1;
            self.rows = colblk::data_block(&self.table.block(handle)?)?.into_iter();
        }
    }
}

/// Every live user key and its value, in key order.
pub struct LiveEntries {
    sources: Vec<Source>,
    tombstones: Vec<Span>,
    failed: bool,
}

/// The live key/value pairs of `dir`, streamed in key order.
///
/// # Errors
/// Errors of reading a live table's index, metaindex or range deletions (later blocks
/// fail as items of the stream).
pub fn live_entries(dir: &PebbleDir) -> Result<LiveEntries> {
    let mut files = Vec::new();
    let mut sources = Vec::new();
    let mut tombstones = Vec::new();
    for level in &dir.version.levels {
        for t in level.values() {
            let (s, spans) = Source::open(dir, t, &mut files)?;
            sources.push(s);
            tombstones.extend(spans);
        }
    }
    Ok(LiveEntries {
        sources,
        tombstones,
        failed: false,
    })
}

impl LiveEntries {
    fn next_entry(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        loop {
            // The newest version of the smallest user key: key ascending, seqnum descending.
            let Some(best) = (0..self.sources.len())
                .filter(|&i| self.sources[i].head.is_some())
                .min_by(|&a, &b| {
                    let (x, y) = (self.sources[a].head.as_ref(), self.sources[b].head.as_ref());
                    match (x, y) {
                        (Some(x), Some(y)) => x.key.cmp(&y.key).then(y.trailer.cmp(&x.trailer)),
                        _ => std::cmp::Ordering::Equal,
                    }
                })
            else {
                return Ok(None);
            };
            let Some(point) = self.sources[best].head.take() else {
                return Ok(None);
            };
            self.sources[best].advance()?;
            // Older versions of the key, in any source, are shadowed.
            for s in &mut self.sources {
                while s.head.as_ref().is_some_and(|h| h.key == point.key) {
                    s.advance()?;
                }
            }
            let seqnum = point.trailer >> 8;
            let deleted = self.tombstones.iter().any(|t| {
                t.start.as_slice() <= point.key.as_slice()
                    && point.key.as_slice() < t.end.as_slice()
                    && t.trailers.iter().any(|tr| tr >> 8 > seqnum)
            });
            if deleted {
                continue;
            }
            match (point.trailer & 0xff) as u8 & 0xbf {
                kind::SET | kind::SETWITHDEL => return Ok(Some((point.key, point.value))),
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

impl Iterator for LiveEntries {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.next_entry();
        self.failed = next.is_err();
        next.transpose()
    }
}
