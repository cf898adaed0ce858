//! Printing: JSON or aligned text, to stdout.

use std::fmt::Display;
use std::io::Write;

/// Prints `value` as pretty JSON.
pub(crate) fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Key/value lines with aligned values.
pub(crate) struct Table {
    rows: Vec<(String, String)>,
}

impl Table {
    pub(crate) fn new() -> Self {
        Table { rows: Vec::new() }
    }

    pub(crate) fn row(&mut self, key: &str, value: impl Display) {
        self.rows.push((key.to_owned(), value.to_string()));
    }

    pub(crate) fn print(&self) -> std::io::Result<()> {
        let width = self.rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = std::io::stdout().lock();
        for (k, v) in &self.rows {
            writeln!(out, "{k:<width$}  {v}")?;
        }
        Ok(())
    }
}

/// A table with a header row and left-aligned columns.
pub(crate) fn columns(
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = rows.collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(header.to_vec()).trim_end())?;
    for r in &rows {
        writeln!(
            out,
            "{}",
            line(r.iter().map(String::as_str).collect()).trim_end()
        )?;
    }
    Ok(())
}
