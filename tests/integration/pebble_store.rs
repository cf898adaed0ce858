//! baton's Pebble files read through c1z's `Reader`: counts, every object equal to baton's
//! own JSON of the same file, the canonical grant listing, index-driven queries equal to
//! filtered scans, point gets, page tokens, conversion, and refused writes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use c1z::codec::{GRANT_EXPANDABLE, to_any};
use c1z::engine::EngineKind;
use c1z::json::message_json;
use c1z::prelude::*;
use c1z::store::{
    AssetQuery, EntitlementQuery, GrantQuery, PageRequest, ResourceQuery, ResourceTypeQuery,
    SyncSelector,
};
use c1z::{C1zFile, Error, OpenOptions};
use c1z::{GrantRecord, ResourceKey, SyncId};
use serde_json::Value;

use crate::util::{normalized, samples};

fn current(name: &str) -> Option<PathBuf> {
    samples().map(|s| s.join("current").join(name))
}

fn open(path: &Path) -> C1zFile {
    C1zFile::open_read_only(path).unwrap()
}

fn baton_json(name: &str) -> Value {
    let path = samples().unwrap().join("current/baton-json").join(name);
    let bytes = std::fs::read(&path).unwrap();
    let bytes = if name.ends_with(".zst") {
        zstd::decode_all(&bytes[..]).unwrap()
    } else {
        bytes
    };
    serde_json::from_slice(&bytes).unwrap()
}

/// A grant as baton's Pebble reader returns it: the expansion edge back as an annotation.
fn grant_json(g: &GrantRecord) -> Value {
    let mut grant = g.grant.clone();
    if let Some(x) = &g.expansion {
        grant.annotations.push(to_any(GRANT_EXPANDABLE, x));
    }
    message_json("c1.connector.v2.Grant", &grant).unwrap()
}

fn all_grants(store: &impl Reader, query: GrantQuery) -> Vec<GrantRecord> {
    store
        .stream_grants(query)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// The objects of one baton listing (`{"grants":[{"grant":…},…]}` → the `grant`s).
fn listed(v: &Value, list: &str, field: &str) -> Vec<Value> {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[field].clone())
        .collect()
}

/// JSON objects keyed by a field, for comparison regardless of order.
fn by_key(items: Vec<Value>, key: impl Fn(&Value) -> String) -> BTreeMap<String, Value> {
    let n = items.len();
    let out: BTreeMap<String, Value> = items
        .into_iter()
        .map(|v| (key(&v), normalized(v)))
        .collect();
    assert_eq!(out.len(), n, "duplicate keys");
    out
}

fn rid_key(v: &Value) -> String {
    format!("{}:{}", v["id"]["resourceType"], v["id"]["resource"])
}

fn assert_same(what: &str, ours: &BTreeMap<String, Value>, baton: &BTreeMap<String, Value>) {
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        baton.keys().collect::<Vec<_>>(),
        "{what}: ids"
    );
    for (k, v) in baton {
        assert_eq!(&ours[k], v, "{what} {k}");
    }
}

