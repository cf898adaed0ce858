//! Rollback of expansion: baton's counts on its own expanded syncs, the replay back to the
//! same sync, baton's Pebble file, suspect grants, the command.

use std::process::Command;

use c1z::diff::{Side, diff};
use c1z::engine::EngineKind;
use c1z::expand::rollback::{RollbackOptions, RollbackReport, plan_rollback, rollback_expansion};
use c1z::expand::{ExpandOptions, expand};
use c1z::{C1zFile, GrantQuery, OpenOptions, Reader, ReaderExt, SyncId, SyncSelector};

use crate::util::samples;

const A: &str = "3MSzR1qTdcCXVYCSZuSj5tsioLQ";
const D: &str = "3MSzRZG1ohUOGETUrnuDqs0RnZE";

fn report(grants: u64, deleted: u64, cleared: u64) -> RollbackReport {
    RollbackReport {
        grants,
        untouched: grants - deleted - cleared,
        deleted,
        suspect_deleted: 0,
        suspect_kept: 0,
        cleared,
    }
}

/// The sync `id` of `src` alone in a new writable store of `engine`.
fn isolated(src: &C1zFile, id: &SyncId, engine: EngineKind, dir: &std::path::Path) -> C1zFile {
    let out = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(dir.join(format!("{id}.{}.c1z", engine.name())))
        .unwrap();
    let run = src.store().require_sync_run(id).unwrap();
    c1z::convert::copy_sync(src.store(), out.store(), &run).unwrap();
    out
}

#[test]
fn batons_expanded_syncs_roll_back_to_their_direct_grants_and_expand_back_to_themselves() {
    let Some(dir) = samples() else { return };
    let multi = C1zFile::open_read_only(dir.join("current/v025-multi.c1z")).unwrap();
    // The README's expansion facts: (a) 921 direct → 1,498 (577 derived, 21 direct gained
    // sources); (d) 921 → 1,502 (581 derived, 19 gained sources).
    for (id, want) in [(A, report(1_498, 577, 21)), (D, report(1_502, 581, 19))] {
        let id = SyncId::from(id);
        assert_eq!(
            plan_rollback(multi.store(), &id, &RollbackOptions::default()).unwrap(),
            want
        );
        for engine in [EngineKind::Sqlite, EngineKind::Rocks] {
            let tmp = tempfile::tempdir().unwrap();
            let out = isolated(&multi, &id, engine, tmp.path());
            let got = rollback_expansion(out.store(), &id, &RollbackOptions::default()).unwrap();
            assert_eq!(got, want, "{engine:?}");
            let grants: Vec<_> = out
                .store()
                .stream_grants(GrantQuery {
                    sync: SyncSelector::Id(id.clone()),
                    ..Default::default()
                })
                .map(Result::unwrap)
                .collect();
            assert_eq!(grants.len(), 921);
            assert!(grants.iter().all(|g| g.grant.sources.is_none()));
            // The edges are still there: 30 expandable grants.
            assert_eq!(grants.iter().filter(|g| g.needs_expansion).count(), 30);
            let run = out.store().require_sync_run(&id).unwrap();
            assert_eq!(run.stats, None);
            let token: serde_json::Value = serde_json::from_str(&run.sync_token).unwrap();
            assert_eq!(token["needs_expansion"], true);
            // Rolled back twice: nothing more to do.
            assert_eq!(
                plan_rollback(out.store(), &id, &RollbackOptions::default()).unwrap(),
                report(921, 0, 0)
            );
            // The replay gives back baton's expansion, grant for grant and byte for byte.
            expand(out.store(), &id, &ExpandOptions::default()).unwrap();
            let same = diff(
                Side {
                    store: multi.store(),
                    sync: &id,
                },
                Side {
                    store: out.store(),
                    sync: &id,
                },
                |_| Ok(()),
            )
            .unwrap();
            assert!(same.is_empty(), "{engine:?}: {same:?}");
            out.discard();
        }
    }
}

#[test]
fn batons_pebble_file_rolls_back_into_rocksdb_and_replays_to_the_canonical_listing() {
    let Some(dir) = samples() else { return };
    let pebble = C1zFile::open_read_only(dir.join("current/v025-full.pebble.c1z")).unwrap();
    let id = pebble.store().sync_runs().unwrap()[0].id.clone();
    let tmp = tempfile::tempdir().unwrap();
    let out = isolated(&pebble, &id, EngineKind::Rocks, tmp.path());
    let got = rollback_expansion(out.store(), &id, &RollbackOptions::default()).unwrap();
    assert_eq!(got, report(1_502, 581, 19));
    expand(out.store(), &id, &ExpandOptions::default()).unwrap();
    let want = std::fs::read_to_string(dir.join("current/v025-multi.d-expanded.tsv")).unwrap();
    assert_eq!(crate::pebble_store::canonical_listing(out.store()), want);
    out.discard();
}

