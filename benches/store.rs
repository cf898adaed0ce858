//! Store workloads on both engines with the same generated data:
//! `store/<engine>/put_grants_and_save` and `store/<engine>/list_by_entitlement`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use c1z::SyncSelector;
use std::hint::black_box;

use c1z::engine::EngineKind;
use c1z::pb::c1::connector::v2::{Entitlement, Grant, Resource, ResourceId};
use c1z::prelude::*;
use c1z::{C1zFile, GrantQuery, OpenOptions, SyncType};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const ENTITLEMENTS: usize = 100;

fn rid(rt: &str, id: &str) -> ResourceId {
    ResourceId {
        resource_type: rt.into(),
        resource: id.into(),
        ..Default::default()
    }
}

fn entitlements() -> Vec<Entitlement> {
    (0..ENTITLEMENTS)
        .map(|i| Entitlement {
            id: format!("group:g{i:04}:member"),
            resource: Some(Resource {
                id: Some(rid("group", &format!("g{i:04}"))),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect()
}

/// `n` grants spread round-robin over the entitlements, with full embedded objects (as
/// connectors write them).
fn grants(n: usize) -> Vec<Grant> {
    let ents = entitlements();
    (0..n)
        .map(|i| {
            let e = &ents[i % ENTITLEMENTS];
            let user = format!("u{i:07}");
            Grant {
                id: format!("{}:user:{user}", e.id),
                entitlement: Some(e.clone()),
                principal: Some(Resource {
                    id: Some(rid("user", &user)),
                    display_name: format!("User {i}"),
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect()
}

fn engines() -> [(EngineKind, &'static str); 2] {
    [
        (EngineKind::Sqlite, "sqlite"),
        (EngineKind::Rocks, "rocksdb"),
    ]
}

fn fresh(dir: &tempfile::TempDir, engine: EngineKind, name: &str) -> (C1zFile, std::path::PathBuf) {
    let path = dir.path().join(name);
    let _ = std::fs::remove_file(&path);
    (
        OpenOptions::new()
            .with_create(true)
            .with_engine(engine)
            .open(&path)
            .unwrap(),
        path,
    )
}

fn put_grants_and_save(c: &mut Criterion) {
    for n in [10_000usize, 100_000] {
        let data = grants(n);
        for (engine, name) in engines() {
            let mut group = c.benchmark_group(format!("store/{name}"));
            group
                .sample_size(10)
                .throughput(Throughput::Elements(n as u64));
            group.bench_function(format!("put_grants_and_save/{n}"), |b| {
                b.iter_batched(
                    || {
                        let dir = tempfile::tempdir().unwrap();
                        let (file, path) = fresh(&dir, engine, "bench.c1z");
                        (dir, file, path)
                    },
                    |(dir, file, path)| {
                        let run = file.store().start_sync(SyncType::Full, None).unwrap();
                        for chunk in data.chunks(10_000) {
                            run.put_grants(chunk).unwrap();
                        }
                        run.finish().unwrap();
                        file.close().unwrap();
                        black_box(std::fs::metadata(&path).unwrap().len());
                        drop(dir);
                    },
                    BatchSize::PerIteration,
                );
            });
            group.finish();
        }
    }
}

fn list_by_entitlement(c: &mut Criterion) {
    let n = 100_000;
    let data = grants(n);
    let ents = entitlements();
    for (engine, name) in engines() {
        let dir = tempfile::tempdir().unwrap();
        let (file, _) = fresh(&dir, engine, "list.c1z");
        let run = file.store().start_sync(SyncType::Full, None).unwrap();
        for chunk in data.chunks(10_000) {
            run.put_grants(chunk).unwrap();
        }
        let sync = run.finish().unwrap().id;
        let mut group = c.benchmark_group(format!("store/{name}"));
        // Ten entitlements of 1,000 grants each, paged 250 at a time (the wire maximum).
        group
            .sample_size(10)
            .throughput(Throughput::Elements((n / ENTITLEMENTS * 10) as u64));
        group.bench_function("list_by_entitlement/10x1000", |b| {
            b.iter(|| {
                let mut rows = 0;
                for e in ents.iter().step_by(10) {
                    let q = GrantQuery {
                        sync: SyncSelector::Id(sync.clone()),
                        entitlement_id: Some(e.id.clone()),
                        ..Default::default()
                    };
                    let mut page = c1z::PageRequest::first(250);
                    loop {
                        let p = file.store().list_grants(&q, &page).unwrap();
                        rows += p.items.len();
                        if p.next_page_token.is_empty() {
                            break;
                        }
                        page = c1z::PageRequest::after(250, p.next_page_token);
                    }
                }
                assert_eq!(rows, 10_000);
                black_box(rows)
            });
        });
        group.finish();
        file.discard();
    }
}

criterion_group!(benches, put_grants_and_save, list_by_entitlement);
criterion_main!(benches);
