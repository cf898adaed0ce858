use c1z::SyncSelector;
use c1z::engine::EngineKind;
#[allow(unused_imports)]
use c1z::prelude::*;
use c1z::{
    AssetQuery, EntitlementQuery, ReaderExt, ResourceKey, ResourceQuery, ResourceTypeQuery,
    SyncType, WriterExt,
};

use crate::util::{child, entitlement, fresh, resource, resource_type, rid};

fn resource_types_upsert_by_id(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    run.put_resource_types(&[resource_type("user"), resource_type("group")])
        .unwrap();
    let first = s
        .resource_type(&SyncSelector::from(run.id()), "user")
        .unwrap()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut renamed = resource_type("user");
    renamed.display_name = "People".into();
    run.put_resource_types(&[renamed.clone()]).unwrap();
    let again = s
        .resource_type(&SyncSelector::from(run.id()), "user")
        .unwrap()
        .unwrap();
    assert_eq!(again.value, renamed, "data is replaced");
    assert_eq!(
        again.discovered_at, first.discovered_at,
        "discovered_at keeps the first write"
    );
    let all: Vec<_> = s
        .stream_resource_types(ResourceTypeQuery {
            sync: SyncSelector::Id(run.id().clone()),
        })
        .map(|r| r.unwrap().value.id)
        .collect();
    super::assert_rows(engine, &all, &["user", "group"]);
}

fn resources_filter_by_type_and_parent(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    let org = rid("org", "acme");
    run.put_resources(&[
        resource("org", "acme"),
        child("team", "eng", &org),
        child("team", "ops", &org),
        resource("team", "orphan"),
        resource("user", "alice"),
    ])
    .unwrap();
    let sync = SyncSelector::Id(run.id().clone());
    let ids = |q: ResourceQuery| -> Vec<String> {
        s.stream_resources(q)
            .map(|r| r.unwrap().value.id.unwrap().resource)
            .collect()
    };
    let teams = ids(ResourceQuery {
        sync: sync.clone(),
        resource_type_id: Some("team".into()),
        ..Default::default()
    });
    super::assert_rows(engine, &teams, &["eng", "ops", "orphan"]);
    let children = ids(ResourceQuery {
        sync: sync.clone(),
        parent: Some(ResourceKey::new("org", "acme")),
        ..Default::default()
    });
    super::assert_rows(engine, &children, &["eng", "ops"]);
    let got = s
        .resource(&sync, &ResourceKey::new("team", "eng"))
        .unwrap()
        .unwrap();
    assert_eq!(got.value.parent_resource_id, Some(org));
    assert!(
        s.resource(&sync, &ResourceKey::new("team", "nope"))
            .unwrap()
            .is_none()
    );
    // The type is part of the identity: a user named "eng" is another resource.
    assert!(
        s.resource(&sync, &ResourceKey::new("user", "eng"))
            .unwrap()
            .is_none()
    );
}

fn entitlements_filter_by_resource(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    run.put_entitlements(&[
        entitlement("group", "eng", "member"),
        entitlement("group", "eng", "admin"),
        entitlement("group", "ops", "member"),
    ])
    .unwrap();
    let on_eng: Vec<String> = s
        .stream_entitlements(EntitlementQuery {
            sync: SyncSelector::Id(run.id().clone()),
            resource: Some(ResourceKey::new("group", "eng")),
        })
        .map(|e| e.unwrap().value.id)
        .collect();
    super::assert_rows(engine, &on_eng, &["group:eng:member", "group:eng:admin"]);
    let one = s
        .entitlement(&SyncSelector::from(run.id()), "group:ops:member")
        .unwrap()
        .unwrap();
    assert_eq!(one.value, entitlement("group", "ops", "member"));
}

fn objects_are_scoped_by_sync(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let a = s.start_sync(SyncType::Full, None).unwrap();
    a.put_resource_types(&[resource_type("user")]).unwrap();
    let a = a.finish().unwrap();
    let b = s.start_sync(SyncType::Full, None).unwrap();
    let mut renamed = resource_type("user");
    renamed.display_name = "B".into();
    b.put_resource_types(&[renamed, resource_type("group")])
        .unwrap();
    assert_eq!(
        s.resource_type(&SyncSelector::from(&a.id), "user")
            .unwrap()
            .unwrap()
            .value
            .display_name,
        "user type"
    );
    assert_eq!(
        s.resource_type(&SyncSelector::from(b.id()), "user")
            .unwrap()
            .unwrap()
            .value
            .display_name,
        "B"
    );
    assert!(
        s.resource_type(&SyncSelector::from(&a.id), "group")
            .unwrap()
            .is_none()
    );
    let every: usize = s
        .stream_resource_types(ResourceTypeQuery {
            sync: SyncSelector::All,
        })
        .count();
    assert_eq!(every, 3, "no sync filter reads every sync's rows");
}

fn assets_follow_baton_rules(engine: EngineKind) {
    let f = fresh(engine);
    let s = f.store();
    let run = s.start_sync(SyncType::Full, None).unwrap();
    run.put_asset("icon", "image/png", b"\x89PNG").unwrap();
    run.put_asset("blank", "image/png", b"").unwrap();
    run.put_asset("mystery", "", b"?").unwrap();
    run.put_asset("icon", "image/gif", b"GIF8").unwrap();
    let icon = s
        .asset(&SyncSelector::from(run.id()), "icon")
        .unwrap()
        .unwrap();
    assert_eq!(icon.data, b"GIF8", "a conflict replaces the data");
    assert_eq!(
        icon.content_type, "image/png",
        "and keeps the first content type"
    );
    assert!(
        s.asset(&SyncSelector::from(run.id()), "blank")
            .unwrap()
            .is_none(),
        "empty data is skipped"
    );
    assert_eq!(
        s.asset(&SyncSelector::from(run.id()), "mystery")
            .unwrap()
            .unwrap()
            .content_type,
        "unknown"
    );
    let listed: Vec<String> = s
        .stream_assets(AssetQuery {
            sync: SyncSelector::Id(run.id().clone()),
        })
        .map(|a| a.unwrap().id)
        .collect();
    super::assert_rows(engine, &listed, &["icon", "mystery"]);
}

engines!(
    resource_types_upsert_by_id,
    resources_filter_by_type_and_parent,
    entitlements_filter_by_resource,
    objects_are_scoped_by_sync,
    assets_follow_baton_rules,
);
