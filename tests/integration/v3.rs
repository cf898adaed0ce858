//! v3 envelopes: c1z's RocksDB files, baton's Pebble files (envelope level), hostile input.

use c1z::engine::EngineKind;
use c1z::pb::c1::c1z::v3::{C1zManifestV3, PayloadEncoding};
#[allow(unused_imports)]
use c1z::prelude::*;
use c1z::{C1zFile, Error, OpenOptions, SyncType};
use prost::Message;

use crate::util::{bytes_of, encoded, entitlement, grant, resource, resource_type, samples};

fn rocks_file(path: &std::path::Path, encoding: PayloadEncoding) {
    let f = OpenOptions::new()
        .with_create(true)
        .with_engine(EngineKind::Rocks)
        .with_rocksdb(c1z::RocksOptions::new().with_payload_encoding(encoding))
        .open(path)
        .unwrap();
    let run = f.store().start_sync(SyncType::Full, None).unwrap();
    run.put_resource_types(&[resource_type("user"), resource_type("group")])
        .unwrap();
    run.put_resources(&[resource("user", "a"), resource("group", "g")])
        .unwrap();
    let m = entitlement("group", "g", "member");
    run.put_entitlements(std::slice::from_ref(&m)).unwrap();
    run.put_grants(&[grant(&m, "user", "a")]).unwrap();
    run.finish().unwrap();
    f.close().unwrap();
}

#[test]
fn rocks_files_describe_themselves() {
    let dir = tempfile::tempdir().unwrap();
    for (encoding, name) in [
        (PayloadEncoding::TarZstd, "tar_zstd"),
        (PayloadEncoding::Tar, "tar"),
    ] {
        let path = dir.path().join(format!("{name}.c1z"));
        rocks_file(&path, encoding);
        let info = c1z::inspect::inspect(&path).unwrap();
        assert_eq!(
            (
                info.format,
                info.engine.as_str(),
                info.payload_encoding.as_str()
            ),
            ("v3", "rocksdb", name)
        );
        assert_eq!(info.sync_runs.len(), 1);
        assert_eq!(info.sync_runs[0].sync_type, "full");
        let f = C1zFile::open_read_only(&path).unwrap();
        assert_eq!(
            f.metadata().payload_encoding,
            name,
            "the file keeps its encoding"
        );
        let stats = c1z::inspect::count_sync(
            f.store(),
            &f.store().latest_finished_sync(None).unwrap().unwrap(),
        )
        .unwrap();
        assert_eq!(
            (
                stats.resource_types,
                stats.resources,
                stats.entitlements,
                stats.grants
            ),
            (2, 2, 1, 1)
        );
        assert!(c1z::inspect::verify(&path).is_ok());
    }
}

#[test]
fn rocks_saves_are_reproducible_and_skip_unchanged_stores() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.c1z");
    rocks_file(&path, PayloadEncoding::TarZstd);
    let before = bytes_of(&path);
    let f = C1zFile::open(&path).unwrap();
    assert_eq!(f.store().sync_runs().unwrap().len(), 1);
    assert!(!f.close().unwrap());
    assert_eq!(bytes_of(&path), before);
}

pub(crate) fn envelope(manifest: &C1zManifestV3, payload: &[u8]) -> Vec<u8> {
    let m = manifest.encode_to_vec();
    let mut out = b"C1Z3\0".to_vec();
    out.extend_from_slice(&u32::try_from(m.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&m);
    out.extend_from_slice(payload);
    out
}

fn rocks_manifest(encoding: PayloadEncoding) -> C1zManifestV3 {
    C1zManifestV3 {
        engine: "rocksdb".into(),
        engine_schema_version: 1,
        payload_encoding: encoding as i32,
        ..Default::default()
    }
}

/// A tar with one member whose raw header fields are set by hand (the tar crate refuses
/// to build unsafe names itself).
pub(crate) fn raw_tar(
    name: &[u8],
    kind: tar::EntryType,
    link: Option<&str>,
    data: &[u8],
) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(kind);
    if let Some(l) = link {
        header.set_link_name(l).unwrap();
    }
    header.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&header, data).unwrap();
    b.into_inner().unwrap()
}

