//! The reference model: the store as plain `BTreeMap`s, with the semantics the trait docs
//! of `c1z::store` state (upserts by `(id, sync)` keep the first `discovered_at` and
//! identity columns; the two grant upsert modes; deletes; assets' conflict replaces the
//! data only; ...). It knows nothing of either engine beyond the documented list orders.

use std::collections::BTreeMap;

use c1z::engine::ListOrder;
use c1z::pb::c1::connector::v2::{
    Entitlement, Grant, GrantExpandable, GrantSources, Resource, ResourceId, ResourceType,
};
use c1z::store::ObjectCounts;
use c1z::{
    Asset, AssetQuery, DerivedGrant, EncodedGrant, EntitlementQuery, GrantQuery, GrantRecord,
    GrantUpsertMode, Record, ResourceKey, ResourceQuery, ResourceTypeQuery, StoredGrant, SyncId,
    SyncRun, codec,
};
use chrono::NaiveDateTime;
use prost::Message;

use super::Depth;
use super::workload::Op;

/// A row with its first-write time and its insertion stamp (SQLite lists by row id: the
/// order rows were first inserted, which upserts keep).
#[derive(Clone, Debug)]
struct Row<T> {
    value: T,
    discovered_at: NaiveDateTime,
    stamp: u64,
}

impl<T: Clone> Row<T> {
    fn record(&self) -> Record<T> {
        Record {
            value: self.value.clone(),
            discovered_at: self.discovered_at,
        }
    }
}

/// A resource with its first write's parent (an identity column).
#[derive(Clone, Debug)]
struct ResourceRow {
    row: Row<Resource>,
    parent: Option<ResourceKey>,
}

/// An entitlement with its first write's resource (identity columns).
#[derive(Clone, Debug)]
struct EntitlementRow {
    row: Row<Entitlement>,
    resource: ResourceKey,
}

/// A grant as stored: the grant (an absent entitlement or principal stays absent), the
/// identity columns of its first write, the expansion columns.
#[derive(Clone, Debug)]
struct GrantRow {
    grant: Grant,
    entitlement_id: String,
    resource: ResourceKey,
    principal: ResourceKey,
    /// Encoded `GrantExpandable`; empty bytes read back as no expansion, so they are
    /// kept as `None`.
    expansion: Option<Vec<u8>>,
    needs_expansion: bool,
    discovered_at: NaiveDateTime,
    stamp: u64,
}

#[derive(Clone, Debug)]
struct AssetRow {
    content_type: String,
    data: Vec<u8>,
    discovered_at: NaiveDateTime,
    stamp: u64,
}

/// The rows of one sync.
#[derive(Clone, Debug, Default)]
struct SyncRows {
    resource_types: BTreeMap<String, Row<ResourceType>>,
    resources: BTreeMap<ResourceKey, ResourceRow>,
    entitlements: BTreeMap<String, EntitlementRow>,
    grants: BTreeMap<String, GrantRow>,
    assets: BTreeMap<String, AssetRow>,
}

/// The bulk-grant phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bulk {
    Off,
    /// Between `begin_bulk_grants` and `end_bulk_grants`; `held` once an expansion fast
    /// path wrote grants that are not yet published.
    On {
        held: bool,
    },
}

#[derive(Debug)]
pub(super) struct Model {
    order: ListOrder,
    runs: BTreeMap<SyncId, (SyncRun, u64)>,
    rows: BTreeMap<SyncId, SyncRows>,
    /// Sync numbers in creation order: the first write of any kind to a sync (since it
    /// was last deleted). Engines in key order keep a sync's rows under its number, so
    /// they list runs, and a get without a sync filter finds its first match, in this
    /// order.
    seqs: BTreeMap<SyncId, u64>,
    next: u64,
    bulk: Bulk,
}

fn key_of(id: Option<&ResourceId>) -> ResourceKey {
    id.map_or_else(|| ResourceKey::new("", ""), ResourceKey::of)
}

