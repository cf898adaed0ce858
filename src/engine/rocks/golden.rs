//! Golden bytes of the frozen format (`docs/format-rocksdb.md` §9): rows written through
//! the engine, compared key by key and byte by byte with the listing below. A failure here
//! means the format changed: that is a new format version, not a test to update.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use super::RocksStore;
use crate::model::{Asset, GrantRecord, Record, ResourceKey, SyncId, SyncRun, wall};
use crate::pb::c1::connector::v2::{
    Entitlement, Grant, GrantExpandable, Resource, ResourceId, ResourceType,
};
use crate::store::{DerivedEntitlement, DerivedGrant, EntitlementKey, GrantUpsertMode, Writer};

fn id(rt: &str, r: &str) -> Option<ResourceId> {
    Some(ResourceId {
        resource_type: rt.into(),
        resource: r.into(),
        ..Default::default()
    })
}

/// Every key and value of a database, one `key value` line of hex each.
fn dump(store: &RocksStore) -> String {
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut out = String::new();
    let mut it = store.db.raw_iterator();
    it.seek_to_first();
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        out.push_str(format!("{} {}", hex(k), hex(v)).trim_end());
        out.push('\n');
        it.next();
    }
    out
}

/// One row of each kind, both grant forms, every index entry, as `key value` in hex (`#`
/// lines name the next one). Times are 2026-03-03 09:45:13.056791 (seconds and nanos
/// varints `a9db9acd06`, `d89f8a1b`). The same listing is §9 of `docs/format-rocksdb.md`.
const GOLDEN: &str = "\
# resource type user: ObjectRow{discovered_at, data=ResourceType{id}}
010000000175736572 0a0b08a9db9acd0610d89f8a1b12060a0475736572
# resource group:eng (parent org:acme)
020000000167726f757000656e67 0a0b08a9db9acd0610d89f8a1b121b0a0c0a0567726f75701203656e67120b0a036f7267120461636d65
# entitlement group:eng:member on group:eng
030000000167726f757000656e670067726f75703a656e673a6d656d626572 0a0b08a9db9acd0610d89f8a1b12220a0e0a0c0a0567726f75701203656e67121067726f75703a656e673a6d656d626572
# grant g1 (id not canonical): stored GrantRow, needs_expansion, expansion, resource columns, data
040000000167726f75703a656e673a6d656d6265720067726f7570006f7073006731 0a0b08a9db9acd0610d89f8a1b10011a120a1067726f75703a6f70733a6d656d626572220567726f75702a03656e6732380a220a0e0a0c0a0567726f75701203656e67121067726f75703a656e673a6d656d626572120e0a0c0a0567726f757012036f70731a026731
# grant group:eng:member:user:al: derived GrantRow (snapshot 1, principal, sources)
040000000167726f75703a656e673a6d656d626572007573657200616c000103 0a0b08a9db9acd0610d89f8a1b3801420c0a0a0a04757365721202616c4a160a140a1067726f75703a6f70733a6d656d6265721200
# asset icon: AssetRow
050000000169636f6e 0a0b08a9db9acd0610d89f8a1b1209696d6167652f706e671a0189
# sync run 1: SyncRunRow
0600000001 0a1b325a6658624a384a4b65344659654d36707a686353394d50395970120466756c6c1a0b08a9db9acd0610d89f8a1b220b08a9db9acd0610d89f8a1b
# resource by parent org:acme -> group:eng
0701000000016f72670061636d650067726f757000656e67
# entitlement by id -> its row's tail
07020000000167726f75703a656e673a6d656d626572 67726f757000656e670067726f75703a656e673a6d656d626572
# grant by id g1 -> the whole tail
0703000000016731 67726f75703a656e673a6d656d6265720067726f7570006f7073006731
# grant by id (canonical) -> short form 01 03, len(esc(e))=16, len(esc(pt))=4
07030000000167726f75703a656e673a6d656d6265723a757365723a616c 01031004
# grant by principal group:ops
07040000000167726f7570006f70730067726f75703a656e673a6d656d6265720067726f7570006f7073006731
# grant by principal user:al
0704000000017573657200616c0067726f75703a656e673a6d656d626572007573657200616c000103
# grant needs expansion: g1
07050000000167726f75703a656e673a6d656d6265720067726f7570006f7073006731
# entitlement group:eng:member granted on group:eng
07070000000167726f757000656e670067726f75703a656e673a6d656d626572
# sync id -> seq 1
08325a6658624a384a4b65344659654d36707a686353394d50395970 00000001
# entitlement snapshot 1 of group:eng:member
090000000167726f75703a656e673a6d656d6265720000000001 0a0567726f75701203656e671a220a0e0a0c0a0567726f75701203656e67121067726f75703a656e673a6d656d626572
# meta format_version = 1
ff666f726d61745f76657273696f6e 00000001
# meta next_sync_seq = 2
ff6e6578745f73796e635f736571 00000002
";

