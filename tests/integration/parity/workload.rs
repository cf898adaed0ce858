//! The operations of the workload and their seeded generator. Ids come from small spaces,
//! so upserts collide: 3 syncs, 4 resource types, 16 resources, 12 entitlements (a few
//! written on another resource than their id names, so identity columns are tested),
//! 8 principals, canonical and other grant ids, 3 assets.

use std::collections::BTreeMap;
use std::sync::Arc;

use c1z::codec::{self, GRANT_EXPANDABLE, GRANT_IMMUTABLE};
use c1z::pb::c1::connector::v2::{
    Entitlement, Grant, GrantExpandable, GrantImmutable, GrantSources, Resource, ResourceId,
    ResourceType, grant_sources::GrantSource,
};
use c1z::sync::{expanded_grant_record, grant_record};
use c1z::{
    Asset, DerivedEntitlement, DerivedGrant, EncodedGrant, EntitlementKey, GrantRecord,
    GrantUpsertMode, IngestInvariant, Record, ResourceKey, SyncId, SyncRun,
};
use chrono::NaiveDateTime;
use prost::Message;

use super::model::Model;

/// A small deterministic PRNG (SplitMix64).
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(super) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One operation; the engine runs it through `adapter`, the model through `Model::apply`.
#[derive(Debug)]
pub(super) enum Op {
    PutSyncRun(SyncRun),
    DeleteSyncRun(SyncId),
    PutResourceTypes(SyncId, Vec<Record<ResourceType>>),
    PutResources(SyncId, Vec<Record<Resource>>),
    PutEntitlements(SyncId, Vec<Record<Entitlement>>),
    PutGrants(SyncId, Vec<GrantRecord>, GrantUpsertMode),
    PutEncodedGrants(SyncId, Vec<EncodedGrant>),
    PutDerivedGrants(SyncId, Vec<DerivedGrant>),
    DeleteGrant(SyncId, String),
    PutAsset(SyncId, Asset),
    BeginBulk,
    PublishBulk,
    EndBulk,
    Compact,
    /// `C1zFile::close`, then open again.
    Reopen,
    /// Compare the engine with the model.
    Check,
}

// --- id spaces ------------------------------------------------------------------------

const SYNCS: [&str; 3] = ["sync-a", "sync-b", "sync-c"];
const TYPES: [&str; 4] = ["user", "group", "role", "app"];
/// Resource ids; the last one holds a byte RocksDB keys escape.
const IDS: [&str; 4] = ["r0", "r1", "r2", "r\u{0}3"];
/// Types and ids of the resources entitlements are on.
const ENTITLEMENT_TYPES: [&str; 3] = ["group", "role", "app"];
const ENTITLEMENT_NAMES: [&str; 2] = ["member", "admin"];
const PRINCIPAL_TYPES: [&str; 2] = ["user", "group"];
/// Grant ids that are not `entitlement:principal_type:principal_id`.
/// Grant ids that are not `entitlement:principal_type:principal_id`, two with the bytes
/// RocksDB keys escape.
const OTHER_GRANT_IDS: [&str; 4] = ["g0", "g1", "g\u{0}2", "g\u{1}3"];
const ASSETS: [&str; 3] = ["a0", "a\u{0}1", "a\u{1}2"];

pub(super) fn sync_ids() -> Vec<SyncId> {
    SYNCS.iter().map(|s| SyncId::new(*s)).collect()
}

/// Every resource type id, one never written, and the empty one (of the resource of an
/// entitlement written without one).
pub(super) fn resource_type_ids() -> Vec<String> {
    TYPES
        .iter()
        .chain(&["nope", ""])
        .map(|t| (*t).to_owned())
        .collect()
}

pub(super) fn resource_keys() -> Vec<ResourceKey> {
    TYPES
        .iter()
        .flat_map(|t| IDS.iter().map(move |i| ResourceKey::new(*t, *i)))
        .collect()
}

/// The resources that parent others.
pub(super) fn parent_keys() -> Vec<ResourceKey> {
    ["group", "app"]
        .iter()
        .flat_map(|t| IDS[..2].iter().map(move |i| ResourceKey::new(*t, *i)))
        .collect()
}

