//! Content digests: the same on every engine and in any row order, different exactly where
//! a diff finds differences, and the command.

use std::collections::BTreeSet;
use std::process::Command;

use c1z::diff::{Object, Side, diff};
use c1z::digest::{digest_sync, entitlement_digest_of};
use c1z::engine::EngineKind;
use c1z::{C1zFile, OpenOptions, ReaderExt, SyncId};

use crate::util::{entitlement, grant, resource, resource_type, samples};

const A: &str = "3MSzR1qTdcCXVYCSZuSj5tsioLQ";
const D: &str = "3MSzRZG1ohUOGETUrnuDqs0RnZE";

#[test]
fn a_sync_digests_the_same_on_every_engine_and_each_entitlement_through_its_index() {
    let Some(dir) = samples() else { return };
    let multi = C1zFile::open_read_only(dir.join("current/v025-multi.c1z")).unwrap();
    let d = SyncId::from(D);
    let want = digest_sync(multi.store(), &d).unwrap();
    assert_eq!(
        want.kinds.iter().map(|k| k.count).collect::<Vec<_>>(),
        [4, 360, 80, 1_502]
    );
    assert_eq!(want.entitlements.len(), 80);
    for engine in [EngineKind::Sqlite, EngineKind::Rocks] {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("d.c1z");
        let out = OpenOptions::new()
            .with_create(true)
            .with_engine(engine)
            .open(&path)
            .unwrap();
        let run = multi.store().require_sync_run(&d).unwrap();
        c1z::convert::copy_sync(multi.store(), out.store(), &run).unwrap();
        out.close().unwrap();
        let copy = C1zFile::open_read_only(&path).unwrap();
        assert_eq!(digest_sync(copy.store(), &d).unwrap(), want, "{engine:?}");
        for (id, e) in &want.entitlements {
            assert_eq!(
                &entitlement_digest_of(copy.store(), &d, id).unwrap(),
                e,
                "{id}"
            );
        }
    }
    // baton's Pebble file: its own records, and its index agrees with its scan.
    let pebble = C1zFile::open_read_only(dir.join("current/v025-full.pebble.c1z")).unwrap();
    let p = pebble.store().sync_runs().unwrap()[0].id.clone();
    let pd = digest_sync(pebble.store(), &p).unwrap();
    for (id, e) in &pd.entitlements {
        assert_eq!(
            &entitlement_digest_of(pebble.store(), &p, id).unwrap(),
            e,
            "{id}"
        );
    }
}

#[test]
fn digests_differ_exactly_where_the_diff_finds_differences() {
    let Some(dir) = samples() else { return };
    let multi = C1zFile::open_read_only(dir.join("current/v025-multi.c1z")).unwrap();
    let (a, d) = (SyncId::from(A), SyncId::from(D));
    let (da, dd) = (
        digest_sync(multi.store(), &a).unwrap(),
        digest_sync(multi.store(), &d).unwrap(),
    );
    assert_ne!(da.digest, dd.digest);
    // Resource types did not change; the other kinds did.
    let same: Vec<bool> = da
        .kinds
        .iter()
        .zip(&dd.kinds)
        .map(|(x, y)| x == y)
        .collect();
    assert_eq!(same, [true, false, false, false]);
    let mut touched = BTreeSet::new();
    diff(
        Side {
            store: multi.store(),
            sync: &a,
        },
        Side {
            store: multi.store(),
            sync: &d,
        },
        |x| {
            if let Object::Grant(g) = &x.object {
                touched.insert(g.grant.entitlement.as_ref().unwrap().id.clone());
            }
            Ok(())
        },
    )
    .unwrap();
    let differing: BTreeSet<String> = da
        .entitlements
        .keys()
        .chain(dd.entitlements.keys())
        .filter(|id| {
            da.entitlements.get(*id).map(|e| e.digest) != dd.entitlements.get(*id).map(|e| e.digest)
        })
        .cloned()
        .collect();
    assert!(!touched.is_empty());
    assert_eq!(differing, touched);
}

#[test]
fn row_order_does_not_change_a_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, reversed: bool, engine: EngineKind| {
        let f = OpenOptions::new()
            .with_create(true)
            .with_engine(engine)
            .open(tmp.path().join(name))
            .unwrap();
        let w = c1z::WriterExt::start_sync(f.store(), c1z::SyncType::Full, None).unwrap();
        fn order<T>(mut v: Vec<T>, reversed: bool) -> Vec<T> {
            if reversed {
                v.reverse();
            }
            v
        }
        w.put_resource_types(order(
            vec![resource_type("user"), resource_type("group")],
            reversed,
        ))
        .unwrap();
        let users: Vec<_> = (0..20)
            .map(|i| resource("user", &format!("u{i:02}")))
            .collect();
        w.put_resources(order(users, reversed)).unwrap();
        w.put_resources(&[resource("group", "g")]).unwrap();
        let e = entitlement("group", "g", "member");
        w.put_entitlements(&[e.clone()]).unwrap();
        let grants: Vec<_> = (0..20)
            .map(|i| grant(&e, "user", &format!("u{i:02}")))
            .collect();
        w.put_grants(order(grants, reversed)).unwrap();
        let id = w.finish().unwrap().id;
        (digest_sync(f.store(), &id).unwrap(), f)
    };
    let (x, _fx) = write("x.c1z", false, EngineKind::Sqlite);
    let (y, _fy) = write("y.c1z", true, EngineKind::Sqlite);
    let (z, _fz) = write("z.c1z", true, EngineKind::Rocks);
    let strip = |mut d: c1z::digest::SyncDigest| {
        d.sync_id.clear();
        d
    };
    assert_eq!(strip(x.clone()), strip(y));
    assert_eq!(strip(x), strip(z));
    for f in [_fx, _fy, _fz] {
        f.discard();
    }
}

#[test]
fn the_command_prints_digests_and_exits_1_for_an_unknown_entitlement() {
    let Some(dir) = samples() else { return };
    let multi = dir.join("current/v025-multi.c1z");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_c1z"))
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&[
        "digest",
        multi.to_str().unwrap(),
        "--json",
        "--entitlements",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["sync_id"], D);
    assert_eq!(v["digest"].as_str().unwrap().len(), 64);
    let ent = "group:group-0000:member";
    let listed = v["entitlements"][ent]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = run(&["digest", multi.to_str().unwrap(), "-e", ent]);
    assert!(o.status.success());
    let line = String::from_utf8(o.stdout).unwrap();
    assert!(line.starts_with(&listed), "{line}");
    // Another sync, another digest.
    let o = run(&["digest", multi.to_str().unwrap(), "--sync-id", A, "--json"]);
    let va: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_ne!(va["digest"], v["digest"]);
    assert!(va.get("entitlements").is_none());
    let o = run(&["digest", multi.to_str().unwrap(), "-e", "group:nope:member"]);
    assert_eq!(o.status.code(), Some(1));
}
