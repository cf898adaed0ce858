use c1z::SyncSelector;
use c1z::engine::EngineKind;
use c1z::pb::c1::connector::v2::{GrantSources, grant_sources::GrantSource};
#[allow(unused_imports)]
use c1z::prelude::*;
use c1z::{GrantQuery, Reader, ReaderExt, ResourceKey, SyncType, WriterExt};

use crate::util::{encoded, entitlement, expandable, fresh, grant, with_expandable};

fn query(sync: &c1z::SyncId) -> GrantQuery {
    GrantQuery {
        sync: SyncSelector::Id(sync.clone()),
        ..Default::default()
    }
}

fn replace_moves_expandable_into_expansion(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let member = entitlement("group", "eng", "member");
    let e = expandable(&["group:ops:member"]);
    run.put_grants(&[with_expandable(grant(&member, "group", "ops"), &e)])
        .unwrap();
    let g = s
        .grant(&SyncSelector::from(run.id()), "group:eng:member:group:ops")
        .unwrap()
        .unwrap();
    assert!(
        g.grant.annotations.is_empty(),
        "the annotation leaves the grant data"
    );
    assert_eq!(g.expansion, Some(e));
    assert!(g.needs_expansion);
}

fn replace_drops_blank_expandable(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let member = entitlement("group", "eng", "member");
    run.put_grants(&[with_expandable(
        grant(&member, "group", "ops"),
        &expandable(&["  ", ""]),
    )])
    .unwrap();
    let g = s
        .grant(&SyncSelector::from(run.id()), "group:eng:member:group:ops")
        .unwrap()
        .unwrap();
    assert!(g.grant.annotations.is_empty(), "dropped either way");
    assert_eq!(g.expansion, None);
    assert!(!g.needs_expansion);
}

/// The four branches of baton's `needs_expansion` CASE on conflict.
fn replace_recomputes_needs_expansion(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let member = entitlement("group", "eng", "member");
    let plain = grant(&member, "group", "ops");
    let id = plain.id.clone();
    let e1 = expandable(&["group:ops:member"]);
    let e2 = expandable(&["group:ops:admin"]);
    let state = || {
        let g = s
            .grant(&SyncSelector::from(run.id()), &id)
            .unwrap()
            .unwrap();
        (g.expansion.is_some(), g.needs_expansion)
    };
    run.put_grants(&[plain.clone()]).unwrap();
    assert_eq!(state(), (false, false));
    // old NULL, new set -> 1
    run.put_grants(&[with_expandable(plain.clone(), &e1)])
        .unwrap();
    assert_eq!(state(), (true, true));
    // Same bytes keep the old flag: store a row whose flag is 0 (as an expander that
    // tracks progress might), then write the same edge again.
    let cleared = c1z::GrantRecord {
        needs_expansion: false,
        ..s.grant(&SyncSelector::from(run.id()), &id)
            .unwrap()
            .unwrap()
    };
    assert!(run.delete_grant(&id).unwrap());
    s.put_grants(run.id(), &[cleared], c1z::GrantUpsertMode::Replace)
        .unwrap();
    assert_eq!(state(), (true, false));
    run.put_grants(&[with_expandable(plain.clone(), &e1)])
        .unwrap();
    assert_eq!(state(), (true, false), "same bytes keep the old flag");
    // different bytes -> 1
    run.put_grants(&[with_expandable(plain.clone(), &e2)])
        .unwrap();
    assert_eq!(state(), (true, true));
    assert_eq!(
        s.grant(&SyncSelector::from(run.id()), &id)
            .unwrap()
            .unwrap()
            .expansion,
        Some(e2)
    );
    // new NULL -> 0 and expansion cleared
    run.put_grants(&[plain]).unwrap();
    assert_eq!(state(), (false, false));
}

