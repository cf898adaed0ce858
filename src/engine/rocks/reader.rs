//! Reads: point gets, paged scans (hex of the last returned key as the token), counts.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use super::error::RocksError;
use super::keys::{self, family, index};
use super::values::{
    decode_asset, decode_grant_row, decode_object, decode_snapshot, decode_sync_run,
};
use super::{ENGINE, RocksStore};
use crate::codec::{self, GrantIdentity};
use crate::error::{Error, Result};
use crate::model::{Asset, GrantRecord, Record, ResourceKey, SyncId, SyncRun};
use crate::pb::c1::connector::v2::{Entitlement, Grant, Resource, ResourceType};
use crate::store::{
    AssetQuery, DefaultSync, EntitlementQuery, GrantQuery, ObjectCounts, Page, PageRequest, Reader,
    ResourceQuery, ResourceTypeQuery, StoreMetadata, StoredGrant, SyncSelector,
};

fn text(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::corrupt("rocksdb key", "component is not utf-8"))
}

/// The components of a key tail.
fn parts(tail: &[u8], n: usize) -> Result<Vec<String>> {
    let parts =
        keys::untuple(tail).ok_or_else(|| Error::corrupt("rocksdb key", "malformed tuple"))?;
    if parts.len() != n {
        return Err(Error::corrupt(
            "rocksdb key",
            format!("expected {n} components, found {}", parts.len()),
        ));
    }
    parts.iter().map(|p| text(p)).collect()
}

/// The four components of a grant row's tail: entitlement, principal type, principal id,
/// grant id (see [`keys::push_grant_tail`]).
fn grant_parts(tail: &[u8]) -> Result<[String; 4]> {
    let [e, pt, pid, id] = keys::untuple_grant_tail(tail)
        .ok_or_else(|| Error::corrupt("rocksdb key", "malformed grant tail"))?;
    Ok([text(&e)?, text(&pt)?, text(&pid)?, text(&id)?])
}

/// The bytes after the `n`-th separator of an index key's tail (the embedded row tail).
fn after_separators(tail: &[u8], n: usize) -> Result<&[u8]> {
    if n == 0 {
        return Ok(tail);
    }
    let mut seen = 0;
    for (i, b) in tail.iter().enumerate() {
        if *b == 0 {
            seen += 1;
            if seen == n {
                return Ok(&tail[i + 1..]);
            }
        }
    }
    Err(Error::corrupt("rocksdb index key", "too few components"))
}

/// A by-resource page token (`07 07 seq rt 00 rid 00 <grant tail>`) as its "granted on"
/// entry's key and the grant tail.
fn split_resource_token(key: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let tail = after_separators(key.get(keys::INDEX_HEAD_LEN..)?, 2).ok()?;
    let entitlement = keys::first_component(tail);
    Some((
        key[..key.len() - tail.len() + entitlement.len()].to_vec(),
        tail,
    ))
}

pub(super) fn record<T: prost::Message + Default>(
    what: &'static str,
    value: &[u8],
) -> Result<Record<T>> {
    let row = decode_object(value)?;
    Ok(Record {
        value: codec::decode(what, row.data)?,
        discovered_at: row.discovered_at,
    })
}

/// Decoded parts of a grant value.
pub(super) struct GrantValue<'a> {
    pub(super) discovered_at: chrono::NaiveDateTime,
    pub(super) needs_expansion: bool,
    pub(super) expansion: Option<&'a [u8]>,
    pub(super) resource_type_id: String,
    pub(super) resource_id: String,
    body: GrantBody<'a>,
}

/// Where a grant's encoding comes from.
enum GrantBody<'a> {
    /// Stored whole.
    Stored(&'a [u8]),
    /// A derived row: rebuilt from the entitlement snapshot, principal and sources.
    Derived {
        snapshot: std::sync::Arc<Snapshot>,
        principal: &'a [u8],
        sources: &'a [u8],
    },
}

