//! Pebble's columnar blocks (table formats v5+): the header and column directory, uint,
//! bitmap, raw-bytes and prefix-bytes columns, and the data, index, key/value and keyspan
//! blocks built from them (`../shared/spec/format-pebble.md` §7). Every offset is relative
//! to the decompressed block; every read is bounds-checked.

use crate::error::{Error, Result};

fn bad(what: impl std::fmt::Display) -> Error {
    Error::corrupt("pebble block", what.to_string())
}

fn le(bytes: &[u8], at: usize, width: usize) -> Result<u64> {
    let b = bytes
        .get(at..at + width)
        .ok_or_else(|| bad(format!("{width}-byte integer past the block at {at}")))?;
    let mut v = [0u8; 8];
    v[..width].copy_from_slice(b);
    Ok(u64::from_le_bytes(v))
}

/// One column's type and where its data starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ColumnDesc {
    data_type: u8,
    start: usize,
}

/// A decoded block header and column directory.
#[derive(Debug)]
pub struct Block<'a> {
    bytes: &'a [u8],
    /// Rows of the block.
    pub rows: usize,
    columns: Vec<ColumnDesc>,
}

/// Column data types.
pub mod data_type {
    /// A bitmap.
    pub const BOOL: u8 = 1;
    /// Fixed-width integers.
    pub const UINT: u8 = 2;
    /// Byte strings.
    pub const BYTES: u8 = 3;
    /// Sorted byte strings with shared and bundle prefixes.
    pub const PREFIX_BYTES: u8 = 4;
}

impl<'a> Block<'a> {
    /// Reads the header after a custom header of `custom` bytes.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a header or directory past the block, an unknown version,
    /// or columns out of order.
    pub fn parse(bytes: &'a [u8], custom: usize) -> Result<Self> {
        let h = custom;
        if bytes.get(h) != Some(&1) {
            return Err(bad("columnar block version is not 1"));
        }
        let columns = le(bytes, h + 1, 2)? as usize;
        let rows = usize::try_from(le(bytes, h + 3, 4)?).map_err(|_| bad("rows"))?;
        // A row costs at least a bit of some column: a larger count is damage, and would
        // only allocate.
        if rows > bytes.len().saturating_mul(8) {
            return Err(bad(format!(
                "{rows} rows in a block of {} bytes",
                bytes.len()
            )));
        }
        let mut descs = Vec::with_capacity(columns);
        for c in 0..columns {
            let at = h + 7 + 5 * c;
            let data_type = *bytes
                .get(at)
                .ok_or_else(|| bad("column directory past the block"))?;
            let start = le(bytes, at + 1, 4)? as usize;
            if !(1..=4).contains(&data_type) {
                return Err(bad(format!("column {c} of type {data_type}")));
            }
            descs.push(ColumnDesc { data_type, start });
        }
        let dir_end = h + 7 + 5 * columns;
        let mut last = dir_end;
        for (c, d) in descs.iter().enumerate() {
            if d.start < last || d.start >= bytes.len() {
                return Err(bad(format!(
                    "column {c} starts at {} (after {last})",
                    d.start
                )));
            }
            last = d.start;
        }
        Ok(Block {
            bytes,
            rows,
            columns: descs,
        })
    }

    fn column(&self, c: usize, data_type: u8) -> Result<usize> {
        match self.columns.get(c) {
            Some(d) if d.data_type == data_type => Ok(d.start),
            Some(d) => Err(bad(format!(
                "column {c} is of type {}, not {data_type}",
                d.data_type
            ))),
            None => Err(bad(format!("no column {c}"))),
        }
    }

    /// Uint column `c` of `rows` values.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a malformed column.
    pub fn uints(&self, c: usize, rows: usize) -> Result<Vec<u64>> {
        let start = self.column(c, data_type::UINT)?;
        Ok(uint_column(self.bytes, start, rows)?.0)
    }

