use c1z::SyncSelector;
use std::collections::BTreeMap;

use c1z::engine::EngineKind;
use c1z::expand::{ExpandOptions, ExpandReport, expand};
use c1z::pb::c1::connector::v2::{
    Entitlement, Grant, GrantExpandable, GrantSources, grant_sources::GrantSource,
};
#[allow(unused_imports)]
use c1z::prelude::*;
use c1z::{Error, GrantQuery, SyncType};

use crate::util::{encoded, entitlement, fresh, grant, with_expandable};

/// `group:<name>:member`.
fn member(name: &str) -> Entitlement {
    entitlement("group", name, "member")
}

/// Group `inner` is a member of group `outer`: members of inner hold outer.
fn nest(outer: &str, inner: &str, shallow: bool, types: &[&str]) -> Grant {
    let e = GrantExpandable {
        entitlement_ids: vec![member(inner).id],
        shallow,
        resource_type_ids: types.iter().map(|t| (*t).to_owned()).collect(),
    };
    with_expandable(grant(&member(outer), "group", inner), &e)
}

fn user_in(group: &str, user: &str) -> Grant {
    grant(&member(group), "user", user)
}

/// Runs one sync with these entitlements and grants, expands it, and returns the report
/// and every grant as `grant id → sources (key → is_direct)` plus immutability.
fn run(
    engine: EngineKind,
    groups: &[&str],
    grants: &[Grant],
) -> (
    ExpandReport,
    BTreeMap<String, (BTreeMap<String, bool>, bool)>,
) {
    let f = fresh(engine);
    let s = f.store();
    let sync = s.start_sync(SyncType::Full, None).unwrap();
    sync.put_entitlements(groups.iter().map(|g| member(g)).collect::<Vec<_>>())
        .unwrap();
    sync.put_grants(grants).unwrap();
    let id = sync.finish().unwrap().id;
    let report = expand(s, &id, &ExpandOptions::default()).unwrap();
    (report, snapshot(s, &id))
}

fn snapshot(
    s: &c1z::AnyStore,
    id: &c1z::SyncId,
) -> BTreeMap<String, (BTreeMap<String, bool>, bool)> {
    s.all_grants(GrantQuery {
        sync: SyncSelector::Id(id.clone()),
        ..Default::default()
    })
    .unwrap()
    .into_iter()
    .map(|g| {
        let sources = crate::util::sources_map(&g.grant);
        let immutable = g
            .grant
            .annotations
            .iter()
            .any(|a| c1z::codec::any_is(a, c1z::codec::GRANT_IMMUTABLE));
        (g.grant.id, (sources, immutable))
    })
    .collect()
}