/// Resources entitlements may be on (not only the one their id names), and none.
pub(super) fn entitlement_resource_keys() -> Vec<ResourceKey> {
    ENTITLEMENT_TYPES
        .iter()
        .flat_map(|t| IDS[..3].iter().map(move |i| ResourceKey::new(*t, *i)))
        .chain([ResourceKey::new("", "")])
        .collect()
}

/// `<type>:<id>:<name>`, on groups and roles.
pub(super) fn entitlement_ids() -> Vec<String> {
    let mut out = Vec::new();
    for t in &ENTITLEMENT_TYPES[..2] {
        for i in &IDS[..3] {
            for n in ENTITLEMENT_NAMES {
                out.push(format!("{t}:{i}:{n}"));
            }
        }
    }
    out
}

pub(super) fn principal_keys() -> Vec<ResourceKey> {
    PRINCIPAL_TYPES
        .iter()
        .flat_map(|t| IDS.iter().map(move |i| ResourceKey::new(*t, *i)))
        .collect()
}

/// Every grant id the workload can write: canonical ones and the others.
pub(super) fn grant_ids() -> Vec<String> {
    let mut out = Vec::new();
    for e in entitlement_ids() {
        for p in principal_keys() {
            out.push(format!("{e}:{}:{}", p.resource_type, p.resource));
        }
    }
    out.extend(OTHER_GRANT_IDS.iter().map(|g| (*g).to_owned()));
    out
}

pub(super) fn asset_ids() -> Vec<String> {
    ASSETS
        .iter()
        .chain(&["nope"])
        .map(|a| (*a).to_owned())
        .collect()
}

// --- values ---------------------------------------------------------------------------

fn time(rng: &mut Rng) -> NaiveDateTime {
    let secs = 1_700_000_000 + rng.below(1_000_000) as i64;
    let nanos = match rng.below(3) {
        0 => 0,
        1 => rng.below(1000) as u32 * 1_000_000,
        _ => rng.below(1_000_000_000) as u32,
    };
    chrono::DateTime::from_timestamp(secs, nanos)
        .unwrap()
        .naive_utc()
}

fn rid(key: &ResourceKey) -> ResourceId {
    ResourceId {
        resource_type: key.resource_type.clone(),
        resource: key.resource.clone(),
        ..Default::default()
    }
}

/// A resource with one of a few display names, so a rewrite usually changes the data.
fn resource_value(rng: &mut Rng, key: &ResourceKey) -> Resource {
    Resource {
        id: Some(rid(key)),
        display_name: format!("{key} v{}", rng.below(3)),
        ..Default::default()
    }
}

/// A run of one of the syncs, every column drawn.
fn sync_run(rng: &mut Rng) -> SyncRun {
    let id = SyncId::new(*rng.pick(&SYNCS));
    let mut other = || rng.chance(30).then(|| SyncId::new(*rng.pick(&SYNCS)));
    let (parent_sync_id, linked_sync_id) = (other(), other());
    SyncRun {
        id,
        sync_type: (*rng.pick(&[
            "full",
            "partial",
            "resources_only",
            "partial_upserts",
            "partial_deletions",
            "custom",
        ]))
        .to_owned(),
        started_at: time(rng),
        ended_at: rng.chance(50).then(|| time(rng)),
        sync_token: (*rng.pick(&["", "{\"page\":1}", "t2"])).to_owned(),
        parent_sync_id,
        linked_sync_id,
        supports_diff: rng.chance(50),
        stats: rng.chance(30).then(|| "{\"resources\":1}".to_owned()),
        ingest_invariant: IngestInvariant {
            generation: (*rng.pick(&["", "g1"])).to_owned(),
            coverage: (*rng.pick(&["", "[\"grants\"]"])).to_owned(),
            mode: (*rng.pick(&["", "strict"])).to_owned(),
        },
    }
}

/// An entitlement id, half the time one of the first three (so grants collide more).
fn hot_entitlement(rng: &mut Rng) -> String {
    let ids = entitlement_ids();
    if rng.chance(50) {
        rng.pick(&ids[..3]).clone()
    } else {
        rng.pick(&ids).clone()
    }
}

