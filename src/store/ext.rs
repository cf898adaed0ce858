//! Behaviour written once over the [`Reader`] primitives.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::model::{Asset, GrantRecord, Record, SyncId, SyncRun, SyncType, wall};
use crate::pb::c1::connector::v2::{Entitlement, Resource, ResourceType};
use crate::store::{
    AssetQuery, BoxIter, EntitlementQuery, GrantQuery, PagedIter, Reader, ResourceQuery,
    ResourceTypeQuery, StoredGrant, SyncSelector,
};

/// A stream over `query`'s rows with its selector pinned to one sync first (so a sync
/// finishing mid-stream does not switch the pages): empty when there is nothing to read,
/// the error alone when resolving fails.
fn pinned_stream<'a, R, Q, T>(
    store: &'a R,
    query: Q,
    selector: impl FnOnce(&mut Q) -> &mut SyncSelector,
    page_size: u32,
    list: impl Fn(&'a R, &Q, &crate::store::PageRequest) -> Result<crate::store::Page<T>> + Send + 'a,
) -> BoxIter<'a, T>
where
    R: Reader + ?Sized,
    Q: Send + 'a,
    T: Send + 'a,
{
    let mut query = query;
    let sync = selector(&mut query);
    match sync.pinned(store, DefaultSync::LatestAny) {
        Ok(Some(pinned)) => {
            *sync = pinned;
            Box::new(PagedIter::new(page_size, move |p| list(store, &query, p)))
        }
        Ok(None) => Box::new(std::iter::empty()),
        Err(e) => Box::new(std::iter::once(Err(e))),
    }
}

/// Rows fetched per round trip by the streaming iterators.
const STREAM_PAGE: u32 = 1_000;

/// Unfinished syncs older than this are neither resumed nor used as a default (baton).
pub const RESUME_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// The default sync a read uses when none is given, as baton resolves it per API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultSync {
    /// Lists and `GetResource`: the latest finished `full` sync, else the latest
    /// unfinished sync of any type started within [`RESUME_WINDOW`].
    LatestFull,
    /// Other gets and the streams: the latest finished sync of any type, else the latest
    /// recent unfinished one.
    LatestAny,
}

/// Convenience reads for every [`Reader`]; implemented for all readers.
///
/// Do not implement this trait yourself.
pub trait ReaderExt: Reader {
    /// Every sync run, in creation order.
    ///
    /// # Errors
    /// Engine or decode errors.
    fn sync_runs(&self) -> Result<Vec<SyncRun>> {
        PagedIter::new(STREAM_PAGE, |p| self.list_sync_runs(p)).collect()
    }

    /// A sync run that must exist.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such run.
    fn require_sync_run(&self, id: &SyncId) -> Result<SyncRun> {
        self.sync_run(id)?
            .ok_or_else(|| Error::not_found("sync run", id.as_str()))
    }

    /// The latest finished sync of a type (`None` = any type): greatest `ended_at`, ties
    /// broken by the greater id.
    ///
    /// # Errors
    /// Engine or decode errors.
    fn latest_finished_sync(&self, ty: Option<SyncType>) -> Result<Option<SyncRun>> {
        Ok(self
            .sync_runs()?
            .into_iter()
            .filter(|r| r.is_finished() && ty.is_none_or(|t| r.kind() == Some(t)))
            .max_by(|a, b| (a.ended_at, &a.id).cmp(&(b.ended_at, &b.id))))
    }

