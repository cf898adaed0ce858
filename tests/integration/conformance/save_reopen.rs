use c1z::SyncSelector;
use c1z::engine::EngineKind;
#[allow(unused_imports)]
use c1z::prelude::*;
use c1z::{C1zFile, GrantQuery, ReaderExt, SyncType, WriterExt};

use crate::util::{
    bytes_of, entitlement, expandable, fresh, grant, resource, resource_type, with_expandable,
};

fn everything_survives_save_and_reopen(engine: EngineKind) {
    let f = fresh(engine);
    let member = entitlement("group", "eng", "member");
    let e = expandable(&["group:ops:member"]);
    let run = f.store().start_sync(SyncType::Full, None).unwrap();
    run.put_resource_types(&[resource_type("group")]).unwrap();
    run.put_resources(&[resource("group", "eng")]).unwrap();
    run.put_entitlements(&[member.clone()]).unwrap();
    run.put_grants(&[with_expandable(grant(&member, "group", "ops"), &e)])
        .unwrap();
    run.put_asset("icon", "image/png", b"png").unwrap();
    let done = run.finish().unwrap();
    let before = f.store().all_grants(GrantQuery::default()).unwrap();
    let f = f.reopen();
    let s = f.store();
    assert_eq!(s.sync_runs().unwrap(), vec![done.clone()]);
    assert_eq!(s.all_grants(GrantQuery::default()).unwrap(), before);
    assert_eq!(before[0].expansion, Some(e));
    assert_eq!(
        s.asset(&SyncSelector::from(&done.id), "icon")
            .unwrap()
            .unwrap()
            .data,
        b"png"
    );
}

fn a_store_without_writes_is_not_saved(engine: EngineKind) {
    let f = fresh(engine);
    f.store()
        .start_sync(SyncType::Full, None)
        .unwrap()
        .finish()
        .unwrap();
    let f = f.reopen();
    let path = f.path.clone();
    let stamp = std::fs::metadata(&path).unwrap().modified().unwrap();
    let before = bytes_of(&path);
    // Reads only: neither save nor close rewrites the file.
    assert_eq!(f.store().sync_runs().unwrap().len(), 1);
    assert!(!f.file.save().unwrap());
    assert!(!f.file.close().unwrap());
    assert_eq!(bytes_of(&path), before);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), stamp);
}

fn a_new_store_never_written_creates_no_file(engine: EngineKind) {
    let f = fresh(engine);
    let path = f.path.clone();
    f.file.close().unwrap();
    assert!(!path.exists());
}

fn save_leaves_no_temp_files(engine: EngineKind) {
    let f = fresh(engine);
    f.store()
        .start_sync(SyncType::Full, None)
        .unwrap()
        .finish()
        .unwrap();
    let dir = f.dir.path().to_owned();
    let f = f.reopen();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    // The open file's writer lock, and the file: no temp file.
    assert_eq!(names, [".test.c1z.lock", "test.c1z"]);
    // save_as writes a copy that opens with the same content.
    let copy = dir.join("copy.c1z");
    f.file.save_as(&copy).unwrap();
    let c = C1zFile::open_read_only(&copy).unwrap();
    assert_eq!(
        c.store().sync_runs().unwrap(),
        f.store().sync_runs().unwrap()
    );
}

engines!(
    everything_survives_save_and_reopen,
    a_store_without_writes_is_not_saved,
    a_new_store_never_written_creates_no_file,
    save_leaves_no_temp_files,
);
