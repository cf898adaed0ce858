#[allow(unused_imports)]
use c1z::prelude::*;
use std::collections::BTreeSet;

use c1z::engine::EngineKind;
use c1z::store::MAX_PAGE_SIZE;
use c1z::{Error, GrantQuery, PageRequest, Reader, ReaderExt, SyncType, WriterExt};

use crate::util::{entitlement, fresh, grant};

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
        sync_id: Some(sync),
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
        sync_id: Some(sync),
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
        sync_id: Some(sync),
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
            sync_id: Some(sync),
            ..Default::default()
        })
        .count();
    assert_eq!(n, 2_345);
}

engines!(
    pages_cover_every_row_exactly_once,
    filtered_pages_cover_every_match,
    page_size_is_clamped,
    foreign_page_token_is_invalid_argument,
    streams_hold_one_page_and_see_everything,
);
