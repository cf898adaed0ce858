//! baton's v1 schema, verbatim, and the migrations baton runs on older files.
//!
//! Table and index names, column names, declared types, defaults and even the swapped
//! index names on `v1_resources` are exactly baton-sdk v0.25.0's: baton creates indexes
//! with `IF NOT EXISTS` by name, so a "fixed" name would make it skip the unique index its
//! upserts rely on.

use rusqlite::{Connection, params};

use super::error::SqliteError;
use crate::codec;
use crate::error::Result;
use crate::pb::c1::connector::v2::Grant;

/// One table's DDL block, in baton's creation order.
const TABLES: [(&str, &str); 7] = [
    (
        "v1_resource_types",
        "create table if not exists v1_resource_types (
    id integer primary key,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create unique index if not exists idx_resource_types_external_sync_v1 on v1_resource_types (external_id, sync_id);",
    ),
    (
        "v1_resources",
        "create table if not exists v1_resources (
    id integer primary key,
    resource_type_id text not null,
    external_id text not null,
\tparent_resource_type_id text,
\tparent_resource_id text,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create index if not exists idx_resources_resource_type_id_v1 on v1_resources (resource_type_id);
create index if not exists idx_resources_external_sync_v1 on v1_resources (parent_resource_type_id, parent_resource_id);
create unique index if not exists idx_resources_parent_resource_id_v1 on v1_resources (external_id, sync_id);",
    ),
    (
        "v1_entitlements",
        "create table if not exists v1_entitlements (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create index if not exists idx_entitlements_resource_id_v1 on v1_entitlements (resource_type_id, resource_id);
create unique index if not exists idx_entitlements_external_sync_v1 on v1_entitlements (external_id, sync_id);",
    ),
    (
        "v1_sync_runs",
        "create table if not exists v1_sync_runs (
    id integer primary key,
    sync_id text not null,
    started_at datetime not null,
    ended_at datetime,
    sync_token text not null,
    sync_type text not null default 'full',
    parent_sync_id text not null default '',
    linked_sync_id text not null default '',
    supports_diff integer not null default 0,
    grants_backfilled integer not null default 0,
\t\tstats text,
    ingest_invariant_generation text not null default '',
    ingest_invariant_coverage text not null default '',
    ingest_invariant_mode text not null default ''
);
create unique index if not exists idx_sync_runs_sync_id_v1 on v1_sync_runs (sync_id);",
    ),
    (
        "v1_grants",
        "create table if not exists v1_grants (
    id integer primary key,
\tresource_type_id text not null,
    resource_id text not null,
    entitlement_id text not null,
    principal_resource_type_id text not null,
    principal_resource_id text not null,
    external_id text not null,
    expansion blob,                             -- Serialized GrantExpandable proto; NULL if grant is not expandable.
    needs_expansion integer not null default 0, -- 1 if grant should be processed during expansion.
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create index if not exists idx_grants_resource_type_id_resource_id_v1 on v1_grants (resource_type_id, resource_id);
create index if not exists idx_grants_principal_id_v1 on v1_grants (principal_resource_type_id, principal_resource_id);
create index if not exists idx_grants_entitlement_id_principal_id_v1 on v1_grants (entitlement_id, principal_resource_type_id, principal_resource_id);
create unique index if not exists idx_grants_external_sync_v1 on v1_grants (external_id, sync_id);
create index if not exists idx_grants_entitlement_sync_grant_v1 on v1_grants (entitlement_id, sync_id, id);",
    ),
    (
        "v1_assets",
        "create table if not exists v1_assets (
    id integer primary key,
    external_id text not null,
    content_type text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create unique index if not exists idx_assets_external_sync_v1 on v1_assets (external_id, sync_id);",
    ),
    (
        "v1_connector_sessions",
        "CREATE TABLE IF NOT EXISTS v1_connector_sessions (
    id integer primary key,
\tsync_id text NOT NULL,
\tkey TEXT NOT NULL,
\tvalue BLOB NOT NULL
);
create unique index if not exists idx_session_store_sync_key_v1 on v1_connector_sessions (sync_id, key);",
    ),
];

/// Grant indexes that grant expansion never reads: dropped during a bulk phase and rebuilt
/// afterwards with the very same DDL (one sorted build instead of a B-tree insert per row).
pub(super) const DEFERRABLE_GRANT_INDEXES: [(&str, &str); 3] = [
    (
        "idx_grants_resource_type_id_resource_id_v1",
        "create index if not exists idx_grants_resource_type_id_resource_id_v1 on v1_grants (resource_type_id, resource_id);",
    ),
    (
        "idx_grants_principal_id_v1",
        "create index if not exists idx_grants_principal_id_v1 on v1_grants (principal_resource_type_id, principal_resource_id);",
    ),
    (
        "idx_grants_entitlement_id_principal_id_v1",
        "create index if not exists idx_grants_entitlement_id_principal_id_v1 on v1_grants (entitlement_id, principal_resource_type_id, principal_resource_id);",
    ),
];

