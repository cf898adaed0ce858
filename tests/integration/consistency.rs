//! `c1z verify --deep` (`c1z::consistency`): dangling references of a sync.

use std::process::Command;

use c1z::consistency::{Dangling, check_sync};
use c1z::{C1zFile, OpenOptions, ReaderExt, SyncId, SyncType, WriterExt};

use crate::util::{
    child, entitlement, expandable, grant, resource, resource_type, rid, samples, with_expandable,
};

const C: &str = "3MSzRQYwupl3gWol0rE7PjBrBvX";
const D: &str = "3MSzRZG1ohUOGETUrnuDqs0RnZE";

#[test]
fn batons_full_syncs_are_consistent_and_its_partial_sync_names_the_users_it_lacks() {
    let Some(dir) = samples() else { return };
    let multi = C1zFile::open_read_only(dir.join("current/v025-multi.c1z")).unwrap();
    let d = check_sync(multi.store(), &SyncId::from(D)).unwrap();
    assert!(d.is_consistent(), "{:?}", d.dangling);
    assert_eq!(d.objects, 4 + 360 + 80 + 1_502);
    // (c) re-synced group-0005's 26 member grants but only two users, neither of them a
    // member: all 26 point at users the partial sync lacks (baton logs "unable to find
    // resource" for them, and baton's JSON of the sync names no user-00000 or -00001).
    let c = check_sync(multi.store(), &SyncId::from(C)).unwrap();
    assert_eq!(
        c.dangling.keys().copied().collect::<Vec<_>>(),
        [Dangling::GrantToMissingPrincipal]
    );
    let f = &c.dangling[&Dangling::GrantToMissingPrincipal];
    assert_eq!(f.count, 26);
    assert_eq!(f.examples.len(), c1z::consistency::EXAMPLES);
    assert!(f.examples[0].contains("-> user:"), "{:?}", f.examples);
    // baton's Pebble file holds (d)'s content: consistent too.
    let pebble = C1zFile::open_read_only(dir.join("current/v025-full.pebble.c1z")).unwrap();
    let p = pebble.store().sync_runs().unwrap()[0].id.clone();
    assert!(check_sync(pebble.store(), &p).unwrap().is_consistent());
}

#[test]
fn every_class_is_found_and_counted_on_every_engine() {
    let tmp = tempfile::tempdir().unwrap();
    for engine in [
        c1z::engine::EngineKind::Sqlite,
        c1z::engine::EngineKind::Rocks,
    ] {
        let path = tmp.path().join(format!("bad-{}.c1z", engine.name()));
        let f = OpenOptions::new()
            .with_create(true)
            .with_engine(engine)
            .open(&path)
            .unwrap();
        let w = f.store().start_sync(SyncType::Full, None).unwrap();
        w.put_resource_types(&[resource_type("user"), resource_type("group")])
            .unwrap();
        w.put_resources(&[
            resource("user", "u1"),
            resource("group", "g1"),
            // An undeclared type, and a parent that is not there.
            resource("app", "a1"),
            child("group", "g2", &rid("org", "missing")),
        ])
        .unwrap();
        let (e1, ghost, on_nothing) = (
            entitlement("group", "g1", "member"),
            entitlement("group", "g1", "ghost"),
            entitlement("group", "nope", "member"),
        );
        w.put_entitlements(&[e1.clone(), on_nothing.clone()])
            .unwrap();
        w.put_grants(&[
            grant(&e1, "user", "u1"),
            grant(&ghost, "user", "u1"),
            grant(&e1, "user", "u-gone"),
            with_expandable(grant(&e1, "group", "g1"), &expandable(&["group:g9:member"])),
        ])
        .unwrap();
        let id = w.finish().unwrap().id;
        f.close().unwrap();
        let file = C1zFile::open_read_only(&path).unwrap();
        let r = check_sync(file.store(), &id).unwrap();
        let counts: Vec<(Dangling, u64)> = r.dangling.iter().map(|(k, f)| (*k, f.count)).collect();
        assert_eq!(
            counts,
            [
                (Dangling::ResourceOfUndeclaredType, 1),
                (Dangling::ResourceWithMissingParent, 1),
                (Dangling::EntitlementOnMissingResource, 1),
                (Dangling::GrantOfMissingEntitlement, 1),
                (Dangling::GrantToMissingPrincipal, 1),
                (Dangling::EdgeFromMissingEntitlement, 1),
            ],
            "{engine:?}: {:?}",
            r.dangling
        );
        assert_eq!(
            r.dangling[&Dangling::GrantToMissingPrincipal].examples,
            ["group:g1:member:user:u-gone -> user:u-gone"]
        );
        // The command: exit 1, each class named.
        let o = Command::new(env!("CARGO_BIN_EXE_c1z"))
            .args(["verify", path.to_str().unwrap(), "--deep"])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8_lossy(&o.stdout);
        for class in Dangling::ALL {
            assert!(out.contains(class.name()), "{out}");
        }
    }
}

#[test]
fn the_command_exits_0_on_a_consistent_sync_and_reports_json() {
    let Some(dir) = samples() else { return };
    let multi = dir.join("current/v025-multi.c1z");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_c1z"))
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["verify", multi.to_str().unwrap(), "--deep"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("every reference resolves"));
    let o = run(&[
        "verify",
        multi.to_str().unwrap(),
        "--deep",
        "--sync-id",
        C,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(
        v["references"]["dangling"]["grant_to_missing_principal"]["count"],
        26
    );
    // --sync-id needs --deep.
    assert_eq!(
        run(&["verify", multi.to_str().unwrap(), "--sync-id", C])
            .status
            .code(),
        Some(2)
    );
}
