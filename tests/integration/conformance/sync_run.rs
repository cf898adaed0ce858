use c1z::SyncSelector;
use c1z::engine::EngineKind;
#[allow(unused_imports)]
use c1z::prelude::*;
use c1z::sync::{CleanupPolicy, SyncStats, cleanup};
use c1z::{Error, Reader, ReaderExt, SyncId, SyncType, Writer, WriterExt, wall};

use crate::util::{entitlement, fresh, grant, resource, resource_type};

fn full_and_resources_only_refuse_a_parent(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let base = s
        .start_sync(SyncType::Full, None)
        .unwrap()
        .finish()
        .unwrap();
    for ty in [SyncType::Full, SyncType::ResourcesOnly] {
        assert!(matches!(
            s.start_sync(ty, Some(&base.id)),
            Err(Error::InvalidArgument(_))
        ));
    }
    for ty in [
        SyncType::Partial,
        SyncType::PartialUpserts,
        SyncType::PartialDeletions,
    ] {
        let run = s.start_sync(ty, Some(&base.id)).unwrap().info().unwrap();
        assert_eq!(run.parent_sync_id.as_ref(), Some(&base.id));
        assert_eq!(run.kind(), Some(ty));
    }
}

fn new_runs_are_ksuids_with_canonical_times(engine: EngineKind) {
    let f = fresh(engine);
    let run = f
        .store()
        .start_sync(SyncType::Full, None)
        .unwrap()
        .info()
        .unwrap();
    assert_eq!(run.id.as_str().len(), 27);
    let ksuid_time = run.id.ksuid_time().expect("a KSUID");
    assert!((chrono::Utc::now() - ksuid_time).num_seconds().abs() < 5);
    assert_eq!(run.sync_token, "");
    assert!(run.ended_at.is_none());
    assert_eq!(
        wall::parse(&wall::format(&run.started_at)),
        Some(run.started_at)
    );
}

fn finish_ends_once_and_stores_stats(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    run.put_resource_types(&[resource_type("user"), resource_type("group")])
        .unwrap();
    run.put_resources(&[
        resource("user", "a"),
        resource("user", "b"),
        resource("group", "g"),
    ])
    .unwrap();
    let member = entitlement("group", "g", "member");
    run.put_entitlements(&[member.clone()]).unwrap();
    run.put_grants(&[grant(&member, "user", "a")]).unwrap();
    run.put_asset("icon", "image/png", b"png").unwrap();
    let id = run.id().clone();
    let done = run.finish().unwrap();
    let stats = SyncStats::from_cached(done.stats.as_deref().unwrap()).unwrap();
    assert_eq!(
        (
            stats.resource_types,
            stats.resources,
            stats.entitlements,
            stats.grants,
            stats.assets
        ),
        (2, 3, 1, 1, 1)
    );
    assert_eq!(stats.resources_by_resource_type.get("user"), Some(&2));
    // Finishing again through a new handle keeps the first end time.
    let again = s.sync_writer(&id).unwrap().finish().unwrap();
    assert_eq!(again.ended_at, done.ended_at);
    assert_eq!(s.latest_finished_sync(None).unwrap().unwrap().id, id);
}

