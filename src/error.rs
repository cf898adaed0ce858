//! The crate's one public error type.

use std::path::PathBuf;

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Boxed error source carried by [`Error::Engine`] and [`Error::Corrupt`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in c1z. Messages are lowercase and meant for people.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The requested object, sync run or asset does not exist.
    #[error("{what} not found: '{id}'")]
    NotFound {
        /// Kind of thing looked up ("sync run", "grant", ...).
        what: &'static str,
        /// Its identifier.
        id: String,
    },
    /// An object with this identity already exists where a new one was required.
    #[error("{what} already exists: '{id}'")]
    AlreadyExists {
        /// Kind of thing.
        what: &'static str,
        /// Its identifier.
        id: String,
    },
    /// The file is not a c1z file, or it is one of a format or engine this build cannot read.
    #[error("unsupported format: {reason}")]
    UnsupportedFormat {
        /// What was found.
        reason: String,
    },
    /// The file names a storage engine this build cannot open (for example baton's Pebble).
    #[error("engine not supported: '{engine}' ({detail})")]
    EngineNotSupported {
        /// The engine name found in the file.
        engine: String,
        /// Why it cannot be opened.
        detail: String,
    },
    /// The file is damaged: bad compression, truncated, or a payload that is not a database.
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// The part of the file that is damaged.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A configured limit was exceeded (decoded size, window size, manifest size, ...).
    #[error("{what} exceeds the limit: {actual} > {limit}")]
    LimitExceeded {
        /// The limited quantity.
        what: &'static str,
        /// The value found (a lower bound when decoding stopped early).
        actual: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The operation does not fit the state of a sync run (ended, wrong type, not open, ...).
    #[error("sync run {sync_id}: {reason}")]
    InvalidSyncState {
        /// The sync run concerned (empty when none was found).
        sync_id: String,
        /// What is wrong.
        reason: String,
    },
    /// Grant expansion cannot proceed: an edge's source entitlement is not on the grant's
    /// principal, or the graph is inconsistent.
    #[error("invalid expansion edge on grant '{grant_id}': {reason}")]
    InvalidExpansion {
        /// The edge-defining grant (empty if the problem is not one grant's).
        grant_id: String,
        /// What is wrong.
        reason: String,
    },
    /// A caller-supplied argument is invalid (page token, sync type, parent, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The store was opened read-only and the operation would modify it.
    #[error("the store is read-only: cannot {operation}")]
    ReadOnly {
        /// The refused operation.
        operation: &'static str,
    },
    /// Another writer holds the file's advisory lock: another process (or another
    /// writable open in this one) has it open for writing.
    #[error(
        "{} is locked by another process writing it (lock file {}); wait for it to finish, \
         or open the file read-only",
        path.display(),
        lock.display()
    )]
    Locked {
        /// The file.
        path: PathBuf,
        /// The lock file beside it.
        lock: PathBuf,
    },
    /// The engine does not implement this operation.
    #[error("{engine} engine does not support {operation}")]
    Unsupported {
        /// Engine name.
        engine: &'static str,
        /// The operation.
        operation: &'static str,
    },
    /// A storage-engine error with no more specific meaning.
    #[error("{engine} error")]
    Engine {
        /// Engine name.
        engine: &'static str,
        /// The engine's own error.
        #[source]
        source: BoxError,
    },
    /// A protobuf message in the store could not be decoded.
    #[error("cannot decode {what}")]
    Decode {
        /// The message kind.
        what: &'static str,
        /// The decoder's error.
        #[source]
        source: prost::DecodeError,
    },
    /// An I/O error on a named path.
    #[error("i/o error on {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            what,
            reason: reason.into(),
            source: None,
        }
    }

    pub(crate) fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Error::NotFound {
            what,
            id: id.into(),
        }
    }

    pub(crate) fn sync_state(sync_id: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidSyncState {
            sync_id: sync_id.into(),
            reason: reason.into(),
        }
    }

    /// True for [`Error::NotFound`].
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}
