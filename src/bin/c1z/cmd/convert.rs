//! `c1z convert IN OUT --engine sqlite|rocksdb [--payload-encoding tar_zstd|tar]`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use c1z::engine::EngineKind;
use c1z::pb::c1::c1z::v3::PayloadEncoding;
use c1z::{C1zFile, OpenOptions, RocksOptions};

pub(crate) fn run(
    input: &Path,
    output: &Path,
    engine: &str,
    encoding: &str,
) -> anyhow::Result<ExitCode> {
    if output.exists() {
        bail!(
            "{} already exists; refusing to overwrite it",
            output.display()
        );
    }
    let start = Instant::now();
    let engine: EngineKind = engine.parse()?;
    let encoding = if encoding == "tar" {
        PayloadEncoding::Tar
    } else {
        PayloadEncoding::TarZstd
    };
    let src = crate::progress::opening(input, || C1zFile::open_read_only(input))
        .with_context(|| format!("cannot open {}", input.display()))?;
    let dst = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .with_rocksdb(RocksOptions::new().with_payload_encoding(encoding))
        .open(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let bar = crate::progress::rows("converting", total_rows(src.store()));
    let copied = c1z::convert::copy_all_reporting(src.store(), dst.store(), &|n| {
        if let Some(bar) = &bar {
            bar.set_position(n);
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = match copied {
        Ok(report) => report,
        Err(e) => {
            dst.discard();
            return Err(e.into());
        }
    };
    // An empty source still produces a (valid, empty) output file.
    let saving = crate::progress::spinner(format!("saving {}", output.display()));
    let saved = dst.save_as(output);
    if let Some(bar) = saving {
        bar.finish_and_clear();
    }
    saved.with_context(|| format!("cannot save {}", output.display()))?;
    // The output is written: nothing is left to save.
    dst.discard();
    crate::progress::note(format_args!(
        "copied {} sync runs, {} rows from {} ({}) to {} ({}) in {:.2}s",
        report.sync_runs,
        report.rows,
        input.display(),
        src.metadata().engine,
        output.display(),
        engine.name(),
        start.elapsed().as_secs_f64()
    ));
    Ok(ExitCode::SUCCESS)
}

/// The rows a copy of every sync of `store` writes, from the stats stored with the syncs
/// (`None` when a sync has none: counting would cost as much as the copy).
pub(crate) fn total_rows(store: &c1z::AnyStore) -> Option<u64> {
    use c1z::ReaderExt;
    let mut total = 0u64;
    for run in store.sync_runs().ok()? {
        let stats = c1z::sync::SyncStats::from_cached(run.stats.as_deref()?)?;
        let n = stats.resource_types
            + stats.resources
            + stats.entitlements
            + stats.grants
            + stats.assets;
        total += u64::try_from(n).ok()?;
    }
    Some(total)
}
