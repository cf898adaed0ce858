//! Diffs between two syncs, in one file or two, of any engines: the resource types,
//! resources, entitlements and grants added, changed and removed.
//!
//! Objects are matched by baton's external id (a resource by `type:id`), and "changed" is
//! baton's rule made engine-neutral: the canonical encodings of the two objects differ
//! (for grants, also their expansion columns). Both sides are streamed; what is held is
//! 24 bytes per object of the old side (a 128-bit hash of its id and a 64-bit hash of its
//! encoding), so memory stays a small fraction of the data. The old side is read twice:
//! once to hash it, once to emit what the new side no longer has.
//!
//! [`write_diff_pair`] stores a diff as baton's pair of syncs (`partial_deletions` and
//! `partial_upserts`, parented on the old sync and linked to each other, as
//! `../shared/spec/format-v1-sqlite.md` §7.2 describes).

use std::collections::{BTreeMap, HashMap};

use prost::Message;
use xxhash_rust::xxh64::xxh64;

use crate::error::{Error, Result};
use crate::model::{GrantRecord, Record, ResourceKey, SyncId, SyncRun, SyncType, wall};
use crate::pb::c1::connector::v2::{Entitlement, Resource, ResourceType};
use crate::store::{
    EntitlementQuery, GrantQuery, GrantUpsertMode, Reader, ReaderExt, ResourceQuery,
    ResourceTypeQuery, SyncSelector, Writer,
};

/// The kinds of object a diff compares (assets and sessions are not diffed, as in baton).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Resource types.
    ResourceType,
    /// Resources.
    Resource,
    /// Entitlements.
    Entitlement,
    /// Grants.
    Grant,
}

impl Kind {
    /// Every kind, in the order a diff walks them.
    pub const ALL: [Kind; 4] = [
        Kind::ResourceType,
        Kind::Resource,
        Kind::Entitlement,
        Kind::Grant,
    ];

    /// `resource_type`, `resource`, `entitlement`, `grant`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Kind::ResourceType => "resource_type",
            Kind::Resource => "resource",
            Kind::Entitlement => "entitlement",
            Kind::Grant => "grant",
        }
    }
}

/// What happened to an object between the two syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only the new sync has it.
    Added,
    /// Both have it, with different contents.
    Changed,
    /// Only the old sync has it.
    Removed,
}

impl Change {
    /// `added`, `changed`, `removed`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Changed => "changed",
            Change::Removed => "removed",
        }
    }
}

/// An object of either side.
// A grant is the large variant, and the common one: boxing it would allocate per grant.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// A resource type.
    ResourceType(Record<ResourceType>),
    /// A resource.
    Resource(Record<Resource>),
    /// An entitlement.
    Entitlement(Record<Entitlement>),
    /// A grant.
    Grant(GrantRecord),
}

