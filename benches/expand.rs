//! Grant expansion on synthetic shapes and on baton's 36zf sample, for both engines:
//! `expand/<engine>/<shape>`, throughput in derived grants. Opening the file is setup
//! (not timed); the expansion itself, reads and writes included, is.
//!
//! The 6M-grant shape runs once per engine through the CLI instead (see README):
//! `c1z generate f.c1z --shape fanout-6m && c1z expand f.c1z -o out.c1z`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

use c1z::engine::EngineKind;
use c1z::expand::{ExpandOptions, expand};
use c1z::synth::{Shape, generate_shape};
use c1z::{C1zFile, OpenOptions, SyncId};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// The allocator the `c1z` binary uses, so these numbers match the CLI's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn engines() -> [(EngineKind, &'static str); 2] {
    [
        (EngineKind::Sqlite, "sqlite"),
        (EngineKind::Rocks, "rocksdb"),
    ]
}

/// A file holding the unexpanded shape, its sync, and how many grants expansion derives.
fn prepare(dir: &Path, engine: EngineKind, name: &str, shape: Shape) -> (PathBuf, SyncId, u64) {
    let path = dir.join(format!("{name}.c1z"));
    let f = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(&path)
        .unwrap();
    let sync = generate_shape(f.store(), shape, 7).unwrap().id;
    f.close().unwrap();
    let probe = C1zFile::open(&path).unwrap();
    let derived = expand(probe.store(), &sync, &ExpandOptions::default())
        .unwrap()
        .grants_added;
    probe.discard();
    (path, sync, derived)
}

/// Discards an expanded file when dropped, after the timed routine.
struct Discarded(Option<C1zFile>);

impl Drop for Discarded {
    fn drop(&mut self) {
        if let Some(file) = self.0.take() {
            file.discard();
        }
    }
}

fn bench_file(
    c: &mut Criterion,
    engine: &str,
    name: &str,
    path: &Path,
    sync: &SyncId,
    derived: u64,
) {
    let mut group = c.benchmark_group(format!("expand/{engine}"));
    group
        .sample_size(10)
        .throughput(Throughput::Elements(derived));
    group.bench_function(name, |b| {
        b.iter_batched(
            || C1zFile::open(path).unwrap(),
            |file| {
                let r = expand(file.store(), sync, &ExpandOptions::default()).unwrap();
                assert_eq!(r.grants_added, derived);
                Discarded(Some(file))
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn shapes(c: &mut Criterion) {
    let shapes = [
        (
            "fanout-200x300",
            Shape::FanOut {
                members: 200,
                resources: 300,
            },
        ),
        ("chain-30", Shape::named("chain-30").unwrap()),
        ("fan-in-1000", Shape::named("fan-in").unwrap()),
        ("cycle-1000", Shape::named("cycle-1000").unwrap()),
        ("dag-100k", Shape::named("dag-100k").unwrap()),
        ("org-420k", Shape::named("org-420k").unwrap()),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (engine, ename) in engines() {
        for (name, shape) in shapes {
            let (path, sync, derived) =
                prepare(dir.path(), engine, &format!("{ename}-{name}"), shape);
            bench_file(c, ename, name, &path, &sync, derived);
        }
    }
}

fn sample_36zf(c: &mut Criterion) {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/baton-samples/sync.36zfOAoWMxQdISbixanQCRBiX7E.unexpanded");
    if !sample.exists() {
        eprintln!(
            "note: {} not found; skipping the 36zf benchmark",
            sample.display()
        );
        return;
    }
    let sync = SyncId::from("36zfOAoWMxQdISbixanQCRBiX7E");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("36zf.c1z");
    std::fs::copy(&sample, &sqlite).unwrap();
    let rocks = dir.path().join("36zf.rocks.c1z");
    {
        let src = C1zFile::open_read_only(&sqlite).unwrap();
        let dst = OpenOptions::new()
            .with_create(true)
            .with_engine(EngineKind::Rocks)
            .open(&rocks)
            .unwrap();
        c1z::convert::copy_all(src.store(), dst.store()).unwrap();
        dst.close().unwrap();
    }
    for (ename, path) in [("sqlite", &sqlite), ("rocksdb", &rocks)] {
        bench_file(c, ename, "36zf", path, &sync, 12_072);
    }
}

criterion_group!(benches, sample_36zf, shapes);
criterion_main!(benches);
