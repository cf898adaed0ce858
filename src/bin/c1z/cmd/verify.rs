//! `c1z verify FILE [--json] [--deep [--sync-id ID]]`: exit 0 when every hash holds (and,
//! with `--deep`, no reference of the sync dangles), 1 naming what failed.

use std::path::Path;
use std::process::ExitCode;

use crate::output;

/// `deep`: `Some(sync)` to check references too (`Some(None)`: the default sync).
pub(crate) fn run(file: &Path, json: bool, deep: Option<Option<&str>>) -> anyhow::Result<ExitCode> {
    match c1z::inspect::verify(file) {
        Ok(parts) => {
            let report = match deep {
                Some(sync_id) => {
                    let target = super::list::open(file, sync_id)?;
                    let Some(sync) = target.sync.clone() else {
                        anyhow::bail!(
                            "{} has no sync to check; `c1z syncs {}` lists them",
                            file.display(),
                            file.display()
                        );
                    };
                    Some(c1z::consistency::check_sync(target.store(), &sync)?)
                }
                None => None,
            };
            let consistent = report.as_ref().is_none_or(|r| r.is_consistent());
            if json {
                let mut v = serde_json::json!({ "ok": consistent, "checked": parts });
                if let Some(r) = &report {
                    v["references"] = serde_json::to_value(r)?;
                }
                output::json(&v)?;
            } else {
                for p in &parts {
                    println!("ok  {}  ({})", p.part, p.checks);
                }
                println!("{}: all {} parts verified", file.display(), parts.len());
                if let Some(r) = &report {
                    for (class, f) in &r.dangling {
                        println!(
                            "DANGLING  {}  {}  (e.g. {})",
                            class.name(),
                            f.count,
                            f.examples.join("; ")
                        );
                    }
                    println!(
                        "sync {}: {} objects, {}",
                        r.sync_id,
                        r.objects,
                        if consistent {
                            "every reference resolves".to_owned()
                        } else {
                            format!(
                                "{} dangling references",
                                r.dangling.values().map(|f| f.count).sum::<u64>()
                            )
                        }
                    );
                }
            }
            Ok(if consistent {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(err @ (c1z::Error::Corrupt { .. } | c1z::Error::LimitExceeded { .. })) => {
            if json {
                output::json(&serde_json::json!({ "ok": false, "error": err.to_string() }))?;
            }
            eprintln!("c1z: {}: verification failed: {err}", file.display());
            Ok(ExitCode::from(1))
        }
        Err(err) => {
            Err(anyhow::Error::new(err).context(format!("cannot verify {}", file.display())))
        }
    }
}
