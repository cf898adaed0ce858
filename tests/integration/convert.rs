//! Conversion between engines keeps every sync run and row exactly.

use c1z::SyncSelector;
use c1z::engine::EngineKind;
#[allow(unused_imports)]
use c1z::prelude::*;
use c1z::{
    AssetQuery, C1zFile, EntitlementQuery, GrantQuery, OpenOptions, ResourceQuery,
    ResourceTypeQuery,
};
use prost::Message;

use crate::util::samples;

/// A canonical dump of every row of every sync: sorted lines, engine-independent.
pub fn dump(s: &dyn c1z::Reader) -> Vec<String> {
    let mut out = Vec::new();
    for run in s.sync_runs().unwrap() {
        out.push(format!("run {run:?}"));
        let sync = SyncSelector::Id(run.id.clone());
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        for r in s.stream_resource_types(ResourceTypeQuery { sync: sync.clone() }) {
            let r = r.unwrap();
            out.push(format!(
                "{} rt {} {}",
                run.id,
                hex(&r.value.encode_to_vec()),
                r.discovered_at
            ));
        }
        for r in s.stream_resources(ResourceQuery {
            sync: sync.clone(),
            ..Default::default()
        }) {
            let r = r.unwrap();
            out.push(format!(
                "{} r {} {}",
                run.id,
                hex(&r.value.encode_to_vec()),
                r.discovered_at
            ));
        }
        for r in s.stream_entitlements(EntitlementQuery {
            sync: sync.clone(),
            ..Default::default()
        }) {
            let r = r.unwrap();
            out.push(format!(
                "{} e {} {}",
                run.id,
                hex(&r.value.encode_to_vec()),
                r.discovered_at
            ));
        }
        for g in s.stream_grants(GrantQuery {
            sync: sync.clone(),
            ..Default::default()
        }) {
            let g = g.unwrap();
            out.push(format!(
                "{} g {} {:?} {} {}",
                run.id,
                hex(&c1z::codec::encode_grant(&g.grant)),
                g.expansion,
                g.needs_expansion,
                g.discovered_at
            ));
        }
        for a in s.stream_assets(AssetQuery { sync: sync.clone() }) {
            let a = a.unwrap();
            out.push(format!(
                "{} a {} {} {} {}",
                run.id,
                a.id,
                a.content_type,
                hex(&a.data),
                a.discovered_at
            ));
        }
    }
    out.sort();
    out
}

fn convert(src: &std::path::Path, dst: &std::path::Path, engine: EngineKind) {
    let from = C1zFile::open_read_only(src).unwrap();
    let to = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(dst)
        .unwrap();
    c1z::convert::copy_all(from.store(), to.store()).unwrap();
    to.save_as(dst).unwrap();
}

#[test]
fn baton_v1_samples_round_trip_through_rocksdb() {
    let Some(dir) = samples() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "current/v025-multi-diff.c1z",
        "current/v025-unfinished.c1z",
        "sync.36zfOAoWMxQdISbixanQCRBiX7E.expanded",
        "sync-in-progress.c1z",
    ] {
        let src = dir.join(name);
        let rocks = tmp.path().join("r.c1z");
        let back = tmp.path().join("s.c1z");
        let _ = std::fs::remove_file(&rocks);
        let _ = std::fs::remove_file(&back);
        convert(&src, &rocks, EngineKind::Rocks);
        convert(&rocks, &back, EngineKind::Sqlite);
        let original = dump(C1zFile::open_read_only(&src).unwrap().store());
        let via_rocks = dump(C1zFile::open_read_only(&rocks).unwrap().store());
        let again = dump(C1zFile::open_read_only(&back).unwrap().store());
        assert_eq!(via_rocks.len(), original.len(), "{name}");
        assert!(via_rocks == original, "{name}: rocksdb content differs");
        assert!(
            again == original,
            "{name}: sqlite → rocksdb → sqlite differs"
        );
        // Stats agree too.
        for path in [&rocks, &back] {
            let f = C1zFile::open_read_only(path).unwrap();
            let o = C1zFile::open_read_only(&src).unwrap();
            for run in o.store().sync_runs().unwrap() {
                assert_eq!(
                    c1z::inspect::count_sync(f.store(), &run).unwrap(),
                    c1z::inspect::count_sync(o.store(), &run).unwrap(),
                    "{name} {}",
                    run.id
                );
            }
        }
    }
}
