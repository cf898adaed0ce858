//! The SQLite engine: baton's v1 schema in a SQLite database (the payload of a v1 file).
//!
//! The store works on a private, decompressed copy of the database (see `file.rs`):
//! in memory while it is small (no file I/O until it is saved), else a temp file.
//! One connection serves every call, behind a mutex: SQLite connections are not `Sync`, and
//! baton also limits its pool to one connection.

mod error;
mod file;
mod reader;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OpenFlags};

use crate::engine::WriteState;
use crate::error::{Error, Result};
use error::SqliteError;
pub use file::{DEFAULT_MEMORY_LIMIT, SqliteOptions};

/// Engine name written in metadata.
pub const ENGINE: &str = "sqlite";

/// A v1 store on a SQLite database: in memory while it is small, else a file.
pub struct SqliteStore {
    conn: Mutex<Conn>,
    path: PathBuf,
    state: WriteState,
    /// The deferrable grant indexes are dropped (a bulk load, or a large connector
    /// write); [`SqliteStore::end_bulk_load`] rebuilds them, at the latest on save.
    bulk_active: std::sync::atomic::AtomicBool,
    /// A bulk grant load object lives (one at a time).
    bulk_live: std::sync::atomic::AtomicBool,
    /// Connector grants written since the indexes were last built.
    connector_grants: std::sync::atomic::AtomicU64,
    /// zstd settings of [`SqliteStore::save_to`].
    encode: crate::format::v1::EncodeOptions,
}

/// The connection, and whether its database still lives in memory.
struct Conn {
    db: Connection,
    /// Size above which an in-memory database moves to the file (`None`: on file).
    memory_limit: Option<u64>,
}

impl std::ops::Deref for Conn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.db
    }
}