    /// Bytes column `c` of `rows` slices.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a malformed column.
    pub fn bytes(&self, c: usize, rows: usize) -> Result<Vec<&'a [u8]>> {
        let start = self.column(c, data_type::BYTES)?;
        raw_bytes(self.bytes, start, rows)
    }

    /// Bitmap column `c` of `rows` bits.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a malformed column.
    pub fn bools(&self, c: usize, rows: usize) -> Result<Vec<bool>> {
        let start = self.column(c, data_type::BOOL)?;
        match self.bytes.get(start) {
            Some(1) => Ok(vec![false; rows]),
            Some(0) => {
                let words = align(start + 1, 8);
                (0..rows)
                    .map(|r| Ok(le(self.bytes, words + 8 * (r / 64), 8)? >> (r % 64) & 1 == 1))
                    .collect()
            }
            _ => Err(bad(format!("bitmap encoding at {start}"))),
        }
    }

    /// Prefix-bytes column `c` (sorted keys) of `rows` keys, materialised.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a malformed column.
    pub fn prefix_bytes(&self, c: usize, rows: usize) -> Result<Vec<Vec<u8>>> {
        let start = self.column(c, data_type::PREFIX_BYTES)?;
        prefix_bytes(self.bytes, start, rows)
    }
}

fn align(at: usize, to: usize) -> usize {
    at.div_ceil(to) * to
}

/// A uint column at `start`: its values and the offset after it.
fn uint_column(block: &[u8], start: usize, rows: usize) -> Result<(Vec<u64>, usize)> {
    if rows == 0 {
        return Ok((Vec::new(), start));
    }
    let e = *block
        .get(start)
        .ok_or_else(|| bad("uint column past the block"))?;
    let (delta, width) = (e & 0x80 != 0, usize::from(e & 0x7f));
    if !matches!(width, 0 | 1 | 2 | 4 | 8) {
        return Err(bad(format!("uint width {width}")));
    }
    let mut at = start + 1;
    let base = if delta {
        let b = le(block, at, 8)?;
        at += 8;
        b
    } else {
        0
    };
    if width == 0 {
        return Ok((vec![base; rows], at));
    }
    at = align(at, width);
    let end = rows
        .checked_mul(width)
        .and_then(|n| n.checked_add(at))
        .filter(|e| *e <= block.len())
        .ok_or_else(|| bad(format!("uint column of {rows} values past the block")))?;
    let data = &block[at..end];
    let out: Vec<u64> = match width {
        1 => data
            .iter()
            .map(|b| base.wrapping_add(u64::from(*b)))
            .collect(),
        2 => data
            .chunks_exact(2)
            .map(|c| base.wrapping_add(u64::from(u16::from_le_bytes([c[0], c[1]]))))
            .collect(),
        4 => data
            .chunks_exact(4)
            .map(|c| base.wrapping_add(u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))))
            .collect(),
        _ => data
            .chunks_exact(8)
            .map(|c| {
                let mut v = [0u8; 8];
                v.copy_from_slice(c);
                base.wrapping_add(u64::from_le_bytes(v))
            })
            .collect(),
    };
    Ok((out, end))
}

/// A raw-bytes column: `rows + 1` offsets, then the data.
fn raw_bytes(block: &[u8], start: usize, rows: usize) -> Result<Vec<&[u8]>> {
    if rows == 0 {
        return Ok(Vec::new());
    }
    let (offsets, data) = uint_column(block, start, rows + 1)?;
    slices(block, data, &offsets)
}

fn slices<'b>(block: &'b [u8], data: usize, offsets: &[u64]) -> Result<Vec<&'b [u8]>> {
    offsets
        .windows(2)
        .map(|w| {
            let (a, b) = (usize::try_from(w[0]), usize::try_from(w[1]));
            match (a, b) {
                (Ok(a), Ok(b)) if a <= b => block
                    .get(data + a..data + b)
                    .ok_or_else(|| bad("byte slice past the block")),
                _ => Err(bad("byte slice offsets out of order")),
            }
        })
        .collect()
}