impl<'a> GrantValue<'a> {
    /// The encoded grant whose id is `id` (the row's): borrowed when stored whole, rebuilt
    /// for a derived row (only readers that need the bytes pay for it).
    pub(super) fn data(&self, id: &str) -> Cow<'a, [u8]> {
        match &self.body {
            GrantBody::Stored(data) => Cow::Borrowed(data),
            GrantBody::Derived {
                snapshot,
                principal,
                sources,
            } => {
                let mut data = Vec::new();
                codec::encode_derived_grant(&mut data, &snapshot.data, principal, id, sources);
                Cow::Owned(data)
            }
        }
    }
}

/// A row found by id: its sync number, key tail and value.
type IdHit = (u32, Vec<u8>, Vec<u8>);

/// An entitlement snapshot that derived grant rows embed.
pub(super) struct Snapshot {
    resource_type_id: String,
    resource_id: String,
    data: Vec<u8>,
}

impl Snapshot {
    pub(super) fn decode(value: &[u8]) -> Result<Self> {
        let row = decode_snapshot(value)?;
        Ok(Snapshot {
            resource_type_id: row.resource_type_id,
            resource_id: row.resource_id,
            data: row.entitlement,
        })
    }

    /// The entitlement's encoding.
    pub(super) fn data(&self) -> &[u8] {
        &self.data
    }
}

/// Snapshots read so far by one scan: rows of one entitlement share one.
#[derive(Default)]
pub(super) struct Snapshots(HashMap<Vec<u8>, std::sync::Arc<Snapshot>>);

impl RocksStore {
    /// The snapshot under `key`, read once per scan.
    fn snapshot(&self, key: Vec<u8>, seen: &mut Snapshots) -> Result<std::sync::Arc<Snapshot>> {
        if let Some(s) = seen.0.get(&key) {
            return Ok(s.clone());
        }
        let value = self
            .db
            .get(&key)
            .map_err(RocksError::from)?
            .ok_or_else(|| {
                Error::corrupt(
                    "rocksdb grant",
                    "derived grant without its entitlement snapshot",
                )
            })?;
        let snapshot = std::sync::Arc::new(Snapshot::decode(&value)?);
        // A scan by principal meets many entitlements: bound the cache.
        if seen.0.len() >= 4096 {
            seen.0.clear();
        }
        seen.0.insert(key, snapshot.clone());
        Ok(snapshot)
    }

    /// The parts of grant row `04 seq <tail>` with value `value`.
    pub(super) fn grant_value<'a>(
        &self,
        seq: u32,
        tail: &[u8],
        value: &'a [u8],
        seen: &mut Snapshots,
    ) -> Result<GrantValue<'a>> {
        let row = decode_grant_row(value)?;
        let Some(version) = row.entitlement_snapshot else {
            return Ok(GrantValue {
                discovered_at: row.discovered_at,
                needs_expansion: row.needs_expansion,
                expansion: row.expansion,
                resource_type_id: row.resource_type_id.to_owned(),
                resource_id: row.resource_id.to_owned(),
                body: GrantBody::Stored(row.data),
            });
        };
        let snapshot = self.snapshot(
            keys::snapshot_key(seq, keys::first_component(tail), version),
            seen,
        )?;
        Ok(GrantValue {
            discovered_at: row.discovered_at,
            needs_expansion: false,
            expansion: None,
            resource_type_id: snapshot.resource_type_id.clone(),
            resource_id: snapshot.resource_id.clone(),
            body: GrantBody::Derived {
                snapshot,
                principal: row.principal,
                sources: row.sources,
            },
        })
    }

    /// A grant row from its key tail (`entitlement, p_rt, p_id, id`) and value.
    fn grant_record(
        &self,
        seq: u32,
        tail: &[u8],
        value: &[u8],
        seen: &mut Snapshots,
    ) -> Result<(GrantRecord, [String; 4], [String; 2])> {
        let p = grant_parts(tail)?;
        let v = self.grant_value(seq, tail, value, seen)?;
        let mut grant: Grant = codec::decode("grant", &v.data(&p[3]))?;
        codec::hydrate_grant(
            &mut grant,
            &GrantIdentity {
                resource_type_id: &v.resource_type_id,
                resource_id: &v.resource_id,
                entitlement_id: &p[0],
                principal_type: &p[1],
                principal_id: &p[2],
            },
        );
        let expansion = match v.expansion {
            Some(b) if !b.is_empty() => Some(codec::decode("grant expansion", b)?),
            _ => None,
        };
        let rec = GrantRecord {
            grant,
            expansion,
            needs_expansion: v.needs_expansion,
            discovered_at: v.discovered_at,
        };
        Ok((rec, p, [v.resource_type_id, v.resource_id]))
    }
}

