//! Copying every sync run between stores of any engines: ids, types, parents, tokens,
//! timestamps, stats, all rows with their `discovered_at` and expansion columns, assets.

use std::sync::Arc;

use crate::error::Result;
use crate::model::{GrantRecord, ResourceKey, SyncId, SyncRun};
use crate::store::{
    AssetQuery, EncodedGrant, EntitlementKey, EntitlementQuery, GrantQuery, GrantUpsertMode,
    Reader, ReaderExt, ResourceQuery, ResourceTypeQuery, SyncSelector, Writer,
};

/// Rows written per call.
const BATCH: usize = 5_000;

/// What a copy wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// Sync runs copied.
    pub sync_runs: u64,
    /// Resource types, resources, entitlements, grants and assets copied.
    pub rows: u64,
}

/// Told the number of rows written so far, after each batch.
pub type CopyProgress<'a> = &'a dyn Fn(u64);

/// Rows written so far, reported as they grow.
struct Written<'a> {
    rows: u64,
    progress: CopyProgress<'a>,
}

impl Written<'_> {
    fn add(&mut self, n: usize) {
        self.rows += n as u64;
        (self.progress)(self.rows);
    }
}

fn copy_stream<T>(
    rows: crate::store::BoxIter<'_, T>,
    written: &mut Written<'_>,
    mut write: impl FnMut(&[T]) -> Result<()>,
) -> Result<u64> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut n = 0u64;
    for row in rows {
        batch.push(row?);
        if batch.len() == BATCH {
            write(&batch)?;
            n += batch.len() as u64;
            written.add(batch.len());
            batch.clear();
        }
    }
    if !batch.is_empty() {
        write(&batch)?;
        n += batch.len() as u64;
        written.add(batch.len());
    }
    Ok(n)
}

/// The identity columns and canonical encoding of a grant without expansion columns, as a
/// bulk load takes it.
fn encoded_of(row: &GrantRecord) -> EncodedGrant {
    let g = &row.grant;
    let ent = g.entitlement.as_ref();
    let resource = ent
        .and_then(|e| e.resource.as_ref())
        .and_then(|r| r.id.as_ref());
    let entitlement = EntitlementKey {
        id: ent.map(|e| e.id.clone()).unwrap_or_default(),
        resource_type_id: resource
            .map(|r| r.resource_type.clone())
            .unwrap_or_default(),
        resource_id: resource.map(|r| r.resource.clone()).unwrap_or_default(),
    };
    let principal = g
        .principal
        .as_ref()
        .and_then(|p| p.id.as_ref())
        .map_or_else(|| ResourceKey::new("", ""), ResourceKey::of);
    EncodedGrant {
        id: g.id.clone(),
        entitlement: Arc::new(entitlement),
        principal: Arc::new(principal),
        data: crate::codec::encode_grant(g),
        discovered_at: row.discovered_at,
    }
}

/// Writes new grants into one sync of a store, fast: grants without expansion columns go
/// through the destination's bulk load (sorted tables on RocksDB, late indexes on SQLite);
/// the few that define expansion edges are written with their columns by ordinary puts, in
/// batches, after the load. Each grant id must be new to the sync (a bulk load keeps an
/// existing row's `discovered_at`).
pub(crate) struct GrantCopier<'a, W: Writer + ?Sized> {
    dst: &'a W,
    load: crate::store::GrantBulkLoad<'a>,
    id: SyncId,
    plain: Vec<EncodedGrant>,
    edges: Vec<GrantRecord>,
}

impl<'a, W: Writer + ?Sized> GrantCopier<'a, W> {
    pub(crate) fn new(dst: &'a W, id: SyncId) -> Result<Self> {
        Ok(GrantCopier {
            load: dst.bulk_grants()?,
            dst,
            id,
            plain: Vec::with_capacity(BATCH),
            edges: Vec::new(),
        })
    }

