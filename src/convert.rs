//! Copying every sync run between stores of any engines: ids, types, parents, tokens,
//! timestamps, stats, all rows with their `discovered_at` and expansion columns, assets.

use crate::error::Result;
use crate::model::SyncRun;
use crate::store::{
    AssetQuery, EntitlementQuery, GrantQuery, GrantUpsertMode, Reader, ReaderExt, ResourceQuery,
    ResourceTypeQuery, SyncSelector, Writer,
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

fn copy_stream<T>(
    rows: crate::store::BoxIter<'_, T>,
    mut write: impl FnMut(&[T]) -> Result<()>,
) -> Result<u64> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut n = 0u64;
    for row in rows {
        batch.push(row?);
        if batch.len() == BATCH {
            write(&batch)?;
            n += batch.len() as u64;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        write(&batch)?;
        n += batch.len() as u64;
    }
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
    dst.put_sync_run(run)?;
    let sync = SyncSelector::Id(run.id.clone());
    let id = &run.id;
    let mut n = copy_stream(
        src.stream_resource_types(ResourceTypeQuery { sync: sync.clone() }),
        |b| dst.put_resource_types(id, b),
    )?;
    n += copy_stream(
        src.stream_resources(ResourceQuery {
            sync: sync.clone(),
            ..Default::default()
        }),
        |b| dst.put_resources(id, b),
    )?;
    n += copy_stream(
        src.stream_entitlements(EntitlementQuery {
            sync: sync.clone(),
            ..Default::default()
        }),
        |b| dst.put_entitlements(id, b),
    )?;
    // New rows take the records' expansion columns as they are.
    n += copy_stream(
        src.stream_grants(GrantQuery {
            sync: sync.clone(),
            ..Default::default()
        }),
        |b| dst.put_grants(id, b, GrantUpsertMode::Replace),
    )?;
    n += copy_stream(src.stream_assets(AssetQuery { sync }), |b| {
        b.iter().try_for_each(|a| dst.put_asset(id, a))
    })?;
    Ok(n)
}

/// Copies every sync run of `src` into `dst`, in creation order.
///
/// # Errors
/// Store errors of either side.
pub fn copy_all<R: Reader + ?Sized, W: Writer + ?Sized>(src: &R, dst: &W) -> Result<CopyReport> {
    let mut report = CopyReport::default();
    for run in src.sync_runs()? {
        report.rows += copy_sync(src, dst, &run)?;
        report.sync_runs += 1;
    }
    Ok(report)
}