fn grant_matches(q: &GrantQuery, id: &[String; 4], res: &[String; 2], needs: bool) -> bool {
    let [ent, prt, pid, _] = id;
    q.entitlement_id.as_ref().is_none_or(|e| e == ent)
        && q.principal
            .as_ref()
            .is_none_or(|p| &p.resource_type == prt && &p.resource == pid)
        && (q.principal_resource_type_ids.is_empty() || q.principal_resource_type_ids.contains(prt))
        && q.resource
            .as_ref()
            .is_none_or(|r| r.resource_type == res[0] && r.resource == res[1])
        && q.resource_type_id.as_ref().is_none_or(|t| t == &res[0])
        && (!q.needs_expansion || needs)
}

/// `tuple(parts) ++ 00`: a "by value" prefix.
fn value_prefix<S: AsRef<[u8]>>(parts: &[S]) -> Vec<u8> {
    let mut p = keys::tuple(parts);
    p.push(0);
    p
}

impl RocksStore {
    /// A raw iterator over keys below `end` (all keys if `None`), positioned at `from`.
    /// Bounded, so tables with nothing in the range load no data block.
    pub(super) fn iter_below(
        &self,
        end: Option<Vec<u8>>,
        from: &[u8],
    ) -> rocksdb::DBRawIterator<'_> {
        let mut opts = rocksdb::ReadOptions::default();
        if let Some(end) = end {
            opts.set_iterate_upper_bound(end);
        }
        let mut it = self.db.raw_iterator_opt(opts);
        it.seek(from);
        it
    }

    /// A page of the grants matching `query`, each row mapped by `row` (given the query to
    /// check it against, its sync number, tail and value), which also applies the
    /// query's filters.
    fn grants_page<T>(
        &self,
        query: &GrantQuery,
        sync: Option<&SyncId>,
        page: &PageRequest,
        mut row: impl FnMut(&GrantQuery, u32, &[u8], &[u8]) -> Result<Option<T>>,
    ) -> Result<Page<T>> {
        if query.entitlement_id.is_none() && query.principal.is_none() {
            if let Some(r) = &query.resource {
                let prefix = value_prefix(&[&r.resource_type, &r.resource]);
                return self.grants_by_resource_page(query, sync, &prefix, page, row);
            }
            if let Some(t) = &query.resource_type_id {
                return self.grants_by_resource_page(query, sync, &value_prefix(&[t]), page, row);
            }
        }
        // The narrowest access path; every filter is still checked on each row.
        let (head, prefixes, indexed): (Vec<u8>, Vec<Vec<u8>>, Option<usize>) =
            if let Some(e) = &query.entitlement_id {
                let tail = match (
                    &query.principal,
                    query.principal_resource_type_ids.as_slice(),
                ) {
                    (Some(p), _) => value_prefix(&[e, &p.resource_type, &p.resource]),
                    (None, [t]) => value_prefix(&[e, t]),
                    _ => value_prefix(&[e]),
                };
                (
                    vec![family::GRANT],
                    self.prefixes(family::GRANT, sync, &tail)?,
                    None,
                )
            } else if let Some(p) = &query.principal {
                let tail = value_prefix(&[&p.resource_type, &p.resource]);
                let head = vec![family::INDEX, index::GRANT_BY_PRINCIPAL];
                (
                    head,
                    self.index_prefixes(index::GRANT_BY_PRINCIPAL, sync, &tail)?,
                    Some(2),
                )
            } else if query.needs_expansion {
                let head = vec![family::INDEX, index::GRANT_NEEDS_EXPANSION];
                (
                    head,
                    self.index_prefixes(index::GRANT_NEEDS_EXPANSION, sync, &[])?,
                    Some(0),
                )
            } else {
                (
                    vec![family::GRANT],
                    self.prefixes(family::GRANT, sync, &[])?,
                    None,
                )
            };
        self.page_over(&head, &prefixes, page, |k, v| {
            let fetched;
            let seq_at = if indexed.is_some() { 2 } else { 1 };
            let seq = k
                .get(seq_at..seq_at + 4)
                .and_then(super::u32_value)
                .ok_or_else(|| Error::corrupt("rocksdb key", "truncated grant key"))?;
            let (row_tail, value) = match indexed {
                None => (&k[5..], v),
                Some(skip) => {
                    // `07 idx seq <components> <grant tail>`: the row is `04 seq <grant tail>`.
                    let row_tail = after_separators(&k[6..], skip)?;
                    let mut primary = vec![family::GRANT];
                    primary.extend_from_slice(&k[2..6]);
                    primary.extend_from_slice(row_tail);
                    fetched = self
                        .db
                        .get(&primary)
                        .map_err(RocksError::from)?
                        .ok_or_else(|| {
                            Error::corrupt("rocksdb index", "grant index entry without its row")
                        })?;
                    (row_tail, fetched.as_slice())
                }
            };
            row(query, seq, row_tail, value)
        })
    }

    /// A page of the grants whose entitlement resource starts with `resource` (a value
    /// prefix of a resource type and id, or of a type): for each "entitlement granted on
    /// resource" entry under it, the entitlement's grant rows, checked against `query`
    /// narrowed to the entry's resource (an entitlement granted on two resources is
    /// listed under each, with that resource's grants only).
    ///
    /// Rows come in the order of `rt rid <grant tail>`, and a page token is the last row's
    /// `07 07 seq rt 00 rid 00 <grant tail>` (its entry's key, extended to the grant).
    fn grants_by_resource_page<T>(
        &self,
        query: &GrantQuery,
        sync: Option<&SyncId>,
        resource: &[u8],
        page: &PageRequest,
        mut row: impl FnMut(&GrantQuery, u32, &[u8], &[u8]) -> Result<Option<T>>,
    ) -> Result<Page<T>> {
        let token_head = [family::INDEX, index::ENTITLEMENT_GRANTED_ON_RESOURCE];
        // The token's row as (its entry's key, its grant tail).
        let after = if page.token.is_empty() {
            None
        } else {
            let invalid = || Error::InvalidArgument(format!("invalid page token '{}'", page.token));
            let k = keys::from_hex(&page.token)
                .filter(|k| k.starts_with(&token_head))
                .ok_or_else(invalid)?;
            let (entry, tail) = split_resource_token(&k).ok_or_else(invalid)?;
            Some((entry, tail.to_vec()))
        };
        let size = page.effective_size() as usize;
        let mut items = Vec::new();
        let mut last_key = Vec::new();
        let mut more = false;
        let mut narrowed = query.clone();
        'ranges: for seq in self.seqs(sync)? {
            let prefix = keys::join(
                keys::index_head(index::ENTITLEMENT_GRANTED_ON_RESOURCE, seq),
                resource,
            );
            let end = keys::prefix_end(&prefix);
            let seek = match &after {
                Some((entry, _)) if end.as_ref().is_some_and(|end| entry >= end) => continue,
                Some((entry, _)) if *entry >= prefix => entry.clone(),
                _ => prefix.clone(),
            };
            let mut entries = self.iter_below(end, &seek);
            while let Some(entry) = entries.key() {
                // `07 07 seq rt 00 rid 00 <entitlement>`.
                let entitlement = after_separators(&entry[keys::INDEX_HEAD_LEN..], 2)?;
                let resource_part = &entry[keys::INDEX_HEAD_LEN..entry.len() - entitlement.len()];
                let [rt, rid]: [String; 2] = parts(&resource_part[..resource_part.len() - 1], 2)?
                    .try_into()
                    .map_err(|_| Error::corrupt("rocksdb index key", "malformed resource"))?;
                narrowed.resource = Some(ResourceKey::new(rt, rid));
                let mut rows = keys::head(family::GRANT, seq);
                rows.extend_from_slice(entitlement);
                rows.push(0);
                let rows_end = keys::prefix_end(&rows);
                let rows_seek = match &after {
                    Some((token_entry, tail)) if token_entry.as_slice() == entry => {
                        let mut k = keys::head(family::GRANT, seq);
                        k.extend_from_slice(tail);
                        k.push(0);
                        k
                    }
                    _ => rows.clone(),
                };
                let mut it = self.iter_below(rows_end, &rows_seek);
                while let (Some(k), Some(v)) = (it.key(), it.value()) {
                    let tail = &k[5..];
                    if let Some(r) = row(&narrowed, seq, tail, v)? {
                        if items.len() == size {
                            more = true;
                            break 'ranges;
                        }
                        items.push(r);
                        last_key.clear();
                        last_key.extend_from_slice(&token_head);
                        last_key.extend_from_slice(&seq.to_be_bytes());
                        last_key.extend_from_slice(resource_part);
                        last_key.extend_from_slice(tail);
                    }
                    it.next();
                }
                it.status().map_err(RocksError::from)?;
                entries.next();
            }
            entries.status().map_err(RocksError::from)?;
        }
        Ok(Page {
            items,
            next_page_token: if more {
                keys::to_hex(&last_key)
            } else {
                String::new()
            },
        })
    }

    /// One page over the ranges `prefixes` (in order), resuming strictly after the token's
    /// key. `accept` maps a (key, value) to a row or skips it.
    fn page_over<R>(
        &self,
        family_head: &[u8],
        prefixes: &[Vec<u8>],
        page: &PageRequest,
        mut accept: impl FnMut(&[u8], &[u8]) -> Result<Option<R>>,
    ) -> Result<Page<R>> {
        let after = if page.token.is_empty() {
            None
        } else {
            let k = keys::from_hex(&page.token)
                .filter(|k| k.starts_with(family_head))
                .ok_or_else(|| {
                    Error::InvalidArgument(format!("invalid page token '{}'", page.token))
                })?;
            Some(k)
        };
        let size = page.effective_size() as usize;
        let mut items = Vec::new();
        let mut last_key: Vec<u8> = Vec::new();
        let mut more = false;
        'ranges: for prefix in prefixes {
            let seek = match &after {
                Some(a) if keys::prefix_end(prefix).is_some_and(|end| *a >= end) => continue,
                Some(a) if a.as_slice() >= prefix.as_slice() => {
                    let mut k = a.clone();
                    k.push(0);
                    k
                }
                _ => prefix.clone(),
            };
            let mut it = self.iter_below(keys::prefix_end(prefix), &seek);
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if !k.starts_with(prefix) {
                    break;
                }
                if let Some(row) = accept(k, v)? {
                    if items.len() == size {
                        more = true;
                        break 'ranges;
                    }
                    items.push(row);
                    last_key.clear();
                    last_key.extend_from_slice(k);
                }
                it.next();
            }
            it.status().map_err(RocksError::from)?;
        }
        let next_page_token = if more {
            keys::to_hex(&last_key)
        } else {
            String::new()
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// Primary-family prefixes for each sync number, extended by `tail`.
    fn prefixes(&self, family: u8, sync: Option<&SyncId>, tail: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .seqs(sync)?
            .into_iter()
            .map(|s| keys::join(keys::head(family, s), tail))
            .collect())
    }

    fn index_prefixes(&self, idx: u8, sync: Option<&SyncId>, tail: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .seqs(sync)?
            .into_iter()
            .map(|s| keys::join(keys::index_head(idx, s), tail))
            .collect())
    }

    /// First hit of a point key over the syncs a query reads.
    fn first_get(
        &self,
        family: u8,
        sync: Option<&SyncId>,
        tail: &[u8],
    ) -> Result<Option<(u32, Vec<u8>)>> {
        for seq in self.seqs(sync)? {
            if let Some(v) = self
                .db
                .get(keys::join(keys::head(family, seq), tail))
                .map_err(RocksError::from)?
            {
                return Ok(Some((seq, v)));
            }
        }
        Ok(None)
    }

    /// Resolves an id index (`07 idx seq esc(id)` → row tail) over the syncs a query reads:
    /// the row's sync number, tail and value.
    fn by_id(&self, idx: u8, family: u8, sync: Option<&SyncId>, id: &str) -> Result<Option<IdHit>> {
        for seq in self.seqs(sync)? {
            let mut k = keys::index_head(idx, seq);
            keys::push_component(&mut k, id.as_bytes());
            if let Some(entry) = self.db.get(&k).map_err(RocksError::from)? {
                let tail = keys::id_entry_tail(&k, &entry)?.into_owned();
                if let Some(v) = self
                    .db
                    .get(keys::join(keys::head(family, seq), &tail))
                    .map_err(RocksError::from)?
                {
                    return Ok(Some((seq, tail, v)));
                }
            }
        }
        Ok(None)
    }

    /// Grants of sync `seq` by their entitlement's resource type. An entitlement granted on
    /// one resource has every row on it, so its rows are counted by key; one granted on
    /// several (or on one, then another) has each row's resource read.
    fn count_grants_by_resource_type(&self, seq: u32) -> Result<BTreeMap<String, u64>> {
        let prefix = keys::index_head(index::ENTITLEMENT_GRANTED_ON_RESOURCE, seq);
        // Escaped entitlement → the resource type of each of its entries.
        let mut granted_on: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
        let mut it = self.db.raw_iterator();
        it.seek(&prefix);
        while let Some(k) = it.key() {
            if !k.starts_with(&prefix) {
                break;
            }
            let entry = &k[prefix.len()..];
            let entitlement = after_separators(entry, 2)?;
            let resource_type = parts(keys::first_component(entry), 1)?.swap_remove(0);
            granted_on
                .entry(entitlement.to_vec())
                .or_default()
                .push(resource_type);
            it.next();
        }
        it.status().map_err(RocksError::from)?;
        let mut out = BTreeMap::new();
        let mut seen = Snapshots::default();
        for (entitlement, types) in granted_on {
            let mut rows = keys::head(family::GRANT, seq);
            rows.extend_from_slice(&entitlement);
            rows.push(0);
            it.seek(&rows);
            let mut only_type = 0u64;
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if !k.starts_with(&rows) {
                    break;
                }
                if let [_] = types.as_slice() {
                    only_type += 1;
                } else {
                    let v = self.grant_value(seq, &k[5..], v, &mut seen)?;
                    *out.entry(v.resource_type_id).or_insert(0) += 1;
                }
                it.next();
            }
            it.status().map_err(RocksError::from)?;
            if only_type > 0 {
                *out.entry(types[0].clone()).or_insert(0) += only_type;
            }
        }
        Ok(out)
    }

    /// Row tails under the index prefix of one sync, keyed by the first component.
    fn count_first_component(&self, prefix: &[u8]) -> Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        let mut it = self.db.raw_iterator();
        it.seek(prefix);
        while let Some(k) = it.key() {
            if !k.starts_with(prefix) {
                break;
            }
            let tail = &k[prefix.len()..];
            let first = tail.split(|b| *b == 0).next().unwrap_or_default();
            let name = keys::untuple(first)
                .and_then(|mut p| p.pop())
                .unwrap_or_default();
            *out.entry(String::from_utf8_lossy(&name).into_owned())
                .or_insert(0) += 1;
            it.next();
        }
        it.status().map_err(RocksError::from)?;
        Ok(out)
    }
}

