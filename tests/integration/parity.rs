//! Parity: one seeded random workload runs through the reference model (`model.rs`: plain
//! `BTreeMap`s with the semantics the store traits document) and through every engine
//! configuration; every few operations, and at the end, every get, listing (paged to the
//! end) and count of the engine must equal the model's — so all engines agree.
//!
//! Environment (all optional):
//! - `C1Z_PARITY_CASES=N`: seeds per configuration (default [`DEFAULT_CASES`]); seeds are
//!   `0..N`.
//! - `C1Z_PARITY_SEED=S`: only seed `S`, as a failure prints it.
//! - `C1Z_PARITY_OPS=N`: operations per seed (default [`DEFAULT_OPS`]). A failure prints
//!   the failing operation's index `i`; `C1Z_PARITY_OPS=i+1` stops right after it.
//!
//! Every store call of the workload is in [`adapter`].

mod model;
mod workload;

use std::cell::RefCell;
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};

use c1z::engine::{EngineKind, ListOrder};
use c1z::{AnyStore, EntitlementQuery, GrantQuery, ResourceKey, ResourceQuery, SyncId};

use self::model::Model;
use self::workload::{Op, Rng};
use crate::util::fresh;

/// Seeds per configuration in a default run.
const DEFAULT_CASES: u64 = 6;
/// Operations per seed in a default run.
const DEFAULT_OPS: usize = 100;

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number")),
    )
}

/// The whole workload on one engine configuration (see the module docs).
fn workload(engine: EngineKind) {
    let ops = env_number("C1Z_PARITY_OPS").map_or(DEFAULT_OPS, |n| n as usize);
    let seeds: Vec<u64> = match env_number("C1Z_PARITY_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_number("C1Z_PARITY_CASES").unwrap_or(DEFAULT_CASES)).collect(),
    };
    for seed in seeds {
        run_case(engine, seed, ops);
    }
}

/// One seed; a failure anywhere inside names the seed and the operation.
fn run_case(engine: EngineKind, seed: u64, ops: usize) {
    let step = RefCell::new((0, String::from("setup")));
    let outcome = catch_unwind(AssertUnwindSafe(|| drive(engine, seed, ops, &step)));
    if let Err(cause) = outcome {
        let (i, op) = step.take();
        let cause = cause
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| cause.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        panic!(
            "parity: seed {seed} on {engine:?} (memory limit {:?}) failed at operation #{i}: \
             {op}\n{cause}\nreproduce: C1Z_PARITY_SEED={seed} C1Z_PARITY_OPS={} cargo test \
             --test integration parity",
            crate::util::memory_limit(),
            (i + 1).min(ops)
        );
    }
}

fn drive(engine: EngineKind, seed: u64, ops: usize, step: &RefCell<(usize, String)>) {
    let mut rng = Rng::new(seed);
    // Page sizes come from their own stream, so checks never shift the operations.
    let mut pages = Rng::new(seed ^ 0x5eed_5eed);
    let mut m = Model::new(engine.list_order());
    let mut f = fresh(engine);
    let mut i = 0;
    // Segments between reopens: a live bulk load borrows the store it was taken from.
    while i < ops {
        let mut reopen = false;
        {
            let s = f.store();
            let mut load = None;
            while i < ops {
                let op = workload::next_op(&mut rng, &m);
                *step.borrow_mut() = (i, format!("{op:?}"));
                i += 1;
                if matches!(op, Op::Reopen) {
                    // The save ends a live load, as its contract says.
                    drop(load.take());
                    m.apply(&op);
                    reopen = true;
                    break;
                }
                apply(s, &mut load, &mut m, &op, &mut pages);
            }
        }
        if reopen {
            f = adapter::reopen(f);
        }
    }
    *step.borrow_mut() = (ops, "final check".into());
    check(f.store(), &m, &mut pages, m.depth(true));
    *step.borrow_mut() = (ops, "final check after the load's end and reopen".into());
    apply(f.store(), &mut None, &mut m, &Op::EndBulk, &mut pages);
    m.apply(&Op::Reopen);
    f = adapter::reopen(f);
    check(f.store(), &m, &mut pages, m.depth(true));
}