impl Object {
    /// Its kind.
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Object::ResourceType(_) => Kind::ResourceType,
            Object::Resource(_) => Kind::Resource,
            Object::Entitlement(_) => Kind::Entitlement,
            Object::Grant(_) => Kind::Grant,
        }
    }

    /// baton's external id: the id, or `type:id` for a resource.
    #[must_use]
    pub fn external_id(&self) -> String {
        match self {
            Object::ResourceType(r) => r.value.id.clone(),
            Object::Resource(r) => r
                .value
                .id
                .as_ref()
                .map(|id| format!("{}:{}", id.resource_type, id.resource))
                .unwrap_or_default(),
            Object::Entitlement(e) => e.value.id.clone(),
            Object::Grant(g) => g.grant.id.clone(),
        }
    }

    /// The resource type it is counted under, as the stats count: itself, the resource's
    /// type, the entitlement's resource's type, the grant's entitlement's resource's type.
    #[must_use]
    pub fn resource_type(&self) -> String {
        let of_entitlement = |e: Option<&Entitlement>| entitlement_resource_type(e).to_owned();
        match self {
            Object::ResourceType(r) => r.value.id.clone(),
            Object::Resource(r) => r
                .value
                .id
                .as_ref()
                .map(|id| id.resource_type.clone())
                .unwrap_or_default(),
            Object::Entitlement(e) => of_entitlement(Some(&e.value)),
            Object::Grant(g) => of_entitlement(g.grant.entitlement.as_ref()),
        }
    }

    /// The grant's principal (`None` for the other kinds).
    #[must_use]
    pub fn principal(&self) -> Option<ResourceKey> {
        match self {
            Object::Grant(g) => g
                .grant
                .principal
                .as_ref()
                .and_then(|p| p.id.as_ref())
                .map(ResourceKey::of),
            _ => None,
        }
    }

    /// When the object was first written to its sync.
    #[must_use]
    pub fn discovered_at(&self) -> chrono::NaiveDateTime {
        match self {
            Object::ResourceType(r) => r.discovered_at,
            Object::Resource(r) => r.discovered_at,
            Object::Entitlement(e) => e.discovered_at,
            Object::Grant(g) => g.discovered_at,
        }
    }

    /// The canonical encoding "changed" compares (a grant's expansion columns appended).
    pub(crate) fn content(&self) -> Vec<u8> {
        match self {
            Object::ResourceType(r) => r.value.encode_to_vec(),
            Object::Resource(r) => r.value.encode_to_vec(),
            Object::Entitlement(e) => e.value.encode_to_vec(),
            Object::Grant(g) => {
                // baton compares `data` and `expansion` (NULL as empty), not
                // `needs_expansion`, which expansion clears. The expansion's length first,
                // so the two parts cannot run into each other.
                let expansion = g
                    .expansion
                    .as_ref()
                    .map(Message::encode_to_vec)
                    .unwrap_or_default();
                let mut bytes = (expansion.len() as u64).to_le_bytes().to_vec();
                bytes.extend_from_slice(&expansion);
                bytes.extend_from_slice(&crate::codec::encode_grant(&g.grant));
                bytes
            }
        }
    }
}

/// The type of an entitlement's resource (`""` when it names none): what grants and
/// entitlements are counted under.
pub(crate) fn entitlement_resource_type(e: Option<&Entitlement>) -> &str {
    e.and_then(|e| e.resource.as_ref())
        .and_then(|r| r.id.as_ref())
        .map_or("", |id| id.resource_type.as_str())
}

/// One difference: the new object (added, changed) or the old one (removed).
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// What happened.
    pub change: Change,
    /// The object as the side that has it holds it (the new side for a change).
    pub object: Object,
}

/// Counts of one kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct KindCounts {
    /// Objects only the new sync has.
    pub added: u64,
    /// Objects whose contents differ.
    pub changed: u64,
    /// Objects only the old sync has.
    pub removed: u64,
    /// The same per resource type (as the stats count them).
    pub by_resource_type: BTreeMap<String, ChangeCounts>,
}

/// Added, changed and removed counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChangeCounts {
    /// Added.
    pub added: u64,
    /// Changed.
    pub changed: u64,
    /// Removed.
    pub removed: u64,
}

/// Principals with a number of grants, most first.
pub type PrincipalCounts = Vec<(ResourceKey, u64)>;

/// A diff's counts, per kind, and the grants gained and lost per principal.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DiffSummary {
    /// Per kind.
    pub kinds: BTreeMap<Kind, KindCounts>,
    /// Grants gained and lost per principal (see [`DiffSummary::top_principals`]).
    #[serde(skip)]
    pub per_principal: HashMap<ResourceKey, (u64, u64)>,
}

impl DiffSummary {
    fn count(&mut self, d: &Difference) {
        let kind = self.kinds.entry(d.object.kind()).or_default();
        let per_type = kind
            .by_resource_type
            .entry(d.object.resource_type())
            .or_default();
        match d.change {
            Change::Added => {
                kind.added += 1;
                per_type.added += 1;
            }
            Change::Changed => {
                kind.changed += 1;
                per_type.changed += 1;
            }
            Change::Removed => {
                kind.removed += 1;
                per_type.removed += 1;
            }
        }
        if d.change != Change::Changed
            && let Some(p) = d.object.principal()
        {
            let e = self.per_principal.entry(p).or_default();
            if d.change == Change::Added {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
    }

    /// Whether nothing differs.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.kinds
            .values()
            .all(|k| k.added + k.changed + k.removed == 0)
    }

    /// The `n` principals that gained the most grants (count, then key order), and the `n`
    /// that lost the most.
    #[must_use]
    pub fn top_principals(&self, n: usize) -> (PrincipalCounts, PrincipalCounts) {
        let top = |pick: fn(&(u64, u64)) -> u64| {
            let mut v: Vec<(ResourceKey, u64)> = self
                .per_principal
                .iter()
                .map(|(k, c)| (k.clone(), pick(c)))
                .filter(|(_, c)| *c > 0)
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(n);
            v
        };
        (top(|c| c.0), top(|c| c.1))
    }
}

/// One side of a diff: a store and one of its syncs.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    /// The store.
    pub store: &'a dyn Reader,
    /// The sync.
    pub sync: &'a SyncId,
}