impl Reader for RocksStore {
    fn metadata(&self) -> StoreMetadata {
        StoreMetadata {
            engine: ENGINE,
            format: crate::format::Format::V3,
            engine_version: super::SCHEMA_VERSION,
            read_only: self.state().is_read_only(),
        }
    }

    fn sync_run(&self, id: &SyncId) -> Result<Option<SyncRun>> {
        let Some(seq) = self.seq(id)? else {
            return Ok(None);
        };
        self.db
            .get(keys::head(family::SYNC_RUN, seq))
            .map_err(RocksError::from)?
            .map(|v| decode_sync_run(&v))
            .transpose()
    }

    fn list_sync_runs(&self, page: &PageRequest) -> Result<Page<SyncRun>> {
        let head = [family::SYNC_RUN];
        self.page_over(&head, &[head.to_vec()], page, |_, v| {
            decode_sync_run(v).map(Some)
        })
    }

    fn resource_type(
        &self,
        selector: &SyncSelector,
        id: &str,
    ) -> Result<Option<Record<ResourceType>>> {
        selector.read(self, DefaultSync::LatestAny, |sync| {
            self.first_get(family::RESOURCE_TYPE, sync, &keys::tuple(&[id]))?
                .map(|(_, v)| record("resource type", &v))
                .transpose()
        })
    }

