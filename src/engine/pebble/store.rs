//! [`PebbleStore`]: baton's Pebble keyspace behind c1z's [`Reader`] — gets by structural
//! identity, lists by key prefix or through baton's secondary indexes (by parent, by
//! principal, needs expansion), baton's page tokens. Read-only: every write is refused.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use base64::Engine as _;

use super::keys::{self, EntitlementIdentity, family, index};
use super::merge::Db;
use super::records;
use crate::engine::WriteState;
use crate::error::{Error, Result};
use crate::file::FileMetadata;
use crate::model::{Asset, GrantRecord, Record, ResourceKey, SyncId, SyncRun};
use crate::pb::c1::connector::v2::{Entitlement, Resource, ResourceType};
use crate::pb::c1::storage::v3 as rec;
use crate::store::{
    AssetQuery, EntitlementQuery, GrantQuery, GrantUpsertMode, ObjectCounts, Page, PageRequest,
    Reader, ResourceQuery, ResourceTypeQuery, StoreMetadata, SyncSelector, Writer,
};

/// A key range `[lower, upper)` scanned in key order.
#[derive(Clone, Debug)]
struct Range {
    lower: Vec<u8>,
    upper: Option<Vec<u8>>,
}

impl Range {
    fn prefix(prefix: Vec<u8>) -> Self {
        Range {
            upper: keys::upper_bound(&prefix),
            lower: prefix,
        }
    }

    fn contains(&self, key: &[u8]) -> bool {
        key >= self.lower.as_slice() && self.upper.as_deref().is_none_or(|u| key < u)
    }
}

/// baton's Pebble database, opened read-only.
#[derive(Debug)]
pub struct PebbleStore {
    db: Arc<Db>,
    engine: &'static str,
    file: FileMetadata,
    state: WriteState,
    run: Option<SyncRun>,
    /// Whether the by-principal index is complete (baton defers it to the end of a sync
    /// and marks the debt; an unfinished sync may leave it owed).
    by_principal_complete: bool,
    /// External id → primary key of entitlements whose id is not `rt:rid:tail` (built on
    /// the first lookup that needs it).
    unprefixed_entitlements: OnceLock<HashMap<String, Vec<u8>>>,
    /// External id → primary key of grants whose id is not the reconstructed
    /// `entitlement:principal_type:principal_id`.
    irregular_grants: OnceLock<HashMap<String, Vec<u8>>>,
}

/// The static name of a Pebble engine (the manifest's `pebble`, `pebble2`, `pebble3`).
fn engine_name(name: &str) -> &'static str {
    match name {
        "pebble" => "pebble",
        "pebble2" => "pebble2",
        _ => "pebble3",
    }
}

fn read_u32_stamp(db: &Arc<Db>, name: &[u8]) -> Result<Option<u32>> {
    match db.get(&keys::meta(name))? {
        None => Ok(None),
        Some(v) if v.len() == 4 => Ok(Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))),
        Some(_) => Err(Error::corrupt(
            "pebble meta",
            format!("'{}' is not a 4-byte stamp", String::from_utf8_lossy(name)),
        )),
    }
}

