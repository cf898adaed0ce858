//! c1z reads, writes and analyses `.c1z` connector snapshot files, the format in which
//! ConductorOne's baton-sdk connectors record syncs of external systems: resource types,
//! resources, entitlements, grants and assets, per sync run.
//!
//! # Architecture
//!
//! - [`format`](mod@format): the bytes of the envelopes (v1 = `C1ZF\0` + zstd(SQLite); v3 = `C1Z3\0` +
//!   manifest + payload).
//! - [`store`]: the [`Reader`]/[`Writer`] traits every engine implements, and
//!   [`ReaderExt`] (sync resolution, streaming) written once on top.
//! - [`engine`]: the engines. [`engine::sqlite`] keeps baton's v1 schema to the letter.
//! - [`sync`]: the sync-run lifecycle ([`WriterExt`], [`sync::SyncWriter`]), stats and
//!   cleanup, generic over the traits.
//! - [`listing`]: the rows of baton's `-o json` listings, built one at a time over any
//!   [`Reader`] (what the `c1z` listings print).
//! - [`grpc`]: a read-only gRPC server over one open file (`c1z serve`): baton's reader
//!   services on tokio, the only async code; every store call runs on the blocking pool.
//! - [`C1zFile`]: opening a file into a private working copy (in memory or a temp directory)
//!   and saving it atomically; each engine opens and saves its own files.
//!
//! # Example
//!
//! ```
//! use c1z::{C1zFile, ReaderExt, WriterExt, SyncType};
//! use c1z::pb::c1::connector::v2::ResourceType;
//!
//! let dir = tempfile::tempdir().expect("a temp dir");
//! let path = dir.path().join("example.c1z");
//! let file = C1zFile::create(&path)?;
//! let sync = file.store().start_sync(SyncType::Full, None)?;
//! sync.put_resource_types(&[ResourceType { id: "user".into(), ..Default::default() }])?;
//! let run = sync.finish()?;
//! file.close()?;
//!
//! let file = C1zFile::open_read_only(&path)?;
//! let latest = file.store().latest_finished_sync(None)?.expect("one finished sync");
//! assert_eq!(latest.id, run.id);
//! # Ok::<(), c1z::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(rustdoc::broken_intra_doc_links, rustdoc::bare_urls)]

pub mod access;
pub mod codec;
pub mod compact;
pub mod consistency;
pub mod convert;
pub mod diff;
pub mod digest;
pub mod engine;
mod error;
pub mod expand;
mod file;
pub mod format;
pub mod grpc;
pub mod inspect;
pub mod json;
pub mod listing;
mod lock;
mod model;
pub mod pb;
pub mod store;
pub mod sync;
pub mod synth;

pub use engine::pebble::PebbleOptions;
pub use engine::rocks::RocksOptions;
pub use engine::sqlite::SqliteOptions;
pub use error::{BoxError, Error, Result};
pub use file::{C1zFile, FileMetadata, OpenOptions, write_atomically};
pub use model::{
    Asset, EntitlementRecord, GrantRecord, IngestInvariant, Record, ResourceKey, ResourceRecord,
    ResourceTypeRecord, SyncId, SyncRun, SyncType, wall,
};
pub use store::{
    AnyStore, AssetQuery, DerivedEntitlement, DerivedGrant, EncodedGrant, EntitlementKey,
    EntitlementQuery, GrantBulkLoad, GrantQuery, GrantUpsertMode, Page, PageRequest, Reader,
    ReaderExt, ResourceQuery, ResourceTypeQuery, StoreMetadata, StoredGrant, SyncScope,
    SyncSelector, Writer,
};
pub use sync::WriterExt;

/// The store traits, for `use c1z::prelude::*;`.
pub mod prelude {
    pub use crate::store::{Reader, ReaderExt, Writer};
    pub use crate::sync::WriterExt;
}