    fn resource(
        &self,
        selector: &SyncSelector,
        key: &ResourceKey,
    ) -> Result<Option<Record<Resource>>> {
        selector.read(self, DefaultSync::LatestFull, |sync| {
            self.first_get(
                family::RESOURCE,
                sync,
                &keys::tuple(&[&key.resource_type, &key.resource]),
            )?
            .map(|(_, v)| record("resource", &v))
            .transpose()
        })
    }

    fn entitlement(
        &self,
        selector: &SyncSelector,
        id: &str,
    ) -> Result<Option<Record<Entitlement>>> {
        selector.read(self, DefaultSync::LatestAny, |sync| {
            self.by_id(index::ENTITLEMENT_BY_ID, family::ENTITLEMENT, sync, id)?
                .map(|(_, _, v)| record("entitlement", &v))
                .transpose()
        })
    }

    fn grant(&self, selector: &SyncSelector, id: &str) -> Result<Option<GrantRecord>> {
        selector.read(self, DefaultSync::LatestAny, |sync| {
            self.by_id(index::GRANT_BY_ID, family::GRANT, sync, id)?
                .map(|(seq, tail, v)| {
                    self.grant_record(seq, &tail, &v, &mut Snapshots::default())
                        .map(|(g, _, _)| g)
                })
                .transpose()
        })
    }

