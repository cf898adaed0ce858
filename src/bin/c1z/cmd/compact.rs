//! `c1z compact OUT IN... [--no-expand] [--engine sqlite|rocksdb]`: baton's compactor over
//! files of any engines.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use c1z::compact::{CompactOptions, ExpansionMode, compact, compactable_sync};
use c1z::diff::Side;
use c1z::engine::EngineKind;
use c1z::{C1zFile, OpenOptions};

pub(crate) fn run(
    output: &Path,
    inputs: &[PathBuf],
    expand: bool,
    incremental: bool,
    engine: &str,
) -> anyhow::Result<ExitCode> {
    if output.exists() {
        bail!(
            "{} already exists; refusing to overwrite it",
            output.display()
        );
    }
    let mut files = Vec::with_capacity(inputs.len());
    for path in inputs {
        let file = crate::progress::opening(path, || C1zFile::open_read_only(path))
            .with_context(|| format!("cannot open {}", path.display()))?;
        let Some(run) = compactable_sync(file.store())? else {
            bail!(
                "{} has no finished full, resources_only or partial sync to compact; `c1z syncs {}` lists its syncs",
                path.display(),
                path.display()
            );
        };
        files.push((file, run));
    }
    let sides: Vec<Side<'_>> = files
        .iter()
        .map(|(file, run)| Side {
            store: file.store(),
            sync: &run.id,
        })
        .collect();
    let engine: EngineKind = engine.parse()?;
    let out = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let bar = crate::progress::spinner(format!("compacting {} files", inputs.len()));
    let opts = CompactOptions {
        expand,
        incremental,
        ..CompactOptions::default()
    };
    let compacted = compact(&sides, out.store(), &opts);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = match compacted {
        Ok(report) => report,
        Err(e) => {
            out.discard();
            return Err(e.into());
        }
    };
    out.close()
        .with_context(|| format!("cannot save {}", output.display()))?;
    let objects: Vec<String> = report
        .objects
        .iter()
        .map(|(kind, n)| format!("{n} {}s", kind.name()))
        .collect();
    let expanded = match (&report.expansion, &report.mode) {
        (
            Some(x),
            ExpansionMode::Incremental {
                changed_entitlements,
            },
        ) => format!(
            "incremental expansion from {changed_entitlements} changed entitlements ({} of {} nodes evaluated): {} grants added, {} updated",
            x.incremental_nodes.unwrap_or_default(),
            x.nodes,
            x.grants_added,
            x.grants_updated
        ),
        (Some(x), mode) => {
            if let ExpansionMode::FullFallback(reason) = mode {
                // A fallback is worth knowing even when piped: it is slower.
                eprintln!("c1z: expanding in full, not incrementally: {reason}");
            }
            format!(
                "{} grants added by expansion, {} updated",
                x.grants_added, x.grants_updated
            )
        }
        (None, _) => "not expanded".to_owned(),
    };
    crate::progress::note(format_args!(
        "compacted {} files into {} sync {}: {}; {} replaced by an older file's later row; {expanded} -> {}",
        inputs.len(),
        report.sync_type,
        report.sync,
        objects.join(", "),
        report.replaced,
        output.display()
    ));
    Ok(ExitCode::SUCCESS)
}
