use c1z::SyncSelector;
use c1z::engine::EngineKind;
#[allow(unused_imports)]
use c1z::prelude::*;
use c1z::{C1zFile, Error, GrantUpsertMode, Reader, ReaderExt, SyncType, Writer, WriterExt};

use crate::util::{bytes_of, fresh, resource_type};

fn read_only_refuses_every_write(engine: EngineKind) {
    let f = fresh(engine);
    let id = {
        let run = f.store().start_sync(SyncType::Full, None).unwrap();
        run.put_resource_types(&[resource_type("user")]).unwrap();
        run.finish().unwrap().id
    };
    let f = f.reopen();
    let path = f.path.clone();
    drop(f.file);
    let before = bytes_of(&path);
    let ro = C1zFile::open_read_only(&path).unwrap();
    let s = ro.store();
    let refused = |r: c1z::Result<()>| assert!(matches!(r, Err(Error::ReadOnly { .. })), "{r:?}");
    refused(s.start_sync(SyncType::Full, None).map(|_| ()));
    refused(s.put_resource_types(&id, &[c1z::Record::now(resource_type("group"))]));
    refused(s.put_grants(&id, &[], GrantUpsertMode::Replace));
    refused(s.delete_grant(&id, "x").map(|_| ()));
    refused(s.delete_sync_run(&id));
    refused(s.compact());
    refused(s.bulk_grants().map(|_| ()));
    refused(s.sync_writer(&id).unwrap().checkpoint("t"));
    refused(s.sync_writer(&id).unwrap().finish().map(|_| ()));
    // The store says what it is.
    let meta = s.metadata();
    assert!(meta.read_only);
    assert_eq!(meta.engine, engine.name());
    assert_eq!(
        (meta.format, meta.engine_version),
        match engine {
            EngineKind::Sqlite => (c1z::format::Format::V1, 0),
            EngineKind::Rocks => (c1z::format::Format::V3, 1),
        }
    );
    assert!(!writable_metadata(engine).read_only);
    // Reads work, and nothing is ever written back.
    assert_eq!(s.sync_runs().unwrap().len(), 1);
    assert!(
        s.resource_type(&SyncSelector::from(&id), "user")
            .unwrap()
            .is_some()
    );
    assert!(!ro.save().unwrap());
    assert!(!ro.close().unwrap());
    assert_eq!(bytes_of(&path), before);
}

fn writable_metadata(engine: EngineKind) -> c1z::StoreMetadata {
    fresh(engine).store().metadata()
}

engines!(read_only_refuses_every_write);
