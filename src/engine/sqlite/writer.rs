//! Writes: baton's upserts, one transaction per call.

use prost::Message;
use rusqlite::params;

use super::SqliteStore;
use super::error::SqliteError;
use crate::codec;
use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::model::{Asset, GrantRecord, Record, SyncId, SyncRun, wall};
use crate::pb::c1::connector::v2::{Entitlement, Resource, ResourceType};
use crate::store::{BulkGrantOps, EncodedGrant, GrantBulkLoad, GrantUpsertMode, Writer};

/// Object tables holding rows of a sync (everything but `v1_sync_runs`).
const SYNC_TABLES: [&str; 6] = [
    "v1_resource_types",
    "v1_resources",
    "v1_entitlements",
    "v1_grants",
    "v1_assets",
    "v1_connector_sessions",
];

const INSERT_GRANT: &str = "insert into v1_grants (resource_type_id, resource_id, entitlement_id, \
    principal_resource_type_id, principal_resource_id, external_id, expansion, needs_expansion, data, \
    sync_id, discovered_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
    on conflict (external_id, sync_id) do update set ";

/// baton's Replace rule: only `data` and the expansion columns change; `needs_expansion`
/// is recomputed from the old and new expansion bytes.
const ON_CONFLICT_REPLACE: &str = "data = excluded.data, expansion = excluded.expansion, \
    needs_expansion = case \
      when excluded.expansion is null or length(excluded.expansion) = 0 then 0 \
      when v1_grants.expansion is null then 1 \
      when v1_grants.expansion != excluded.expansion then 1 \
      else v1_grants.needs_expansion end";

const ON_CONFLICT_PRESERVE: &str = "data = excluded.data";

fn id_parts(id: Option<&crate::pb::c1::connector::v2::ResourceId>) -> (&str, &str) {
    id.map_or(("", ""), |i| {
        (i.resource_type.as_str(), i.resource.as_str())
    })
}

/// Connector grants a store takes before it considers deferring index builds.
const DEFER_AFTER_GRANTS: u64 = 50_000;

/// Bytes a row adds beyond its blob (identity columns, index entries), roughly.
const ROW_OVERHEAD: usize = 256;

impl SqliteStore {
    /// Runs `sql` once per row in one transaction (the call is atomic), binding each row
    /// with `bind`, then records the write. `size` estimates a row's stored bytes, so an
    /// in-memory database that this call would take past its limit moves to disk first.
    fn upsert_rows<T>(
        &self,
        operation: &'static str,
        sql: &str,
        rows: &[T],
        size: impl Fn(&T) -> usize,
        mut bind: impl FnMut(&mut rusqlite::CachedStatement<'_>, &T) -> rusqlite::Result<usize>,
    ) -> Result<()> {
        let incoming = || rows.iter().map(|r| (size(r) + ROW_OVERHEAD) as u64).sum();
        let conn = self.writable_for(operation, incoming)?;
        let tx = conn.unchecked_transaction().map_err(SqliteError::from)?;
        {
            let mut stmt = tx.prepare_cached(sql).map_err(SqliteError::from)?;
            for row in rows {
                bind(&mut stmt, row).map_err(SqliteError::from)?;
            }
        }
        tx.commit().map_err(SqliteError::from)?;
        self.touched();
        Ok(())
    }
}

impl SqliteStore {
    /// Grants in their stored encoding, upserted with the `PreserveExpansion` rule.
    fn put_encoded_grants(&self, sync: &SyncId, rows: &[EncodedGrant]) -> Result<()> {
        // Expansion stamps a destination's grants with one time: format it once per run
        // of equal times, not per row.
        let mut stamp: Option<(chrono::NaiveDateTime, String)> = None;
        self.upsert_rows(
            "write grants",
            &format!("{INSERT_GRANT}{ON_CONFLICT_PRESERVE}"),
            rows,
            |r| r.data.len(),
            |stmt, r| {
                if stamp.as_ref().is_none_or(|(t, _)| *t != r.discovered_at) {
                    stamp = Some((r.discovered_at, wall::format(&r.discovered_at)));
                }
                let text = stamp.as_ref().map_or("", |(_, s)| s.as_str());
                stmt.execute(params![
                    r.entitlement.resource_type_id,
                    r.entitlement.resource_id,
                    r.entitlement.id,
                    r.principal.resource_type,
                    r.principal.resource,
                    r.id,
                    None::<Vec<u8>>,
                    0_i64,
                    r.data,
                    sync.as_str(),
                    text
                ])
            },
        )
    }

