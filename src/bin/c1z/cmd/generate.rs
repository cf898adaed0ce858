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
    let generated = match shape {
        Some(name) => match Shape::named(name) {
            Some(shape) => generate_shape(file.store(), shape, spec.seed).map_err(Into::into),
            None => Err(anyhow!("unknown shape '{name}'")),
        },
        None => generate(file.store(), spec).map_err(Into::into),
    };
    let run = match generated {
        Ok(run) => run,
        Err(e) => {
            // Nothing is written on error.
            file.discard();
            return Err(e);
        }
    };
    file.close()
        .with_context(|| format!("cannot save {}", out.display()))?;
    crate::progress::note(format_args!("wrote sync {} to {}", run.id, out.display()));
    Ok(ExitCode::SUCCESS)
}
