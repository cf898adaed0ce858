//! Progress on a terminal: bars and spinners on stderr only when it is one, so piped and
//! scripted runs print nothing but their output and errors.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A spinner saying `message` while long work without a known size runs (`None` when
/// stderr is not a terminal).
pub(crate) fn spinner(message: String) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(style("{spinner} {msg} {elapsed}"));
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    })
}

/// A bar over `total` rows (a spinner counting them when the total is unknown).
pub(crate) fn rows(what: &str, total: Option<u64>) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = match total {
            Some(n) => {
                let bar = ProgressBar::new(n);
                bar.set_style(style(&format!(
                    "{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} rows, {{eta}} left"
                )));
                bar
            }
            None => {
                let bar = ProgressBar::new_spinner();
                bar.set_style(style(&format!(
                    "{{spinner}} {what} {{pos}} rows {{elapsed}}"
                )));
                bar
            }
        };
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    })
}

/// Runs `open` on `path` with a spinner while it decompresses (large files take seconds).
pub(crate) fn opening<T>(path: &Path, open: impl FnOnce() -> T) -> T {
    let bar = spinner(format!("opening {}", path.display()));
    let opened = open();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    opened
}

/// A note for the person at the terminal (summaries, defaults taken): printed only when
/// stderr is one.
pub(crate) fn note(message: std::fmt::Arguments<'_>) {
    if std::io::stderr().is_terminal() {
        eprintln!("c1z: {message}");
    }
}