fn token(key: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

fn invalid_token() -> Error {
    Error::InvalidArgument("page token was not issued by this listing".into())
}

impl PebbleStore {
    /// The store over an opened database, its keyspace stamps checked.
    ///
    /// # Errors
    /// [`Error::UnsupportedFormat`] for a keyspace other than baton's current one (the
    /// unstamped multi-sync layout, the legacy external-id layout); read errors.
    pub fn new(db: Db, engine: &str, file: FileMetadata) -> Result<Self> {
        let db = Arc::new(db);
        let empty = db.scan(&[], None)?.next().is_none();
        match read_u32_stamp(&db, b"keyspace_version")? {
            Some(2) => {}
            None if empty => {}
            Some(v) => {
                return Err(Error::UnsupportedFormat {
                    reason: format!("pebble keyspace version {v} (readable: 2)"),
                });
            }
            None => {
                return Err(Error::UnsupportedFormat {
                    reason: "pebble database without a keyspace version: baton's retired \
                             multi-sync layout, which baton itself no longer opens"
                        .into(),
                });
            }
        }
        match read_u32_stamp(&db, b"grant_entitlement_id_format")? {
            Some(2) => {}
            None if empty => {}
            None => {
                return Err(Error::UnsupportedFormat {
                    reason: "pebble database in baton's legacy external-id layout; open and \
                             save it once with baton v0.25.0 (which migrates it), then read it \
                             with c1z"
                        .into(),
                });
            }
            Some(v) => {
                return Err(Error::UnsupportedFormat {
                    reason: format!("pebble grant id-index format {v} (readable: 2)"),
                });
            }
        }
        let by_principal_complete = db
            .get(&keys::meta(b"deferred_grant_idx_pending"))?
            .is_none();
        let stats = db
            .get(&keys::meta(b"stats\x00"))?
            .map(|v| records::decode::<rec::SyncStatsRecord>("pebble stats", &v))
            .transpose()?;
        let run = db
            .get(&keys::header(family::SYNC_RUN))?
            .map(|v| records::decode::<rec::SyncRunRecord>("pebble sync run", &v))
            .transpose()?
            .map(|r| records::sync_run(r, stats.as_ref()));
        Ok(PebbleStore {
            db,
            engine: engine_name(engine),
            file,
            state: WriteState::new(true),
            run,
            by_principal_complete,
            unprefixed_entitlements: OnceLock::new(),
            irregular_grants: OnceLock::new(),
        })
    }

    /// The merged database view (tables, block cache).
    #[must_use]
    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    /// Write tracking (always read-only).
    pub(crate) fn state(&self) -> &WriteState {
        &self.state
    }

    /// Nothing to end: a Pebble store never bulk-loads.
    pub(crate) fn end_bulk_load(&self) -> Result<()> {
        Ok(())
    }

    /// Format, engine and payload encoding of the file.
    pub(crate) fn file_metadata(&self) -> FileMetadata {
        self.file.clone()
    }

    /// Saving writes Pebble, which c1z does not.
    pub(crate) fn save_to(&self, _out: &std::path::Path) -> Result<()> {
        Err(writes_refused("save"))
    }

    /// Checks every block of every live table (checksums, decompression, decoding) and
    /// that the merged view reads to its end in key order; returns the tables and blocks
    /// checked.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the table and block at fault.
    pub fn check_consistency(&self) -> Result<()> {
        self.verify_tables().map(|_| ())
    }

    /// As [`PebbleStore::check_consistency`], with what was checked: (tables, data
    /// blocks, live keys).
    ///
    /// # Errors
    /// As [`PebbleStore::check_consistency`].
    pub fn verify_tables(&self) -> Result<(usize, usize, u64)> {
        let mut seen = std::collections::HashSet::new();
        let mut blocks = 0;
        for t in &self.db.tables {
            if seen.insert(Arc::as_ptr(&t.sst)) {
                blocks += t.sst.verify_blocks()?;
            }
        }
        let mut keys = 0u64;
        let mut last: Option<Vec<u8>> = None;
        for entry in self.db.scan(&[], None)? {
            let (k, _) = entry?;
            if last.as_ref().is_some_and(|l| *l >= k) {
                return Err(Error::corrupt(
                    "pebble database",
                    format!("keys out of order at {}", keys::show(&k)),
                ));
            }
            last = Some(k);
            keys += 1;
        }
        Ok((seen.len(), blocks, keys))
    }

    /// Runs `read` when `sync` selects this file's sync run. baton's Pebble engine binds
    /// one sync per file for every read: [`SyncSelector::Latest`] is that run if it is
    /// finished or started within [`crate::store::RESUME_WINDOW`], whatever its type.
    fn on_sync<T: Default>(
        &self,
        sync: &SyncSelector,
        read: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let Some(run) = &self.run else {
            // Rows with no run row belong to no sync a caller can name.
            return if *sync == SyncSelector::All {
                read()
            } else {
                Ok(T::default())
            };
        };
        let selected = match sync {
            SyncSelector::All => true,
            SyncSelector::Id(id) => *id == run.id,
            SyncSelector::Latest => {
                run.is_finished()
                    || chrono::Duration::from_std(crate::store::RESUME_WINDOW)
                        // Pebble records hold UTC instants.
                        .is_ok_and(|w| run.started_at >= chrono::Utc::now().naive_utc() - w)
            }
        };
        if selected { read() } else { Ok(T::default()) }
    }

    fn get<M: prost::Message + Default>(
        &self,
        what: &'static str,
        key: &[u8],
    ) -> Result<Option<M>> {
        self.db
            .get(key)?
            .map(|v| records::decode::<M>(what, &v))
            .transpose()
    }

    /// A page of the rows of `ranges` (ascending, disjoint) that `decode` keeps; the token
    /// is baton's: the last returned key.
    fn page<T>(
        &self,
        ranges: &[Range],
        page: &PageRequest,
        mut decode: impl FnMut(&[u8], &[u8]) -> Result<Option<T>>,
    ) -> Result<Page<T>> {
        self.page_into(ranges, page, |k, v, out| {
            out.extend(decode(k, v)?);
            Ok(())
        })
    }

    /// [`PebbleStore::page`] with `decode` pushing the row's item (if kept) onto the page
    /// itself: large items (grants) are built in place, not moved through return values.
    fn page_into<T>(
        &self,
        ranges: &[Range],
        page: &PageRequest,
        mut decode: impl FnMut(&[u8], &[u8], &mut Vec<T>) -> Result<()>,
    ) -> Result<Page<T>> {
        let size = page.effective_size() as usize;
        let (first, resume) = if page.token.is_empty() {
            (0, None)
        } else {
            let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&page.token)
                .map_err(|_| invalid_token())?;
            let i = ranges
                .iter()
                .position(|r| r.contains(&key))
                .ok_or_else(invalid_token)?;
            (i, Some(key))
        };
        let mut items = Vec::with_capacity(size.min(1024) + 1);
        let mut last = None;
        for (i, r) in ranges.iter().enumerate().skip(first) {
            let lower = match (&resume, i == first) {
                (Some(k), true) => {
                    let mut l = k.clone();
                    l.push(0);
                    l
                }
                _ => r.lower.clone(),
            };
            let mut scan = self.db.scan(&lower, r.upper.as_deref())?;
            while let Some(row) = scan.next_row()? {
                let before = items.len();
                decode(row.key(), row.value(), &mut items)?;
                if items.len() == before {
                    continue;
                }
                if items.len() > size {
                    // One more row exists: the page is not the last.
                    items.truncate(size);
                    return Ok(Page {
                        items,
                        next_page_token: last
                            .map(|r: super::merge::LiveRow| token(r.key()))
                            .unwrap_or_default(),
                    });
                }
                last = Some(row);
            }
        }
        Ok(Page {
            items,
            next_page_token: String::new(),
        })
    }

    /// The primary keys of entitlements with external id `id`.
    fn entitlement_keys(&self, id: &str) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for (rt, rid, tail) in keys::colon_splits(id) {
            let k = keys::key(
                &keys::header(family::ENTITLEMENT),
                &[rt.as_bytes(), rid.as_bytes(), b"1", tail.as_bytes()],
            );
            if self.db.get(&k)?.is_some() {
                out.push(k);
            }
        }
        if let Some(k) = self.unprefixed_entitlements()?.get(id) {
            out.push(k.clone());
        }
        out.sort();
        Ok(out)
    }

    fn unprefixed_entitlements(&self) -> Result<&HashMap<String, Vec<u8>>> {
        if let Some(m) = self.unprefixed_entitlements.get() {
            return Ok(m);
        }
        let mut m = HashMap::new();
        let header = keys::header(family::ENTITLEMENT);
        for entry in self
            .db
            .scan_keys(&header, keys::upper_bound(&header).as_deref())?
        {
            let k = entry?;
            let c = keys::components(&k, 2)?;
            let e = EntitlementIdentity::from_components(&c)?;
            if !e.prefixed {
                m.insert(String::from_utf8_lossy(&e.tail).into_owned(), k);
            }
        }
        Ok(self.unprefixed_entitlements.get_or_init(|| m))
    }

    fn irregular_grants(&self) -> Result<&HashMap<String, Vec<u8>>> {
        if let Some(m) = self.irregular_grants.get() {
            return Ok(m);
        }
        let mut m = HashMap::new();
        let family = keys::header(family::GRANT);
        for entry in self
            .db
            .scan(&family, keys::upper_bound(&family).as_deref())?
        {
            let (k, v) = entry?;
            let r: rec::GrantRecord = records::decode("pebble grant", &v)?;
            if r.external_id.is_empty() {
                continue;
            }
            let e = r.entitlement.unwrap_or_default();
            let p = r.principal.unwrap_or_default();
            let canonical = format!(
                "{}:{}:{}",
                e.entitlement_id, p.resource_type_id, p.resource_id
            );
            if r.external_id != canonical {
                m.insert(r.external_id, k);
            }
        }
        Ok(self.irregular_grants.get_or_init(|| m))
    }

    /// The grant primary key of `id`, if such a grant exists.
    fn find_grant(&self, id: &str) -> Result<Option<(Vec<u8>, rec::GrantRecord)>> {
        let header = keys::header(family::GRANT);
        // (entitlement id, principal type, principal id) splits; the last two colons are
        // the likeliest principal, so they are tried first.
        let mut splits = keys::colon_splits(id);
        splits.sort_by_key(|(e, p, _)| std::cmp::Reverse((e.len() + p.len(), e.len())));
        let grant_at = |e: &EntitlementIdentity, prt: &str, pid: &str| {
            let [a, b, c, d] = e.parts();
            let k = keys::key(&header, &[a, b, c, d, prt.as_bytes(), pid.as_bytes()]);
            Ok::<_, Error>(
                self.get::<rec::GrantRecord>("pebble grant", &k)?
                    .map(|r| (k, r)),
            )
        };
        for &(ent, prt, pid) in &splits {
            for (rt, rid, _) in keys::colon_splits(ent) {
                let e = EntitlementIdentity::new(rt, rid, ent);
                if let Some((k, r)) = grant_at(&e, prt, pid)?
                    && (r.external_id.is_empty() || r.external_id == id)
                {
                    return Ok(Some((k, r)));
                }
            }
        }
        // Ids of another shape, then grants under an unprefixed entitlement.
        if let Some(k) = self.irregular_grants()?.get(id) {
            return Ok(self.get("pebble grant", k)?.map(|r| (k.clone(), r)));
        }
        for &(ent, prt, pid) in &splits {
            if let Some(ek) = self.unprefixed_entitlements()?.get(ent) {
                let e = EntitlementIdentity::from_components(&keys::components(ek, 2)?)?;
                if let Some((k, r)) = grant_at(&e, prt, pid)?
                    && r.external_id.is_empty()
                {
                    return Ok(Some((k, r)));
                }
            }
        }
        Ok(None)
    }

    /// The ranges and row source a grant query reads, most selective index first.
    fn grant_ranges(&self, q: &GrantQuery) -> Result<(Vec<Range>, GrantSource)> {
        let grants = keys::header(family::GRANT);
        if let Some(e) = &q.entitlement_id {
            let mut ranges = Vec::new();
            let mut identities: Vec<Vec<Vec<u8>>> = Vec::new();
            for k in self.entitlement_keys(e)? {
                identities.push(keys::components(&k, 2)?);
            }
            // Grants may name an entitlement the sync has no row for.
            for (rt, rid, tail) in keys::colon_splits(e) {
                let c = vec![rt.into(), rid.into(), b"1".to_vec(), tail.into()];
                if !identities.contains(&c) {
                    identities.push(c);
                }
            }
            for c in identities {
                let mut parts: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
                if let Some(p) = &q.principal {
                    parts.push(p.resource_type.as_bytes());
                    parts.push(p.resource.as_bytes());
                    let k = keys::key(&grants, &parts);
                    let mut upper = k.clone();
                    upper.push(0);
                    ranges.push(Range {
                        lower: k,
                        upper: Some(upper),
                    });
                } else {
                    ranges.push(Range::prefix(keys::prefix(&grants, &parts)));
                }
            }
            ranges.sort_by(|a, b| a.lower.cmp(&b.lower));
            return Ok((ranges, GrantSource::Primary));
        }
        let by_principal = keys::index_header(index::BY_PRINCIPAL);
        if self.by_principal_complete
            && let Some(p) = &q.principal
        {
            let prefix = keys::prefix(
                &by_principal,
                &[p.resource_type.as_bytes(), p.resource.as_bytes()],
            );
            return Ok((vec![Range::prefix(prefix)], GrantSource::ByPrincipal));
        }
        if let Some(r) = &q.resource {
            let prefix = keys::prefix(
                &grants,
                &[r.resource_type.as_bytes(), r.resource.as_bytes()],
            );
            return Ok((vec![Range::prefix(prefix)], GrantSource::Primary));
        }
        if q.needs_expansion {
            let prefix = keys::index_header(index::NEEDS_EXPANSION);
            return Ok((
                vec![Range::prefix(prefix.to_vec())],
                GrantSource::NeedsExpansion,
            ));
        }
        if self.by_principal_complete && !q.principal_resource_type_ids.is_empty() {
            let mut types = q.principal_resource_type_ids.clone();
            types.sort();
            types.dedup();
            let ranges = types
                .iter()
                .map(|t| Range::prefix(keys::prefix(&by_principal, &[t.as_bytes()])))
                .collect();
            return Ok((ranges, GrantSource::ByPrincipal));
        }
        if let Some(t) = &q.resource_type_id {
            let prefix = keys::prefix(&grants, &[t.as_bytes()]);
            return Ok((vec![Range::prefix(prefix)], GrantSource::Primary));
        }
        Ok((vec![Range::prefix(grants.to_vec())], GrantSource::Primary))
    }

    /// The grant a listed key stands for (the key itself, or an index entry's row).
    fn grant_row(
        &self,
        source: GrantSource,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<rec::GrantRecord>> {
        let primary = match source {
            GrantSource::Primary => return records::decode("pebble grant", value).map(Some),
            GrantSource::ByPrincipal => {
                // p_rt, p_id, then the entitlement's 4 components.
                let c = keys::components(key, 3)?;
                let [prt, pid, a, b, f, t] = c.as_slice() else {
                    return Err(Error::corrupt(
                        "pebble index",
                        format!("by-principal entry {}", keys::show(key)),
                    ));
                };
                let parts: [&[u8]; 6] = [a, b, f, t, prt, pid];
                keys::key(&keys::header(family::GRANT), &parts)
            }
            GrantSource::NeedsExpansion => {
                let mut k = keys::header(family::GRANT).to_vec();
                k.extend_from_slice(&key[3..]);
                k
            }
        };
        self.get("pebble grant", &primary)
    }
}

