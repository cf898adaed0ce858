//! The store API: [`Reader`] and [`Writer`] primitives that every engine implements, and
//! [`ReaderExt`] with everything written once on top (sync resolution, streaming).
//!
//! Engines implement storage primitives only. The sync-run lifecycle
//! ([`crate::sync`]), stats and grant expansion are generic over these traits, so they
//! behave identically on every engine.

mod any;
mod bulk;
mod ext;
mod iter;

use std::collections::BTreeMap;

pub use any::AnyStore;
pub(crate) use bulk::BulkGrantOps;
pub use bulk::GrantBulkLoad;
pub use ext::{DefaultSync, RESUME_WINDOW, ReaderExt};
pub use iter::{BoxIter, PagedIter};

use crate::error::Result;
use crate::model::{Asset, GrantRecord, Record, ResourceKey, SyncId, SyncRun};
use crate::pb::c1::connector::v2::{Entitlement, Resource, ResourceType};

/// Largest page a list call returns; `0` or anything larger is clamped to it (baton).
pub const MAX_PAGE_SIZE: u32 = 10_000;

/// A page request: a size and an opaque token from a previous [`Page`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Requested size; `0` or more than [`MAX_PAGE_SIZE`] means [`MAX_PAGE_SIZE`].
    pub size: u32,
    /// `""` for the first page, else a previous page's `next_page_token`.
    pub token: String,
}

impl PageRequest {
    /// The first page of `size` rows.
    #[must_use]
    pub fn first(size: u32) -> Self {
        PageRequest {
            size,
            token: String::new(),
        }
    }

    /// The page after `token`.
    #[must_use]
    pub fn after(size: u32, token: impl Into<String>) -> Self {
        PageRequest {
            size,
            token: token.into(),
        }
    }

    /// The page size after clamping.
    #[must_use]
    pub fn effective_size(&self) -> u32 {
        if self.size == 0 || self.size > MAX_PAGE_SIZE {
            MAX_PAGE_SIZE
        } else {
            self.size
        }
    }
}

/// One page of results.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The rows, in the engine's stable order.
    pub items: Vec<T>,
    /// Token of the next page; `""` when this is the last one.
    pub next_page_token: String,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page::empty()
    }
}

impl<T> Page<T> {
    /// A last page with no rows.
    #[must_use]
    pub fn empty() -> Self {
        Page {
            items: Vec::new(),
            next_page_token: String::new(),
        }
    }
}

/// Which sync a read uses. The default is baton's: what `baton` reads when no sync is
/// named.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum SyncSelector {
    /// baton's default sync for the read ([`DefaultSync`]): for lists and resource gets
    /// the latest finished `full` sync, for other gets and the streams the latest finished
    /// sync of any type; failing that, the latest unfinished sync started within
    /// [`RESUME_WINDOW`]. A store with neither reads nothing. Resolved at each call: a
    /// listing that must stay on one sync across pages names it ([`SyncSelector::Id`];
    /// the [`ReaderExt`] streams do).
    #[default]
    Latest,
    /// One sync run (an id the store does not have reads nothing).
    Id(SyncId),
    /// The rows of every sync run; a get returns the first match in the engine's order
    /// (SQLite: the row written first; RocksDB: the sync written to first).
    All,
}

impl From<SyncId> for SyncSelector {
    fn from(id: SyncId) -> Self {
        SyncSelector::Id(id)
    }
}

impl From<&SyncId> for SyncSelector {
    fn from(id: &SyncId) -> Self {
        SyncSelector::Id(id.clone())
    }
}

/// A [`SyncSelector`] resolved against a store: what an engine reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncScope {
    /// One sync run's rows.
    One(SyncId),
    /// Every sync run's rows.
    All,
    /// Nothing (the store has no sync the selector picks).
    Nothing,
}

impl SyncScope {
    /// As an engine filters rows: `Some(Some(id))` one sync, `Some(None)` every sync,
    /// `None` nothing to read.
    #[must_use]
    pub fn filter(&self) -> Option<Option<&SyncId>> {
        match self {
            SyncScope::One(id) => Some(Some(id)),
            SyncScope::All => Some(None),
            SyncScope::Nothing => None,
        }
    }
}

