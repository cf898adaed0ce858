//! [`AnyStore`]: one type over every engine, decided when a file is opened.

use std::path::Path;

use crate::engine::pebble::PebbleStore;
use crate::engine::rocks::RocksStore;
use crate::engine::sqlite::SqliteStore;
use crate::error::Result;
use crate::file::FileMetadata;
use crate::model::{Asset, GrantRecord, Record, ResourceKey, SyncId, SyncRun};
use crate::pb::c1::connector::v2::{Entitlement, Resource, ResourceType};
use crate::store::{
    AssetQuery, EntitlementQuery, GrantBulkLoad, GrantQuery, GrantUpsertMode, ObjectCounts, Page,
    PageRequest, Reader, ResourceQuery, ResourceTypeQuery, StoreMetadata, StoredGrant,
    SyncSelector, Writer,
};

/// A store of any engine.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// The SQLite engine (format v1).
    Sqlite(SqliteStore),
    /// The RocksDB engine (format v3).
    Rocks(RocksStore),
    /// baton's Pebble engine (format v3), read-only.
    Pebble(PebbleStore),
}

/// Forwards one call to the engine inside.
macro_rules! on_engine {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($store) => $call,
            AnyStore::Rocks($store) => $call,
            AnyStore::Pebble($store) => $call,
        }
    };
}

impl AnyStore {
    /// Whether anything was written since open or the last save.
    #[must_use]
    pub fn is_dirty(&self) -> bool {
        on_engine!(self, s => s.state().is_dirty())
    }

    /// Ends a live bulk grant load before a save: every grant it wrote is stored and every
    /// index complete (the load's later calls are ordinary writes).
    pub(crate) fn end_bulk_load(&self) -> Result<()> {
        on_engine!(self, s => s.end_bulk_load())
    }

    /// Checks the store's own consistency: every index entry agrees with its row (RocksDB:
    /// the invariants of `docs/format-rocksdb.md` §6; SQLite: `integrity_check`).
    ///
    /// # Errors
    /// [`crate::Error::Corrupt`] naming the first violation; engine errors.
    pub fn check_consistency(&self) -> Result<()> {
        on_engine!(self, s => s.check_consistency())
    }

    /// Whether the store refuses writes.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        on_engine!(self, s => s.state().is_read_only())
    }

    /// The count of writes so far (see [`crate::engine::WriteState`]).
    pub(crate) fn generation(&self) -> u64 {
        on_engine!(self, s => s.state().generation())
    }

    /// Records that a save wrote everything up to `generation`.
    pub(crate) fn mark_saved(&self, generation: u64) {
        on_engine!(self, s => s.state().mark_saved(generation));
    }

    /// Writes the complete `.c1z` file at `out`, atomically.
    pub(crate) fn save_to(&self, out: &Path) -> Result<()> {
        on_engine!(self, s => s.save_to(out))
    }

    /// Format, engine and payload encoding of the file this store saves.
    pub(crate) fn file_metadata(&self) -> FileMetadata {
        on_engine!(self, s => s.file_metadata())
    }
}

#[deny(clippy::missing_trait_methods)]
impl Reader for AnyStore {
    fn metadata(&self) -> StoreMetadata {
        on_engine!(self, s => s.metadata())
    }
    fn engine(&self) -> &'static str {
        on_engine!(self, s => s.engine())
    }
    fn sync_run(&self, id: &SyncId) -> Result<Option<SyncRun>> {
        on_engine!(self, s => s.sync_run(id))
    }
    fn list_sync_runs(&self, page: &PageRequest) -> Result<Page<SyncRun>> {
        on_engine!(self, s => s.list_sync_runs(page))
    }
    fn resource_type(&self, sync: &SyncSelector, id: &str) -> Result<Option<Record<ResourceType>>> {
        on_engine!(self, s => s.resource_type(sync, id))
    }
    fn resource(&self, sync: &SyncSelector, key: &ResourceKey) -> Result<Option<Record<Resource>>> {
        on_engine!(self, s => s.resource(sync, key))
    }
    fn entitlement(&self, sync: &SyncSelector, id: &str) -> Result<Option<Record<Entitlement>>> {
        on_engine!(self, s => s.entitlement(sync, id))
    }
    fn grant(&self, sync: &SyncSelector, id: &str) -> Result<Option<GrantRecord>> {
        on_engine!(self, s => s.grant(sync, id))
    }
    fn asset(&self, sync: &SyncSelector, id: &str) -> Result<Option<Asset>> {
        on_engine!(self, s => s.asset(sync, id))
    }
    fn list_resource_types(
        &self,
        query: &ResourceTypeQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<ResourceType>>> {
        on_engine!(self, s => s.list_resource_types(query, page))
    }
    fn list_resources(
        &self,
        query: &ResourceQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<Resource>>> {
        on_engine!(self, s => s.list_resources(query, page))
    }
    fn list_entitlements(
        &self,
        query: &EntitlementQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<Entitlement>>> {
        on_engine!(self, s => s.list_entitlements(query, page))
    }
    fn list_grants(&self, query: &GrantQuery, page: &PageRequest) -> Result<Page<GrantRecord>> {
        on_engine!(self, s => s.list_grants(query, page))
    }
    fn list_stored_grants(
        &self,
        query: &GrantQuery,
        page: &PageRequest,
    ) -> Result<Page<StoredGrant>> {
        on_engine!(self, s => s.list_stored_grants(query, page))
    }
    fn list_assets(&self, query: &AssetQuery, page: &PageRequest) -> Result<Page<Asset>> {
        on_engine!(self, s => s.list_assets(query, page))
    }
    fn count_objects(&self, sync: &SyncId) -> Result<ObjectCounts> {
        on_engine!(self, s => s.count_objects(sync))
    }
}

#[deny(clippy::missing_trait_methods)]
impl Writer for AnyStore {
    fn put_sync_run(&self, run: &SyncRun) -> Result<()> {
        on_engine!(self, s => s.put_sync_run(run))
    }
    fn delete_sync_run(&self, id: &SyncId) -> Result<()> {
        on_engine!(self, s => s.delete_sync_run(id))
    }
    fn put_resource_types(&self, sync: &SyncId, rows: &[Record<ResourceType>]) -> Result<()> {
        on_engine!(self, s => s.put_resource_types(sync, rows))
    }
    fn put_resources(&self, sync: &SyncId, rows: &[Record<Resource>]) -> Result<()> {
        on_engine!(self, s => s.put_resources(sync, rows))
    }
    fn put_entitlements(&self, sync: &SyncId, rows: &[Record<Entitlement>]) -> Result<()> {
        on_engine!(self, s => s.put_entitlements(sync, rows))
    }
    fn put_grants(&self, sync: &SyncId, rows: &[GrantRecord], mode: GrantUpsertMode) -> Result<()> {
        on_engine!(self, s => s.put_grants(sync, rows, mode))
    }
    fn delete_grant(&self, sync: &SyncId, grant_id: &str) -> Result<bool> {
        on_engine!(self, s => s.delete_grant(sync, grant_id))
    }
    fn put_asset(&self, sync: &SyncId, asset: &Asset) -> Result<()> {
        on_engine!(self, s => s.put_asset(sync, asset))
    }
    fn compact(&self) -> Result<()> {
        on_engine!(self, s => s.compact())
    }
    fn bulk_grants(&self) -> Result<GrantBulkLoad<'_>> {
        on_engine!(self, s => s.bulk_grants())
    }
}
