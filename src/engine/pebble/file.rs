//! A baton Pebble file's working copy: the payload extracted into the work directory and
//! opened read-only. c1z does not write Pebble: a writable open is refused with the
//! command that converts the file.

use std::path::Path;

use super::PebbleDir;
use super::merge::{DEFAULT_BLOCK_CACHE, Db};
use super::store::PebbleStore;
use crate::engine::OpenContext;
use crate::error::{Error, Result};
use crate::file::FileMetadata;
use crate::format::{Format, v3, v3_payload};

/// How the Pebble reader works on a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PebbleOptions {
    block_cache: usize,
}

impl Default for PebbleOptions {
    fn default() -> Self {
        PebbleOptions {
            block_cache: DEFAULT_BLOCK_CACHE,
        }
    }
}

impl PebbleOptions {
    /// The defaults.
    #[must_use]
    pub fn new() -> Self {
        PebbleOptions::default()
    }

    /// Bytes of decoded data blocks kept in memory (default [`DEFAULT_BLOCK_CACHE`]): what
    /// bounds the reader's memory, whatever the file's size.
    #[must_use]
    pub fn with_block_cache(mut self, bytes: usize) -> Self {
        self.block_cache = bytes;
        self
    }
}

impl PebbleStore {
    /// Extracts the payload of the v3 file at `path` (whose manifest names a Pebble
    /// engine) and opens it read-only.
    pub(crate) fn open_file(
        path: &Path,
        header: &v3::Header,
        ctx: &OpenContext<'_>,
        opts: &PebbleOptions,
    ) -> Result<Self> {
        let engine = header.manifest.engine.as_str();
        if !ctx.read_only {
            return Err(Error::EngineNotSupported {
                engine: engine.to_owned(),
                detail: format!(
                    "c1z reads baton's Pebble files but does not write them: open {} \
                     read-only, or convert it first with `c1z convert {} OUT.c1z --engine \
                     sqlite|rocksdb`",
                    path.display(),
                    path.display()
                ),
            });
        }
        let db = ctx.work_dir.join("db");
        v3_payload::extract(path, header, &db, ctx.limits)?;
        let dir = PebbleDir::open(&db)?;
        let file = FileMetadata {
            format: Format::V3,
            engine: engine.to_owned(),
            payload_encoding: v3::payload_encoding_name(header.manifest.payload_encoding)
                .to_owned(),
        };
        PebbleStore::new(Db::open(dir, opts.block_cache)?, engine, file)
    }
}