fn preserve_expansion_keeps_edge_and_replaces_data(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let member = entitlement("group", "eng", "member");
    let e = expandable(&["group:ops:member"]);
    run.put_grants(&[with_expandable(grant(&member, "group", "ops"), &e)])
        .unwrap();
    let mut expanded = grant(&member, "group", "ops");
    let mut sources = GrantSources::default();
    sources
        .sources
        .insert("group:eng:member".into(), GrantSource { is_direct: true });
    expanded.sources = Some(sources.clone());
    // A residual annotation in expander output is discarded, not stored.
    run.put_expanded_grants(&[with_expandable(expanded, &expandable(&["x:y:z"]))])
        .unwrap();
    let g = s
        .grant(&SyncSelector::from(run.id()), "group:eng:member:group:ops")
        .unwrap()
        .unwrap();
    assert_eq!(g.grant.sources, Some(sources));
    assert!(g.grant.annotations.is_empty());
    assert_eq!(g.expansion, Some(e), "existing edge kept");
    assert!(g.needs_expansion);
    // A new row written by the expander has no edge.
    run.put_expanded_grants(&[grant(&member, "user", "alice")])
        .unwrap();
    let n = s
        .grant(&SyncSelector::from(run.id()), "group:eng:member:user:alice")
        .unwrap()
        .unwrap();
    assert_eq!((n.expansion, n.needs_expansion), (None, false));
}

fn grant_filters_select_exactly(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let eng = entitlement("group", "eng", "member");
    let ops = entitlement("group", "ops", "member");
    let admin = entitlement("app", "wiki", "admin");
    run.put_grants(&[
        grant(&eng, "user", "alice"),
        grant(&eng, "user", "bob"),
        with_expandable(
            grant(&eng, "group", "ops"),
            &expandable(&["group:ops:member"]),
        ),
        grant(&ops, "user", "alice"),
        grant(&admin, "user", "alice"),
        grant(&admin, "role", "root"),
    ])
    .unwrap();
    let ids = |q: GrantQuery| -> Vec<String> {
        s.stream_grants(q).map(|g| g.unwrap().grant.id).collect()
    };
    let check = |q: GrantQuery, want: &[&str]| super::assert_rows(engine, &ids(q), want);
    let base = query(run.id());
    check(
        GrantQuery {
            entitlement_id: Some(eng.id.clone()),
            ..base.clone()
        },
        &[
            "group:eng:member:user:alice",
            "group:eng:member:user:bob",
            "group:eng:member:group:ops",
        ],
    );
    check(
        GrantQuery {
            principal: Some(ResourceKey::new("user", "alice")),
            ..base.clone()
        },
        &[
            "group:eng:member:user:alice",
            "group:ops:member:user:alice",
            "app:wiki:admin:user:alice",
        ],
    );
    check(
        GrantQuery {
            entitlement_id: Some(eng.id.clone()),
            principal_resource_type_ids: vec!["group".into()],
            ..base.clone()
        },
        &["group:eng:member:group:ops"],
    );
    check(
        GrantQuery {
            entitlement_id: Some(eng.id.clone()),
            principal_resource_type_ids: vec!["group".into(), "user".into()],
            ..base.clone()
        },
        &[
            "group:eng:member:user:alice",
            "group:eng:member:user:bob",
            "group:eng:member:group:ops",
        ],
    );
    check(
        GrantQuery {
            resource: Some(ResourceKey::new("app", "wiki")),
            ..base.clone()
        },
        &["app:wiki:admin:user:alice", "app:wiki:admin:role:root"],
    );
    check(
        GrantQuery {
            resource_type_id: Some("app".into()),
            ..base.clone()
        },
        &["app:wiki:admin:user:alice", "app:wiki:admin:role:root"],
    );
    // The entitlement's resource type, not the principal's.
    assert_eq!(
        ids(GrantQuery {
            resource_type_id: Some("group".into()),
            ..base.clone()
        })
        .len(),
        4
    );
    check(
        GrantQuery {
            needs_expansion: true,
            ..base.clone()
        },
        &["group:eng:member:group:ops"],
    );
    check(
        GrantQuery {
            entitlement_id: Some(admin.id.clone()),
            principal: Some(ResourceKey::new("user", "alice")),
            ..base.clone()
        },
        &["app:wiki:admin:user:alice"],
    );
    check(
        GrantQuery {
            principal: Some(ResourceKey::new("role", "root")),
            needs_expansion: true,
            ..base
        },
        &[],
    );
}