/// Runs `op` (anything but a reopen) on the engine and the model (a check compares them);
/// `load` is the live bulk load, if any.
fn apply<'s>(
    s: &'s AnyStore,
    load: &mut Option<c1z::GrantBulkLoad<'s>>,
    m: &mut Model,
    op: &Op,
    pages: &mut Rng,
) {
    match op {
        Op::PutSyncRun(run) => adapter::put_sync_run(s, run),
        Op::DeleteSyncRun(id) => adapter::delete_sync_run(s, id),
        Op::PutResourceTypes(sync, rows) => adapter::put_resource_types(s, sync, rows),
        Op::PutResources(sync, rows) => adapter::put_resources(s, sync, rows),
        Op::PutEntitlements(sync, rows) => adapter::put_entitlements(s, sync, rows),
        Op::PutGrants(sync, rows, mode) => adapter::put_grants(s, sync, rows, *mode),
        Op::PutEncodedGrants(sync, rows) => adapter::put_encoded_grants(s, load, sync, rows),
        Op::PutDerivedGrants(sync, rows) => adapter::put_derived_grants(s, load, sync, rows),
        Op::DeleteGrant(sync, id) => {
            let existed = adapter::delete_grant(s, sync, id);
            same(
                &format!("delete_grant({sync}, {id})"),
                existed,
                m.grant_exists(sync, id),
            );
        }
        Op::PutAsset(sync, asset) => adapter::put_asset(s, sync, asset),
        Op::BeginBulk => adapter::begin_bulk_grants(s, load),
        Op::PublishBulk => adapter::publish_bulk_grants(load),
        Op::EndBulk => adapter::end_bulk_grants(load),
        Op::Compact => adapter::compact(s),
        Op::Reopen => unreachable!("reopens are driven by `drive`"),
        Op::Check => check(s, m, pages, m.depth(false)),
    }
    m.apply(op);
}

// ---------------------------------------------------------------------------------------
// The store adapter: every store call the workload makes, one function per kind, so an
// API change is re-pointed here and nowhere else.
// ---------------------------------------------------------------------------------------

mod adapter {
    use c1z::pb::c1::connector::v2::{Entitlement, Resource, ResourceType};
    use c1z::prelude::*;
    use c1z::store::ObjectCounts;
    use c1z::{
        AnyStore, Asset, AssetQuery, DerivedGrant, EncodedGrant, EntitlementQuery, GrantBulkLoad,
        GrantQuery, GrantRecord, GrantUpsertMode, Page, PageRequest, Record, ResourceKey,
        ResourceQuery, ResourceTypeQuery, StoredGrant, SyncId, SyncRun, SyncSelector,
    };

    use crate::util::Fresh;

    pub(super) fn put_sync_run(s: &AnyStore, run: &SyncRun) {
        s.put_sync_run(run).unwrap();
    }

    pub(super) fn delete_sync_run(s: &AnyStore, id: &SyncId) {
        s.delete_sync_run(id).unwrap();
    }

    pub(super) fn put_resource_types(s: &AnyStore, sync: &SyncId, rows: &[Record<ResourceType>]) {
        s.put_resource_types(sync, rows).unwrap();
    }

    pub(super) fn put_resources(s: &AnyStore, sync: &SyncId, rows: &[Record<Resource>]) {
        s.put_resources(sync, rows).unwrap();
    }

    pub(super) fn put_entitlements(s: &AnyStore, sync: &SyncId, rows: &[Record<Entitlement>]) {
        s.put_entitlements(sync, rows).unwrap();
    }

    pub(super) fn put_grants(
        s: &AnyStore,
        sync: &SyncId,
        rows: &[GrantRecord],
        mode: GrantUpsertMode,
    ) {
        s.put_grants(sync, rows, mode).unwrap();
    }

