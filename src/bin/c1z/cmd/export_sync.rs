//! `c1z export-sync FILE --sync-id ID -o OUT [--engine sqlite|rocksdb]`: one sync, with its
//! token, stats and every row, cloned into a new file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use c1z::engine::EngineKind;
use c1z::{OpenOptions, Reader, SyncId};

pub(crate) fn run(
    input: &Path,
    sync_id: &str,
    output: &Path,
    engine: Option<&str>,
) -> anyhow::Result<ExitCode> {
    if output.exists() {
        bail!(
            "{} already exists; refusing to overwrite it",
            output.display()
        );
    }
    let src = crate::progress::opening(input, || c1z::C1zFile::open_read_only(input))
        .with_context(|| format!("cannot open {}", input.display()))?;
    let id = SyncId::from(sync_id);
    let Some(run) = src.store().sync_run(&id)? else {
        bail!(
            "no sync {id} in {}; `c1z syncs {}` lists them",
            input.display(),
            input.display()
        );
    };
    // Default: the input's engine; c1z reads baton's Pebble files but writes rocksdb.
    let engine: EngineKind = match engine {
        Some(name) => name.parse()?,
        None if src.metadata().engine.starts_with("pebble") => EngineKind::Rocks,
        None => src.metadata().engine.parse()?,
    };
    let dst = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let rows = match c1z::convert::copy_sync(src.store(), dst.store(), &run) {
        Ok(rows) => rows,
        Err(e) => {
            dst.discard();
            return Err(e.into());
        }
    };
    dst.close()
        .with_context(|| format!("cannot save {}", output.display()))?;
    crate::progress::note(format_args!(
        "exported sync {id} ({} rows) from {} to {} ({})",
        rows,
        input.display(),
        output.display(),
        engine.name()
    ));
    Ok(ExitCode::SUCCESS)
}
