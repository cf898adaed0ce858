//! `c1z access`, `who-can-access` and `compare`: hand-built chains with known answers on
//! both engines, and on baton's files the same rows as the plain listings they refine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use c1z::{C1zFile, ReaderExt, SyncType, WriterExt};
use serde_json::Value;

use crate::util::{
    entitlement, expandable, grant, resource, resource_type, samples, with_expandable,
};

const OLD: &str = "sync.36zfOAoWMxQdISbixanQCRBiX7E.expanded";
const MULTI: &str = "current/v025-multi.c1z";
const PEBBLE: &str = "current/v025-full.pebble.c1z";

fn c1z(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_c1z"))
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> Value {
    let out = c1z(args);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "c1z {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rows<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn principal_of(grant: &Value) -> String {
    format!(
        "{}:{}",
        s(grant, &["principal", "id", "resourceType"]),
        s(grant, &["principal", "id", "resource"])
    )
}

/// alice is a direct member of group a; group a's members are members of b, b's of c
/// (expandable grants), and bob is a direct member of c as well. Expanded by `c1z expand`
/// into `engine`.
fn chain_file(dir: &Path, engine: &str) -> PathBuf {
    let raw = dir.join(format!("chain-{engine}.raw.c1z"));
    let f = C1zFile::create(&raw).unwrap();
    let run = f.store().start_sync(SyncType::Full, None).unwrap();
    run.put_resource_types(&[resource_type("user"), resource_type("group")])
        .unwrap();
    run.put_resources(&[
        resource("user", "alice"),
        resource("user", "bob"),
        resource("group", "a"),
        resource("group", "b"),
        resource("group", "c"),
    ])
    .unwrap();
    let [a, b, c] = ["a", "b", "c"].map(|g| entitlement("group", g, "member"));
    run.put_entitlements(&[a.clone(), b.clone(), c.clone()])
        .unwrap();
    run.put_grants(&[
        grant(&a, "user", "alice"),
        with_expandable(grant(&b, "group", "a"), &expandable(&[&a.id])),
        with_expandable(grant(&c, "group", "b"), &expandable(&[&b.id])),
        grant(&c, "user", "bob"),
    ])
    .unwrap();
    run.finish().unwrap();
    f.close().unwrap();
    let out = dir.join(format!("chain-{engine}.c1z"));
    let o = c1z(&[
        "expand",
        raw.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--engine",
        engine,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn who_can_access_explains_each_inherited_grant_down_to_a_direct_one() {
    let dir = tempfile::tempdir().unwrap();
    for engine in ["sqlite", "rocksdb"] {
        let f = chain_file(dir.path(), engine);
        let f = f.to_str().unwrap();
        let v = json(&["who-can-access", f, "group:c", "-o", "json"]);
        let by_principal: BTreeMap<String, &Value> = rows(&v, "grants")
            .iter()
            .map(|r| (principal_of(&r["grant"]), r))
            .collect();
        assert_eq!(
            by_principal.keys().map(String::as_str).collect::<Vec<_>>(),
            ["group:a", "group:b", "user:alice", "user:bob"],
            "{engine}"
        );
        let via = |p: &str| -> Vec<(String, String)> {
            by_principal[p]
                .get("via")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|l| {
                    (
                        s(l, &["entitlement"]).to_owned(),
                        s(l, &["grant"]).to_owned(),
                    )
                })
                .collect()
        };
        for direct in ["group:b", "user:bob"] {
            assert_eq!(by_principal[direct]["direct"], true, "{engine} {direct}");
            assert!(by_principal[direct].get("via").is_none());
        }
        assert_eq!(by_principal["user:alice"]["direct"], false);
        assert_eq!(
            via("user:alice"),
            [
                (
                    "group:b:member".to_owned(),
                    "group:b:member:user:alice".to_owned()
                ),
                (
                    "group:a:member".to_owned(),
                    "group:a:member:user:alice".to_owned()
                ),
            ],
            "{engine}"
        );
        assert_eq!(
            via("group:a"),
            [(
                "group:b:member".to_owned(),
                "group:b:member:group:a".to_owned()
            )]
        );
        assert!(by_principal["user:alice"].get("chainEnd").is_none());
        // The row is baton's grant row plus the explanation.
        assert_eq!(
            s(by_principal["user:alice"], &["principal", "displayName"]),
            "user alice"
        );
        assert_eq!(
            s(by_principal["user:alice"], &["resource", "displayName"]),
            "group c"
        );

        // The table says the same.
        let out = c1z(&["who-can-access", f, "group:c", "-o", "table"]);
        let table = String::from_utf8(out.stdout).unwrap();
        assert!(
            table.lines().any(|l| l.contains("user:alice")
                && l.trim_end().ends_with("group:b:member < group:a:member")),
            "{table}"
        );

        // An entitlement filter; a resource nobody can access; unknown names exit 1.
        let v = json(&[
            "who-can-access",
            f,
            "group:a",
            "-e",
            "group:a:member",
            "-o",
            "json",
        ]);
        assert_eq!(rows(&v, "grants").len(), 1);
        let out = c1z(&["who-can-access", f, "user:alice"]);
        assert!(out.status.success());
        let out = c1z(&["who-can-access", f, "group:zzz"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("no resource group:zzz"));
    }
}

#[test]
fn access_groups_a_principals_grants_by_resource() {
    let dir = tempfile::tempdir().unwrap();
    for engine in ["sqlite", "rocksdb"] {
        let f = chain_file(dir.path(), engine);
        let f = f.to_str().unwrap();
        let v = json(&["access", f, "user:alice", "-o", "json"]);
        let got: Vec<(String, Vec<(String, bool)>)> = rows(&v, "access")
            .iter()
            .map(|r| {
                let grants = rows(r, "grants")
                    .iter()
                    .map(|g| {
                        (
                            s(g, &["grant", "entitlement", "id"]).to_owned(),
                            g["direct"].as_bool().unwrap(),
                        )
                    })
                    .collect();
                (s(r, &["resource", "displayName"]).to_owned(), grants)
            })
            .collect();
        let want =
            |name: &str, ent: &str, direct| (name.to_owned(), vec![(ent.to_owned(), direct)]);
        assert_eq!(
            got,
            [
                want("group a", "group:a:member", true),
                want("group b", "group:b:member", false),
                want("group c", "group:c:member", false),
            ],
            "{engine}"
        );
        let out = c1z(&["access", f, "user:alice"]);
        let table = String::from_utf8(out.stdout).unwrap();
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("group:b") && l.ends_with("inherited")),
            "{table}"
        );
        // Someone holding nothing: an empty listing; someone unknown: exit 1.
        let out = c1z(&["access", f, "group:c", "-o", "json"]);
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "{}");
        let out = c1z(&["access", f, "user:nobody"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no principal user:nobody"));
    }
}

/// (entitlement id, principal) of each grant row of an envelope.
fn grant_pairs(v: &Value, grants_of: fn(&Value) -> Vec<&Value>) -> BTreeSet<(String, String)> {
    grants_of(v)
        .into_iter()
        .map(|g| (s(g, &["entitlement", "id"]).to_owned(), principal_of(g)))
        .collect()
}

fn grants_of_rows(v: &Value) -> Vec<&Value> {
    rows(v, "grants").iter().map(|r| &r["grant"]).collect()
}

#[test]
fn on_batons_files_access_and_holders_are_the_grant_listings_regrouped() {
    let Some(samples) = samples() else { return };
    for (name, principal, res) in [
        (OLD, "user:user-0000000", "project:project-0000099"),
        (MULTI, "user:user-00160", "group:group-0000"),
        (PEBBLE, "user:user-00160", "group:group-0000"),
    ] {
        let file = samples.join(name);
        let f = file.to_str().unwrap();
        let access = json(&["access", f, principal, "-o", "json"]);
        let listed = json(&["grants", f, "--principal", principal, "-o", "json"]);
        let from_access = grant_pairs(&access, |v| {
            rows(v, "access")
                .iter()
                .flat_map(|r| rows(r, "grants").iter().map(|g| &g["grant"]))
                .collect()
        });
        let from_listing = grant_pairs(&listed, |v| {
            rows(v, "grants").iter().map(|r| &r["grant"]).collect()
        });
        assert_eq!(from_access, from_listing, "{name} {principal}");
        for r in rows(&access, "access") {
            for g in rows(r, "grants") {
                assert_eq!(
                    g["grant"]["entitlement"]["resource"]["id"], r["resource"]["id"],
                    "{name}: grouped under its entitlement's resource"
                );
            }
        }

        let holders = json(&["who-can-access", f, res, "-o", "json"]);
        let listed = json(&["grants", f, "-r", res, "-o", "json"]);
        assert_eq!(
            grant_pairs(&holders, grants_of_rows),
            grant_pairs(&listed, grants_of_rows),
            "{name} {res}"
        );
    }
}

#[test]
fn on_the_expanded_sample_every_chain_is_a_path_of_real_grants() {
    let Some(samples) = samples() else { return };
    let file = samples.join(OLD);
    let f = file.to_str().unwrap();
    // (entitlement, principal) → sources keys, for every grant of the file.
    let mut sources: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let store = C1zFile::open_read_only(&file).unwrap();
    let query = c1z::GrantQuery {
        sync: c1z::SyncSelector::All,
        ..Default::default()
    };
    for g in store.store().stream_grants(query) {
        let g = g.unwrap().grant;
        let p = g.principal.as_ref().unwrap().id.as_ref().unwrap();
        let key = (
            g.entitlement.as_ref().unwrap().id.clone(),
            format!("{}:{}", p.resource_type, p.resource),
        );
        let keys = g
            .sources
            .map(|s| s.sources.into_keys().collect())
            .unwrap_or_default();
        sources.insert(key, keys);
    }
    let is_direct = |ent: &str, keys: &BTreeSet<String>| keys.is_empty() || keys.contains(ent);
    let mut derived = 0;
    for res in [
        "project:project-0000099",
        "group:group-0000010",
        "project:project-0000000",
    ] {
        let v = json(&["who-can-access", f, res, "-o", "json"]);
        assert!(!rows(&v, "grants").is_empty(), "{res}");
        for r in rows(&v, "grants") {
            let ent = s(&r["grant"], &["entitlement", "id"]).to_owned();
            let p = principal_of(&r["grant"]);
            let keys = &sources[&(ent.clone(), p.clone())];
            assert_eq!(r["direct"], is_direct(&ent, keys), "{res} {ent} {p}");
            if is_direct(&ent, keys) {
                continue;
            }
            derived += 1;
            assert!(r.get("chainEnd").is_none(), "{r}");
            let mut previous = (ent, keys.clone());
            let links = rows(r, "via");
            assert!(!links.is_empty());
            for (i, l) in links.iter().enumerate() {
                let e = s(l, &["entitlement"]).to_owned();
                assert!(
                    previous.1.contains(&e),
                    "{res} {p}: {e} is a source of {}",
                    previous.0
                );
                let k = &sources[&(e.clone(), p.clone())];
                assert_eq!(s(l, &["grant"]), format!("{e}:{p}"));
                assert_eq!(
                    is_direct(&e, k),
                    i == links.len() - 1,
                    "only the last link is direct"
                );
                previous = (e, k.clone());
            }
        }
    }
    assert!(derived > 20, "{derived} derived grants explained");
}

#[test]
fn compare_splits_holders_three_ways_within_and_across_files() {
    let Some(samples) = samples() else { return };
    let file = samples.join(OLD);
    let f = file.to_str().unwrap();
    let holders = |f: &str, e: &str, sync: Option<&str>| -> BTreeSet<String> {
        let mut args = vec!["principals", f, "-e", e, "-o", "json"];
        if let Some(id) = sync {
            args.extend(["--sync-id", id]);
        }
        rows(&json(&args), "resources")
            .iter()
            .map(|r| {
                format!(
                    "{}:{}",
                    s(r, &["resource", "id", "resourceType"]),
                    s(r, &["resource", "id", "resource"])
                )
            })
            .collect()
    };
    let (ea, eb) = (
        "group:group-0000010:member",
        "project:project-0000099:access",
    );
    let (a, b) = (holders(f, ea, None), holders(f, eb, None));
    let v = json(&["compare", f, ea, eb, "-o", "json"]);
    let mut got: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for r in rows(&v, "principals") {
        got.entry(r["in"].as_str().unwrap())
            .or_default()
            .insert(format!(
                "{}:{}",
                s(r, &["resource", "id", "resourceType"]),
                s(r, &["resource", "id", "resource"])
            ));
    }
    assert_eq!(got["both"], a.intersection(&b).cloned().collect());
    assert_eq!(
        got.get("only_a").cloned().unwrap_or_default(),
        a.difference(&b).cloned().collect()
    );
    assert_eq!(
        got.get("only_b").cloned().unwrap_or_default(),
        b.difference(&a).cloned().collect()
    );
    assert!(!got["both"].is_empty());
    let summary = json(&["compare", f, ea, eb, "--summary", "-o", "json"]);
    assert_eq!(summary["both"], got["both"].len());
    let only = json(&["compare", f, ea, eb, "--only", "both", "-o", "json"]);
    assert_eq!(rows(&only, "principals").len(), got["both"].len());

    // Across files: the same entitlement in baton's SQLite and Pebble writes of one sync.
    let multi = samples.join(MULTI);
    let pebble = samples.join(PEBBLE);
    let e = "group:group-0000:member";
    let v = json(&[
        "compare",
        multi.to_str().unwrap(),
        e,
        e,
        "--other-file",
        pebble.to_str().unwrap(),
        "--summary",
        "-o",
        "json",
    ]);
    let n = holders(pebble.to_str().unwrap(), e, None).len();
    assert!(n > 0);
    assert_eq!(v["both"], n, "{v}");
    assert_eq!(
        v["onlyA"].as_u64().unwrap() + n as u64,
        holders(multi.to_str().unwrap(), e, None).len() as u64
    );

    // Unknown entitlements exit 1, naming the file they are missing from.
    let out = c1z(&["compare", f, ea, "group:nope:member"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no entitlement group:nope:member"));
}
