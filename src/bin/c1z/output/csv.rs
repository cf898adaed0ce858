//! `-o csv`: a header row and the table's columns, RFC 4180 quoting, `\n` line ends (what
//! shell tools split on).

use std::io::Write;

use c1z::listing::Row;

use super::{Column, RowSink};

pub(super) struct CsvSink<W: Write> {
    out: W,
    columns: &'static [Column],
    rows: u64,
    line: String,
}

impl<W: Write> CsvSink<W> {
    pub(super) fn new(out: W, columns: &'static [Column]) -> Self {
        CsvSink {
            out,
            columns,
            rows: 0,
            line: String::new(),
        }
    }

    fn header(&mut self) -> std::io::Result<()> {
        let cells: Vec<String> = self.columns.iter().map(|c| c.header.to_owned()).collect();
        self.write_record(&cells)
    }

    fn write_record(&mut self, cells: &[String]) -> std::io::Result<()> {
        self.line.clear();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            push_field(&mut self.line, cell);
        }
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())
    }
}

/// A field, quoted when it holds a comma, a quote or a line break (quotes doubled).
fn push_field(line: &mut String, cell: &str) {
    if cell.contains([',', '"', '\n', '\r']) {
        line.push('"');
        line.push_str(&cell.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(cell);
    }
}

impl<W: Write> RowSink for CsvSink<W> {
    fn row(&mut self, row: &Row) -> std::io::Result<()> {
        if self.rows == 0 {
            self.header()?;
        }
        let cells: Vec<String> = self.columns.iter().map(|c| (c.cell)(row)).collect();
        self.write_record(&cells)?;
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        if self.rows == 0 {
            self.header()?;
        }
        self.out.flush()
    }

    fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_are_quoted_only_when_needed() {
        let mut line = String::new();
        for cell in ["plain", "a,b", "say \"hi\"", "two\nlines"] {
            super::push_field(&mut line, cell);
            line.push('|');
        }
        assert_eq!(line, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|");
    }
}
