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
    assert_eq!(t.bytes().len(), 3489);
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
    let mut bytes = t.bytes().to_vec();
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
    let mut bytes = t.bytes().to_vec();
    let n = bytes.len();
    bytes[n - 61 + 2] ^= 1;
    let err = TableFile::from_bytes("000028.sst".into(), bytes).unwrap_err();
    assert!(matches!(err, c1z::Error::Corrupt { .. }), "{err}");
    for cut in [0, 10, 60, 3000] {
        assert!(TableFile::from_bytes("x.sst".into(), t.bytes()[..cut].to_vec()).is_err());
    }
}

/// Every live table of every sample: a v7 footer whose checksum holds, and index and
/// metaindex blocks whose checksums hold.
#[test]
fn every_live_table_of_the_samples_has_a_sound_footer() {
    use c1z::engine::pebble::table::TableFile;
    let Some(s) = samples() else { return };
    let mut tables = 0;
    for path in [
        s.join("current").join("v025-full.pebble.c1z"),
        s.join("current").join("36zf.expanded.pebble3.c1z"),
        s.join("sync.36zM46KKuaBq0wjSSvKh5o0350y.unexpanded.pebble.c1z"),
        s.join("large").join("g1m.pebble3.c1z"),
    ] {
        let (_tmp, db) = extracted(&path);
        let d = PebbleDir::open(&db).unwrap();
        let files: std::collections::BTreeSet<u64> = d
            .version
            .levels
            .iter()
            .flat_map(|l| l.values().map(|t| t.file_number()))
            .collect();
        for n in files {
            let t = TableFile::read(&db.join(format!("{n:06}.sst"))).unwrap();
            assert_eq!(t.footer.version, 7, "{}", t.name);
            t.block(t.footer.index).unwrap();
            t.block(t.footer.metaindex).unwrap();
            tables += 1;
        }
    }
    assert!(tables >= 30, "{tables}");
}