/// Every object of the file equal to baton's JSON listing of it.
fn assert_objects_match_baton(path: &Path, prefix: &str, suffix: &str) {
    let file = open(path);
    let s = file.store();
    let rts: Vec<Value> = s
        .stream_resource_types(ResourceTypeQuery::default())
        .map(|r| message_json("c1.connector.v2.ResourceType", &r.unwrap().value).unwrap())
        .collect();
    let baton = baton_json(&format!("{prefix}resource-types{suffix}"));
    assert_same(
        "resource types",
        &by_key(rts, |v| v["id"].to_string()),
        &by_key(listed(&baton, "resourceTypes", "resourceType"), |v| {
            v["id"].to_string()
        }),
    );
    let resources: Vec<Value> = s
        .stream_resources(ResourceQuery::default())
        .map(|r| message_json("c1.connector.v2.Resource", &r.unwrap().value).unwrap())
        .collect();
    let baton = baton_json(&format!("{prefix}resources{suffix}"));
    assert_same(
        "resources",
        &by_key(resources, rid_key),
        &by_key(listed(&baton, "resources", "resource"), rid_key),
    );
    let ents: Vec<Value> = s
        .stream_entitlements(EntitlementQuery::default())
        .map(|r| message_json("c1.connector.v2.Entitlement", &r.unwrap().value).unwrap())
        .collect();
    let baton = baton_json(&format!("{prefix}entitlements{suffix}"));
    assert_same(
        "entitlements",
        &by_key(ents, |v| v["id"].to_string()),
        &by_key(listed(&baton, "entitlements", "entitlement"), |v| {
            v["id"].to_string()
        }),
    );
    let grants: Vec<Value> = all_grants(s, GrantQuery::default())
        .iter()
        .map(grant_json)
        .collect();
    let baton = baton_json(&format!("{prefix}grants{suffix}"));
    assert_same(
        "grants",
        &by_key(grants, |v| v["id"].to_string()),
        &by_key(listed(&baton, "grants", "grant"), |v| v["id"].to_string()),
    );
}

#[test]
fn v025s_objects_equal_batons_pebble_json() {
    let Some(path) = current("v025-full.pebble.c1z") else {
        return;
    };
    assert_objects_match_baton(&path, "pebble3-", ".json");
}

#[test]
fn the_larger_36zf_files_objects_equal_batons_pebble_json() {
    let Some(path) = current("36zf.expanded.pebble3.c1z") else {
        return;
    };
    assert_objects_match_baton(&path, "36zf-pebble3-", ".json.zst");
}

#[test]
fn the_sync_run_and_stats_match_batons() {
    let Some(path) = current("v025-full.pebble.c1z") else {
        return;
    };
    let file = open(&path);
    let runs = file.store().sync_runs().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let baton = baton_json("pebble3-syncs.json");
    let b = &baton["syncs"][0];
    assert_eq!(run.id.as_str(), b["id"].as_str().unwrap());
    assert_eq!(run.sync_type, "full");
    assert_eq!(run.sync_token, b["syncToken"].as_str().unwrap());
    let rfc = |t: &chrono::NaiveDateTime| {
        t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    };
    assert_eq!(rfc(&run.started_at), b["startedAt"].as_str().unwrap());
    assert_eq!(
        rfc(run.ended_at.as_ref().unwrap()),
        b["endedAt"].as_str().unwrap()
    );
    let stats: Value = serde_json::from_str(run.stats.as_deref().unwrap()).unwrap();
    let baton = baton_json("pebble3-stats.json");
    assert_eq!(stats["grants"], 1502);
    assert_eq!(
        stats["grants_by_resource_type"]["group"].to_string(),
        baton["stats"]["grantsByResourceType"]["group"]
            .as_str()
            .unwrap()
    );
    let m = file.metadata();
    assert_eq!(
        (m.engine.as_str(), m.payload_encoding.as_str()),
        ("pebble3", "indexed_zstd")
    );
    let md = file.store().metadata();
    assert_eq!(
        (md.engine, md.engine_version, md.read_only),
        ("pebble3", 24, true)
    );
}

