//! `c1z generate OUT [--seed N] [--users N] ... [--shape NAME] [--engine E]`, or the
//! fixture mode `c1z generate OUT --resource-types N --resources N --entitlements N
//! --principals N --grants N [--expandable-fraction F]`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use c1z::engine::EngineKind;
use c1z::synth::{
    FixtureSpec, Shape, SynthSpec, generate, generate_fixture_with_progress, generate_shape,
};

/// What to generate.
pub(crate) enum What {
    /// An organisation of users, groups, roles and apps.
    Organisation(SynthSpec),
    /// A named expansion shape, with its seed.
    Shape(String, u64),
    /// A connector-shaped fixture of exact counts.
    Fixture(FixtureSpec),
}

pub(crate) fn run(out: &Path, what: What, engine: &str) -> anyhow::Result<ExitCode> {
    if out.exists() {
        bail!("{} already exists; refusing to overwrite it", out.display());
    }
    // A bad fixture spec is refused before the file is created.
    if let What::Fixture(spec) = &what {
        spec.validate()?;
    }
    let engine: EngineKind = engine.parse()?;
    let file = c1z::OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    let generated = match &what {
        What::Organisation(spec) => {
            let bar = crate::progress::spinner(format!("generating {}", out.display()));
            let run = generate(file.store(), spec);
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            run.map(|run| (run, None)).map_err(Into::into)
        }
        What::Shape(name, seed) => match Shape::named(name) {
            Some(shape) => generate_shape(file.store(), shape, *seed)
                .map(|run| (run, None))
                .map_err(Into::into),
            None => Err(anyhow!("unknown shape '{name}'")),
        },
        What::Fixture(spec) => {
            let bar = crate::progress::rows("generating", Some(spec.objects()));
            let report = generate_fixture_with_progress(file.store(), spec, &mut |n| {
                if let Some(bar) = &bar {
                    bar.set_position(n);
                }
            });
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            report
                .map(|r| {
                    let note = format!(
                        "{} objects, {} of {} group-membership grants nest a group ({} shallow)",
                        r.objects, r.expandable_grants, r.member_grants, r.shallow_grants
                    );
                    (r.run, Some(note))
                })
                .map_err(Into::into)
        }
    };
    let (run, note) = match generated {
        Ok(done) => done,
        Err(e) => {
            // Nothing is written on error.
            file.discard();
            return Err(e);
        }
    };
    let bar = crate::progress::spinner(format!("saving {}", out.display()));
    let saved = file.close();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    saved.with_context(|| format!("cannot save {}", out.display()))?;
    crate::progress::note(format_args!("wrote sync {} to {}", run.id, out.display()));
    if let Some(note) = note {
        crate::progress::note(format_args!("{note}"));
    }
    Ok(ExitCode::SUCCESS)
}