/// Hashes [`id_hash`] values for hash maps: they are already uniform, so their low 64
/// bits are the hash (SipHash over them cost a tenth of a million-object diff).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; anything else still hashes.
        self.0 = xxh64(bytes, self.0);
    }

    fn write_u128(&mut self, n: u128) {
        // Truncation intended: the low half of a uniform hash.
        #[allow(clippy::cast_possible_truncation)]
        {
            self.0 = n as u64;
        }
    }
}

/// A map keyed by [`id_hash`] values.
pub(crate) type IdMap<V> = HashMap<u128, V, std::hash::BuildHasherDefault<IdHasher>>;
/// A set of [`id_hash`] values.
pub(crate) type IdSet = std::collections::HashSet<u128, std::hash::BuildHasherDefault<IdHasher>>;

pub(crate) fn id_hash(id: &str) -> u128 {
    (u128::from(xxh64(id.as_bytes(), 0)) << 64) | u128::from(xxh64(id.as_bytes(), 0x9e37_79b9))
}

/// Every object of `kind` in the sync, streamed.
pub(crate) fn objects<'a>(
    side: Side<'a>,
    kind: Kind,
) -> Box<dyn Iterator<Item = Result<Object>> + 'a> {
    let sync = SyncSelector::Id(side.sync.clone());
    let store = side.store;
    match kind {
        Kind::ResourceType => Box::new(
            store
                .stream_resource_types(ResourceTypeQuery { sync })
                .map(|r| r.map(Object::ResourceType)),
        ),
        Kind::Resource => Box::new(
            store
                .stream_resources(ResourceQuery {
                    sync,
                    ..Default::default()
                })
                .map(|r| r.map(Object::Resource)),
        ),
        Kind::Entitlement => Box::new(
            store
                .stream_entitlements(EntitlementQuery {
                    sync,
                    ..Default::default()
                })
                .map(|r| r.map(Object::Entitlement)),
        ),
        Kind::Grant => Box::new(
            store
                .stream_grants(GrantQuery {
                    sync,
                    ..Default::default()
                })
                .map(|r| r.map(Object::Grant)),
        ),
    }
}

/// Objects handed from the reading thread per message.
const PREFETCH_BATCH: usize = 1_024;

/// Runs `consume` over every object of `kind` in the sync, the objects read and decoded on
/// a second thread meanwhile (decoding is half the work of a diff or a merge). At most a
/// few batches wait between the two. When `consume` returns early, the reader stops at
/// its next batch.
///
/// # Errors
/// The first error of the reads (in order) or of `consume`.
pub(crate) fn with_objects<T>(
    side: Side<'_>,
    kind: Kind,
    consume: impl FnOnce(&mut dyn Iterator<Item = Result<Object>>) -> Result<T>,
) -> Result<T> {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Result<Object>>>(4);
        scope.spawn(move || {
            let mut batch = Vec::with_capacity(PREFETCH_BATCH);
            for o in objects(side, kind) {
                let failed = o.is_err();
                batch.push(o);
                if batch.len() == PREFETCH_BATCH || failed {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(PREFETCH_BATCH));
                    if tx.send(full).is_err() || failed {
                        return;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
        });
        let mut rows = rx.into_iter().flatten();
        consume(&mut rows)
    })
}

