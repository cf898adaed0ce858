//! Compaction on RocksDB (and SQLite for the merge): two 1M-grant files merged, and an
//! expanded 1M-grant base compacted with a partial sync adding 1 % more memberships,
//! expanded in full and incrementally. Setup (generating and expanding the inputs) is not
//! timed; each iteration writes a new output and discards it.
//!
//! `cargo bench --bench compact` (`C1Z_BENCH_SQLITE=1` adds SQLite's merge); the goals: two 1M files ≤ 5 s on RocksDB;
//! incremental expansion after a 1 % change ≥ 10× faster than the full one.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use c1z::compact::{CompactOptions, ExpansionMode, compact};
use c1z::diff::Side;
use c1z::engine::EngineKind;
use c1z::synth::{SynthSpec, generate};
use c1z::{C1zFile, OpenOptions, SyncId, SyncType, WriterExt};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USERS: u32 = 100_000;
const GROUPS: u32 = 2_000;

fn spec(seed: u64) -> SynthSpec {
    SynthSpec {
        seed,
        users: USERS,
        groups: GROUPS,
        roles: 50,
        apps: 20,
        memberships_per_user: 10,
        nested_groups: 20,
    }
}

fn create(path: &Path, engine: EngineKind) -> C1zFile {
    OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(path)
        .unwrap()
}

/// A generated full sync, expanded or not, saved and opened read-only.
fn full(path: &Path, engine: EngineKind, seed: u64, expanded: bool) -> (C1zFile, SyncId) {
    let f = create(path, engine);
    let id = generate(f.store(), &spec(seed)).unwrap().id;
    if expanded {
        c1z::expand::expand(f.store(), &id, &Default::default()).unwrap();
    }
    f.close().unwrap();
    (C1zFile::open_read_only(path).unwrap(), id)
}

/// A partial sync of 1 % of the groups (every 100th) adding `n` memberships of random
/// users to them: a targeted re-sync, as connectors' partial syncs are.
fn increment(path: &Path, engine: EngineKind, n: u32) -> (C1zFile, SyncId) {
    let f = create(path, engine);
    let w = f.store().start_sync(SyncType::Partial, None).unwrap();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut grants = Vec::new();
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (u, g) = (
            x % u64::from(USERS),
            ((x >> 32) % u64::from(GROUPS / 100)) * 100,
        );
        let group = c1z::pb::c1::connector::v2::Resource {
            id: Some(c1z::pb::c1::connector::v2::ResourceId {
                resource_type: "group".into(),
                resource: format!("group-{g:04}"),
                ..Default::default()
            }),
            display_name: format!("Group {g}"),
            ..Default::default()
        };
        let ent = c1z::pb::c1::connector::v2::Entitlement {
            id: format!("group:group-{g:04}:member"),
            display_name: format!("Group {g} member"),
            resource: Some(group),
            slug: "member".into(),
            ..Default::default()
        };
        let user = c1z::pb::c1::connector::v2::Resource {
            id: Some(c1z::pb::c1::connector::v2::ResourceId {
                resource_type: "user".into(),
                resource: format!("user-{u:06}"),
                ..Default::default()
            }),
            display_name: format!("User {u}"),
            ..Default::default()
        };
        grants.push(c1z::pb::c1::connector::v2::Grant {
            id: format!("group:group-{g:04}:member:user:user-{u:06}"),
            entitlement: Some(ent),
            principal: Some(user),
            ..Default::default()
        });
    }
    for part in grants.chunks(5_000) {
        w.put_grants(part.iter().cloned()).unwrap();
    }
    let id = w.finish().unwrap().id;
    f.close().unwrap();
    (C1zFile::open_read_only(path).unwrap(), id)
}

fn run(
    c: &mut Criterion,
    name: &str,
    engine: EngineKind,
    sides: &[Side<'_>],
    opts: &CompactOptions,
    dir: &Path,
) {
    let mut group = c.benchmark_group(format!("compact/{}", engine.name()));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(1));
    let mut n = 0u32;
    let mut expansions = Vec::new();
    group.bench_function(name, |b| {
        b.iter_batched(
            || {
                n += 1;
                create(
                    &dir.join(format!("{}-{n}.c1z", name.replace('/', "-"))),
                    engine,
                )
            },
            |out| {
                let report = compact(sides, out.store(), opts).unwrap();
                if opts.incremental {
                    assert!(
                        matches!(report.mode, ExpansionMode::Incremental { .. }),
                        "{:?}",
                        report.mode
                    );
                }
                if let Some(x) = &report.expansion {
                    let ms = x.graph_ms + x.evaluate_ms + x.write_ms + x.index_ms;
                    expansions.push((ms, x.incremental_nodes.unwrap_or(x.nodes), x.nodes));
                }
                out.discard();
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
    if !expansions.is_empty() {
        expansions.sort_unstable();
        let (ms, evaluated, nodes) = expansions[expansions.len() / 2];
        eprintln!(
            "{name}: the expansion alone: median {ms} ms, {evaluated} of {nodes} nodes evaluated"
        );
    }
}

fn compaction(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rocks = EngineKind::Rocks;
    let (a, a_id) = full(&d.join("a.c1z"), rocks, 1, false);
    let (b, b_id) = full(&d.join("b.c1z"), rocks, 2, false);
    let no_expand = CompactOptions {
        expand: false,
        ..CompactOptions::default()
    };
    let two = [
        Side {
            store: a.store(),
            sync: &a_id,
        },
        Side {
            store: b.store(),
            sync: &b_id,
        },
    ];
    run(c, "two-1m-files", rocks, &two, &no_expand, d);
    let (x, x_id) = full(&d.join("x.c1z"), rocks, 1, true);
    let (i, i_id) = increment(&d.join("i.c1z"), rocks, USERS / 10);
    let with_increment = [
        Side {
            store: x.store(),
            sync: &x_id,
        },
        Side {
            store: i.store(),
            sync: &i_id,
        },
    ];
    run(
        c,
        "expanded-1m+1%/full-expansion",
        rocks,
        &with_increment,
        &CompactOptions::default(),
        d,
    );
    let incremental = CompactOptions {
        incremental: true,
        ..CompactOptions::default()
    };
    run(
        c,
        "expanded-1m+1%/incremental-expansion",
        rocks,
        &with_increment,
        &incremental,
        d,
    );
    // SQLite's merge of two 1M files takes about 90 s a run: only on request.
    if std::env::var_os("C1Z_BENCH_SQLITE").is_none() {
        return;
    }
    let sqlite = EngineKind::Sqlite;
    let (sa, sa_id) = full(&d.join("sa.c1z"), sqlite, 1, false);
    let (sb, sb_id) = full(&d.join("sb.c1z"), sqlite, 2, false);
    let two_sqlite = [
        Side {
            store: sa.store(),
            sync: &sa_id,
        },
        Side {
            store: sb.store(),
            sync: &sb_id,
        },
    ];
    run(c, "two-1m-files", sqlite, &two_sqlite, &no_expand, d);
}

criterion_group!(benches, compaction);
criterion_main!(benches);