/// A prefix-bytes column: bundle shift, offsets of the shared prefix and `rows + bundles`
/// slices, then the data (§7.6).
fn prefix_bytes(block: &[u8], start: usize, rows: usize) -> Result<Vec<Vec<u8>>> {
    let (mut keys, mut ends) = (Vec::new(), Vec::new());
    prefix_bytes_into(block, start, rows, &mut keys, &mut ends)?;
    let mut from = 0;
    Ok(ends
        .iter()
        .map(|&e| {
            let k = keys[from..e as usize].to_vec();
            from = e as usize;
            k
        })
        .collect())
}

/// [`prefix_bytes`] appending every key to `keys`, and each key's end offset to `ends`
/// (one buffer for a block's keys: no allocation per key).
fn prefix_bytes_into(
    block: &[u8],
    start: usize,
    rows: usize,
    keys: &mut Vec<u8>,
    ends: &mut Vec<u32>,
) -> Result<()> {
    if rows == 0 {
        return Err(bad("prefix-bytes column without rows"));
    }
    let shift = *block
        .get(start)
        .ok_or_else(|| bad("prefix-bytes past the block"))?;
    if shift > 16 {
        return Err(bad(format!("bundle shift {shift}")));
    }
    let bundle = 1usize << shift;
    let bundles = 1 + (rows - 1) / bundle;
    let n = rows + bundles;
    let (offsets, data) = uint_column(block, start + 1, n + 1)?;
    let shared_len = usize::try_from(offsets[0]).map_err(|_| bad("shared prefix"))?;
    let shared = block
        .get(data..data + shared_len)
        .ok_or_else(|| bad("shared prefix past the block"))?;
    let items = slices(block, data, &offsets)?;
    ends.reserve(rows);
    for r in 0..rows {
        let b = r / bundle;
        let prefix = items[b * (bundle + 1)];
        // An empty suffix repeats the previous row's key within the bundle.
        let mut s = r;
        let suffix = loop {
            let item = items[1 + s / bundle + s];
            if !item.is_empty() || s == b * bundle {
                break item;
            }
            s -= 1;
        };
        keys.extend_from_slice(shared);
        keys.extend_from_slice(prefix);
        keys.extend_from_slice(suffix);
        ends.push(u32::try_from(keys.len()).map_err(|_| bad("keys over 4 GiB"))?);
    }
    Ok(())
}

/// A key/value pair of a data block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataRow {
    /// The user key.
    pub key: Vec<u8>,
    /// `seqnum << 8 | kind`.
    pub trailer: u64,
    /// The in-place value.
    pub value: Vec<u8>,
}

/// A decoded data block, packed: every key in one buffer, values as spans of the
/// decompressed block (no allocation per row).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataBlock {
    keys: Vec<u8>,
    key_ends: Vec<u32>,
    trailers: Vec<u64>,
    values: Vec<u8>,
    value_spans: Vec<(u32, u32)>,
}

impl DataBlock {
    /// A block of the given rows (row-based tables, WAL batches).
    ///
    /// # Errors
    /// [`Error::Corrupt`] past 4 GiB of keys or values.
    pub fn from_rows(rows: Vec<DataRow>) -> Result<Self> {
        let mut b = DataBlock::default();
        let at = |n: usize| u32::try_from(n).map_err(|_| bad("block over 4 GiB"));
        for r in rows {
            b.keys.extend_from_slice(&r.key);
            b.key_ends.push(at(b.keys.len())?);
            b.trailers.push(r.trailer);
            let start = at(b.values.len())?;
            b.values.extend_from_slice(&r.value);
            b.value_spans.push((start, at(b.values.len())?));
        }
        Ok(b)
    }

    /// Rows in the block.
    #[must_use]
    pub fn len(&self) -> usize {
        self.trailers.len()
    }