/// Where the rows of a grant listing come from.
#[derive(Clone, Copy, Debug)]
enum GrantSource {
    /// Grant rows themselves.
    Primary,
    /// Entries of the by-principal index.
    ByPrincipal,
    /// Entries of the needs-expansion index.
    NeedsExpansion,
}

/// Whether a grant matches every filter of `q`.
fn grant_matches(q: &GrantQuery, g: &GrantRecord) -> bool {
    let ent = g.grant.entitlement.as_ref();
    let ent_res = ent
        .and_then(|e| e.resource.as_ref())
        .and_then(|r| r.id.as_ref());
    let principal = g.grant.principal.as_ref().and_then(|p| p.id.as_ref());
    q.entitlement_id
        .as_ref()
        .is_none_or(|e| ent.is_some_and(|x| x.id == *e))
        && q.principal.as_ref().is_none_or(|p| {
            principal
                .is_some_and(|x| x.resource_type == p.resource_type && x.resource == p.resource)
        })
        && (q.principal_resource_type_ids.is_empty()
            || principal.is_some_and(|x| q.principal_resource_type_ids.contains(&x.resource_type)))
        && q.resource.as_ref().is_none_or(|r| {
            ent_res.is_some_and(|x| x.resource_type == r.resource_type && x.resource == r.resource)
        })
        && q.resource_type_id
            .as_ref()
            .is_none_or(|t| ent_res.is_some_and(|x| x.resource_type == *t))
        && (!q.needs_expansion || g.needs_expansion)
}