#[test]
fn rows_are_written_exactly_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open(&dir.path().join("db"), false).unwrap();
    let t = wall::parse("2026-03-03 09:45:13.056791").unwrap();
    let sync = SyncId::from("2ZfXbJ8JKe4FYeM6pzhcS9MP9Yp");
    store
        .put_sync_run(&SyncRun {
            id: sync.clone(),
            sync_type: "full".into(),
            started_at: t,
            ended_at: Some(t),
            sync_token: String::new(),
            parent_sync_id: None,
            linked_sync_id: None,
            supports_diff: false,
            stats: None,
            ingest_invariant: Default::default(),
        })
        .unwrap();
    fn at<T>(value: T, t: chrono::NaiveDateTime) -> Record<T> {
        Record {
            value,
            discovered_at: t,
        }
    }
    store
        .put_resource_types(
            &sync,
            &[at(
                ResourceType {
                    id: "user".into(),
                    ..Default::default()
                },
                t,
            )],
        )
        .unwrap();
    store
        .put_resources(
            &sync,
            &[at(
                Resource {
                    id: id("group", "eng"),
                    parent_resource_id: id("org", "acme"),
                    ..Default::default()
                },
                t,
            )],
        )
        .unwrap();
    let member = Entitlement {
        id: "group:eng:member".into(),
        resource: Some(Resource {
            id: id("group", "eng"),
            ..Default::default()
        }),
        ..Default::default()
    };
    store
        .put_entitlements(&sync, &[at(member.clone(), t)])
        .unwrap();
    // A connector grant defining an edge (needs expansion), id not canonical.
    store
        .put_grants(
            &sync,
            &[GrantRecord {
                grant: Grant {
                    id: "g1".into(),
                    entitlement: Some(member.clone()),
                    principal: Some(Resource {
                        id: id("group", "ops"),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                expansion: Some(GrantExpandable {
                    entitlement_ids: vec!["group:ops:member".into()],
                    ..Default::default()
                }),
                needs_expansion: true,
                discovered_at: t,
            }],
            GrantUpsertMode::Replace,
        )
        .unwrap();
    // A derived grant: canonical id, stored against an entitlement snapshot.
    let mut sources = Vec::new();
    crate::codec::encode_source_entries(&mut sources, [("group:ops:member", false)].into_iter());
    let principal = Resource {
        id: id("user", "al"),
        ..Default::default()
    };
    let load = store.bulk_grants().unwrap();
    load.put_derived_grants(
        &sync,
        &[DerivedGrant {
            entitlement: Arc::new(DerivedEntitlement {
                key: EntitlementKey {
                    id: member.id.clone(),
                    resource_type_id: "group".into(),
                    resource_id: "eng".into(),
                },
                data: prost::Message::encode_to_vec(&member),
            }),
            principal: Arc::new(ResourceKey::new("user", "al")),
            principal_data: prost::Message::encode_to_vec(&principal).into(),
            sources,
            discovered_at: t,
        }],
    )
    .unwrap();
    load.finish().unwrap();
    store
        .put_asset(
            &sync,
            &Asset {
                id: "icon".into(),
                content_type: "image/png".into(),
                data: vec![0x89],
                discovered_at: t,
            },
        )
        .unwrap();
    let want: String = GOLDEN
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    assert_eq!(dump(&store), want);
    // The format document lists the same bytes.
    let doc = include_str!("../../../docs/format-rocksdb.md");
    assert!(
        doc.contains(GOLDEN),
        "docs/format-rocksdb.md §9 must list GOLDEN"
    );
}