fn delete_grant_removes_one_row(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let eng = entitlement("group", "eng", "member");
    run.put_grants(&[grant(&eng, "user", "alice"), grant(&eng, "user", "bob")])
        .unwrap();
    assert!(run.delete_grant("group:eng:member:user:alice").unwrap());
    assert!(!run.delete_grant("group:eng:member:user:alice").unwrap());
    assert_eq!(s.all_grants(query(run.id())).unwrap().len(), 1);
}

/// Ids of every shape: the usual `entitlement:type:principal`, a second grant of the same
/// principal with another id, an id that only looks canonical, and control bytes.
fn grant_ids_of_every_shape_round_trip(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let eng = entitlement("group", "eng", "member");
    let canonical = grant(&eng, "user", "alice");
    let mut other = grant(&eng, "user", "alice");
    other.id = "zz-other".into();
    let mut lookalike = grant(&eng, "user", "bob");
    lookalike.id = "group:eng:member:user:bob:x".into();
    let mut control = grant(&eng, "user", "carol");
    control.id = "\u{0}\u{1}\u{3}".into();
    let all = [
        canonical.clone(),
        other.clone(),
        lookalike.clone(),
        control.clone(),
    ];
    run.put_grants(&all).unwrap();
    for g in &all {
        assert_eq!(
            s.grant(&SyncSelector::from(run.id()), &g.id)
                .unwrap()
                .unwrap()
                .grant,
            *g
        );
    }
    let ids = |q: GrantQuery| -> Vec<String> {
        let mut v: Vec<String> = s
            .all_grants(q)
            .unwrap()
            .into_iter()
            .map(|r| r.grant.id)
            .collect();
        v.sort();
        v
    };
    let mut want: Vec<String> = all.iter().map(|g| g.id.clone()).collect();
    want.sort();
    assert_eq!(
        ids(GrantQuery {
            entitlement_id: Some(eng.id.clone()),
            ..query(run.id())
        }),
        want
    );
    let alice = GrantQuery {
        principal: Some(ResourceKey::new("user", "alice")),
        ..query(run.id())
    };
    assert_eq!(
        ids(alice.clone()),
        vec![canonical.id.clone(), "zz-other".to_owned()]
    );
    assert!(run.delete_grant(&canonical.id).unwrap());
    assert_eq!(ids(alice.clone()), vec!["zz-other".to_owned()]);
    run.put_grants(std::slice::from_ref(&canonical)).unwrap();
    assert_eq!(
        ids(alice),
        vec![canonical.id.clone(), "zz-other".to_owned()]
    );
    assert!(run.delete_grant(&control.id).unwrap());
    assert!(
        s.grant(&SyncSelector::from(run.id()), &control.id)
            .unwrap()
            .is_none()
    );
}

fn grants_round_trip_sources_exactly(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let eng = entitlement("group", "eng", "member");
    let mut g = grant(&eng, "user", "alice");
    let mut sources = GrantSources::default();
    sources
        .sources
        .insert("group:eng:member".into(), GrantSource { is_direct: true });
    sources
        .sources
        .insert("group:ops:member".into(), GrantSource { is_direct: false });
    sources
        .sources
        .insert(String::new(), GrantSource { is_direct: false });
    g.sources = Some(sources);
    run.put_grants(&[g.clone()]).unwrap();
    assert_eq!(
        s.grant(&SyncSelector::from(run.id()), &g.id)
            .unwrap()
            .unwrap()
            .grant,
        g
    );
}