/// Per-sync counts as `counts.txt` and the spec give them, counted from the rows.
#[test]
fn counts_are_the_samples() {
    let Some(s) = samples() else { return };
    let cases: [(PathBuf, &str, [u64; 5], &[(&str, u64)]); 5] = [
        (
            s.join("current/v025-full.pebble.c1z"),
            "3MSzW63iBPkLz0bLA62xGeHQmb1",
            [4, 360, 80, 1502, 2],
            &[("app", 454), ("group", 722), ("role", 326)],
        ),
        (
            s.join("current/v025-full.tarzstd.pebble.c1z"),
            "3MSzWLscr9TEpz18GrGiWWDoFw5",
            [4, 360, 80, 1502, 2],
            &[("app", 454), ("group", 722), ("role", 326)],
        ),
        (
            s.join("current/36zf.expanded.pebble3.c1z"),
            "36zfOAoWMxQdISbixanQCRBiX7E",
            [4, 1221, 342, 14_981, 0],
            &[],
        ),
        (
            s.join("sync.36zM46KKuaBq0wjSSvKh5o0350y.unexpanded.pebble.c1z"),
            "36zM46KKuaBq0wjSSvKh5o0350y",
            [4, 45_217, 334, 85_401, 0],
            &[("group", 84_616), ("project", 393), ("role", 392)],
        ),
        (
            s.join("large/g1m.pebble3.c1z"),
            "3MyKsZ1GlEeicS07zBAOqacbrdY",
            [4, 252_070, 2_090, 999_362, 1],
            &[],
        ),
    ];
    for (path, sync, [rts, resources, ents, grants, assets], by_type) in cases {
        let file = open(&path);
        let c = file.store().count_objects(&SyncId::new(sync)).unwrap();
        let name = path.display();
        assert_eq!(c.resource_type_ids.len() as u64, rts, "{name}");
        assert_eq!(
            c.resources_by_type.values().sum::<u64>(),
            resources,
            "{name}"
        );
        assert_eq!(c.entitlements_by_type.values().sum::<u64>(), ents, "{name}");
        assert_eq!(c.grants_by_type.values().sum::<u64>(), grants, "{name}");
        assert_eq!(c.assets, assets, "{name}");
        for (t, n) in by_type {
            assert_eq!(c.grants_by_type[*t], *n, "{name} {t}");
        }
        assert_eq!(
            file.store()
                .count_objects(&SyncId::new("3MSzR1qTdcCXVYCSZuSj5tsioLQ"))
                .unwrap(),
            Default::default(),
            "{name}: another sync has no rows"
        );
    }
}

/// The canonical listing (`v025-multi.d-expanded.tsv`): entitlement, principal, grant id,
/// source keys, is_direct flags.
pub(crate) fn canonical_listing(store: &impl Reader) -> String {
    let mut lines: Vec<String> = all_grants(store, GrantQuery::default())
        .iter()
        .map(|g| {
            let gr = &g.grant;
            let p = gr.principal.as_ref().unwrap().id.as_ref().unwrap();
            let sources = gr.sources.as_ref().map(|s| &s.sources);
            let keys: Vec<&str> = sources
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let direct: Vec<String> = sources
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", u8::from(v.is_direct)))
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                gr.entitlement.as_ref().unwrap().id,
                p.resource_type,
                p.resource,
                gr.id,
                keys.join(","),
                direct.join(",")
            )
        })
        .collect();
    lines.sort();
    lines.join("\n") + "\n"
}

#[test]
fn v025s_grant_listing_is_the_canonical_one() {
    let Some(s) = samples() else { return };
    let want = std::fs::read_to_string(s.join("current/v025-multi.d-expanded.tsv")).unwrap();
    for name in ["v025-full.pebble.c1z", "v025-full.tarzstd.pebble.c1z"] {
        let file = open(&s.join("current").join(name));
        assert!(canonical_listing(file.store()) == want, "{name}");
    }
}

