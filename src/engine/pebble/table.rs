//! Pebble SSTables, the physical layer: the footer (table formats Pebble v1 to v7), block
//! handles, block trailers with their checksums verified, and decompression
//! (`../shared/spec/format-pebble.md` §6.1–6.6). Block contents (columnar and row-based)
//! are decoded by the layers above.

use std::path::Path;

use super::record::masked_crc32c;
use crate::error::{Error, Result};

/// The magic of Pebble table formats (the last 8 bytes of a table).
pub const PEBBLE_MAGIC: [u8; 8] = [0xf0, 0x9f, 0xaa, 0xb3, 0xf0, 0x9f, 0xaa, 0xb3];
/// Bytes of the trailer after every block: compression indicator and checksum.
pub const BLOCK_TRAILER_LEN: usize = 5;

/// Footer attribute bits (table format v7).
pub mod attribute {
    /// Values in value blocks.
    pub const VALUE_BLOCKS: u32 = 0x01;
    /// Range-key sets, unsets or deletions.
    pub const RANGE_KEYS: u32 = 0x0e;
    /// Range deletions.
    pub const RANGE_DELS: u32 = 0x10;
    /// A two-level index.
    pub const TWO_LEVEL_INDEX: u32 = 0x20;
    /// Values in blob files.
    pub const BLOB_VALUES: u32 = 0x40;
    /// Point keys.
    pub const POINT_KEYS: u32 = 0x80;
}

/// Where a block is: its offset and length (without the trailer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHandle {
    /// File offset of the block's first byte.
    pub offset: u64,
    /// Bytes of the stored (possibly compressed) block.
    pub length: u64,
}

impl BlockHandle {
    /// Decodes a handle (`uvarint offset ‖ uvarint length`) from the front of `bytes`,
    /// returning the rest.
    pub(super) fn decode(bytes: &[u8]) -> Option<(BlockHandle, &[u8])> {
        let mut rest = bytes;
        let offset = prost::encoding::decode_varint(&mut rest).ok()?;
        let length = prost::encoding::decode_varint(&mut rest).ok()?;
        Some((BlockHandle { offset, length }, rest))
    }
}

/// A table's footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    /// Table format version (Pebble v1 to v7).
    pub version: u32,
    /// Checksum type of the blocks (1 CRC-32C, 3 xxHash64).
    pub checksum_type: u8,
    /// The metaindex block.
    pub metaindex: BlockHandle,
    /// The (top-level) index block.
    pub index: BlockHandle,
    /// Feature bits (v7; 0 before).
    pub attributes: u32,
}

/// Footer length of a table format version.
fn footer_len(version: u32) -> Option<usize> {
    match version {
        1..=5 => Some(53),
        6 => Some(57),
        7 => Some(61),
        _ => None,
    }
}

/// Where a table's bytes are: the file itself (blocks are read with positioned reads, so
/// only the blocks a reader touches are in memory) or a buffer (tests, damaged copies).
#[derive(Debug)]
enum Source {
    File(std::fs::File),
    Memory(Vec<u8>),
}

/// A table file: its footer read and checked, its blocks read on demand.
#[derive(Debug)]
pub struct TableFile {
    /// The file's name (in errors).
    pub name: String,
    source: Source,
    len: u64,
    /// Its footer.
    pub footer: Footer,
}

/// Reads `buf.len()` bytes at `offset` without moving a cursor (safe across threads).
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            let n = std::os::windows::fs::FileExt::seek_read(
                file,
                &mut buf[done..],
                offset + done as u64,
            )?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
}