/// New encoded grants are indexed like any other; an existing id keeps its edge and
/// first-seen time (PreserveExpansion); a repeated id in one call: the later row wins.
fn encoded_grants_upsert_with_preserve_rule(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let eng = entitlement("group", "eng", "member");
    let e = expandable(&["group:ops:member"]);
    run.put_grants(&[with_expandable(grant(&eng, "group", "ops"), &e)])
        .unwrap();
    let before = s
        .grant(&SyncSelector::from(run.id()), "group:eng:member:group:ops")
        .unwrap()
        .unwrap();

    // All new: the blind fast path.
    let fresh_rows: Vec<_> = ["alice", "bob"]
        .iter()
        .map(|u| encoded(&grant(&eng, "user", u)))
        .collect();
    crate::util::put_encoded(s, run.id(), &fresh_rows).unwrap();
    let by_principal = s
        .stream_grants(GrantQuery {
            principal: Some(ResourceKey::new("user", "bob")),
            ..query(run.id())
        })
        .map(|r| r.unwrap().grant.id)
        .collect::<Vec<_>>();
    assert_eq!(by_principal, ["group:eng:member:user:bob"]);
    let by_resource = s
        .stream_grants(GrantQuery {
            resource: Some(ResourceKey::new("group", "eng")),
            ..query(run.id())
        })
        .count();
    assert_eq!(by_resource, 3);
    let alice = s
        .grant(&SyncSelector::from(run.id()), "group:eng:member:user:alice")
        .unwrap()
        .unwrap();
    assert_eq!(alice.grant, grant(&eng, "user", "alice"));
    assert_eq!(alice.expansion, None);
    assert!(!alice.needs_expansion);
    assert_eq!(alice.discovered_at, fresh_rows[0].discovered_at);

    // An existing id (the edge grant, now with sources) and a repeated one.
    let mut edge = grant(&eng, "group", "ops");
    edge.sources = Some(GrantSources {
        sources: [(
            "group:eng:member".to_owned(),
            GrantSource { is_direct: true },
        )]
        .into(),
    });
    let mut carol_first = grant(&eng, "user", "carol");
    carol_first.sources = Some(GrantSources::default());
    let carol_last = grant(&eng, "user", "carol");
    crate::util::put_encoded(
        s,
        run.id(),
        &[encoded(&edge), encoded(&carol_first), encoded(&carol_last)],
    )
    .unwrap();
    let after = s
        .grant(&SyncSelector::from(run.id()), "group:eng:member:group:ops")
        .unwrap()
        .unwrap();
    assert_eq!(after.grant, edge);
    assert_eq!(after.expansion, Some(e.clone()));
    assert!(after.needs_expansion);
    assert_eq!(after.discovered_at, before.discovered_at);
    let carol = s
        .grant(&SyncSelector::from(run.id()), "group:eng:member:user:carol")
        .unwrap()
        .unwrap();
    assert_eq!(carol.grant, carol_last);
    assert_eq!(
        s.stream_grants(query(run.id())).count(),
        4,
        "one row per id, every index consistent"
    );
    assert_eq!(
        s.stream_grants(GrantQuery {
            needs_expansion: true,
            ..query(run.id())
        })
        .count(),
        1
    );

    // Ids written after the first bulk call, by either path, are still found: an
    // edge grant written by `put_grants` keeps its expansion, and a derived grant
    // written again keeps its row and first discovery.
    run.put_grants(&[with_expandable(grant(&eng, "user", "dave"), &e)])
        .unwrap();
    let mut alice_again = encoded(&grant(&eng, "user", "alice"));
    alice_again.discovered_at = c1z::wall::parse("2031-01-01 00:00:00.000000").unwrap();
    crate::util::put_encoded(s, run.id(), &[encoded(&grant(&eng, "user", "dave"))]).unwrap();
    crate::util::put_encoded(s, run.id(), &[alice_again]).unwrap();
    let dave = s
        .grant(&SyncSelector::from(run.id()), "group:eng:member:user:dave")
        .unwrap()
        .unwrap();
    assert_eq!(dave.expansion, Some(e));
    assert!(dave.needs_expansion);
    let alice = s
        .grant(&SyncSelector::from(run.id()), "group:eng:member:user:alice")
        .unwrap()
        .unwrap();
    assert_eq!(alice.discovered_at, fresh_rows[0].discovered_at);
    assert_eq!(s.stream_grants(query(run.id())).count(), 5);
}