impl SyncSelector {
    /// Resolves the selector against `store`, [`SyncSelector::Latest`] with the default
    /// of the kind of read (`default`). Engines call this first in every read that takes a
    /// selector, so every engine resolves it alike.
    ///
    /// # Errors
    /// Engine or decode errors of listing the sync runs.
    pub fn resolve<R: Reader + ?Sized>(
        &self,
        store: &R,
        default: DefaultSync,
    ) -> Result<SyncScope> {
        Ok(match self {
            SyncSelector::Id(id) => SyncScope::One(id.clone()),
            SyncSelector::All => SyncScope::All,
            SyncSelector::Latest => store
                .resolve_sync(None, default)?
                .map_or(SyncScope::Nothing, SyncScope::One),
        })
    }

    /// Runs `read` on the rows the selector picks (`Some(id)`: one sync; `None`: every
    /// sync), or returns `T::default()` (nothing found, an empty page) when it picks none:
    /// the one way engines apply a selector.
    ///
    /// # Errors
    /// As [`SyncSelector::resolve`], and those of `read`.
    pub fn read<R: Reader + ?Sized, T: Default>(
        &self,
        store: &R,
        default: DefaultSync,
        read: impl FnOnce(Option<&SyncId>) -> Result<T>,
    ) -> Result<T> {
        match self.resolve(store, default)?.filter() {
            Some(sync) => read(sync),
            None => Ok(T::default()),
        }
    }

    /// The selector a stream pages with: [`SyncSelector::Latest`] resolved once, so every
    /// page reads the same sync; `None` when there is nothing to read.
    ///
    /// # Errors
    /// As [`SyncSelector::resolve`].
    pub fn pinned<R: Reader + ?Sized>(
        &self,
        store: &R,
        default: DefaultSync,
    ) -> Result<Option<SyncSelector>> {
        Ok(match self.resolve(store, default)? {
            SyncScope::One(id) => Some(SyncSelector::Id(id)),
            SyncScope::All => Some(SyncSelector::All),
            SyncScope::Nothing => None,
        })
    }
}

/// Filters for listing resource types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceTypeQuery {
    /// The sync to read (default: baton's latest; see [`SyncSelector`]).
    pub sync: SyncSelector,
}

/// Filters for listing resources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceQuery {
    /// The sync to read (default: baton's latest; see [`SyncSelector`]).
    pub sync: SyncSelector,
    /// Only resources of this type.
    pub resource_type_id: Option<String>,
    /// Only children of this parent.
    pub parent: Option<ResourceKey>,
}

/// Filters for listing entitlements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntitlementQuery {
    /// The sync to read (default: baton's latest; see [`SyncSelector`]).
    pub sync: SyncSelector,
    /// Only entitlements on this resource.
    pub resource: Option<ResourceKey>,
}

/// Filters for listing grants. All given filters must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantQuery {
    /// The sync to read (default: baton's latest; see [`SyncSelector`]).
    pub sync: SyncSelector,
    /// Only grants of this entitlement id.
    pub entitlement_id: Option<String>,
    /// Only grants to this principal.
    pub principal: Option<ResourceKey>,
    /// Only grants whose principal has one of these types (empty = any).
    pub principal_resource_type_ids: Vec<String>,
    /// Only grants on entitlements of this resource (the entitlement's resource, not the
    /// principal).
    pub resource: Option<ResourceKey>,
    /// Only grants on entitlements of resources of this type (baton's SQLite semantics of
    /// `ListGrantsForResourceType`).
    pub resource_type_id: Option<String>,
    /// Only grants with `needs_expansion` set (the expansion edge definitions).
    pub needs_expansion: bool,
}

/// Filters for listing assets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssetQuery {
    /// The sync to read (default: baton's latest; see [`SyncSelector`]).
    pub sync: SyncSelector,
}

