//! Damaged and hostile files: each gives a typed error, never a panic, and the input is
//! left exactly as it was.
#[allow(unused_imports)]
use c1z::prelude::*;

use std::io::Write;
use std::path::Path;

use c1z::{C1zFile, Error, OpenOptions, SyncType, WriterExt};
use proptest::prelude::*;

use crate::util::resource_type;

/// A small valid v1 file's bytes (built once).
fn valid_file() -> Vec<u8> {
    static BYTES: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(build_valid_file);
    BYTES.clone()
}

fn build_valid_file() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.c1z");
    let f = C1zFile::create(&path).unwrap();
    let run = f.store().start_sync(SyncType::Full, None).unwrap();
    run.put_resource_types(
        (0..200)
            .map(|i| resource_type(&format!("type-{i}")))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    run.finish().unwrap();
    f.close().unwrap();
    std::fs::read(path).unwrap()
}

fn open_bytes(bytes: &[u8], opts: &OpenOptions) -> (c1z::Result<C1zFile>, bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.c1z");
    std::fs::write(&path, bytes).unwrap();
    let result = opts.open(&path);
    let unchanged = std::fs::read(&path).unwrap() == bytes;
    (result, unchanged)
}

fn expect_err(bytes: &[u8], opts: &OpenOptions) -> Error {
    let (r, unchanged) = open_bytes(bytes, opts);
    assert!(unchanged, "the input must not change");
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn read_only() -> OpenOptions {
    OpenOptions::new().with_read_only(true)
}

#[test]
fn wrong_magic_is_unsupported_format() {
    let mut bytes = valid_file();
    bytes[3] = b'X';
    assert!(matches!(
        expect_err(&bytes, &read_only()),
        Error::UnsupportedFormat { .. }
    ));
    assert!(matches!(
        expect_err(b"hello world, not a c1z", &OpenOptions::new()),
        Error::UnsupportedFormat { .. }
    ));
    assert!(matches!(
        expect_err(b"C1Z2\0....", &read_only()),
        Error::UnsupportedFormat { .. }
    ));
}

#[test]
fn short_files_are_errors_but_empty_ones_are_new_stores() {
    for n in 1..5 {
        assert!(
            matches!(
                expect_err(&b"C1ZF\0"[..n], &read_only()),
                Error::UnsupportedFormat { .. }
            ),
            "{n} bytes"
        );
    }
    let (r, _) = open_bytes(b"", &read_only());
    assert!(
        c1z::ReaderExt::sync_runs(r.unwrap().store())
            .unwrap()
            .is_empty()
    );
    // Exactly the magic: zstd sees no frame, 0 bytes decoded, an empty store (as baton).
    let (r, _) = open_bytes(b"C1ZF\0", &read_only());
    assert!(
        c1z::ReaderExt::sync_runs(r.unwrap().store())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn truncated_zstd_is_corrupt() {
    let bytes = valid_file();
    for cut in [6, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        let e = expect_err(&bytes[..cut], &read_only());
        assert!(matches!(e, Error::Corrupt { .. }), "cut at {cut}: {e:?}");
    }
}

#[test]
fn flipped_bytes_are_corrupt() {
    let bytes = valid_file();
    for at in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 3] {
        let mut b = bytes.clone();
        b[at] ^= 0x5A;
        let e = expect_err(&b, &read_only());
        assert!(matches!(e, Error::Corrupt { .. }), "flip at {at}: {e:?}");
    }
}

#[test]
fn trailing_garbage_is_corrupt() {
    let mut bytes = valid_file();
    bytes.extend_from_slice(b"garbage!");
    assert!(matches!(
        expect_err(&bytes, &read_only()),
        Error::Corrupt { .. }
    ));
}

#[test]
fn declared_size_over_the_limit_fails_before_decoding() {
    let bytes = valid_file();
    let e = expect_err(&bytes, &read_only().with_max_decoded_size(4096));
    match e {
        Error::LimitExceeded {
            what,
            actual,
            limit,
        } => {
            assert_eq!(what, "declared decoded size");
            assert!(actual > 4096);
            assert_eq!(limit, 4096);
        }
        other => panic!("{other:?}"),
    }
}

fn zstd_without_fcs(payload: &[u8]) -> Vec<u8> {
    // A streamed frame with no pledged size carries no content size.
    let mut out = b"C1ZF\0".to_vec();
    let mut enc = zstd::stream::write::Encoder::new(&mut out, 3).unwrap();
    enc.include_contentsize(false).unwrap();
    enc.write_all(payload).unwrap();
    enc.finish().unwrap();
    out
}

#[test]
fn actual_size_over_the_limit_stops_decoding() {
    let e = expect_err(
        &zstd_without_fcs(&vec![0u8; 1 << 20]),
        &read_only().with_max_decoded_size(64 << 10),
    );
    assert!(
        matches!(
            e,
            Error::LimitExceeded {
                what: "decoded size",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn window_over_the_limit_is_refused() {
    let e = expect_err(
        &zstd_without_fcs(&vec![7u8; 300_000]),
        &read_only().with_max_window_log(10),
    );
    assert!(
        matches!(
            e,
            Error::LimitExceeded {
                what: "zstd window size",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn payload_that_is_not_sqlite_is_corrupt() {
    let e = expect_err(
        &zstd_without_fcs(&b"definitely not a database ".repeat(400)),
        &read_only(),
    );
    assert!(
        matches!(
            e,
            Error::Corrupt {
                what: "sqlite database",
                ..
            }
        ),
        "{e:?}"
    );
    let e = expect_err(&zstd_without_fcs(&b"x".repeat(10)), &OpenOptions::new());
    assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");
}

#[test]
fn multi_frame_streams_are_accepted() {
    let bytes = valid_file();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    c1z::format::v1::decode(&write_tmp(&dir, &bytes), &db, Default::default()).unwrap();
    let raw = std::fs::read(&db).unwrap();
    let (a, b) = raw.split_at(raw.len() / 3);
    let mut two = zstd_without_fcs(a);
    two.extend_from_slice(&zstd::encode_all(b, 1).unwrap());
    let (r, unchanged) = open_bytes(&two, &read_only());
    assert!(unchanged);
    assert_eq!(
        c1z::ReaderExt::sync_runs(r.unwrap().store()).unwrap().len(),
        1
    );
}

fn write_tmp(dir: &tempfile::TempDir, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.path().join("f.c1z");
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn missing_file_is_an_io_error_unless_creating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.c1z");
    assert!(matches!(
        C1zFile::open_read_only(&path),
        Err(Error::Io { .. })
    ));
    assert!(C1zFile::create(&path).is_ok());
    assert!(
        !Path::new(&path).exists(),
        "nothing written without a write"
    );
}

#[test]
fn hostile_v3_envelopes_are_typed_errors() {
    let mut manifest_past_end = b"C1Z3\0".to_vec();
    manifest_past_end.extend_from_slice(&1000u32.to_be_bytes());
    manifest_past_end.extend_from_slice(&[0x0a, 0x01]);
    assert!(matches!(
        expect_err(&manifest_past_end, &read_only()),
        Error::Corrupt { .. }
    ));
    let mut huge = b"C1Z3\0".to_vec();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        expect_err(&huge, &read_only()),
        Error::LimitExceeded { .. }
    ));
    let mut garbage = b"C1Z3\0".to_vec();
    garbage.extend_from_slice(&4u32.to_be_bytes());
    garbage.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    assert!(matches!(
        expect_err(&garbage, &read_only()),
        Error::Corrupt { .. }
    ));
    assert!(matches!(
        expect_err(b"C1Z3\0\0\0", &read_only()),
        Error::Corrupt { .. }
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..300), v3 in any::<bool>()) {
        let mut bytes = if v3 { b"C1Z3\0".to_vec() } else { b"C1ZF\0".to_vec() };
        bytes.extend_from_slice(&tail);
        let (r, unchanged) = open_bytes(&bytes, &read_only());
        prop_assert!(unchanged);
        // Either an error or (for an empty payload) an empty store; never a panic.
        if let Ok(f) = r {
            prop_assert!(c1z::ReaderExt::sync_runs(f.store()).is_ok());
        }
        let _ = c1z::inspect::inspect(&write_tmp(&tempfile::tempdir().unwrap(), &bytes));
    }

    #[test]
    fn truncations_of_a_valid_file_never_panic(cut in 0usize..2000) {
        let bytes = valid_file();
        let cut = cut.min(bytes.len());
        let (r, unchanged) = open_bytes(&bytes[..cut], &read_only());
        prop_assert!(unchanged);
        prop_assert!(cut == bytes.len() || cut == 0 || cut == 5 || r.is_err());
    }
}
