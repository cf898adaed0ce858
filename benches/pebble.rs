//! Reading baton's Pebble files: `pebble/<file>/open` (payload extraction and opening the
//! database), `pebble/<file>/count_objects` (what `c1z stats` counts, on the open file),
//! `pebble/<file>/stream_grants` (every grant decoded, throughput in grants),
//! `pebble/<file>/get_grant` (point gets by grant id, warm).
//!
//! Files: baton's samples beside the repository (`../shared/baton-samples`); the small
//! ones by default, `large/g1m.pebble3.c1z` (999,362 grants) with `C1Z_BENCH_LARGE=1`.
//! Without the samples the benchmark does nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;

use c1z::prelude::*;
use c1z::{C1zFile, GrantQuery, SyncSelector};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn files() -> Vec<(&'static str, PathBuf)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/baton-samples");
    let mut out = vec![
        ("v025", dir.join("current/v025-full.pebble.c1z")),
        ("36zf", dir.join("current/36zf.expanded.pebble3.c1z")),
    ];
    if std::env::var("C1Z_BENCH_LARGE").as_deref() == Ok("1") {
        out.push(("g1m", dir.join("large/g1m.pebble3.c1z")));
    }
    out.retain(|(_, p)| p.exists());
    out
}

fn bench(c: &mut Criterion) {
    for (name, path) in files() {
        let mut g = c.benchmark_group(format!("pebble/{name}"));
        g.sample_size(10);
        g.bench_function("open", |b| {
            b.iter(|| black_box(C1zFile::open_read_only(&path).unwrap()));
        });
        let f = C1zFile::open_read_only(&path).unwrap();
        let run = f.store().sync_runs().unwrap().remove(0);
        g.bench_function("count_objects", |b| {
            b.iter(|| black_box(f.store().count_objects(&run.id).unwrap()));
        });
        let ids: Vec<String> = f
            .store()
            .stream_grants(GrantQuery::default())
            .map(|g| g.unwrap().grant.id)
            .collect();
        g.throughput(Throughput::Elements(ids.len() as u64));
        g.bench_function("stream_grants", |b| {
            b.iter(|| {
                let n = f.store().stream_grants(GrantQuery::default()).count();
                black_box(n);
            });
        });
        // Every 97th id, so the gets touch blocks across the whole table.
        let sample: Vec<&String> = ids.iter().step_by(97).take(2000).collect();
        g.throughput(Throughput::Elements(sample.len() as u64));
        g.bench_function("get_grant", |b| {
            b.iter(|| {
                for id in &sample {
                    black_box(f.store().grant(&SyncSelector::Latest, id).unwrap().unwrap());
                }
            });
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