/// The footer of a table of `file_len` bytes whose last bytes are `tail`.
fn parse_footer(name: &str, tail: &[u8], file_len: u64) -> Result<Footer> {
    let bad = |what: String| Error::corrupt("pebble table", format!("{name}: {what}"));
    let n = tail.len();
    if n < 12 || tail[n - 8..] != PEBBLE_MAGIC {
        return Err(bad("no Pebble table magic".into()));
    }
    let version = u32::from_le_bytes([tail[n - 12], tail[n - 11], tail[n - 10], tail[n - 9]]);
    let len = footer_len(version).ok_or_else(|| bad(format!("table format version {version}")))?;
    if n < len {
        return Err(bad("shorter than its footer".into()));
    }
    let f = &tail[n - len..];
    let le = |at: usize| u32::from_le_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]]);
    let attributes = if version >= 6 {
        let (at, cks_at) = if version == 7 {
            (Some(41), 45)
        } else {
            (None, 41)
        };
        let mut covered = f[..cks_at].to_vec();
        covered.extend_from_slice(&f[cks_at + 4..]);
        if masked_crc32c(&covered) != le(cks_at) {
            return Err(bad("footer checksum mismatch".into()));
        }
        at.map_or(0, le)
    } else {
        0
    };
    let checksum_type = f[0];
    if !matches!(checksum_type, 1 | 3) {
        return Err(Error::Unsupported {
            engine: "pebble",
            operation: "block checksum types other than CRC-32C and xxHash64",
        });
    }
    let (metaindex, rest) =
        BlockHandle::decode(&f[1..]).ok_or_else(|| bad("malformed metaindex handle".into()))?;
    let (index, _) =
        BlockHandle::decode(rest).ok_or_else(|| bad("malformed index handle".into()))?;
    let footer_start = file_len - len as u64;
    for (what, h) in [("metaindex", metaindex), ("index", index)] {
        if h.offset
            .saturating_add(h.length)
            .saturating_add(BLOCK_TRAILER_LEN as u64)
            > footer_start
        {
            return Err(bad(format!("{what} handle outside the file")));
        }
    }
    for (bit, feature) in [
        (attribute::VALUE_BLOCKS, "tables with value blocks"),
        (attribute::RANGE_KEYS, "tables with range keys"),
        (attribute::BLOB_VALUES, "tables with blob values"),
    ] {
        if attributes & bit != 0 {
            return Err(Error::Unsupported {
                engine: "pebble",
                operation: feature,
            });
        }
    }
    Ok(Footer {
        version,
        checksum_type,
        metaindex,
        index,
        attributes,
    })
}

impl TableFile {
    /// Opens a table file and reads its footer.
    ///
    /// # Errors
    /// [`Error::Io`]; as [`TableFile::from_bytes`].
    pub fn read(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        // The longest footer is 61 bytes.
        let tail_len = len.min(64);
        let mut tail = vec![0u8; tail_len as usize];
        read_at(&file, &mut tail, len - tail_len).map_err(|e| Error::io(path, e))?;
        let footer = parse_footer(&name, &tail, len)?;
        Ok(TableFile {
            name,
            source: Source::File(file),
            len,
            footer,
        })
    }

    /// A table from its bytes, its footer checked.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the file: no Pebble magic, an unknown format version, a
    /// footer checksum mismatch (v6+), handles outside the file;
    /// [`Error::Unsupported`] for checksum types other than CRC-32C and xxHash64 and for
    /// features baton never writes (value blocks, range keys, blob values).
    pub fn from_bytes(name: String, bytes: Vec<u8>) -> Result<Self> {
        let len = bytes.len() as u64;
        let footer = parse_footer(&name, &bytes, len)?;
        Ok(TableFile {
            name,
            source: Source::Memory(bytes),
            len,
            footer,
        })
    }

    /// The file's length in bytes.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty (never, for a table that opened).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the table's data, index and range-deletion blocks are columnar (table
    /// format v5 and later) rather than row-based.
    #[must_use]
    pub fn is_columnar(&self) -> bool {
        self.footer.version >= 5
    }