/// The error of every write: c1z reads Pebble and never writes it.
fn writes_refused(operation: &'static str) -> Error {
    Error::ReadOnly { operation }
}

/// Counts the keys under `header` by their first tuple component (keys are sorted, so
/// equal components are adjacent: each run is compared in place and decoded once).
fn count_by_first(db: &Arc<Db>, header: &[u8]) -> Result<BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    let mut current: Option<(Vec<u8>, u64)> = None;
    let mut scan = db.scan(header, keys::upper_bound(header).as_deref())?;
    let flush = |out: &mut BTreeMap<String, u64>, (raw, n): (Vec<u8>, u64)| -> Result<()> {
        let name = first_component(&raw, header.len())?;
        *out.entry(String::from_utf8_lossy(&name).into_owned())
            .or_default() += n;
        Ok(())
    };
    while let Some(row) = scan.next_row()? {
        let k = row.key();
        // The escaped first component, with its leading separator.
        let rest = &k[header.len().min(k.len())..];
        let end = rest
            .iter()
            .skip(1)
            .position(|b| *b == 0)
            .map_or(rest.len(), |p| p + 1);
        let raw = &rest[..end];
        match &mut current {
            Some((c, n)) if c.get(header.len()..) == Some(raw) => *n += 1,
            _ => {
                if let Some(done) = current.take() {
                    flush(&mut out, done)?;
                }
                current = Some((k[..header.len().min(k.len()) + end].to_vec(), 1));
            }
        }
    }
    if let Some(done) = current {
        flush(&mut out, done)?;
    }
    Ok(out)
}