#[test]
fn suspect_grants_are_deleted_unless_preserved() {
    use crate::util::{entitlement, grant, resource, resource_type};
    use c1z::{SyncType, WriterExt};
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("s.c1z");
    let f = OpenOptions::new().with_create(true).open(&path).unwrap();
    let w = f.store().start_sync(SyncType::Full, None).unwrap();
    w.put_resource_types(&[resource_type("user"), resource_type("group")])
        .unwrap();
    w.put_resources(&[
        resource("user", "u1"),
        resource("group", "g1"),
        resource("group", "g2"),
    ])
    .unwrap();
    let (e1, e2) = (
        entitlement("group", "g1", "member"),
        entitlement("group", "g2", "member"),
    );
    w.put_entitlements(&[e1.clone(), e2.clone()]).unwrap();
    // A connector's grant that carries sources but no GrantImmutable: it looks derived.
    let mut suspect = grant(&e2, "user", "u1");
    suspect.sources = Some(c1z::pb::c1::connector::v2::GrantSources {
        sources: [(e1.id.clone(), Default::default())].into(),
    });
    w.put_grants(&[grant(&e1, "user", "u1"), suspect]).unwrap();
    let id = w.finish().unwrap().id;
    // Not marked expanded: refused, as baton refuses.
    let e = plan_rollback(f.store(), &id, &RollbackOptions::default()).unwrap_err();
    assert!(e.to_string().contains("supports_diff"), "{e}");
    let mut run = f.store().require_sync_run(&id).unwrap();
    run.supports_diff = true;
    c1z::Writer::put_sync_run(f.store(), &run).unwrap();
    let keep = RollbackOptions {
        preserve_suspect: true,
        ..Default::default()
    };
    let kept = rollback_expansion(f.store(), &id, &keep).unwrap();
    assert_eq!((kept.deleted, kept.suspect_kept, kept.untouched), (0, 1, 1));
    assert_eq!(
        f.store().count_objects(&id).unwrap().grants_by_type["group"],
        2
    );
    let gone = rollback_expansion(f.store(), &id, &RollbackOptions::default()).unwrap();
    assert_eq!((gone.deleted, gone.suspect_deleted), (1, 1));
    assert_eq!(
        f.store().count_objects(&id).unwrap().grants_by_type["group"],
        1
    );
    f.discard();
}

#[test]
fn the_command_counts_writes_a_new_file_and_refuses_what_baton_refuses() {
    let Some(dir) = samples() else { return };
    let multi = dir.join("current/v025-multi.c1z");
    let before = std::fs::read(&multi).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_c1z"))
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&[
        "rollback-expansion",
        multi.to_str().unwrap(),
        "--dry-run",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let counts: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(counts["deleted"], 581);
    assert_eq!(counts["cleared"], 19);
    let out = tmp.path().join("rolled.c1z");
    let o = run(&[
        "rollback-expansion",
        multi.to_str().unwrap(),
        "--sync-id",
        A,
        "-o",
        out.to_str().unwrap(),
        "--engine",
        "rocksdb",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("deleted 577"));
    let rolled = C1zFile::open_read_only(&out).unwrap();
    let runs = rolled.store().sync_runs().unwrap();
    assert_eq!((runs.len(), runs[0].id.as_str()), (1, A));
    assert_eq!(rolled.store().engine(), "rocksdb");
    assert_eq!(
        rolled
            .store()
            .count_objects(&runs[0].id)
            .unwrap()
            .grants_by_type
            .values()
            .sum::<u64>(),
        921
    );
    assert_eq!(
        std::fs::read(&multi).unwrap(),
        before,
        "the input is never modified"
    );
    // No output without --dry-run: clap's usage error.
    let o = run(&["rollback-expansion", multi.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    // An unfinished sync: refused, nothing written.
    let none = tmp.path().join("none.c1z");
    let o = run(&[
        "rollback-expansion",
        dir.join("current/v025-unfinished.c1z").to_str().unwrap(),
        "-o",
        none.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not finished"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!none.exists());
}
