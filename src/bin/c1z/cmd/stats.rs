//! `c1z stats FILE [--sync-id ID] [-o table|json] [--json] [--recount]`: the stats stored
//! with the sync (what baton prints), counted from the rows where there are none.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use c1z::SyncId;
use c1z::inspect::{choose_sync, counts_of, sync_run_message, sync_stats};

use crate::args::Format;
use crate::output;

pub(crate) fn run(
    file: &Path,
    sync_id: Option<&str>,
    format: Option<Format>,
    json: bool,
    recount: bool,
) -> anyhow::Result<ExitCode> {
    let c1 = crate::progress::opening(file, || c1z::C1zFile::open_read_only(file))
        .with_context(|| format!("cannot open {}", file.display()))?;
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
    let (stats, _cached) = sync_stats(store, &chosen.run, recount)?;
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
