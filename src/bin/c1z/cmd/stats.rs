//! `c1z stats FILE [--sync-id ID] [-o table|json] [--json] [--recount | --recalculate]`: the
//! stats stored with the sync (what baton prints), counted from the rows where there are
//! none; `--recalculate` stores the recount (baton's recalculate-stats).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use c1z::SyncId;
use c1z::inspect::{choose_sync, counts_of, sync_run_message, sync_stats};

use crate::args::Format;
use crate::output;

/// Where the counts come from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counting {
    /// The stored stats, counted from the rows where there are none.
    Stored,
    /// Counted from the rows.
    Recount,
    /// Counted from the rows and stored (the file is saved in place).
    Recalculate,
}

pub(crate) fn run(
    file: &Path,
    sync_id: Option<&str>,
    format: Option<Format>,
    json: bool,
    counting: Counting,
) -> anyhow::Result<ExitCode> {
    let c1 = if counting == Counting::Recalculate {
        crate::progress::opening(file, || c1z::C1zFile::open(file))
            .with_context(|| format!("cannot open {} for writing", file.display()))?
    } else {
        crate::progress::opening(file, || c1z::C1zFile::open_read_only(file))
            .with_context(|| format!("cannot open {}", file.display()))?
    };
    let store = c1.store();
    let explicit = sync_id.map(SyncId::from);
    let chosen = choose_sync(store, explicit.as_ref())?;
    if chosen.unfinished_fallback {
        eprintln!(
            "c1z: no finished sync in {}; counting the most recent (unfinished) sync {}",
            file.display(),
            chosen.run.id
        );
    }
    let (stats, _cached) = sync_stats(store, &chosen.run, counting != Counting::Stored)?;
    let mut run = chosen.run.clone();
    if counting == Counting::Recalculate {
        if run.ended_at.is_none() {
            c1.discard();
            anyhow::bail!(
                "sync {} has not finished: baton stores stats only for finished syncs",
                run.id
            );
        }
        run.stats = Some(stats.to_json());
        let stored = c1z::Writer::put_sync_run(store, &run);
        if let Err(e) = stored {
            c1.discard();
            return Err(e.into());
        }
        c1.close()
            .with_context(|| format!("cannot save {}", file.display()))?;
        crate::progress::note(format_args!(
            "stored the recounted stats of sync {} in {}",
            run.id,
            file.display()
        ));
    }
    let chosen = c1z::inspect::ChosenSync { run, ..chosen };
    if format == Some(Format::Json) {
        // baton's `stats -o json`: the sync run with its stats, as protobuf JSON.
        let message = sync_run_message(&chosen.run, Some(&stats));
        output::json(&c1z::json::message_json("c1.reader.v2.SyncRun", &message)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let counts = counts_of(&chosen.run, &stats);
    if json {
        output::json(&counts)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = output::Table::new();
    let state = if counts.finished {
        "finished"
    } else {
        "unfinished"
    };
    out.row(
        "sync",
        format!("{} ({}, {state})", counts.sync_id, counts.sync_type),
    );
    out.row("resource types", counts.resource_types);
    out.row("resources", counts.resources);
    for (rt, n) in &counts.resources_by_resource_type {
        out.row(&format!("  {rt}"), n);
    }
    out.row("entitlements", counts.entitlements);
    for (rt, n) in &counts.entitlements_by_resource_type {
        out.row(&format!("  {rt}"), n);
    }
    out.row("grants", counts.grants);
    for (rt, n) in &counts.grants_by_resource_type {
        out.row(&format!("  {rt}"), n);
    }
    out.row("assets", counts.assets);
    out.print()?;
    Ok(ExitCode::SUCCESS)
}