    /// Whether the block has no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.trailers.is_empty()
    }

    /// Row `i`'s user key.
    #[must_use]
    pub fn key(&self, i: usize) -> &[u8] {
        let from = if i == 0 {
            0
        } else {
            self.key_ends[i - 1] as usize
        };
        &self.keys[from..self.key_ends[i] as usize]
    }

    /// Row `i`'s trailer (`seqnum << 8 | kind`).
    #[must_use]
    pub fn trailer(&self, i: usize) -> u64 {
        self.trailers[i]
    }

    /// Row `i`'s value.
    #[must_use]
    pub fn value(&self, i: usize) -> &[u8] {
        let (a, b) = self.value_spans[i];
        &self.values[a as usize..b as usize]
    }

    /// The first row whose key is ≥ `key` (`len()` if none).
    #[must_use]
    pub fn seek(&self, key: &[u8]) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.key(mid) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Bytes the block holds (for the cache's budget).
    #[must_use]
    pub fn size(&self) -> usize {
        self.keys.len() + self.values.len() + 16 * self.len() + 64
    }

    /// The rows, copied out.
    #[must_use]
    pub fn rows(&self) -> Vec<DataRow> {
        (0..self.len())
            .map(|i| DataRow {
                key: self.key(i).to_vec(),
                trailer: self.trailer(i),
                value: self.value(i).to_vec(),
            })
            .collect()
    }
}