/// Stored grants are the rows of `list_grants`, page for page, undecoded.
fn stored_grants_page_like_list_grants(engine: EngineKind) {
    use c1z::PageRequest;
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let eng = entitlement("group", "eng", "member");
    let ops = entitlement("group", "ops", "member");
    let mut grants: Vec<_> = ["u1", "u2", "u3", "u4", "u5"]
        .iter()
        .map(|u| grant(&eng, "user", u))
        .collect();
    grants.push(grant(&ops, "user", "u1"));
    run.put_grants(&grants).unwrap();
    let mut slim = grant(&eng, "user", "u6");
    slim.principal = None;
    let mut slim_row = encoded(&grant(&eng, "user", "u6"));
    slim_row.data = c1z::codec::encode_grant(&slim);
    crate::util::put_encoded(s, run.id(), &[slim_row]).unwrap();

    let q = GrantQuery {
        entitlement_id: Some(eng.id.clone()),
        ..query(run.id())
    };
    let mut token = String::new();
    let mut seen = 0;
    loop {
        let page = PageRequest {
            size: 2,
            token: token.clone(),
        };
        let decoded = s.list_grants(&q, &page).unwrap();
        let stored = s.list_stored_grants(&q, &page).unwrap();
        assert_eq!(decoded.next_page_token, stored.next_page_token);
        assert_eq!(decoded.items.len(), stored.items.len());
        for (d, st) in decoded.items.iter().zip(&stored.items) {
            let principal = d.grant.principal.as_ref().unwrap().id.as_ref().unwrap();
            assert_eq!(st.principal, ResourceKey::of(principal));
            let mut raw: c1z::pb::c1::connector::v2::Grant =
                prost::Message::decode(st.data.as_slice()).unwrap();
            if d.grant.id == slim.id {
                assert_eq!(raw.principal, None, "stored slim, hydrated only on decode");
                raw.principal = d.grant.principal.clone();
            }
            assert_eq!(raw, d.grant);
        }
        seen += stored.items.len();
        if stored.next_page_token.is_empty() {
            break;
        }
        token = stored.next_page_token;
    }
    assert_eq!(seen, 6);
    assert_eq!(s.stream_stored_grants(query(run.id())).count(), 7);
}

