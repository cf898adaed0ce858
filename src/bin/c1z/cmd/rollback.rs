//! `c1z rollback-expansion FILE (-o OUT | --dry-run) [--sync-id ID]
//! [--preserve-suspect-grants] [--engine …] [--json]`: baton's rollback of expansion, on a
//! copy of the one sync.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use c1z::engine::EngineKind;
use c1z::expand::rollback::{
    RollbackOptions, RollbackReport, check_rollback, plan_rollback, rollback_expansion,
};
use c1z::{OpenOptions, Reader};

use super::list;

/// What `c1z rollback-expansion` is asked.
pub(crate) struct RollbackArgs<'a> {
    pub(crate) input: &'a Path,
    pub(crate) output: Option<&'a Path>,
    pub(crate) sync_id: Option<&'a str>,
    pub(crate) preserve_suspect: bool,
    pub(crate) dry_run: bool,
    pub(crate) json: bool,
    pub(crate) engine: Option<&'a str>,
}

fn print(report: &RollbackReport, json: bool, dry_run: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    println!(
        "{} grants: {verb} {} made by expansion ({} without GrantImmutable), cleared the sources of {}, kept {} untouched{}",
        report.grants,
        report.deleted,
        report.suspect_deleted,
        report.cleared,
        report.untouched,
        if report.suspect_kept > 0 {
            format!(", kept {} suspect", report.suspect_kept)
        } else {
            String::new()
        }
    );
    Ok(())
}

pub(crate) fn run(a: &RollbackArgs<'_>) -> anyhow::Result<ExitCode> {
    if let Some(out) = a.output.filter(|o| o.exists()) {
        bail!("{} already exists; refusing to overwrite it", out.display());
    }
    let src = list::open(a.input, a.sync_id)?;
    let Some(sync) = src.sync.clone() else {
        bail!(
            "{} has no sync to roll back; `c1z syncs {}` lists them",
            a.input.display(),
            a.input.display()
        );
    };
    let opts = RollbackOptions {
        preserve_suspect: a.preserve_suspect,
        dry_run: a.dry_run,
    };
    let Some(output) = a.output.filter(|_| !a.dry_run) else {
        let report = plan_rollback(src.store(), &sync, &opts)?;
        print(&report, a.json, true)?;
        return Ok(ExitCode::SUCCESS);
    };
    // Checked before anything is copied.
    let run = check_rollback(src.store(), &sync)?;
    let input_engine = src.store().engine();
    let engine: EngineKind = match a.engine {
        Some(name) => name.parse()?,
        None if input_engine.starts_with("pebble") => EngineKind::Rocks,
        None => input_engine.parse()?,
    };
    let dst = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let bar = crate::progress::spinner(format!("rolling back the expansion of sync {sync}"));
    let rolled = c1z::convert::copy_sync(src.store(), dst.store(), &run)
        .and_then(|_| rollback_expansion(dst.store(), &sync, &opts));
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = match rolled {
        Ok(report) => report,
        Err(e) => {
            dst.discard();
            return Err(e.into());
        }
    };
    dst.close()
        .with_context(|| format!("cannot save {}", output.display()))?;
    print(&report, a.json, false)?;
    crate::progress::note(format_args!(
        "sync {sync} without its expansion -> {} ({})",
        output.display(),
        engine.name()
    ));
    Ok(ExitCode::SUCCESS)
}
