//! `c1z expand IN [--sync-id ID] (-o OUT | --in-place) [--engine sqlite|rocksdb] [--json]`.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use c1z::engine::EngineKind;
use c1z::expand::{ExpandOptions, Progress, expand};
use c1z::inspect::choose_sync;
use c1z::{C1zFile, OpenOptions, SyncId};

use crate::output;

pub(crate) fn run(
    input: &Path,
    output_path: Option<&Path>,
    in_place: bool,
    sync_id: Option<&str>,
    engine: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(out) = output_path
        && out.exists()
    {
        bail!(
            "{} already exists; refusing to overwrite it (use --in-place to rewrite the input)",
            out.display()
        );
    }
    let start = Instant::now();
    let input_engine = c1z::inspect::inspect(input)
        .with_context(|| format!("cannot open {}", input.display()))?
        .engine;
    let pebble = c1z::format::v3::PEBBLE_ENGINES.contains(&input_engine.as_str());
    let wanted: Option<EngineKind> = match engine {
        Some(e) => Some(e.parse()?),
        // c1z does not write Pebble: its expansion goes to c1z's own v3 engine.
        None if pebble => Some(EngineKind::Rocks),
        None => None,
    };
    let file = match wanted.filter(|e| e.name() != input_engine) {
        None => {
            // A writable open works on a private copy; the input changes only with
            // --in-place.
            crate::progress::opening(input, || C1zFile::open(input))
                .with_context(|| format!("cannot open {}", input.display()))?
        }
        Some(kind) => {
            if in_place {
                bail!(
                    "--in-place keeps the input's engine ({input_engine}); write the {} \
                     expansion to a new file with -o OUT",
                    kind.name()
                );
            }
            let out = output_path.unwrap_or(input);
            if pebble {
                crate::progress::note(format_args!(
                    "{} is a baton Pebble file; writing the expansion as {} (choose with --engine)",
                    input.display(),
                    kind.name()
                ));
            }
            // The input's syncs copied into a new store of the chosen engine, then
            // expanded there.
            let src = crate::progress::opening(input, || C1zFile::open_read_only(input))
                .with_context(|| format!("cannot open {}", input.display()))?;
            let dst = OpenOptions::new()
                .with_create(true)
                .with_engine(kind)
                .open(out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let bar = crate::progress::rows("copying", super::convert::total_rows(src.store()));
            let copied = c1z::convert::copy_all_reporting(src.store(), dst.store(), &|n| {
                if let Some(bar) = &bar {
                    bar.set_position(n);
                }
            });
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            if let Err(e) = copied {
                dst.discard();
                return Err(
                    anyhow::Error::new(e).context(format!("cannot copy {}", input.display()))
                );
            }
            dst
        }
    };
    let opened = start.elapsed();
    let chosen = choose_sync(file.store(), sync_id.map(SyncId::from).as_ref())?;
    if chosen.unfinished_fallback {
        eprintln!(
            "c1z: no finished sync; expanding the most recent (unfinished) sync {}",
            chosen.run.id
        );
    }
    let mut opts = ExpandOptions::default();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} expanding [{bar:30}] {pos}/{len} entitlements, {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    if let Some(bar) = bar.clone() {
        opts.progress = Some(Arc::new(move |p: &Progress| {
            bar.set_length(p.destinations);
            bar.set_position(p.destinations_done);
            bar.set_message(format!(
                "{} grants added, layer {}/{}",
                p.grants_added, p.layers_done, p.layers
            ));
        }));
    }
    let report = match expand(file.store(), &chosen.run.id, &opts) {
        Ok(report) => report,
        Err(e) => {
            // The error says what happened; the partial expansion is dropped silently.
            file.discard();
            return Err(e.into());
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let save_start = Instant::now();
    let target = if in_place {
        file.close()
            .with_context(|| format!("cannot save {}", input.display()))?;
        input
    } else {
        let out = output_path.unwrap_or(input);
        let saved = file.save_as(out);
        // The input is left as it was: its working copy is not saved.
        file.discard();
        saved.with_context(|| format!("cannot save {}", out.display()))?;
        out
    };
    let saved = save_start.elapsed();
    if json {
        output::json(
            &serde_json::json!({ "sync_id": chosen.run.id.to_string(), "output": target, "report": report }),
        )?;
    }
    crate::progress::note(format_args!(
        "expanded sync {}: {} edges, {} nodes, {} cycles, {} grants added, {} updated in {:.3}s \
         (open {:.3}s, graph {:.3}s, evaluate {:.3}s, write {:.3}s, index {:.3}s, save {:.3}s) -> {}",
        chosen.run.id,
        report.edges,
        report.nodes,
        report.cycles,
        report.grants_added,
        report.grants_updated,
        start.elapsed().as_secs_f64(),
        opened.as_secs_f64(),
        report.graph_ms as f64 / 1e3,
        report.evaluate_ms as f64 / 1e3,
        report.write_ms as f64 / 1e3,
        report.index_ms as f64 / 1e3,
        saved.as_secs_f64(),
        target.display()
    ));
    Ok(ExitCode::SUCCESS)
}