    fn asset(&self, selector: &SyncSelector, id: &str) -> Result<Option<Asset>> {
        selector.read(self, DefaultSync::LatestAny, |sync| {
            self.first_get(family::ASSET, sync, &keys::tuple(&[id]))?
                .map(|(_, v)| asset(id.to_owned(), &v))
                .transpose()
        })
    }

    fn list_resource_types(
        &self,
        query: &ResourceTypeQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<ResourceType>>> {
        query.sync.read(self, DefaultSync::LatestFull, |sync| {
            let prefixes = self.prefixes(family::RESOURCE_TYPE, sync, &[])?;
            self.page_over(&[family::RESOURCE_TYPE], &prefixes, page, |_, v| {
                record("resource type", v).map(Some)
            })
        })
    }

    fn list_resources(
        &self,
        query: &ResourceQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<Resource>>> {
        query.sync.read(self, DefaultSync::LatestFull, |sync| {
            if let Some(parent) = &query.parent {
                let tail = value_prefix(&[&parent.resource_type, &parent.resource]);
                let prefixes = self.index_prefixes(index::RESOURCE_BY_PARENT, sync, &tail)?;
                return self.page_over(
                    &[family::INDEX, index::RESOURCE_BY_PARENT],
                    &prefixes,
                    page,
                    |k, _| {
                        let row_tail = after_separators(&k[6..], 2)?;
                        let rt = parts(row_tail, 2)?.swap_remove(0);
                        if query.resource_type_id.as_ref().is_some_and(|t| *t != rt) {
                            return Ok(None);
                        }
                        let seq_bytes = &k[2..6];
                        let mut primary = vec![family::RESOURCE];
                        primary.extend_from_slice(seq_bytes);
                        primary.extend_from_slice(row_tail);
                        self.db
                            .get(&primary)
                            .map_err(RocksError::from)?
                            .map(|v| record("resource", &v))
                            .transpose()
                    },
                );
            }
            let tail = query
                .resource_type_id
                .as_ref()
                .map(|t| value_prefix(&[t]))
                .unwrap_or_default();
            let prefixes = self.prefixes(family::RESOURCE, sync, &tail)?;
            self.page_over(&[family::RESOURCE], &prefixes, page, |_, v| {
                record("resource", v).map(Some)
            })
        })
    }

    fn list_entitlements(
        &self,
        query: &EntitlementQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<Entitlement>>> {
        query.sync.read(self, DefaultSync::LatestFull, |sync| {
            let tail = query
                .resource
                .as_ref()
                .map(|r| value_prefix(&[&r.resource_type, &r.resource]))
                .unwrap_or_default();
            let prefixes = self.prefixes(family::ENTITLEMENT, sync, &tail)?;
            self.page_over(&[family::ENTITLEMENT], &prefixes, page, |_, v| {
                record("entitlement", v).map(Some)
            })
        })
    }

    fn list_grants(&self, query: &GrantQuery, page: &PageRequest) -> Result<Page<GrantRecord>> {
        query.sync.read(self, DefaultSync::LatestFull, |sync| {
            let mut seen = Snapshots::default();
            self.grants_page(query, sync, page, |query, seq, tail, value| {
                let (rec, id, res) = self.grant_record(seq, tail, value, &mut seen)?;
                Ok(grant_matches(query, &id, &res, rec.needs_expansion).then_some(rec))
            })
        })
    }

    fn list_stored_grants(
        &self,
        query: &GrantQuery,
        page: &PageRequest,
    ) -> Result<Page<StoredGrant>> {
        query.sync.read(self, DefaultSync::LatestFull, |sync| {
            let mut seen = Snapshots::default();
            self.grants_page(query, sync, page, |query, seq, tail, value| {
                let id = grant_parts(tail)?;
                let mut v = self.grant_value(seq, tail, value, &mut seen)?;
                let res = [
                    std::mem::take(&mut v.resource_type_id),
                    std::mem::take(&mut v.resource_id),
                ];
                Ok(
                    grant_matches(query, &id, &res, v.needs_expansion).then(|| StoredGrant {
                        principal: ResourceKey::new(id[1].as_str(), id[2].as_str()),
                        data: v.data(&id[3]).into_owned(),
                    }),
                )
            })
        })
    }

    fn list_assets(&self, query: &AssetQuery, page: &PageRequest) -> Result<Page<Asset>> {
        query.sync.read(self, DefaultSync::LatestFull, |sync| {
            let prefixes = self.prefixes(family::ASSET, sync, &[])?;
            self.page_over(&[family::ASSET], &prefixes, page, |k, v| {
                let id = parts(&k[5..], 1)?.swap_remove(0);
                asset(id, v).map(Some)
            })
        })
    }

    fn count_objects(&self, sync: &SyncId) -> Result<ObjectCounts> {
        let Some(seq) = self.seq(sync)? else {
            return Ok(ObjectCounts::default());
        };
        let mut resource_type_ids = Vec::new();
        let prefix = keys::head(family::RESOURCE_TYPE, seq);
        let mut it = self.db.raw_iterator();
        it.seek(&prefix);
        while let Some(k) = it.key() {
            if !k.starts_with(&prefix) {
                break;
            }
            resource_type_ids.push(parts(&k[5..], 1)?.swap_remove(0));
            it.next();
        }
        it.status().map_err(RocksError::from)?;
        let assets = {
            let prefix = keys::head(family::ASSET, seq);
            let mut n = 0u64;
            it.seek(&prefix);
            while it.key().is_some_and(|k| k.starts_with(&prefix)) {
                n += 1;
                it.next();
            }
            it.status().map_err(RocksError::from)?;
            n
        };
        Ok(ObjectCounts {
            resource_type_ids,
            resources_by_type: self.count_first_component(&keys::head(family::RESOURCE, seq))?,
            entitlements_by_type: self
                .count_first_component(&keys::head(family::ENTITLEMENT, seq))?,
            grants_by_type: self.count_grants_by_resource_type(seq)?,
            assets,
        })
    }
}

fn asset(id: String, value: &[u8]) -> Result<Asset> {
    let (discovered_at, content_type, data) = decode_asset(value)?;
    Ok(Asset {
        id,
        content_type,
        data,
        discovered_at,
    })
}
