//! baton's Pebble payloads, read by c1z's own MANIFEST layer: the live versions the spec
//! lists for each sample (`format-pebble.md` §3.8, §8.8.1), and damaged MANIFESTs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use c1z::engine::pebble::PebbleDir;
use c1z::format::{v1::DecodeLimits, v3, v3_payload};

use crate::util::samples;

/// The payload of a v3 sample, extracted into a temp directory.
fn extracted(path: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let header = v3::read_header(path).unwrap();
    v3_payload::extract(path, &header, &db, DecodeLimits::default()).unwrap();
    (dir, db)
}

/// Live table numbers per level, and table → backing for virtual ones.
fn live(d: &PebbleDir) -> (BTreeMap<usize, Vec<u64>>, BTreeMap<u64, u64>) {
    let mut levels = BTreeMap::new();
    let mut virtuals = BTreeMap::new();
    for (level, tables) in d.version.levels.iter().enumerate() {
        if !tables.is_empty() {
            levels.insert(level, tables.keys().copied().collect());
        }
        for t in tables.values() {
            if let Some(b) = t.backing {
                virtuals.insert(t.number, b);
            }
        }
    }
    (levels, virtuals)
}

/// Every file holding a live table of the extracted database at `db`, opened.
fn live_tables(db: &Path) -> Vec<c1z::engine::pebble::table::TableFile> {
    let d = PebbleDir::open(db).unwrap();
    let files: std::collections::BTreeSet<u64> = d
        .version
        .levels
        .iter()
        .flat_map(|l| l.values().map(|t| t.file_number()))
        .collect();
    files
        .into_iter()
        .map(|n| {
            c1z::engine::pebble::table::TableFile::read(&db.join(format!("{n:06}.sst"))).unwrap()
        })
        .collect()
}

#[test]
fn v025_manifest_replays_to_the_specs_live_version() {
    let Some(s) = samples() else { return };
    for name in ["v025-full.pebble.c1z", "v025-full.tarzstd.pebble.c1z"] {
        let (_tmp, db) = extracted(&s.join("current").join(name));
        let d = PebbleDir::open(&db).unwrap();
        assert_eq!(d.format_major_version, 24);
        assert_eq!(d.manifest, "MANIFEST-000001");
        let v = &d.version;
        assert_eq!(v.edits, 13, "{name}");
        assert_eq!(
            (v.log_number, v.next_file_number, v.last_sequence),
            (27, 29, 2618)
        );
        let (levels, virtuals) = live(&d);
        assert_eq!(
            levels,
            BTreeMap::from([(0, vec![28]), (6, vec![18, 19, 21, 22, 24, 25, 26])])
        );
        assert_eq!(
            virtuals,
            BTreeMap::from([(19, 16), (22, 16), (25, 16), (26, 16)])
        );
        assert!(v.backings.contains_key(&16));
        let l0 = &v.levels[0][&28];
        assert_eq!((l0.smallest_seq, l0.largest_seq), (2529, 2618));
        assert_eq!(l0.smallest.user_key, b"\x03\x06");
        assert_eq!(l0.largest.user_key, b"\x03\xffstats\x00");
        let ingested = &v.levels[6][&18];
        assert_eq!((ingested.smallest_seq, ingested.largest_seq), (2525, 2525));
        assert_eq!(
            v.levels[6][&22].smallest.user_key,
            b"\x03\x05\x00asset:app-icon"
        );
        assert_eq!(d.wals, vec![27]);
    }
}