/// Columns added to `v1_sync_runs` after its first release, in migration order.
const SYNC_RUN_COLUMNS: [(&str, &str); 9] = [
    ("sync_type", "text not null default 'full'"),
    ("parent_sync_id", "text not null default ''"),
    ("linked_sync_id", "text not null default ''"),
    ("supports_diff", "integer not null default 0"),
    ("grants_backfilled", "integer not null default 0"),
    ("stats", "text"),
    ("ingest_invariant_generation", "text not null default ''"),
    ("ingest_invariant_coverage", "text not null default ''"),
    ("ingest_invariant_mode", "text not null default ''"),
];

const GRANT_PARTIAL_INDEXES: &str = "
create index if not exists idx_grants_sync_expansion_v1 on v1_grants (sync_id) where expansion is not null;
create index if not exists idx_grants_sync_needs_expansion_v1 on v1_grants (sync_id) where needs_expansion = 1;";

/// Rows per backfill transaction (baton's page size).
const BACKFILL_PAGE: i64 = 1000;

fn columns(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({table})"))
        .map_err(SqliteError::from)?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(1))
        .map_err(SqliteError::from)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(SqliteError::from)?;
    Ok(names)
}

fn add_missing(conn: &Connection, table: &str, wanted: &[(&str, &str)]) -> Result<()> {
    let have = columns(conn, table)?;
    for (name, decl) in wanted {
        if !have.iter().any(|c| c == name) {
            conn.execute_batch(&format!("alter table {table} add column {name} {decl}"))
                .map_err(SqliteError::from)?;
        }
    }
    Ok(())
}

/// Creates missing tables and indexes and migrates old schemas, as baton does on every
/// open. Returns whether the schema changed.
pub(super) fn init(conn: &Connection) -> Result<bool> {
    let before: i64 = conn
        .query_row("PRAGMA schema_version", [], |r| r.get(0))
        .map_err(SqliteError::from)?;
    for (table, ddl) in TABLES {
        conn.execute_batch(ddl).map_err(SqliteError::from)?;
        match table {
            "v1_sync_runs" => add_missing(conn, table, &SYNC_RUN_COLUMNS)?,
            "v1_grants" => {
                add_missing(
                    conn,
                    table,
                    &[
                        ("expansion", "blob"),
                        ("needs_expansion", "integer not null default 0"),
                    ],
                )?;
                conn.execute_batch(GRANT_PARTIAL_INDEXES)
                    .map_err(SqliteError::from)?;
                backfill_expansion(conn)?;
            }
            _ => {}
        }
    }
    let after: i64 = conn
        .query_row("PRAGMA schema_version", [], |r| r.get(0))
        .map_err(SqliteError::from)?;
    Ok(after != before)
}

/// Moves `GrantExpandable` annotations of syncs not yet backfilled out of the grant blobs
/// into the `expansion` column (baton's grant-expansion backfill).
fn backfill_expansion(conn: &Connection) -> Result<()> {
    let pending: i64 = conn
        .query_row(
            "select count(*) from v1_sync_runs where grants_backfilled = 0",
            [],
            |r| r.get(0),
        )
        .map_err(SqliteError::from)?;
    if pending == 0 {
        return Ok(());
    }
    let mut last_id = 0i64;
    loop {
        let tx = conn.unchecked_transaction().map_err(SqliteError::from)?;
        let rows: Vec<(i64, Vec<u8>)> = {
            let mut stmt = tx
                .prepare_cached(
                    "select id, data from v1_grants where expansion is null and sync_id in \
                 (select sync_id from v1_sync_runs where grants_backfilled = 0) \
                 and id > ?1 order by id limit ?2",
                )
                .map_err(SqliteError::from)?;
            stmt.query_map(params![last_id, BACKFILL_PAGE], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(SqliteError::from)?
            .collect::<Result<_, _>>()
            .map_err(SqliteError::from)?
        };
        let Some(&(page_last, _)) = rows.last() else {
            tx.commit().map_err(SqliteError::from)?;
            break;
        };
        let mut update = tx.prepare_cached(
            "update v1_grants set expansion = ?2, needs_expansion = ?3, data = ?4 where id = ?1",
        ).map_err(SqliteError::from)?;
        // Rows without a usable annotation stay as they are (expansion null): the id
        // cursor, not a sentinel value, marks them done.
        for (id, data) in rows {
            if !codec::may_hold_expandable(&data) {
                continue;
            }
            // An undecodable blob is left alone: reads will report it, the open must not fail.
            let Ok(mut grant) = codec::decode::<Grant>("grant", &data) else {
                continue;
            };
            if let Ok(Some(e)) = codec::take_expandable(&mut grant)
                && codec::is_usable_expansion(&e)
            {
                let expansion = prost::Message::encode_to_vec(&e);
                update
                    .execute(params![id, expansion, 1, codec::encode_grant(&grant)])
                    .map_err(SqliteError::from)?;
            }
        }
        drop(update);
        tx.commit().map_err(SqliteError::from)?;
        last_id = page_last;
    }
    let tx = conn.unchecked_transaction().map_err(SqliteError::from)?;
    tx.execute(
        "update v1_grants set expansion = null where expansion = X''",
        [],
    )
    .map_err(SqliteError::from)?;
    tx.execute(
        "update v1_sync_runs set grants_backfilled = 1 where grants_backfilled = 0",
        [],
    )
    .map_err(SqliteError::from)?;
    tx.commit().map_err(SqliteError::from)?;
    Ok(())
}