/// Grants written through a bulk load (which RocksDB may buffer into sorted tables): a
/// later write of a buffered id upserts it, a delete finds it, publishing shows every index
/// entry, a deleted sync stays deleted, a save while the load lives keeps everything, and
/// a second load waits for the first to end.
fn bulk_writes_upsert_publish_and_save(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let eng = entitlement("group", "eng", "member");
    let users: Vec<String> = (0..300).map(|i| format!("u{i:03}")).collect();
    let load = s.bulk_grants().unwrap();
    assert!(
        matches!(s.bulk_grants(), Err(c1z::Error::InvalidArgument(_))),
        "one live load at a time"
    );
    // Many calls: with a small memory limit, several tables are built and ingested.
    for chunk in users.chunks(40) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|u| encoded(&grant(&eng, "user", u)))
            .collect();
        load.put_encoded_grants(run.id(), &rows).unwrap();
    }
    // Buffered ids, written again: one row each, first discovery kept.
    let mut again = encoded(&grant(&eng, "user", "u299"));
    again.discovered_at = c1z::wall::parse("2031-01-01 00:00:00.000000").unwrap();
    load.put_encoded_grants(run.id(), &[again]).unwrap();
    let e = expandable(&["group:ops:member"]);
    run.put_grants(&[with_expandable(grant(&eng, "user", "u298"), &e)])
        .unwrap();
    assert!(
        s.delete_grant(run.id(), "group:eng:member:user:u297")
            .unwrap()
    );
    load.publish().unwrap();

    let u299 = s
        .grant(&SyncSelector::from(run.id()), "group:eng:member:user:u299")
        .unwrap()
        .unwrap();
    assert_eq!(
        u299.discovered_at,
        c1z::wall::parse("2030-01-02 03:04:05.000000").unwrap()
    );
    let u298 = s
        .grant(&SyncSelector::from(run.id()), "group:eng:member:user:u298")
        .unwrap()
        .unwrap();
    assert_eq!(u298.expansion, Some(e));
    assert!(
        s.grant(&SyncSelector::from(run.id()), "group:eng:member:user:u297")
            .unwrap()
            .is_none()
    );
    let count = |q: GrantQuery| s.stream_grants(q).map(Result::unwrap).count();
    assert_eq!(count(query(run.id())), 299);
    assert_eq!(
        count(GrantQuery {
            principal: Some(ResourceKey::new("user", "u150")),
            ..query(run.id())
        }),
        1
    );
    assert_eq!(
        count(GrantQuery {
            resource: Some(ResourceKey::new("group", "eng")),
            ..query(run.id())
        }),
        299
    );
    assert_eq!(
        count(GrantQuery {
            needs_expansion: true,
            ..query(run.id())
        }),
        1
    );

    // A sync deleted while its grants are buffered stays empty.
    let doomed = s.start_sync(SyncType::Full, None).unwrap();
    let rows: Vec<_> = users[..50]
        .iter()
        .map(|u| encoded(&grant(&eng, "user", u)))
        .collect();
    load.put_encoded_grants(doomed.id(), &rows).unwrap();
    s.delete_sync_run(doomed.id()).unwrap();

    // Written after publishing and saved before the phase ends: the file has them.
    let late: Vec<_> = (300..400)
        .map(|i| encoded(&grant(&eng, "user", &format!("u{i:03}"))))
        .collect();
    load.put_encoded_grants(run.id(), &late).unwrap();
    let id = run.id().clone();
    let kept = tempfile::tempdir().unwrap();
    let copy = kept.path().join("mid-load.c1z");
    f.file.save_as(&copy).unwrap();
    // The save ended the load: its later writes are ordinary ones, and its end is a no-op.
    let after: Vec<_> = (400..410)
        .map(|i| encoded(&grant(&eng, "user", &format!("u{i:03}"))))
        .collect();
    load.put_encoded_grants(&id, &after).unwrap();
    assert_eq!(s.stream_grants(query(&id)).count(), 409);
    load.finish().unwrap();
    s.check_consistency().unwrap();
    drop(f);
    let f = crate::util::options().open(&copy).unwrap();
    let s = f.store();
    assert_eq!(s.stream_grants(query(&id)).count(), 399);
    assert_eq!(
        s.stream_grants(GrantQuery {
            principal: Some(ResourceKey::new("user", "u350")),
            ..query(&id)
        })
        .count(),
        1
    );
    assert_eq!(s.sync_runs().unwrap().len(), 1);
    assert_eq!(s.stream_grants(GrantQuery::default()).count(), 399);
    // A new load can start once the last one ended.
    s.bulk_grants().unwrap().finish().unwrap();
    s.check_consistency().unwrap();
}

engines!(
    bulk_writes_upsert_publish_and_save,
    grant_ids_of_every_shape_round_trip,
    stored_grants_page_like_list_grants,
    encoded_grants_upsert_with_preserve_rule,
    replace_moves_expandable_into_expansion,
    replace_drops_blank_expandable,
    replace_recomputes_needs_expansion,
    preserve_expansion_keeps_edge_and_replaces_data,
    grant_filters_select_exactly,
    delete_grant_removes_one_row,
    grants_round_trip_sources_exactly,
);
