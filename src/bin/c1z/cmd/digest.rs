//! `c1z digest FILE [--sync-id ID] [-e ENT | --entitlements] [--json]`: content digests.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use c1z::Reader;
use c1z::digest::{digest_sync, entitlement_digest_of};

use super::list;
use crate::output;

pub(crate) fn run(
    file: &Path,
    sync_id: Option<&str>,
    entitlement: Option<&str>,
    entitlements: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let target = list::open(file, sync_id)?;
    let Some(sync) = target.sync.clone() else {
        bail!(
            "{} has no sync to digest; `c1z syncs {}` lists them",
            file.display(),
            file.display()
        );
    };
    let store = target.store();
    if let Some(ent) = entitlement {
        let d = entitlement_digest_of(store, &sync, ent)?;
        if d.grants == 0 && store.entitlement(&target.selector(), ent)?.is_none() {
            eprintln!("c1z: no entitlement {ent} in sync {sync}");
            return Ok(ExitCode::from(1));
        }
        if json {
            output::json(&serde_json::json!({
                "sync_id": sync.as_str(),
                "entitlement": ent,
                "grants": d.grants,
                "digest": d.digest,
            }))?;
        } else {
            println!("{}  {ent}  {} grants", d.digest, d.grants);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let bar = crate::progress::spinner(format!("digesting sync {sync}"));
    let digest = digest_sync(store, &sync);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut digest = digest?;
    if !entitlements {
        digest.entitlements.clear();
    }
    if json {
        let mut v = serde_json::to_value(&digest)?;
        if !entitlements && let Some(o) = v.as_object_mut() {
            o.remove("entitlements");
        }
        output::json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}  sync {sync}", digest.digest);
    for k in &digest.kinds {
        println!(
            "{}  {}s: {}",
            k.digest,
            k.kind.name().replace('_', " "),
            k.count
        );
    }
    for (id, d) in &digest.entitlements {
        println!("{}  {id}  {} grants", d.digest, d.grants);
    }
    Ok(ExitCode::SUCCESS)
}
