//! Connector and reader workloads on both engines over one generated fixture
//! ([`c1z::synth::generate_fixture`]: users, groups, roles, apps and generic resources,
//! 2 % nested group memberships), `workloads/<engine>/<workload>/<grants>`:
//!
//! - `write_and_save`: one connector sync of N grants (resource types, resources,
//!   entitlements and grants in connector-sized puts, checkpoints) and the save;
//! - `open_cold`: opening the saved file read-only (decompression into a working copy)
//!   and the first query (the latest sync, the first page of grants);
//! - `get_by_id`: one grant by id, cycling over 1,024 ids spread over the file;
//! - `list_by_entitlement` / `list_by_principal`: every grant of 16 entitlements / 16
//!   principals spread over the sorted ids (big and small ones), in pages of 250;
//! - `stream_all`: every grant of the sync.
//!
//! The saved file's size per grant is printed once per engine and size (criterion has no
//! size metric). "Cold" means a fresh working copy; the saved file itself is in the page
//! cache after the first iteration.
//!
//! `cargo bench --bench workloads` runs 10k grants; `C1Z_BENCH_GRANTS=100000` (or a list,
//! `C1Z_BENCH_GRANTS=10000,100000,1000000`) sets the sizes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use c1z::engine::EngineKind;
use c1z::synth::{FixtureSpec, generate_fixture};
use c1z::{
    C1zFile, GrantQuery, OpenOptions, PageRequest, Reader, ReaderExt, ResourceKey, SyncId,
    SyncSelector,
};
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};

/// The allocator the `c1z` binary uses, so these numbers match the CLI's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The wire maximum of a page, as baton's readers page.
const PAGE: u32 = 250;

/// Grant counts from `C1Z_BENCH_GRANTS` (comma-separated), default 10k.
fn sizes() -> Vec<u64> {
    let Ok(list) = std::env::var("C1Z_BENCH_GRANTS") else {
        return vec![10_000];
    };
    list.split(',')
        .map(|s| {
            s.trim()
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("C1Z_BENCH_GRANTS: '{s}' is not a grant count"))
        })
        .collect()
}

/// A fixture of `grants` grants shaped like a mid-size directory: ten grants per user,
/// a hundred per resource, one and a half entitlements per resource.
fn spec(grants: u64) -> FixtureSpec {
    let resources = u32::try_from((grants / 100).max(20)).unwrap();
    FixtureSpec {
        seed: 1,
        resource_types: 6,
        resources,
        entitlements: resources / 2 * 3,
        principals: u32::try_from((grants / 10).max(100)).unwrap(),
        grants,
        expandable_fraction: 0.02,
    }
}

fn create(path: &Path, engine: EngineKind) -> C1zFile {
    OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(path)
        .unwrap()
}

/// The fixture saved at `path`; its sync.
fn write(path: &Path, engine: EngineKind, spec: &FixtureSpec) -> SyncId {
    let f = create(path, engine);
    let id = generate_fixture(f.store(), spec).unwrap().run.id;
    f.close().unwrap();
    id
}

/// What the read workloads ask for, picked from one pass over the grants.
struct Targets {
    ids: Vec<String>,
    entitlements: Vec<String>,
    entitlement_grants: u64,
    principals: Vec<ResourceKey>,
    principal_grants: u64,
}

/// `n` items spread evenly over `sorted` (all of them if fewer).
fn spread<T: Clone>(sorted: &[T], n: usize) -> Vec<T> {
    let step = (sorted.len() / n).max(1);
    sorted.iter().step_by(step).take(n).cloned().collect()
}

fn targets(file: &C1zFile, sync: &SyncId, grants: u64) -> Targets {
    let mut per_entitlement: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_principal: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut ids = Vec::new();
    let every = (grants / 1_024).max(1);
    let query = GrantQuery {
        sync: SyncSelector::Id(sync.clone()),
        ..GrantQuery::default()
    };
    for (i, g) in file.store().stream_grants(query).enumerate() {
        let g = g.unwrap().grant;
        if (i as u64).is_multiple_of(every) {
            ids.push(g.id.clone());
        }
        *per_entitlement
            .entry(g.entitlement.unwrap().id)
            .or_default() += 1;
        let p = g.principal.unwrap().id.unwrap();
        *per_principal
            .entry((p.resource_type, p.resource))
            .or_default() += 1;
    }
    // Shuffled so consecutive gets jump around the file rather than follow its order.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..ids.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let ents: Vec<String> = per_entitlement.keys().cloned().collect();
    let entitlements = spread(&ents, 16);
    let users: Vec<(String, String)> = per_principal
        .keys()
        .filter(|(t, _)| t == "user")
        .cloned()
        .collect();
    let users = spread(&users, 16);
    Targets {
        entitlement_grants: entitlements.iter().map(|e| per_entitlement[e]).sum(),
        principal_grants: users.iter().map(|u| per_principal[u]).sum(),
        principals: users
            .into_iter()
            .map(|(t, r)| ResourceKey::new(t, r))
            .collect(),
        entitlements,
        ids,
    }
}