/// Every filter, served by an index or a prefix, returns exactly what filtering every
/// grant gives; every get finds its object.
#[test]
fn indexed_queries_and_gets_equal_filtered_scans() {
    let Some(path) = current("v025-full.pebble.c1z") else {
        return;
    };
    let file = open(&path);
    let s = file.store();
    let all = all_grants(s, GrantQuery::default());
    let ids = |gs: &[GrantRecord]| {
        gs.iter()
            .map(|g| g.grant.id.clone())
            .collect::<BTreeSet<_>>()
    };
    let principal =
        |g: &GrantRecord| ResourceKey::of(g.grant.principal.as_ref().unwrap().id.as_ref().unwrap());
    let ent_res = |g: &GrantRecord| {
        ResourceKey::of(
            g.grant
                .entitlement
                .as_ref()
                .unwrap()
                .resource
                .as_ref()
                .unwrap()
                .id
                .as_ref()
                .unwrap(),
        )
    };
    let principals: BTreeSet<ResourceKey> = all.iter().map(principal).collect();
    for p in &principals {
        let got = all_grants(
            s,
            GrantQuery {
                principal: Some(p.clone()),
                ..Default::default()
            },
        );
        let want: Vec<GrantRecord> = all.iter().filter(|g| principal(g) == *p).cloned().collect();
        assert_eq!(ids(&got), ids(&want), "principal {p}");
    }
    let ents: BTreeSet<String> = all
        .iter()
        .map(|g| g.grant.entitlement.as_ref().unwrap().id.clone())
        .collect();
    for e in &ents {
        let got = all_grants(
            s,
            GrantQuery {
                entitlement_id: Some(e.clone()),
                ..Default::default()
            },
        );
        let want: Vec<GrantRecord> = all
            .iter()
            .filter(|g| g.grant.entitlement.as_ref().unwrap().id == *e)
            .cloned()
            .collect();
        assert_eq!(ids(&got), ids(&want), "entitlement {e}");
        assert!(
            s.entitlement(&SyncSelector::Latest, e).unwrap().is_some(),
            "{e}"
        );
    }
    let resources: BTreeSet<ResourceKey> = all.iter().map(ent_res).collect();
    for r in &resources {
        let got = all_grants(
            s,
            GrantQuery {
                resource: Some(r.clone()),
                ..Default::default()
            },
        );
        let want: Vec<GrantRecord> = all.iter().filter(|g| ent_res(g) == *r).cloned().collect();
        assert_eq!(ids(&got), ids(&want), "resource {r}");
    }
    for t in ["app", "group", "role", "user", "nope"] {
        let by_ent_type = all_grants(
            s,
            GrantQuery {
                resource_type_id: Some(t.into()),
                ..Default::default()
            },
        );
        let want: Vec<GrantRecord> = all
            .iter()
            .filter(|g| ent_res(g).resource_type == t)
            .cloned()
            .collect();
        assert_eq!(ids(&by_ent_type), ids(&want), "entitlement type {t}");
        let by_principal_type = all_grants(
            s,
            GrantQuery {
                principal_resource_type_ids: vec![t.into(), "group".into()],
                ..Default::default()
            },
        );
        let want: Vec<GrantRecord> = all
            .iter()
            .filter(|g| [t, "group"].contains(&principal(g).resource_type.as_str()))
            .cloned()
            .collect();
        assert_eq!(
            ids(&by_principal_type),
            ids(&want),
            "principal types {t}, group"
        );
    }
    let expandable = all_grants(
        s,
        GrantQuery {
            needs_expansion: true,
            ..Default::default()
        },
    );
    assert_eq!(expandable.len(), 30);
    assert!(expandable.iter().all(|g| g.expansion.is_some()));
    // Two filters at once.
    let g0 = &all[0];
    let both = all_grants(
        s,
        GrantQuery {
            entitlement_id: Some(g0.grant.entitlement.as_ref().unwrap().id.clone()),
            principal: Some(principal(g0)),
            ..Default::default()
        },
    );
    assert_eq!(ids(&both), ids(std::slice::from_ref(g0)));
    // Gets.
    for g in &all {
        let got = s.grant(&SyncSelector::Latest, &g.grant.id).unwrap();
        assert_eq!(got.as_ref(), Some(g), "grant {}", g.grant.id);
    }
    assert!(
        s.grant(&SyncSelector::Latest, "no:such:grant:x:y")
            .unwrap()
            .is_none()
    );
    assert!(
        s.entitlement(&SyncSelector::Latest, "no:such")
            .unwrap()
            .is_none()
    );
    for r in s.stream_resources(ResourceQuery::default()) {
        let r = r.unwrap();
        let key = ResourceKey::of(r.value.id.as_ref().unwrap());
        assert_eq!(
            s.resource(&SyncSelector::Latest, &key).unwrap().as_ref(),
            Some(&r)
        );
    }
    assert!(
        s.resource_type(&SyncSelector::Latest, "user")
            .unwrap()
            .is_some()
    );
    let asset = s
        .asset(&SyncSelector::Latest, "asset:app-icon")
        .unwrap()
        .unwrap();
    assert_eq!(
        (asset.content_type.as_str(), asset.data.len()),
        ("image/png", 67)
    );
    assert_eq!(s.stream_assets(AssetQuery::default()).count(), 2);
    // Another sync id reads nothing; `All` reads the one sync.
    let other = SyncSelector::Id(SyncId::new("3MSzR1qTdcCXVYCSZuSj5tsioLQ"));
    assert!(s.grant(&other, &g0.grant.id).unwrap().is_none());
    assert_eq!(
        all_grants(
            s,
            GrantQuery {
                sync: SyncSelector::All,
                ..Default::default()
            }
        )
        .len(),
        all.len()
    );
}