fn stub(key: &ResourceKey) -> Resource {
    Resource {
        id: Some(ResourceId {
            resource_type: key.resource_type.clone(),
            resource: key.resource.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl GrantRow {
    /// The grant as read: hydrated with identity stubs, the expansion decoded.
    fn record(&self) -> GrantRecord {
        let mut grant = self.grant.clone();
        if grant.entitlement.is_none() {
            grant.entitlement = Some(Entitlement {
                id: self.entitlement_id.clone(),
                resource: Some(stub(&self.resource)),
                ..Default::default()
            });
        }
        if grant.principal.is_none() {
            grant.principal = Some(stub(&self.principal));
        }
        GrantRecord {
            grant,
            expansion: self
                .expansion
                .as_deref()
                .map(|b| GrantExpandable::decode(b).unwrap()),
            needs_expansion: self.needs_expansion,
            discovered_at: self.discovered_at,
        }
    }

    fn stored(&self) -> StoredGrant {
        StoredGrant {
            principal: self.principal.clone(),
            data: codec::encode_grant(&self.grant),
        }
    }

    fn matches(&self, q: &GrantQuery) -> bool {
        let r = &self.resource;
        q.entitlement_id
            .as_ref()
            .is_none_or(|e| *e == self.entitlement_id)
            && q.principal.as_ref().is_none_or(|p| *p == self.principal)
            && (q.principal_resource_type_ids.is_empty()
                || q.principal_resource_type_ids
                    .contains(&self.principal.resource_type))
            && q.resource.as_ref().is_none_or(|want| want == r)
            && q.resource_type_id
                .as_ref()
                .is_none_or(|t| *t == r.resource_type)
            && (!q.needs_expansion || self.needs_expansion)
    }
}

/// A grant written by an expansion fast path: its data, identity columns and first-write
/// time (written with no expansion).
struct FastGrant {
    id: String,
    grant: Grant,
    entitlement_id: String,
    resource: ResourceKey,
    principal: ResourceKey,
    discovered_at: NaiveDateTime,
}

impl FastGrant {
    fn encoded(r: &EncodedGrant) -> Self {
        FastGrant {
            id: r.id.clone(),
            grant: Grant::decode(&r.data[..]).unwrap(),
            entitlement_id: r.entitlement.id.clone(),
            resource: ResourceKey::new(
                r.entitlement.resource_type_id.as_str(),
                r.entitlement.resource_id.as_str(),
            ),
            principal: (*r.principal).clone(),
            discovered_at: r.discovered_at,
        }
    }

    /// The grant `DerivedGrant`'s docs describe, built from its parts.
    fn derived(r: &DerivedGrant) -> Self {
        let key = &r.entitlement.key;
        let p = &*r.principal;
        let id = format!("{}:{}:{}", key.id, p.resource_type, p.resource);
        let grant = Grant {
            entitlement: Some(Entitlement::decode(&r.entitlement.data[..]).unwrap()),
            principal: Some(Resource::decode(&r.principal_data[..]).unwrap()),
            id: id.clone(),
            annotations: vec![codec::to_any(
                codec::GRANT_IMMUTABLE,
                &c1z::pb::c1::connector::v2::GrantImmutable::default(),
            )],
            // The entries are exactly a `GrantSources` message's body.
            sources: Some(GrantSources::decode(&r.sources[..]).unwrap()),
        };
        FastGrant {
            id,
            grant,
            entitlement_id: key.id.clone(),
            resource: ResourceKey::new(key.resource_type_id.as_str(), key.resource_id.as_str()),
            principal: p.clone(),
            discovered_at: r.discovered_at,
        }
    }
}

impl Model {
    pub(super) fn new(order: ListOrder) -> Self {
        Model {
            order,
            runs: BTreeMap::new(),
            rows: BTreeMap::new(),
            seqs: BTreeMap::new(),
            next: 0,
            bulk: Bulk::Off,
        }
    }

    pub(super) fn order(&self) -> ListOrder {
        self.order
    }

    /// What a check may read now; `full` for every listing.
    pub(super) fn depth(&self, full: bool) -> Depth {
        match self.bulk {
            Bulk::On { held } => Depth::Bulk { held },
            Bulk::Off if full => Depth::Full,
            Bulk::Off => Depth::Sample,
        }
    }

    pub(super) fn in_bulk(&self) -> bool {
        self.bulk != Bulk::Off
    }

    /// Sync ids with a run row.
    pub(super) fn run_ids(&self) -> Vec<SyncId> {
        self.runs.keys().cloned().collect()
    }

    /// Grant ids stored in `sync`.
    pub(super) fn grant_ids_in(&self, sync: &SyncId) -> Vec<String> {
        self.rows
            .get(sync)
            .map(|r| r.grants.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub(super) fn grant_exists(&self, sync: &SyncId, id: &str) -> bool {
        self.rows
            .get(sync)
            .is_some_and(|r| r.grants.contains_key(id))
    }

    fn stamp(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// The rows of `sync`, numbering the sync at its first write.
    fn write(&mut self, sync: &SyncId) -> &mut SyncRows {
        if !self.seqs.contains_key(sync) {
            let seq = self.stamp();
            self.seqs.insert(sync.clone(), seq);
        }
        self.rows.entry(sync.clone()).or_default()
    }

    pub(super) fn apply(&mut self, op: &Op) {
        match op {
            Op::PutSyncRun(run) => {
                let stamp = self.stamp();
                self.write(&run.id);
                self.runs
                    .entry(run.id.clone())
                    .and_modify(|(r, _)| *r = run.clone())
                    .or_insert((run.clone(), stamp));
            }
            Op::DeleteSyncRun(id) => {
                self.runs.remove(id);
                self.rows.remove(id);
                self.seqs.remove(id);
            }
            Op::PutResourceTypes(sync, rows) => {
                for r in rows {
                    let stamp = self.stamp();
                    self.write(sync)
                        .resource_types
                        .entry(r.value.id.clone())
                        .and_modify(|old| old.value = r.value.clone())
                        .or_insert(Row {
                            value: r.value.clone(),
                            discovered_at: r.discovered_at,
                            stamp,
                        });
                }
            }
            Op::PutResources(sync, rows) => {
                for r in rows {
                    let stamp = self.stamp();
                    self.write(sync)
                        .resources
                        .entry(key_of(r.value.id.as_ref()))
                        .and_modify(|old| old.row.value = r.value.clone())
                        .or_insert(ResourceRow {
                            row: Row {
                                value: r.value.clone(),
                                discovered_at: r.discovered_at,
                                stamp,
                            },
                            parent: r.value.parent_resource_id.as_ref().map(ResourceKey::of),
                        });
                }
            }
            Op::PutEntitlements(sync, rows) => {
                for r in rows {
                    let stamp = self.stamp();
                    let resource = key_of(r.value.resource.as_ref().and_then(|x| x.id.as_ref()));
                    self.write(sync)
                        .entitlements
                        .entry(r.value.id.clone())
                        .and_modify(|old| old.row.value = r.value.clone())
                        .or_insert(EntitlementRow {
                            row: Row {
                                value: r.value.clone(),
                                discovered_at: r.discovered_at,
                                stamp,
                            },
                            resource,
                        });
                }
            }
            Op::PutGrants(sync, rows, mode) => {
                for r in rows {
                    self.put_grant(sync, r, *mode);
                }
            }
            Op::PutEncodedGrants(sync, rows) => {
                for r in rows {
                    self.put_fast_grant(sync, FastGrant::encoded(r));
                }
                self.hold();
            }
            Op::PutDerivedGrants(sync, rows) => {
                for r in rows {
                    self.put_fast_grant(sync, FastGrant::derived(r));
                }
                self.hold();
            }
            Op::DeleteGrant(sync, id) => {
                if let Some(rows) = self.rows.get_mut(sync) {
                    rows.grants.remove(id);
                }
            }
            Op::PutAsset(sync, a) => {
                let stamp = self.stamp();
                self.write(sync)
                    .assets
                    .entry(a.id.clone())
                    .and_modify(|old| old.data = a.data.clone())
                    .or_insert(AssetRow {
                        content_type: a.content_type.clone(),
                        data: a.data.clone(),
                        discovered_at: a.discovered_at,
                        stamp,
                    });
            }
            Op::BeginBulk => self.bulk = Bulk::On { held: false },
            Op::PublishBulk => {
                if self.in_bulk() {
                    self.bulk = Bulk::On { held: false };
                }
            }
            // A save ends the bulk phase.
            Op::EndBulk | Op::Reopen => self.bulk = Bulk::Off,
            Op::Compact | Op::Check => {}
        }
    }

    /// During a bulk phase, the fast paths' grants may be held back until published.
    fn hold(&mut self) {
        if self.in_bulk() {
            self.bulk = Bulk::On { held: true };
        }
    }

    fn put_grant(&mut self, sync: &SyncId, r: &GrantRecord, mode: GrantUpsertMode) {
        let stamp = self.stamp();
        let new_expansion = r
            .expansion
            .as_ref()
            .map(Message::encode_to_vec)
            .filter(|b| !b.is_empty());
        let rows = self.write(sync);
        if let Some(old) = rows.grants.get_mut(&r.grant.id) {
            old.grant = r.grant.clone();
            if mode == GrantUpsertMode::Replace {
                // Absent: 0; new or changed bytes: 1; else unchanged.
                old.needs_expansion = match (&old.expansion, &new_expansion) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(o), Some(n)) => o != n || old.needs_expansion,
                };
                old.expansion = new_expansion;
            }
            return;
        }
        let g = &r.grant;
        let entitlement = g.entitlement.as_ref();
        rows.grants.insert(
            g.id.clone(),
            GrantRow {
                grant: g.clone(),
                entitlement_id: entitlement.map(|e| e.id.clone()).unwrap_or_default(),
                resource: key_of(
                    entitlement
                        .and_then(|e| e.resource.as_ref())
                        .and_then(|x| x.id.as_ref()),
                ),
                principal: key_of(g.principal.as_ref().and_then(|p| p.id.as_ref())),
                // A new row takes the record's columns, in either mode.
                expansion: new_expansion,
                needs_expansion: r.needs_expansion,
                discovered_at: r.discovered_at,
                stamp,
            },
        );
    }

    /// The fast paths' rule: `PreserveExpansion` for a grant with no expansion.
    fn put_fast_grant(&mut self, sync: &SyncId, g: FastGrant) {
        let stamp = self.stamp();
        let rows = self.write(sync);
        if let Some(old) = rows.grants.get_mut(&g.id) {
            old.grant = g.grant;
            return;
        }
        rows.grants.insert(
            g.id,
            GrantRow {
                grant: g.grant,
                entitlement_id: g.entitlement_id,
                resource: g.resource,
                principal: g.principal,
                expansion: None,
                needs_expansion: false,
                discovered_at: g.discovered_at,
                stamp,
            },
        );
    }

    // --- reads -------------------------------------------------------------------------

    /// The syncs a filter reads.
    fn syncs<'a>(
        &'a self,
        sync: Option<&'a SyncId>,
    ) -> impl Iterator<Item = (&'a SyncId, &'a SyncRows)> {
        self.rows
            .iter()
            .filter(move |(id, _)| sync.is_none_or(|s| s == *id))
    }

    /// Where a row sorts among matches: a get without a sync filter returns the first.
    fn rank(&self, sync: &SyncId, stamp: u64) -> (u64, u64) {
        match self.order {
            ListOrder::Insertion => (stamp, 0),
            ListOrder::Key => (self.seqs[sync], stamp),
        }
    }

    /// The first match of `find` over the syncs `sync` reads.
    fn first<'a, T: 'a>(
        &'a self,
        sync: Option<&'a SyncId>,
        find: impl Fn(&'a SyncRows) -> Option<(T, u64)>,
    ) -> Option<T> {
        self.syncs(sync)
            .filter_map(|(id, rows)| find(rows).map(|(hit, stamp)| (self.rank(id, stamp), hit)))
            .min_by_key(|(rank, _)| *rank)
            .map(|(_, hit)| hit)
    }

    /// Rows of every sync `sync` reads, in insertion order.
    fn list<'a, T>(
        &'a self,
        sync: Option<&'a SyncId>,
        rows: impl Fn(&'a SyncRows) -> Vec<(T, u64)>,
    ) -> Vec<T> {
        let mut all: Vec<(T, u64)> = self.syncs(sync).flat_map(|(_, r)| rows(r)).collect();
        all.sort_by_key(|(_, stamp)| *stamp);
        all.into_iter().map(|(row, _)| row).collect()
    }

    pub(super) fn sync_run(&self, id: &SyncId) -> Option<SyncRun> {
        self.runs.get(id).map(|(r, _)| r.clone())
    }

    /// Runs in creation order: their first write on engines in insertion order, their
    /// sync's number on engines in key order.
    pub(super) fn list_sync_runs(&self) -> Vec<SyncRun> {
        let mut runs: Vec<_> = self
            .runs
            .iter()
            .map(|(id, (run, stamp))| match self.order {
                ListOrder::Insertion => (*stamp, run.clone()),
                ListOrder::Key => (self.seqs[id], run.clone()),
            })
            .collect();
        runs.sort_by_key(|(n, _)| *n);
        runs.into_iter().map(|(_, r)| r).collect()
    }

    pub(super) fn resource_type(
        &self,
        sync: Option<&SyncId>,
        id: &str,
    ) -> Option<Record<ResourceType>> {
        self.first(sync, |r| {
            r.resource_types.get(id).map(|x| (x.record(), x.stamp))
        })
    }

    pub(super) fn list_resource_types(&self, q: &ResourceTypeQuery) -> Vec<Record<ResourceType>> {
        self.list(scope(&q.sync), |r| {
            r.resource_types
                .values()
                .map(|x| (x.record(), x.stamp))
                .collect()
        })
    }

    pub(super) fn resource(
        &self,
        sync: Option<&SyncId>,
        key: &ResourceKey,
    ) -> Option<Record<Resource>> {
        self.first(sync, |r| {
            r.resources.get(key).map(|x| (x.row.record(), x.row.stamp))
        })
    }

    pub(super) fn list_resources(&self, q: &ResourceQuery) -> Vec<Record<Resource>> {
        self.list(scope(&q.sync), |r| {
            r.resources
                .iter()
                .filter(|(key, x)| {
                    q.resource_type_id
                        .as_ref()
                        .is_none_or(|t| *t == key.resource_type)
                        && q.parent
                            .as_ref()
                            .is_none_or(|p| x.parent.as_ref() == Some(p))
                })
                .map(|(_, x)| (x.row.record(), x.row.stamp))
                .collect()
        })
    }

    pub(super) fn entitlement(
        &self,
        sync: Option<&SyncId>,
        id: &str,
    ) -> Option<Record<Entitlement>> {
        self.first(sync, |r| {
            r.entitlements
                .get(id)
                .map(|x| (x.row.record(), x.row.stamp))
        })
    }

    pub(super) fn list_entitlements(&self, q: &EntitlementQuery) -> Vec<Record<Entitlement>> {
        self.list(scope(&q.sync), |r| {
            r.entitlements
                .values()
                .filter(|x| q.resource.as_ref().is_none_or(|want| *want == x.resource))
                .map(|x| (x.row.record(), x.row.stamp))
                .collect()
        })
    }

    pub(super) fn grant(&self, sync: Option<&SyncId>, id: &str) -> Option<GrantRecord> {
        self.first(sync, |r| r.grants.get(id).map(|g| (g.record(), g.stamp)))
    }

    pub(super) fn list_grants(&self, q: &GrantQuery) -> Vec<GrantRecord> {
        self.list(scope(&q.sync), |r| {
            r.grants
                .values()
                .filter(|g| g.matches(q))
                .map(|g| (g.record(), g.stamp))
                .collect()
        })
    }

    pub(super) fn list_stored_grants(&self, q: &GrantQuery) -> Vec<StoredGrant> {
        self.list(scope(&q.sync), |r| {
            r.grants
                .values()
                .filter(|g| g.matches(q))
                .map(|g| (g.stored(), g.stamp))
                .collect()
        })
    }

    pub(super) fn asset(&self, sync: Option<&SyncId>, id: &str) -> Option<Asset> {
        self.first(sync, |r| r.assets.get(id).map(|a| (asset(id, a), a.stamp)))
    }

    pub(super) fn list_assets(&self, q: &AssetQuery) -> Vec<Asset> {
        self.list(scope(&q.sync), |r| {
            r.assets
                .iter()
                .map(|(id, a)| (asset(id, a), a.stamp))
                .collect()
        })
    }

    pub(super) fn count_objects(&self, sync: &SyncId) -> ObjectCounts {
        let Some(rows) = self.rows.get(sync) else {
            return ObjectCounts::default();
        };
        let mut types: Vec<(&String, u64)> = rows
            .resource_types
            .iter()
            .map(|(id, x)| (id, x.stamp))
            .collect();
        // Store order: insertion, or key order (ids sort as their bytes).
        if self.order == ListOrder::Insertion {
            types.sort_by_key(|(_, stamp)| *stamp);
        }
        let mut counts = ObjectCounts {
            resource_type_ids: types.into_iter().map(|(id, _)| id.clone()).collect(),
            assets: rows.assets.len() as u64,
            ..Default::default()
        };
        for key in rows.resources.keys() {
            *counts
                .resources_by_type
                .entry(key.resource_type.clone())
                .or_default() += 1;
        }
        for e in rows.entitlements.values() {
            *counts
                .entitlements_by_type
                .entry(e.resource.resource_type.clone())
                .or_default() += 1;
        }
        for g in rows.grants.values() {
            *counts
                .grants_by_type
                .entry(g.resource.resource_type.clone())
                .or_default() += 1;
        }
        counts
    }
}

fn asset(id: &str, a: &AssetRow) -> Asset {
    Asset {
        id: id.to_owned(),
        content_type: a.content_type.clone(),
        data: a.data.clone(),
        discovered_at: a.discovered_at,
    }
}

/// The sync a query names, as the model reads it: one sync, or every sync (the workload
/// never leaves the choice to `Latest`).
fn scope(sync: &c1z::SyncSelector) -> Option<&SyncId> {
    match sync {
        c1z::SyncSelector::Id(id) => Some(id),
        c1z::SyncSelector::All => None,
        c1z::SyncSelector::Latest => panic!("the model does not resolve SyncSelector::Latest"),
    }
}
