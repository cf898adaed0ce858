//! The SQLite engine's private error, sorted into [`crate::Error`]'s semantic variants.
//!
//! `rusqlite::Error` is not converted into [`crate::Error`] by a `From` impl (trait impls
//! are public, and would make `rusqlite` part of the crate's API): engine code converts
//! at each call site with `.map_err(SqliteError::from)?`.

use rusqlite::ErrorCode;

use super::ENGINE;

/// An error of the SQLite engine.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(super) struct SqliteError(#[from] rusqlite::Error);

impl From<SqliteError> for crate::Error {
    fn from(SqliteError(e): SqliteError) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::ConstraintViolation) => crate::Error::AlreadyExists {
                what: "row",
                id: e.to_string(),
            },
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => crate::Error::Corrupt {
                what: "sqlite database",
                reason: "the payload is not a valid SQLite database".into(),
                source: Some(Box::new(e)),
            },
            _ => crate::Error::Engine {
                engine: ENGINE,
                source: Box::new(e),
            },
        }
    }
}