#[test]
fn resources_by_type_and_parent_and_entitlements_by_resource() {
    let Some(path) = current("36zf.expanded.pebble3.c1z") else {
        return;
    };
    let file = open(&path);
    let s = file.store();
    let all: Vec<_> = s
        .stream_resources(ResourceQuery::default())
        .collect::<Result<_, _>>()
        .unwrap();
    let mut parents: BTreeMap<ResourceKey, BTreeSet<ResourceKey>> = BTreeMap::new();
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    for r in &all {
        let key = ResourceKey::of(r.value.id.as_ref().unwrap());
        *types.entry(key.resource_type.clone()).or_default() += 1;
        if let Some(p) = &r.value.parent_resource_id {
            parents.entry(ResourceKey::of(p)).or_default().insert(key);
        }
    }
    for (t, n) in &types {
        let got = s
            .stream_resources(ResourceQuery {
                resource_type_id: Some(t.clone()),
                ..Default::default()
            })
            .count();
        assert_eq!(got, *n, "type {t}");
    }
    for (p, children) in &parents {
        let got: BTreeSet<ResourceKey> = s
            .stream_resources(ResourceQuery {
                parent: Some(p.clone()),
                ..Default::default()
            })
            .map(|r| ResourceKey::of(r.unwrap().value.id.as_ref().unwrap()))
            .collect();
        assert_eq!(&got, children, "children of {p}");
    }
    let ents: Vec<_> = s
        .stream_entitlements(EntitlementQuery::default())
        .collect::<Result<_, _>>()
        .unwrap();
    let mut by_res: BTreeMap<ResourceKey, usize> = BTreeMap::new();
    for e in &ents {
        let k = ResourceKey::of(e.value.resource.as_ref().unwrap().id.as_ref().unwrap());
        *by_res.entry(k).or_default() += 1;
    }
    for (r, n) in by_res {
        let got = s
            .stream_entitlements(EntitlementQuery {
                resource: Some(r.clone()),
                ..Default::default()
            })
            .count();
        assert_eq!(got, n, "entitlements of {r}");
    }
}

#[test]
fn pages_resume_where_they_stopped_and_foreign_tokens_are_refused() {
    let Some(path) = current("v025-full.pebble.c1z") else {
        return;
    };
    let file = open(&path);
    let s = file.store();
    let whole = s
        .list_grants(&GrantQuery::default(), &PageRequest::first(0))
        .unwrap();
    assert_eq!(whole.items.len(), 1502);
    assert!(whole.next_page_token.is_empty());
    for size in [1, 7, 751, 1502] {
        let mut got = Vec::new();
        let mut page = PageRequest::first(size);
        loop {
            let p = s.list_grants(&GrantQuery::default(), &page).unwrap();
            assert!(p.items.len() <= size as usize);
            got.extend(p.items);
            if p.next_page_token.is_empty() {
                break;
            }
            page = PageRequest::after(size, p.next_page_token);
        }
        assert_eq!(got, whole.items, "page size {size}");
    }
    let first = s
        .list_resources(&ResourceQuery::default(), &PageRequest::first(3))
        .unwrap();
    for bad in [
        "!!!".to_owned(),
        first.next_page_token.clone(),
        "AwE".to_owned(),
    ] {
        let err = s
            .list_grants(&GrantQuery::default(), &PageRequest::after(3, bad.clone()))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{bad}: {err}");
    }
}