    /// Through the live load, or a load of its own (begun and finished around the call).
    pub(super) fn put_encoded_grants(
        s: &AnyStore,
        load: &Option<GrantBulkLoad<'_>>,
        sync: &SyncId,
        rows: &[EncodedGrant],
    ) {
        match load {
            Some(l) => l.put_encoded_grants(sync, rows).unwrap(),
            None => crate::util::put_encoded(s, sync, rows).unwrap(),
        }
    }

    /// As [`put_encoded_grants`].
    pub(super) fn put_derived_grants(
        s: &AnyStore,
        load: &Option<GrantBulkLoad<'_>>,
        sync: &SyncId,
        rows: &[DerivedGrant],
    ) {
        match load {
            Some(l) => l.put_derived_grants(sync, rows).unwrap(),
            None => {
                let l = s.bulk_grants().unwrap();
                l.put_derived_grants(sync, rows).unwrap();
                l.finish().unwrap();
            }
        }
    }

    pub(super) fn delete_grant(s: &AnyStore, sync: &SyncId, id: &str) -> bool {
        s.delete_grant(sync, id).unwrap()
    }

    pub(super) fn put_asset(s: &AnyStore, sync: &SyncId, asset: &Asset) {
        s.put_asset(sync, asset).unwrap();
    }

    pub(super) fn begin_bulk_grants<'s>(s: &'s AnyStore, load: &mut Option<GrantBulkLoad<'s>>) {
        assert!(load.is_none(), "the workload begins one load at a time");
        *load = Some(s.bulk_grants().unwrap());
    }

    pub(super) fn publish_bulk_grants(load: &Option<GrantBulkLoad<'_>>) {
        if let Some(l) = load {
            l.publish().unwrap();
        }
    }

    pub(super) fn end_bulk_grants(load: &mut Option<GrantBulkLoad<'_>>) {
        if let Some(l) = load.take() {
            l.finish().unwrap();
        }
    }

    pub(super) fn check_consistency(s: &AnyStore) {
        s.check_consistency().unwrap();
    }

    pub(super) fn compact(s: &AnyStore) {
        s.compact().unwrap();
    }

    /// Saves, closes and opens the file again.
    pub(super) fn reopen(f: Fresh) -> Fresh {
        f.reopen()
    }

    /// The model reads one sync (`Some`) or every sync (`None`).
    pub(super) fn selector(sync: Option<&SyncId>) -> SyncSelector {
        sync.map_or(SyncSelector::All, SyncSelector::from)
    }

    pub(super) fn sync_run(s: &AnyStore, id: &SyncId) -> Option<SyncRun> {
        s.sync_run(id).unwrap()
    }

    pub(super) fn resource_type(
        s: &AnyStore,
        sync: Option<&SyncId>,
        id: &str,
    ) -> Option<Record<ResourceType>> {
        s.resource_type(&selector(sync), id).unwrap()
    }

    pub(super) fn resource(
        s: &AnyStore,
        sync: Option<&SyncId>,
        key: &ResourceKey,
    ) -> Option<Record<Resource>> {
        s.resource(&selector(sync), key).unwrap()
    }

    pub(super) fn entitlement(
        s: &AnyStore,
        sync: Option<&SyncId>,
        id: &str,
    ) -> Option<Record<Entitlement>> {
        s.entitlement(&selector(sync), id).unwrap()
    }

    pub(super) fn grant(s: &AnyStore, sync: Option<&SyncId>, id: &str) -> Option<GrantRecord> {
        s.grant(&selector(sync), id).unwrap()
    }

    pub(super) fn asset(s: &AnyStore, sync: Option<&SyncId>, id: &str) -> Option<Asset> {
        s.asset(&selector(sync), id).unwrap()
    }

    pub(super) fn count_objects(s: &AnyStore, sync: &SyncId) -> ObjectCounts {
        s.count_objects(sync).unwrap()
    }

    /// Every page of a listing, `size` rows at a time.
    fn all_pages<T>(
        size: u32,
        mut list: impl FnMut(&PageRequest) -> c1z::Result<Page<T>>,
    ) -> Vec<T> {
        let mut rows = Vec::new();
        let mut request = PageRequest::first(size);
        for _ in 0..100_000 {
            let page = list(&request).unwrap();
            assert!(
                page.items.len() <= request.effective_size() as usize,
                "a page of {} rows for a request of {size}",
                page.items.len()
            );
            rows.extend(page.items);
            if page.next_page_token.is_empty() {
                return rows;
            }
            request = PageRequest::after(size, page.next_page_token);
        }
        panic!("a listing did not end");
    }

    pub(super) fn list_sync_runs(s: &AnyStore, size: u32) -> Vec<SyncRun> {
        all_pages(size, |p| s.list_sync_runs(p))
    }

    pub(super) fn list_resource_types(
        s: &AnyStore,
        q: &ResourceTypeQuery,
        size: u32,
    ) -> Vec<Record<ResourceType>> {
        all_pages(size, |p| s.list_resource_types(q, p))
    }

    pub(super) fn list_resources(
        s: &AnyStore,
        q: &ResourceQuery,
        size: u32,
    ) -> Vec<Record<Resource>> {
        all_pages(size, |p| s.list_resources(q, p))
    }

    pub(super) fn list_entitlements(
        s: &AnyStore,
        q: &EntitlementQuery,
        size: u32,
    ) -> Vec<Record<Entitlement>> {
        all_pages(size, |p| s.list_entitlements(q, p))
    }

    pub(super) fn list_grants(s: &AnyStore, q: &GrantQuery, size: u32) -> Vec<GrantRecord> {
        all_pages(size, |p| s.list_grants(q, p))
    }

    pub(super) fn list_stored_grants(s: &AnyStore, q: &GrantQuery, size: u32) -> Vec<StoredGrant> {
        all_pages(size, |p| s.list_stored_grants(q, p))
    }

    pub(super) fn list_assets(s: &AnyStore, q: &AssetQuery, size: u32) -> Vec<Asset> {
        all_pages(size, |p| s.list_assets(q, p))
    }
}