fn open_hostile(bytes: &[u8]) -> (Error, tempfile::TempDir) {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("in.c1z");
    std::fs::write(&path, bytes).unwrap();
    let tmp = base.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let err = OpenOptions::new()
        .with_read_only(true)
        .with_tmp_dir(&tmp)
        .open(&path)
        .unwrap_err();
    assert_eq!(bytes_of(&path), bytes, "input unchanged");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "temp dir cleaned up"
    );
    (err, base)
}

#[test]
fn hostile_tar_members_are_refused_and_nothing_escapes() {
    let cases = [
        raw_tar(b"../escaped", tar::EntryType::Regular, None, b"x"),
        raw_tar(b"/abs/escaped", tar::EntryType::Regular, None, b"x"),
        raw_tar(b"db/../../escaped", tar::EntryType::Regular, None, b"x"),
        raw_tar(b"link", tar::EntryType::Symlink, Some("/etc/passwd"), b""),
        raw_tar(b"hard", tar::EntryType::Link, Some("/etc/passwd"), b""),
        raw_tar(b"dev", tar::EntryType::Char, None, b""),
    ];
    for tar in cases {
        for encoding in [PayloadEncoding::Tar, PayloadEncoding::TarZstd] {
            let payload = if encoding == PayloadEncoding::Tar {
                tar.clone()
            } else {
                zstd::encode_all(&tar[..], 1).unwrap()
            };
            let (err, base) = open_hostile(&envelope(&rocks_manifest(encoding), &payload));
            assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
            assert!(!base.path().join("escaped").exists());
            assert!(!std::path::Path::new("/abs/escaped").exists());
        }
    }
}

#[test]
fn truncated_and_foreign_payloads_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.c1z");
    rocks_file(&path, PayloadEncoding::TarZstd);
    let bytes = bytes_of(&path);
    for cut in [bytes.len() - 1, bytes.len() - 100, bytes.len() / 2] {
        let (err, _) = open_hostile(&bytes[..cut]);
        assert!(matches!(err, Error::Corrupt { .. }), "cut {cut}: {err:?}");
        let p = dir.path().join(format!("cut{cut}.c1z"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        assert!(c1z::inspect::verify(&p).is_err());
    }
    let (err, _) = open_hostile(&envelope(
        &C1zManifestV3 {
            engine: "leveldb9".into(),
            ..Default::default()
        },
        b"",
    ));
    assert!(matches!(err, Error::EngineNotSupported { .. }), "{err:?}");
    let newer = C1zManifestV3 {
        engine_schema_version: 99,
        ..rocks_manifest(PayloadEncoding::Tar)
    };
    let (err, _) = open_hostile(&envelope(&newer, b""));
    assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err:?}");
    let odd = C1zManifestV3 {
        payload_encoding: 3,
        ..rocks_manifest(PayloadEncoding::Tar)
    };
    let (err, _) = open_hostile(&envelope(&odd, b""));
    assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err:?}");
}

#[test]
fn batons_indexed_files_verify_and_a_flipped_byte_names_the_frame() {
    let Some(dir) = samples() else { return };
    for name in [
        "sync.36zM46KKuaBq0wjSSvKh5o0350y.unexpanded.pebble.c1z",
        "current/v025-full.pebble.c1z",
        "current/v025-full.tarzstd.pebble.c1z",
    ] {
        let parts = c1z::inspect::verify(&dir.join(name)).unwrap();
        assert!(!parts.is_empty(), "{name}");
    }
    let path = dir.join("current/v025-full.pebble.c1z");
    let info = c1z::inspect::inspect(&path).unwrap();
    let frames = info.frames.expect("indexed payload lists its frames");
    assert!(frames.len() > 3);
    let big = frames.iter().max_by_key(|f| f.compressed_size).unwrap();
    let mut bytes = bytes_of(&path);
    let at = usize::try_from(big.offset + big.compressed_size / 2).unwrap();
    bytes[at] ^= 0x40;
    let tmp = tempfile::tempdir().unwrap();
    let flipped = tmp.path().join("flipped.c1z");
    std::fs::write(&flipped, &bytes).unwrap();
    let err = c1z::inspect::verify(&flipped).unwrap_err().to_string();
    assert!(err.contains(&big.name), "{err} should name {}", big.name);
}