/// A principal, half the time one of the first three.
fn hot_principal(rng: &mut Rng) -> ResourceKey {
    let keys = principal_keys();
    if rng.chance(50) {
        rng.pick(&keys[..3]).clone()
    } else {
        rng.pick(&keys).clone()
    }
}

fn resource_type_record(rng: &mut Rng) -> Record<ResourceType> {
    let id = *rng.pick(&TYPES);
    Record {
        value: ResourceType {
            id: id.to_owned(),
            display_name: format!("{id} v{}", rng.below(3)),
            ..Default::default()
        },
        discovered_at: time(rng),
    }
}

fn resource_record(rng: &mut Rng) -> Record<Resource> {
    let key = rng.pick(&resource_keys()).clone();
    let mut value = resource_value(rng, &key);
    if rng.chance(40) {
        value.parent_resource_id = Some(rid(rng.pick(&parent_keys())));
    }
    Record {
        value,
        discovered_at: time(rng),
    }
}

/// Entitlement `id`, usually on the resource its id names, sometimes on another one or
/// on none (a rewrite keeps the first write's resource as its identity).
fn entitlement_value(rng: &mut Rng, id: &str) -> Entitlement {
    let mut parts = id.split(':');
    let home = ResourceKey::new(parts.next().unwrap(), parts.next().unwrap());
    let name = parts.next().unwrap();
    let resource = match rng.below(100) {
        0..85 => Some(home),
        85..97 => Some(rng.pick(&entitlement_resource_keys()[..9]).clone()),
        _ => None,
    };
    Entitlement {
        id: id.to_owned(),
        resource: resource.map(|r| resource_value(rng, &r)),
        display_name: format!("{name} v{}", rng.below(3)),
        ..Default::default()
    }
}

fn entitlement_record(rng: &mut Rng) -> Record<Entitlement> {
    let id = rng.pick(&entitlement_ids()).clone();
    Record {
        value: entitlement_value(rng, &id),
        discovered_at: time(rng),
    }
}

/// One to `max` sources.
fn sources(rng: &mut Rng, max: usize) -> BTreeMap<String, bool> {
    (0..1 + rng.below(max))
        .map(|_| (rng.pick(&entitlement_ids()).clone(), rng.chance(50)))
        .collect()
}

/// A connector grant: canonical id or another one; sometimes with a `GrantImmutable`
/// annotation or sources; rarely slim (no principal or no entitlement).
fn grant_value(rng: &mut Rng, slim: bool) -> Grant {
    let e = hot_entitlement(rng);
    let e = entitlement_value(rng, &e);
    let p = hot_principal(rng);
    let id = if rng.chance(85) {
        format!("{}:{}:{}", e.id, p.resource_type, p.resource)
    } else {
        (*rng.pick(&OTHER_GRANT_IDS)).to_owned()
    };
    let mut g = Grant {
        id,
        entitlement: Some(e),
        principal: Some(resource_value(rng, &p)),
        ..Default::default()
    };
    if rng.chance(25) {
        let immutable = GrantImmutable {
            source_id: format!("s{}", rng.below(2)),
            ..Default::default()
        };
        g.annotations
            .push(codec::to_any(GRANT_IMMUTABLE, &immutable));
    }
    if rng.chance(30) {
        g.sources = Some(GrantSources {
            sources: sources(rng, 2)
                .into_iter()
                .map(|(k, is_direct)| (k, GrantSource { is_direct }))
                .collect(),
        });
    }
    if slim && rng.chance(6) {
        if rng.chance(50) {
            g.principal = None;
        } else {
            g.entitlement = None;
        }
    }
    g
}

/// An edge definition, from a few variants so a rewrite often repeats the same bytes:
/// usable ones, a blank one (dropped by `grant_record`) and an empty one.
fn expandable(rng: &mut Rng) -> GrantExpandable {
    let ids = |ids: &[&str]| ids.iter().map(|i| (*i).to_owned()).collect();
    match rng.below(7) {
        0 | 1 => GrantExpandable {
            entitlement_ids: ids(&["group:r0:member"]),
            ..Default::default()
        },
        2 => GrantExpandable {
            entitlement_ids: ids(&["group:r0:member", "role:r1:admin"]),
            ..Default::default()
        },
        3 => GrantExpandable {
            entitlement_ids: ids(&["group:r0:member"]),
            shallow: true,
            resource_type_ids: ids(&["user"]),
        },
        4 => GrantExpandable {
            entitlement_ids: ids(&["role:r2:member"]),
            ..Default::default()
        },
        5 => GrantExpandable {
            entitlement_ids: ids(&[" "]),
            ..Default::default()
        },
        _ => GrantExpandable::default(),
    }
}

