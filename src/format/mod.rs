//! Byte-level file formats.
//!
//! # v1 (`C1ZF\0`, engine `sqlite`)
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 5 | magic `43 31 5A 46 00` |
//! | 5 | rest | zstd stream (one frame when c1z or baton writes it) of a SQLite main database file |
//!
//! c1z writes one frame with Frame_Content_Size and a content checksum, window ≤ 128 MiB
//! (baton's decoder limit). Readers accept frames with or without FCS, single-segment or
//! not, and several concatenated or skippable frames. Decoding refuses a declared content
//! size over the decoded-size limit before decompressing anything, a window over the window
//! limit, and stops as soon as the decoded size passes the limit.
//!
//! # v3 (`C1Z3\0`)
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 5 | magic `43 31 5A 33 00` |
//! | 5 | 4 | manifest length N, big-endian u32, at most 16 MiB |
//! | 9 | N | `c1.c1z.v3.C1ZManifestV3` (engine name, payload encoding, sync summaries, ...) |
//! | 9 + N | rest | payload in the manifest's encoding (tar, tar + zstd, or indexed zstd frames) |
//!
//! baton writes v3 files with its Pebble engine (`pebble`, `pebble2`, `pebble3`); their
//! payload is a Pebble database that this build cannot read. c1z recognizes them, reports
//! and verifies their manifest and frames, and refuses to open their data with
//! [`crate::Error::EngineNotSupported`]. c1z's own v3 files name the engine `rocksdb`
//! (format version in `engine_schema_version`) and carry a RocksDB checkpoint as tar +
//! zstd (default) or tar, with normalized tar headers.
//!
//! # Version changes
//!
//! - v1: unchanged since baton's first release; the SQLite schema inside evolved (see
//!   [`crate::engine::sqlite`]) and is migrated on open.
//! - v3: introduced by baton-sdk for its Pebble engine. c1z 0.1 adds engine `rocksdb`,
//!   format version 1 (`engine_schema_version` 1), documented byte by byte in
//!   `docs/format-rocksdb.md` with its own version history. The layouts of pre-release
//!   builds (their keyspaces 1 to 4) are not read.

pub mod v1;
pub mod v3;
pub mod v3_payload;

use std::io::Read;

use crate::error::{Error, Result};

/// Magic of v1 files.
pub const V1_MAGIC: [u8; 5] = *b"C1ZF\0";
/// Magic of v3 files.
pub const V3_MAGIC: [u8; 5] = *b"C1Z3\0";

/// The envelope format of a c1z file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `C1ZF\0` + zstd(SQLite).
    V1,
    /// `C1Z3\0` + manifest + payload.
    V3,
}

impl Format {
    /// `"v1"` or `"v3"`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Format::V1 => "v1",
            Format::V3 => "v3",
        }
    }
}

/// Tells the format from the first bytes of a file. `Ok(None)` for an empty file (which
/// opens as a new, empty store, as in baton).
///
/// # Errors
/// [`Error::UnsupportedFormat`] for 1–4 bytes or an unknown magic.
pub fn sniff(prefix: &[u8]) -> Result<Option<Format>> {
    match prefix.get(..5) {
        None if prefix.is_empty() => Ok(None),
        None => Err(Error::UnsupportedFormat {
            reason: format!("file too short for a c1z header ({} bytes)", prefix.len()),
        }),
        Some(m) if m == V1_MAGIC => Ok(Some(Format::V1)),
        Some(m) if m == V3_MAGIC => Ok(Some(Format::V3)),
        Some(m) => Err(Error::UnsupportedFormat {
            reason: format!("not a c1z file (magic {})", hex(m)),
        }),
    }
}

/// Reads the first bytes of `path` and sniffs its format.
///
/// # Errors
/// I/O errors and those of [`sniff`].
pub fn sniff_file(path: &std::path::Path) -> Result<Option<Format>> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::with_capacity(5);
    f.by_ref()
        .take(5)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    sniff(&buf)
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
