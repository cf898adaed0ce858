//! Diffs: the acceptance counts on baton's samples, baton's own diff pair reproduced
//! object for object, the same answers across engines, and nothing for a file against
//! itself.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use c1z::diff::{Change, Kind, Side, diff, write_diff_pair};
use c1z::engine::EngineKind;
use c1z::{
    C1zFile, EntitlementQuery, GrantQuery, OpenOptions, ReaderExt, ResourceQuery,
    ResourceTypeQuery, SyncId, SyncSelector,
};
use prost::Message;

use crate::util::samples;

const A: &str = "3MSzR1qTdcCXVYCSZuSj5tsioLQ";
const D: &str = "3MSzRZG1ohUOGETUrnuDqs0RnZE";
const BATON_UPSERTS: &str = "3MSzRdqeokwSjwxeWO1D5kyW6BM";
const BATON_DELETIONS: &str = "3MSzRc1Kborqsab8PMrDr2ljX3U";

/// Every object of a sync, as canonical bytes per kind (timestamps and sync ids left out).
fn contents(file: &C1zFile, sync: &SyncId) -> [BTreeSet<Vec<u8>>; 4] {
    let store = file.store();
    let sel = || SyncSelector::Id(sync.clone());
    let rts = store
        .stream_resource_types(ResourceTypeQuery { sync: sel() })
        .map(|r| r.unwrap().value.encode_to_vec())
        .collect();
    let rs = store
        .stream_resources(ResourceQuery {
            sync: sel(),
            ..Default::default()
        })
        .map(|r| r.unwrap().value.encode_to_vec())
        .collect();
    let es = store
        .stream_entitlements(EntitlementQuery {
            sync: sel(),
            ..Default::default()
        })
        .map(|r| r.unwrap().value.encode_to_vec())
        .collect();
    let gs = store
        .stream_grants(GrantQuery {
            sync: sel(),
            ..Default::default()
        })
        .map(|g| {
            let g = g.unwrap();
            let mut bytes = c1z::codec::encode_grant(&g.grant);
            bytes.push(0xff);
            if let Some(x) = &g.expansion {
                bytes.extend(x.encode_to_vec());
            }
            bytes
        })
        .collect();
    [rts, rs, es, gs]
}

fn counts(s: &c1z::diff::DiffSummary, kind: Kind) -> (u64, u64, u64) {
    let k = &s.kinds[&kind];
    (k.added, k.changed, k.removed)
}