fn first_component(key: &[u8], header_len: usize) -> Result<Vec<u8>> {
    let rest = key
        .get(header_len..)
        .and_then(|r| r.strip_prefix(&[0]))
        .ok_or_else(|| Error::corrupt("pebble key", format!("no tuple in {}", keys::show(key))))?;
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    let mut out = Vec::with_capacity(end);
    let mut bytes = rest[..end].iter();
    while let Some(&b) = bytes.next() {
        if b == 1 {
            match bytes.next() {
                Some(1) => out.push(0),
                Some(2) => out.push(1),
                _ => {
                    return Err(Error::corrupt(
                        "pebble key",
                        format!("bad escape in {}", keys::show(key)),
                    ));
                }
            }
        } else {
            out.push(b);
        }
    }
    Ok(out)
}

impl Reader for PebbleStore {
    fn metadata(&self) -> StoreMetadata {
        StoreMetadata {
            engine: self.engine,
            format: crate::format::Format::V3,
            engine_version: self.db.dir.format_major_version,
            read_only: true,
        }
    }

    fn sync_run(&self, id: &SyncId) -> Result<Option<SyncRun>> {
        Ok(self.run.as_ref().filter(|r| r.id == *id).cloned())
    }

    fn list_sync_runs(&self, page: &PageRequest) -> Result<Page<SyncRun>> {
        if !page.token.is_empty() {
            return Err(invalid_token());
        }
        Ok(Page {
            items: self.run.iter().cloned().collect(),
            next_page_token: String::new(),
        })
    }

