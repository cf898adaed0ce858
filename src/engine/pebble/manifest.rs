//! Pebble's MANIFEST: version edits replayed into the live version, the tables of each level
//! with their bounds, sequence numbers and (for virtual tables) backing files
//! (`../shared/spec/format-pebble.md` §3).

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// Levels of an LSM tree (L0 to L6).
pub const LEVELS: usize = 7;

/// The greatest sequence number; with a range kind, a largest bound that excludes its user
/// key.
pub const MAX_SEQNUM: u64 = (1 << 56) - 1;

/// A key as the MANIFEST stores a table's bounds: user key, sequence number and kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternalKey {
    /// The user key.
    pub user_key: Vec<u8>,
    /// The sequence number (56 bits).
    pub seqnum: u64,
    /// The kind (0 DEL, 1 SET, 15 RANGEDEL, ...).
    pub kind: u8,
}

impl InternalKey {
    /// Whether this largest bound excludes its own user key (a range end at the greatest
    /// sequence number).
    #[must_use]
    pub fn is_exclusive_sentinel(&self) -> bool {
        self.seqnum == MAX_SEQNUM && matches!(self.kind, 15 | 19 | 20 | 21)
    }
}

/// A live table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Its table number (a physical table's file is `<number>.sst`).
    pub number: u64,
    /// Its size in bytes (an estimate for a virtual table).
    pub size: u64,
    /// Smallest and largest bound (over point and range keys).
    pub smallest: InternalKey,
    /// See [`Table::smallest`].
    pub largest: InternalKey,
    /// Smallest and largest sequence number; when equal, every key of the table takes it
    /// (an ingested table stores 0 on disk).
    pub smallest_seq: u64,
    /// See [`Table::smallest_seq`].
    pub largest_seq: u64,
    /// For a virtual table, the backing file number: its keys are those of
    /// `<backing>.sst` within the bounds.
    pub backing: Option<u64>,
}

impl Table {
    /// The file holding the table's bytes.
    #[must_use]
    pub fn file_number(&self) -> u64 {
        self.backing.unwrap_or(self.number)
    }
}

/// The live version a MANIFEST describes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Version {
    /// The comparator's name (baton: `leveldb.BytewiseComparator`).
    pub comparator: String,
    /// Live tables per level, by table number.
    pub levels: [BTreeMap<u64, Table>; LEVELS],
    /// Registered backing files (file number → size) of virtual tables.
    pub backings: BTreeMap<u64, u64>,
    /// The smallest WAL number that may hold unflushed data.
    pub log_number: u64,
    /// The next file number.
    pub next_file_number: u64,
    /// The last sequence number of flushed data.
    pub last_sequence: u64,
    /// Version edits replayed.
    pub edits: usize,
}

/// Reads varints and strings of one version edit, naming the file in errors.
struct Cursor<'a> {
    file: &'a str,
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn bad(&self, what: impl std::fmt::Display) -> Error {
        Error::corrupt("pebble manifest", format!("{}: {what}", self.file))
    }

    fn uvarint(&mut self, what: &str) -> Result<u64> {
        prost::encoding::decode_varint(&mut self.rest)
            .map_err(|_| self.bad(format!("truncated {what}")))
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8]> {
        let len = usize::try_from(self.uvarint(what)?).map_err(|_| self.bad(what))?;
        if self.rest.len() < len {
            return Err(self.bad(format!("truncated {what}")));
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(head)
    }

    fn byte(&mut self, what: &str) -> Result<u8> {
        let (&b, rest) = self
            .rest
            .split_first()
            .ok_or_else(|| self.bad(format!("truncated {what}")))?;
        self.rest = rest;
        Ok(b)
    }

    fn level(&mut self) -> Result<usize> {
        let level = self.uvarint("level")?;
        usize::try_from(level)
            .ok()
            .filter(|l| *l < LEVELS)
            .ok_or_else(|| self.bad(format!("level {level}")))
    }

    fn internal_key(&mut self, what: &str) -> Result<InternalKey> {
        let b = self.bytes(what)?;
        let Some(split) = b.len().checked_sub(8) else {
            return Err(self.bad(format!("{what} shorter than its trailer")));
        };
        let (user_key, trailer) = b.split_at(split);
        let mut t = [0u8; 8];
        t.copy_from_slice(trailer);
        let trailer = u64::from_le_bytes(t);
        Ok(InternalKey {
            user_key: user_key.to_vec(),
            seqnum: trailer >> 8,
            kind: (trailer & 0xff) as u8,
        })
    }
}

