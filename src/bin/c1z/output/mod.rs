//! Printing: JSON or aligned text, to stdout; listings row by row in the format asked for
//! ([`rows`]).

mod csv;
mod json;
mod table;

use std::fmt::Display;
use std::io::Write;

use c1z::listing::{Listing, Row};

use crate::args::Format;

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

/// A column of a listing's table and CSV forms: a header and how a row's cell reads.
pub(crate) struct Column {
    pub(crate) header: &'static str,
    pub(crate) cell: fn(&Row) -> String,
}

/// Where a listing's rows go, one at a time. Nothing is written before the first row or
/// [`RowSink::finish`], so a listing that turns out to be a negative answer
/// ([`RowSink::abandon`]) leaves stdout empty.
pub(crate) trait RowSink {
    /// Writes one row (formats that size columns may hold the first few back).
    fn row(&mut self, row: &Row) -> std::io::Result<()>;
    /// Writes what the format still owes (an envelope's end, held rows) and flushes.
    fn finish(self: Box<Self>) -> std::io::Result<()>;
    /// Whether any row has been given.
    fn is_empty(&self) -> bool;
    /// Drops the listing; valid only while [`RowSink::is_empty`] (nothing written yet).
    fn abandon(self: Box<Self>) {}
}

/// The row writer for `format` on stdout (`None`: a table).
pub(crate) fn rows(
    format: Option<Format>,
    listing: Listing,
    columns: &'static [Column],
) -> Box<dyn RowSink> {
    let out = std::io::BufWriter::new(std::io::stdout());
    match format.unwrap_or(Format::Table) {
        Format::Table => Box::new(table::TableSink::new(out, columns, table::terminal_width())),
        Format::Json => Box::new(json::JsonSink::new(out, listing.envelope_key())),
        Format::Ndjson => Box::new(json::NdjsonSink::new(out)),
        Format::Csv => Box::new(csv::CsvSink::new(out, columns)),
    }
}

/// A cell from a JSON string field (`""` when absent).
pub(crate) fn text(v: Option<&serde_json::Value>) -> String {
    v.and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A cell from a `ResourceId` JSON object: `type:id`.
pub(crate) fn resource_id(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(id) => format!(
            "{}:{}",
            text(id.get("resourceType")),
            text(id.get("resource"))
        ),
        None => String::new(),
    }
}
