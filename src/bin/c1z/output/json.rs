//! `-o json` (baton's envelope, written incrementally) and `-o ndjson` (one row per line).

use std::io::Write;

use c1z::listing::Row;

use super::RowSink;

/// Rows are gathered into one buffer and written when it holds this much: few write calls,
/// and the first rows still go out at once (the buffer is flushed as soon as it fills).
const BATCH: usize = 32 << 10;

/// Appends one row as compact JSON (its objects' text as it is) to `buf`, and writes the
/// buffer out when it is full (a closed pipe surfaces as a plain `io::Error` that `main`
/// recognizes).
fn push_row(out: &mut impl Write, buf: &mut Vec<u8>, row: &Row) -> std::io::Result<()> {
    row.write_json(buf);
    if buf.len() >= BATCH {
        out.write_all(buf)?;
        buf.clear();
    }
    Ok(())
}

/// `{"KEY": [row, row, …]}` with one row per line. An empty listing prints `{}`, as baton's
/// protojson does for an envelope whose list is empty.
pub(super) struct JsonSink<W: Write> {
    out: W,
    key: &'static str,
    rows: u64,
    buf: Vec<u8>,
}

impl<W: Write> JsonSink<W> {
    pub(super) fn new(out: W, key: &'static str) -> Self {
        JsonSink {
            out,
            key,
            rows: 0,
            buf: Vec::new(),
        }
    }
}

impl<W: Write> RowSink for JsonSink<W> {
    fn row(&mut self, row: &Row) -> std::io::Result<()> {
        if self.rows == 0 {
            write!(self.buf, "{{\n  \"{}\": [\n    ", self.key)?;
        } else {
            self.buf.extend_from_slice(b",\n    ");
        }
        self.rows += 1;
        push_row(&mut self.out, &mut self.buf, row)
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        if self.rows == 0 {
            self.buf.extend_from_slice(b"{}\n");
        } else {
            self.buf.extend_from_slice(b"\n  ]\n}\n");
        }
        self.out.write_all(&self.buf)?;
        self.out.flush()
    }

    fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

/// One row per line, the same objects as inside the json envelope.
pub(super) struct NdjsonSink<W: Write> {
    out: W,
    rows: u64,
    buf: Vec<u8>,
}

impl<W: Write> NdjsonSink<W> {
    pub(super) fn new(out: W) -> Self {
        NdjsonSink {
            out,
            rows: 0,
            buf: Vec::new(),
        }
    }
}

impl<W: Write> RowSink for NdjsonSink<W> {
    fn row(&mut self, row: &Row) -> std::io::Result<()> {
        self.rows += 1;
        push_row(&mut self.out, &mut self.buf, row)?;
        self.buf.push(b'\n');
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.out.flush()
    }

    fn is_empty(&self) -> bool {
        self.rows == 0
    }
}