#[test]
fn the_older_writers_manifest_has_virtual_l0_tables() {
    let Some(s) = samples() else { return };
    let (_tmp, db) = extracted(&s.join("sync.36zM46KKuaBq0wjSSvKh5o0350y.unexpanded.pebble.c1z"));
    let d = PebbleDir::open(&db).unwrap();
    assert_eq!(d.manifest, "MANIFEST-000021");
    let v = &d.version;
    assert_eq!(v.edits, 7);
    assert_eq!(
        (v.log_number, v.next_file_number, v.last_sequence),
        (30, 32, 40)
    );
    let (levels, virtuals) = live(&d);
    assert_eq!(
        levels,
        BTreeMap::from([
            (0, vec![27, 28, 31]),
            (6, vec![4, 5, 11, 12, 15, 16, 24, 25, 26, 29]),
        ])
    );
    assert_eq!(virtuals, BTreeMap::from([(27, 18), (28, 18)]));
    assert_eq!(
        (v.levels[0][&31].smallest_seq, v.levels[0][&31].largest_seq),
        (35, 40)
    );
    for t in v.levels[6].values() {
        assert_eq!(
            t.smallest_seq, t.largest_seq,
            "ingested L6 table {}",
            t.number
        );
    }
    // Its first bound is a range deletion's start.
    let first = &v.levels[0][&31].smallest;
    assert_eq!(
        (first.user_key.as_slice(), first.seqnum, first.kind),
        (&b"\x03\x07\x02"[..], 35, 15)
    );
}

#[test]
fn the_large_samples_manifest_lists_its_ten_tables() {
    let Some(s) = samples() else { return };
    let (_tmp, db) = extracted(&s.join("large").join("g1m.pebble3.c1z"));
    let d = PebbleDir::open(&db).unwrap();
    let v = &d.version;
    assert_eq!(v.edits, 5);
    assert_eq!(
        (v.log_number, v.next_file_number, v.last_sequence),
        (15, 17, 3214)
    );
    let (levels, virtuals) = live(&d);
    assert_eq!(
        levels,
        BTreeMap::from([(0, vec![13, 14, 16]), (6, vec![4, 5, 6, 7, 8, 9, 11])])
    );
    assert!(virtuals.is_empty() && v.backings.is_empty());
    // Physical tables: the MANIFEST's sizes are the files' sizes.
    for t in v.levels.iter().flat_map(|l| l.values()) {
        let len = std::fs::metadata(db.join(format!("{:06}.sst", t.number)))
            .unwrap()
            .len();
        assert_eq!(t.size, len, "table {}", t.number);
    }
}

/// Damage gives a typed error naming the file at fault, never a panic.
#[test]
fn damaged_directories_are_typed_errors() {
    let Some(s) = samples() else { return };
    let (_tmp, db) = extracted(&s.join("current").join("v025-full.pebble.c1z"));
    let manifest = db.join("MANIFEST-000001");
    let original = std::fs::read(&manifest).unwrap();
    let expect_corrupt = |what: &str, needle: &str| {
        let err = PebbleDir::open(&db).unwrap_err();
        assert!(matches!(err, c1z::Error::Corrupt { .. }), "{what}: {err}");
        assert!(err.to_string().contains(needle), "{what}: {err}");
    };
    // Every flipped byte of the MANIFEST: an error naming it (or, where the byte is not
    // covered by a checksum and still decodes, the same version).
    let good = PebbleDir::open(&db).unwrap().version;
    let mut errors = 0;
    for i in 0..original.len() {
        let mut bad = original.clone();
        bad[i] ^= 0x20;
        std::fs::write(&manifest, &bad).unwrap();
        match PebbleDir::open(&db) {
            Err(c1z::Error::Corrupt { reason, .. }) => {
                assert!(reason.contains("MANIFEST-000001"), "byte {i}: {reason}");
                errors += 1;
            }
            Err(other) => panic!("byte {i}: {other}"),
            Ok(d) => assert_eq!(d.version, good, "byte {i}"),
        }
    }
    assert!(
        errors > original.len() * 9 / 10,
        "{errors} of {}",
        original.len()
    );
    for cut in [7, 40, original.len() - 1] {
        std::fs::write(&manifest, &original[..cut]).unwrap();
        expect_corrupt("truncated", "MANIFEST-000001");
    }
    std::fs::write(&manifest, &original).unwrap();
    // A live table's file missing.
    std::fs::rename(db.join("000016.sst"), db.join("moved")).unwrap();
    expect_corrupt("missing backing", "000016.sst");
    std::fs::rename(db.join("moved"), db.join("000016.sst")).unwrap();
    // The manifest marker naming a missing file; no format-version marker.
    std::fs::remove_file(&manifest).unwrap();
    expect_corrupt("missing manifest", "MANIFEST-000001");
    std::fs::write(&manifest, &original).unwrap();
    std::fs::remove_file(db.join("marker.format-version.000001.024")).unwrap();
    expect_corrupt("no format marker", "format-version");
    std::fs::write(db.join("marker.format-version.000002.099"), b"").unwrap();
    let err = PebbleDir::open(&db).unwrap_err();
    assert!(matches!(err, c1z::Error::UnsupportedFormat { .. }), "{err}");
}