#[test]
fn writable_opens_and_writes_are_refused_with_what_to_do() {
    let Some(path) = current("v025-full.pebble.c1z") else {
        return;
    };
    let before = std::fs::read(&path).unwrap();
    let err = C1zFile::open(&path).unwrap_err();
    assert!(matches!(err, Error::EngineNotSupported { .. }), "{err}");
    assert!(err.to_string().contains("c1z convert"), "{err}");
    let file = open(&path);
    let err = file
        .store()
        .put_resource_types(&SyncId::new("x"), &[])
        .unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err}");
    assert!(file.store().bulk_grants().is_err());
    assert!(file.save_as(path.with_extension("out")).is_err());
    assert!(!path.with_extension("out").exists());
    assert!(!file.save().unwrap());
    drop(file);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Every object of a store as JSON, keyed by kind and id (order-free).
fn every_object(store: &impl Reader) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for r in store.stream_resource_types(ResourceTypeQuery::default()) {
        let r = r.unwrap();
        out.insert(
            format!("rt {}", r.value.id),
            message_json("c1.connector.v2.ResourceType", &r.value).unwrap(),
        );
    }
    for r in store.stream_resources(ResourceQuery::default()) {
        let r = r.unwrap();
        let v = message_json("c1.connector.v2.Resource", &r.value).unwrap();
        out.insert(format!("r {}", rid_key(&v)), v);
    }
    for e in store.stream_entitlements(EntitlementQuery::default()) {
        let e = e.unwrap();
        out.insert(
            format!("e {}", e.value.id),
            message_json("c1.connector.v2.Entitlement", &e.value).unwrap(),
        );
    }
    for g in all_grants(store, GrantQuery::default()) {
        let mut v = grant_json(&g);
        v["needsExpansion"] = Value::Bool(g.needs_expansion);
        out.insert(format!("g {}", g.grant.id), v);
    }
    for a in store.stream_assets(AssetQuery::default()) {
        let a = a.unwrap();
        out.insert(
            format!("a {}", a.id),
            serde_json::json!([a.content_type, a.data]),
        );
    }
    out
}

/// Pebble → v1 and → RocksDB keep every object, run and asset, and the expansion edges (in
/// baton's SQLite layout, the `expansion` column).
#[test]
fn converting_to_either_engine_keeps_every_object() {
    let Some(s) = samples() else { return };
    // (The larger files convert the same way; v025 keeps the test fast.)
    for name in ["current/v025-full.pebble.c1z"] {
        let src = open(&s.join(name));
        let want = every_object(src.store());
        let want_runs = src.store().sync_runs().unwrap();
        for engine in [EngineKind::Sqlite, EngineKind::Rocks] {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("out.c1z");
            let dst = OpenOptions::new()
                .with_create(true)
                .with_engine(engine)
                .open(&out)
                .unwrap();
            let report = c1z::convert::copy_all(src.store(), dst.store()).unwrap();
            assert_eq!(report.sync_runs, 1);
            dst.close().unwrap();
            let back = open(&out);
            let got = every_object(back.store());
            assert_eq!(got.len(), want.len(), "{name} → {engine:?}");
            for (k, v) in &want {
                assert_eq!(got.get(k), Some(v), "{name} → {engine:?}: {k}");
            }
            assert_eq!(
                back.store().sync_runs().unwrap(),
                want_runs,
                "{name} → {engine:?}"
            );
        }
    }
}
