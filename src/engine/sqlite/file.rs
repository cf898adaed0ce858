//! A v1 file's working copy: decoding a `.c1z` into a SQLite store (in memory up to the
//! memory limit, else in the work directory) and saving the store as a `.c1z`.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::{DatabaseImage, SqliteStore};
use crate::engine::OpenContext;
use crate::error::{Error, Result};
use crate::file::FileMetadata;
use crate::format::{Format, v1};

/// Default [`SqliteOptions::with_memory_limit`]: 32 MiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 32 << 20;

/// How the SQLite engine works on a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqliteOptions {
    memory_limit: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            memory_limit: DEFAULT_MEMORY_LIMIT,
        }
    }
}

impl SqliteOptions {
    /// The defaults.
    #[must_use]
    pub fn new() -> Self {
        SqliteOptions::default()
    }

    /// Largest database kept in memory (default [`DEFAULT_MEMORY_LIMIT`]). A v1 file that
    /// decodes to at most this many bytes, or a new one, is worked on in memory: no temp
    /// file, no file I/O until it is saved. A database that grows past the limit moves to
    /// the private temp directory before the next write. 0 keeps every database on disk.
    #[must_use]
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// See [`SqliteOptions::with_memory_limit`].
    #[must_use]
    pub fn memory_limit(&self) -> u64 {
        self.memory_limit
    }
}

impl SqliteStore {
    /// A new, empty store for a file that does not exist yet.
    pub(crate) fn create_file(ctx: &OpenContext<'_>, opts: &SqliteOptions) -> Result<Self> {
        let db = ctx.work_dir.join("db");
        let store = match opts.memory_limit {
            0 => SqliteStore::open(&db, ctx.read_only)?,
            limit => SqliteStore::open_in_memory(Vec::new(), &db, ctx.read_only, limit)?,
        };
        Ok(store.saving_with(ctx))
    }

    /// Decodes the v1 file at `path` into a working copy and opens it.
    pub(crate) fn open_file(
        path: &Path,
        ctx: &OpenContext<'_>,
        opts: &SqliteOptions,
    ) -> Result<Self> {
        let db = ctx.work_dir.join("db");
        let limit = opts.memory_limit;
        let declared = match limit {
            0 => None,
            _ => v1::declared_size(path)?,
        };
        // No memory allowed, or declared too large for it: straight to the file.
        let store = if limit == 0 || declared.is_some_and(|size| size > limit) {
            v1::decode(path, &db, ctx.limits)?;
            SqliteStore::open(&db, ctx.read_only)?
        } else {
            let mut decoded = SpillWriter::new(&db, limit, declared.unwrap_or(0));
            v1::decode_to(path, &mut decoded, &db, ctx.limits)?;
            match decoded.finish().map_err(|e| Error::io(&db, e))? {
                Some(image) => SqliteStore::open_in_memory(image, &db, ctx.read_only, limit)?,
                None => SqliteStore::open(&db, ctx.read_only)?,
            }
        };
        Ok(store.saving_with(ctx))
    }

    fn saving_with(mut self, ctx: &OpenContext<'_>) -> Self {
        self.encode = ctx.encode;
        self
    }

    /// What `c1z info` reports about the file this store saves.
    pub(crate) fn file_metadata(&self) -> FileMetadata {
        FileMetadata {
            format: Format::V1,
            engine: super::ENGINE.to_owned(),
            payload_encoding: String::new(),
        }
    }

    /// Writes the database as a v1 file at `out`, atomically.
    pub(crate) fn save_to(&self, out: &Path) -> Result<()> {
        self.with_image(|image| {
            crate::write_atomically(out, |w| match image {
                DatabaseImage::File(db) => v1::encode(db, w, self.encode),
                DatabaseImage::Memory(bytes) => v1::encode_bytes(bytes, w, self.encode),
            })
        })
    }
}

/// Collects a decoded database in memory while it fits in `limit` bytes, else writes it
/// to `path` (for files that do not declare their decoded size).
struct SpillWriter<'a> {
    path: &'a Path,
    limit: u64,
    image: Vec<u8>,
    file: Option<File>,
}

impl<'a> SpillWriter<'a> {
    /// `expected`: the declared size (0 if unknown), reserved up front when it fits.
    fn new(path: &'a Path, limit: u64, expected: u64) -> Self {
        let reserve = usize::try_from(expected.min(limit)).unwrap_or(0);
        SpillWriter {
            path,
            limit,
            image: Vec::with_capacity(reserve),
            file: None,
        }
    }

    /// The image if it stayed in memory (an empty one: a new database), `None` if it went
    /// to the file.
    fn finish(self) -> std::io::Result<Option<Vec<u8>>> {
        match self.file {
            Some(mut f) => {
                f.flush()?;
                Ok(None)
            }
            None => Ok(Some(self.image)),
        }
    }

    fn spill(&mut self) -> std::io::Result<&mut File> {
        let mut f = File::create(self.path)?;
        f.write_all(&self.image)?;
        self.image = Vec::new();
        Ok(self.file.insert(f))
    }
}

impl Write for SpillWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = &mut self.file {
            return f.write(data);
        }
        if (self.image.len() + data.len()) as u64 > self.limit {
            self.spill()?.write_all(data)?;
        } else {
            self.image.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}
