//! `c1z syncs FILE [-o FORMAT]`: the sync runs, in creation order.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use c1z::Reader;
use c1z::listing::{Listing, sync_run_row};
use c1z::store::PagedIter;

use crate::args::Format;
use crate::output::{self, Column, text};

static COLUMNS: [Column; 5] = [
    Column {
        header: "SYNC ID",
        cell: |r| text(r.get("id")),
    },
    Column {
        header: "TYPE",
        cell: |r| text(r.get("syncType")),
    },
    Column {
        header: "STARTED",
        cell: |r| text(r.get("startedAt")),
    },
    Column {
        header: "ENDED",
        cell: |r| {
            let t = text(r.get("endedAt"));
            if t.is_empty() {
                "(unfinished)".into()
            } else {
                t
            }
        },
    },
    Column {
        header: "PARENT",
        cell: |r| text(r.get("parentSyncId")),
    },
];

pub(crate) fn run(file: &Path, format: Option<Format>) -> anyhow::Result<ExitCode> {
    let c1 = c1z::C1zFile::open_read_only(file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    let store = c1.store();
    let mut sink = output::rows(format, Listing::Syncs, &COLUMNS);
    for run in PagedIter::new(100, |p| store.list_sync_runs(p)) {
        sink.row(&sync_run_row(&run?))?;
    }
    sink.finish()?;
    Ok(ExitCode::SUCCESS)
}