    /// Takes one grant; returns how many grants were written by this call.
    pub(crate) fn push(&mut self, row: GrantRecord) -> Result<usize> {
        if row.expansion.is_some() || row.needs_expansion {
            // New rows take the records' expansion columns as they are.
            self.edges.push(row);
            return Ok(0);
        }
        self.plain.push(encoded_of(&row));
        if self.plain.len() == BATCH {
            self.load.put_encoded_grants(&self.id, &self.plain)?;
            self.plain.clear();
            return Ok(BATCH);
        }
        Ok(0)
    }

    /// Writes what is held and ends the load; returns how many grants this call wrote.
    pub(crate) fn finish(self) -> Result<usize> {
        let mut n = self.plain.len();
        if !self.plain.is_empty() {
            self.load.put_encoded_grants(&self.id, &self.plain)?;
        }
        self.load.finish()?;
        for chunk in self.edges.chunks(BATCH) {
            self.dst
                .put_grants(&self.id, chunk, GrantUpsertMode::Replace)?;
            n += chunk.len();
        }
        Ok(n)
    }
}

/// Copies the grants of `sync` into `dst`'s sync `id` through a [`GrantCopier`].
fn copy_grants<R: Reader + ?Sized, W: Writer + ?Sized>(
    src: &R,
    dst: &W,
    sync: &SyncSelector,
    id: &SyncId,
    written: &mut Written<'_>,
) -> Result<u64> {
    let mut copier = GrantCopier::new(dst, id.clone())?;
    let mut n = 0u64;
    let rows = src.stream_grants(GrantQuery {
        sync: sync.clone(),
        ..Default::default()
    });
    for row in rows {
        n += 1;
        written.add(copier.push(row?)?);
    }
    written.add(copier.finish()?);
    Ok(n)
}

/// Copies one sync run and all its rows from `src` into `dst`.
///
/// # Errors
/// Store errors of either side.
pub fn copy_sync<R: Reader + ?Sized, W: Writer + ?Sized>(
    src: &R,
    dst: &W,
    run: &SyncRun,
) -> Result<u64> {
    copy_sync_reporting(
        src,
        dst,
        run,
        &mut Written {
            rows: 0,
            progress: &|_| {},
        },
    )
}

fn copy_sync_reporting<R: Reader + ?Sized, W: Writer + ?Sized>(
    src: &R,
    dst: &W,
    run: &SyncRun,
    written: &mut Written<'_>,
) -> Result<u64> {
    dst.put_sync_run(run)?;
    let sync = SyncSelector::Id(run.id.clone());
    let id = &run.id;
    let mut n = copy_stream(
        src.stream_resource_types(ResourceTypeQuery { sync: sync.clone() }),
        written,
        |b| dst.put_resource_types(id, b),
    )?;
    n += copy_stream(
        src.stream_resources(ResourceQuery {
            sync: sync.clone(),
            ..Default::default()
        }),
        written,
        |b| dst.put_resources(id, b),
    )?;
    n += copy_stream(
        src.stream_entitlements(EntitlementQuery {
            sync: sync.clone(),
            ..Default::default()
        }),
        written,
        |b| dst.put_entitlements(id, b),
    )?;
    n += copy_grants(src, dst, &sync, id, written)?;
    n += copy_stream(src.stream_assets(AssetQuery { sync }), written, |b| {
        b.iter().try_for_each(|a| dst.put_asset(id, a))
    })?;
    Ok(n)
}

/// Copies every sync run of `src` into `dst`, in creation order.
///
/// # Errors
/// Store errors of either side.
pub fn copy_all<R: Reader + ?Sized, W: Writer + ?Sized>(src: &R, dst: &W) -> Result<CopyReport> {
    copy_all_reporting(src, dst, &|_| {})
}

/// [`copy_all`], telling `progress` the rows written so far after each batch.
///
/// # Errors
/// Store errors of either side.
pub fn copy_all_reporting<R: Reader + ?Sized, W: Writer + ?Sized>(
    src: &R,
    dst: &W,
    progress: CopyProgress<'_>,
) -> Result<CopyReport> {
    let mut report = CopyReport::default();
    let mut written = Written { rows: 0, progress };
    for run in src.sync_runs()? {
        report.rows += copy_sync_reporting(src, dst, &run, &mut written)?;
        report.sync_runs += 1;
    }
    Ok(report)
}