/// A connector grant record (`grant_record`), sometimes from a grant with a
/// `GrantExpandable` annotation. `PreserveExpansion` writes also use expander records
/// (`expanded_grant_record`); a few records carry columns no helper makes (a flipped
/// `needs_expansion`, an empty expansion), which a new row takes as they are.
fn grant_rec(rng: &mut Rng, mode: GrantUpsertMode) -> GrantRecord {
    let mut g = grant_value(rng, true);
    if rng.chance(45) {
        g.annotations
            .insert(0, codec::to_any(GRANT_EXPANDABLE, &expandable(rng)));
    }
    let at = time(rng);
    let mut rec = if mode == GrantUpsertMode::PreserveExpansion && rng.chance(50) {
        expanded_grant_record(g.clone(), at)
    } else {
        grant_record(g.clone(), at).unwrap()
    };
    match rng.below(100) {
        0..8 => rec.needs_expansion = !rec.needs_expansion,
        8..11 => rec.expansion = Some(GrantExpandable::default()),
        _ => {}
    }
    rec
}

fn entitlement_key(e: &Entitlement) -> EntitlementKey {
    let r = e.resource.as_ref().and_then(|r| r.id.as_ref());
    EntitlementKey {
        id: e.id.clone(),
        resource_type_id: r.map(|r| r.resource_type.clone()).unwrap_or_default(),
        resource_id: r.map(|r| r.resource.clone()).unwrap_or_default(),
    }
}

/// A grant in its stored encoding (never slim, no `GrantExpandable`).
fn encoded_grant(rng: &mut Rng) -> EncodedGrant {
    let g = grant_value(rng, false);
    let p = g.principal.as_ref().unwrap().id.as_ref().unwrap();
    EncodedGrant {
        id: g.id.clone(),
        entitlement: Arc::new(entitlement_key(g.entitlement.as_ref().unwrap())),
        principal: Arc::new(ResourceKey::of(p)),
        data: codec::encode_grant(&g),
        discovered_at: time(rng),
    }
}

/// Derived grants of one or two entitlements (each shared by its rows, as expansion
/// shares it), to a few principals, with sources.
fn derived_grants(rng: &mut Rng) -> Vec<DerivedGrant> {
    let mut rows = Vec::new();
    for _ in 0..1 + rng.below(2) {
        let e = hot_entitlement(rng);
        let e = entitlement_value(rng, &e);
        let entitlement = Arc::new(DerivedEntitlement {
            key: entitlement_key(&e),
            data: e.encode_to_vec(),
        });
        let discovered_at = time(rng);
        for _ in 0..1 + rng.below(4) {
            let p = hot_principal(rng);
            let principal = resource_value(rng, &p);
            let mut sources_bytes = Vec::new();
            let map = sources(rng, 3);
            codec::encode_source_entries(
                &mut sources_bytes,
                map.iter().map(|(k, d)| (k.as_str(), *d)),
            );
            rows.push(DerivedGrant {
                entitlement: entitlement.clone(),
                principal: Arc::new(p),
                principal_data: Arc::from(principal.encode_to_vec()),
                sources: sources_bytes,
                discovered_at,
            });
        }
    }
    rows
}

fn asset(rng: &mut Rng) -> Asset {
    Asset {
        id: (*rng.pick(&ASSETS)).to_owned(),
        content_type: (*rng.pick(&["image/png", "text/plain", "unknown"])).to_owned(),
        data: (0..rng.below(6)).map(|_| rng.below(256) as u8).collect(),
        discovered_at: time(rng),
    }
}

// --- the generator --------------------------------------------------------------------

/// The sync a write goes to: usually one with a run row, sometimes any (engines do not
/// check runs).
fn target(rng: &mut Rng, m: &Model) -> SyncId {
    let runs = m.run_ids();
    if runs.is_empty() || rng.chance(10) {
        SyncId::new(*rng.pick(&SYNCS))
    } else {
        rng.pick(&runs).clone()
    }
}

