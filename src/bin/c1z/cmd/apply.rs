//! `c1z apply BASE DIFF -o OUT [--base-sync ID] [--upserts-sync ID] [--engine …]`: base +
//! upserts − deletions, as a new full sync in a new file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use c1z::diff::{Side, apply_diff};
use c1z::engine::EngineKind;
use c1z::{OpenOptions, ReaderExt, SyncId, SyncRun};

use super::list;

/// What `c1z apply` is asked.
pub(crate) struct ApplyArgs<'a> {
    pub(crate) base: &'a Path,
    pub(crate) diff: &'a Path,
    pub(crate) output: &'a Path,
    pub(crate) base_sync: Option<&'a str>,
    pub(crate) upserts_sync: Option<&'a str>,
    pub(crate) engine: &'a str,
}

/// The diff pair to apply: the named `partial_upserts` sync, else the latest one whose
/// parent is the base sync; and its linked `partial_deletions` sync.
fn pair(
    diff: &c1z::AnyStore,
    path: &Path,
    base: &SyncId,
    named: Option<&str>,
) -> anyhow::Result<(SyncRun, SyncRun)> {
    let runs = diff.sync_runs()?;
    let upserts = match named {
        Some(id) => runs
            .iter()
            .find(|r| r.id.as_str() == id && r.sync_type == "partial_upserts")
            .with_context(|| format!("no partial_upserts sync {id} in {}; `c1z syncs {}` lists them", path.display(), path.display()))?,
        None => runs
            .iter()
            .rev()
            .find(|r| r.sync_type == "partial_upserts" && r.parent_sync_id.as_ref() == Some(base))
            .with_context(|| {
                format!(
                    "{} has no partial_upserts sync whose parent is {base}; name one with --upserts-sync (`c1z syncs {}` lists them)",
                    path.display(),
                    path.display()
                )
            })?,
    };
    let Some(linked) = &upserts.linked_sync_id else {
        bail!(
            "partial_upserts sync {} names no linked partial_deletions sync",
            upserts.id
        );
    };
    let deletions = runs
        .iter()
        .find(|r| r.id == *linked && r.sync_type == "partial_deletions")
        .with_context(|| {
            format!(
                "no partial_deletions sync {linked} (linked from {}) in {}",
                upserts.id,
                path.display()
            )
        })?;
    if upserts.parent_sync_id.as_ref() != Some(base) {
        crate::progress::note(format_args!(
            "the diff's parent is {}, not the base sync {base}; applying it anyway",
            upserts
                .parent_sync_id
                .as_ref()
                .map_or("(none)", SyncId::as_str)
        ));
    }
    Ok((upserts.clone(), deletions.clone()))
}

pub(crate) fn run(a: &ApplyArgs<'_>) -> anyhow::Result<ExitCode> {
    if a.output.exists() {
        bail!(
            "{} already exists; refusing to overwrite it",
            a.output.display()
        );
    }
    let base = list::open(a.base, a.base_sync)?;
    let Some(base_sync) = base.sync.clone() else {
        bail!(
            "{} has no sync to apply a diff to; `c1z syncs {}` lists them",
            a.base.display(),
            a.base.display()
        );
    };
    let diff = crate::progress::opening(a.diff, || c1z::C1zFile::open_read_only(a.diff))
        .with_context(|| format!("cannot open {}", a.diff.display()))?;
    let (upserts, deletions) = pair(diff.store(), a.diff, &base_sync, a.upserts_sync)?;
    let engine: EngineKind = a.engine.parse()?;
    let out = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(a.output)
        .with_context(|| format!("cannot create {}", a.output.display()))?;
    let applied = apply_diff(
        Side {
            store: base.store(),
            sync: &base_sync,
        },
        Side {
            store: diff.store(),
            sync: &upserts.id,
        },
        Side {
            store: diff.store(),
            sync: &deletions.id,
        },
        out.store(),
    );
    let applied = match applied {
        Ok(applied) => applied,
        Err(e) => {
            out.discard();
            return Err(e.into());
        }
    };
    out.close()
        .with_context(|| format!("cannot save {}", a.output.display()))?;
    crate::progress::note(format_args!(
        "applied {} (upserts {}, deletions {}) to sync {base_sync}: full sync {} with {} rows -> {}",
        a.diff.display(),
        upserts.id,
        deletions.id,
        applied.sync,
        applied.rows,
        a.output.display()
    ));
    Ok(ExitCode::SUCCESS)
}