// ---------------------------------------------------------------------------------------
// Checks: the engine's observable state against the model's.
// ---------------------------------------------------------------------------------------

/// How much a check reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Depth {
    /// Every get and count; a random part of the filtered listings.
    Sample,
    /// Everything.
    Full,
    /// Inside a bulk phase: what the contract allows before `end_bulk_grants` (grants by
    /// id, by entitlement and by `needs_expansion`; none at all while writes of the
    /// expansion fast paths may be held back), plus every non-grant read.
    Bulk { held: bool },
}

fn same<T: PartialEq + Debug>(what: &str, engine: T, model: T) {
    assert!(
        engine == model,
        "{what}: the engine and the model differ\nengine: {engine:#?}\nmodel:  {model:#?}"
    );
}

/// A listing: in the model's order on engines that list in insertion order, as a
/// multiset on engines that list in key order.
fn same_rows<T: PartialEq + Debug>(order: ListOrder, what: &str, engine: Vec<T>, model: Vec<T>) {
    if order == ListOrder::Insertion && engine == model {
        return;
    }
    let sorted = |rows: Vec<T>| {
        let mut keyed: Vec<String> = rows.iter().map(|r| format!("{r:#?}")).collect();
        keyed.sort();
        keyed
    };
    let (got, want) = (sorted(engine), sorted(model));
    if order == ListOrder::Key && got == want {
        return;
    }
    let only_engine: Vec<&String> = got.iter().filter(|r| !want.contains(r)).collect();
    let only_model: Vec<&String> = want.iter().filter(|r| !got.contains(r)).collect();
    panic!(
        "{what}: the engine lists {} rows, the model {} ({order:?} order)\n\
         only (or more often) in the engine: {only_engine:#?}\n\
         only (or more often) in the model: {only_model:#?}",
        got.len(),
        want.len()
    );
}

/// Page sizes a check lists with (`0` is the largest page).
const PAGE_SIZES: [u32; 5] = [1, 2, 3, 7, 0];

