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
    let src = C1zFile::open_read_only(input)
        .with_context(|| format!("cannot open {}", input.display()))?;
    let dst = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .with_rocksdb(RocksOptions::new().with_payload_encoding(encoding))
        .open(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let report = c1z::convert::copy_all(src.store(), dst.store())?;
    // An empty source still produces a (valid, empty) output file.
    dst.save_as(output)
        .with_context(|| format!("cannot save {}", output.display()))?;
    // The output is written: nothing is left to save.
    dst.discard();
    eprintln!(
        "c1z: copied {} sync runs, {} rows from {} ({}) to {} ({}) in {:.2}s",
        report.sync_runs,
        report.rows,
        input.display(),
        src.metadata().engine,
        output.display(),
        engine.name(),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
