//! One Pebble table, logically: its metaindex, properties, flattened index and range
//! deletions read at open, its data blocks decoded on demand — columnar (table formats
//! v5–v7) or row-based (v1–v4) alike (`../shared/spec/format-pebble.md` §6.7–6.12, §7).

use std::path::Path;

use super::colblk::{self, DataBlock, DataRow, Span};
use super::rowblk;
use super::table::{BlockHandle, TableFile, attribute};
use crate::error::{Error, Result};

/// One data block of a table: the handle and a separator at or above its last key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataBlockRef {
    /// A user key ≥ every key of the block and ≤ every key of the next one.
    pub separator: Vec<u8>,
    /// Where the block is.
    pub handle: BlockHandle,
}

/// An open table.
#[derive(Debug)]
pub struct Sst {
    /// The physical file.
    pub file: TableFile,
    /// Every data block in key order (a two-level index flattened).
    pub blocks: Vec<DataBlockRef>,
    /// The table's range deletions as stored (no per-table transform applied).
    pub range_dels: Vec<Span>,
    /// The properties block, as `(name, value)` pairs.
    pub properties: Vec<(Vec<u8>, Vec<u8>)>,
}

fn bad(file: &TableFile, what: impl std::fmt::Display) -> Error {
    Error::corrupt("pebble table", format!("{}: {what}", file.name))
}

fn handle_value(file: &TableFile, what: &str, value: &[u8]) -> Result<BlockHandle> {
    BlockHandle::decode(value)
        .map(|(h, _)| h)
        .ok_or_else(|| bad(file, format!("malformed {what} handle")))
}

impl Sst {
    /// Opens the table at `path`.
    ///
    /// # Errors
    /// As [`Sst::from_file`].
    pub fn open(path: &Path) -> Result<Self> {
        Self::from_file(TableFile::read(path)?)
    }

