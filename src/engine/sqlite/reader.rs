//! Reads: gets, paged lists (decimal row-id tokens, as baton), counts.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{OptionalExtension, Row, params_from_iter};

use super::error::SqliteError;
use super::{ENGINE, SqliteStore};
use crate::codec;
use crate::error::{Error, Result};
use crate::model::{
    Asset, GrantRecord, IngestInvariant, Record, ResourceKey, SyncId, SyncRun, wall,
};
use crate::pb::c1::connector::v2::{Entitlement, Grant, Resource, ResourceType};
use crate::store::{
    AssetQuery, DefaultSync, EntitlementQuery, GrantQuery, ObjectCounts, Page, PageRequest, Reader,
    ResourceQuery, ResourceTypeQuery, StoreMetadata, StoredGrant, SyncSelector,
};

/// A WHERE clause under construction.
#[derive(Default)]
struct Filter {
    terms: Vec<String>,
    args: Vec<Value>,
}

impl Filter {
    fn eq(&mut self, column: &str, value: impl Into<String>) {
        self.args.push(Value::Text(value.into()));
        self.terms.push(format!("{column} = ?{}", self.args.len()));
    }

    fn sync(&mut self, sync: Option<&SyncId>) {
        if let Some(s) = sync {
            self.eq("sync_id", s.as_str());
        }
    }

    fn raw(&mut self, term: &str) {
        self.terms.push(term.to_owned());
    }

    fn any_of(&mut self, column: &str, values: &[String]) {
        let mut marks = Vec::with_capacity(values.len());
        for v in values {
            self.args.push(Value::Text(v.clone()));
            marks.push(format!("?{}", self.args.len()));
        }
        self.terms
            .push(format!("{column} in ({})", marks.join(", ")));
    }

    fn clause(&self) -> String {
        if self.terms.is_empty() {
            String::new()
        } else {
            format!("where {}", self.terms.join(" and "))
        }
    }
}

/// Text of a `datetime` or text column, whatever its storage class.
fn text(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Null => String::new(),
    }
}

pub(super) fn parse_time(what: &'static str, s: &str) -> Result<NaiveDateTime> {
    wall::parse(s).ok_or_else(|| Error::corrupt(what, format!("unparseable timestamp '{s}'")))
}

fn page_start(page: &PageRequest) -> Result<i64> {
    if page.token.is_empty() {
        return Ok(0);
    }
    page.token
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| Error::InvalidArgument(format!("invalid page token '{}'", page.token)))
}

/// Raw columns of a grant row, decoded outside the SQLite callback.
struct GrantRow {
    resource_type_id: String,
    resource_id: String,
    entitlement_id: String,
    principal_type: String,
    principal_id: String,
    expansion: Option<Vec<u8>>,
    needs_expansion: bool,
    data: Vec<u8>,
    discovered_at: String,
}

const GRANT_COLUMNS: &str = "resource_type_id, resource_id, entitlement_id, \
    principal_resource_type_id, principal_resource_id, expansion, needs_expansion, data, discovered_at";

fn grant_row(r: &Row<'_>, at: usize) -> rusqlite::Result<GrantRow> {
    Ok(GrantRow {
        resource_type_id: text(r.get_ref(at)?),
        resource_id: text(r.get_ref(at + 1)?),
        entitlement_id: text(r.get_ref(at + 2)?),
        principal_type: text(r.get_ref(at + 3)?),
        principal_id: text(r.get_ref(at + 4)?),
        expansion: r.get(at + 5)?,
        needs_expansion: r.get::<_, Option<i64>>(at + 6)?.unwrap_or(0) != 0,
        data: r.get(at + 7)?,
        discovered_at: text(r.get_ref(at + 8)?),
    })
}