    /// Ends a live bulk grant load: rebuilds the grant indexes it dropped (a no-op without
    /// one).
    pub(crate) fn end_bulk_load(&self) -> Result<()> {
        self.bulk_live.store(false, Ordering::Release);
        if !self.bulk_active.load(Ordering::Acquire) {
            return Ok(());
        }
        let conn = self.conn();
        for (_, ddl) in super::schema::DEFERRABLE_GRANT_INDEXES {
            conn.execute_batch(ddl).map_err(SqliteError::from)?;
        }
        self.bulk_active.store(false, Ordering::Release);
        self.connector_grants.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Drops the deferrable grant indexes unless they are dropped already.
    fn defer_grant_indexes(&self, conn: &rusqlite::Connection) -> Result<()> {
        if self.bulk_active.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        for (name, _) in super::schema::DEFERRABLE_GRANT_INDEXES {
            if let Err(e) = conn.execute_batch(&format!("drop index if exists {name}")) {
                // Rebuilt (from whatever is left) on the next end of the load.
                return Err(SqliteError::from(e).into());
            }
        }
        Ok(())
    }

    /// After a connector wrote `written` more grants: once a sync's writes are large next
    /// to the table, the three deferrable indexes are dropped and built once, sorted, at
    /// the save (a B-tree insert per grant into each, in random key order, cost more than
    /// half of a connector write). Reads meanwhile stay correct, without those indexes.
    fn maybe_defer_for_connector(&self, written: usize) -> Result<()> {
        let total = self
            .connector_grants
            .fetch_add(written as u64, Ordering::Relaxed)
            + written as u64;
        if total < DEFER_AFTER_GRANTS || self.bulk_active.load(Ordering::Acquire) {
            return Ok(());
        }
        let conn = self.conn();
        let rows: i64 = conn
            .query_row("select coalesce(max(rowid), 0) from v1_grants", [], |r| {
                r.get(0)
            })
            .map_err(SqliteError::from)?;
        // A small write into a large file keeps its indexes: rebuilding them would cost
        // more than the inserts.
        if total.saturating_mul(4) >= u64::try_from(rows).unwrap_or(0) {
            self.defer_grant_indexes(&conn)?;
        }
        Ok(())
    }
}

impl SqliteStore {
    /// Checks the database with SQLite's `integrity_check` (every index agrees with its
    /// table, every page is well formed).
    ///
    /// # Errors
    /// [`Error::Corrupt`] with SQLite's first complaint; engine errors.
    pub fn check_consistency(&self) -> Result<()> {
        let conn = self.conn();
        let verdict: String = conn
            .query_row("PRAGMA integrity_check(1)", [], |r| r.get(0))
            .map_err(SqliteError::from)?;
        if verdict == "ok" {
            Ok(())
        } else {
            Err(Error::corrupt("sqlite database", verdict))
        }
    }
}

/// The bulk grant load of a SQLite store: its grants are written at once (nothing is held
/// back); three grant indexes wait for the end.
struct SqliteBulk<'a>(&'a SqliteStore);

impl BulkGrantOps for SqliteBulk<'_> {
    fn put_encoded_grants(&self, sync: &SyncId, rows: &[EncodedGrant]) -> Result<()> {
        self.0.put_encoded_grants(sync, rows)
    }

    fn end(&self) -> Result<()> {
        self.0.end_bulk_load()
    }
}

