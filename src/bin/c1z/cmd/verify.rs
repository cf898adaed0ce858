//! `c1z verify FILE [--json]`: exit 0 when every hash holds, 1 naming the failing part.

use std::path::Path;
use std::process::ExitCode;

use crate::output;

pub(crate) fn run(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    match c1z::inspect::verify(file) {
        Ok(parts) => {
            if json {
                output::json(&serde_json::json!({ "ok": true, "checked": parts }))?;
            } else {
                for p in &parts {
                    println!("ok  {}  ({})", p.part, p.checks);
                }
                println!("{}: all {} parts verified", file.display(), parts.len());
            }
            Ok(ExitCode::SUCCESS)
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
