//! `-o table`: aligned columns, sized from the first rows so output still streams, fitted to
//! the terminal's width when stdout is one.

use std::io::{IsTerminal, Write};

use c1z::listing::Row;

use super::{Column, RowSink};

/// Rows held back to size the columns; later rows reuse those widths.
const SIZING_ROWS: usize = 200;

/// Two spaces between columns.
const GAP: usize = 2;

/// Columns never shrink below this many characters to fit a terminal.
const MIN_WIDTH: usize = 6;

/// The terminal's width when stdout is a terminal (`COLUMNS` first, as shells set it for
/// their children on resize), else `None`: piped tables keep every cell whole.
pub(crate) fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(n);
    }
    Some(ioctl_width().unwrap_or(80))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn ioctl_width() -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ on stdout only writes a `winsize` into the struct passed, which
    // lives for the call; failure (not a terminal) returns -1 and leaves it untouched.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &raw mut size) };
    (rc == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn ioctl_width() -> Option<usize> {
    None
}

pub(super) struct TableSink<W: Write> {
    out: W,
    columns: &'static [Column],
    fit: Option<usize>,
    held: Vec<Vec<String>>,
    widths: Option<Vec<usize>>,
    rows: u64,
    line: String,
}

impl<W: Write> TableSink<W> {
    pub(super) fn new(out: W, columns: &'static [Column], fit: Option<usize>) -> Self {
        TableSink {
            out,
            columns,
            fit,
            held: Vec::new(),
            widths: None,
            rows: 0,
            line: String::new(),
        }
    }

    /// Sizes the columns from the header and the held rows, prints both.
    fn start(&mut self) -> std::io::Result<()> {
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.header.len()).collect();
        for row in &self.held {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        if let Some(limit) = self.fit {
            fit(&mut widths, limit);
        }
        self.widths = Some(widths);
        let header: Vec<String> = self.columns.iter().map(|c| c.header.to_owned()).collect();
        self.print(&header)?;
        for row in std::mem::take(&mut self.held) {
            self.print(&row)?;
        }
        Ok(())
    }

    fn print(&mut self, cells: &[String]) -> std::io::Result<()> {
        let Some(widths) = &self.widths else {
            return Ok(());
        };
        self.line.clear();
        for (i, (cell, &w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                self.line.push_str(&" ".repeat(GAP));
            }
            let n = cell.chars().count();
            if self.fit.is_some() && n > w {
                // Cut to the column, marking the cut.
                self.line
                    .extend(cell.chars().take(w.saturating_sub(1)).chain(['…']));
            } else {
                self.line.push_str(cell);
                self.line.push_str(&" ".repeat(w.saturating_sub(n)));
            }
        }
        let end = self.line.trim_end().len();
        self.line.truncate(end);
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())
    }
}

/// Shrinks the widest columns until the line fits `limit` (never below [`MIN_WIDTH`]).
fn fit(widths: &mut [usize], limit: usize) {
    let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1);
    while total(widths) > limit {
        let Some(widest) = widths
            .iter_mut()
            .filter(|w| **w > MIN_WIDTH)
            .max_by_key(|w| **w)
        else {
            return;
        };
        *widest -= 1;
    }
}

/// A cell on one line: control characters (line breaks, tabs) become spaces.
fn one_line(cell: String) -> String {
    if cell.contains(char::is_control) {
        cell.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    } else {
        cell
    }
}

impl<W: Write> RowSink for TableSink<W> {
    fn row(&mut self, row: &Row) -> std::io::Result<()> {
        let cells: Vec<String> = self
            .columns
            .iter()
            .map(|c| one_line((c.cell)(row)))
            .collect();
        self.rows += 1;
        if self.widths.is_some() {
            return self.print(&cells);
        }
        self.held.push(cells);
        if self.held.len() >= SIZING_ROWS {
            self.start()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        if self.widths.is_none() {
            self.start()?;
        }
        self.out.flush()
    }

    fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fitting_shrinks_the_widest_columns_first() {
        let mut w = vec![10, 40, 8];
        fit(&mut w, 40);
        assert_eq!(w.iter().sum::<usize>() + 4, 40);
        assert_eq!(w, vec![10, 18, 8]);
        let mut tiny = vec![10, 10];
        fit(&mut tiny, 5);
        assert_eq!(tiny, vec![MIN_WIDTH, MIN_WIDTH]);
    }

    #[test]
    fn cells_are_cut_with_a_mark_only_when_fitting() {
        static COLS: [Column; 2] = [
            Column {
                header: "A",
                cell: |_| String::new(),
            },
            Column {
                header: "B",
                cell: |_| "b".into(),
            },
        ];
        let mut out = Vec::new();
        let mut t = TableSink::new(&mut out, &COLS, Some(12));
        t.widths = Some(vec![8, 1]);
        t.print(&["0123456789".into(), "b".into()]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "0123456…  b\n");
        let mut out = Vec::new();
        let mut t = TableSink::new(&mut out, &COLS, None);
        t.widths = Some(vec![8, 1]);
        t.print(&["0123456789".into(), "b".into()]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "0123456789  b\n");
    }
}