fn check(s: &AnyStore, m: &Model, rng: &mut Rng, depth: Depth) {
    // The engine's own invariants first (RocksDB: every index entry and the grant-id
    // filter against the rows; SQLite: integrity_check).
    adapter::check_consistency(s);
    let order = m.order();
    for id in workload::sync_ids() {
        same(
            &format!("sync_run({id})"),
            adapter::sync_run(s, &id),
            m.sync_run(&id),
        );
    }
    // Creation order on both engines, so compared in order.
    same(
        "list_sync_runs",
        adapter::list_sync_runs(s, *rng.pick(&PAGE_SIZES)),
        m.list_sync_runs(),
    );
    let syncs: Vec<Option<SyncId>> = workload::sync_ids()
        .into_iter()
        .map(Some)
        .chain([None])
        .collect();
    for sync in &syncs {
        let sf = sync.as_ref();
        let at = |what: String| format!("{what} in {sf:?}");
        for id in workload::resource_type_ids() {
            same(
                &at(format!("resource_type({id})")),
                adapter::resource_type(s, sf, &id),
                m.resource_type(sf, &id),
            );
        }
        let q = c1z::ResourceTypeQuery {
            sync: adapter::selector(sync.as_ref()),
        };
        same_rows(
            order,
            &at("list_resource_types".into()),
            adapter::list_resource_types(s, &q, *rng.pick(&PAGE_SIZES)),
            m.list_resource_types(&q),
        );
        for key in workload::resource_keys() {
            same(
                &at(format!("resource({key})")),
                adapter::resource(s, sf, &key),
                m.resource(sf, &key),
            );
        }
        for q in resource_queries(sync) {
            same_rows(
                order,
                &format!("list_resources({q:?})"),
                adapter::list_resources(s, &q, *rng.pick(&PAGE_SIZES)),
                m.list_resources(&q),
            );
        }
        for id in workload::entitlement_ids() {
            same(
                &at(format!("entitlement({id})")),
                adapter::entitlement(s, sf, &id),
                m.entitlement(sf, &id),
            );
        }
        for q in entitlement_queries(sync) {
            same_rows(
                order,
                &format!("list_entitlements({q:?})"),
                adapter::list_entitlements(s, &q, *rng.pick(&PAGE_SIZES)),
                m.list_entitlements(&q),
            );
        }
        for id in workload::asset_ids() {
            same(
                &at(format!("asset({id})")),
                adapter::asset(s, sf, &id),
                m.asset(sf, &id),
            );
        }
        let q = c1z::AssetQuery {
            sync: adapter::selector(sync.as_ref()),
        };
        same_rows(
            order,
            &at("list_assets".into()),
            adapter::list_assets(s, &q, *rng.pick(&PAGE_SIZES)),
            m.list_assets(&q),
        );
        if depth == (Depth::Bulk { held: true }) {
            continue;
        }
        for id in workload::grant_ids() {
            same(
                &at(format!("grant({id})")),
                adapter::grant(s, sf, &id),
                m.grant(sf, &id),
            );
        }
        let bulk = matches!(depth, Depth::Bulk { .. });
        for (q, stored) in grant_queries(sync, bulk) {
            if depth == Depth::Sample && !stored && !rng.chance(40) {
                continue;
            }
            same_rows(
                order,
                &format!("list_grants({q:?})"),
                adapter::list_grants(s, &q, *rng.pick(&PAGE_SIZES)),
                m.list_grants(&q),
            );
            if stored {
                same_rows(
                    order,
                    &format!("list_stored_grants({q:?})"),
                    adapter::list_stored_grants(s, &q, *rng.pick(&PAGE_SIZES)),
                    m.list_stored_grants(&q),
                );
            }
        }
    }
    if !matches!(depth, Depth::Bulk { .. }) {
        for id in workload::sync_ids() {
            same(
                &format!("count_objects({id})"),
                adapter::count_objects(s, &id),
                m.count_objects(&id),
            );
        }
    }
}

