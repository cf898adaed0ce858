//! The SQLite engine: baton's v1 schema in a SQLite database (the payload of a v1 file).
//!
//! The store works on a private, decompressed copy of the database (see [`crate::file`]).
//! One connection serves every call, behind a mutex: SQLite connections are not `Sync`, and
//! baton also limits its pool to one connection.

mod reader;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::engine::WriteState;
use crate::error::{Error, Result};

/// Engine name written in metadata.
pub const ENGINE: &str = "sqlite";

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::ConstraintViolation) => Error::AlreadyExists {
                what: "row",
                id: e.to_string(),
            },
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Error::Corrupt {
                what: "sqlite database",
                reason: "the payload is not a valid SQLite database".into(),
                source: Some(Box::new(e)),
            },
            _ => Error::Engine {
                engine: ENGINE,
                source: Box::new(e),
            },
        }
    }
}

/// A v1 store on a SQLite database file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    state: WriteState,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("state", &self.state)
            .finish_non_exhaustive()
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
        let conn = Connection::open_with_flags(path, flags)?;
        // Journal and sync settings come first so the migrations below commit without
        // fsyncs. Leaving WAL mode (all older baton files) folds any WAL content back into
        // the main file.
        if read_only {
            conn.pragma_update_and_check(None, "journal_mode", "OFF", |_| Ok(()))?;
        } else {
            // baton uses TRUNCATE + NORMAL. This file is a private working copy that is
            // discarded after a crash (durability comes from the atomic save), so commits
            // need no fsync; the in-memory journal still rolls back a failed call. The
            // saved file's header is the same (rollback-journal mode, versions 1/1).
            conn.pragma_update_and_check(None, "journal_mode", "MEMORY", |_| Ok(()))?;
        }
        conn.pragma_update(None, "synchronous", "OFF")?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        // Index builds (after bulk grant writes) sort with a helper thread.
        conn.pragma_update(None, "threads", 2)?;
        if schema::init(&conn)? {
            conn.execute_batch("PRAGMA optimize")?;
        }

        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path: path.to_owned(),
            state: WriteState::new(read_only),
        })
    }

    /// Read-only flag and change tracking.
    #[must_use]
    pub fn state(&self) -> &WriteState {
        &self.state
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the database file complete on disk (no pending WAL content) and runs `f` while
    /// no other call can write, so `f` can copy the file.
    ///
    /// # Errors
    /// Engine errors, or `f`'s.
    pub fn with_quiesced_file<T>(&self, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
        let conn = self.conn();
        let (busy, log, done): (i64, i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        if busy != 0 || (log >= 0 && done < log) {
            return Err(Error::Engine {
                engine: ENGINE,
                source: format!(
                    "WAL checkpoint incomplete (busy {busy}, log {log}, checkpointed {done})"
                )
                .into(),
            });
        }
        f(&self.path)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn writable(&self, operation: &'static str) -> Result<MutexGuard<'_, Connection>> {
        self.state.check(operation)?;
        Ok(self.conn())
    }

    fn touched(&self) {
        self.state.touched();
    }
}