#[test]
fn the_36zf_expansion_is_twelve_thousand_grants_added_and_1199_changed() {
    let Some(s) = samples() else { return };
    let old =
        C1zFile::open_read_only(s.join("sync.36zfOAoWMxQdISbixanQCRBiX7E.unexpanded")).unwrap();
    let new = C1zFile::open_read_only(s.join("sync.36zfOAoWMxQdISbixanQCRBiX7E.expanded")).unwrap();
    let sync = SyncId::from("36zfOAoWMxQdISbixanQCRBiX7E");
    let mut added_ids = BTreeSet::new();
    let summary = diff(
        Side {
            store: old.store(),
            sync: &sync,
        },
        Side {
            store: new.store(),
            sync: &sync,
        },
        |d| {
            if d.change == Change::Added {
                assert!(added_ids.insert(d.object.external_id()), "each once");
            }
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(counts(&summary, Kind::Grant), (12_072, 1_199, 0));
    for kind in [Kind::ResourceType, Kind::Resource, Kind::Entitlement] {
        assert_eq!(counts(&summary, kind), (0, 0, 0), "{kind:?}");
    }
    assert_eq!(added_ids.len(), 12_072);
    // A file against itself: nothing.
    let same = diff(
        Side {
            store: new.store(),
            sync: &sync,
        },
        Side {
            store: new.store(),
            sync: &sync,
        },
        |_| panic!("no difference expected"),
    )
    .unwrap();
    assert!(same.is_empty());
}

#[test]
fn a_to_d_written_as_a_pair_holds_batons_own_pair_object_for_object() {
    let Some(s) = samples() else { return };
    let multi = C1zFile::open_read_only(s.join("current/v025-multi.c1z")).unwrap();
    let baton = C1zFile::open_read_only(s.join("current/v025-multi-diff.c1z")).unwrap();
    let (a, d) = (SyncId::from(A), SyncId::from(D));
    let dir = tempfile::tempdir().unwrap();
    for engine in [EngineKind::Sqlite, EngineKind::Rocks] {
        let path = dir.path().join(format!("pair-{}.c1z", engine.name()));
        let out = OpenOptions::new()
            .with_create(true)
            .with_engine(engine)
            .open(&path)
            .unwrap();
        let pair = write_diff_pair(
            Side {
                store: multi.store(),
                sync: &a,
            },
            Side {
                store: multi.store(),
                sync: &d,
            },
            out.store(),
        )
        .unwrap();
        assert_eq!(counts(&pair.summary, Kind::Resource), (0, 6, 0));
        assert_eq!(counts(&pair.summary, Kind::Entitlement), (0, 5, 0));
        let (added, changed, removed) = counts(&pair.summary, Kind::Grant);
        assert_eq!((added + changed, removed), (182, 68));
        out.close().unwrap();

        let ours = C1zFile::open_read_only(&path).unwrap();
        assert_eq!(
            contents(&ours, &pair.upserts),
            contents(&baton, &SyncId::from(BATON_UPSERTS)),
            "{engine:?} upserts"
        );
        assert_eq!(
            contents(&ours, &pair.deletions),
            contents(&baton, &SyncId::from(BATON_DELETIONS)),
            "{engine:?} deletions"
        );
        // The runs as baton makes them: types, parent, links, diff support, one end time.
        let up = ours.store().require_sync_run(&pair.upserts).unwrap();
        let del = ours.store().require_sync_run(&pair.deletions).unwrap();
        assert_eq!(
            (up.sync_type.as_str(), del.sync_type.as_str()),
            ("partial_upserts", "partial_deletions")
        );
        assert_eq!(up.parent_sync_id.as_ref(), Some(&a));
        assert_eq!(del.parent_sync_id.as_ref(), Some(&a));
        assert_eq!(up.linked_sync_id.as_ref(), Some(&pair.deletions));
        assert_eq!(del.linked_sync_id.as_ref(), Some(&pair.upserts));
        assert!(up.supports_diff && del.supports_diff);
        assert!(up.ended_at.is_some() && up.ended_at == del.ended_at);
        let runs = ours.store().sync_runs().unwrap();
        assert_eq!(
            runs[0].id, pair.deletions,
            "deletions created first, as baton"
        );
    }
}

#[test]
fn engines_and_files_do_not_change_the_answer() {
    let Some(s) = samples() else { return };
    let dir = tempfile::tempdir().unwrap();
    let v1 = s.join("current/v025-multi.c1z");
    let rocks = dir.path().join("multi.rocks.c1z");
    let bin = env!("CARGO_BIN_EXE_c1z");
    let o = Command::new(bin)
        .args([
            "convert",
            v1.to_str().unwrap(),
            rocks.to_str().unwrap(),
            "--engine",
            "rocksdb",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let run = |old: &Path, new: &Path| -> serde_json::Value {
        let o = Command::new(bin)
            .args([
                "diff",
                old.to_str().unwrap(),
                new.to_str().unwrap(),
                "--old-sync",
                A,
                "--new-sync",
                D,
                "-o",
                "json",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(o.stderr.is_empty());
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let same_file = run(&v1, &v1);
    let across = run(&v1, &rocks);
    let on_rocks = run(&rocks, &rocks);
    for v in [&across, &on_rocks] {
        assert_eq!(v["summary"]["kinds"], same_file["summary"]["kinds"]);
        assert_eq!(v["summary"]["gained"], same_file["summary"]["gained"]);
    }
    assert_eq!(same_file["summary"]["kinds"]["grant"]["removed"], 68);
    assert_eq!(
        same_file["changes"],
        serde_json::json!([]),
        "details only on request"
    );

    // ndjson: one line per difference, each naming kind, change and id.
    let o = Command::new(bin)
        .args([
            "diff",
            v1.to_str().unwrap(),
            rocks.to_str().unwrap(),
            "--old-sync",
            A,
            "--new-sync",
            D,
            "-o",
            "ndjson",
            "--details",
        ])
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6 + 5 + 182 + 68);
    let changed_resource = lines
        .iter()
        .find(|l| l["kind"] == "resource" && l["change"] == "changed")
        .unwrap();
    assert!(
        changed_resource["fields"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("displayName")),
        "{changed_resource}"
    );

    // The table: summary first; an unknown sync exits 2 saying what to do.
    let o = Command::new(bin)
        .args([
            "diff",
            v1.to_str().unwrap(),
            v1.to_str().unwrap(),
            "--old-sync",
            A,
            "--new-sync",
            D,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("grants") && l.split_whitespace().last() == Some("68")),
        "{text}"
    );
    let o = Command::new(bin)
        .args([
            "diff",
            v1.to_str().unwrap(),
            v1.to_str().unwrap(),
            "--old-sync",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("c1z syncs"));
}

#[test]
fn applying_batons_own_pair_to_a_gives_d() {
    let Some(s) = samples() else { return };
    let diff_file = s.join("current/v025-multi-diff.c1z");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("applied.c1z");
    let o = Command::new(env!("CARGO_BIN_EXE_c1z"))
        .args([
            "apply",
            diff_file.to_str().unwrap(),
            diff_file.to_str().unwrap(),
            "--base-sync",
            A,
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty());
    let applied = C1zFile::open_read_only(&out).unwrap();
    let runs = applied.store().sync_runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].sync_type, "full");
    assert!(runs[0].is_finished());
    let multi = C1zFile::open_read_only(s.join("current/v025-multi.c1z")).unwrap();
    assert_eq!(
        contents(&applied, &runs[0].id),
        contents(&multi, &SyncId::from(D))
    );
    // Its stored stats are its counts.
    let stats = c1z::sync::SyncStats::from_cached(runs[0].stats.as_deref().unwrap()).unwrap();
    assert_eq!(stats.grants, 1502);
    // A base the pair was not made from is named in the error.
    let o = Command::new(env!("CARGO_BIN_EXE_c1z"))
        .args([
            "apply",
            diff_file.to_str().unwrap(),
            diff_file.to_str().unwrap(),
            "--base-sync",
            D,
            "-o",
            dir.path().join("x.c1z").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("whose parent is"));
}

mod apply_model {
    use super::*;
    use crate::util::{entitlement, grant, resource, resource_type};
    use c1z::{SyncType, WriterExt};
    use proptest::prelude::*;

    /// One slot of a small universe: present on each side, and which version.
    #[derive(Clone, Copy, Debug)]
    struct Slot {
        in_a: bool,
        in_b: bool,
        version_a: bool,
        version_b: bool,
    }

    const USERS: usize = 5;
    const GROUPS: usize = 3;

    /// A sync of the universe's objects present on one side, in a new file.
    fn snapshot(
        dir: &Path,
        name: &str,
        engine: EngineKind,
        slots: &[Slot],
        side_b: bool,
    ) -> (C1zFile, SyncId) {
        let path = dir.join(name);
        let f = OpenOptions::new()
            .with_create(true)
            .with_engine(engine)
            .open(&path)
            .unwrap();
        let run = f.store().start_sync(SyncType::Full, None).unwrap();
        let mut slots = slots.iter().map(|s| {
            if side_b {
                (s.in_b, s.version_b)
            } else {
                (s.in_a, s.version_a)
            }
        });
        let mut next = || slots.next().unwrap();
        let named = |mut name: String, v: bool| {
            if v {
                name.push_str(" (renamed)");
            }
            name
        };
        let mut rts = Vec::new();
        for id in ["user", "group"] {
            let (present, v) = next();
            if present {
                let mut rt = resource_type(id);
                rt.display_name = named(rt.display_name, v);
                rts.push(rt);
            }
        }
        run.put_resource_types(&rts).unwrap();
        let mut rs = Vec::new();
        for (rt, n) in [("user", USERS), ("group", GROUPS)] {
            for i in 0..n {
                let (present, v) = next();
                if present {
                    let mut r = resource(rt, &format!("{rt}{i}"));
                    r.display_name = named(r.display_name, v);
                    rs.push(r);
                }
            }
        }
        run.put_resources(&rs).unwrap();
        let mut es = Vec::new();
        let mut gs = Vec::new();
        for g in 0..GROUPS {
            let (present, v) = next();
            let mut e = entitlement("group", &format!("group{g}"), "member");
            e.display_name = named(e.display_name, v);
            if present {
                es.push(e.clone());
            }
            for u in 0..USERS {
                let (present, v) = next();
                if present {
                    let mut gr = grant(&e, "user", &format!("user{u}"));
                    if v {
                        gr.annotations.push(c1z::codec::to_any(
                            "c1.connector.v2.GrantImmutable",
                            &c1z::pb::c1::connector::v2::GrantImmutable::default(),
                        ));
                    }
                    gs.push(gr);
                }
            }
        }
        run.put_entitlements(&es).unwrap();
        run.put_grants(&gs).unwrap();
        let id = run.finish().unwrap().id;
        f.close().unwrap();
        (C1zFile::open_read_only(&path).unwrap(), id)
    }

    const SLOTS: usize = 2 + USERS + GROUPS + GROUPS * (1 + USERS);

    fn engine(bit: bool) -> EngineKind {
        if bit {
            EngineKind::Rocks
        } else {
            EngineKind::Sqlite
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// apply(A, diff(A, B)) has exactly B's content, on and across engines.
        #[test]
        fn apply_of_a_diff_gives_the_new_side(
            slots in proptest::collection::vec(
                (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>())
                    .prop_map(|(in_a, in_b, version_a, version_b)| Slot { in_a, in_b, version_a, version_b }),
                SLOTS,
            ),
            engines in any::<[bool; 4]>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let (a, a_sync) = snapshot(dir.path(), "a.c1z", engine(engines[0]), &slots, false);
            let (b, b_sync) = snapshot(dir.path(), "b.c1z", engine(engines[1]), &slots, true);
            let pair_path = dir.path().join("pair.c1z");
            let pair_file = OpenOptions::new().with_create(true).with_engine(engine(engines[2])).open(&pair_path).unwrap();
            let pair = write_diff_pair(
                Side { store: a.store(), sync: &a_sync },
                Side { store: b.store(), sync: &b_sync },
                pair_file.store(),
            ).unwrap();
            pair_file.close().unwrap();
            let pair_file = C1zFile::open_read_only(&pair_path).unwrap();
            let out_path = dir.path().join("out.c1z");
            let out = OpenOptions::new().with_create(true).with_engine(engine(engines[3])).open(&out_path).unwrap();
            let applied = c1z::diff::apply_diff(
                Side { store: a.store(), sync: &a_sync },
                Side { store: pair_file.store(), sync: &pair.upserts },
                Side { store: pair_file.store(), sync: &pair.deletions },
                out.store(),
            ).unwrap();
            out.close().unwrap();
            let out = C1zFile::open_read_only(&out_path).unwrap();
            prop_assert_eq!(contents(&out, &applied.sync), contents(&b, &b_sync));
            // And the applied sync diffs to nothing against B.
            let again = diff(
                Side { store: out.store(), sync: &applied.sync },
                Side { store: b.store(), sync: &b_sync },
                |_| Ok(()),
            ).unwrap();
            prop_assert!(again.is_empty());
        }
    }
}

#[test]
fn export_sync_clones_one_sync_with_its_run_on_any_engine() {
    let Some(s) = samples() else { return };
    let multi_path = s.join("current/v025-multi.c1z");
    let multi = C1zFile::open_read_only(&multi_path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let partial = "3MSzRQYwupl3gWol0rE7PjBrBvX";
    for (sync, engine) in [(D, "sqlite"), (partial, "rocksdb"), (D, "rocksdb")] {
        let out = dir.path().join(format!("{sync}-{engine}.c1z"));
        let o = Command::new(env!("CARGO_BIN_EXE_c1z"))
            .args([
                "export-sync",
                multi_path.to_str().unwrap(),
                "--sync-id",
                sync,
                "-o",
                out.to_str().unwrap(),
                "--engine",
                engine,
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let cloned = C1zFile::open_read_only(&out).unwrap();
        assert_eq!(cloned.metadata().engine, engine);
        let runs = cloned.store().sync_runs().unwrap();
        assert_eq!(runs.len(), 1);
        let original = multi.store().require_sync_run(&SyncId::from(sync)).unwrap();
        assert_eq!(
            runs[0], original,
            "the run as it was: type, token, stats, parent, times"
        );
        assert_eq!(
            contents(&cloned, &runs[0].id),
            contents(&multi, &runs[0].id)
        );
    }
    let o = Command::new(env!("CARGO_BIN_EXE_c1z"))
        .args([
            "export-sync",
            multi_path.to_str().unwrap(),
            "--sync-id",
            "nope",
            "-o",
            dir.path().join("nope.c1z").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("c1z syncs"));
    assert!(!dir.path().join("nope.c1z").exists());
}

#[test]
fn cleanup_keeps_exactly_what_the_policy_names_and_the_file_shrinks() {
    let Some(s) = samples() else { return };
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_c1z");
    for engine in ["sqlite", "rocksdb"] {
        let path = dir.path().join(format!("multi-{engine}.c1z"));
        let o = Command::new(bin)
            .args([
                "convert",
                s.join("current/v025-multi-diff.c1z").to_str().unwrap(),
                path.to_str().unwrap(),
                "--engine",
                engine,
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let before = std::fs::read(&path).unwrap();
        let runs = C1zFile::open_read_only(&path)
            .unwrap()
            .store()
            .sync_runs()
            .unwrap();
        let doomed = c1z::sync::select_syncs_to_delete(&runs, 1, None);
        let listed = |o: &std::process::Output, verb: &str| -> Vec<String> {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| {
                    l.strip_prefix(verb)
                        .map(|r| r.split_whitespace().next().unwrap().to_owned())
                })
                .collect()
        };
        let ids = |v: &[SyncId]| v.iter().map(|i| i.to_string()).collect::<Vec<_>>();
        // A dry run lists them and changes nothing.
        let o = Command::new(bin)
            .args([
                "cleanup",
                path.to_str().unwrap(),
                "--keep",
                "1",
                "--dry-run",
            ])
            .output()
            .unwrap();
        assert!(o.status.success());
        assert_eq!(listed(&o, "would delete "), ids(&doomed));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // Keep one full sync: the newest full one and the diff pair stay.
        let o = Command::new(bin)
            .args(["cleanup", path.to_str().unwrap(), "--keep", "1"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(listed(&o, "deleted "), ids(&doomed));
        assert!(!doomed.is_empty());
        let after = C1zFile::open_read_only(&path).unwrap();
        let kept: Vec<String> = after
            .store()
            .sync_runs()
            .unwrap()
            .iter()
            .map(|r| r.id.to_string())
            .collect();
        let want: Vec<String> = runs
            .iter()
            .filter(|r| !doomed.contains(&r.id))
            .map(|r| r.id.to_string())
            .collect();
        assert_eq!(kept, want, "{engine}");
        assert!(kept.contains(&D.to_owned()));
        assert!(
            std::fs::metadata(&path).unwrap().len() < before.len() as u64,
            "{engine}: the file shrinks"
        );
        // The kept full sync is intact.
        let multi = C1zFile::open_read_only(s.join("current/v025-multi.c1z")).unwrap();
        assert_eq!(
            contents(&after, &SyncId::from(D)),
            contents(&multi, &SyncId::from(D))
        );
        // Nothing left to delete: the file is not rewritten.
        let now = std::fs::read(&path).unwrap();
        let o = Command::new(bin)
            .args(["cleanup", path.to_str().unwrap(), "--keep", "1"])
            .output()
            .unwrap();
        assert!(o.status.success());
        assert_eq!(std::fs::read(&path).unwrap(), now);
    }
    // baton's Pebble files are read-only to c1z: an error that says to convert.
    let pebble = dir.path().join("p.c1z");
    std::fs::copy(s.join("current/v025-full.pebble.c1z"), &pebble).unwrap();
    let o = Command::new(bin)
        .args(["cleanup", pebble.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("convert"));
}

#[test]
fn a_visitor_error_stops_the_diff_and_its_reader() {
    let Some(dir) = samples() else { return };
    let multi = C1zFile::open_read_only(dir.join("current/v025-multi.c1z")).unwrap();
    let (a, d) = (SyncId::from(A), SyncId::from(D));
    let mut seen = 0;
    let e = diff(
        Side {
            store: multi.store(),
            sync: &a,
        },
        Side {
            store: multi.store(),
            sync: &d,
        },
        |_| {
            seen += 1;
            Err(c1z::Error::InvalidArgument("stop".into()))
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("stop"), "{e}");
    assert_eq!(seen, 1, "nothing is visited after the error");
}