    fn resource_type(&self, sync: &SyncSelector, id: &str) -> Result<Option<Record<ResourceType>>> {
        self.on_sync(sync, || {
            let k = keys::key(&keys::header(family::RESOURCE_TYPE), &[id.as_bytes()]);
            Ok(self
                .get::<rec::ResourceTypeRecord>("pebble resource type", &k)?
                .map(records::resource_type))
        })
    }

    fn resource(&self, sync: &SyncSelector, key: &ResourceKey) -> Result<Option<Record<Resource>>> {
        self.on_sync(sync, || {
            let k = keys::key(
                &keys::header(family::RESOURCE),
                &[key.resource_type.as_bytes(), key.resource.as_bytes()],
            );
            Ok(self
                .get::<rec::ResourceRecord>("pebble resource", &k)?
                .map(records::resource))
        })
    }

    fn entitlement(&self, sync: &SyncSelector, id: &str) -> Result<Option<Record<Entitlement>>> {
        self.on_sync(sync, || {
            for k in self.entitlement_keys(id)? {
                if let Some(r) = self.get::<rec::EntitlementRecord>("pebble entitlement", &k)? {
                    return Ok(Some(records::entitlement(r)));
                }
            }
            Ok(None)
        })
    }

    fn grant(&self, sync: &SyncSelector, id: &str) -> Result<Option<GrantRecord>> {
        self.on_sync(sync, || {
            Ok(self.find_grant(id)?.map(|(_, r)| records::grant(r)))
        })
    }

