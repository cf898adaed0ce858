//! `c1z assets FILE [--sync-id ID] [-o FORMAT]` and `c1z asset get FILE ID [-o OUT]`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use c1z::listing::{Listing, asset_row};
use c1z::{AssetQuery, Reader, ReaderExt};

use super::list;
use crate::args::ListArgs;
use crate::output::{self, Column, text};

static COLUMNS: [Column; 3] = [
    Column {
        header: "ASSET",
        cell: |r| text(r.get("id")),
    },
    Column {
        header: "CONTENT TYPE",
        cell: |r| text(r.get("contentType")),
    },
    Column {
        header: "SIZE",
        cell: |r| r.get("size").map(ToString::to_string).unwrap_or_default(),
    },
];

pub(crate) fn list(args: &ListArgs) -> anyhow::Result<ExitCode> {
    let target = list::open(&args.file, args.sync_id.as_deref())?;
    let mut sink = output::rows(args.output, Listing::Assets, &COLUMNS);
    let query = AssetQuery {
        sync: target.selector(),
    };
    for a in target.store().stream_assets(query) {
        sink.row(&asset_row(&a?))?;
    }
    list::finish(sink, &target, &args.file, &[])
}

/// Writes asset `id` to `out` (`None` or `-`: stdout, refused on a terminal).
pub(crate) fn get(
    file: &Path,
    id: &str,
    out: Option<&Path>,
    sync_id: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let to_stdout = out.is_none_or(|p| p == Path::new("-"));
    if to_stdout && std::io::stdout().is_terminal() {
        anyhow::bail!("not writing binary asset bytes to a terminal; add `-o FILE`");
    }
    let target = list::open(file, sync_id)?;
    let Some(asset) = target.store().asset(&target.selector(), id)? else {
        eprintln!(
            "c1z: no asset {id} in {}; `c1z assets {}` lists them",
            file.display(),
            file.display()
        );
        return Ok(ExitCode::from(1));
    };
    match out {
        Some(path) if !to_stdout => std::fs::write(path, &asset.data)
            .with_context(|| format!("cannot write {}", path.display()))?,
        _ => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&asset.data)?;
            stdout.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
