//! WAL replay (`../shared/spec/format-pebble.md` §4): the batches of every WAL file at or
//! above the MANIFEST's log number, decoded into points and range tombstones. baton
//! empties its WALs before saving, so its files replay to nothing; a file another writer
//! saved without flushing still reads whole.

use super::PebbleDir;
use super::colblk::{DataRow, Span};
use super::merge::kind;
use super::record;
use crate::error::{Error, Result};

/// What the WAL files hold.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Points in internal-key order (key ascending, trailer descending).
    pub points: Vec<DataRow>,
    /// Range tombstones, each with one trailer.
    pub range_dels: Vec<Span>,
}

fn varstring<'a>(file: &str, rest: &mut &'a [u8]) -> Result<&'a [u8]> {
    let bad = || Error::corrupt("pebble wal", format!("{file}: malformed batch entry"));
    let len = prost::encoding::decode_varint(rest).map_err(|_| bad())?;
    let len = u32::try_from(len).map_err(|_| bad())? as usize;
    if rest.len() < len {
        return Err(bad());
    }
    let (s, tail) = rest.split_at(len);
    *rest = tail;
    Ok(s)
}

/// Decodes one batch (a WAL record) into `out`.
///
/// # Errors
/// [`Error::Corrupt`] for a malformed batch or a count that disagrees with its entries;
/// [`Error::Unsupported`] for kinds baton never writes (merges, range keys, flushable
/// ingests).
pub fn decode_batch(file: &str, batch: &[u8], out: &mut Replayed) -> Result<()> {
    let bad = |what: &str| Error::corrupt("pebble wal", format!("{file}: {what}"));
    if batch.len() < 12 {
        return Err(bad("batch shorter than its header"));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&batch[..8]);
    let first = u64::from_le_bytes(seq);
    let count = u32::from_le_bytes([batch[8], batch[9], batch[10], batch[11]]);
    let mut rest = &batch[12..];
    let mut n: u64 = 0;
    while let Some((&k, tail)) = rest.split_first() {
        rest = tail;
        let seqnum = first
            .checked_add(n)
            .ok_or_else(|| bad("sequence overflow"))?;
        let trailer = (seqnum << 8) | u64::from(k);
        match k {
            kind::SET => {
                let key = varstring(file, &mut rest)?.to_vec();
                let value = varstring(file, &mut rest)?.to_vec();
                out.points.push(DataRow {
                    key,
                    trailer,
                    value,
                });
            }
            kind::DEL | kind::SINGLEDEL => {
                let key = varstring(file, &mut rest)?.to_vec();
                out.points.push(DataRow {
                    key,
                    trailer,
                    value: Vec::new(),
                });
            }
            kind::DELSIZED => {
                let key = varstring(file, &mut rest)?.to_vec();
                prost::encoding::decode_varint(&mut rest)
                    .map_err(|_| bad("malformed size hint"))?;
                out.points.push(DataRow {
                    key,
                    trailer,
                    value: Vec::new(),
                });
            }
            kind::RANGEDEL => {
                let start = varstring(file, &mut rest)?.to_vec();
                let end = varstring(file, &mut rest)?.to_vec();
                out.range_dels.push(Span {
                    start,
                    end,
                    trailers: vec![trailer],
                });
            }
            // LOGDATA: opaque, takes no seqnum.
            3 => {
                varstring(file, &mut rest)?;
                continue;
            }
            kind::MERGE => {
                return Err(Error::Unsupported {
                    engine: "pebble",
                    operation: "merge operands",
                });
            }
            19..=21 => {
                return Err(Error::Unsupported {
                    engine: "pebble",
                    operation: "range keys",
                });
            }
            22 | 24 => {
                return Err(Error::Unsupported {
                    engine: "pebble",
                    operation: "WAL batches that ingest or excise tables",
                });
            }
            other => return Err(bad(&format!("batch entry of kind {other}"))),
        }
        n += 1;
    }
    if n != u64::from(count) {
        return Err(bad(&format!("batch count {count} but {n} entries")));
    }
    Ok(())
}

