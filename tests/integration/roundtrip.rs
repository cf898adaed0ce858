//! Property tests: random connector objects written through the store come back equal,
//! before and after save + reopen; the canonical grant encoding round-trips.
use c1z::SyncSelector;
#[allow(unused_imports)]
use c1z::prelude::*;

use std::collections::BTreeMap;

use c1z::engine::EngineKind;
use c1z::pb::c1::connector::v2::{
    Entitlement, Grant, GrantSources, Resource, ResourceId, ResourceType,
    grant_sources::GrantSource,
};
use c1z::{
    EntitlementQuery, GrantQuery, ReaderExt, ResourceQuery, ResourceTypeQuery, SyncType, WriterExt,
    codec,
};
use proptest::prelude::*;
use prost::Message;

use crate::util::fresh;

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,8}"
}

fn any_value() -> impl Strategy<Value = prost_types::Any> {
    (name(), proptest::collection::vec(any::<u8>(), 0..12)).prop_map(|(n, value)| {
        prost_types::Any {
            type_url: format!("type.googleapis.com/x.{n}"),
            value,
        }
    })
}

fn resource_type() -> impl Strategy<Value = ResourceType> {
    (
        name(),
        ".{0,12}",
        proptest::collection::vec(0i32..13, 0..3),
        proptest::collection::vec(any_value(), 0..2),
        any::<bool>(),
    )
        .prop_map(
            |(id, display_name, traits, annotations, sourced_externally)| ResourceType {
                id,
                display_name,
                traits,
                annotations,
                sourced_externally,
                ..Default::default()
            },
        )
}

fn resource_id() -> impl Strategy<Value = ResourceId> {
    (name(), name()).prop_map(|(resource_type, resource)| ResourceId {
        resource_type,
        resource,
        ..Default::default()
    })
}

fn resource() -> impl Strategy<Value = Resource> {
    (
        resource_id(),
        proptest::option::of(resource_id()),
        ".{0,12}",
        proptest::collection::vec(any_value(), 0..2),
    )
        .prop_map(|(id, parent, display_name, annotations)| Resource {
            id: Some(id),
            parent_resource_id: parent,
            display_name,
            annotations,
            ..Default::default()
        })
}

fn entitlement() -> impl Strategy<Value = Entitlement> {
    (resource(), name(), ".{0,12}", 0i32..4).prop_map(|(r, n, display_name, purpose)| Entitlement {
        id: format!(
            "{}:{}:{n}",
            r.id.as_ref().map_or("", |i| i.resource_type.as_str()),
            r.id.as_ref().map_or("", |i| i.resource.as_str())
        ),
        resource: Some(r),
        display_name,
        purpose,
        ..Default::default()
    })
}

fn sources() -> impl Strategy<Value = Option<GrantSources>> {
    proptest::option::of(
        proptest::collection::btree_map("[a-z:]{0,10}", any::<bool>(), 0..4).prop_map(|m| {
            GrantSources {
                sources: m
                    .into_iter()
                    .map(|(k, is_direct)| (k, GrantSource { is_direct }))
                    .collect::<BTreeMap<_, _>>(),
            }
        }),
    )
}

fn grant() -> impl Strategy<Value = Grant> {
    (
        entitlement(),
        resource(),
        sources(),
        proptest::collection::vec(any_value(), 0..2),
    )
        .prop_map(|(e, p, sources, annotations)| {
            let pid = p.id.clone().unwrap_or_default();
            Grant {
                id: format!("{}:{}:{}", e.id, pid.resource_type, pid.resource),
                entitlement: Some(e),
                principal: Some(p),
                sources,
                annotations,
            }
        })
}

/// Keeps the last write per key, in first-write order (upsert semantics).
fn dedup<T: Clone>(items: &[T], key: impl Fn(&T) -> String) -> Vec<T> {
    let mut order: Vec<String> = Vec::new();
    let mut last: BTreeMap<String, T> = BTreeMap::new();
    for it in items {
        let k = key(it);
        if !last.contains_key(&k) {
            order.push(k.clone());
        }
        last.insert(k, it.clone());
    }
    order.iter().map(|k| last[k].clone()).collect()
}

/// Rows as the engine lists them: insertion order as written, or (key-ordered engines)
/// compared as a multiset, sorted by encoding.
fn normalized<T: Message>(engine: EngineKind, mut rows: Vec<T>) -> Vec<Vec<u8>> {
    let mut bytes: Vec<Vec<u8>> = rows.drain(..).map(|r| r.encode_to_vec()).collect();
    if engine.list_order() == c1z::engine::ListOrder::Key {
        bytes.sort();
    }
    bytes
}

