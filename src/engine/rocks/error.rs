//! The RocksDB engine's private error, sorted into [`crate::Error`]'s semantic variants.
//!
//! Engine code converts `rocksdb::Error` at each call site with
//! `.map_err(RocksError::from)?`, so `rocksdb` stays out of the crate's API (a `From` impl
//! would be public).

use super::ENGINE;

/// An error of the RocksDB engine.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(super) struct RocksError(#[from] rocksdb::Error);

impl From<RocksError> for crate::Error {
    fn from(RocksError(e): RocksError) -> Self {
        match e.kind() {
            rocksdb::ErrorKind::Corruption => crate::Error::Corrupt {
                what: "rocksdb database",
                reason: "RocksDB reports corruption".into(),
                source: Some(Box::new(e)),
            },
            _ => crate::Error::Engine {
                engine: ENGINE,
                source: Box::new(e),
            },
        }
    }
}