    /// Reads a table's metaindex, properties, index and range deletions.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the file for any damaged block (checksums are verified)
    /// or an index that disagrees with the footer; [`Error::Unsupported`] for another
    /// comparator or key schema, values in blob files, the legacy range-deletion block.
    pub fn from_file(file: TableFile) -> Result<Self> {
        let meta_block = file.block(file.footer.metaindex)?;
        let meta = if file.footer.version >= 6 {
            colblk::key_value_block(&meta_block)?
        } else {
            rowblk::entries(&meta_block)?
        };
        let mut properties = Vec::new();
        let mut range_del = None;
        for (name, value) in &meta {
            match name.as_slice() {
                b"rocksdb.properties" => {
                    let h = handle_value(&file, "properties", value)?;
                    let block = file.block(h)?;
                    properties = if file.footer.version >= 7 {
                        colblk::key_value_block(&block)?
                    } else {
                        rowblk::entries(&block)?
                    };
                }
                b"rocksdb.range_del2" => {
                    range_del = Some(handle_value(&file, "range-deletion", value)?);
                }
                b"rocksdb.range_del" => {
                    return Err(bad(&file, "legacy range-deletion block"));
                }
                b"pebble.value_index" => {
                    return Err(Error::Unsupported {
                        engine: "pebble",
                        operation: "tables with value blocks",
                    });
                }
                _ => {}
            }
        }
        let property = |name: &[u8]| {
            properties
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_slice())
        };
        if let Some(c) = property(b"rocksdb.comparator")
            && c != b"leveldb.BytewiseComparator"
        {
            return Err(Error::UnsupportedFormat {
                reason: format!("{}: comparator '{}'", file.name, String::from_utf8_lossy(c)),
            });
        }
        if let Some(schema) = property(b"pebble.colblk.schema")
            && !schema.starts_with(b"DefaultKeySchema(")
        {
            return Err(Error::UnsupportedFormat {
                reason: format!(
                    "{}: key schema '{}'",
                    file.name,
                    String::from_utf8_lossy(schema)
                ),
            });
        }
        if property(b"pebble.num.values.in.blob-files").is_some_and(|v| v != [0]) {
            return Err(Error::Unsupported {
                engine: "pebble",
                operation: "tables with blob values",
            });
        }
        let index_type = property(b"rocksdb.block.based.table.index.type")
            .filter(|v| v.len() == 4)
            .map(|v| u32::from_le_bytes([v[0], v[1], v[2], v[3]]));
        let two_level = if file.footer.version >= 7 {
            let by_footer = file.footer.attributes & attribute::TWO_LEVEL_INDEX != 0;
            if index_type.is_some_and(|t| (t == 2) != by_footer) {
                return Err(bad(&file, "index type property disagrees with the footer"));
            }
            by_footer
        } else {
            index_type == Some(2)
        };
        let top = index_rows(&file, file.footer.index)?;
        let blocks = if two_level {
            let mut out = Vec::new();
            for partition in top {
                let rows = index_rows(&file, partition.handle)?;
                if rows.last().map(|r| &r.separator) != Some(&partition.separator) {
                    return Err(bad(&file, "index partition's last separator mismatch"));
                }
                out.extend(rows);
            }
            out
        } else {
            top
        };
        if let Some(n) = property(b"rocksdb.num.data.blocks") {
            let mut rest = n;
            if prost::encoding::decode_varint(&mut rest).ok() != Some(blocks.len() as u64) {
                return Err(bad(&file, "index rows disagree with the data block count"));
            }
        }
        let range_dels = match range_del {
            None => Vec::new(),
            Some(h) => {
                let block = file.block(h)?;
                if file.is_columnar() {
                    colblk::keyspan_block(&block)?
                } else {
                    row_range_dels(&block)?
                }
            }
        };
        Ok(Sst {
            file,
            blocks,
            range_dels,
            properties,
        })
    }

    /// The rows of one data block, in internal-key order.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a damaged block; [`Error::Unsupported`] for values stored
    /// out of line.
    pub fn data_rows(&self, handle: BlockHandle) -> Result<DataBlock> {
        let block = self.file.block(handle)?;
        if self.file.is_columnar() {
            return colblk::packed_data_block(block);
        }
        let value_prefix = self.file.footer.version >= 3;
        let rows = rowblk::entries(&block)?
            .into_iter()
            .map(|(key, mut value)| {
                let (user, trailer) = rowblk::split_internal_key(&key)?;
                // v3+: every SET's value starts with a value-prefix byte (§7.8).
                if value_prefix && (trailer & 0xff) as u8 & 0xbf == 1 {
                    match value.first() {
                        Some(p) if p & 0xc0 == 0 => {
                            value.remove(0);
                        }
                        Some(_) => {
                            return Err(Error::Unsupported {
                                engine: "pebble",
                                operation: "values stored out of line (value blocks or blob files)",
                            });
                        }
                        None => return Err(bad(&self.file, "SET without its value prefix")),
                    }
                }
                Ok(DataRow {
                    key: user.to_vec(),
                    trailer,
                    value,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        DataBlock::from_rows(rows)
    }

    /// Reads every block the table references (for `verify`): each data block decodes
    /// with its checksum verified.
    ///
    /// # Errors
    /// The first damaged block's error.
    pub fn verify_blocks(&self) -> Result<usize> {
        for b in &self.blocks {
            self.data_rows(b.handle)?;
        }
        Ok(self.blocks.len())
    }
}

/// The rows of an index block (or partition) as data-block references.
fn index_rows(file: &TableFile, handle: BlockHandle) -> Result<Vec<DataBlockRef>> {
    let block = file.block(handle)?;
    if file.is_columnar() {
        return Ok(colblk::index_block(&block)?
            .into_iter()
            .map(|r| DataBlockRef {
                separator: r.separator,
                handle: r.handle,
            })
            .collect());
    }
    rowblk::entries(&block)?
        .into_iter()
        .map(|(key, value)| {
            let (user, _) = rowblk::split_internal_key(&key)?;
            Ok(DataBlockRef {
                separator: user.to_vec(),
                handle: handle_value(file, "index", &value)?,
            })
        })
        .collect()
}

/// Row-based range deletions: internal key `(start, seq, RANGEDEL)` → end user key.
fn row_range_dels(block: &[u8]) -> Result<Vec<Span>> {
    rowblk::entries(block)?
        .into_iter()
        .map(|(key, end)| {
            let (start, trailer) = rowblk::split_internal_key(&key)?;
            Ok(Span {
                start: start.to_vec(),
                end,
                trailers: vec![trailer],
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::engine::pebble::record::masked_crc32c;
    use crate::engine::pebble::table::PEBBLE_MAGIC;

    /// A row-based block with a restart at every entry.
    fn row_block(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut restarts = Vec::new();
        for (k, v) in entries {
            restarts.push(out.len() as u32);
            for n in [0, k.len(), v.len()] {
                prost::encoding::encode_varint(n as u64, &mut out);
            }
            out.extend_from_slice(k);
            out.extend_from_slice(v);
        }
        for r in &restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
        out
    }

    fn ikey(user: &[u8], seq: u64, kind: u8) -> Vec<u8> {
        let mut k = user.to_vec();
        k.extend_from_slice(&((seq << 8) | u64::from(kind)).to_le_bytes());
        k
    }

    fn handle(h: BlockHandle) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::encode_varint(h.offset, &mut out);
        prost::encoding::encode_varint(h.length, &mut out);
        out
    }

    /// Appends a block with its trailer (uncompressed, CRC-32C) and returns its handle.
    fn push(file: &mut Vec<u8>, block: &[u8]) -> BlockHandle {
        let h = BlockHandle {
            offset: file.len() as u64,
            length: block.len() as u64,
        };
        file.extend_from_slice(block);
        file.push(0);
        let crc = masked_crc32c(&file[h.offset as usize..]);
        file.extend_from_slice(&crc.to_le_bytes());
        h
    }

    /// A table format v4 table, built by hand: two data blocks (value prefixes on SETs, a
    /// DEL), a row-based range deletion, index, properties and metaindex, a 53-byte footer.
    fn v4_table(prefix: u8) -> Vec<u8> {
        let mut file = Vec::new();
        let d0 = push(
            &mut file,
            &row_block(&[
                (ikey(b"a", 12, 1), [&[prefix][..], b"one"].concat()),
                (ikey(b"b", 11, 0), Vec::new()),
            ]),
        );
        let d1 = push(
            &mut file,
            &row_block(&[(ikey(b"c", 13, 1), [&[0x20u8][..], b"three"].concat())]),
        );
        let rd = push(
            &mut file,
            &row_block(&[(ikey(b"b", 14, 15), b"bz".to_vec())]),
        );
        let sep = (1u64 << 56) - 1;
        let index = push(
            &mut file,
            &row_block(&[
                (ikey(b"b", sep, 17), handle(d0)),
                (ikey(b"d", sep, 17), handle(d1)),
            ]),
        );
        let props = push(
            &mut file,
            &row_block(&[
                (
                    b"rocksdb.comparator".to_vec(),
                    b"leveldb.BytewiseComparator".to_vec(),
                ),
                (b"rocksdb.num.data.blocks".to_vec(), vec![2]),
            ]),
        );
        let meta = push(
            &mut file,
            &row_block(&[
                (b"rocksdb.properties".to_vec(), handle(props)),
                (b"rocksdb.range_del2".to_vec(), handle(rd)),
            ]),
        );
        let mut footer = vec![1u8];
        footer.extend(handle(meta));
        footer.extend(handle(index));
        footer.resize(41, 0);
        footer.extend_from_slice(&4u32.to_le_bytes());
        footer.extend_from_slice(&PEBBLE_MAGIC);
        assert_eq!(footer.len(), 53);
        file.extend(footer);
        file
    }

    #[test]
    fn row_based_tables_read_like_columnar_ones() {
        let sst =
            Sst::from_file(TableFile::from_bytes("v4.sst".into(), v4_table(0)).unwrap()).unwrap();
        assert!(!sst.file.is_columnar());
        assert_eq!(
            sst.blocks
                .iter()
                .map(|b| b.separator.clone())
                .collect::<Vec<_>>(),
            vec![b"b".to_vec(), b"d".to_vec()]
        );
        let rows = sst.data_rows(sst.blocks[0].handle).unwrap().rows();
        assert_eq!(
            rows,
            vec![
                DataRow {
                    key: b"a".to_vec(),
                    trailer: (12 << 8) | 1,
                    value: b"one".to_vec(),
                },
                DataRow {
                    key: b"b".to_vec(),
                    trailer: 11 << 8,
                    value: Vec::new(),
                },
            ]
        );
        assert_eq!(
            sst.data_rows(sst.blocks[1].handle).unwrap().value(0),
            b"three"
        );
        assert_eq!(
            sst.range_dels,
            vec![Span {
                start: b"b".to_vec(),
                end: b"bz".to_vec(),
                trailers: vec![(14 << 8) | 15],
            }]
        );
        assert_eq!(sst.verify_blocks().unwrap(), 2);
        // A value stored out of line (prefix 0x80: a value-block handle) is refused.
        let sst = Sst::from_file(TableFile::from_bytes("v4.sst".into(), v4_table(0x80)).unwrap())
            .unwrap();
        assert!(matches!(
            sst.data_rows(sst.blocks[0].handle),
            Err(Error::Unsupported { .. })
        ));
        // Every flipped byte is an error or the same rows, never a panic.
        let good = v4_table(0);
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x08;
            if let Ok(t) = TableFile::from_bytes("v4.sst".into(), b)
                && let Ok(s) = Sst::from_file(t)
            {
                let _ = s.verify_blocks();
            }
        }
    }
}
