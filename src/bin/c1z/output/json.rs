//! `-o json` (baton's envelope, written incrementally) and `-o ndjson` (one row per line).

use std::io::Write;

use c1z::listing::Row;

use super::RowSink;

/// One row as compact JSON into `buf` (serialized to memory first, so a closed pipe surfaces
/// as a plain `io::Error` that `main` recognizes).
fn encode(buf: &mut Vec<u8>, row: &Row) -> std::io::Result<()> {
    buf.clear();
    serde_json::to_writer(&mut *buf, row).map_err(std::io::Error::other)
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
        encode(&mut self.buf, row)?;
        if self.rows == 0 {
            write!(self.out, "{{\n  \"{}\": [\n    ", self.key)?;
        } else {
            self.out.write_all(b",\n    ")?;
        }
        self.out.write_all(&self.buf)?;
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        if self.rows == 0 {
            self.out.write_all(b"{}\n")?;
        } else {
            self.out.write_all(b"\n  ]\n}\n")?;
        }
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
        encode(&mut self.buf, row)?;
        self.buf.push(b'\n');
        self.out.write_all(&self.buf)?;
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        self.out.flush()
    }

    fn is_empty(&self) -> bool {
        self.rows == 0
    }
}