    /// A block's contents: its trailer's checksum verified, then decompressed.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the file and offset: a handle outside the file, a
    /// checksum mismatch, data that does not decompress or decompresses to another length;
    /// [`Error::Unsupported`] for compressions other than none, Snappy and zstd (MinLZ
    /// named).
    pub fn block(&self, handle: BlockHandle) -> Result<Vec<u8>> {
        let bad = |what: &str| {
            Error::corrupt(
                "pebble table",
                format!("{}: block at offset {}: {what}", self.name, handle.offset),
            )
        };
        let total = handle
            .length
            .checked_add(BLOCK_TRAILER_LEN as u64)
            .filter(|t| handle.offset.checked_add(*t).is_some_and(|e| e <= self.len))
            .ok_or_else(|| bad("outside the file"))?;
        let total = usize::try_from(total).map_err(|_| bad("length"))?;
        let owned;
        let raw: &[u8] = match &self.source {
            Source::Memory(bytes) => {
                let start = usize::try_from(handle.offset).map_err(|_| bad("offset"))?;
                &bytes[start..start + total]
            }
            Source::File(file) => {
                let mut buf = vec![0u8; total];
                read_at(file, &mut buf, handle.offset).map_err(|e| {
                    Error::corrupt("pebble table", format!("{}: read: {e}", self.name))
                })?;
                owned = buf;
                &owned
            }
        };
        let end = total - BLOCK_TRAILER_LEN;
        let stored = &raw[..end];
        let indicator = raw[end];
        let t = &raw[end + 1..];
        let checksum = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let covered = &raw[..=end];
        let computed = match self.footer.checksum_type {
            1 => masked_crc32c(covered),
            // xxHash64's low 32 bits (the truncation is the format).
            _ => xxhash_rust::xxh64::xxh64(covered, 0) as u32,
        };
        if computed != checksum {
            return Err(bad("checksum mismatch"));
        }
        decompress(indicator, stored).map_err(|e| match e {
            Decompress::Unsupported(op) => Error::Unsupported {
                engine: "pebble",
                operation: op,
            },
            Decompress::Corrupt(why) => bad(&why),
        })
    }
}

enum Decompress {
    Unsupported(&'static str),
    Corrupt(String),
}

/// The largest decompressed block accepted (Pebble's blocks are tens of KiB; a claimed
/// size past this is damage, not data).
const MAX_BLOCK: usize = 256 << 20;

/// Undoes a block's compression (indicator 0 none, 1 Snappy raw, 7 zstd with a uvarint
/// length first).
fn decompress(indicator: u8, stored: &[u8]) -> std::result::Result<Vec<u8>, Decompress> {
    match indicator {
        0 => Ok(stored.to_vec()),
        1 => {
            // The claimed length comes from the block: bound it before allocating.
            let len = snap::raw::decompress_len(stored)
                .map_err(|e| Decompress::Corrupt(format!("snappy: {e}")))?;
            if len > MAX_BLOCK {
                return Err(Decompress::Corrupt(format!(
                    "snappy block of {len} bytes (limit {MAX_BLOCK})"
                )));
            }
            snap::raw::Decoder::new()
                .decompress_vec(stored)
                .map_err(|e| Decompress::Corrupt(format!("snappy: {e}")))
        }
        7 => {
            let mut rest = stored;
            let len = prost::encoding::decode_varint(&mut rest)
                .ok()
                .and_then(|l| usize::try_from(l).ok())
                .filter(|l| *l <= MAX_BLOCK)
                .ok_or_else(|| Decompress::Corrupt("zstd length".into()))?;
            let out = zstd::bulk::decompress(rest, len)
                .map_err(|e| Decompress::Corrupt(format!("zstd: {e}")))?;
            if out.len() != len {
                return Err(Decompress::Corrupt("zstd length mismatch".into()));
            }
            Ok(out)
        }
        8 => Err(Decompress::Unsupported("MinLZ-compressed blocks")),
        2..=6 => Err(Decompress::Unsupported(
            "zlib, bzip2, lz4 or xpress blocks (Pebble cannot read them either)",
        )),
        other => Err(Decompress::Corrupt(format!(
            "compression indicator {other}"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn snappy_and_zstd_blocks_decompress_and_bad_ones_fail() {
        let data = b"pebble pebble pebble pebble pebble".repeat(20);
        let snappy = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert!(matches!(decompress(1, &snappy), Ok(d) if d == data));
        let mut z = Vec::new();
        prost::encoding::encode_varint(data.len() as u64, &mut z);
        z.extend_from_slice(&zstd::bulk::compress(&data, 3).unwrap());
        assert!(matches!(decompress(7, &z), Ok(d) if d == data));
        assert!(matches!(
            decompress(1, &snappy[..snappy.len() / 2]),
            Err(Decompress::Corrupt(_))
        ));
        assert!(matches!(
            decompress(8, &[]),
            Err(Decompress::Unsupported(_))
        ));
        assert!(matches!(decompress(9, &[]), Err(Decompress::Corrupt(_))));
    }
}
