//! Small SQLite databases are worked on in memory and move to disk once they outgrow the
//! memory limit; either way the rows, the saved file and the input are the same.

use c1z::{
    AnyStore, C1zFile, GrantQuery, OpenOptions, ReaderExt, SqliteOptions, SyncType, WriterExt,
};

use crate::util::{bytes_of, entitlement, grant, resource, resource_type};

fn in_memory(file: &C1zFile) -> bool {
    let AnyStore::Sqlite(s) = file.store() else {
        panic!("not a SQLite store")
    };
    s.is_in_memory()
}

/// Writes one finished sync of `n` grants, 500 per call.
fn write_grants(file: &C1zFile, n: usize) -> Vec<String> {
    let member = entitlement("group", "eng", "member");
    let run = file.store().start_sync(SyncType::Full, None).unwrap();
    run.put_resource_types(&[resource_type("group"), resource_type("user")])
        .unwrap();
    run.put_resources(&[resource("group", "eng")]).unwrap();
    run.put_entitlements(&[member.clone()]).unwrap();
    let grants: Vec<_> = (0..n)
        .map(|i| grant(&member, "user", &format!("user-{i:06}")))
        .collect();
    for chunk in grants.chunks(500) {
        run.put_grants(chunk).unwrap();
    }
    run.finish().unwrap();
    let mut ids: Vec<String> = grants.into_iter().map(|g| g.id).collect();
    ids.sort();
    ids
}

fn grant_ids(file: &C1zFile) -> Vec<String> {
    let mut ids: Vec<String> = file
        .store()
        .all_grants(GrantQuery::default())
        .unwrap()
        .into_iter()
        .map(|r| r.grant.id)
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_growing_database_moves_to_disk_and_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grow.c1z");
    let limit = 512 << 10;
    let file = OpenOptions::new()
        .with_create(true)
        .with_sqlite(SqliteOptions::new().with_memory_limit(limit))
        .open(&path)
        .unwrap();
    assert!(in_memory(&file), "a new database starts in memory");
    let want = write_grants(&file, 5_000);
    assert!(!in_memory(&file), "5,000 grants outgrow 512 KiB");
    assert_eq!(grant_ids(&file), want);
    file.close().unwrap();

    // Reopened under the limit's default it fits in memory again; on disk it is the same.
    let again = C1zFile::open(&path).unwrap();
    assert!(in_memory(&again));
    assert_eq!(grant_ids(&again), want);
    // One writable open at a time (the writer lock).
    drop(again);
    let on_disk = OpenOptions::new()
        .with_sqlite(SqliteOptions::new().with_memory_limit(0))
        .open(&path)
        .unwrap();
    assert!(!in_memory(&on_disk));
    assert_eq!(grant_ids(&on_disk), want);
    drop(on_disk);
    // A file that decodes to more than the limit opens on disk.
    let large = OpenOptions::new()
        .with_sqlite(SqliteOptions::new().with_memory_limit(limit))
        .open(&path)
        .unwrap();
    assert!(!in_memory(&large));
    assert_eq!(grant_ids(&large), want);
}

#[test]
fn memory_and_disk_save_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut saved = Vec::new();
    for limit in [0, c1z::engine::sqlite::DEFAULT_MEMORY_LIMIT] {
        let path = dir.path().join(format!("same-{limit}.c1z"));
        let file = OpenOptions::new()
            .with_create(true)
            .with_sqlite(SqliteOptions::new().with_memory_limit(limit))
            .open(&path)
            .unwrap();
        assert_eq!(in_memory(&file), limit > 0);
        write_grants(&file, 200);
        file.close().unwrap();
        let reopened = C1zFile::open_read_only(&path).unwrap();
        saved.push((
            grant_ids(&reopened),
            reopened.store().sync_runs().unwrap().len(),
        ));
    }
    assert_eq!(saved[0], saved[1]);
}

#[test]
fn a_read_only_database_in_memory_leaves_the_input_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.c1z");
    let file = C1zFile::create(&path).unwrap();
    write_grants(&file, 50);
    file.close().unwrap();
    let before = bytes_of(&path);
    let ro = C1zFile::open_read_only(&path).unwrap();
    assert!(in_memory(&ro));
    assert_eq!(grant_ids(&ro).len(), 50);
    assert!(ro.store().start_sync(SyncType::Full, None).is_err());
    assert!(!ro.close().unwrap());
    assert_eq!(bytes_of(&path), before);
}

/// A v1 file whose zstd frame does not declare its decoded size (as older baton files).
fn without_declared_size(src: &std::path::Path, dst: &std::path::Path) {
    let db = src.with_extension("db");
    c1z::format::v1::decode(src, &db, Default::default()).unwrap();
    let raw = std::fs::read(&db).unwrap();
    let mut out = b"C1ZF\0".to_vec();
    let mut enc = zstd::stream::write::Encoder::new(&mut out, 3).unwrap();
    std::io::Write::write_all(&mut enc, &raw).unwrap();
    enc.finish().unwrap();
    std::fs::write(dst, out).unwrap();
    assert_eq!(c1z::format::v1::declared_size(dst).unwrap(), None);
    assert_eq!(
        c1z::format::v1::declared_size(src).unwrap(),
        Some(raw.len() as u64)
    );
}

#[test]
fn an_undeclared_size_is_found_while_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let declared = dir.path().join("declared.c1z");
    let file = C1zFile::create(&declared).unwrap();
    let want = write_grants(&file, 3_000);
    file.close().unwrap();
    let path = dir.path().join("undeclared.c1z");
    without_declared_size(&declared, &path);
    let size = std::fs::metadata(declared.with_extension("db"))
        .unwrap()
        .len();

    // Over the limit: the decoder moves to the file part way through.
    let small = OpenOptions::new()
        .with_sqlite(SqliteOptions::new().with_memory_limit(size / 2))
        .open(&path)
        .unwrap();
    assert!(!in_memory(&small));
    assert_eq!(grant_ids(&small), want);
    drop(small);
    // Within it: in memory.
    let fits = OpenOptions::new()
        .with_sqlite(SqliteOptions::new().with_memory_limit(size))
        .open(&path)
        .unwrap();
    assert!(in_memory(&fits));
    assert_eq!(grant_ids(&fits), want);
}

#[test]
fn one_call_larger_than_the_limit_moves_to_disk_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big-call.c1z");
    let file = OpenOptions::new()
        .with_create(true)
        .with_sqlite(SqliteOptions::new().with_memory_limit(1 << 20))
        .open(&path)
        .unwrap();
    let member = entitlement("group", "eng", "member");
    let run = file.store().start_sync(SyncType::Full, None).unwrap();
    run.put_entitlements(&[member.clone()]).unwrap();
    assert!(in_memory(&file));
    // About 20,000 × 300 bytes: several times the 1 MiB limit, in one call.
    let grants: Vec<_> = (0..20_000)
        .map(|i| grant(&member, "user", &format!("user-{i:06}")))
        .collect();
    run.put_grants(&grants).unwrap();
    assert!(!in_memory(&file));
    run.finish().unwrap();
    assert_eq!(grant_ids(&file).len(), 20_000);
}