/// How [`Writer::put_grants`] treats a grant that already exists in the sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantUpsertMode {
    /// Connector writes: the row's `expansion` is replaced, and `needs_expansion` becomes 0
    /// if the new expansion is absent, 1 if it is new or its bytes changed, else keeps its
    /// old value. A new row stores the record's `expansion` and `needs_expansion` as given.
    /// An expansion that encodes to no bytes (`GrantExpandable::default()`) counts as
    /// absent and reads back as `None`.
    Replace,
    /// Expander output: only the grant data changes; an existing row keeps its `expansion`
    /// and `needs_expansion`. New rows take the record's values.
    PreserveExpansion,
}

/// The identity columns of an entitlement, as grant rows store them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntitlementKey {
    /// Entitlement id.
    pub id: String,
    /// Resource type of the entitlement's resource.
    pub resource_type_id: String,
    /// Id of the entitlement's resource.
    pub resource_id: String,
}

/// A grant as stored, not decoded: its encoding and the principal it is stored under (see
/// [`Reader::list_stored_grants`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredGrant {
    /// The principal identity column (what a slim grant's principal is hydrated from).
    pub principal: ResourceKey,
    /// The encoded grant, exactly as stored.
    pub data: Vec<u8>,
}

/// The entitlement of derived grants, encoded once for all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerivedEntitlement {
    /// Its identity columns.
    pub key: EntitlementKey,
    /// The entitlement as the grants embed it (canonical encoding).
    pub data: Vec<u8>,
}

/// A grant made by expansion (see [`GrantBulkLoad::put_derived_grants`]): the grant
/// `{entitlement, principal, id: "entitlement:principal_type:principal_id", annotations:
/// [GrantImmutable], sources}`, from parts shared by many grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerivedGrant {
    /// The entitlement.
    pub entitlement: std::sync::Arc<DerivedEntitlement>,
    /// The principal's identity.
    pub principal: std::sync::Arc<ResourceKey>,
    /// The principal as the grant embeds it (encoded `Resource`).
    pub principal_data: std::sync::Arc<[u8]>,
    /// The grant's sources: encoded `GrantSources.sources` entries
    /// ([`crate::codec::encode_source_entries`]).
    pub sources: Vec<u8>,
    /// First-write time, used when the grant is new.
    pub discovered_at: chrono::NaiveDateTime,
}

impl DerivedGrant {
    /// The grant id: `entitlement:principal_type:principal_id`.
    #[must_use]
    pub fn id(&self) -> String {
        let (e, p) = (&self.entitlement.key.id, &*self.principal);
        let mut id = String::with_capacity(e.len() + p.resource_type.len() + p.resource.len() + 2);
        for part in [e.as_str(), ":", &p.resource_type, ":", &p.resource] {
            id.push_str(part);
        }
        id
    }

    /// The grant's canonical encoding ([`crate::codec::encode_grant`] of the grant).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with_id(&self.id())
    }

    fn encode_with_id(&self, id: &str) -> Vec<u8> {
        let mut data = Vec::new();
        crate::codec::encode_derived_grant(
            &mut data,
            &self.entitlement.data,
            &self.principal_data,
            id,
            &self.sources,
        );
        data
    }

    /// The same grant as an [`EncodedGrant`].
    #[must_use]
    pub fn to_encoded(&self) -> EncodedGrant {
        let id = self.id();
        EncodedGrant {
            data: self.encode_with_id(&id),
            id,
            entitlement: std::sync::Arc::new(self.entitlement.key.clone()),
            principal: self.principal.clone(),
            discovered_at: self.discovered_at,
        }
    }
}