/// A data block (DefaultKeySchema: 4-byte custom header, 7 columns), packed; `bytes` is
/// the decompressed block, kept as the values' storage.
///
/// # Errors
/// [`Error::Corrupt`] for a malformed block; [`Error::Unsupported`] for a value stored
/// out of line (value blocks, blob files: baton writes neither).
pub fn packed_data_block(bytes: Vec<u8>) -> Result<DataBlock> {
    let b = Block::parse(&bytes, 4)?;
    let r = b.rows;
    let (mut keys, mut key_ends) = (Vec::new(), Vec::new());
    prefix_bytes_into(
        &bytes,
        b.column(0, data_type::PREFIX_BYTES)?,
        r,
        &mut keys,
        &mut key_ends,
    )?;
    let suffixes = b.bytes(1, r)?;
    if suffixes.iter().any(|s| !s.is_empty()) {
        // Key suffixes (never written by baton's DefaultSplit): keys rebuilt one by one.
        let mut with = Vec::with_capacity(keys.len());
        let mut ends = Vec::with_capacity(r);
        let mut from = 0;
        for (i, s) in suffixes.iter().enumerate() {
            with.extend_from_slice(&keys[from..key_ends[i] as usize]);
            with.extend_from_slice(s);
            from = key_ends[i] as usize;
            ends.push(u32::try_from(with.len()).map_err(|_| bad("keys over 4 GiB"))?);
        }
        keys = with;
        key_ends = ends;
    }
    let trailers = b.uints(2, r)?;
    let external = b.bools(5, r)?;
    if external.iter().any(|x| *x) {
        return Err(Error::Unsupported {
            engine: "pebble",
            operation: "values stored out of line (value blocks or blob files)",
        });
    }
    let base = bytes.as_ptr() as usize;
    let value_spans = b
        .bytes(4, r)?
        .iter()
        .map(|v| {
            let start = v.as_ptr() as usize - base;
            Ok((
                u32::try_from(start).map_err(|_| bad("block over 4 GiB"))?,
                u32::try_from(start + v.len()).map_err(|_| bad("block over 4 GiB"))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    drop(b);
    Ok(DataBlock {
        keys,
        key_ends,
        trailers,
        values: bytes,
        value_spans,
    })
}

/// Every row of a data block (DefaultKeySchema: 4-byte custom header, 7 columns).
///
/// # Errors
/// As [`packed_data_block`].
pub fn data_block(bytes: &[u8]) -> Result<Vec<DataRow>> {
    Ok(packed_data_block(bytes.to_vec())?.rows())
}

/// An index row: the separator and the referenced block (data block or partition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRow {
    /// A user key at or above every key of the block and below the next block's.
    pub separator: Vec<u8>,
    /// The block.
    pub handle: super::table::BlockHandle,
}

/// Every row of an index block (no custom header, 4 columns).
///
/// # Errors
/// [`Error::Corrupt`] for a malformed block.
pub fn index_block(bytes: &[u8]) -> Result<Vec<IndexRow>> {
    let b = Block::parse(bytes, 0)?;
    let r = b.rows;
    let seps = b.bytes(0, r)?;
    let offsets = b.uints(1, r)?;
    let lengths = b.uints(2, r)?;
    Ok((0..r)
        .map(|i| IndexRow {
            separator: seps[i].to_vec(),
            handle: super::table::BlockHandle {
                offset: offsets[i],
                length: lengths[i],
            },
        })
        .collect())
}

/// Every pair of a key/value block (the v6+ metaindex, the v7 properties).
///
/// # Errors
/// [`Error::Corrupt`] for a malformed block.
pub fn key_value_block(bytes: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let b = Block::parse(bytes, 0)?;
    let keys = b.bytes(0, b.rows)?;
    let values = b.bytes(1, b.rows)?;
    Ok(keys
        .into_iter()
        .zip(values)
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect())
}

/// A fragment of a keyspan block: `[start, end)` and its keys' trailers, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// Inclusive start user key.
    pub start: Vec<u8>,
    /// Exclusive end user key.
    pub end: Vec<u8>,
    /// `seqnum << 8 | kind` of each key over the span.
    pub trailers: Vec<u64>,
}

/// Every span of a keyspan block (range deletions).
///
/// # Errors
/// [`Error::Corrupt`] for a malformed block, indices out of order or past the keys.
pub fn keyspan_block(bytes: &[u8]) -> Result<Vec<Span>> {
    let boundaries = usize::try_from(le(bytes, 0, 4)?)
        .ok()
        .filter(|n| *n <= bytes.len().saturating_mul(8))
        .ok_or_else(|| bad("boundary count"))?;
    let b = Block::parse(bytes, 4)?;
    let keys = b.bytes(0, boundaries)?;
    let idx = b.uints(1, boundaries)?;
    let trailers = b.uints(2, b.rows)?;
    let mut out = Vec::new();
    for i in 0..boundaries.saturating_sub(1) {
        let (from, to) = (idx[i] as usize, idx[i + 1] as usize);
        if from > to || to > trailers.len() {
            return Err(bad("keyspan indices out of order"));
        }
        if from < to {
            out.push(Span {
                start: keys[i].to_vec(),
                end: keys[i + 1].to_vec(),
                trailers: trailers[from..to].to_vec(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The spec's worked metaindex (§8.3) and range-del block (§8.6).
    #[test]
    fn the_worked_blocks_decode() {
        let metaindex: Vec<u8> = [
            &[
                1u8, 2, 0, 2, 0, 0, 0, 3, 0x11, 0, 0, 0, 3, 0x39, 0, 0, 0, 1, 0, 0x12, 0x24,
            ][..],
            b"rocksdb.propertiesrocksdb.range_del2",
            &[1, 0, 4, 7, 0xcb, 0x15, 0xca, 0x04, 0x8f, 0x15, 0x37, 0],
        ]
        .concat();
        assert_eq!(metaindex.len(), 69);
        let kv = key_value_block(&metaindex).unwrap();
        assert_eq!(kv[0].0, b"rocksdb.properties");
        assert_eq!(
            kv[1],
            (b"rocksdb.range_del2".to_vec(), vec![0x8f, 0x15, 0x37])
        );
        let rangedel: Vec<u8> = [
            &[2u8, 0, 0, 0, 1, 5, 0, 1, 0, 0, 0][..],
            &[
                3, 36, 0, 0, 0, 2, 44, 0, 0, 0, 2, 47, 0, 0, 0, 3, 52, 0, 0, 0, 3, 53, 0, 0, 0,
            ],
            &[
                1, 0, 2, 4, 3, 0x0a, 3, 0x0b, 1, 0, 1, 4, 0x0f, 0xe1, 0x09, 0, 0, 0, 0,
            ],
        ]
        .concat();
        assert_eq!(rangedel.len(), 55);
        assert_eq!(
            keyspan_block(&rangedel).unwrap(),
            vec![Span {
                start: vec![3, 0x0a],
                end: vec![3, 0x0b],
                trailers: vec![(2529 << 8) | 15],
            }]
        );
    }

    proptest! {
        /// Arbitrary bytes are errors or rows, never panics.
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = data_block(&bytes);
            let _ = index_block(&bytes);
            let _ = key_value_block(&bytes);
            let _ = keyspan_block(&bytes);
        }
    }
}
