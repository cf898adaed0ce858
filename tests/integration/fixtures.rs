//! Files written by baton-sdk (`../shared/baton-samples`), opened by c1z.
#[allow(unused_imports)]
use c1z::SyncSelector;
use c1z::prelude::*;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use c1z::inspect::{choose_sync, count_sync, inspect};
use c1z::pb::c1::connector::v2::{Entitlement, Grant, Resource, ResourceType};
use c1z::sync::{SyncStats, compute_stats};
use c1z::{C1zFile, Error, GrantQuery, SyncId, SyncType, codec};
use prost::Message;

use crate::util::{bytes_of, samples};

fn counts_of(path: &Path, sync: Option<&str>) -> (u64, u64, u64, u64) {
    let f = C1zFile::open_read_only(path).unwrap();
    let chosen = choose_sync(f.store(), sync.map(SyncId::from).as_ref()).unwrap();
    let c = count_sync(f.store(), &chosen.run).unwrap();
    (c.resource_types, c.resources, c.entitlements, c.grants)
}

#[test]
fn acceptance_counts_of_old_samples() {
    let Some(dir) = samples() else { return };
    assert_eq!(
        counts_of(&dir.join("sync-in-progress.c1z"), None),
        (5, 79, 0, 0)
    );
    assert_eq!(
        counts_of(
            &dir.join("sync.36zfOAoWMxQdISbixanQCRBiX7E.unexpanded"),
            None
        ),
        (4, 1221, 342, 2909)
    );
    assert_eq!(
        counts_of(&dir.join("sync.36zfOAoWMxQdISbixanQCRBiX7E.expanded"), None).3,
        14_981
    );
}

/// Every line of `current/counts.txt` (baton's own per-sync counts), for the v1 files.
#[test]
fn every_sync_matches_batons_counts() {
    let Some(dir) = samples() else { return };
    let text = std::fs::read_to_string(dir.join("current/counts.txt")).unwrap();
    let mut file: Option<C1zFile> = None;
    let mut checked = 0;
    for line in text.lines() {
        let fields: BTreeMap<&str, &str> = line
            .split(' ')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        if let Some(name) = fields.get("file") {
            file = (fields["format"] == "v1")
                .then(|| C1zFile::open_read_only(dir.join("current").join(name)).unwrap());
            continue;
        }
        let Some(f) = &file else { continue };
        let s = f.store();
        let id = SyncId::from(fields["sync"]);
        let run = s.require_sync_run(&id).unwrap();
        assert_eq!(run.sync_type, fields["type"]);
        assert_eq!(run.is_finished(), line.contains(" finished "), "{line}");
        assert_eq!(
            run.parent_sync_id
                .map(|p| p.to_string())
                .unwrap_or_default(),
            fields["parent"]
        );
        let c = count_sync(s, &s.require_sync_run(&id).unwrap()).unwrap();
        let n = |k: &str| fields[k].parse::<u64>().unwrap();
        assert_eq!(
            (c.resource_types, c.resources, c.entitlements, c.grants),
            (n("rts"), n("resources"), n("entitlements"), n("grants")),
            "{line}"
        );
        for (k, v) in &fields {
            if let Some(rt) = k.strip_prefix("res:") {
                assert_eq!(
                    c.resources_by_resource_type.get(rt).copied(),
                    Some(v.parse().unwrap()),
                    "{k}"
                );
            }
            if let Some(rt) = k.strip_prefix("grant-ent:") {
                assert_eq!(
                    c.grants_by_resource_type.get(rt).copied(),
                    Some(v.parse().unwrap()),
                    "{k}"
                );
            }
        }
        let grants = s
            .all_grants(GrantQuery {
                sync: SyncSelector::Id(id.clone()),
                ..Default::default()
            })
            .unwrap();
        let with_sources = grants
            .iter()
            .filter(|g| {
                g.grant
                    .sources
                    .as_ref()
                    .is_some_and(|x| !x.sources.is_empty())
            })
            .count();
        assert_eq!(with_sources as u64, n("grants_with_sources"), "{line}");
        checked += 1;
    }
    assert_eq!(checked, 11, "4 + 6 + 1 v1 syncs");
}

