//! Compaction: baton's merge rules against a model, on and across engines; baton's samples
//! compacted; the command.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use c1z::compact::{CompactOptions, compact, compactable_sync};
use c1z::diff::{Kind, Side, diff};
use c1z::engine::EngineKind;
use c1z::{
    C1zFile, EntitlementQuery, GrantQuery, OpenOptions, Reader, ReaderExt, ResourceQuery,
    ResourceTypeQuery, SyncId, SyncSelector,
};
use prost::Message;

use crate::util::samples;

const A: &str = "3MSzR1qTdcCXVYCSZuSj5tsioLQ";
const C: &str = "3MSzRQYwupl3gWol0rE7PjBrBvX";
const D: &str = "3MSzRZG1ohUOGETUrnuDqs0RnZE";

/// Every object of a sync: per kind, external id → (canonical bytes, discovered_at).
type Contents = [BTreeMap<String, (Vec<u8>, String)>; 4];

fn contents(store: &dyn c1z::Reader, sync: &SyncId) -> Contents {
    let sel = || SyncSelector::Id(sync.clone());
    let at = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S%.f").to_string();
    let rts = store
        .stream_resource_types(ResourceTypeQuery { sync: sel() })
        .map(|r| {
            let r = r.unwrap();
            (
                r.value.id.clone(),
                (r.value.encode_to_vec(), at(r.discovered_at)),
            )
        })
        .collect();
    let rs = store
        .stream_resources(ResourceQuery {
            sync: sel(),
            ..Default::default()
        })
        .map(|r| {
            let r = r.unwrap();
            let id = r.value.id.clone().unwrap();
            (
                format!("{}:{}", id.resource_type, id.resource),
                (r.value.encode_to_vec(), at(r.discovered_at)),
            )
        })
        .collect();
    let es = store
        .stream_entitlements(EntitlementQuery {
            sync: sel(),
            ..Default::default()
        })
        .map(|r| {
            let r = r.unwrap();
            (
                r.value.id.clone(),
                (r.value.encode_to_vec(), at(r.discovered_at)),
            )
        })
        .collect();
    let gs = store
        .stream_grants(GrantQuery {
            sync: sel(),
            ..Default::default()
        })
        .map(|r| {
            let g = r.unwrap();
            let mut bytes = c1z::codec::encode_grant(&g.grant);
            bytes.extend(g.expansion.map(|e| e.encode_to_vec()).unwrap_or_default());
            (g.grant.id.clone(), (bytes, at(g.discovered_at)))
        })
        .collect();
    [rts, rs, es, gs]
}

fn without_times(c: &Contents) -> [BTreeMap<String, Vec<u8>>; 4] {
    c.clone()
        .map(|m| m.into_iter().map(|(k, (b, _))| (k, b)).collect())
}

fn open_sample(name: &str) -> Option<C1zFile> {
    let dir = samples()?;
    Some(C1zFile::open_read_only(dir.join("current").join(name)).unwrap())
}

fn new_file(path: &Path, engine: EngineKind) -> C1zFile {
    OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(path)
        .unwrap()
}

fn no_expand() -> CompactOptions {
    CompactOptions {
        expand: false,
        ..CompactOptions::default()
    }
}

#[test]
fn the_compactable_sync_is_the_latest_finished_non_diff_sync() {
    let Some(multi) = open_sample("v025-multi.c1z") else {
        return;
    };
    assert_eq!(
        compactable_sync(multi.store())
            .unwrap()
            .unwrap()
            .id
            .as_str(),
        D
    );
    // The diff file's latest syncs are its diff pair: compaction still takes (d).
    let pair = open_sample("v025-multi-diff.c1z").unwrap();
    assert_eq!(
        compactable_sync(pair.store()).unwrap().unwrap().id.as_str(),
        D
    );
    // Nothing finished: nothing to compact.
    let unfinished = open_sample("v025-unfinished.c1z").unwrap();
    assert_eq!(compactable_sync(unfinished.store()).unwrap(), None);
}

