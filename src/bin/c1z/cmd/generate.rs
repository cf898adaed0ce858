//! `c1z generate OUT [--seed N] [--users N] ...`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use c1z::synth::{SynthSpec, generate};

pub(crate) fn run(out: &Path, spec: &SynthSpec) -> anyhow::Result<ExitCode> {
    if out.exists() {
        bail!("{} already exists; refusing to overwrite it", out.display());
    }
    let file =
        c1z::C1zFile::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let run = generate(file.store(), spec)?;
    file.close()
        .with_context(|| format!("cannot save {}", out.display()))?;
    eprintln!("c1z: wrote sync {} to {}", run.id, out.display());
    Ok(ExitCode::SUCCESS)
}