/// The `where` terms of a grant query.
fn grant_filter(query: &GrantQuery, sync: Option<&SyncId>) -> Filter {
    let mut f = Filter::default();
    if let Some(e) = &query.entitlement_id {
        f.eq("entitlement_id", e.as_str());
    }
    f.sync(sync);
    if let Some(p) = &query.principal {
        f.eq("principal_resource_type_id", p.resource_type.as_str());
        f.eq("principal_resource_id", p.resource.as_str());
    }
    if !query.principal_resource_type_ids.is_empty() {
        f.any_of(
            "principal_resource_type_id",
            &query.principal_resource_type_ids,
        );
    }
    if let Some(r) = &query.resource {
        f.eq("resource_type_id", r.resource_type.as_str());
        f.eq("resource_id", r.resource.as_str());
    }
    if let Some(t) = &query.resource_type_id {
        f.eq("resource_type_id", t.as_str());
    }
    if query.needs_expansion {
        f.raw("needs_expansion = 1");
    }
    f
}

impl GrantRow {
    fn decode(self) -> Result<GrantRecord> {
        let mut grant: Grant = codec::decode("grant", &self.data)?;
        codec::hydrate_grant(
            &mut grant,
            &codec::GrantIdentity {
                resource_type_id: &self.resource_type_id,
                resource_id: &self.resource_id,
                entitlement_id: &self.entitlement_id,
                principal_type: &self.principal_type,
                principal_id: &self.principal_id,
            },
        );
        let expansion = match self.expansion {
            Some(bytes) if !bytes.is_empty() => Some(codec::decode("grant expansion", &bytes)?),
            _ => None,
        };
        Ok(GrantRecord {
            grant,
            expansion,
            needs_expansion: self.needs_expansion,
            discovered_at: parse_time("grant discovered_at", &self.discovered_at)?,
        })
    }
}

fn record<T: prost::Message + Default>(
    what: &'static str,
    data: &[u8],
    discovered_at: &str,
) -> Result<Record<T>> {
    Ok(Record {
        value: codec::decode(what, data)?,
        discovered_at: parse_time(what, discovered_at)?,
    })
}

const SYNC_RUN_COLUMNS: &str = "sync_id, started_at, ended_at, sync_token, sync_type, parent_sync_id, \
    linked_sync_id, supports_diff, stats, ingest_invariant_generation, ingest_invariant_coverage, \
    ingest_invariant_mode";

type RawSyncRun = (
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    [String; 3],
);

fn sync_run_row(r: &Row<'_>, at: usize) -> rusqlite::Result<RawSyncRun> {
    let ended = r.get_ref(at + 2)?;
    Ok((
        text(r.get_ref(at)?),
        text(r.get_ref(at + 1)?),
        if matches!(ended, ValueRef::Null) {
            None
        } else {
            Some(text(ended))
        },
        text(r.get_ref(at + 3)?),
        text(r.get_ref(at + 4)?),
        text(r.get_ref(at + 5)?),
        text(r.get_ref(at + 6)?),
        r.get::<_, Option<i64>>(at + 7)?.unwrap_or(0),
        r.get(at + 8)?,
        [
            text(r.get_ref(at + 9)?),
            text(r.get_ref(at + 10)?),
            text(r.get_ref(at + 11)?),
        ],
    ))
}

fn decode_sync_run(raw: RawSyncRun) -> Result<SyncRun> {
    let (
        id,
        started,
        ended,
        token,
        ty,
        parent,
        linked,
        supports_diff,
        stats,
        [generation, coverage, mode],
    ) = raw;
    Ok(SyncRun {
        id: SyncId::new(id),
        sync_type: ty,
        started_at: parse_time("sync run started_at", &started)?,
        ended_at: ended
            .map(|e| parse_time("sync run ended_at", &e))
            .transpose()?,
        sync_token: token,
        parent_sync_id: SyncId::non_empty(parent),
        linked_sync_id: SyncId::non_empty(linked),
        supports_diff: supports_diff != 0,
        stats,
        ingest_invariant: IngestInvariant {
            generation,
            coverage,
            mode,
        },
    })
}