/// Grants as `id → (principal, sorted source keys)`, and the ids listed by principal.
fn grant_map(store: &c1z::AnyStore) -> std::collections::BTreeMap<String, (String, Vec<String>)> {
    store
        .all_grants(c1z::GrantQuery::default())
        .unwrap()
        .into_iter()
        .map(|r| {
            let p = r.grant.principal.unwrap().id.unwrap();
            let mut sources: Vec<String> = r
                .grant
                .sources
                .map(|s| s.sources.into_keys().collect())
                .unwrap_or_default();
            sources.sort();
            (
                r.grant.id,
                (format!("{}:{}", p.resource_type, p.resource), sources),
            )
        })
        .collect()
}

/// Grant ids listed by each entitlement resource (the by-resource query, per resource
/// and per resource type), with the per-type counts of the store's stats.
fn grants_by_resource(
    store: &c1z::AnyStore,
) -> (
    std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    std::collections::BTreeMap<String, u64>,
) {
    use c1z::Reader as _;
    let sync = store.sync_runs().unwrap().remove(0).id;
    let mut out = std::collections::BTreeMap::new();
    for r in store.all_grants(c1z::GrantQuery::default()).unwrap() {
        let e = r.grant.entitlement.unwrap().resource.unwrap().id.unwrap();
        for (name, query) in [
            (
                format!("{}:{}", e.resource_type, e.resource),
                c1z::GrantQuery {
                    resource: Some(c1z::ResourceKey::new(&e.resource_type, &e.resource)),
                    ..Default::default()
                },
            ),
            (
                e.resource_type.clone(),
                c1z::GrantQuery {
                    resource_type_id: Some(e.resource_type.clone()),
                    ..Default::default()
                },
            ),
        ] {
            out.entry(name).or_insert_with(|| {
                store
                    .all_grants(query)
                    .unwrap()
                    .into_iter()
                    .map(|g| g.grant.id)
                    .collect()
            });
        }
    }
    (out, store.count_objects(&sync).unwrap().grants_by_type)
}