/// Diffs `old` against `new`, calling `visit` with each difference (per kind: added and
/// changed in the new side's order, then removed in the old side's), and returns the counts.
///
/// # Errors
/// Engine or decode errors of either side, or the first error of `visit`.
pub fn diff(
    old: Side<'_>,
    new: Side<'_>,
    mut visit: impl FnMut(&Difference) -> Result<()>,
) -> Result<DiffSummary> {
    let mut summary = DiffSummary::default();
    for kind in Kind::ALL {
        summary.kinds.entry(kind).or_default();
        // id hash → content hash of every old object; what is left at the end was removed.
        let mut old_hashes: IdMap<u64> = IdMap::default();
        with_objects(old, kind, |rows| {
            for o in rows {
                let o = o?;
                old_hashes.insert(id_hash(&o.external_id()), xxh64(&o.content(), 0));
            }
            Ok(())
        })?;
        with_objects(new, kind, |rows| {
            for o in rows {
                let object = o?;
                let change = match old_hashes.remove(&id_hash(&object.external_id())) {
                    None => Change::Added,
                    Some(h) if h != xxh64(&object.content(), 0) => Change::Changed,
                    Some(_) => continue,
                };
                let d = Difference { change, object };
                summary.count(&d);
                visit(&d)?;
            }
            Ok(())
        })?;
        if old_hashes.is_empty() {
            continue;
        }
        with_objects(old, kind, |rows| {
            for o in rows {
                let object = o?;
                if old_hashes.remove(&id_hash(&object.external_id())).is_some() {
                    let d = Difference {
                        change: Change::Removed,
                        object,
                    };
                    summary.count(&d);
                    visit(&d)?;
                }
            }
            Ok(())
        })?;
    }
    Ok(summary)
}

/// Rows written per call by [`write_diff_pair`].
const BATCH: usize = 5_000;

/// The pair of syncs [`write_diff_pair`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffPair {
    /// The `partial_upserts` sync: added and changed objects, as the new side has them.
    pub upserts: SyncId,
    /// The `partial_deletions` sync: removed objects, as the old side had them.
    pub deletions: SyncId,
    /// The counts.
    pub summary: DiffSummary,
}

/// Buffers differences into batched puts on one sync.
pub(crate) struct PairWriter<'a> {
    out: &'a dyn Writer,
    sync: SyncId,
    resource_types: Vec<Record<ResourceType>>,
    resources: Vec<Record<Resource>>,
    entitlements: Vec<Record<Entitlement>>,
    grants: Vec<GrantRecord>,
}

impl<'a> PairWriter<'a> {
    pub(crate) fn new(out: &'a dyn Writer, sync: SyncId) -> Self {
        PairWriter {
            out,
            sync,
            resource_types: Vec::new(),
            resources: Vec::new(),
            entitlements: Vec::new(),
            grants: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, object: &Object) -> Result<()> {
        match object {
            Object::ResourceType(r) => self.resource_types.push(r.clone()),
            Object::Resource(r) => self.resources.push(r.clone()),
            Object::Entitlement(e) => self.entitlements.push(e.clone()),
            Object::Grant(g) => self.grants.push(g.clone()),
        }
        let full = self.resource_types.len()
            + self.resources.len()
            + self.entitlements.len()
            + self.grants.len()
            >= BATCH;
        if full { self.flush() } else { Ok(()) }
    }

    pub(crate) fn flush(&mut self) -> Result<()> {
        let (out, sync) = (self.out, &self.sync);
        if !self.resource_types.is_empty() {
            out.put_resource_types(sync, &std::mem::take(&mut self.resource_types))?;
        }
        if !self.resources.is_empty() {
            out.put_resources(sync, &std::mem::take(&mut self.resources))?;
        }
        if !self.entitlements.is_empty() {
            out.put_entitlements(sync, &std::mem::take(&mut self.entitlements))?;
        }
        if !self.grants.is_empty() {
            // As the side held them, expansion columns included.
            out.put_grants(
                sync,
                &std::mem::take(&mut self.grants),
                GrantUpsertMode::Replace,
            )?;
        }
        Ok(())
    }
}

/// Diffs `old` against `new` into `out` as baton's pair of syncs: a `partial_deletions`
/// sync (created first) holding the removed objects as the old sync had them, and a
/// `partial_upserts` sync holding the added and changed objects as the new sync has them.
/// Both are parented on the old sync, linked to each other, support diffs, and end at the
/// same time; no stats are stored (as baton).
///
/// # Errors
/// Store errors of any side; [`Error::InvalidArgument`] when `out` is read-only.
pub fn write_diff_pair(old: Side<'_>, new: Side<'_>, out: &dyn Writer) -> Result<DiffPair> {
    if out.metadata().read_only {
        return Err(Error::InvalidArgument(
            "the diff's output store is read-only".into(),
        ));
    }
    let deletions = SyncId::generate();
    let mut upserts = SyncId::generate();
    while upserts == deletions {
        upserts = SyncId::generate();
    }
    let run = |id: &SyncId, kind: SyncType, linked: &SyncId| SyncRun {
        parent_sync_id: Some(old.sync.clone()),
        linked_sync_id: Some(linked.clone()),
        supports_diff: true,
        ..SyncRun::open(id.clone(), kind)
    };
    let mut deletions_run = run(&deletions, SyncType::PartialDeletions, &upserts);
    let mut upserts_run = run(&upserts, SyncType::PartialUpserts, &deletions);
    upserts_run.started_at = deletions_run.started_at;
    out.put_sync_run(&deletions_run)?;
    out.put_sync_run(&upserts_run)?;
    let mut removed = PairWriter::new(out, deletions.clone());
    let mut upserted = PairWriter::new(out, upserts.clone());
    let summary = diff(old, new, |d| match d.change {
        Change::Removed => removed.push(&d.object),
        Change::Added | Change::Changed => upserted.push(&d.object),
    })?;
    removed.flush()?;
    upserted.flush()?;
    let ended = wall::now();
    deletions_run.ended_at = Some(ended);
    upserts_run.ended_at = Some(ended);
    out.put_sync_run(&deletions_run)?;
    out.put_sync_run(&upserts_run)?;
    Ok(DiffPair {
        upserts,
        deletions,
        summary,
    })
}

/// What [`apply_diff`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The new full sync.
    pub sync: SyncId,
    /// Objects written (resource types, resources, entitlements, grants, assets).
    pub rows: u64,
}

