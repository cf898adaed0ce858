use c1z::SyncSelector;
#[allow(unused_imports)]
use c1z::prelude::*;
use std::collections::BTreeSet;

use c1z::engine::EngineKind;
use c1z::store::MAX_PAGE_SIZE;
use c1z::{Error, GrantQuery, PageRequest, Reader, ReaderExt, SyncType, WriterExt};

use c1z::ResourceKey;
use c1z::pb::c1::connector::v2::{Entitlement, Grant};

use crate::util::{entitlement, fresh, grant, resource};

fn fill(s: &c1z::AnyStore, n: usize) -> c1z::SyncId {
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let ents: Vec<_> = (0..7)
        .map(|i| entitlement("group", &format!("g{i}"), "member"))
        .collect();
    let grants: Vec<_> = (0..n)
        .map(|i| grant(&ents[i % ents.len()], "user", &format!("u{i:05}")))
        .collect();
    run.put_grants(&grants).unwrap();
    run.id().clone()
}

fn pages_cover_every_row_exactly_once(engine: EngineKind) {
    let f = fresh(engine);
    let sync = fill(f.store(), 1_234);
    let q = GrantQuery {
        sync: SyncSelector::Id(sync),
        ..Default::default()
    };
    for size in [1u32, 7, 100, 617, 1_233, 1_234, 1_235, 5_000] {
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let page = f
                .store()
                .list_grants(&q, &PageRequest::after(size, token))
                .unwrap();
            assert!(page.items.len() <= size as usize);
            seen.extend(page.items.into_iter().map(|g| g.grant.id));
            pages += 1;
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(seen.len(), 1_234, "page size {size}");
        assert_eq!(
            seen.iter().collect::<BTreeSet<_>>().len(),
            1_234,
            "no duplicates at size {size}"
        );
        assert_eq!(
            pages,
            1_234usize.div_ceil(size as usize).max(1),
            "page count at size {size}"
        );
    }
}