/// One new-table entry of an edit (tags 7, 100, 102, 103, 104).
fn new_table(c: &mut Cursor<'_>, tag: u64) -> Result<(usize, Table)> {
    let level = c.level()?;
    let number = c.uvarint("table number")?;
    if tag == 102 {
        c.uvarint("path id")?;
    }
    let size = c.uvarint("table size")?;
    let (smallest, largest) = if tag == 104 {
        let marker = c.byte("bounds marker")?;
        let point = if marker & 1 != 0 {
            Some((
                c.internal_key("smallest point key")?,
                c.internal_key("largest point key")?,
            ))
        } else {
            None
        };
        let range = (
            c.internal_key("smallest range key")?,
            c.internal_key("largest range key")?,
        );
        let pick = |bit: u8, p: Option<&InternalKey>, r: &InternalKey| match p {
            Some(p) if marker & bit != 0 => p.clone(),
            _ => r.clone(),
        };
        (
            pick(2, point.as_ref().map(|p| &p.0), &range.0),
            pick(4, point.as_ref().map(|p| &p.1), &range.1),
        )
    } else {
        (
            c.internal_key("smallest key")?,
            c.internal_key("largest key")?,
        )
    };
    let (smallest_seq, largest_seq) = if tag == 7 {
        (0, 0)
    } else {
        (c.uvarint("smallest seqnum")?, c.uvarint("largest seqnum")?)
    };
    let mut backing = None;
    if matches!(tag, 103 | 104) {
        loop {
            match c.uvarint("custom tag")? {
                1 => break,
                66 => backing = Some(c.uvarint("virtual table backing")?),
                65 => return Err(c.bad("custom tag 65 (path id)")),
                67 | 68 => {
                    return Err(Error::Unsupported {
                        engine: "pebble",
                        operation: "tables with a synthetic prefix or suffix",
                    });
                }
                69 => {
                    return Err(Error::Unsupported {
                        engine: "pebble",
                        operation: "tables with blob references (value separation)",
                    });
                }
                t if t < 64 => {
                    c.bytes("custom field")?;
                }
                t => return Err(c.bad(format!("unknown custom tag {t}"))),
            }
        }
    }
    Ok((
        level,
        Table {
            number,
            size,
            smallest,
            largest,
            smallest_seq,
            largest_seq,
            backing,
        },
    ))
}

/// What one edit changes, applied after it is decoded whole (deletions before additions:
/// a table may move levels within one edit).
#[derive(Default)]
struct Edit {
    comparator: Option<String>,
    log_number: u64,
    next_file_number: u64,
    last_sequence: u64,
    deleted: Vec<(usize, u64)>,
    added: Vec<(usize, Table)>,
    new_backings: Vec<(u64, u64)>,
    removed_backings: Vec<u64>,
}

fn decode_edit(file: &str, record: &[u8]) -> Result<Edit> {
    let mut c = Cursor { file, rest: record };
    let mut e = Edit::default();
    while !c.rest.is_empty() {
        match c.uvarint("tag")? {
            1 => {
                let name = c.bytes("comparator")?;
                e.comparator = Some(String::from_utf8_lossy(name).into_owned());
            }
            2 => e.log_number = c.uvarint("log number")?,
            3 => e.next_file_number = c.uvarint("next file number")?,
            4 => e.last_sequence = c.uvarint("last sequence")?,
            5 => {
                c.level()?;
                c.bytes("compact pointer")?;
            }
            6 => {
                let level = c.level()?;
                e.deleted.push((level, c.uvarint("deleted table")?));
            }
            9 => {
                c.uvarint("prev log number")?;
            }
            tag @ (7 | 100 | 102 | 103 | 104) => e.added.push(new_table(&mut c, tag)?),
            105 => {
                let number = c.uvarint("backing number")?;
                e.new_backings.push((number, c.uvarint("backing size")?));
            }
            106 => e.removed_backings.push(c.uvarint("backing number")?),
            107 | 108 => {
                return Err(Error::Unsupported {
                    engine: "pebble",
                    operation: "blob files (value separation)",
                });
            }
            tag => return Err(c.bad(format!("unknown version edit tag {tag}"))),
        }
    }
    Ok(e)
}

