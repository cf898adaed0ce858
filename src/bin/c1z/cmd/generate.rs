//! `c1z generate OUT [--seed N] [--users N] ... [--shape NAME] [--engine E]`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use c1z::engine::EngineKind;
use c1z::synth::{Shape, SynthSpec, generate, generate_shape};

pub(crate) fn run(
    out: &Path,
    spec: &SynthSpec,
    shape: Option<&str>,
    engine: &str,
) -> anyhow::Result<ExitCode> {
    if out.exists() {
        bail!("{} already exists; refusing to overwrite it", out.display());
    }
    let engine: EngineKind = engine.parse()?;
    let file = c1z::OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    let run = match shape {
        Some(name) => {
            let shape = Shape::named(name).ok_or_else(|| anyhow!("unknown shape '{name}'"))?;
            generate_shape(file.store(), shape, spec.seed)?
        }
        None => generate(file.store(), spec)?,
    };
    file.close()
        .with_context(|| format!("cannot save {}", out.display()))?;
    eprintln!("c1z: wrote sync {} to {}", run.id, out.display());
    Ok(ExitCode::SUCCESS)
}
