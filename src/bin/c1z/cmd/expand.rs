//! `c1z expand IN [--sync-id ID] (-o OUT | --in-place) [--json]`.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use c1z::expand::{ExpandOptions, Progress, expand};
use c1z::inspect::choose_sync;
use c1z::{C1zFile, SyncId};

use crate::output;

pub(crate) fn run(
    input: &Path,
    output_path: Option<&Path>,
    in_place: bool,
    sync_id: Option<&str>,
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
    // A writable open works on a private copy; the input changes only with --in-place.
    let file = C1zFile::open(input).with_context(|| format!("cannot open {}", input.display()))?;
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
    eprintln!(
        "c1z: expanded sync {}: {} edges, {} nodes, {} cycles, {} grants added, {} updated in {:.3}s \
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
    );
    Ok(ExitCode::SUCCESS)
}
