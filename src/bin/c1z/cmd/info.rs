//! `c1z info FILE [--json]`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::output;

pub(crate) fn run(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let info =
        c1z::inspect::inspect(file).with_context(|| format!("cannot read {}", file.display()))?;
    if json {
        output::json(&info)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = output::Table::new();
    out.row("file", file.display());
    out.row("format", info.format);
    out.row("engine", &info.engine);
    if !info.payload_encoding.is_empty() {
        out.row("payload encoding", &info.payload_encoding);
    }
    out.row("size", format!("{} bytes", info.file_size));
    if let Some(v) = info.engine_schema_version {
        out.row("engine schema version", v);
    }
    if let Some(n) = info.manifest_len {
        out.row("manifest", format!("{n} bytes"));
    }
    out.row("sync runs", info.sync_runs.len());
    out.print()?;
    if !info.sync_runs.is_empty() {
        let rows = info.sync_runs.iter().map(|s| {
            vec![
                s.id.clone(),
                s.sync_type.clone(),
                s.started_at.clone(),
                s.ended_at.clone().unwrap_or_else(|| "(unfinished)".into()),
                s.parent_sync_id.clone(),
            ]
        });
        output::columns(&["SYNC ID", "TYPE", "STARTED", "ENDED", "PARENT"], rows)?;
    }
    if let Some(frames) = &info.frames {
        let rows = frames.iter().map(|f| {
            vec![
                f.name.clone(),
                f.offset.to_string(),
                f.compressed_size.to_string(),
                f.raw_size.to_string(),
            ]
        });
        output::columns(&["FRAME", "OFFSET", "COMPRESSED", "RAW"], rows)?;
    }
    Ok(ExitCode::SUCCESS)
}