#[test]
fn a_with_the_partial_c_takes_cs_rows_and_keeps_the_rest_of_a() {
    let Some(multi) = open_sample("v025-multi.c1z") else {
        return;
    };
    let (a, c) = (SyncId::from(A), SyncId::from(C));
    let a_rows = contents(multi.store(), &a);
    let c_rows = contents(multi.store(), &c);
    for engine in [EngineKind::Sqlite, EngineKind::Rocks] {
        let dir = tempfile::tempdir().unwrap();
        let out = new_file(&dir.path().join("out.c1z"), engine);
        let report = compact(
            &[
                Side {
                    store: multi.store(),
                    sync: &a,
                },
                Side {
                    store: multi.store(),
                    sync: &c,
                },
            ],
            out.store(),
            &no_expand(),
        )
        .unwrap();
        assert_eq!(report.sync_type, "full", "full ∪ partial is full");
        assert!(report.expansion.is_none());
        // (c) was synced after (a): each of its rows is later, so each wins.
        let mut expected = a_rows.clone();
        for (kind, rows) in c_rows.iter().enumerate() {
            for (id, row) in rows {
                expected[kind].insert(id.clone(), row.clone());
            }
        }
        let got = contents(out.store(), &report.sync);
        assert_eq!(got, expected, "{engine:?}");
        assert_eq!(
            report.objects,
            vec![
                (Kind::ResourceType, 4),
                (Kind::Resource, 360),
                (Kind::Entitlement, 80),
                (Kind::Grant, expected[3].len() as u64)
            ]
        );
        // Stats of the result are stored, and are its real counts.
        let run = out.store().require_sync_run(&report.sync).unwrap();
        let stats = c1z::sync::SyncStats::from_cached(run.stats.as_deref().unwrap()).unwrap();
        assert_eq!(stats.grants, expected[3].len() as i64);
        assert_eq!(stats.resources, 360);
        assert!(run.ended_at.is_some() && run.supports_diff);
        out.discard();
    }
}

#[test]
fn d_compacted_alone_and_expanded_again_is_d() {
    let Some(multi) = open_sample("v025-multi.c1z") else {
        return;
    };
    let d = SyncId::from(D);
    for engine in [EngineKind::Sqlite, EngineKind::Rocks] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.c1z");
        let out = new_file(&path, engine);
        let report = compact(
            &[Side {
                store: multi.store(),
                sync: &d,
            }],
            out.store(),
            &CompactOptions::default(),
        )
        .unwrap();
        // Expansion ran and found nothing new: (d) is already expanded.
        let x = report.expansion.as_ref().unwrap();
        assert_eq!((x.grants_added, x.grants_updated), (0, 0), "{x:?}");
        out.close().unwrap();
        let out = C1zFile::open_read_only(&path).unwrap();
        let same = diff(
            Side {
                store: multi.store(),
                sync: &d,
            },
            Side {
                store: out.store(),
                sync: &report.sync,
            },
            |_| Ok(()),
        )
        .unwrap();
        assert!(same.is_empty(), "{engine:?}: {same:?}");
    }
}