fn resource_queries(sync: &Option<SyncId>) -> Vec<ResourceQuery> {
    let base = || ResourceQuery {
        sync: adapter::selector(sync.as_ref()),
        ..Default::default()
    };
    let mut out = vec![base()];
    for t in workload::resource_type_ids() {
        out.push(ResourceQuery {
            resource_type_id: Some(t),
            ..base()
        });
    }
    for p in workload::parent_keys() {
        out.push(ResourceQuery {
            parent: Some(p.clone()),
            ..base()
        });
        out.push(ResourceQuery {
            parent: Some(p),
            resource_type_id: Some("user".into()),
            ..base()
        });
    }
    out
}

fn entitlement_queries(sync: &Option<SyncId>) -> Vec<EntitlementQuery> {
    let mut out = vec![EntitlementQuery {
        sync: adapter::selector(sync.as_ref()),
        resource: None,
    }];
    for r in workload::entitlement_resource_keys() {
        out.push(EntitlementQuery {
            sync: adapter::selector(sync.as_ref()),
            resource: Some(r),
        });
    }
    out
}

/// Grant queries, each with whether to list stored grants too; during a bulk phase only
/// the ones the contract allows (by entitlement, by `needs_expansion`).
fn grant_queries(sync: &Option<SyncId>, bulk: bool) -> Vec<(GrantQuery, bool)> {
    let base = || GrantQuery {
        sync: adapter::selector(sync.as_ref()),
        ..Default::default()
    };
    let needs = || GrantQuery {
        needs_expansion: true,
        ..base()
    };
    let by_entitlement = |e: &str| GrantQuery {
        entitlement_id: Some(e.to_owned()),
        ..base()
    };
    let mut out = vec![(needs(), true)];
    for e in workload::entitlement_ids() {
        out.push((by_entitlement(&e), true));
        out.push((
            GrantQuery {
                needs_expansion: true,
                ..by_entitlement(&e)
            },
            false,
        ));
    }
    if bulk {
        return out;
    }
    out.push((base(), true));
    let principals = workload::principal_keys();
    for p in &principals {
        out.push((
            GrantQuery {
                principal: Some(p.clone()),
                ..base()
            },
            true,
        ));
    }
    for types in [
        vec!["user"],
        vec!["group"],
        vec!["group", "user"],
        vec!["app"],
    ] {
        out.push((
            GrantQuery {
                principal_resource_type_ids: types.iter().map(|t| (*t).to_owned()).collect(),
                ..base()
            },
            false,
        ));
    }
    for r in workload::entitlement_resource_keys() {
        out.push((
            GrantQuery {
                resource: Some(r.clone()),
                ..base()
            },
            true,
        ));
        out.push((
            GrantQuery {
                resource: Some(r),
                needs_expansion: true,
                ..base()
            },
            false,
        ));
    }
    for t in workload::resource_type_ids() {
        out.push((
            GrantQuery {
                resource_type_id: Some(t.clone()),
                ..base()
            },
            true,
        ));
        out.push((
            GrantQuery {
                resource_type_id: Some(t),
                principal_resource_type_ids: vec!["user".into()],
                ..base()
            },
            false,
        ));
    }
    // Filters together: every one must hold.
    let e = workload::entitlement_ids().swap_remove(0);
    let p = principals[0].clone();
    out.push((
        GrantQuery {
            principal: Some(p.clone()),
            ..by_entitlement(&e)
        },
        false,
    ));
    out.push((
        GrantQuery {
            principal_resource_type_ids: vec!["user".into()],
            ..by_entitlement(&e)
        },
        false,
    ));
    out.push((
        GrantQuery {
            principal: Some(p.clone()),
            resource_type_id: Some("group".into()),
            ..base()
        },
        false,
    ));
    out.push((
        GrantQuery {
            principal: Some(p),
            resource: Some(ResourceKey::new("group", "r0")),
            needs_expansion: true,
            ..base()
        },
        false,
    ));
    out
}

engines!(workload);