fn round_trip(
    engine: EngineKind,
    rts: &[ResourceType],
    rs: &[Resource],
    es: &[Entitlement],
    gs: &[Grant],
) -> Result<(), TestCaseError> {
    let f = fresh(engine);
    let run = f.store().start_sync(SyncType::Full, None).unwrap();
    run.put_resource_types(rts).unwrap();
    run.put_resources(rs).unwrap();
    run.put_entitlements(es).unwrap();
    run.put_grants(gs).unwrap();
    let id = run.finish().unwrap().id;
    let rid_key = |r: &Resource| {
        r.id.as_ref()
            .map(|i| format!("{}:{}", i.resource_type, i.resource))
            .unwrap_or_default()
    };
    let want_rts = dedup(rts, |r| r.id.clone());
    let want_rs = dedup(rs, rid_key);
    let want_es = dedup(es, |e| e.id.clone());
    let want_gs = dedup(gs, |g| g.id.clone());
    let check = |f: &crate::util::Fresh| -> Result<(), TestCaseError> {
        let s = f.store();
        let sync = SyncSelector::Id(id.clone());
        let got_rts: Vec<_> = s
            .stream_resource_types(ResourceTypeQuery { sync: sync.clone() })
            .map(|r| r.unwrap().value)
            .collect();
        prop_assert_eq!(
            normalized(engine, got_rts),
            normalized(engine, want_rts.clone())
        );
        let got_rs: Vec<_> = s
            .stream_resources(ResourceQuery {
                sync: sync.clone(),
                ..Default::default()
            })
            .map(|r| r.unwrap().value)
            .collect();
        prop_assert_eq!(
            normalized(engine, got_rs),
            normalized(engine, want_rs.clone())
        );
        let got_es: Vec<_> = s
            .stream_entitlements(EntitlementQuery {
                sync: sync.clone(),
                ..Default::default()
            })
            .map(|r| r.unwrap().value)
            .collect();
        prop_assert_eq!(
            normalized(engine, got_es),
            normalized(engine, want_es.clone())
        );
        let got_gs: Vec<_> = s
            .stream_grants(GrantQuery {
                sync: sync.clone(),
                ..Default::default()
            })
            .map(|r| r.unwrap().grant)
            .collect();
        prop_assert_eq!(
            normalized(engine, got_gs),
            normalized(engine, want_gs.clone())
        );
        Ok(())
    };
    check(&f)?;
    check(&f.reopen())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn rocks_round_trips_random_objects(
        rts in proptest::collection::vec(resource_type(), 0..6),
        rs in proptest::collection::vec(resource(), 0..12),
        es in proptest::collection::vec(entitlement(), 0..8),
        gs in proptest::collection::vec(grant(), 0..12),
    ) {
        round_trip(EngineKind::Rocks, &rts, &rs, &es, &gs)?;
    }

    #[test]
    fn sqlite_round_trips_random_objects(
        rts in proptest::collection::vec(resource_type(), 0..6),
        rs in proptest::collection::vec(resource(), 0..12),
        es in proptest::collection::vec(entitlement(), 0..8),
        gs in proptest::collection::vec(grant(), 0..12),
    ) {
        round_trip(EngineKind::Sqlite, &rts, &rs, &es, &gs)?;
    }

    #[test]
    fn canonical_grant_encoding_round_trips(g in grant()) {
        let bytes = codec::encode_grant(&g);
        prop_assert_eq!(Grant::decode(bytes.as_slice()).unwrap(), g.clone());
        // Identical to prost except for map entries with default keys or values, which Go
        // writes and prost omits.
        let defaults = g.sources.as_ref().is_some_and(|s| s.sources.iter().any(|(k, v)| k.is_empty() || !v.is_direct));
        if !defaults {
            prop_assert_eq!(bytes, g.encode_to_vec());
        }
    }

    #[test]
    fn grant_parts_encode_like_whole_grants(g in grant()) {
        // Expansion's shape: entitlement, principal and sources always present.
        let mut g = g;
        g.sources.get_or_insert_with(GrantSources::default);
        let ent = g.entitlement.as_ref().unwrap().encode_to_vec();
        let principal = g.principal.as_ref().unwrap().encode_to_vec();
        let annotations: Vec<Vec<u8>> = g.annotations.iter().map(Message::encode_to_vec).collect();
        let annotation_refs: Vec<&[u8]> = annotations.iter().map(Vec::as_slice).collect();
        let sources = g.sources.as_ref().unwrap();
        let mut buf = Vec::new();
        codec::encode_grant_parts(
            &mut buf,
            &ent,
            &principal,
            &g.id,
            &annotation_refs,
            sources.sources.iter().map(|(k, v)| (k.as_str(), v.is_direct)),
        );
        prop_assert_eq!(buf, codec::encode_grant(&g));
    }
}

fn write_sync(
    s: &c1z::AnyStore,
    rts: &[ResourceType],
    rs: &[Resource],
    es: &[Entitlement],
    gs: &[Grant],
    finish: bool,
) {
    let run = s.start_sync(SyncType::Full, None).unwrap();
    run.put_resource_types(rts).unwrap();
    run.put_resources(rs).unwrap();
    run.put_entitlements(es).unwrap();
    run.put_grants(gs).unwrap();
    run.put_asset("icon", "image/png", b"png").unwrap();
    if finish {
        run.finish().unwrap();
    } else {
        run.checkpoint("{\"resume\":true}").unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// sqlite → rocksdb → sqlite keeps every sync run and row identical.
    #[test]
    fn conversion_round_trips_random_files(
        rts in proptest::collection::vec(resource_type(), 0..5),
        rs in proptest::collection::vec(resource(), 0..10),
        es in proptest::collection::vec(entitlement(), 0..6),
        gs in proptest::collection::vec(grant(), 0..10),
        gs2 in proptest::collection::vec(grant(), 0..6),
    ) {
        let a = fresh(EngineKind::Sqlite);
        write_sync(a.store(), &rts, &rs, &es, &gs, true);
        write_sync(a.store(), &rts, &rs, &es, &gs2, false);
        let b = fresh(EngineKind::Rocks);
        c1z::convert::copy_all(a.store(), b.store()).unwrap();
        let b = b.reopen();
        let c = fresh(EngineKind::Sqlite);
        c1z::convert::copy_all(b.store(), c.store()).unwrap();
        let c = c.reopen();
        let original = crate::convert::dump(a.store());
        prop_assert_eq!(&crate::convert::dump(b.store()), &original);
        prop_assert_eq!(&crate::convert::dump(c.store()), &original);
    }
}