#[test]
fn a_and_d_unexpanded_then_expanded_equals_expanding_the_merge_afterwards() {
    let Some(multi) = open_sample("v025-multi.c1z") else {
        return;
    };
    let (a, d) = (SyncId::from(A), SyncId::from(D));
    let inputs = [
        Side {
            store: multi.store(),
            sync: &a,
        },
        Side {
            store: multi.store(),
            sync: &d,
        },
    ];
    let dir = tempfile::tempdir().unwrap();
    let merged = new_file(&dir.path().join("merged.c1z"), EngineKind::Rocks);
    let plain = compact(&inputs, merged.store(), &no_expand()).unwrap();
    // The union of ids: (d)'s rows, plus the 46 grants (d) removed and the grants (a)
    // derived that (d) does not.
    let (a_rows, d_rows) = (contents(multi.store(), &a), contents(multi.store(), &d));
    let got = contents(merged.store(), &plain.sync);
    for kind in 0..4 {
        let mut ids: Vec<&String> = a_rows[kind].keys().chain(d_rows[kind].keys()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(got[kind].keys().collect::<Vec<_>>(), ids, "kind {kind}");
        for (id, row) in &got[kind] {
            let want = d_rows[kind]
                .get(id)
                .or_else(|| a_rows[kind].get(id))
                .unwrap();
            assert_eq!(row, want, "{id}: (d)'s version when (d) has it");
        }
    }
    assert!(got[3].len() > d_rows[3].len());
    c1z::expand::expand(merged.store(), &plain.sync, &Default::default()).unwrap();
    let expanded = new_file(&dir.path().join("expanded.c1z"), EngineKind::Sqlite);
    let full = compact(&inputs, expanded.store(), &CompactOptions::default()).unwrap();
    assert!(full.expansion.is_some());
    assert_eq!(
        without_times(&contents(expanded.store(), &full.sync)),
        without_times(&contents(merged.store(), &plain.sync))
    );
    expanded.discard();
    merged.discard();
}

#[test]
fn diff_syncs_and_unfinished_syncs_are_refused() {
    let Some(pair) = open_sample("v025-multi-diff.c1z") else {
        return;
    };
    let upserts = SyncId::from("3MSzRdqeokwSjwxeWO1D5kyW6BM");
    let dir = tempfile::tempdir().unwrap();
    let out = new_file(&dir.path().join("o.c1z"), EngineKind::Rocks);
    let e = compact(
        &[Side {
            store: pair.store(),
            sync: &upserts,
        }],
        out.store(),
        &no_expand(),
    )
    .unwrap_err();
    assert!(matches!(e, c1z::Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("partial_upserts"), "{e}");
    let unfinished = open_sample("v025-unfinished.c1z").unwrap();
    let open = unfinished.store().sync_runs().unwrap()[0].id.clone();
    let e = compact(
        &[Side {
            store: unfinished.store(),
            sync: &open,
        }],
        out.store(),
        &no_expand(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("unfinished"), "{e}");
    assert!(compact(&[], out.store(), &no_expand()).is_err());
    out.discard();
}

#[test]
fn the_command_compacts_files_and_refuses_what_it_cannot() {
    let Some(dir) = samples() else {
        return;
    };
    let multi = dir.join("current/v025-multi.c1z");
    let pebble = dir.join("current/v025-full.pebble.c1z");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("merged.c1z");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_c1z"))
            .args(args)
            .output()
            .unwrap()
    };
    // A v1 file and a baton Pebble file of the same content: the Pebble one is newer.
    let o = run(&[
        "compact",
        out.to_str().unwrap(),
        multi.to_str().unwrap(),
        pebble.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let merged = C1zFile::open_read_only(&out).unwrap();
    assert_eq!(merged.store().engine(), "rocksdb");
    let runs = merged.store().sync_runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].sync_type, "full");
    let counts = merged.store().count_objects(&runs[0].id).unwrap();
    assert_eq!(counts.resources_by_type.values().sum::<u64>(), 360);
    // Both hold (d)'s grants, with the same ids: the union is (d)'s 1,502.
    assert_eq!(counts.grants_by_type.values().sum::<u64>(), 1_502);
    // The output exists now: refused, untouched.
    let before = std::fs::read(&out).unwrap();
    let o = run(&["compact", out.to_str().unwrap(), multi.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&out).unwrap(), before);
    // A file with nothing finished is named, and nothing is written.
    let none = tmp.path().join("none.c1z");
    let o = run(&[
        "compact",
        none.to_str().unwrap(),
        dir.join("current/v025-unfinished.c1z").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no finished full"));
    assert!(!none.exists());
}

mod model {
    use super::*;
    use crate::util::{entitlement, grant, resource, resource_type};
    use c1z::{GrantRecord, GrantUpsertMode, Record, SyncRun, Writer};
    use proptest::prelude::*;

    /// One object in one input: absent, or present with a version and a time.
    #[derive(Clone, Copy, Debug)]
    struct Slot {
        present: bool,
        version: u8,
        second: u8,
    }

    const USERS: usize = 3;
    const SLOTS: usize = 2 + USERS + 1 + USERS;

    fn at(second: u8) -> chrono::NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
            .unwrap()
            .and_hms_opt(3, 4, u32::from(second))
            .unwrap()
    }

    fn named(name: &str, version: u8) -> String {
        format!("{name} v{version}")
    }

    /// One input file: the objects of its slots, each with its own `discovered_at`.
    fn input(dir: &Path, name: &str, engine: EngineKind, slots: &[Slot]) -> (C1zFile, SyncId) {
        let path = dir.join(name);
        let f = new_file(&path, engine);
        let store = f.store();
        let sync = SyncId::generate();
        let mut run = SyncRun {
            id: sync.clone(),
            sync_type: "full".into(),
            started_at: at(0),
            ended_at: None,
            sync_token: String::new(),
            parent_sync_id: None,
            linked_sync_id: None,
            supports_diff: true,
            stats: None,
            ingest_invariant: Default::default(),
        };
        store.put_sync_run(&run).unwrap();
        let mut slots = slots.iter().copied();
        let mut next = || slots.next().unwrap();
        for id in ["user", "group"] {
            let s = next();
            if s.present {
                let mut rt = resource_type(id);
                rt.display_name = named(&rt.display_name, s.version);
                let rows = [Record {
                    value: rt,
                    discovered_at: at(s.second),
                }];
                store.put_resource_types(&sync, &rows).unwrap();
            }
        }
        for u in 0..USERS {
            let s = next();
            if s.present {
                let mut r = resource("user", &format!("user{u}"));
                r.display_name = named(&r.display_name, s.version);
                let rows = [Record {
                    value: r,
                    discovered_at: at(s.second),
                }];
                store.put_resources(&sync, &rows).unwrap();
            }
        }
        let s = next();
        let mut e = entitlement("group", "g", "member");
        if s.present {
            e.display_name = named(&e.display_name, s.version);
            let rows = [Record {
                value: e.clone(),
                discovered_at: at(s.second),
            }];
            store.put_entitlements(&sync, &rows).unwrap();
        }
        for u in 0..USERS {
            let s = next();
            if s.present {
                let mut g = grant(&e, "user", &format!("user{u}"));
                g.annotations.push(c1z::codec::to_any(
                    "c1.connector.v2.GrantMetadata",
                    &prost_types::Struct {
                        fields: [(
                            "v".to_owned(),
                            prost_types::Value {
                                kind: Some(prost_types::value::Kind::NumberValue(f64::from(
                                    s.version,
                                ))),
                            },
                        )]
                        .into(),
                    },
                ));
                let rows = [GrantRecord {
                    grant: g,
                    expansion: None,
                    needs_expansion: false,
                    discovered_at: at(s.second),
                }];
                store
                    .put_grants(&sync, &rows, GrantUpsertMode::Replace)
                    .unwrap();
            }
        }
        run.ended_at = Some(at(59));
        store.put_sync_run(&run).unwrap();
        f.close().unwrap();
        (C1zFile::open_read_only(&path).unwrap(), sync)
    }

    fn engine(bit: bool) -> EngineKind {
        if bit {
            EngineKind::Rocks
        } else {
            EngineKind::Sqlite
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

        /// Each object of the result is the version baton's rule picks: from the newest
        /// input that has it, unless an older input has it with a later discovered_at; a
        /// tie keeps the newer input's. On and across engines.
        #[test]
        fn every_object_is_the_version_batons_rule_picks(
            inputs in proptest::collection::vec(
                proptest::collection::vec(
                    (any::<bool>(), 0u8..3, 0u8..4)
                        .prop_map(|(present, version, second)| Slot { present, version, second }),
                    SLOTS,
                ),
                1..4,
            ),
            engines in any::<[bool; 4]>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let files: Vec<(C1zFile, SyncId)> = inputs
                .iter()
                .enumerate()
                .map(|(i, slots)| input(dir.path(), &format!("in{i}.c1z"), engine(engines[i]), slots))
                .collect();
            // The model: newest input first; a later discovered_at replaces.
            let rows: Vec<Contents> = files.iter().map(|(f, s)| contents(f.store(), s)).collect();
            let mut expected: Contents = Default::default();
            for input in rows.iter().rev() {
                for kind in 0..4 {
                    for (id, row) in &input[kind] {
                        let take = expected[kind].get(id).is_none_or(|kept| row.1 > kept.1);
                        if take {
                            expected[kind].insert(id.clone(), row.clone());
                        }
                    }
                }
            }
            let out_path = dir.path().join("out.c1z");
            let out = new_file(&out_path, engine(engines[3]));
            let sides: Vec<Side<'_>> = files.iter().map(|(f, s)| Side { store: f.store(), sync: s }).collect();
            let report = compact(&sides, out.store(), &no_expand()).unwrap();
            out.close().unwrap();
            let out = C1zFile::open_read_only(&out_path).unwrap();
            prop_assert_eq!(contents(out.store(), &report.sync), expected);
            // The stats stored (counted while merging) are the result's real counts.
            let run = out.store().require_sync_run(&report.sync).unwrap();
            let recount = c1z::sync::compute_stats(out.store(), &run).unwrap();
            match c1z::sync::SyncStats::from_cached(run.stats.as_deref().unwrap()) {
                Some(stored) => prop_assert_eq!(stored, recount),
                // Stats without resource types count as missing (baton's rule): recounted.
                None => prop_assert_eq!(recount.resource_types, 0),
            }
        }
    }
}

mod incremental_model {
    use super::*;
    use crate::util::{entitlement, expandable, grant, resource, resource_type, with_expandable};
    use c1z::compact::ExpansionMode;
    use c1z::{SyncType, Writer, WriterExt};
    use proptest::prelude::*;

    const GROUPS: usize = 4;
    const USERS: usize = 5;

    /// What one sync holds: direct memberships (user, group) and nestings (from, to, shallow):
    /// members of group `from` flow into group `to`.
    #[derive(Clone, Debug)]
    struct Shape {
        members: Vec<(usize, usize)>,
        nested: Vec<(usize, usize, bool)>,
    }

    fn member(g: usize) -> c1z::pb::c1::connector::v2::Entitlement {
        entitlement("group", &format!("g{g}"), "member")
    }

    fn write(path: &Path, engine: EngineKind, shape: &Shape, base: bool) -> (C1zFile, SyncId) {
        let f = new_file(path, engine);
        let ty = if base {
            SyncType::Full
        } else {
            SyncType::Partial
        };
        let w = f.store().start_sync(ty, None).unwrap();
        if base {
            w.put_resource_types(&[resource_type("user"), resource_type("group")])
                .unwrap();
            let mut rs: Vec<_> = (0..USERS)
                .map(|u| resource("user", &format!("u{u}")))
                .collect();
            rs.extend((0..GROUPS).map(|g| resource("group", &format!("g{g}"))));
            w.put_resources(&rs).unwrap();
            w.put_entitlements((0..GROUPS).map(member).collect::<Vec<_>>())
                .unwrap();
        }
        let mut grants: Vec<_> = shape
            .members
            .iter()
            .map(|(u, g)| grant(&member(*g), "user", &format!("u{u}")))
            .collect();
        for (from, to, shallow) in &shape.nested {
            let source = format!("group:g{from}:member");
            let mut e = expandable(&[&source]);
            e.shallow = *shallow;
            grants.push(with_expandable(
                grant(&member(*to), "group", &format!("g{from}")),
                &e,
            ));
        }
        w.put_grants(&grants).unwrap();
        let id = w.finish().unwrap().id;
        if base {
            // As baton's syncer: marked, then expanded.
            let mut run = f.store().require_sync_run(&id).unwrap();
            run.supports_diff = true;
            f.store().put_sync_run(&run).unwrap();
            c1z::expand::expand(f.store(), &id, &Default::default()).unwrap();
        }
        let path = path.to_owned();
        f.close().unwrap();
        (C1zFile::open_read_only(&path).unwrap(), id)
    }

    fn shape(max_nested: usize) -> impl Strategy<Value = Shape> {
        (
            proptest::collection::vec((0..USERS, 0..GROUPS), 0..8),
            proptest::collection::vec((0..GROUPS, 0..GROUPS, any::<bool>()), 0..max_nested),
        )
            .prop_map(|(members, nested)| Shape {
                members,
                nested: nested.into_iter().filter(|(a, b, _)| a != b).collect(),
            })
    }

    fn engine(bit: bool) -> EngineKind {
        if bit {
            EngineKind::Rocks
        } else {
            EngineKind::Sqlite
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Compacting an expanded base with a partial sync that adds memberships and edges:
        /// the incremental expansion gives exactly the full one, cycles included.
        #[test]
        fn incremental_expansion_equals_the_full_one(
            base in shape(5),
            increment in shape(3),
            engines in any::<[bool; 3]>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let (b, b_sync) = write(&dir.path().join("base.c1z"), engine(engines[0]), &base, true);
            // Only edges the base lacks: a changed edge is a decline, tested apart.
            let mut increment = increment;
            increment.nested.retain(|(f, t, _)| !base.nested.iter().any(|(bf, bt, _)| bf == f && bt == t));
            let (i, i_sync) = write(&dir.path().join("inc.c1z"), engine(engines[1]), &increment, false);
            let sides = [
                Side { store: b.store(), sync: &b_sync },
                Side { store: i.store(), sync: &i_sync },
            ];
            let full_out = new_file(&dir.path().join("full.c1z"), engine(engines[2]));
            let full = compact(&sides, full_out.store(), &CompactOptions::default()).unwrap();
            prop_assert_eq!(&full.mode, &ExpansionMode::Full);
            let inc_out = new_file(&dir.path().join("inc-out.c1z"), engine(!engines[2]));
            let opts = CompactOptions { incremental: true, ..CompactOptions::default() };
            let inc = compact(&sides, inc_out.store(), &opts).unwrap();
            prop_assert!(matches!(inc.mode, ExpansionMode::Incremental { .. }), "{:?}", inc.mode);
            let (got, want) = (
                without_times(&contents(inc_out.store(), &inc.sync)),
                without_times(&contents(full_out.store(), &full.sync)),
            );
            inc_out.discard();
            full_out.discard();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn a_changed_edge_or_an_unexpanded_base_falls_back_to_a_full_expansion() {
        let dir = tempfile::tempdir().unwrap();
        let base = Shape {
            members: vec![(0, 0)],
            nested: vec![(0, 1, false)],
        };
        let (b, b_sync) = write(&dir.path().join("b.c1z"), EngineKind::Rocks, &base, true);
        // The same edge, now shallow: narrowed.
        let inc = Shape {
            members: vec![],
            nested: vec![(0, 1, true)],
        };
        let (i, i_sync) = write(&dir.path().join("i.c1z"), EngineKind::Sqlite, &inc, false);
        let out = new_file(&dir.path().join("o.c1z"), EngineKind::Rocks);
        let opts = CompactOptions {
            incremental: true,
            ..CompactOptions::default()
        };
        let sides = [
            Side {
                store: b.store(),
                sync: &b_sync,
            },
            Side {
                store: i.store(),
                sync: &i_sync,
            },
        ];
        let r = compact(&sides, out.store(), &opts).unwrap();
        let ExpansionMode::FullFallback(reason) = &r.mode else {
            panic!("{:?}", r.mode)
        };
        assert!(reason.contains("edge"), "{reason}");
        // A partial as the oldest input: no expanded base.
        let out2 = new_file(&dir.path().join("o2.c1z"), EngineKind::Rocks);
        let sides = [
            Side {
                store: i.store(),
                sync: &i_sync,
            },
            Side {
                store: b.store(),
                sync: &b_sync,
            },
        ];
        let r = compact(&sides, out2.store(), &opts).unwrap();
        let ExpansionMode::FullFallback(reason) = &r.mode else {
            panic!("{:?}", r.mode)
        };
        assert!(reason.contains("not an expanded full sync"), "{reason}");
        out.discard();
        out2.discard();
    }
}