/// Replays a MANIFEST's records (see [`super::record::read_records`]) into the live
/// version.
///
/// # Errors
/// [`Error::Corrupt`] naming `file`: a malformed edit, a level past 6, a deleted table that
/// is not live, a virtual table whose backing is not registered, a table live twice, or no
/// comparator; [`Error::Unsupported`] for blob files and synthetic prefixes or suffixes.
pub fn replay(file: &str, records: &[Vec<u8>]) -> Result<Version> {
    let bad = |what: String| Error::corrupt("pebble manifest", format!("{file}: {what}"));
    let mut v = Version::default();
    for (i, record) in records.iter().enumerate() {
        let e = decode_edit(file, record)?;
        if let Some(name) = e.comparator {
            v.comparator = name;
        }
        for (field, value) in [
            (&mut v.log_number, e.log_number),
            (&mut v.next_file_number, e.next_file_number),
            (&mut v.last_sequence, e.last_sequence),
        ] {
            if value != 0 {
                *field = value;
            }
        }
        for (level, number) in e.deleted {
            if v.levels[level].remove(&number).is_none() {
                return Err(bad(format!(
                    "edit {i} deletes table {number}, not live in L{level}"
                )));
            }
        }
        for (number, size) in e.new_backings {
            v.backings.insert(number, size);
        }
        for number in e.removed_backings {
            v.backings.remove(&number);
        }
        for (level, table) in e.added {
            if let Some(backing) = table.backing
                && !v.backings.contains_key(&backing)
            {
                return Err(bad(format!(
                    "edit {i}: virtual table {} on unregistered backing {backing}",
                    table.number
                )));
            }
            if v.levels.iter().any(|l| l.contains_key(&table.number)) {
                return Err(bad(format!("edit {i}: table {} live twice", table.number)));
            }
            v.levels[level].insert(table.number, table);
        }
        v.edits = i + 1;
    }
    if v.comparator.is_empty() {
        return Err(bad("no comparator".into()));
    }
    Ok(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn varint(out: &mut Vec<u8>, v: u64) {
        prost::encoding::encode_varint(v, out);
    }

    fn key(out: &mut Vec<u8>, user: &[u8], seq: u64, kind: u8) {
        varint(out, user.len() as u64 + 8);
        out.extend_from_slice(user);
        out.extend_from_slice(&((seq << 8) | u64::from(kind)).to_le_bytes());
    }

    /// The spec's worked record 1 of v025's MANIFEST, with short keys.
    fn new_file_edit() -> Vec<u8> {
        let mut e = vec![
            0x03, 0x06, 0x04, 0xef, 0x12, 0x67, 0x06, 0x05, 0x8f, 0x99, 0x01,
        ];
        key(&mut e, b"\x03\x07app", 2415, 1);
        key(&mut e, b"\x03\x07role", 2415, 1);
        e.extend_from_slice(&[0xef, 0x12, 0xef, 0x12]);
        e.extend_from_slice(&[0x06, 0x05, 0xc0, 0x80, 0x8c, 0xd8, 0x06, 0x01]);
        e
    }

    #[test]
    fn edits_replay_into_levels() {
        let first = b"\x01\x1aleveldb.BytewiseComparator\x03\x02\x04\x00".to_vec();
        let v = replay("M", &[first.clone(), new_file_edit()]).unwrap();
        assert_eq!(v.comparator, "leveldb.BytewiseComparator");
        assert_eq!((v.next_file_number, v.last_sequence, v.edits), (6, 2415, 2));
        let t = &v.levels[6][&5];
        assert_eq!((t.size, t.smallest_seq, t.largest_seq), (19599, 2415, 2415));
        assert_eq!(t.smallest.user_key, b"\x03\x07app");
        assert_eq!((t.largest.seqnum, t.largest.kind), (2415, 1));
        // Moving it within one edit: deleted from L6, added to L5.
        let mut mv = vec![0x06, 0x06, 0x05];
        mv.extend_from_slice(&new_file_edit()[5..]);
        mv[3 + 1] = 0x05;
        let v = replay("M", &[first.clone(), new_file_edit(), mv]).unwrap();
        assert!(v.levels[6].is_empty());
        assert!(v.levels[5].contains_key(&5));
        // Deleting a table that is not live, or naming level 7, is corrupt.
        for bad in [vec![0x06, 0x06, 0x09], vec![0x06, 0x07, 0x05]] {
            let err = replay("MANIFEST-9", &[first.clone(), bad]).unwrap_err();
            assert!(err.to_string().contains("MANIFEST-9"), "{err}");
        }
    }

    #[test]
    fn every_truncation_of_a_table_entry_is_an_error() {
        let first = b"\x01\x1aleveldb.BytewiseComparator".to_vec();
        let edit = new_file_edit();
        // Bytes 0-4 are whole scalar fields; the new-table entry starts at 5.
        for cut in 6..edit.len() {
            assert!(
                replay("M", &[first.clone(), edit[..cut].to_vec()]).is_err(),
                "cut {cut}"
            );
        }
    }
}