fn filtered_pages_cover_every_match(engine: EngineKind) {
    let f = fresh(engine);
    let sync = fill(f.store(), 500);
    let q = GrantQuery {
        sync: SyncSelector::Id(sync),
        entitlement_id: Some("group:g3:member".into()),
        ..Default::default()
    };
    let streamed: Vec<_> = f
        .store()
        .stream_grants(q.clone())
        .map(|g| g.unwrap().grant.id)
        .collect();
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = f
            .store()
            .list_grants(&q, &PageRequest::after(9, token))
            .unwrap();
        paged.extend(page.items.into_iter().map(|g| g.grant.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(streamed.len(), (0..500).filter(|i| i % 7 == 3).count());
    assert_eq!(paged, streamed);
}

fn page_size_is_clamped(engine: EngineKind) {
    assert_eq!(PageRequest::first(0).effective_size(), MAX_PAGE_SIZE);
    assert_eq!(
        PageRequest::first(MAX_PAGE_SIZE + 1).effective_size(),
        MAX_PAGE_SIZE
    );
    assert_eq!(PageRequest::first(250).effective_size(), 250);
    let f = fresh(engine);
    let sync = fill(f.store(), 10_050);
    let q = GrantQuery {
        sync: SyncSelector::Id(sync),
        ..Default::default()
    };
    let page = f.store().list_grants(&q, &PageRequest::first(0)).unwrap();
    assert_eq!(page.items.len(), MAX_PAGE_SIZE as usize);
    assert!(!page.next_page_token.is_empty());
    let rest = f
        .store()
        .list_grants(&q, &PageRequest::after(u32::MAX, page.next_page_token))
        .unwrap();
    assert_eq!(rest.items.len(), 50);
    assert!(rest.next_page_token.is_empty());
}

fn foreign_page_token_is_invalid_argument(engine: EngineKind) {
    let f = fresh(engine);
    fill(f.store(), 3);
    let err = f
        .store()
        .list_grants(
            &GrantQuery::default(),
            &PageRequest::after(2, "not-a-token"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}

fn streams_hold_one_page_and_see_everything(engine: EngineKind) {
    let f = fresh(engine);
    let sync = fill(f.store(), 2_345);
    let n = f
        .store()
        .stream_grants(GrantQuery {
            sync: SyncSelector::Id(sync),
            ..Default::default()
        })
        .count();
    assert_eq!(n, 2_345);
}

/// Grants listed by their entitlement's resource (or resource type), paged at every size,
/// over entitlements sharing a resource, one entitlement whose grants name two resources,
/// a grant rewritten naming another resource, and a deleted grant: the pages are the
/// stream, and the stream is exactly the grants whose identity columns match.
fn resource_pages_cover_every_match(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let mut ents = vec![
        entitlement("app", "wiki", "admin"),
        entitlement("app", "wiki", "read"),
        entitlement("app", "mail", "admin"),
        entitlement("group", "g1", "member"),
    ];
    // One entitlement id whose grants carry different resources.
    let shared_on_mail = Entitlement {
        resource: Some(resource("app", "mail")),
        ..entitlement("app", "wiki", "shared")
    };
    ents.push(entitlement("app", "wiki", "shared"));
    let mut grants: Vec<Grant> = Vec::new();
    for (e, ent) in ents.iter().enumerate() {
        for u in 0..23 {
            grants.push(grant(ent, "user", &format!("u{e}-{u:02}")));
        }
    }
    for u in 0..11 {
        grants.push(grant(&shared_on_mail, "user", &format!("m{u:02}")));
    }
    run.put_grants(&grants).unwrap();
    // Moved: the same id, now naming app:mail.
    let moved = grant(&shared_on_mail, "user", "u4-05");
    run.put_grants(std::slice::from_ref(&moved)).unwrap();
    assert!(run.delete_grant("app:wiki:read:user:u1-07").unwrap());
    let sync = run.id().clone();

    // Identity columns keep their first-insert values (spec: v1 upserts), so the grants
    // listed by resource are those of the first writes, less the deleted one.
    let first: Vec<(String, (String, String))> = grants
        .iter()
        .filter(|g| g.id != "app:wiki:read:user:u1-07")
        .map(|g| {
            let r = g.entitlement.as_ref().unwrap().resource.as_ref().unwrap();
            let id = r.id.as_ref().unwrap();
            (
                g.id.clone(),
                (id.resource_type.clone(), id.resource.clone()),
            )
        })
        .collect();
    assert_eq!(
        s.all_grants(GrantQuery {
            sync: SyncSelector::Id(sync.clone()),
            ..Default::default()
        })
        .unwrap()
        .len(),
        first.len()
    );
    let cases: Vec<(GrantQuery, Box<dyn Fn(&(String, String)) -> bool>)> = vec![
        (
            GrantQuery {
                resource: Some(ResourceKey::new("app", "wiki")),
                ..Default::default()
            },
            Box::new(|r| r.0 == "app" && r.1 == "wiki"),
        ),
        (
            GrantQuery {
                resource: Some(ResourceKey::new("app", "mail")),
                ..Default::default()
            },
            Box::new(|r| r.0 == "app" && r.1 == "mail"),
        ),
        (
            GrantQuery {
                resource_type_id: Some("app".into()),
                ..Default::default()
            },
            Box::new(|r| r.0 == "app"),
        ),
        (
            GrantQuery {
                resource_type_id: Some("group".into()),
                ..Default::default()
            },
            Box::new(|r| r.0 == "group"),
        ),
        (
            GrantQuery {
                resource: Some(ResourceKey::new("app", "nothing")),
                ..Default::default()
            },
            Box::new(|_| false),
        ),
    ];
    for (q, matches) in cases {
        let q = GrantQuery {
            sync: SyncSelector::Id(sync.clone()),
            ..q
        };
        let want: BTreeSet<String> = first
            .iter()
            .filter(|(_, r)| matches(r))
            .map(|(id, _)| id.clone())
            .collect();
        let streamed: Vec<String> = s
            .stream_grants(q.clone())
            .map(|g| g.unwrap().grant.id)
            .collect();
        assert_eq!(streamed.len(), want.len(), "{q:?}: no duplicates");
        assert_eq!(
            streamed.iter().cloned().collect::<BTreeSet<_>>(),
            want,
            "{q:?}"
        );
        for size in [1u32, 3, 22, 23, 24, 1_000] {
            let mut paged = Vec::new();
            let mut token = String::new();
            loop {
                let page = s.list_grants(&q, &PageRequest::after(size, token)).unwrap();
                assert!(page.items.len() <= size as usize);
                paged.extend(page.items.into_iter().map(|g| g.grant.id));
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
            assert_eq!(paged, streamed, "{q:?} in pages of {size}");
        }
    }
    let mut by_type = std::collections::BTreeMap::new();
    for (_, (rt, _)) in &first {
        *by_type.entry(rt.clone()).or_insert(0u64) += 1;
    }
    assert_eq!(s.count_objects(&sync).unwrap().grants_by_type, by_type);
    assert!(
        s.all_grants(GrantQuery {
            sync: SyncSelector::Id(sync.clone()),
            resource: Some(ResourceKey::new("app", "wiki")),
            ..Default::default()
        })
        .unwrap()
        .iter()
        .any(|g| g.grant.id == moved.id && g.grant == moved),
        "listed under its first resource, with its new data"
    );
}

engines!(
    pages_cover_every_row_exactly_once,
    filtered_pages_cover_every_match,
    page_size_is_clamped,
    foreign_page_token_is_invalid_argument,
    streams_hold_one_page_and_see_everything,
    resource_pages_cover_every_match,
);