impl Writer for SqliteStore {
    fn put_sync_run(&self, run: &SyncRun) -> Result<()> {
        let conn = self.writable("write a sync run")?;
        conn.execute(
            "insert into v1_sync_runs (sync_id, started_at, ended_at, sync_token, sync_type, \
             parent_sync_id, linked_sync_id, supports_diff, grants_backfilled, stats, \
             ingest_invariant_generation, ingest_invariant_coverage, ingest_invariant_mode) \
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?10, ?11, ?12) \
             on conflict (sync_id) do update set started_at = excluded.started_at, \
             ended_at = excluded.ended_at, sync_token = excluded.sync_token, \
             sync_type = excluded.sync_type, parent_sync_id = excluded.parent_sync_id, \
             linked_sync_id = excluded.linked_sync_id, supports_diff = excluded.supports_diff, \
             stats = excluded.stats, \
             ingest_invariant_generation = excluded.ingest_invariant_generation, \
             ingest_invariant_coverage = excluded.ingest_invariant_coverage, \
             ingest_invariant_mode = excluded.ingest_invariant_mode",
            params![
                run.id.as_str(),
                wall::format(&run.started_at),
                run.ended_at.as_ref().map(wall::format),
                run.sync_token,
                run.sync_type,
                run.parent_sync_id.as_ref().map_or("", SyncId::as_str),
                run.linked_sync_id.as_ref().map_or("", SyncId::as_str),
                i64::from(run.supports_diff),
                run.stats,
                run.ingest_invariant.generation,
                run.ingest_invariant.coverage,
                run.ingest_invariant.mode,
            ],
        )
        .map_err(SqliteError::from)?;
        self.touched();
        Ok(())
    }

    fn delete_sync_run(&self, id: &SyncId) -> Result<()> {
        let conn = self.writable("delete a sync run")?;
        let tx = conn.unchecked_transaction().map_err(SqliteError::from)?;
        for table in SYNC_TABLES {
            tx.execute(
                &format!("delete from {table} where sync_id = ?1"),
                [id.as_str()],
            )
            .map_err(SqliteError::from)?;
        }
        tx.execute("delete from v1_sync_runs where sync_id = ?1", [id.as_str()])
            .map_err(SqliteError::from)?;
        tx.commit().map_err(SqliteError::from)?;
        self.touched();
        Ok(())
    }

    fn put_resource_types(&self, sync: &SyncId, rows: &[Record<ResourceType>]) -> Result<()> {
        self.upsert_rows(
            "write resource types",
            "insert into v1_resource_types (external_id, data, sync_id, discovered_at) \
             values (?1, ?2, ?3, ?4) on conflict (external_id, sync_id) do update set data = excluded.data",
            rows,
            |r| r.value.encoded_len(),
            |stmt, r| {
                stmt.execute(params![
                    r.value.id,
                    r.value.encode_to_vec(),
                    sync.as_str(),
                    wall::format(&r.discovered_at)
                ])
            },
        )
    }

    fn put_resources(&self, sync: &SyncId, rows: &[Record<Resource>]) -> Result<()> {
        self.upsert_rows(
            "write resources",
            "insert into v1_resources (resource_type_id, external_id, parent_resource_type_id, \
             parent_resource_id, data, sync_id, discovered_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             on conflict (external_id, sync_id) do update set data = excluded.data",
            rows,
            |r| r.value.encoded_len(),
            |stmt, r| {
                let (rt, id) = id_parts(r.value.id.as_ref());
                let parent = r.value.parent_resource_id.as_ref();
                stmt.execute(params![
                    rt,
                    format!("{rt}:{id}"),
                    parent.map(|p| p.resource_type.as_str()),
                    parent.map(|p| p.resource.as_str()),
                    r.value.encode_to_vec(),
                    sync.as_str(),
                    wall::format(&r.discovered_at)
                ])
            },
        )
    }