/// Every grant matching `query`, paged as a reader does; the count.
fn list_all(file: &C1zFile, query: &GrantQuery) -> u64 {
    let mut rows = 0;
    let mut page = PageRequest::first(PAGE);
    loop {
        let p = file.store().list_grants(query, &page).unwrap();
        rows += p.items.len() as u64;
        black_box(&p.items);
        if p.next_page_token.is_empty() {
            return rows;
        }
        page = PageRequest::after(PAGE, p.next_page_token);
    }
}

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
}

fn write_and_save(c: &mut Criterion, engine: EngineKind, n: u64, dir: &Path) {
    let spec = spec(n);
    let mut group = c.benchmark_group(format!("workloads/{}", engine.name()));
    configure(&mut group);
    group.throughput(Throughput::Elements(n));
    let mut i = 0u32;
    group.bench_function(format!("write_and_save/{n}"), |b| {
        b.iter_batched(
            || {
                i += 1;
                let path = dir.join(format!("write-{}-{n}-{i}.c1z", engine.name()));
                (create(&path, engine), path)
            },
            |(file, path)| {
                generate_fixture(file.store(), &spec).unwrap();
                file.close().unwrap();
                std::fs::remove_file(path).unwrap();
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn reads(c: &mut Criterion, engine: EngineKind, n: u64, path: &Path, sync: &SyncId) {
    let name = engine.name();
    let bytes = std::fs::metadata(path).unwrap().len();
    eprintln!(
        "workloads/{name}/file_size/{n}: {bytes} bytes, {:.1} bytes per grant",
        bytes as f64 / n as f64
    );
    let mut group = c.benchmark_group(format!("workloads/{name}"));
    configure(&mut group);

    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("open_cold/{n}"), |b| {
        b.iter_with_large_drop(|| {
            let file = C1zFile::open_read_only(path).unwrap();
            let run = file.store().latest_finished_sync(None).unwrap().unwrap();
            let query = GrantQuery {
                sync: SyncSelector::Id(run.id),
                ..GrantQuery::default()
            };
            let first = file
                .store()
                .list_grants(&query, &PageRequest::first(PAGE))
                .unwrap();
            assert!(!first.items.is_empty());
            file
        });
    });

    let file = C1zFile::open_read_only(path).unwrap();
    let t = targets(&file, sync, n);
    let sel = SyncSelector::Id(sync.clone());
    let mut next = 0usize;
    group.bench_function(format!("get_by_id/{n}"), |b| {
        b.iter(|| {
            let id = &t.ids[next % t.ids.len()];
            next += 1;
            let g = file.store().grant(&sel, id).unwrap();
            assert!(g.is_some());
            g
        });
    });

    group.throughput(Throughput::Elements(t.entitlement_grants));
    group.bench_function(format!("list_by_entitlement/{n}"), |b| {
        b.iter(|| {
            let mut rows = 0;
            for e in &t.entitlements {
                rows += list_all(
                    &file,
                    &GrantQuery {
                        sync: sel.clone(),
                        entitlement_id: Some(e.clone()),
                        ..GrantQuery::default()
                    },
                );
            }
            assert_eq!(rows, t.entitlement_grants);
        });
    });

    group.throughput(Throughput::Elements(t.principal_grants));
    group.bench_function(format!("list_by_principal/{n}"), |b| {
        b.iter(|| {
            let mut rows = 0;
            for p in &t.principals {
                rows += list_all(
                    &file,
                    &GrantQuery {
                        sync: sel.clone(),
                        principal: Some(p.clone()),
                        ..GrantQuery::default()
                    },
                );
            }
            assert_eq!(rows, t.principal_grants);
        });
    });

    group.throughput(Throughput::Elements(n));
    group.bench_function(format!("stream_all/{n}"), |b| {
        b.iter(|| {
            let query = GrantQuery {
                sync: sel.clone(),
                ..GrantQuery::default()
            };
            let mut rows = 0u64;
            for g in file.store().stream_grants(query) {
                black_box(g.unwrap());
                rows += 1;
            }
            assert_eq!(rows, n);
        });
    });
    group.finish();
}

fn workloads(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for n in sizes() {
        for engine in [EngineKind::Sqlite, EngineKind::Rocks] {
            write_and_save(c, engine, n, dir.path());
            let path = dir.path().join(format!("read-{}-{n}.c1z", engine.name()));
            let sync = write(&path, engine, &spec(n));
            reads(c, engine, n, &path, &sync);
            std::fs::remove_file(&path).unwrap();
        }
    }
}

criterion_group!(benches, workloads);
criterion_main!(benches);