    fn asset(&self, sync: &SyncSelector, id: &str) -> Result<Option<Asset>> {
        self.on_sync(sync, || {
            let k = keys::key(&keys::header(family::ASSET), &[id.as_bytes()]);
            Ok(self
                .get::<rec::AssetRecord>("pebble asset", &k)?
                .map(records::asset))
        })
    }

    fn list_resource_types(
        &self,
        query: &ResourceTypeQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<ResourceType>>> {
        self.on_sync(&query.sync, || {
            let range = Range::prefix(keys::header(family::RESOURCE_TYPE).to_vec());
            self.page(&[range], page, |_, v| {
                Ok(Some(records::resource_type(records::decode(
                    "pebble resource type",
                    v,
                )?)))
            })
        })
    }

    fn list_resources(
        &self,
        query: &ResourceQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<Resource>>> {
        self.on_sync(&query.sync, || {
            let rt = query.resource_type_id.as_deref().map(str::as_bytes);
            if let Some(parent) = &query.parent {
                let mut parts: Vec<&[u8]> =
                    vec![parent.resource_type.as_bytes(), parent.resource.as_bytes()];
                parts.extend(rt);
                let range =
                    Range::prefix(keys::prefix(&keys::index_header(index::BY_PARENT), &parts));
                return self.page(&[range], page, |k, _| {
                    let c = keys::components(k, 3)?;
                    let [_, _, crt, cid] = c.as_slice() else {
                        return Err(Error::corrupt(
                            "pebble index",
                            format!("by-parent entry {}", keys::show(k)),
                        ));
                    };
                    let key = keys::key(&keys::header(family::RESOURCE), &[crt, cid]);
                    Ok(self
                        .get::<rec::ResourceRecord>("pebble resource", &key)?
                        .map(records::resource))
                });
            }
            let header = keys::header(family::RESOURCE);
            let range = match rt {
                Some(rt) => Range::prefix(keys::prefix(&header, &[rt])),
                None => Range::prefix(header.to_vec()),
            };
            self.page(&[range], page, |_, v| {
                Ok(Some(records::resource(records::decode(
                    "pebble resource",
                    v,
                )?)))
            })
        })
    }

    fn list_entitlements(
        &self,
        query: &EntitlementQuery,
        page: &PageRequest,
    ) -> Result<Page<Record<Entitlement>>> {
        self.on_sync(&query.sync, || {
            let header = keys::header(family::ENTITLEMENT);
            let range = match &query.resource {
                Some(r) => Range::prefix(keys::prefix(
                    &header,
                    &[r.resource_type.as_bytes(), r.resource.as_bytes()],
                )),
                None => Range::prefix(header.to_vec()),
            };
            self.page(&[range], page, |_, v| {
                Ok(Some(records::entitlement(records::decode(
                    "pebble entitlement",
                    v,
                )?)))
            })
        })
    }

    fn list_grants(&self, query: &GrantQuery, page: &PageRequest) -> Result<Page<GrantRecord>> {
        self.on_sync(&query.sync, || {
            let (ranges, source) = self.grant_ranges(query)?;
            self.page_into(&ranges, page, |k, v, out| {
                if let Some(r) = self.grant_row(source, k, v)? {
                    out.push(records::grant(r));
                    if out.last().is_some_and(|g| !grant_matches(query, g)) {
                        out.pop();
                    }
                }
                Ok(())
            })
        })
    }

    fn list_assets(&self, query: &AssetQuery, page: &PageRequest) -> Result<Page<Asset>> {
        self.on_sync(&query.sync, || {
            let range = Range::prefix(keys::header(family::ASSET).to_vec());
            self.page(&[range], page, |_, v| {
                Ok(Some(records::asset(records::decode("pebble asset", v)?)))
            })
        })
    }

    fn count_objects(&self, sync: &SyncId) -> Result<ObjectCounts> {
        if self.run.as_ref().is_none_or(|r| r.id != *sync) {
            return Ok(ObjectCounts::default());
        }
        let db = &self.db;
        let resource_type_ids = count_by_first(db, &keys::header(family::RESOURCE_TYPE))?
            .into_keys()
            .collect();
        let assets = count_by_first(db, &keys::header(family::ASSET))?
            .values()
            .sum();
        Ok(ObjectCounts {
            resource_type_ids,
            resources_by_type: count_by_first(db, &keys::header(family::RESOURCE))?,
            entitlements_by_type: count_by_first(db, &keys::header(family::ENTITLEMENT))?,
            grants_by_type: count_by_first(db, &keys::header(family::GRANT))?,
            assets,
        })
    }
}

impl Writer for PebbleStore {
    fn put_sync_run(&self, _run: &SyncRun) -> Result<()> {
        Err(writes_refused("put_sync_run"))
    }
    fn delete_sync_run(&self, _id: &SyncId) -> Result<()> {
        Err(writes_refused("delete_sync_run"))
    }
    fn put_resource_types(&self, _sync: &SyncId, _rows: &[Record<ResourceType>]) -> Result<()> {
        Err(writes_refused("put_resource_types"))
    }
    fn put_resources(&self, _sync: &SyncId, _rows: &[Record<Resource>]) -> Result<()> {
        Err(writes_refused("put_resources"))
    }
    fn put_entitlements(&self, _sync: &SyncId, _rows: &[Record<Entitlement>]) -> Result<()> {
        Err(writes_refused("put_entitlements"))
    }
    fn put_grants(
        &self,
        _sync: &SyncId,
        _rows: &[GrantRecord],
        _mode: GrantUpsertMode,
    ) -> Result<()> {
        Err(writes_refused("put_grants"))
    }
    fn delete_grant(&self, _sync: &SyncId, _grant_id: &str) -> Result<bool> {
        Err(writes_refused("delete_grant"))
    }
    fn put_asset(&self, _sync: &SyncId, _asset: &Asset) -> Result<()> {
        Err(writes_refused("put_asset"))
    }
    fn compact(&self) -> Result<()> {
        Err(writes_refused("compact"))
    }
    fn bulk_grants(&self) -> Result<crate::store::GrantBulkLoad<'_>> {
        Err(writes_refused("bulk_grants"))
    }
}