/// c1z's canonical encoding reproduces every stored blob of baton's current files byte for
/// byte (so diffs never see spurious changes).
#[test]
fn canonical_encoding_reproduces_batons_bytes() {
    let Some(dir) = samples() else { return };
    for name in [
        "current/v025-multi.c1z",
        "current/v025-multi-diff.c1z",
        "current/v025-unfinished.c1z",
    ] {
        let f = C1zFile::open_read_only(dir.join(name)).unwrap();
        let s = f.store();
        let mut n = 0;
        for run in s.sync_runs().unwrap() {
            let sync = SyncSelector::Id(run.id.clone());
            for g in s.stream_grants(GrantQuery {
                sync: sync.clone(),
                ..Default::default()
            }) {
                let g = g.unwrap();
                let bytes = codec::encode_grant(&g.grant);
                assert_eq!(Grant::decode(bytes.as_slice()).unwrap(), g.grant);
                n += 1;
            }
            for r in s.stream_resources(c1z::ResourceQuery {
                sync: sync.clone(),
                ..Default::default()
            }) {
                let r = r.unwrap().value;
                assert_eq!(Resource::decode(r.encode_to_vec().as_slice()).unwrap(), r);
            }
        }
        assert!(n > 0 || name.contains("unfinished"));
    }
    // Byte equality against the raw rows (read straight from the decoded database).
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    c1z::format::v1::decode(&dir.join("current/v025-multi.c1z"), &db, Default::default()).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut checked = 0;
    for (table, kind) in [
        ("v1_resource_types", 0),
        ("v1_resources", 1),
        ("v1_entitlements", 2),
        ("v1_grants", 3),
    ] {
        let mut stmt = conn.prepare(&format!("select data from {table}")).unwrap();
        let blobs: Vec<Vec<u8>> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for data in blobs {
            let again = match kind {
                0 => ResourceType::decode(data.as_slice())
                    .unwrap()
                    .encode_to_vec(),
                1 => Resource::decode(data.as_slice()).unwrap().encode_to_vec(),
                2 => Entitlement::decode(data.as_slice())
                    .unwrap()
                    .encode_to_vec(),
                _ => codec::encode_grant(&Grant::decode(data.as_slice()).unwrap()),
            };
            assert_eq!(again, data, "{table}");
            checked += 1;
        }
    }
    assert!(checked > 4_000, "{checked}");
}

/// baton's stored stats JSON equals what c1z computes, byte for byte.
#[test]
fn stored_stats_equal_computed_stats() {
    let Some(dir) = samples() else { return };
    let f = C1zFile::open_read_only(dir.join("current/v025-multi.c1z")).unwrap();
    for run in f.store().sync_runs().unwrap() {
        let stored = run.stats.clone().expect("baton stored stats");
        let computed = compute_stats(f.store(), &run).unwrap();
        assert_eq!(computed.to_json(), stored, "sync {}", run.id);
        assert_eq!(SyncStats::from_cached(&stored), Some(computed));
    }
}