fn resources_only_stats_omit_grants(engine: EngineKind) {
    let f = fresh(engine);
    let run = f.store().start_sync(SyncType::ResourcesOnly, None).unwrap();
    run.put_resource_types(&[resource_type("user")]).unwrap();
    run.put_resources(&[resource("user", "a")]).unwrap();
    let done = run.finish().unwrap();
    assert_eq!(
        done.stats.as_deref(),
        Some(r#"{"resource_types":1,"resources":1,"resources_by_resource_type":{"user":1}}"#)
    );
}

fn resume_follows_baton_rules(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    assert!(s.resume_sync(None, None).unwrap_err().is_not_found());
    let open = s.start_sync(SyncType::Full, None).unwrap().id().clone();
    assert_eq!(
        s.resume_sync(Some(SyncType::Full), None).unwrap().id(),
        &open
    );
    assert_eq!(s.resume_sync(None, Some(&open)).unwrap().id(), &open);
    assert!(matches!(
        s.resume_sync(Some(SyncType::Partial), Some(&open)),
        Err(Error::InvalidSyncState { .. })
    ));
    assert!(
        s.resume_sync(Some(SyncType::Partial), None)
            .unwrap_err()
            .is_not_found()
    );
    let (same, new) = s.start_or_resume_sync(SyncType::Full, None).unwrap();
    assert_eq!((same.id(), new), (&open, false));
    s.sync_writer(&open).unwrap().finish().unwrap();
    assert!(matches!(
        s.resume_sync(None, Some(&open)),
        Err(Error::InvalidSyncState { .. })
    ));
    let (fresh_run, new) = s.start_or_resume_sync(SyncType::Full, None).unwrap();
    assert!(new);
    assert_ne!(fresh_run.id(), &open);
    assert!(
        s.start_or_resume_sync(SyncType::Full, Some(&SyncId::from("nope")))
            .unwrap_err()
            .is_not_found()
    );
}

fn stale_unfinished_syncs_are_not_resumed(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let mut old = s.start_sync(SyncType::Full, None).unwrap().info().unwrap();
    old.started_at -= chrono::Duration::days(8);
    s.put_sync_run(&old).unwrap();
    assert!(
        s.resume_sync(Some(SyncType::Full), None)
            .unwrap_err()
            .is_not_found()
    );
    let (run, new) = s.start_or_resume_sync(SyncType::Full, None).unwrap();
    assert!(new && run.id() != &old.id);
    // An explicit id still resumes it.
    assert_eq!(s.resume_sync(None, Some(&old.id)).unwrap().id(), &old.id);
}

fn checkpoint_survives_reopen(engine: EngineKind) {
    let f = fresh(engine);
    let id = {
        let run = f.store().start_sync(SyncType::Full, None).unwrap();
        run.put_resource_types(&[resource_type("user")]).unwrap();
        run.checkpoint(r#"{"page":2}"#).unwrap();
        run.id().clone()
    };
    let f = f.reopen();
    let run = f.store().resume_sync(Some(SyncType::Full), None).unwrap();
    assert_eq!(run.id(), &id);
    assert_eq!(run.token().unwrap(), r#"{"page":2}"#);
    run.put_resources(&[resource("user", "a")]).unwrap();
    let done = run.finish().unwrap();
    assert!(done.is_finished());
    let f = f.reopen();
    let got = f.store().require_sync_run(&id).unwrap();
    assert_eq!(got, done);
    assert_eq!(
        f.store()
            .count_objects(&id)
            .unwrap()
            .resources_by_type
            .get("user"),
        Some(&1)
    );
}

fn latest_finished_prefers_end_time_then_id(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let a = s
        .start_sync(SyncType::Full, None)
        .unwrap()
        .finish()
        .unwrap();
    let b = s
        .start_sync(SyncType::ResourcesOnly, None)
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(s.latest_finished_sync(None).unwrap().unwrap().id, b.id);
    assert_eq!(
        s.latest_finished_sync(Some(SyncType::Full))
            .unwrap()
            .unwrap()
            .id,
        a.id
    );
    assert!(
        s.latest_finished_sync(Some(SyncType::Partial))
            .unwrap()
            .is_none()
    );
    // Same end time: the greater id wins.
    let mut a2 = a.clone();
    a2.ended_at = b.ended_at;
    s.put_sync_run(&a2).unwrap();
    let expected = if a.id > b.id { &a.id } else { &b.id };
    assert_eq!(&s.latest_finished_sync(None).unwrap().unwrap().id, expected);
}

/// The sync selector: `Latest` (the default of every query and the value a caller must
/// name for gets) is baton's default sync for the kind of read; `Id` one sync; `All`
/// every sync, gets answering from the oldest.
fn selectors_default_to_batons_sync(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let ids = |q: c1z::ResourceTypeQuery| -> Vec<String> {
        s.stream_resource_types(q)
            .map(|r| r.unwrap().value.id)
            .collect()
    };
    let listed = |sync: SyncSelector| -> Vec<String> {
        let page = s
            .list_resource_types(&c1z::ResourceTypeQuery { sync }, &Default::default())
            .unwrap();
        page.items.into_iter().map(|r| r.value.id).collect()
    };
    // No sync at all: nothing to read, not an error.
    assert!(ids(Default::default()).is_empty());
    assert!(
        s.resource_type(&SyncSelector::Latest, "t")
            .unwrap()
            .is_none()
    );
    // An unfinished sync started now: the default while nothing has finished.
    let first = s.start_sync(SyncType::Full, None).unwrap();
    first.put_resource_types(&[resource_type("a")]).unwrap();
    assert_eq!(ids(Default::default()), ["a"]);
    let first = first.finish().unwrap();
    let partial = s.start_sync(SyncType::Partial, Some(&first.id)).unwrap();
    partial.put_resource_types(&[resource_type("b")]).unwrap();
    let partial = partial.finish().unwrap();
    // Lists read the latest finished full sync; gets other than resources and the
    // streams the latest finished sync of any type.
    assert_eq!(listed(SyncSelector::Latest), ["a"]);
    assert!(
        s.resource_type(&SyncSelector::Latest, "b")
            .unwrap()
            .is_some()
    );
    assert!(
        s.resource_type(&SyncSelector::Latest, "a")
            .unwrap()
            .is_none()
    );
    assert_eq!(ids(Default::default()), ["b"]);
    // Named syncs, and every sync.
    assert_eq!(listed(SyncSelector::Id(partial.id.clone())), ["b"]);
    assert_eq!(listed((&first.id).into()), ["a"]);
    let mut all = listed(SyncSelector::All);
    all.sort();
    assert_eq!(all, ["a", "b"]);
    assert!(
        listed(SyncSelector::Id(SyncId::from(
            "2ZfXbJ8JKe4FYeM6pzhcS9MP9Yp"
        )))
        .is_empty(),
        "an unknown id reads nothing"
    );
    // A get over every sync answers from the oldest sync that has the object.
    let second = s.start_sync(SyncType::Full, None).unwrap();
    let mut newer = resource_type("a");
    newer.display_name = "newer".into();
    second.put_resource_types(&[newer]).unwrap();
    let second = second.finish().unwrap();
    let get = |sync: &SyncSelector| s.resource_type(sync, "a").unwrap().unwrap().value;
    assert_eq!(get(&SyncSelector::All).display_name, "a type");
    assert_eq!(get(&SyncSelector::Latest).display_name, "newer");
    assert_eq!(get(&(&first.id).into()).display_name, "a type");
    assert_eq!(listed(SyncSelector::Latest), ["a"]);
    assert_eq!(second.id, s.latest_finished_sync(None).unwrap().unwrap().id);
}

fn cleanup_keeps_policy_syncs_and_deletes_rows(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let mut fulls = Vec::new();
    let mut partials = Vec::new();
    for _ in 0..3 {
        let run = s.start_sync(SyncType::Full, None).unwrap();
        run.put_resource_types(&[resource_type("user")]).unwrap();
        fulls.push(run.finish().unwrap().id);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let p = s.start_sync(SyncType::Partial, fulls.last()).unwrap();
        p.put_resource_types(&[resource_type("group")]).unwrap();
        partials.push(p.finish().unwrap().id);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let open = s.start_sync(SyncType::Full, None).unwrap().id().clone();
    let deleted = cleanup(s, CleanupPolicy::default(), Some(&open)).unwrap();
    // keep 2 with one open → 1 finished full kept (the newest); partials that ended before
    // the newest deleted full started go too.
    assert_eq!(
        deleted,
        vec![fulls[0].clone(), fulls[1].clone(), partials[0].clone()]
    );
    let left: Vec<_> = s.sync_runs().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(
        left,
        vec![
            partials[1].clone(),
            fulls[2].clone(),
            partials[2].clone(),
            open
        ]
    );
    assert!(
        s.resource_type(&SyncSelector::from(&fulls[0]), "user")
            .unwrap()
            .is_none(),
        "rows deleted with the run"
    );
    assert!(
        s.resource_type(&SyncSelector::from(&fulls[2]), "user")
            .unwrap()
            .is_some()
    );
}

engines!(
    full_and_resources_only_refuse_a_parent,
    new_runs_are_ksuids_with_canonical_times,
    finish_ends_once_and_stores_stats,
    resources_only_stats_omit_grants,
    resume_follows_baton_rules,
    stale_unfinished_syncs_are_not_resumed,
    checkpoint_survives_reopen,
    latest_finished_prefers_end_time_then_id,
    selectors_default_to_batons_sync,
    cleanup_keeps_policy_syncs_and_deletes_rows,
);