/// Ids of the grants listed for `principal` (`type:id`).
fn ids_by_principal(store: &c1z::AnyStore, principal: &str) -> Vec<String> {
    let (rt, rid) = principal.split_once(':').unwrap();
    store
        .all_grants(c1z::GrantQuery {
            principal: Some(c1z::ResourceKey::new(rt, rid)),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|g| g.grant.id)
        .collect()
}

/// Copies of `testdata/<name>` and `testdata/sample.c1z` in a temp directory.
fn fixture_and_sample(name: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join(name);
    std::fs::copy(testdata.join(name), &fixture).unwrap();
    let sqlite = dir.path().join("sample.c1z");
    std::fs::copy(testdata.join("sample.c1z"), &sqlite).unwrap();
    (dir, fixture, sqlite)
}

/// The format version a RocksDB v3 file's manifest names.
fn format_version(path: &std::path::Path) -> u32 {
    c1z::format::v3::read_header(path)
        .unwrap()
        .manifest
        .engine_schema_version
}

/// Every object of every kind but grants, as `(kind, id) → (stored bytes, discovered_at)`.
fn objects(
    store: &c1z::AnyStore,
) -> std::collections::BTreeMap<(&'static str, String), (Vec<u8>, chrono::NaiveDateTime)> {
    let mut out = std::collections::BTreeMap::new();
    let at = |t: &chrono::NaiveDateTime| *t;
    for r in store.stream_resource_types(Default::default()) {
        let r = r.unwrap();
        out.insert(
            ("resource type", r.value.id.clone()),
            (r.value.encode_to_vec(), at(&r.discovered_at)),
        );
    }
    for r in store.stream_resources(Default::default()) {
        let r = r.unwrap();
        let id = r.value.id.clone().unwrap();
        out.insert(
            ("resource", format!("{}:{}", id.resource_type, id.resource)),
            (r.value.encode_to_vec(), at(&r.discovered_at)),
        );
    }
    for r in store.stream_entitlements(Default::default()) {
        let r = r.unwrap();
        out.insert(
            ("entitlement", r.value.id.clone()),
            (r.value.encode_to_vec(), at(&r.discovered_at)),
        );
    }
    for a in store.stream_assets(Default::default()) {
        let a = a.unwrap();
        out.insert(
            ("asset", a.id.clone()),
            (
                [a.content_type.as_bytes(), b"\0", &a.data].concat(),
                at(&a.discovered_at),
            ),
        );
    }
    out
}

/// `testdata/format-v1.rocks.c1z` is the frozen RocksDB format, version 1
/// (`docs/format-rocksdb.md`), as this build wrote it from the seed of `sample.c1z` and
/// expanded: every key family and both grant forms. It must read, now and after any
/// future change, as the same objects, grants, stored bytes and by-resource lists as the
/// SQLite sample expanded here; expanding it again changes nothing; a read-only open
/// leaves it byte for byte alone; and a writable copy saves and reads back.
#[test]
fn the_frozen_format_fixture_reads_as_the_sqlite_sample() {
    let (_dir, fixture, sqlite) = fixture_and_sample("format-v1.rocks.c1z");
    assert_eq!(format_version(&fixture), 1);
    {
        let f = C1zFile::open(&sqlite).unwrap();
        let run = f.store().sync_runs().unwrap().remove(0);
        let report = c1z::expand::expand(f.store(), &run.id, &Default::default()).unwrap();
        assert_eq!((report.grants_added, report.grants_updated), (234, 28));
        f.close().unwrap();
    }
    let stored = |s: &c1z::AnyStore| -> std::collections::BTreeMap<String, Vec<u8>> {
        s.stream_stored_grants(c1z::GrantQuery::default())
            .map(|g| {
                let g = g.unwrap();
                let grant = c1z::pb::c1::connector::v2::Grant::decode(g.data.as_slice()).unwrap();
                (grant.id, g.data)
            })
            .collect()
    };
    let before = std::fs::read(&fixture).unwrap();
    let reference = C1zFile::open_read_only(&sqlite).unwrap();
    let want = grant_map(reference.store());
    assert_eq!(want.len(), 205 + 234);
    {
        let frozen = C1zFile::open_read_only(&fixture).unwrap();
        let (got, expected) = (frozen.store(), reference.store());
        assert_eq!(grant_map(got), want);
        assert!(stored(got) == stored(expected), "stored bytes");
        assert_eq!(grants_by_resource(got), grants_by_resource(expected));
        let bytes_only = |s| -> Vec<_> {
            objects(s)
                .into_iter()
                .map(|(k, (data, _))| (k, data))
                .collect()
        };
        assert_eq!(bytes_only(got), bytes_only(expected));
        let runs = got.sync_runs().unwrap();
        assert_eq!(runs.len(), 1);
        assert!(runs[0].is_finished());
        // Times decode as the generator's clock wrote them: within the run.
        let (start, end) = (runs[0].started_at, runs[0].ended_at.unwrap());
        assert!(start < end);
        for (k, (_, at)) in objects(got) {
            assert!(start <= at && at <= end, "{k:?} at {at}");
        }
        // Edges and their flags survive: the connector's expandable grants.
        let edges = got
            .all_grants(c1z::GrantQuery::default())
            .unwrap()
            .into_iter()
            .filter(|g| g.expansion.is_some())
            .count();
        assert_eq!(edges, 9);
        let (id, (principal, _)) = want.iter().next().unwrap();
        assert!(ids_by_principal(got, principal).contains(id));
        got.check_consistency().unwrap();
    }
    assert!(
        std::fs::read(&fixture).unwrap() == before,
        "a read-only open leaves the file alone"
    );
    let f = C1zFile::open(&fixture).unwrap();
    let sync = f.store().sync_runs().unwrap().remove(0).id;
    let report = c1z::expand::expand(f.store(), &sync, &Default::default()).unwrap();
    assert_eq!((report.grants_added, report.grants_updated), (0, 0));
    // A derived grant (no self-source), found by id and deleted.
    let (derived, (principal, _)) = want
        .iter()
        .find(|(id, (_, sources))| {
            !sources.is_empty() && !sources.iter().any(|s| id.starts_with(&format!("{s}:")))
        })
        .unwrap();
    assert!(f.store().delete_grant(&sync, derived).unwrap());
    assert!(!f.store().delete_grant(&sync, derived).unwrap());
    f.close().unwrap();
    assert_eq!(format_version(&fixture), c1z::engine::rocks::SCHEMA_VERSION);
    let saved = C1zFile::open_read_only(&fixture).unwrap();
    let mut expected = want.clone();
    expected.remove(derived);
    assert_eq!(grant_map(saved.store()), expected);
    assert!(!ids_by_principal(saved.store(), principal).contains(derived));
    saved.store().check_consistency().unwrap();
}

/// Files of other format versions are refused with a typed error before anything is read:
/// pre-release layouts (manifest versions 2 to 4) and future ones.
#[test]
fn other_rocksdb_format_versions_are_refused() {
    let (dir, fixture, _) = fixture_and_sample("format-v1.rocks.c1z");
    let bytes = std::fs::read(&fixture).unwrap();
    let header = c1z::format::v3::read_header(&fixture).unwrap();
    let payload = &bytes[9 + header.manifest_len as usize..];
    for version in [0, 2, 4, 99] {
        let manifest = C1zManifestV3 {
            engine_schema_version: version,
            ..header.manifest.clone()
        };
        let path = dir.path().join(format!("v{version}.c1z"));
        std::fs::write(&path, envelope(&manifest, payload)).unwrap();
        let err = C1zFile::open_read_only(&path).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedFormat { .. }),
            "version {version}: {err}"
        );
        assert!(err.to_string().contains("format version"), "{err}");
    }
}