/// A grant already in its stored encoding, with the identity columns it is indexed by
/// (see [`GrantBulkLoad::put_encoded_grants`]). Grant expansion writes these: one entitlement and
/// one principal are shared by many grants, so both are reference-counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedGrant {
    /// Grant id.
    pub id: String,
    /// The grant's entitlement; must match the encoded one.
    pub entitlement: std::sync::Arc<EntitlementKey>,
    /// The grant's principal; must match the encoded one.
    pub principal: std::sync::Arc<ResourceKey>,
    /// The canonical encoding of the grant ([`crate::codec::encode_grant`]), with no
    /// `GrantExpandable` annotation.
    pub data: Vec<u8>,
    /// First-write time, used when the grant is new.
    pub discovered_at: chrono::NaiveDateTime,
}

/// Decodes [`EncodedGrant`]s into the records [`Writer::put_grants`] takes.
pub(crate) fn decode_encoded_grants(rows: &[EncodedGrant]) -> Result<Vec<GrantRecord>> {
    rows.iter()
        .map(|r| {
            Ok(GrantRecord {
                grant: crate::codec::decode("grant", &r.data)?,
                expansion: None,
                needs_expansion: false,
                discovered_at: r.discovered_at,
            })
        })
        .collect()
}

/// Row counts of one sync, grouped the way stats need them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectCounts {
    /// Ids of the sync's resource types, in store order.
    pub resource_type_ids: Vec<String>,
    /// Resources per `resource_type_id` column.
    pub resources_by_type: BTreeMap<String, u64>,
    /// Entitlements per resource type of the entitlement's resource.
    pub entitlements_by_type: BTreeMap<String, u64>,
    /// Grants per resource type of the entitlement's resource.
    pub grants_by_type: BTreeMap<String, u64>,
    /// Number of assets.
    pub assets: u64,
}

/// What a store is, whatever opened it (see [`Reader::metadata`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreMetadata {
    /// The engine's name as written in files (`sqlite`, `rocksdb`).
    pub engine: &'static str,
    /// The envelope the store is saved in.
    pub format: crate::format::Format,
    /// The engine's own format version: RocksDB's `engine_schema_version`
    /// (`docs/format-rocksdb.md`); 0 for SQLite, whose schema is baton's (migrated on
    /// open) and carries no version.
    pub engine_version: u32,
    /// Whether the store refuses writes.
    pub read_only: bool,
}

/// Read primitives of a store.
///
/// # Contract
/// - **Sync.** Every read of objects names a [`SyncSelector`] (a query's `sync`, a get's
///   `sync`), resolved with [`SyncSelector::resolve`] and baton's default for the kind of
///   read ([`DefaultSync::LatestFull`] for lists and the resource get,
///   [`DefaultSync::LatestAny`] for the other gets). `Id` reads that sync's rows only;
///   `All` reads every sync's rows, and a get then returns the first match in the
///   engine's order (SQLite: the row written first; RocksDB: the sync first written to).
/// - **Order and pages.** List methods return rows in a stable engine order
///   ([`crate::engine::EngineKind::list_order`]: insertion order on SQLite, key order on
///   RocksDB). Every row matching the query appears exactly once across the pages of one
///   listing while the store is not written; a page token is valid only for the store that
///   issued it, and a foreign or malformed one is [`crate::Error::InvalidArgument`]. A
///   write between pages may make the rest of a listing show or skip the rows it touched,
///   never others.
/// - **Visibility.** Every write of [`Writer`] is visible to every read, on every thread,
///   once the write returns; the only exception is the held-back grants of a live
///   [`GrantBulkLoad`] (see its contract).
/// - **Bytes.** Objects come back as the canonical protobuf encoding of what was written
///   (a second write of the same id replaces the data only; identity columns and the first
///   `discovered_at` are kept). Grants stored without an entitlement or principal come
///   back with identity-only stubs rebuilt from the identity columns.
/// - **Threads.** Methods may be called from several threads at once; engines serialize
///   internally. Errors are typed: [`crate::Error::Corrupt`] for bytes that do not decode,
///   [`crate::Error::Engine`] for the engine's own failures.
pub trait Reader: Send + Sync {
    /// What the store is: engine, envelope, engine format version, read-only flag.
    fn metadata(&self) -> StoreMetadata;