fn batch<T>(rng: &mut Rng, max: usize, mut one: impl FnMut(&mut Rng) -> T) -> Vec<T> {
    (0..1 + rng.below(max)).map(|_| one(rng)).collect()
}

/// The kinds of operation, for drawing one by weight.
#[derive(Clone, Copy)]
enum Kind {
    SyncRun,
    DeleteSyncRun,
    ResourceTypes,
    Resources,
    Entitlements,
    Grants(GrantUpsertMode),
    EncodedGrants,
    DerivedGrants,
    DeleteGrant,
    Asset,
    BeginBulk,
    PublishBulk,
    EndBulk,
    Compact,
    Reopen,
    Check,
}

/// The next operation, drawn from the model's state only (so every engine gets the same
/// sequence).
pub(super) fn next_op(rng: &mut Rng, m: &Model) -> Op {
    if m.run_ids().is_empty() && rng.chance(80) {
        return Op::PutSyncRun(sync_run(rng));
    }
    // A bulk phase writes mostly grants through the expansion fast paths.
    let bulk = m.in_bulk();
    let weights = [
        (Kind::SyncRun, 7),
        (Kind::DeleteSyncRun, 2),
        (Kind::ResourceTypes, 4),
        (Kind::Resources, 8),
        (Kind::Entitlements, 8),
        (Kind::Grants(GrantUpsertMode::Replace), 14),
        (Kind::Grants(GrantUpsertMode::PreserveExpansion), 6),
        (Kind::EncodedGrants, if bulk { 14 } else { 7 }),
        (Kind::DerivedGrants, if bulk { 14 } else { 7 }),
        (Kind::DeleteGrant, 6),
        (Kind::Asset, 6),
        (Kind::BeginBulk, if bulk { 0 } else { 3 }),
        (Kind::PublishBulk, if bulk { 10 } else { 0 }),
        (Kind::EndBulk, if bulk { 5 } else { 1 }),
        (Kind::Compact, 2),
        (Kind::Reopen, 2),
        (Kind::Check, 12),
    ];
    let mut roll = rng.below(weights.iter().map(|(_, w)| w).sum());
    let mut kind = Kind::Check;
    for (k, w) in weights {
        if roll < w {
            kind = k;
            break;
        }
        roll -= w;
    }
    match kind {
        Kind::SyncRun => Op::PutSyncRun(sync_run(rng)),
        Kind::DeleteSyncRun => Op::DeleteSyncRun(SyncId::new(*rng.pick(&SYNCS))),
        Kind::ResourceTypes => {
            Op::PutResourceTypes(target(rng, m), batch(rng, 3, resource_type_record))
        }
        Kind::Resources => Op::PutResources(target(rng, m), batch(rng, 4, resource_record)),
        Kind::Entitlements => {
            Op::PutEntitlements(target(rng, m), batch(rng, 4, entitlement_record))
        }
        Kind::Grants(mode) => Op::PutGrants(
            target(rng, m),
            batch(rng, 4, |rng| grant_rec(rng, mode)),
            mode,
        ),
        Kind::EncodedGrants => Op::PutEncodedGrants(target(rng, m), batch(rng, 5, encoded_grant)),
        Kind::DerivedGrants => Op::PutDerivedGrants(target(rng, m), derived_grants(rng)),
        Kind::DeleteGrant => {
            let sync = target(rng, m);
            let stored = m.grant_ids_in(&sync);
            let id = if !stored.is_empty() && rng.chance(75) {
                rng.pick(&stored).clone()
            } else {
                rng.pick(&grant_ids()).clone()
            };
            Op::DeleteGrant(sync, id)
        }
        Kind::Asset => Op::PutAsset(target(rng, m), asset(rng)),
        Kind::BeginBulk => Op::BeginBulk,
        Kind::PublishBulk => Op::PublishBulk,
        Kind::EndBulk => Op::EndBulk,
        Kind::Compact => Op::Compact,
        Kind::Reopen => Op::Reopen,
        Kind::Check => Op::Check,
    }
}