/// Table bodies compressed ahead of a save splice into the tar + zstd stream: the stream
/// decodes to exactly the tar `write_tar` makes, whichever files were precompressed.
#[test]
fn precompressed_bodies_decode_to_the_same_tar() {
    use c1z::format::v3_payload::{
        BodyCompressor, FileIdentity, compress_entry_body, write_tar, write_tar_zstd,
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    std::fs::create_dir(&root).unwrap();
    // Sizes on and off the 512-byte block, an empty file, and two frames' worth (frames
    // hold 4 MiB).
    let sizes = [0usize, 1, 511, 512, 513, 70_000, (9 << 20) + 3, 5];
    for (i, n) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..*n).map(|j| (j * 7 + i) as u8).collect();
        std::fs::write(root.join(format!("{i:06}.sst")), data).unwrap();
    }
    let mut plain = Vec::new();
    write_tar(&root, &mut plain).unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    // Every other file precompressed, by one compressor reused from file to file (large
    // after small and small after large), whose frames are those of a fresh one.
    let mut made = std::collections::HashMap::new();
    let mut reused = BodyCompressor::new(1);
    for i in (0..sizes.len()).step_by(2) {
        let table = root.join(format!("{i:06}.sst"));
        let out = frames.join(format!("{i}.zst"));
        let body = reused.compress(&table, &out, &|| false).unwrap().unwrap();
        assert_eq!(body.path, out);
        let fresh = frames.join(format!("{i}.fresh.zst"));
        compress_entry_body(&table, &fresh, 1, &|| false)
            .unwrap()
            .unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&fresh).unwrap());
        made.insert(body.identity, body);
    }
    let lookup = |id: &FileIdentity| made.get(id).cloned();
    let opts = c1z::format::v1::EncodeOptions::default();
    let mut spliced = Vec::new();
    write_tar_zstd(&root, &mut spliced, opts, &lookup).unwrap();
    let decoded = zstd::stream::decode_all(spliced.as_slice()).unwrap();
    assert_eq!(decoded, plain);
    // A cancelled compression leaves nothing behind.
    let out = frames.join("cancelled.zst");
    let got = reused
        .compress(&root.join("000006.sst"), &out, &|| true)
        .unwrap();
    assert!(got.is_none());
    assert!(!out.exists());
}