/// The database's bytes, for saving: its file, or its in-memory image.
#[derive(Debug)]
pub enum DatabaseImage<'a> {
    /// The database file (complete: no pending WAL content).
    File(&'a Path),
    /// The in-memory database, serialized.
    Memory(&'a [u8]),
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Page cache of a writable working copy, KiB (`PRAGMA cache_size`; pages are allocated
/// as used).
const PAGE_CACHE_KIB: i64 = 32 << 10;

/// Journal, sync, locking, cache and sort-thread settings of a working copy.
fn configure(conn: &Connection, read_only: bool) -> Result<()> {
    // Journal and sync settings come first so migrations commit without fsyncs. Leaving
    // WAL mode (all older baton files) folds any WAL content back into the main file.
    if read_only {
        conn.pragma_update_and_check(None, "journal_mode", "OFF", |_| Ok(()))
            .map_err(SqliteError::from)?;
    } else {
        // baton uses TRUNCATE + NORMAL. This database is a private working copy that is
        // discarded after a crash (durability comes from the atomic save), so commits
        // need no fsync; the in-memory journal still rolls back a failed call. The
        // saved file's header is the same (rollback-journal mode, versions 1/1).
        conn.pragma_update_and_check(None, "journal_mode", "MEMORY", |_| Ok(()))
            .map_err(SqliteError::from)?;
    }
    conn.pragma_update(None, "synchronous", "OFF")
        .map_err(SqliteError::from)?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(SqliteError::from)?;
    // SQLite's default page cache is 2 MiB. A connector sync inserts into five grant
    // indexes in random key order, so with it nearly every insert re-read a page the last
    // commit had written out. Readers scan, and keep the default (and their memory).
    if !read_only {
        conn.pragma_update(None, "cache_size", -(PAGE_CACHE_KIB))
            .map_err(SqliteError::from)?;
    }
    // Index builds (after bulk grant writes) sort with a helper thread.
    conn.pragma_update(None, "threads", 2)
        .map_err(SqliteError::from)?;
    Ok(())
}

/// Header bytes 18 and 19 (file format write / read versions): 2 marks WAL mode, which an
/// in-memory database cannot open. The file has no WAL beside it, so 1 (rollback journal,
/// what the working copy switches to anyway) reads the same pages.
fn leave_wal_header(image: &mut [u8]) {
    if image.len() >= 100 && image.starts_with(b"SQLite format 3\0") {
        for b in &mut image[18..20] {
            if *b == 2 {
                *b = 1;
            }
        }
    }
}

impl SqliteStore {
    /// Opens (or creates, if the file is empty or missing) the database at `path`, creating
    /// missing tables and migrating old schemas as baton does. The file should be a private
    /// working copy: migrations always run on it, even for a read-only store.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the file is not a SQLite database; engine errors.
    pub fn open(path: &Path, read_only: bool) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let db = Connection::open_with_flags(path, flags).map_err(SqliteError::from)?;
        Self::ready(
            Conn {
                db,
                memory_limit: None,
            },
            path,
            read_only,
        )
    }

    /// Opens the database `image` (empty: a new database) in memory, migrated as by
    /// [`SqliteStore::open`]. Once it grows past `memory_limit` bytes it moves to a new
    /// file at `spill_path` (before the next write), so memory stays bounded.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_in_memory(
        mut image: Vec<u8>,
        spill_path: &Path,
        read_only: bool,
        memory_limit: u64,
    ) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut db = Connection::open_in_memory_with_flags(flags).map_err(SqliteError::from)?;
        if !image.is_empty() {
            leave_wal_header(&mut image);
            let len = image.len();
            // SQLite must own the buffer: one copy, then `image` is freed.
            db.deserialize_read_exact(rusqlite::MAIN_DB, image.as_slice(), len, false)
                .map_err(SqliteError::from)?;
            drop(image);
        }
        Self::ready(
            Conn {
                db,
                memory_limit: Some(memory_limit),
            },
            spill_path,
            read_only,
        )
    }

    fn ready(conn: Conn, path: &Path, read_only: bool) -> Result<Self> {
        configure(&conn, read_only)?;
        if schema::init(&conn)? {
            conn.execute_batch("PRAGMA optimize")
                .map_err(SqliteError::from)?;
        }
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path: path.to_owned(),
            state: WriteState::new(read_only),
            bulk_active: std::sync::atomic::AtomicBool::new(false),
            bulk_live: std::sync::atomic::AtomicBool::new(false),
            connector_grants: std::sync::atomic::AtomicU64::new(0),
            encode: crate::format::v1::EncodeOptions::default(),
        })
    }

    /// Read-only flag and change tracking.
    #[must_use]
    pub fn state(&self) -> &WriteState {
        &self.state
    }

    /// The database file (for an in-memory database: where it moves when it grows).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the database is still in memory.
    #[must_use]
    pub fn is_in_memory(&self) -> bool {
        self.conn().memory_limit.is_some()
    }

    /// Runs `f` on the complete database (its file with no pending WAL content, or its
    /// in-memory image) while no other call can write, so `f` can copy it.
    ///
    /// # Errors
    /// Engine errors, or `f`'s.
    pub fn with_image<T>(&self, f: impl FnOnce(DatabaseImage<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        if conn.memory_limit.is_some() {
            let image = conn
                .db
                .serialize(rusqlite::MAIN_DB)
                .map_err(SqliteError::from)?;
            return f(DatabaseImage::Memory(&image));
        }
        let (busy, log, done): (i64, i64, i64) = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(SqliteError::from)?;
        if busy != 0 || (log >= 0 && done < log) {
            return Err(Error::Engine {
                engine: ENGINE,
                source: format!(
                    "WAL checkpoint incomplete (busy {busy}, log {log}, checkpointed {done})"
                )
                .into(),
            });
        }
        f(DatabaseImage::File(&self.path))
    }

    /// Moves an in-memory database to its file if it has grown, or a write of about
    /// `incoming()` bytes would take it, past its limit. `incoming` runs only for an
    /// in-memory database: a database on disk pays nothing for the estimate.
    fn spill_if_large(&self, conn: &mut Conn, incoming: impl FnOnce() -> u64) -> Result<()> {
        let Some(limit) = conn.memory_limit else {
            return Ok(());
        };
        let size: i64 = conn
            .db
            .prepare_cached(
                "select page_count * page_size from pragma_page_count(), pragma_page_size()",
            )
            .map_err(SqliteError::from)?
            .query_row([], |r| r.get(0))
            .map_err(SqliteError::from)?;
        if u64::try_from(size).unwrap_or(0).saturating_add(incoming()) <= limit {
            return Ok(());
        }
        {
            let image = conn
                .db
                .serialize(rusqlite::MAIN_DB)
                .map_err(SqliteError::from)?;
            std::fs::write(&self.path, &*image).map_err(|e| Error::io(&self.path, e))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let db = Connection::open_with_flags(&self.path, flags).map_err(SqliteError::from)?;
        configure(&db, self.state.is_read_only())?;
        // The in-memory database (and its memory) goes with the old connection.
        conn.db = db;
        conn.memory_limit = None;
        Ok(())
    }

    fn conn(&self) -> MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn writable(&self, operation: &'static str) -> Result<MutexGuard<'_, Conn>> {
        self.writable_for(operation, || 0)
    }

    /// As `writable`, for a write of about `incoming()` bytes.
    fn writable_for(
        &self,
        operation: &'static str,
        incoming: impl FnOnce() -> u64,
    ) -> Result<MutexGuard<'_, Conn>> {
        self.state.check(operation)?;
        let mut conn = self.conn();
        self.spill_if_large(&mut conn, incoming)?;
        Ok(conn)
    }

    fn touched(&self) {
        self.state.touched();
    }
}
