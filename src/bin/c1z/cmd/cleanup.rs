//! `c1z cleanup FILE [--keep N] [--no-compact] [--dry-run]`: baton's retention policy (keep
//! the newest N full syncs, the partial syncs newer than the oldest kept full one, and the
//! last diff pair), then the space reclaimed, saved atomically over FILE.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use c1z::sync::{CleanupPolicy, cleanup, select_syncs_to_delete};
use c1z::{C1zFile, ReaderExt};

pub(crate) fn run(
    file: &Path,
    keep: usize,
    compact: bool,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let size_before = std::fs::metadata(file)
        .with_context(|| format!("cannot open {}", file.display()))?
        .len();
    let mut out = std::io::stdout().lock();
    if dry_run {
        let c1 = crate::progress::opening(file, || C1zFile::open_read_only(file))
            .with_context(|| format!("cannot open {}", file.display()))?;
        let runs = c1.store().sync_runs()?;
        for id in select_syncs_to_delete(&runs, keep, None) {
            let kind = runs
                .iter()
                .find(|r| r.id == id)
                .map_or("", |r| r.sync_type.as_str());
            writeln!(out, "would delete {id} {kind}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let c1 = crate::progress::opening(file, || C1zFile::open(file))
        .with_context(|| format!("cannot open {} for writing", file.display()))?;
    let runs = c1.store().sync_runs()?;
    let policy = CleanupPolicy {
        keep_full: keep,
        compact,
    };
    let deleted = match cleanup(c1.store(), policy, None) {
        Ok(deleted) => deleted,
        Err(e) => {
            c1.discard();
            return Err(e.into());
        }
    };
    if deleted.is_empty() {
        // Nothing to delete: the file is left exactly as it was.
        c1.discard();
    } else {
        c1.close()
            .with_context(|| format!("cannot save {}", file.display()))?;
    }
    for id in &deleted {
        let kind = runs
            .iter()
            .find(|r| r.id == *id)
            .map_or("", |r| r.sync_type.as_str());
        writeln!(out, "deleted {id} {kind}")?;
    }
    let size_after = std::fs::metadata(file).map_or(size_before, |m| m.len());
    crate::progress::note(format_args!(
        "{}: {} syncs deleted, {} kept; {size_before} -> {size_after} bytes",
        file.display(),
        deleted.len(),
        runs.len() - deleted.len()
    ));
    Ok(ExitCode::SUCCESS)
}