/// A table rewritten in place behind its frames' back (same inode, length and mtime, so
/// the same identity) is compressed afresh at save, not spliced from the stale frames.
#[test]
fn stale_precompressed_bodies_are_not_spliced() {
    use c1z::format::v3_payload::{FileIdentity, compress_entry_body, write_tar, write_tar_zstd};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    std::fs::create_dir(&root).unwrap();
    let table = root.join("000001.sst");
    std::fs::write(&table, vec![b'a'; 70_000]).unwrap();
    std::fs::write(root.join("000002.sst"), vec![b'b'; 1_000]).unwrap();
    let frames = dir.path().join("stale.zst");
    let body = compress_entry_body(&table, &frames, 1, &|| false)
        .unwrap()
        .unwrap();
    let mtime = std::fs::metadata(&table).unwrap().modified().unwrap();
    {
        use std::io::{Seek, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&table)
            .unwrap();
        f.seek(std::io::SeekFrom::Start(100)).unwrap();
        f.write_all(b"rewritten").unwrap();
        f.set_modified(mtime).unwrap();
    }
    let now = FileIdentity::of(&std::fs::metadata(&table).unwrap()).unwrap();
    assert_eq!(now, body.identity, "the rewrite keeps the identity");
    let lookup = |id: &FileIdentity| (*id == body.identity).then(|| body.clone());
    let mut spliced = Vec::new();
    write_tar_zstd(&root, &mut spliced, Default::default(), &lookup).unwrap();
    let mut plain = Vec::new();
    write_tar(&root, &mut plain).unwrap();
    assert!(
        zstd::stream::decode_all(spliced.as_slice()).unwrap() == plain,
        "the save holds the table's current bytes"
    );
}

/// An expansion that ingests tables saves a file that reads back whole (its tables were
/// compressed in the background and spliced in).
#[test]
fn a_bulk_loaded_rocks_file_saves_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.c1z");
    {
        let f = OpenOptions::new()
            .with_create(true)
            .with_engine(EngineKind::Rocks)
            .with_rocksdb(c1z::RocksOptions::new().with_bulk_buffer(64 << 10))
            .open(&path)
            .unwrap();
        let run = f.store().start_sync(SyncType::Full, None).unwrap();
        let m = entitlement("group", "g", "member");
        run.put_entitlements(std::slice::from_ref(&m)).unwrap();
        let load = f.store().bulk_grants().unwrap();
        for chunk in 0..20 {
            let rows: Vec<_> = (0..50)
                .map(|i| encoded(&grant(&m, "user", &format!("u{chunk:02}-{i:02}"))))
                .collect();
            load.put_encoded_grants(run.id(), &rows).unwrap();
        }
        load.finish().unwrap();
        run.finish().unwrap();
        f.close().unwrap();
    }
    let f = C1zFile::open_read_only(&path).unwrap();
    let grants = f
        .store()
        .stream_grants(c1z::GrantQuery::default())
        .map(Result::unwrap)
        .count();
    assert_eq!(grants, 1000);
    assert!(!c1z::inspect::verify(&path).unwrap().is_empty());
}

/// A bulk write that fails to store grants it had accepted poisons saves: no file is
/// written without them.
#[test]
fn a_failed_bulk_write_refuses_to_save() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let store = c1z::engine::rocks::RocksStore::open(&db, false)
        .unwrap()
        .with_bulk_memory(64 << 10);
    // A file where the bulk tables' directory goes: the first table cannot be written.
    std::fs::write(db.join("c1z-bulk"), b"in the way").unwrap();
    let run = store.start_sync(SyncType::Full, None).unwrap();
    let m = entitlement("group", "g", "member");
    run.put_entitlements(std::slice::from_ref(&m)).unwrap();
    let load = store.bulk_grants().unwrap();
    let mut failed = false;
    for chunk in 0..20 {
        let rows: Vec<_> = (0..50)
            .map(|i| encoded(&grant(&m, "user", &format!("u{chunk:02}-{i:02}"))))
            .collect();
        if load.put_encoded_grants(run.id(), &rows).is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "the first table write fails");
    // Even once tables can be written again, the lost grants keep the copy from saving.
    std::fs::remove_file(db.join("c1z-bulk")).unwrap();
    let err = store
        .checkpoint_to(&dir.path().join("checkpoint"))
        .unwrap_err();
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        source.as_deref().is_some_and(|s| s.contains("not saved")),
        "{err}: {source:?}"
    );
    assert!(!dir.path().join("checkpoint").exists());
}