impl SqliteStore {
    /// Runs a paged `select id, <columns> from <table> <filter> order by id`.
    fn page<R>(
        &self,
        table: &str,
        columns: &str,
        mut filter: Filter,
        page: &PageRequest,
        map: impl Fn(&Row<'_>) -> rusqlite::Result<R>,
    ) -> Result<(Vec<R>, String)> {
        let size = page.effective_size();
        let start = page_start(page)?;
        if start > 0 {
            filter.args.push(Value::Integer(start));
            filter.terms.push(format!("id >= ?{}", filter.args.len()));
        }
        let sql = format!(
            "select id, {columns} from {table} {} order by id limit {}",
            filter.clause(),
            u64::from(size) + 1
        );
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql).map_err(SqliteError::from)?;
        let mut rows = stmt
            .query(params_from_iter(filter.args.iter()))
            .map_err(SqliteError::from)?;
        let mut out = Vec::new();
        let mut last_id = 0i64;
        let mut more = false;
        while let Some(row) = rows.next().map_err(SqliteError::from)? {
            if out.len() == size as usize {
                more = true;
                break;
            }
            last_id = row.get(0).map_err(SqliteError::from)?;
            out.push(map(row).map_err(SqliteError::from)?);
        }
        let token = if more {
            (last_id + 1).to_string()
        } else {
            String::new()
        };
        Ok((out, token))
    }

    fn first<R>(
        &self,
        table: &str,
        columns: &str,
        filter: &Filter,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<R>,
    ) -> Result<Option<R>> {
        let sql = format!(
            "select {columns} from {table} {} order by id limit 1",
            filter.clause()
        );
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql).map_err(SqliteError::from)?;
        Ok(stmt
            .query_row(params_from_iter(filter.args.iter()), map)
            .optional()
            .map_err(SqliteError::from)?)
    }

    fn group_counts(&self, table: &str, sync: &SyncId) -> Result<BTreeMap<String, u64>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "select resource_type_id, count(*) from {table} where sync_id = ?1 group by resource_type_id"
        )).map_err(SqliteError::from)?;
        let rows = stmt
            .query_map([sync.as_str()], |r| {
                Ok((text(r.get_ref(0)?), r.get::<_, i64>(1)?))
            })
            .map_err(SqliteError::from)?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (k, n) = row.map_err(SqliteError::from)?;
            out.insert(k, u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }
}

impl Reader for SqliteStore {
    fn metadata(&self) -> StoreMetadata {
        StoreMetadata {
            engine: ENGINE,
            format: crate::format::Format::V1,
            engine_version: 0,
            read_only: self.state().is_read_only(),
        }
    }

    fn sync_run(&self, id: &SyncId) -> Result<Option<SyncRun>> {
        let mut f = Filter::default();
        f.eq("sync_id", id.as_str());
        self.first("v1_sync_runs", SYNC_RUN_COLUMNS, &f, |r| sync_run_row(r, 0))?
            .map(decode_sync_run)
            .transpose()
    }

