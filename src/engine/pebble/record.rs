//! Pebble's log-record format (MANIFEST and WAL files): 32 KiB blocks of checksummed
//! chunks, each record one chunk (`full`) or `first`, `middle`…, `last`
//! (`../shared/spec/format-pebble.md` §2).
//!
//! The reader is strict where Pebble's crash recovery is lenient: a saved file is complete,
//! so a chunk that fails its checksum, a malformed header or a record cut off by the end of
//! the file is corruption, not a torn tail to ignore.

use crate::error::{Error, Result};

/// Bytes of a log block; a chunk never crosses a block boundary.
pub const BLOCK_SIZE: usize = 32 * 1024;

/// Pebble's checksum of a chunk or block: CRC-32C, rotated right by 15 bits plus a constant
/// (`internal/crc`), so a checksum of data holding checksums does not degenerate.
#[must_use]
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

/// Where a chunk sits in its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Position {
    Full,
    First,
    Middle,
    Last,
}

/// A chunk type's header size and position; `None` for an invalid type.
fn chunk_kind(chunk_type: u8) -> Option<(usize, Position)> {
    let header = match chunk_type {
        1..=4 => 7,
        // Recyclable chunks carry the log number; WAL-sync chunks also a synced offset.
        5..=8 => 11,
        9..=12 => 19,
        _ => return None,
    };
    let position = match (chunk_type - 1) % 4 {
        0 => Position::Full,
        1 => Position::First,
        2 => Position::Middle,
        _ => Position::Last,
    };
    Some((header, position))
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Every record of a log file, in order. `log_number` is the file's number (0 for a
/// MANIFEST); recyclable and WAL-sync chunks must carry it, and one naming the next number
/// at a record boundary is the writer's end-of-file trailer.
///
/// # Errors
/// [`Error::Corrupt`] naming `file` and the offset: a chunk that fails its checksum, runs
/// past its block, has an invalid type or a foreign log number, or a record the file cuts
/// off.
pub fn read_records(file: &str, data: &[u8], log_number: u64) -> Result<Vec<Vec<u8>>> {
    let bad = |at: usize, what: &str| {
        Error::corrupt("pebble log", format!("{file}: {what} at offset {at}"))
    };
    let mut records = Vec::new();
    let mut record: Option<Vec<u8>> = None;
    let mut p = 0;
    while p < data.len() {
        let block_end = ((p / BLOCK_SIZE + 1) * BLOCK_SIZE).min(data.len());
        if p + 7 > block_end {
            // Too little room for a header: the writer padded the block with zeros.
            if data[p..block_end].iter().any(|b| *b != 0) {
                return Err(bad(p, "stray bytes where the block is padded"));
            }
            p = block_end;
            continue;
        }
        let h = &data[p..];
        let (crc, length, chunk_type) = (
            le_u32(h),
            usize::from(u16::from_le_bytes([h[4], h[5]])),
            h[6],
        );
        if crc == 0 && length == 0 && chunk_type == 0 {
            // A zeroed header: padding to the block's end, or the end of the data.
            if p + 11 > block_end || data[p..block_end].iter().all(|b| *b == 0) {
                p = block_end;
                continue;
            }
            return Err(bad(p, "zeroed chunk header before the end of the data"));
        }
        let (header, position) = chunk_kind(chunk_type)
            .ok_or_else(|| bad(p, &format!("invalid chunk type {chunk_type}")))?;
        if p + header > block_end {
            return Err(bad(p, "chunk header past its block"));
        }
        if header > 7 {
            let chunk_log = u64::from(le_u32(&h[7..]));
            if chunk_log != log_number & 0xffff_ffff {
                if chunk_log == (log_number + 1) & 0xffff_ffff && record.is_none() {
                    // The writer's end-of-file trailer.
                    break;
                }
                return Err(bad(
                    p,
                    &format!("chunk of log {chunk_log} in log {log_number}"),
                ));
            }
        }
        let end = p + header + length;
        if end > block_end {
            return Err(bad(p, "chunk past its block"));
        }
        if masked_crc32c(&data[p + 6..end]) != crc {
            return Err(bad(p, "chunk checksum mismatch"));
        }
        let payload = &data[p + header..end];
        match position {
            Position::Full => {
                if record.is_some() {
                    return Err(bad(p, "record interrupted by a full chunk"));
                }
                records.push(payload.to_vec());
            }
            Position::First => {
                if record.is_some() {
                    return Err(bad(p, "record interrupted by a first chunk"));
                }
                record = Some(payload.to_vec());
            }
            // Pebble skips middle and last chunks while waiting for a record's start.
            Position::Middle => {
                if let Some(r) = &mut record {
                    r.extend_from_slice(payload);
                }
            }
            Position::Last => {
                if let Some(mut r) = record.take() {
                    r.extend_from_slice(payload);
                    records.push(r);
                }
            }
        }
        p = end;
    }
    if record.is_some() {
        return Err(bad(data.len(), "record cut off by the end of the file"));
    }
    Ok(records)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A legacy-format log of `records`, as Pebble's `record.Writer` lays it out.
    pub(crate) fn write_log(records: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            let mut rest = &r[..];
            let mut first = true;
            loop {
                let room = BLOCK_SIZE - out.len() % BLOCK_SIZE;
                if room < 7 {
                    out.resize(out.len() + room, 0);
                    continue;
                }
                let n = rest.len().min(room - 7);
                let last = n == rest.len();
                let ty: u8 = match (first, last) {
                    (true, true) => 1,
                    (true, false) => 2,
                    (false, false) => 3,
                    (false, true) => 4,
                };
                let mut covered = vec![ty];
                covered.extend_from_slice(&rest[..n]);
                out.extend_from_slice(&masked_crc32c(&covered).to_le_bytes());
                out.extend_from_slice(&u16::try_from(n).unwrap().to_le_bytes());
                out.extend_from_slice(&covered);
                rest = &rest[n..];
                first = false;
                if last {
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn the_checksum_is_crc32c_masked() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        // The spec's example chunk: `a1 17 77 4a` over the type byte and a 32-byte payload.
        let mut covered = vec![1u8];
        covered.extend_from_slice(b"\x01\x1aleveldb.BytewiseComparator\x03\x02\x04\x00");
        assert_eq!(covered.len(), 33);
        assert_eq!(masked_crc32c(&covered), 0x4a77_17a1);
    }

    proptest! {
        #[test]
        fn records_round_trip_across_blocks(
            records in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..40_000), 0..6),
        ) {
            let log = write_log(&records);
            prop_assert_eq!(read_records("t", &log, 0).unwrap(), records);
        }

        /// A flipped byte is a typed error or (in padding) harmless; never a panic.
        #[test]
        fn damage_is_an_error_not_a_panic(
            records in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 1..2_000), 1..4),
            at in any::<prop::sample::Index>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut log = write_log(&records);
            let i = at.index(log.len());
            log[i] ^= 0x5a;
            if let Ok(got) = read_records("t", &log, 0) {
                prop_assert_eq!(got, records.clone());
            }
            // A cut at a record boundary reads the records before it; any other cut fails.
            let log = write_log(&records);
            let truncated = &log[..cut.index(log.len())];
            if let Ok(got) = read_records("t", truncated, 0) {
                prop_assert!(records.starts_with(&got));
            }
        }
    }

    #[test]
    fn the_eof_trailer_of_a_wal_ends_it_cleanly() {
        // A recyclable full chunk of log 7, then the trailer naming log 8.
        let mut log = Vec::new();
        let mut covered = vec![5u8];
        covered.extend_from_slice(&7u32.to_le_bytes());
        covered.extend_from_slice(b"batch");
        log.extend_from_slice(&masked_crc32c(&covered).to_le_bytes());
        log.extend_from_slice(&5u16.to_le_bytes());
        log.extend_from_slice(&covered);
        log.extend_from_slice(&[0, 0, 0, 0, 0, 0, 5]);
        log.extend_from_slice(&8u32.to_le_bytes());
        assert_eq!(read_records("w", &log, 7).unwrap(), vec![b"batch".to_vec()]);
        assert!(
            read_records("w", &log, 9).is_err(),
            "a chunk of another log"
        );
    }
}