#[test]
fn unfinished_sample_resumes_from_its_checkpoint() {
    let Some(dir) = samples() else { return };
    let facts: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("current/v025-unfinished.facts.json")).unwrap(),
    )
    .unwrap();
    let id = SyncId::from(facts["sync"].as_str().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("copy.c1z");
    std::fs::copy(dir.join("current/v025-unfinished.c1z"), &path).unwrap();
    let f = C1zFile::open(&path).unwrap();
    let run = f
        .store()
        .resume_sync(Some(SyncType::Full), Some(&id))
        .unwrap();
    assert_eq!(run.token().unwrap(), facts["token"].as_str().unwrap());
    run.put_resources(&[crate::util::resource("user", "user-00150")])
        .unwrap();
    let done = run.finish().unwrap();
    f.close().unwrap();
    let f = C1zFile::open_read_only(&path).unwrap();
    assert_eq!(f.store().latest_finished_sync(None).unwrap().unwrap(), done);
    let stats = SyncStats::from_cached(done.stats.as_deref().unwrap()).unwrap();
    assert_eq!((stats.resources, stats.entitlements), (211, 30));
    assert_eq!(
        stats.step_durations_ms.get("list-resources"),
        Some(&41),
        "lifted from the token"
    );
}

/// The old-schema file gets the expansion columns and the backfill: the 409 edge-defining
/// grants lose `GrantExpandable` from their data and gain `expansion`.
#[test]
fn old_schema_is_migrated_and_backfilled() {
    let Some(dir) = samples() else { return };
    let path = dir.join("sync.36zfOAoWMxQdISbixanQCRBiX7E.unexpanded");
    let before = bytes_of(&path);
    let f = C1zFile::open(&path).unwrap();
    // Its one sync is unfinished and older than baton's resume window: baton's default
    // reads nothing, so every sync is named.
    assert!(
        f.store()
            .all_grants(GrantQuery::default())
            .unwrap()
            .is_empty()
    );
    let grants = f
        .store()
        .all_grants(GrantQuery {
            sync: SyncSelector::All,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(grants.len(), 2_909);
    let edges: Vec<_> = grants.iter().filter(|g| g.needs_expansion).collect();
    assert_eq!(edges.len(), 409);
    assert!(edges.iter().all(|g| g.expansion.is_some()));
    assert!(grants.iter().all(|g| {
        !g.grant
            .annotations
            .iter()
            .any(|a| codec::any_is(a, codec::GRANT_EXPANDABLE))
    }));
    assert_eq!(
        f.store()
            .all_grants(GrantQuery {
                needs_expansion: true,
                sync: SyncSelector::All,
                ..Default::default()
            })
            .unwrap()
            .len(),
        409
    );
    // Migrations do not dirty the store: closing a writable open leaves the file alone.
    assert!(!f.close().unwrap());
    assert_eq!(bytes_of(&path), before);
}

#[test]
fn opening_never_modifies_the_input() {
    let Some(dir) = samples() else { return };
    for name in [
        "sync-in-progress.c1z",
        "sync.36zfOAoWMxQdISbixanQCRBiX7E.expanded",
        "current/v025-multi-diff.c1z",
    ] {
        let path = dir.join(name);
        let before = bytes_of(&path);
        let f = C1zFile::open_read_only(&path).unwrap();
        assert!(!f.store().sync_runs().unwrap().is_empty());
        f.close().unwrap();
        assert_eq!(bytes_of(&path), before, "{name}");
    }
}

/// baton's Pebble files: recognized by `info`, opened read-only, refused writable with
/// the command that converts them.
#[test]
fn pebble_files_are_recognized_and_open_read_only() {
    let Some(dir) = samples() else { return };
    for (name, engine, encoding) in [
        (
            "sync.36zM46KKuaBq0wjSSvKh5o0350y.unexpanded.pebble.c1z",
            "pebble2",
            "indexed_zstd",
        ),
        ("current/v025-full.pebble.c1z", "pebble3", "indexed_zstd"),
        (
            "current/v025-full.tarzstd.pebble.c1z",
            "pebble3",
            "tar_zstd",
        ),
    ] {
        let path = dir.join(name);
        let info = inspect(&path).unwrap();
        assert_eq!(
            (
                info.format,
                info.engine.as_str(),
                info.payload_encoding.as_str()
            ),
            ("v3", engine, encoding)
        );
        assert_eq!(info.sync_runs.len(), 1);
        assert_eq!(info.sync_runs[0].sync_type, "full");
        let file = C1zFile::open_read_only(&path).unwrap();
        assert_eq!(file.metadata().engine, engine);
        assert_eq!(file.metadata().payload_encoding, encoding);
        assert_eq!(
            file.store().sync_runs().unwrap()[0].id.as_str(),
            info.sync_runs[0].id
        );
        match C1zFile::open(&path) {
            Err(Error::EngineNotSupported { engine: e, detail }) => {
                assert_eq!(e, engine);
                assert!(detail.contains("c1z convert"), "{detail}");
            }
            other => panic!("{name}: expected EngineNotSupported, got {other:?}"),
        }
    }
}

/// A baton file rewritten by c1z keeps every row and syncs, and the schema stays baton's.
#[test]
fn rewritten_baton_file_keeps_content_and_schema() {
    let Some(dir) = samples() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("multi.c1z");
    std::fs::copy(dir.join("current/v025-multi.c1z"), &path).unwrap();
    let f = C1zFile::open(&path).unwrap();
    let before_runs = f.store().sync_runs().unwrap();
    let before: BTreeSet<String> = f
        .store()
        .all_grants(GrantQuery::default())
        .unwrap()
        .into_iter()
        .map(|g| g.grant.id)
        .collect();
    // Touch it so it is saved: add an asset to the last sync.
    f.store()
        .sync_writer(&before_runs[3].id)
        .unwrap()
        .put_asset("asset:new", "text/plain", b"x")
        .unwrap();
    assert!(f.close().unwrap());
    let f = C1zFile::open_read_only(&path).unwrap();
    assert_eq!(f.store().sync_runs().unwrap(), before_runs);
    let after: BTreeSet<String> = f
        .store()
        .all_grants(GrantQuery::default())
        .unwrap()
        .into_iter()
        .map(|g| g.grant.id)
        .collect();
    assert_eq!(after, before);
    // Schema: compare the statements with baton's `.schema` dump.
    let (_conn, ours) = schema_of(&path, tmp.path());
    assert_eq!(ours, batons_schema(&dir));
}

/// The decoded database of a v1 file and its schema statements, normalized.
fn schema_of(path: &Path, tmp: &Path) -> (rusqlite::Connection, BTreeSet<String>) {
    let db = tmp.join("db");
    c1z::format::v1::decode(path, &db, Default::default()).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let schema = {
        let mut stmt = conn
            .prepare("select sql from sqlite_master where sql is not null")
            .unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|s| normalize(&s.unwrap()))
            .collect()
    };
    (conn, schema)
}

/// baton v0.25.0's schema statements (`.schema` of a file it wrote), normalized.
fn batons_schema(samples: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(samples.join("current/v025-schema.sql"))
        .unwrap()
        .split(";\n")
        .map(normalize)
        .filter(|s| !s.is_empty())
        .collect()
}

fn normalize(sql: &str) -> String {
    sql.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(';')
        .to_owned()
}

/// A large connector write drops three grant indexes and builds them once at the save:
/// reads in between stay correct, and the saved file has baton's exact schema.
#[test]
fn a_large_connector_write_saves_batons_schema() {
    let Some(dir) = samples() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("large.c1z");
    let f = C1zFile::create(&path).unwrap();
    let run = f.store().start_sync(SyncType::Full, None).unwrap();
    let ents: Vec<_> = (0..40)
        .map(|i| crate::util::entitlement("group", &format!("g{i}"), "member"))
        .collect();
    for batch in 0..14 {
        let grants: Vec<_> = (0..5_000)
            .map(|i| {
                let n = batch * 5_000 + i;
                crate::util::grant(&ents[n % 40], "user", &format!("u{}", n / 40))
            })
            .collect();
        run.put_grants(grants).unwrap();
    }
    // 70,000 grants: past the deferral threshold. By principal and by entitlement, as
    // with the indexes.
    let of = |q: GrantQuery| f.store().all_grants(q).unwrap().len();
    let by_principal = GrantQuery {
        principal: Some(c1z::ResourceKey::new("user", "u7")),
        ..Default::default()
    };
    let by_entitlement = GrantQuery {
        entitlement_id: Some(ents[3].id.clone()),
        ..Default::default()
    };
    assert_eq!(of(by_principal.clone()), 40);
    assert_eq!(of(by_entitlement.clone()), 1_750);
    run.finish().unwrap();
    f.close().unwrap();
    let (_conn, ours) = schema_of(&path, tmp.path());
    assert_eq!(ours, batons_schema(&dir));
    let again = C1zFile::open_read_only(&path).unwrap();
    assert_eq!(again.store().all_grants(by_principal).unwrap().len(), 40);
    assert_eq!(
        again.store().all_grants(by_entitlement).unwrap().len(),
        1_750
    );
}

/// A file c1z creates from scratch has baton's exact schema statements.
#[test]
fn fresh_file_schema_is_batons() {
    let Some(dir) = samples() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("fresh.c1z");
    let f = C1zFile::create(&path).unwrap();
    f.store()
        .start_sync(SyncType::Full, None)
        .unwrap()
        .finish()
        .unwrap();
    f.close().unwrap();
    let (conn, ours) = schema_of(&path, tmp.path());
    assert_eq!(ours, batons_schema(&dir));
    // The sync row is what baton expects of a fresh writer.
    let (backfilled, ended): (i64, String) = conn
        .query_row(
            "select grants_backfilled, ended_at from v1_sync_runs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(backfilled, 1);
    assert!(c1z::wall::parse(&ended).is_some());
    // zstd frame: content size present.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..5], b"C1ZF\0");
    let fcs = zstd_fcs(&bytes[5..]);
    assert_eq!(
        fcs,
        Some(std::fs::metadata(tmp.path().join("db")).unwrap().len())
    );
}

fn zstd_fcs(frame: &[u8]) -> Option<u64> {
    // Frame header: magic, descriptor; FCS flag in the top two bits.
    assert_eq!(&frame[..4], [0x28, 0xB5, 0x2F, 0xFD]);
    let fhd = frame[4];
    let single = fhd & 0x20 != 0;
    let fcs_len = match fhd >> 6 {
        0 if single => 1,
        0 => return None,
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let at = 5 + usize::from(!single) + [0usize, 1, 2, 4][usize::from(fhd & 3)];
    let mut v = 0u64;
    for (i, b) in frame[at..at + fcs_len].iter().enumerate() {
        v |= u64::from(*b) << (8 * i);
    }
    Some(if fcs_len == 2 { v + 256 } else { v })
}

/// Copies every sync of the file at `src` into a new RocksDB file at `dst`.
fn copy_to_rocks(src: &Path, dst: &Path) {
    let src = C1zFile::open_read_only(src).unwrap();
    let dst = c1z::OpenOptions::new()
        .with_create(true)
        .with_engine(c1z::engine::EngineKind::Rocks)
        .open(dst)
        .unwrap();
    c1z::convert::copy_all(src.store(), dst.store()).unwrap();
    dst.close().unwrap();
}

/// Every grant of `sync`.
fn sync_grants(s: &c1z::AnyStore, sync: &SyncId) -> Vec<c1z::GrantRecord> {
    s.all_grants(GrantQuery {
        sync: SyncSelector::Id(sync.clone()),
        ..Default::default()
    })
    .unwrap()
}

/// The expansion oracle: expanding baton's unexpanded 36zf sync reproduces the expanded
/// file's grants exactly (keys and source-key sets), on both engines (SQLite in memory and
/// on disk).
#[test]
fn expansion_matches_the_36zf_oracle_on_both_engines() {
    use std::collections::BTreeMap;
    let Some(dir) = samples() else { return };
    let sync = SyncId::from("36zfOAoWMxQdISbixanQCRBiX7E");
    let listing =
        |s: &c1z::AnyStore| -> BTreeMap<String, (String, std::collections::BTreeSet<String>)> {
            sync_grants(s, &sync)
                .into_iter()
                .map(|g| {
                    let e = g.grant.entitlement.as_ref().unwrap().id.clone();
                    let p = g.grant.principal.as_ref().unwrap().id.clone().unwrap();
                    let keys = g
                        .grant
                        .sources
                        .map(|s| s.sources.into_keys().collect())
                        .unwrap_or_default();
                    (
                        format!("{e}|{}|{}", p.resource_type, p.resource),
                        (g.grant.id, keys),
                    )
                })
                .collect()
        };
    let expected = listing(
        C1zFile::open_read_only(dir.join("sync.36zfOAoWMxQdISbixanQCRBiX7E.expanded"))
            .unwrap()
            .store(),
    );
    assert_eq!(expected.len(), 14_981);
    let tmp = tempfile::tempdir().unwrap();
    let sqlite = tmp.path().join("u.c1z");
    std::fs::copy(
        dir.join("sync.36zfOAoWMxQdISbixanQCRBiX7E.unexpanded"),
        &sqlite,
    )
    .unwrap();
    let rocks = tmp.path().join("u.rocks.c1z");
    copy_to_rocks(&sqlite, &rocks);
    // SQLite twice: in memory (the default for a file this small) and on disk.
    let sqlite_disk = tmp.path().join("u.disk.c1z");
    std::fs::copy(&sqlite, &sqlite_disk).unwrap();
    // RocksDB three ways: bulk tables (the default), tiny bulk tables, and the memtable.
    let rocks_tiny = tmp.path().join("u.tiny.rocks.c1z");
    std::fs::copy(&rocks, &rocks_tiny).unwrap();
    let rocks_memtable = tmp.path().join("u.memtable.rocks.c1z");
    std::fs::copy(&rocks, &rocks_memtable).unwrap();
    // And with no members held in memory: every layer read back from published grants.
    let rocks_published = tmp.path().join("u.published.rocks.c1z");
    std::fs::copy(&rocks, &rocks_published).unwrap();
    // Every grant's stored bytes, by id: the same on every engine and path.
    let stored = |s: &c1z::AnyStore| -> BTreeMap<String, Vec<u8>> {
        s.stream_stored_grants(GrantQuery {
            sync: SyncSelector::Id(sync.clone()),
            ..Default::default()
        })
        .map(|g| {
            let g = g.unwrap();
            let grant =
                <c1z::pb::c1::connector::v2::Grant as prost::Message>::decode(g.data.as_slice())
                    .unwrap();
            (grant.id, g.data)
        })
        .collect()
    };
    let mut first_stored: Option<BTreeMap<String, Vec<u8>>> = None;
    // SQLite's in-memory threshold and RocksDB's bulk buffer share a 32 MiB default.
    let default_limit = c1z::engine::sqlite::DEFAULT_MEMORY_LIMIT;
    assert_eq!(default_limit, c1z::engine::rocks::DEFAULT_BULK_MEMORY);
    let held = c1z::expand::ExpandOptions::default().held_members;
    for (path, memory_limit, held_members) in [
        (&sqlite, default_limit, held),
        (&sqlite_disk, 0, held),
        (&rocks, default_limit, held),
        (&rocks_tiny, 64 << 10, held),
        (&rocks_memtable, 0, held),
        (&rocks_published, default_limit, 0),
    ] {
        let f = c1z::OpenOptions::new()
            .with_sqlite(c1z::SqliteOptions::new().with_memory_limit(memory_limit))
            .with_rocksdb(c1z::RocksOptions::new().with_bulk_buffer(memory_limit))
            .open(path)
            .unwrap();
        let opts = c1z::expand::ExpandOptions {
            held_members,
            ..Default::default()
        };
        let report = c1z::expand::expand(f.store(), &sync, &opts).unwrap();
        assert_eq!(
            (
                report.edge_grants,
                report.nodes,
                report.edges,
                report.cycles,
                report.layers
            ),
            (409, 240, 799, 0, 21)
        );
        assert_eq!(
            (
                report.dropped_missing_source,
                report.dropped_missing_destination
            ),
            (0, 0)
        );
        assert_eq!(
            (report.grants_added, report.grants_updated),
            (12_072, 1_199)
        );
        let got = listing(f.store());
        assert_eq!(got.len(), expected.len());
        let mut mismatches = 0;
        for (k, (id, keys)) in &expected {
            match got.get(k) {
                Some((gid, gkeys)) if gid == id && gkeys == keys => {}
                other => {
                    mismatches += 1;
                    if mismatches < 5 {
                        eprintln!("{k}: expected {id} {keys:?}, got {other:?}");
                    }
                }
            }
        }
        assert_eq!(mismatches, 0, "{}", path.display());
        let bytes = stored(f.store());
        match &first_stored {
            None => first_stored = Some(bytes),
            Some(first) => assert!(*first == bytes, "{}: stored bytes differ", path.display()),
        }
        // Saved and reopened, the result stays.
        f.close().unwrap();
        assert_eq!(
            listing(C1zFile::open_read_only(path).unwrap().store()).len(),
            14_981
        );
    }
}

/// The SQLite engine defers three grant indexes during expansion; the saved file has them
/// all, with baton's definitions.
#[test]
fn expansion_leaves_every_grant_index_in_place() {
    use crate::util::{entitlement, grant};
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.c1z");
    let f = C1zFile::create(&path).unwrap();
    let run = f.store().start_sync(SyncType::Full, None).unwrap();
    let (a, b) = (
        entitlement("group", "a", "member"),
        entitlement("group", "b", "member"),
    );
    run.put_entitlements(&[a.clone(), b.clone()]).unwrap();
    let e = c1z::pb::c1::connector::v2::GrantExpandable {
        entitlement_ids: vec![b.id.clone()],
        ..Default::default()
    };
    run.put_grants(&[
        crate::util::with_expandable(grant(&a, "group", "b"), &e),
        grant(&b, "user", "u"),
    ])
    .unwrap();
    let id = run.finish().unwrap().id;
    assert_eq!(
        c1z::expand::expand(f.store(), &id, &Default::default())
            .unwrap()
            .grants_added,
        1
    );
    // Reads by principal work again right after the expansion.
    let by_principal = f
        .store()
        .all_grants(GrantQuery {
            principal: Some(c1z::ResourceKey::new("user", "u")),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_principal.len(), 2);
    f.close().unwrap();
    let (conn, _) = schema_of(&path, tmp.path());
    let mut stmt = conn
        .prepare(
            "select name, sql from sqlite_master where type = 'index' and tbl_name = 'v1_grants'",
        )
        .unwrap();
    let indexes: BTreeMap<String, String> = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for name in [
        "idx_grants_resource_type_id_resource_id_v1",
        "idx_grants_principal_id_v1",
        "idx_grants_entitlement_id_principal_id_v1",
        "idx_grants_external_sync_v1",
        "idx_grants_entitlement_sync_grant_v1",
        "idx_grants_sync_expansion_v1",
        "idx_grants_sync_needs_expansion_v1",
    ] {
        assert!(indexes.contains_key(name), "{name} missing: {indexes:?}");
    }
    assert_eq!(
        normalize(&indexes["idx_grants_principal_id_v1"]),
        "CREATE INDEX idx_grants_principal_id_v1 on v1_grants (principal_resource_type_id, principal_resource_id)"
    );
}

/// Sync (d) of baton's `v025-multi.c1z` as baton's canonical listing spells it
/// (`v025-multi.d-expanded.tsv`): one line per grant, sorted bytewise.
fn v025_listing(s: &c1z::AnyStore, sync: &SyncId) -> Vec<String> {
    let mut lines: Vec<String> = sync_grants(s, sync)
        .into_iter()
        .map(|g| {
            let e = g.grant.entitlement.as_ref().unwrap().id.clone();
            let p = g.grant.principal.as_ref().unwrap().id.clone().unwrap();
            let sources = crate::util::sources_map(&g.grant);
            let keys: Vec<&str> = sources.keys().map(String::as_str).collect();
            let direct: Vec<String> = sources
                .iter()
                .map(|(k, d)| format!("{k}={}", u8::from(*d)))
                .collect();
            format!(
                "{e}\t{}\t{}\t{}\t{}\t{}",
                p.resource_type,
                p.resource,
                g.grant.id,
                keys.join(","),
                direct.join(",")
            )
        })
        .collect();
    lines.sort();
    lines
}

/// A second expansion oracle, from baton-sdk v0.25.0 itself: sync (d) of
/// `v025-multi.c1z` read back is baton's canonical listing, and with its derived grants
/// removed and the sources of its direct grants cleared, expanding it again on either
/// engine gives that listing line for line (a 2-hop chain, a shallow edge, a type filter,
/// groups into roles into apps; ids, source keys and `is_direct` flags).
#[test]
fn expansion_of_v025_sync_d_reproduces_batons_listing() {
    let Some(dir) = samples() else { return };
    let sync = SyncId::from("3MSzRZG1ohUOGETUrnuDqs0RnZE");
    let expected: Vec<String> =
        std::fs::read_to_string(dir.join("current/v025-multi.d-expanded.tsv"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
    assert_eq!(expected.len(), 1_502);
    let tmp = tempfile::tempdir().unwrap();
    let sqlite = tmp.path().join("multi.c1z");
    std::fs::copy(dir.join("current/v025-multi.c1z"), &sqlite).unwrap();
    assert_eq!(
        v025_listing(C1zFile::open_read_only(&sqlite).unwrap().store(), &sync),
        expected
    );

    // Undo the expansion: derived grants (GrantImmutable) go, direct ones lose their
    // sources; their expansion columns stay (PreserveExpansion).
    {
        let f = C1zFile::open(&sqlite).unwrap();
        let s = f.store();
        let (mut derived, mut cleared) = (0, 0);
        for mut g in sync_grants(s, &sync) {
            let immutable = g
                .grant
                .annotations
                .iter()
                .any(|a| codec::any_is(a, codec::GRANT_IMMUTABLE));
            if immutable {
                assert!(s.delete_grant(&sync, &g.grant.id).unwrap());
                derived += 1;
            } else if g.grant.sources.take().is_some() {
                s.put_grants(&sync, &[g], c1z::GrantUpsertMode::PreserveExpansion)
                    .unwrap();
                cleared += 1;
            }
        }
        // README of the samples: 581 new derived grants, 19 direct grants gained sources.
        assert_eq!((derived, cleared), (581, 19));
        f.close().unwrap();
    }
    let rocks = tmp.path().join("multi.rocks.c1z");
    copy_to_rocks(&sqlite, &rocks);
    for path in [&sqlite, &rocks] {
        let f = C1zFile::open(path).unwrap();
        assert_eq!(
            sync_grants(f.store(), &sync).len(),
            921,
            "the direct grants"
        );
        let report = c1z::expand::expand(f.store(), &sync, &Default::default()).unwrap();
        assert_eq!(report.edge_grants, 30, "{}", path.display());
        assert_eq!(
            (report.grants_added, report.grants_updated),
            (581, 19),
            "{}",
            path.display()
        );
        f.store().check_consistency().unwrap();
        f.close().unwrap();
        let got = v025_listing(C1zFile::open_read_only(path).unwrap().store(), &sync);
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, e, "{}: line {}", path.display(), i + 1);
        }
        assert_eq!(got.len(), expected.len(), "{}", path.display());
    }
}