    fn put_entitlements(&self, sync: &SyncId, rows: &[Record<Entitlement>]) -> Result<()> {
        self.upsert_rows(
            "write entitlements",
            "insert into v1_entitlements (resource_type_id, resource_id, external_id, data, sync_id, \
             discovered_at) values (?1, ?2, ?3, ?4, ?5, ?6) \
             on conflict (external_id, sync_id) do update set data = excluded.data",
            rows,
            |r| r.value.encoded_len(),
            |stmt, r| {
                let (rt, id) = id_parts(r.value.resource.as_ref().and_then(|res| res.id.as_ref()));
                stmt.execute(params![
                    rt,
                    id,
                    r.value.id,
                    r.value.encode_to_vec(),
                    sync.as_str(),
                    wall::format(&r.discovered_at)
                ])
            },
        )
    }

    fn put_grants(&self, sync: &SyncId, rows: &[GrantRecord], mode: GrantUpsertMode) -> Result<()> {
        if mode == GrantUpsertMode::Replace {
            self.state.check("write grants")?;
            self.maybe_defer_for_connector(rows.len())?;
        }
        let on_conflict = match mode {
            GrantUpsertMode::Replace => ON_CONFLICT_REPLACE,
            GrantUpsertMode::PreserveExpansion => ON_CONFLICT_PRESERVE,
        };
        self.upsert_rows(
            "write grants",
            &format!("{INSERT_GRANT}{on_conflict}"),
            rows,
            |r| r.grant.encoded_len(),
            |stmt, r| {
                let g = &r.grant;
                let ent = g.entitlement.as_ref();
                let (rt, rid) = id_parts(
                    ent.and_then(|e| e.resource.as_ref())
                        .and_then(|res| res.id.as_ref()),
                );
                let (pt, pid) = id_parts(g.principal.as_ref().and_then(|p| p.id.as_ref()));
                stmt.execute(params![
                    rt,
                    rid,
                    ent.map_or("", |e| e.id.as_str()),
                    pt,
                    pid,
                    g.id,
                    r.expansion.as_ref().map(Message::encode_to_vec),
                    i64::from(r.needs_expansion),
                    codec::encode_grant(g),
                    sync.as_str(),
                    wall::format(&r.discovered_at)
                ])
            },
        )
    }

    fn delete_grant(&self, sync: &SyncId, grant_id: &str) -> Result<bool> {
        let conn = self.writable("delete a grant")?;
        let n = conn
            .execute(
                "delete from v1_grants where external_id = ?1 and sync_id = ?2",
                params![grant_id, sync.as_str()],
            )
            .map_err(SqliteError::from)?;
        if n > 0 {
            self.touched();
        }
        Ok(n > 0)
    }

    fn put_asset(&self, sync: &SyncId, asset: &Asset) -> Result<()> {
        let conn = self.writable_for("write an asset", || asset.data.len() as u64)?;
        conn.execute(
            "insert into v1_assets (external_id, content_type, data, sync_id, discovered_at) \
             values (?1, ?2, ?3, ?4, ?5) on conflict (external_id, sync_id) do update set data = excluded.data",
            params![asset.id, asset.content_type, asset.data, sync.as_str(), wall::format(&asset.discovered_at)],
        ).map_err(SqliteError::from)?;
        self.touched();
        Ok(())
    }

    fn bulk_grants(&self) -> Result<GrantBulkLoad<'_>> {
        let conn = self.writable("write grants")?;
        if self.bulk_live.swap(true, Ordering::AcqRel) {
            return Err(Error::InvalidArgument(
                "a bulk grant load of this store is already live".into(),
            ));
        }
        // Expansion never reads these three: one sorted build at the end beats a B-tree
        // insert per grant into each.
        if let Err(e) = self.defer_grant_indexes(&conn) {
            drop(conn);
            let _ = self.end_bulk_load();
            return Err(e);
        }
        Ok(GrantBulkLoad::new(Box::new(SqliteBulk(self))))
    }

    fn compact(&self) -> Result<()> {
        let conn = self.writable("compact")?;
        conn.execute_batch("VACUUM").map_err(SqliteError::from)?;
        self.touched();
        Ok(())
    }
}