/// The ids of every object of `kind` in a sync, hashed as [`diff`] hashes them.
fn id_set(side: Side<'_>, kind: Kind) -> Result<IdSet> {
    objects(side, kind)
        .map(|o| o.map(|o| id_hash(&o.external_id())))
        .collect()
}

/// Applies a diff pair to its base: writes into `out` a new finished `full` sync holding
/// the base's objects, less those `deletions` names and those `upserts` replaces, plus
/// every object of `upserts`; then the base's assets (diffs carry none) and the stats.
/// Streams: what is held is the hashed ids of the diff's two syncs.
///
/// # Errors
/// Store errors of any side.
pub fn apply_diff(
    base: Side<'_>,
    upserts: Side<'_>,
    deletions: Side<'_>,
    out: &dyn Writer,
) -> Result<Applied> {
    let sync = SyncId::generate();
    let mut run = SyncRun {
        supports_diff: true,
        ..SyncRun::open(sync.clone(), SyncType::Full)
    };
    out.put_sync_run(&run)?;
    let mut writer = PairWriter::new(out, sync.clone());
    let mut rows = 0u64;
    for kind in Kind::ALL {
        let mut replaced = id_set(upserts, kind)?;
        replaced.extend(id_set(deletions, kind)?);
        for o in objects(base, kind) {
            let o = o?;
            if !replaced.contains(&id_hash(&o.external_id())) {
                writer.push(&o)?;
                rows += 1;
            }
        }
        for o in objects(upserts, kind) {
            writer.push(&o?)?;
            rows += 1;
        }
        // Kinds in order: entitlements before the grants that embed them.
        writer.flush()?;
    }
    let assets = base.store.stream_assets(crate::store::AssetQuery {
        sync: SyncSelector::Id(base.sync.clone()),
    });
    for a in assets {
        out.put_asset(&sync, &a?)?;
        rows += 1;
    }
    run.ended_at = Some(wall::now());
    run.stats = Some(crate::sync::compute_stats(out, &run)?.to_json());
    out.put_sync_run(&run)?;
    Ok(Applied { sync, rows })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_hash_to_distinct_128_bit_values() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            assert!(seen.insert(id_hash(&format!("group:g{i}:member:user:u{i}"))));
        }
    }

    #[test]
    fn top_principals_sort_by_count_then_key() {
        let mut s = DiffSummary::default();
        for (p, gained, lost) in [("a", 1, 0), ("b", 3, 1), ("c", 3, 0), ("d", 0, 2)] {
            s.per_principal
                .insert(ResourceKey::new("user", p), (gained, lost));
        }
        let (gained, lost) = s.top_principals(2);
        let names = |v: &[(ResourceKey, u64)]| {
            v.iter()
                .map(|(k, n)| format!("{}={n}", k.resource))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&gained), ["b=3", "c=3"]);
        assert_eq!(names(&lost), ["d=2", "b=1"]);
    }
}