fn src(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn chain_records_immediate_parents_and_directness(engine: EngineKind) {
    // c ⊂ b ⊂ a: members of c hold b, members of b hold a. alice is direct in c.
    let (report, g) = run(
        engine,
        &["a", "b", "c"],
        &[
            nest("b", "c", false, &[]),
            nest("a", "b", false, &[]),
            user_in("c", "alice"),
        ],
    );
    assert_eq!(
        (report.nodes, report.edges, report.layers, report.cycles),
        (3, 2, 3, 0)
    );
    assert_eq!(
        g["group:b:member:user:alice"],
        (src(&[("group:c:member", true)]), true)
    );
    assert_eq!(
        g["group:a:member:user:alice"],
        (src(&[("group:b:member", false)]), true)
    );
    // The nested group itself propagates too (no filter): group c is in a through b.
    assert_eq!(
        g["group:a:member:group:c"],
        (src(&[("group:b:member", true)]), true)
    );
    assert_eq!(report.grants_added, 3);
    assert_eq!(g.len(), 6);
}

fn shallow_edges_carry_only_direct_holders(engine: EngineKind) {
    // b → a is shallow; c → b deep. alice direct in b, bob only via c.
    let (_, g) = run(
        engine,
        &["a", "b", "c"],
        &[
            nest("a", "b", true, &[]),
            nest("b", "c", false, &[]),
            user_in("b", "alice"),
            user_in("c", "bob"),
        ],
    );
    assert!(g.contains_key("group:a:member:user:alice"));
    assert!(g.contains_key("group:b:member:user:bob"));
    assert!(
        !g.contains_key("group:a:member:user:bob"),
        "bob holds b only through expansion"
    );
}

fn type_filters_restrict_principals(engine: EngineKind) {
    let (_, g) = run(
        engine,
        &["a", "b", "c"],
        &[
            nest("a", "b", false, &["user"]),
            user_in("b", "alice"),
            nest("b", "c", false, &[]),
        ],
    );
    assert!(g.contains_key("group:a:member:user:alice"));
    assert!(
        !g.contains_key("group:a:member:group:c"),
        "groups are filtered out of b → a"
    );
}

fn parallel_edges_fold_to_the_widest(engine: EngineKind) {
    // Two grants define b → a: one shallow and filtered to groups, one deep and unfiltered.
    let mut second = nest("a", "b", false, &[]);
    second.id = "second-edge-grant".into();
    let (report, g) = run(
        engine,
        &["a", "b", "c"],
        &[
            nest("a", "b", true, &["group"]),
            second,
            nest("b", "c", false, &[]),
            user_in("c", "bob"),
        ],
    );
    assert_eq!(report.edges, 2);
    assert!(
        g.contains_key("group:a:member:user:bob"),
        "deep and unfiltered won"
    );
}

fn self_loops_do_nothing(engine: EngineKind) {
    let (report, g) = run(
        engine,
        &["a", "b"],
        &[
            nest("a", "a", false, &[]),
            nest("b", "a", false, &[]),
            user_in("a", "alice"),
        ],
    );
    assert_eq!(report.cycles, 1);
    assert_eq!(
        g["group:b:member:user:alice"],
        (src(&[("group:a:member", true)]), true)
    );
    assert_eq!(
        g["group:a:member:user:alice"],
        (BTreeMap::new(), false),
        "untouched: no contribution"
    );
}

fn cycles_collapse_without_internal_propagation(engine: EngineKind) {
    // g1 ⊂ g2 ⊂ g3 ⊂ g1 (a cycle); u1 and u2 are in g2; x feeds g1 from outside.
    let (report, g) = run(
        engine,
        &["g1", "g2", "g3", "x"],
        &[
            nest("g2", "g1", false, &[]),
            nest("g3", "g2", false, &[]),
            nest("g1", "g3", false, &[]),
            user_in("g2", "u1"),
            user_in("g2", "u2"),
            nest("g1", "x", false, &[]),
            user_in("x", "xavier"),
        ],
    );
    assert_eq!(report.cycles, 1);
    assert!(
        !g.contains_key("group:g1:member:user:u1"),
        "members of a cycle do not share principals"
    );
    assert!(!g.contains_key("group:g3:member:user:u2"));
    // Every member receives every external incoming contribution.
    for gname in ["g1", "g2", "g3"] {
        assert_eq!(
            g[&format!("group:{gname}:member:user:xavier")],
            (src(&[("group:x:member", true)]), true),
            "{gname}"
        );
    }
}

fn collapsed_components_feed_each_other(engine: EngineKind) {
    // {a, b} is a cycle feeding the cycle {c, d} through a → c.
    let (report, g) = run(
        engine,
        &["a", "b", "c", "d"],
        &[
            nest("b", "a", false, &[]),
            nest("a", "b", false, &[]),
            nest("d", "c", false, &[]),
            nest("c", "d", false, &[]),
            nest("c", "a", false, &[]),
            user_in("a", "alice"),
            user_in("c", "carol"),
        ],
    );
    assert_eq!(report.cycles, 2);
    assert!(g.contains_key("group:c:member:user:alice"));
    assert!(
        g.contains_key("group:d:member:user:alice"),
        "d receives what reached the component"
    );
    assert!(
        !g.contains_key("group:d:member:user:carol"),
        "no propagation inside {{c, d}}"
    );
    assert!(!g.contains_key("group:b:member:user:alice"));
}

fn existing_grants_merge_with_a_self_source(engine: EngineKind) {
    let (report, g) = run(
        engine,
        &["a", "b"],
        &[
            nest("a", "b", false, &[]),
            user_in("b", "alice"),
            user_in("a", "alice"),
            user_in("a", "zed"),
        ],
    );
    assert_eq!(
        g["group:a:member:user:alice"],
        (
            src(&[("group:a:member", true), ("group:b:member", true)]),
            false
        )
    );
    assert_eq!(
        g["group:a:member:user:zed"],
        (BTreeMap::new(), false),
        "untouched"
    );
    assert_eq!(
        (report.grants_added, report.grants_updated),
        (0, 1),
        "only alice's existing row changes"
    );
}

fn missing_entitlements_are_skipped_and_counted(engine: EngineKind) {
    let ghost = GrantExpandable {
        entitlement_ids: vec!["group:ghost:member".into(), " ".into()],
        ..Default::default()
    };
    let grants = [
        with_expandable(grant(&member("a"), "group", "ghost"), &ghost),
        user_in("a", "alice"),
    ];
    let (report, g) = run(engine, &["a"], &grants);
    assert_eq!(report.dropped_missing_source, 2);
    assert_eq!(report.grants_added, 0);
    assert_eq!(g.len(), 2);
    // A destination entitlement that is not in the store: skipped, counted once per edge.
    let (report, g) = run(
        engine,
        &["b"],
        &[nest("a", "b", false, &[]), user_in("b", "alice")],
    );
    assert_eq!(report.dropped_missing_destination, 1);
    assert!(!g.contains_key("group:a:member:user:alice"));
}

fn a_source_not_on_the_principal_is_an_error(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let sync = s.start_sync(SyncType::Full, None).unwrap();
    sync.put_entitlements(&[member("a"), member("b"), member("c")])
        .unwrap();
    // The grant's principal is group c, but the edge names b's entitlement.
    let bad = GrantExpandable {
        entitlement_ids: vec![member("b").id],
        ..Default::default()
    };
    sync.put_grants(&[with_expandable(grant(&member("a"), "group", "c"), &bad)])
        .unwrap();
    let id = sync.finish().unwrap().id;
    let err = expand(s, &id, &ExpandOptions::default()).unwrap_err();
    assert!(matches!(err, Error::InvalidExpansion { .. }), "{err:?}");
    assert!(err.to_string().contains("did not match grant principal"));
}

fn expanding_twice_changes_nothing(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let sync = s.start_sync(SyncType::Full, None).unwrap();
    sync.put_entitlements(["a", "b", "c", "d"].map(member))
        .unwrap();
    sync.put_grants(&[
        nest("b", "c", false, &[]),
        nest("a", "b", true, &[]),
        nest("d", "a", false, &["user"]),
        user_in("c", "alice"),
        user_in("b", "bob"),
        user_in("a", "bob"),
        user_in("d", "dan"),
    ])
    .unwrap();
    let id = sync.finish().unwrap().id;
    let first = expand(
        s,
        &id,
        &ExpandOptions {
            write_batch: 2,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(first.grants_added > 0);
    let after_first = snapshot(s, &id);
    let second = expand(s, &id, &ExpandOptions::default()).unwrap();
    assert_eq!((second.grants_added, second.grants_updated), (0, 0));
    assert_eq!(snapshot(s, &id), after_first);
}

fn high_fan_out_shares_one_read(engine: EngineKind) {
    let dests: Vec<String> = (0..40).map(|i| format!("d{i}")).collect();
    let mut groups: Vec<&str> = dests.iter().map(String::as_str).collect();
    groups.push("src");
    let mut grants: Vec<Grant> = dests.iter().map(|d| nest(d, "src", false, &[])).collect();
    grants.extend((0..25).map(|i| user_in("src", &format!("u{i:02}"))));
    let (report, g) = run(engine, &groups, &grants);
    assert_eq!(report.grants_added, 40 * 25);
    assert_eq!(g.len(), 40 + 25 + 40 * 25);
    assert_eq!(
        g["group:d7:member:user:u03"],
        (src(&[("group:src:member", true)]), true)
    );
}

fn expansion_output_is_preserve_mode(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let sync = s.start_sync(SyncType::Full, None).unwrap();
    sync.put_entitlements(&[member("a"), member("b")]).unwrap();
    sync.put_grants(&[nest("a", "b", false, &[]), user_in("b", "alice")])
        .unwrap();
    let id = sync.finish().unwrap().id;
    expand(s, &id, &ExpandOptions::default()).unwrap();
    let edges = s
        .all_grants(GrantQuery {
            sync: SyncSelector::Id(id.clone()),
            needs_expansion: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        edges.len(),
        1,
        "the edge-defining grant keeps its expansion"
    );
    let derived = s
        .grant(&SyncSelector::from(&id), "group:a:member:user:alice")
        .unwrap()
        .unwrap();
    assert_eq!((derived.expansion, derived.needs_expansion), (None, false));
    assert_eq!(
        derived.grant.entitlement.unwrap(),
        member("a"),
        "the destination entitlement, in full"
    );
    let mut expected = GrantSources::default();
    expected
        .sources
        .insert("group:b:member".into(), GrantSource { is_direct: true });
    assert_eq!(derived.grant.sources, Some(expected));
}

/// Members are read as stored: a derived grant copies the member's principal as the
/// source grant holds it, and a slim source grant (no principal in its bytes) gives the
/// identity stub that reads hydrate it with.
fn derived_grants_copy_member_principals_as_stored(engine: EngineKind) {
    use c1z::pb::c1::connector::v2::{Resource, ResourceId};
    let f = fresh(engine);
    let s = f.store();
    let sync = s.start_sync(SyncType::Full, None).unwrap();
    sync.put_entitlements(&[member("a"), member("b")]).unwrap();
    sync.put_grants(&[nest("a", "b", false, &[]), user_in("b", "alice")])
        .unwrap();
    let mut slim = user_in("b", "bob");
    slim.principal = None;
    let mut row = encoded(&user_in("b", "bob"));
    row.data = c1z::codec::encode_grant(&slim);
    crate::util::put_encoded(s, sync.id(), &[row]).unwrap();
    let id = sync.finish().unwrap().id;
    let report = expand(s, &id, &ExpandOptions::default()).unwrap();
    assert_eq!(report.grants_added, 2);
    let principal = |grant_id: &str| {
        s.grant(&SyncSelector::from(&id), grant_id)
            .unwrap()
            .unwrap()
            .grant
            .principal
            .unwrap()
    };
    assert_eq!(
        principal("group:a:member:user:alice"),
        user_in("b", "alice").principal.unwrap()
    );
    assert_eq!(
        principal("group:a:member:user:bob"),
        Resource {
            id: Some(ResourceId {
                resource_type: "user".into(),
                resource: "bob".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    );
}

/// A member grant whose principal field occurs twice (legal protobuf, never written by
/// Go): a decoder merges the two, and so must the principal a derived grant copies.
fn a_principal_in_two_parts_is_merged(engine: EngineKind) {
    use c1z::pb::c1::connector::v2::Resource;
    use prost::Message;
    let f = fresh(engine);
    let s = f.store();
    let sync = s.start_sync(SyncType::Full, None).unwrap();
    sync.put_entitlements(&[member("a"), member("b")]).unwrap();
    sync.put_grants(&[nest("a", "b", false, &[])]).unwrap();
    let carol = user_in("b", "carol");
    let mut data = c1z::codec::encode_grant(&carol);
    // A second `principal` (field 2): only a display name.
    let second = Resource {
        display_name: "Carol".into(),
        ..Default::default()
    }
    .encode_to_vec();
    data.push(0x12);
    prost::encoding::encode_varint(second.len() as u64, &mut data);
    data.extend_from_slice(&second);
    let mut row = encoded(&carol);
    row.data = data;
    crate::util::put_encoded(s, sync.id(), &[row]).unwrap();
    let id = sync.finish().unwrap().id;
    // As stored, the member grant reads back merged.
    let merged = s
        .grant(&SyncSelector::from(&id), &carol.id)
        .unwrap()
        .unwrap()
        .grant
        .principal;
    let mut want = carol.principal.clone().unwrap();
    want.display_name = "Carol".into();
    assert_eq!(merged.as_ref(), Some(&want));
    let report = expand(s, &id, &ExpandOptions::default()).unwrap();
    assert_eq!(report.grants_added, 1);
    let derived = s
        .grant(&SyncSelector::from(&id), "group:a:member:user:carol")
        .unwrap()
        .unwrap();
    assert_eq!(derived.grant.principal, Some(want));
}

engines!(
    a_principal_in_two_parts_is_merged,
    derived_grants_copy_member_principals_as_stored,
    chain_records_immediate_parents_and_directness,
    shallow_edges_carry_only_direct_holders,
    type_filters_restrict_principals,
    parallel_edges_fold_to_the_widest,
    self_loops_do_nothing,
    cycles_collapse_without_internal_propagation,
    collapsed_components_feed_each_other,
    existing_grants_merge_with_a_self_source,
    missing_entitlements_are_skipped_and_counted,
    a_source_not_on_the_principal_is_an_error,
    expanding_twice_changes_nothing,
    high_fan_out_shares_one_read,
    expansion_output_is_preserve_mode,
);