    fn list_sync_runs(&self, page: &PageRequest) -> Result<Page<SyncRun>> {
        let (rows, next) = self.page(
            "v1_sync_runs",
            SYNC_RUN_COLUMNS,
            Filter::default(),
            page,
            |r| sync_run_row(r, 1),
        )?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(decode_sync_run)
                .collect::<Result<_>>()?,
            next_page_token: next,
        })
    }

    fn resource_type(
        &self,
        selector: &SyncSelector,
        id: &str,
    ) -> Result<Option<Record<ResourceType>>> {
        selector.read(self, DefaultSync::LatestAny, |sync| {
            let mut f = Filter::default();
            f.eq("external_id", id);
            f.sync(sync);
            self.first("v1_resource_types", "data, discovered_at", &f, |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, text(r.get_ref(1)?)))
            })?
            .map(|(d, t)| record("resource type", &d, &t))
            .transpose()
        })
    }

    fn resource(
        &self,
        selector: &SyncSelector,
        key: &ResourceKey,
    ) -> Result<Option<Record<Resource>>> {
        selector.read(self, DefaultSync::LatestFull, |sync| {
            let mut f = Filter::default();
            f.eq("resource_type_id", key.resource_type.as_str());
            f.eq("external_id", key.external_id());
            f.sync(sync);
            self.first("v1_resources", "data, discovered_at", &f, |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, text(r.get_ref(1)?)))
            })?
            .map(|(d, t)| record("resource", &d, &t))
            .transpose()
        })
    }

    fn entitlement(
        &self,
        selector: &SyncSelector,
        id: &str,
    ) -> Result<Option<Record<Entitlement>>> {
        selector.read(self, DefaultSync::LatestAny, |sync| {
            let mut f = Filter::default();
            f.eq("external_id", id);
            f.sync(sync);
            self.first("v1_entitlements", "data, discovered_at", &f, |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, text(r.get_ref(1)?)))
            })?
            .map(|(d, t)| record("entitlement", &d, &t))
            .transpose()
        })
    }

    fn grant(&self, selector: &SyncSelector, id: &str) -> Result<Option<GrantRecord>> {
        selector.read(self, DefaultSync::LatestAny, |sync| {
            let mut f = Filter::default();
            f.eq("external_id", id);
            f.sync(sync);
            self.first("v1_grants", GRANT_COLUMNS, &f, |r| grant_row(r, 0))?
                .map(GrantRow::decode)
                .transpose()
        })
    }

    fn asset(&self, selector: &SyncSelector, id: &str) -> Result<Option<Asset>> {
        selector.read(self, DefaultSync::LatestAny, |sync| {
            let mut f = Filter::default();
            f.eq("external_id", id);
            f.sync(sync);
            let row = self.first(
                "v1_assets",
                "external_id, content_type, data, discovered_at",
                &f,
                |r| {
                    Ok((
                        text(r.get_ref(0)?),
                        text(r.get_ref(1)?),
                        r.get::<_, Vec<u8>>(2)?,
                        text(r.get_ref(3)?),
                    ))
                },
            )?;
            row.map(|(id, content_type, data, t)| {
                Ok(Asset {
                    id,
                    content_type,
                    data,
                    discovered_at: parse_time("asset discovered_at", &t)?,
                })
            })
            .transpose()
        })
    }

    fn list_resource_types(
        &self,
        query: &ResourceTypeQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<ResourceType>>> {
        query.sync.read(self, DefaultSync::LatestFull, |sync| {
            let mut f = Filter::default();
            f.sync(sync);
            let (rows, next) =
                self.page("v1_resource_types", "data, discovered_at", f, page, |r| {
                    Ok((r.get::<_, Vec<u8>>(1)?, text(r.get_ref(2)?)))
                })?;
            let items = rows
                .iter()
                .map(|(d, t)| record("resource type", d, t))
                .collect::<Result<_>>()?;
            Ok(Page {
                items,
                next_page_token: next,
            })
        })
    }

    fn list_resources(
        &self,
        query: &ResourceQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<Resource>>> {
        query.sync.read(self, DefaultSync::LatestFull, |sync| {
            let mut f = Filter::default();
            f.sync(sync);
            if let Some(t) = &query.resource_type_id {
                f.eq("resource_type_id", t.as_str());
            }
            if let Some(p) = &query.parent {
                f.eq("parent_resource_type_id", p.resource_type.as_str());
                f.eq("parent_resource_id", p.resource.as_str());
            }
            let (rows, next) = self.page("v1_resources", "data, discovered_at", f, page, |r| {
                Ok((r.get::<_, Vec<u8>>(1)?, text(r.get_ref(2)?)))
            })?;
            let items = rows
                .iter()
                .map(|(d, t)| record("resource", d, t))
                .collect::<Result<_>>()?;
            Ok(Page {
                items,
                next_page_token: next,
            })
        })
    }

    fn list_entitlements(
        &self,
        query: &EntitlementQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<Entitlement>>> {
        query.sync.read(self, DefaultSync::LatestFull, |sync| {
            let mut f = Filter::default();
            f.sync(sync);
            if let Some(r) = &query.resource {
                f.eq("resource_type_id", r.resource_type.as_str());
                f.eq("resource_id", r.resource.as_str());
            }
            let (rows, next) =
                self.page("v1_entitlements", "data, discovered_at", f, page, |r| {
                    Ok((r.get::<_, Vec<u8>>(1)?, text(r.get_ref(2)?)))
                })?;
            let items = rows
                .iter()
                .map(|(d, t)| record("entitlement", d, t))
                .collect::<Result<_>>()?;
            Ok(Page {
                items,
                next_page_token: next,
            })
        })
    }

    fn list_grants(&self, query: &GrantQuery, page: &PageRequest) -> Result<Page<GrantRecord>> {
        query.sync.read(self, DefaultSync::LatestFull, |sync| {
            let (rows, next) = self.page(
                "v1_grants",
                GRANT_COLUMNS,
                grant_filter(query, sync),
                page,
                |r| grant_row(r, 1),
            )?;
            let items = rows
                .into_iter()
                .map(GrantRow::decode)
                .collect::<Result<_>>()?;
            Ok(Page {
                items,
                next_page_token: next,
            })
        })
    }

    fn list_stored_grants(
        &self,
        query: &GrantQuery,
        page: &PageRequest,
    ) -> Result<Page<StoredGrant>> {
        query.sync.read(self, DefaultSync::LatestFull, |sync| {
            let (items, next) = self.page(
                "v1_grants",
                "principal_resource_type_id, principal_resource_id, data",
                grant_filter(query, sync),
                page,
                |r| {
                    Ok(StoredGrant {
                        principal: ResourceKey::new(text(r.get_ref(1)?), text(r.get_ref(2)?)),
                        data: r.get(3)?,
                    })
                },
            )?;
            Ok(Page {
                items,
                next_page_token: next,
            })
        })
    }

    fn list_assets(&self, query: &AssetQuery, page: &PageRequest) -> Result<Page<Asset>> {
        query.sync.read(self, DefaultSync::LatestFull, |sync| {
            let mut f = Filter::default();
            f.sync(sync);
            let (rows, next) = self.page(
                "v1_assets",
                "external_id, content_type, data, discovered_at",
                f,
                page,
                |r| {
                    Ok((
                        text(r.get_ref(1)?),
                        text(r.get_ref(2)?),
                        r.get::<_, Vec<u8>>(3)?,
                        text(r.get_ref(4)?),
                    ))
                },
            )?;
            let items = rows
                .into_iter()
                .map(|(id, content_type, data, t)| {
                    Ok(Asset {
                        id,
                        content_type,
                        data,
                        discovered_at: parse_time("asset discovered_at", &t)?,
                    })
                })
                .collect::<Result<_>>()?;
            Ok(Page {
                items,
                next_page_token: next,
            })
        })
    }

    fn count_objects(&self, sync: &SyncId) -> Result<ObjectCounts> {
        let resource_type_ids = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare_cached(
                    "select external_id from v1_resource_types where sync_id = ?1 order by id",
                )
                .map_err(SqliteError::from)?;
            stmt.query_map([sync.as_str()], |r| Ok(text(r.get_ref(0)?)))
                .map_err(SqliteError::from)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(SqliteError::from)?
        };
        let assets: i64 = self
            .conn()
            .query_row(
                "select count(*) from v1_assets where sync_id = ?1",
                [sync.as_str()],
                |r| r.get(0),
            )
            .map_err(SqliteError::from)?;
        Ok(ObjectCounts {
            resource_type_ids,
            resources_by_type: self.group_counts("v1_resources", sync)?,
            entitlements_by_type: self.group_counts("v1_entitlements", sync)?,
            grants_by_type: self.group_counts("v1_grants", sync)?,
            assets: u64::try_from(assets).unwrap_or(0),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_are_decimal_row_ids() {
        assert_eq!(page_start(&PageRequest::first(5)).ok(), Some(0));
        assert_eq!(page_start(&PageRequest::after(5, "42")).ok(), Some(42));
        assert!(matches!(
            page_start(&PageRequest::after(5, "x")),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            page_start(&PageRequest::after(5, "-1")),
            Err(Error::InvalidArgument(_))
        ));
    }
}