/// The spec's worked table (v025 `000028.sst`, §8.1–8.2): footer fields and every block's
/// checksum and decoded size.
#[test]
fn the_worked_tables_footer_and_blocks_read_as_the_spec_says() {
    use c1z::engine::pebble::table::{BlockHandle, TableFile, attribute};
    let Some(s) = samples() else { return };
    let (_tmp, db) = extracted(&s.join("current").join("v025-full.pebble.c1z"));
    let t = TableFile::read(&db.join("000028.sst")).unwrap();
    assert_eq!(t.len(), 3489);
    let file_bytes = std::fs::read(db.join("000028.sst")).unwrap();
    let f = t.footer;
    assert_eq!((f.version, f.checksum_type), (7, 1));
    assert_eq!(f.attributes, attribute::POINT_KEYS | attribute::RANGE_DELS);
    assert_eq!((f.metaindex.offset, f.metaindex.length), (3354, 69));
    assert_eq!((f.index.offset, f.index.length), (2660, 38));
    for ((offset, length), decoded) in [
        ((0, 2655), 4225),
        ((2660, 38), 38),
        ((2703, 55), 55),
        ((2763, 586), 812),
        ((3354, 69), 69),
    ] {
        let block = t.block(BlockHandle { offset, length }).unwrap();
        assert_eq!(block.len(), decoded, "block at {offset}");
    }
    // The metaindex's first bytes (§8.3): version 1, 2 columns, 2 rows.
    assert_eq!(&t.block(f.metaindex).unwrap()[..7], &[1, 2, 0, 2, 0, 0, 0]);
    // A flipped byte in a block: its checksum names the file; in the footer: so does it.
    let mut bytes = file_bytes.clone();
    bytes[100] ^= 1;
    let damaged = TableFile::from_bytes("000028.sst".into(), bytes).unwrap();
    let err = damaged
        .block(BlockHandle {
            offset: 0,
            length: 2655,
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("000028.sst") && err.to_string().contains("checksum"),
        "{err}"
    );
    let mut bytes = file_bytes.clone();
    let n = bytes.len();
    bytes[n - 61 + 2] ^= 1;
    let err = TableFile::from_bytes("000028.sst".into(), bytes).unwrap_err();
    assert!(matches!(err, c1z::Error::Corrupt { .. }), "{err}");
    for cut in [0, 10, 60, 3000] {
        assert!(TableFile::from_bytes("x.sst".into(), file_bytes[..cut].to_vec()).is_err());
    }
}

/// Every live table of every sample: a v7 footer whose checksum holds, and index and
/// metaindex blocks whose checksums hold.
#[test]
fn every_live_table_of_the_samples_has_a_sound_footer() {
    let Some(s) = samples() else { return };
    let mut tables = 0;
    for path in [
        s.join("current").join("v025-full.pebble.c1z"),
        s.join("current").join("36zf.expanded.pebble3.c1z"),
        s.join("sync.36zM46KKuaBq0wjSSvKh5o0350y.unexpanded.pebble.c1z"),
        s.join("large").join("g1m.pebble3.c1z"),
    ] {
        let (_tmp, db) = extracted(&path);
        for t in live_tables(&db) {
            assert_eq!(t.footer.version, 7, "{}", t.name);
            t.block(t.footer.index).unwrap();
            t.block(t.footer.metaindex).unwrap();
            tables += 1;
        }
    }
    assert!(tables >= 30, "{tables}");
}

/// The worked table's blocks decoded (§8.4–8.6) and p2's range deletions (§7.10).
#[test]
fn columnar_blocks_decode_as_the_spec_shows() {
    use c1z::engine::pebble::colblk::{self, Span};
    use c1z::engine::pebble::table::{BlockHandle, TableFile};
    let Some(s) = samples() else { return };
    let (_tmp, db) = extracted(&s.join("current").join("v025-full.pebble.c1z"));
    let t = TableFile::read(&db.join("000028.sst")).unwrap();
    let index = colblk::index_block(&t.block(t.footer.index).unwrap()).unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(index[0].separator, b"\x04");
    assert_eq!(
        index[0].handle,
        BlockHandle {
            offset: 0,
            length: 2655
        }
    );
    let rows = colblk::data_block(&t.block(index[0].handle).unwrap()).unwrap();
    assert_eq!(rows.len(), 85);
    assert_eq!(
        (rows[0].key.as_slice(), rows[0].trailer),
        (&b"\x03\x06"[..], (2618 << 8) | 1)
    );
    assert_eq!(rows[0].value.len(), 298);
    assert_eq!(rows[1].key, b"\x03\x0a\x08\x00\x00\x02");
    assert_eq!(
        rows[2].key,
        b"\x03\x0a\x08\x00app\x01\x01app-000\x01\x011\x01\x01admin\x00\x00"
    );
    assert_eq!(rows[2].trailer, (2530 << 8) | 1);
    let last = rows.last().unwrap();
    assert_eq!(
        (last.key.as_slice(), last.trailer),
        (&b"\x03\xffstats\x00"[..], (2617 << 8) | 1)
    );
    assert_eq!(last.value.len(), 182);
    let meta = colblk::key_value_block(&t.block(t.footer.metaindex).unwrap()).unwrap();
    let names: Vec<&[u8]> = meta.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(names, [&b"rocksdb.properties"[..], b"rocksdb.range_del2"]);
    let spans = colblk::keyspan_block(
        &t.block(BlockHandle {
            offset: 2703,
            length: 55,
        })
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        spans,
        [Span {
            start: b"\x03\x0a".to_vec(),
            end: b"\x03\x0b".to_vec(),
            trailers: vec![(2529 << 8) | 15]
        }]
    );
    // p2's L0 table: four fragments and a gap.
    let (_tmp2, p2) = extracted(&s.join("sync.36zM46KKuaBq0wjSSvKh5o0350y.unexpanded.pebble.c1z"));
    let t = TableFile::read(&p2.join("000031.sst")).unwrap();
    let meta = colblk::key_value_block(&t.block(t.footer.metaindex).unwrap()).unwrap();
    let (_, handle) = meta
        .iter()
        .find(|(k, _)| k == b"rocksdb.range_del2")
        .unwrap();
    let mut rest = handle.as_slice();
    let offset = prost::encoding::decode_varint(&mut rest).unwrap();
    let length = prost::encoding::decode_varint(&mut rest).unwrap();
    let spans = colblk::keyspan_block(&t.block(BlockHandle { offset, length }).unwrap()).unwrap();
    let got: Vec<(Vec<u8>, Vec<u8>, Vec<u64>)> = spans
        .into_iter()
        .map(|s| (s.start, s.end, s.trailers.iter().map(|t| t >> 8).collect()))
        .collect();
    let k = |b: u8| vec![3, 7, b];
    assert_eq!(
        got,
        [
            (k(2), k(3), vec![35]),
            (k(3), k(4), vec![36]),
            (k(6), k(7), vec![37]),
            (k(7), k(8), vec![38])
        ]
    );
}

/// Every data block of every live table of the samples, through single- and two-level
/// indexes: decodes, and each table's rows come in internal-key order.
#[test]
fn every_data_block_of_the_samples_decodes_in_order() {
    use c1z::engine::pebble::colblk;
    use c1z::engine::pebble::table::attribute;
    let Some(s) = samples() else { return };
    let mut rows_seen = 0usize;
    for path in [
        s.join("current").join("v025-full.pebble.c1z"),
        s.join("sync.36zM46KKuaBq0wjSSvKh5o0350y.unexpanded.pebble.c1z"),
        s.join("large").join("g1m.pebble3.c1z"),
    ] {
        let (_tmp, db) = extracted(&path);
        for t in live_tables(&db) {
            let top = colblk::index_block(&t.block(t.footer.index).unwrap()).unwrap();
            let data_handles: Vec<_> = if t.footer.attributes & attribute::TWO_LEVEL_INDEX != 0 {
                top.iter()
                    .flat_map(|p| colblk::index_block(&t.block(p.handle).unwrap()).unwrap())
                    .collect()
            } else {
                top
            };
            let mut last: Option<(Vec<u8>, u64)> = None;
            for h in data_handles {
                for row in colblk::data_block(&t.block(h.handle).unwrap()).unwrap() {
                    assert!(
                        row.key <= h.separator,
                        "{}: key above its separator",
                        t.name
                    );
                    if let Some((k, tr)) = &last {
                        assert!(
                            (k.as_slice(), std::cmp::Reverse(*tr))
                                < (row.key.as_slice(), std::cmp::Reverse(row.trailer)),
                            "{}: rows out of order",
                            t.name
                        );
                    }
                    last = Some((row.key, row.trailer));
                    rows_seen += 1;
                }
            }
        }
    }
    // g1m alone holds about 3.26M live pairs (§8.8).
    assert!(rows_seen > 3_000_000, "{rows_seen}");
}

/// The merged view, end to end: the live key/value counts the spec gives for each sample
/// (§0 fact 10), strictly increasing keys, and range deletions that matter (p2).
#[test]
fn the_merged_views_hold_the_specs_live_counts() {
    use c1z::engine::pebble::merge::live_entries;
    let Some(s) = samples() else { return };
    for (path, want) in [
        (s.join("current").join("v025-full.pebble.c1z"), 5_067),
        (
            s.join("current").join("v025-full.tarzstd.pebble.c1z"),
            5_067,
        ),
        (
            s.join("sync.36zM46KKuaBq0wjSSvKh5o0350y.unexpanded.pebble.c1z"),
            216_762,
        ),
        (s.join("large").join("g1m.pebble3.c1z"), 3_255_496),
    ] {
        let (_tmp, db) = extracted(&path);
        let d = PebbleDir::open(&db).unwrap();
        let mut n = 0usize;
        let mut last: Option<Vec<u8>> = None;
        for entry in live_entries(&d).unwrap() {
            let (key, _) = entry.unwrap();
            assert!(
                last.as_ref().is_none_or(|l| *l < key),
                "{}: keys out of order",
                path.display()
            );
            last = Some(key);
            n += 1;
        }
        assert_eq!(n, want, "{}", path.display());
    }
}

/// v025's live keys by key family (§8.7): the merge keeps each family whole, drops the two
/// deleted meta markers and the range-deleted digest keys.
#[test]
fn v025s_live_keys_by_family_are_the_specs() {
    use c1z::engine::pebble::merge::live_entries;
    let Some(s) = samples() else { return };
    let (_tmp, db) = extracted(&s.join("current").join("v025-full.pebble.c1z"));
    let d = PebbleDir::open(&db).unwrap();
    let mut families: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    let mut meta = Vec::new();
    for entry in live_entries(&d).unwrap() {
        let (key, _) = entry.unwrap();
        let family = if key.starts_with(&[3, 7]) {
            key[..3].to_vec()
        } else {
            key[..2].to_vec()
        };
        if family == [3, 0xff] {
            meta.push(String::from_utf8_lossy(&key[2..]).into_owned());
        }
        *families.entry(family).or_default() += 1;
    }
    let want: BTreeMap<Vec<u8>, usize> = [
        (vec![3, 1], 4),
        (vec![3, 2], 360),
        (vec![3, 3], 80),
        (vec![3, 4], 1502),
        (vec![3, 5], 2),
        (vec![3, 6], 1),
        (vec![3, 7, 4], 1502),
        (vec![3, 7, 5], 30),
        (vec![3, 7, 8], 1502),
        (vec![3, 0x0a], 81),
        (vec![3, 0xff], 3),
    ]
    .into();
    assert_eq!(families, want);
    assert_eq!(
        meta,
        ["grant_entitlement_id_format", "keyspace_version", "stats\0"]
    );
}

/// Repacks an extracted (and perhaps damaged) payload under the original manifest, as a
/// tar + zstd v3 file.
fn repacked(original: &Path, db: &Path, out: &Path) {
    let mut header = v3::read_header(original).unwrap().manifest;
    header.payload_encoding = c1z::pb::c1::c1z::v3::PayloadEncoding::TarZstd as i32;
    let mut f = std::fs::File::create(out).unwrap();
    v3::write(&mut f, &header, db, Default::default()).unwrap();
}

/// A damaged table, end to end: a flipped byte in a data block, a truncated table, a
/// missing table, a bad MANIFEST record. Each is a typed `Corrupt` error naming the file
/// (at open, or at the first read of the block), never a panic; the input is unchanged.
#[test]
fn damaged_tables_are_corrupt_errors_naming_the_file() {
    use c1z::store::{GrantQuery, ReaderExt};
    let Some(s) = samples() else { return };
    let src = s.join("current").join("v025-full.pebble.c1z");
    let work = tempfile::tempdir().unwrap();
    let read_all = |path: &Path| -> c1z::Result<u64> {
        let file = c1z::C1zFile::open_read_only(path)?;
        let mut n = 0;
        for g in file.store().stream_grants(GrantQuery::default()) {
            g?;
            n += 1;
        }
        Ok(n)
    };
    // Undamaged, repacked: reads whole.
    let (_t, db) = extracted(&src);
    let out = work.path().join("ok.c1z");
    repacked(&src, &db, &out);
    assert_eq!(read_all(&out).unwrap(), 1502);
    // The grants live in 000018.sst (table 18, and virtual 19 over backing 16 …): damage
    // every table file in turn, in its first data block, its middle, and its tail.
    let tables: Vec<String> = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sst"))
        .collect();
    assert!(tables.len() >= 5, "{tables:?}");
    for name in &tables {
        let bytes = std::fs::read(db.join(name)).unwrap();
        for at in [10, bytes.len() / 2, bytes.len() - 30] {
            let (_t2, damaged) = extracted(&src);
            let mut b = bytes.clone();
            b[at] ^= 0x40;
            std::fs::write(damaged.join(name), &b).unwrap();
            let out = work.path().join(format!("{name}-{at}.c1z"));
            repacked(&src, &damaged, &out);
            let before = std::fs::read(&out).unwrap();
            let file = c1z::C1zFile::open_read_only(&out);
            let verdict = file.and_then(|f| match f.store() {
                c1z::store::AnyStore::Pebble(p) => p.verify_tables().map(|_| ()),
                _ => unreachable!(),
            });
            let err = verdict.expect_err(&format!("{name} byte {at}"));
            assert!(
                matches!(err, c1z::Error::Corrupt { .. }),
                "{name} byte {at}: {err}"
            );
            assert!(
                err.to_string().contains(name.as_str()),
                "{name} byte {at}: {err}"
            );
            assert_eq!(std::fs::read(&out).unwrap(), before);
        }
        // Truncated.
        let (_t2, damaged) = extracted(&src);
        std::fs::write(damaged.join(name), &bytes[..bytes.len() / 3]).unwrap();
        let out = work.path().join(format!("{name}-cut.c1z"));
        repacked(&src, &damaged, &out);
        let err = c1z::C1zFile::open_read_only(&out).unwrap_err();
        assert!(
            matches!(err, c1z::Error::Corrupt { .. }),
            "{name} cut: {err}"
        );
        assert!(err.to_string().contains(name.as_str()), "{name} cut: {err}");
    }
    // Missing table; a MANIFEST record's byte flipped.
    let (_t2, damaged) = extracted(&src);
    std::fs::remove_file(damaged.join("000018.sst")).unwrap();
    let out = work.path().join("missing.c1z");
    repacked(&src, &damaged, &out);
    let err = c1z::C1zFile::open_read_only(&out).unwrap_err();
    assert!(err.to_string().contains("000018.sst"), "{err}");
    let (_t2, damaged) = extracted(&src);
    let m = damaged.join("MANIFEST-000001");
    let mut b = std::fs::read(&m).unwrap();
    b[20] ^= 1;
    std::fs::write(&m, &b).unwrap();
    let out = work.path().join("manifest.c1z");
    repacked(&src, &damaged, &out);
    let err = c1z::C1zFile::open_read_only(&out).unwrap_err();
    assert!(matches!(err, c1z::Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("MANIFEST-000001"), "{err}");
}