/// Replays every WAL of `dir` (numbers at or above the MANIFEST's log number, ascending).
///
/// # Errors
/// [`Error::Io`]; as [`decode_batch`] and [`record::read_records`].
pub fn replay(dir: &PebbleDir) -> Result<Replayed> {
    let mut out = Replayed::default();
    for &number in &dir.wals {
        let name = format!("{number:06}.log");
        let path = dir.path.join(&name);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        for batch in record::read_records(&name, &bytes, number)? {
            decode_batch(&name, &batch, &mut out)?;
        }
    }
    out.points
        .sort_by(|a, b| a.key.cmp(&b.key).then(b.trailer.cmp(&a.trailer)));
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(out: &mut Vec<u8>, kind: u8, parts: &[&[u8]]) {
        out.push(kind);
        for p in parts {
            prost::encoding::encode_varint(p.len() as u64, out);
            out.extend_from_slice(p);
        }
    }

    #[test]
    fn batches_decode_into_points_and_tombstones() {
        let mut b = 100u64.to_le_bytes().to_vec();
        b.extend_from_slice(&4u32.to_le_bytes());
        entry(&mut b, kind::SET, &[b"a", b"1"]);
        entry(&mut b, 3, &[b"opaque"]);
        entry(&mut b, kind::DEL, &[b"b"]);
        entry(&mut b, kind::RANGEDEL, &[b"c", b"d"]);
        entry(&mut b, kind::SET, &[b"a", b"2"]);
        let mut out = Replayed::default();
        decode_batch("x.log", &b, &mut out).unwrap();
        assert_eq!(out.points.len(), 3);
        assert_eq!(out.points[0].trailer, (100 << 8) | 1);
        assert_eq!(out.points[1].trailer, 101 << 8);
        assert_eq!(out.points[2].trailer, (103 << 8) | 1);
        assert_eq!(out.range_dels[0].trailers, vec![(102 << 8) | 15]);

        let mut wrong = b.clone();
        wrong[8] = 9;
        assert!(decode_batch("x.log", &wrong, &mut Replayed::default()).is_err());
        assert!(decode_batch("x.log", &b[..b.len() - 1], &mut Replayed::default()).is_err());
        assert!(decode_batch("x.log", &b[..5], &mut Replayed::default()).is_err());
        let mut ingest = 1u64.to_le_bytes().to_vec();
        ingest.extend_from_slice(&1u32.to_le_bytes());
        ingest.extend_from_slice(&[22, 1, 7]);
        assert!(matches!(
            decode_batch("x.log", &ingest, &mut Replayed::default()),
            Err(Error::Unsupported { .. })
        ));
    }

    fn batch(seq: u64, entries: &[(u8, &[&[u8]])]) -> Vec<u8> {
        let mut b = seq.to_le_bytes().to_vec();
        b.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for (k, parts) in entries {
            entry(&mut b, *k, parts);
        }
        b
    }

    /// A WAL that holds data (a writer saved without flushing): its batches are read back
    /// through the merged view, newest first, tombstones applied.
    #[test]
    fn a_wal_with_data_replays_into_the_merged_view() {
        let dir = tempfile::tempdir().unwrap();
        let log = crate::engine::pebble::record::tests::write_log(&[
            batch(
                10,
                &[(kind::SET, &[b"a", b"1"]), (kind::SET, &[b"b", b"2"])],
            ),
            batch(12, &[(kind::DEL, &[b"a"]), (kind::RANGEDEL, &[b"b", b"c"])]),
            batch(
                14,
                &[(kind::SET, &[b"b", b"3"]), (kind::SET, &[b"d", b"4"])],
            ),
        ]);
        std::fs::write(dir.path().join("000005.log"), log).unwrap();
        let pebble = PebbleDir {
            path: dir.path().to_owned(),
            format_major_version: 24,
            manifest: "MANIFEST-000001".into(),
            version: Default::default(),
            wals: vec![5],
        };
        let db =
            std::sync::Arc::new(crate::engine::pebble::merge::Db::open(pebble, 1 << 20).unwrap());
        let live: Vec<(Vec<u8>, Vec<u8>)> =
            db.scan(&[], None).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(
            live,
            vec![
                (b"b".to_vec(), b"3".to_vec()),
                (b"d".to_vec(), b"4".to_vec())
            ]
        );
        assert_eq!(db.get(b"a").unwrap(), None);
        assert_eq!(db.get(b"d").unwrap(), Some(b"4".to_vec()));
    }
}