    /// The latest unfinished sync of a type (`None` = any) started within `window` of now
    /// (`None` = no age limit): greatest `started_at`, ties broken by the greater id.
    ///
    /// # Errors
    /// Engine or decode errors.
    fn latest_unfinished_sync(
        &self,
        ty: Option<SyncType>,
        window: Option<Duration>,
    ) -> Result<Option<SyncRun>> {
        let cutoff = window
            .and_then(|w| chrono::Duration::from_std(w).ok())
            .map(|w| wall::now() - w);
        Ok(self
            .sync_runs()?
            .into_iter()
            .filter(|r| !r.is_finished() && ty.is_none_or(|t| r.kind() == Some(t)))
            .filter(|r| cutoff.is_none_or(|c| r.started_at >= c))
            .max_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id))))
    }

    /// Resolves which sync a read uses: the explicit id if given, else baton's default for
    /// the API kind; `None` means "no sync filter" (nothing to choose from).
    ///
    /// # Errors
    /// [`Error::NotFound`] if an explicit id does not exist.
    fn resolve_sync(
        &self,
        explicit: Option<&SyncId>,
        default: DefaultSync,
    ) -> Result<Option<SyncId>> {
        if let Some(id) = explicit {
            return Ok(Some(self.require_sync_run(id)?.id));
        }
        let finished = match default {
            DefaultSync::LatestFull => self.latest_finished_sync(Some(SyncType::Full))?,
            DefaultSync::LatestAny => self.latest_finished_sync(None)?,
        };
        if let Some(run) = finished {
            return Ok(Some(run.id));
        }
        Ok(self
            .latest_unfinished_sync(None, Some(RESUME_WINDOW))?
            .map(|r| r.id))
    }

    /// Streams resource types matching `query` ([`SyncSelector::Latest`] pinned once, with
    /// the streams' default: the latest finished sync of any type).
    fn stream_resource_types(&self, query: ResourceTypeQuery) -> BoxIter<'_, Record<ResourceType>> {
        pinned_stream(
            self,
            query,
            |q| &mut q.sync,
            STREAM_PAGE,
            |s, q, p| s.list_resource_types(q, p),
        )
    }

    /// Streams resources matching `query` (see [`ReaderExt::stream_resource_types`]).
    fn stream_resources(&self, query: ResourceQuery) -> BoxIter<'_, Record<Resource>> {
        pinned_stream(
            self,
            query,
            |q| &mut q.sync,
            STREAM_PAGE,
            |s, q, p| s.list_resources(q, p),
        )
    }

    /// Streams entitlements matching `query` (see [`ReaderExt::stream_resource_types`]).
    fn stream_entitlements(&self, query: EntitlementQuery) -> BoxIter<'_, Record<Entitlement>> {
        pinned_stream(
            self,
            query,
            |q| &mut q.sync,
            STREAM_PAGE,
            |s, q, p| s.list_entitlements(q, p),
        )
    }

    /// Streams grants matching `query` (by entitlement, principal, resource, ...; see
    /// [`ReaderExt::stream_resource_types`]).
    fn stream_grants(&self, query: GrantQuery) -> BoxIter<'_, GrantRecord> {
        pinned_stream(
            self,
            query,
            |q| &mut q.sync,
            STREAM_PAGE,
            |s, q, p| s.list_grants(q, p),
        )
    }

    /// Streams grants matching `query` as stored, not decoded
    /// ([`Reader::list_stored_grants`]).
    fn stream_stored_grants(&self, query: GrantQuery) -> BoxIter<'_, StoredGrant> {
        pinned_stream(
            self,
            query,
            |q| &mut q.sync,
            STREAM_PAGE,
            |s, q, p| s.list_stored_grants(q, p),
        )
    }

    /// Streams assets matching `query`, a few at a time (assets can be large).
    fn stream_assets(&self, query: AssetQuery) -> BoxIter<'_, Asset> {
        pinned_stream(
            self,
            query,
            |q| &mut q.sync,
            16,
            |s, q, p| s.list_assets(q, p),
        )
    }

    /// Resources by key, in request order; missing keys are omitted.
    ///
    /// # Errors
    /// Engine or decode errors.
    fn resources_by_keys(
        &self,
        sync: &SyncSelector,
        keys: &[crate::model::ResourceKey],
    ) -> Result<Vec<Record<Resource>>> {
        keys.iter()
            .filter_map(|k| self.resource(sync, k).transpose())
            .collect()
    }

    /// Entitlements by id, in request order; missing ids are omitted.
    ///
    /// # Errors
    /// Engine or decode errors.
    fn entitlements_by_ids(
        &self,
        sync: &SyncSelector,
        ids: &[String],
    ) -> Result<Vec<Record<Entitlement>>> {
        ids.iter()
            .filter_map(|id| self.entitlement(sync, id).transpose())
            .collect()
    }

    /// Every grant matching `query`, collected (for small queries; use
    /// [`ReaderExt::stream_grants`] for large ones).
    ///
    /// # Errors
    /// Engine or decode errors.
    fn all_grants(&self, query: GrantQuery) -> Result<Vec<GrantRecord>> {
        self.stream_grants(query).collect()
    }
}

impl<R: Reader + ?Sized> ReaderExt for R {}
