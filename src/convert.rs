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

/// Copies the grants of `sync` into `dst`'s sync `id`. Grants without expansion columns go
/// through the destination's bulk load (its fast path: sorted tables on RocksDB, late
/// indexes on SQLite); the few that define expansion edges are written with their columns
/// by ordinary puts, in batches.
fn copy_grants<R: Reader + ?Sized, W: Writer + ?Sized>(
    src: &R,
    dst: &W,
    sync: &SyncSelector,
    id: &SyncId,
) -> Result<u64> {
    let load = dst.bulk_grants()?;
    let mut plain: Vec<EncodedGrant> = Vec::with_capacity(BATCH);
    let mut edges: Vec<GrantRecord> = Vec::new();
    let mut n = 0u64;
    let rows = src.stream_grants(GrantQuery {
        sync: sync.clone(),
        ..Default::default()
    });
    for row in rows {
        let row = row?;
        n += 1;
        if row.expansion.is_some() || row.needs_expansion {
            // New rows take the records' expansion columns as they are.
            edges.push(row);
            if edges.len() == BATCH {
                dst.put_grants(id, &edges, GrantUpsertMode::Replace)?;
                edges.clear();
            }
            continue;
        }
        let g = &row.grant;
        let ent = g.entitlement.as_ref();
        let entitlement = EntitlementKey {
            id: ent.map(|e| e.id.clone()).unwrap_or_default(),
            resource_type_id: ent
                .and_then(|e| e.resource.as_ref())
                .and_then(|r| r.id.as_ref())
                .map(|r| r.resource_type.clone())
                .unwrap_or_default(),
            resource_id: ent
                .and_then(|e| e.resource.as_ref())
                .and_then(|r| r.id.as_ref())
                .map(|r| r.resource.clone())
                .unwrap_or_default(),
        };
        let principal = g
            .principal
            .as_ref()
            .and_then(|p| p.id.as_ref())
            .map_or_else(|| ResourceKey::new("", ""), ResourceKey::of);
        plain.push(EncodedGrant {
            id: g.id.clone(),
            entitlement: Arc::new(entitlement),
            principal: Arc::new(principal),
            data: crate::codec::encode_grant(g),
            discovered_at: row.discovered_at,
        });
        if plain.len() == BATCH {
            load.put_encoded_grants(id, &plain)?;
            plain.clear();
        }
    }
    if !plain.is_empty() {
        load.put_encoded_grants(id, &plain)?;
    }
    load.finish()?;
    if !edges.is_empty() {
        dst.put_grants(id, &edges, GrantUpsertMode::Replace)?;
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
    n += copy_grants(src, dst, &sync, id)?;
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