    /// The engine's name as written in files (`sqlite`, `rocksdb`).
    fn engine(&self) -> &'static str {
        self.metadata().engine
    }

    /// One sync run by id.
    ///
    /// # Errors
    /// Engine or decode errors only; a missing run is `Ok(None)`.
    fn sync_run(&self, id: &SyncId) -> Result<Option<SyncRun>>;

    /// Sync runs in creation order.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] for a token this store did not issue.
    fn list_sync_runs(&self, page: &PageRequest) -> Result<Page<SyncRun>>;

    /// A resource type by id.
    ///
    /// # Errors
    /// Engine or decode errors only.
    fn resource_type(&self, sync: &SyncSelector, id: &str) -> Result<Option<Record<ResourceType>>>;

    /// A resource by (type, id).
    ///
    /// # Errors
    /// Engine or decode errors only.
    fn resource(&self, sync: &SyncSelector, key: &ResourceKey) -> Result<Option<Record<Resource>>>;

    /// An entitlement by id.
    ///
    /// # Errors
    /// Engine or decode errors only.
    fn entitlement(&self, sync: &SyncSelector, id: &str) -> Result<Option<Record<Entitlement>>>;

    /// A grant by id.
    ///
    /// # Errors
    /// Engine or decode errors only.
    fn grant(&self, sync: &SyncSelector, id: &str) -> Result<Option<GrantRecord>>;

    /// An asset by id.
    ///
    /// # Errors
    /// Engine errors only.
    fn asset(&self, sync: &SyncSelector, id: &str) -> Result<Option<Asset>>;

    /// A page of resource types.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] for a foreign page token; engine or decode errors.
    fn list_resource_types(
        &self,
        query: &ResourceTypeQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<ResourceType>>>;

    /// A page of resources.
    ///
    /// # Errors
    /// As [`Reader::list_resource_types`].
    fn list_resources(
        &self,
        query: &ResourceQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<Resource>>>;

    /// A page of entitlements.
    ///
    /// # Errors
    /// As [`Reader::list_resource_types`].
    fn list_entitlements(
        &self,
        query: &EntitlementQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<Entitlement>>>;

    /// A page of grants. Grants stored slim (no entitlement or principal) come back
    /// hydrated with identity-only stubs.
    ///
    /// # Errors
    /// As [`Reader::list_resource_types`].
    fn list_grants(&self, query: &GrantQuery, page: &PageRequest) -> Result<Page<GrantRecord>>;

    /// A page of grants as stored, not decoded: the same rows, order and page tokens as
    /// [`Reader::list_grants`], for readers that need a few fields of many grants
    /// (expansion reads each source's members this way). The default encodes
    /// [`Reader::list_grants`]'s rows; engines return their stored bytes.
    ///
    /// # Errors
    /// As [`Reader::list_resource_types`].
    fn list_stored_grants(
        &self,
        query: &GrantQuery,
        page: &PageRequest,
    ) -> Result<Page<StoredGrant>> {
        let page = self.list_grants(query, page)?;
        Ok(Page {
            items: page
                .items
                .iter()
                .map(|r| StoredGrant {
                    principal: r
                        .grant
                        .principal
                        .as_ref()
                        .and_then(|p| p.id.as_ref())
                        .map_or_else(|| ResourceKey::new("", ""), ResourceKey::of),
                    data: crate::codec::encode_grant(&r.grant),
                })
                .collect(),
            next_page_token: page.next_page_token,
        })
    }

    /// A page of assets.
    ///
    /// # Errors
    /// As [`Reader::list_resource_types`].
    fn list_assets(&self, query: &AssetQuery, page: &PageRequest) -> Result<Page<Asset>>;

    /// Row counts of one sync.
    ///
    /// # Errors
    /// Engine errors only.
    fn count_objects(&self, sync: &SyncId) -> Result<ObjectCounts>;
}

/// Write primitives of a store. Every method of a store opened read-only fails with
/// [`crate::Error::ReadOnly`] and changes nothing.
///
/// # Contract
/// - **Upserts.** Object writes upsert by (external id, sync): a second write of the same
///   id replaces the data only; the first write's `discovered_at` and identity columns
///   (a resource's type, an entitlement's resource, a grant's entitlement and principal)
///   are kept. Later rows of one call win over earlier rows of the same id.
/// - **Atomicity.** Each call is atomic: all of its rows or none (an error leaves the
///   store as it was before the call).
/// - **Durability.** Writes change the private working copy only; a file is changed by
///   saving it ([`crate::C1zFile::save`]).
/// - **Sync runs.** Engines do not check a sync run's state, and rows may be written to a
///   sync whose run row does not exist yet; [`crate::sync`] enforces the lifecycle.
/// - **Expansion columns.** Grants passed to [`Writer::put_grants`] must not carry a
///   `GrantExpandable` annotation: the edge definition travels in
///   [`GrantRecord::expansion`] ([`crate::sync::grant_record`] prepares records from
///   connector grants).
/// - **Bulk loads.** [`Writer::bulk_grants`] is the one capability beyond these
///   primitives; its own contract ([`GrantBulkLoad`]) says what readers see while it lives.
pub trait Writer: Reader {
    /// Inserts a sync run, or replaces every column of the run with the same id.
    ///
    /// # Errors
    /// [`crate::Error::ReadOnly`]; engine errors.
    fn put_sync_run(&self, run: &SyncRun) -> Result<()>;

    /// Deletes a sync run and every row of every kind that belongs to it.
    ///
    /// # Errors
    /// [`crate::Error::ReadOnly`]; engine errors.
    fn delete_sync_run(&self, id: &SyncId) -> Result<()>;

    /// Upserts resource types into `sync`.
    ///
    /// # Errors
    /// [`crate::Error::ReadOnly`]; engine errors.
    fn put_resource_types(&self, sync: &SyncId, rows: &[Record<ResourceType>]) -> Result<()>;

    /// Upserts resources into `sync`.
    ///
    /// # Errors
    /// [`crate::Error::ReadOnly`]; engine errors.
    fn put_resources(&self, sync: &SyncId, rows: &[Record<Resource>]) -> Result<()>;

    /// Upserts entitlements into `sync`.
    ///
    /// # Errors
    /// [`crate::Error::ReadOnly`]; engine errors.
    fn put_entitlements(&self, sync: &SyncId, rows: &[Record<Entitlement>]) -> Result<()>;

    /// Upserts grants into `sync` with the given conflict rule.
    ///
    /// # Errors
    /// [`crate::Error::ReadOnly`]; engine errors.
    fn put_grants(&self, sync: &SyncId, rows: &[GrantRecord], mode: GrantUpsertMode) -> Result<()>;

    /// Deletes one grant of `sync`; returns whether it existed.
    ///
    /// # Errors
    /// [`crate::Error::ReadOnly`]; engine errors.
    fn delete_grant(&self, sync: &SyncId, grant_id: &str) -> Result<bool>;

    /// Upserts an asset (a conflict replaces the data only).
    ///
    /// # Errors
    /// [`crate::Error::ReadOnly`]; engine errors.
    fn put_asset(&self, sync: &SyncId, asset: &Asset) -> Result<()>;

    /// Reclaims space after deletions (SQLite `VACUUM`, RocksDB compaction).
    ///
    /// # Errors
    /// [`crate::Error::ReadOnly`]; engine errors.
    fn compact(&self) -> Result<()>;

    /// Starts a bulk grant load: the capability to write many grants in their stored
    /// encoding, fast, with the visibility rules of [`GrantBulkLoad`] (what grant expansion
    /// uses). The default is a load of ordinary [`Writer::put_grants`] calls, which is
    /// correct for every store; engines buffer, index late and skip re-encoding.
    ///
    /// # Errors
    /// [`crate::Error::ReadOnly`]; [`crate::Error::InvalidArgument`] while another load of
    /// the store lives; engine errors.
    fn bulk_grants(&self) -> Result<GrantBulkLoad<'_>> {
        Ok(GrantBulkLoad::generic(self))
    }
}
