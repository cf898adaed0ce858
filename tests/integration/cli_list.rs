//! The `c1z` read commands against baton's own `-o json` output of the same files and
//! syncs, plus their formats, filters, exit codes and pipe behaviour.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use c1z::{C1zFile, SyncType, WriterExt};
use serde_json::Value;

use crate::util::{child, entitlement, grant, normalized, resource, resource_type, rid, samples};

const MULTI: &str = "current/v025-multi.c1z";
const PEBBLE: &str = "current/v025-full.pebble.c1z";
const OLD: &str = "sync.36zfOAoWMxQdISbixanQCRBiX7E.expanded";
const PARTIAL: &str = "3MSzRQYwupl3gWol0rE7PjBrBvX";

fn c1z(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_c1z"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `c1z ARGS` on `file`, expecting success and nothing on stderr; parses stdout.
fn json_of(file: &Path, args: &[&str]) -> Value {
    let mut all = vec![args[0], file.to_str().unwrap()];
    all.extend(&args[1..]);
    let out = c1z(&all);
    assert!(
        out.status.success(),
        "c1z {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn baton(samples: &Path, name: &str) -> Value {
    let bytes = std::fs::read(samples.join(name)).unwrap();
    let bytes = if name.ends_with(".zst") {
        zstd::decode_all(&bytes[..]).unwrap()
    } else {
        bytes
    };
    serde_json::from_slice(&bytes).unwrap()
}

/// The rows of an envelope keyed by `key` (baton prints `{}` for an empty list).
fn rows_by(v: &Value, list: &str, key: fn(&Value) -> String) -> BTreeMap<String, Value> {
    let rows = v
        .get(list)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let n = rows.len();
    let out: BTreeMap<_, _> = rows.into_iter().map(|r| (key(&r), normalized(r))).collect();
    assert_eq!(out.len(), n, "duplicate keys in {list}");
    out
}

fn rid_key(v: &Value) -> String {
    format!("{}:{}", v["id"]["resourceType"], v["id"]["resource"])
}

fn key_of(list: &str) -> fn(&Value) -> String {
    match list {
        "resourceTypes" => |r| r["resourceType"]["id"].to_string(),
        "resources" => |r| rid_key(&r["resource"]),
        "entitlements" => |r| r["entitlement"]["id"].to_string(),
        "grants" => |r| r["grant"]["id"].to_string(),
        _ => unreachable!(),
    }
}

/// `c1z ARGS -o json` on `file` parses to the same rows as baton's `expected` file.
fn same_as_baton(s: &Path, file: &str, args: &[&str], expected: &str) {
    let mut args = args.to_vec();
    args.extend(["-o", "json"]);
    let ours = json_of(&s.join(file), &args);
    let theirs = baton(s, expected);
    let list = theirs
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap();
    assert_eq!(
        ours.as_object().unwrap().keys().collect::<Vec<_>>(),
        [&list],
        "{expected}: envelope"
    );
    let (ours, theirs) = (
        rows_by(&ours, &list, key_of(&list)),
        rows_by(&theirs, &list, key_of(&list)),
    );
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "{expected}: row ids"
    );
    for (k, theirs) in &theirs {
        assert_eq!(&ours[k], theirs, "{expected}: row {k}");
    }
}

#[test]
fn v1_listings_equal_batons() {
    let Some(s) = samples() else { return };
    let cases: &[(&[&str], &str)] = &[
        (&["resource-types"], "resource-types.json"),
        (&["resources", "-t", "group"], "resources-group.json"),
        (&["entitlements", "-t", "app"], "entitlements-app.json"),
        (
            &["grants", "-e", "group:group-0000:member"],
            "grants-group-0000-member.json",
        ),
        (
            &["principals", "-e", "group:group-0000:member"],
            "principals-group-0000-member.json",
        ),
        (
            &["resources", "--sync-id", PARTIAL],
            "resources.sync-3MSzRQYwupl3gWol0rE7PjBrBvX.json",
        ),
        // The partial sync lacks most users: baton's placeholders for missing principals.
        (
            &["grants", "--sync-id", PARTIAL],
            "grants.sync-3MSzRQYwupl3gWol0rE7PjBrBvX.json",
        ),
    ];
    for (args, expected) in cases {
        same_as_baton(&s, MULTI, args, &format!("current/baton-json/{expected}"));
    }
    for sync in [
        "3MSzR1qTdcCXVYCSZuSj5tsioLQ",
        "3MSzRHXl0GBPX9qImlgxxcfLwE9",
        PARTIAL,
        "3MSzRZG1ohUOGETUrnuDqs0RnZE",
    ] {
        same_as_baton(
            &s,
            MULTI,
            &["resource-types", "--sync-id", sync],
            &format!("current/baton-json/resource-types.sync-{sync}.json"),
        );
    }
}

#[test]
fn old_schema_listings_equal_batons() {
    let Some(s) = samples() else { return };
    let cases: &[(&[&str], &str)] = &[
        (&["resource-types"], "resource-types"),
        (&["resources", "-t", "group"], "resources-t-group"),
        (&["entitlements"], "entitlements"),
        (
            &["grants", "-e", "group:group-0000001:member"],
            "grants-e-group-0000001-member",
        ),
        (
            &["principals", "-e", "group:group-0000001:member"],
            "principals-e-group-0000001-member",
        ),
    ];
    for (args, expected) in cases {
        same_as_baton(
            &s,
            OLD,
            args,
            &format!("baton-json/36zf.expanded.{expected}.json"),
        );
    }
}

#[test]
fn pebble_listings_equal_batons() {
    let Some(s) = samples() else { return };
    for cmd in ["resource-types", "resources", "entitlements", "grants"] {
        // Grants carry their GrantExpandable annotation, as baton's Pebble reader returns.
        same_as_baton(
            &s,
            PEBBLE,
            &[cmd],
            &format!("current/baton-json/pebble3-{cmd}.json"),
        );
    }
}

#[test]
fn stats_equal_batons() {
    let Some(s) = samples() else { return };
    for (file, expected) in [
        (MULTI, "current/baton-json/stats.json"),
        (
            "current/v025-multi-diff.c1z",
            "current/baton-json/diff-file.stats.json",
        ),
        // baton's Pebble stats records lack the token's step durations; baton shows them.
        (PEBBLE, "current/baton-json/pebble3-stats.json"),
        ("large/g1m.pebble3.c1z", "large/g1m.pebble3.stats.json"),
        // No stored stats (an old schema): counted from the rows, as baton does.
        (OLD, "baton-json/36zf.expanded.stats.json"),
    ] {
        let ours = json_of(&s.join(file), &["stats", "-o", "json"]);
        assert_eq!(ours, baton(&s, expected), "{file}");
    }
}

#[test]
fn stored_stats_describe_the_sync_after_an_expansion() {
    let dir = tempfile::tempdir().unwrap();
    for engine in ["sqlite", "rocksdb"] {
        let raw = dir.path().join(format!("raw-{engine}.c1z"));
        let out = dir.path().join(format!("x-{engine}.c1z"));
        let run = |args: &[&str]| {
            let o = c1z(args);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        };
        let (raw_s, out_s) = (raw.to_str().unwrap(), out.to_str().unwrap());
        run(&["generate", raw_s, "--users", "200", "--engine", engine]);
        run(&["expand", raw_s, "-o", out_s]);
        let stored = json_of(&out, &["stats", "--json"]);
        let counted = json_of(&out, &["stats", "--json", "--recount"]);
        assert_eq!(stored, counted, "{engine}");
        let before = json_of(&raw, &["stats", "--json"]);
        assert!(
            stored["grants"].as_u64() > before["grants"].as_u64(),
            "{stored}"
        );
    }
}

#[test]
fn syncs_equal_batons_in_order() {
    let Some(s) = samples() else { return };
    for (file, expected) in [
        (MULTI, "current/baton-json/syncs.json"),
        (
            "current/v025-multi-diff.c1z",
            "current/baton-json/diff-file.syncs.json",
        ),
        (PEBBLE, "current/baton-json/pebble3-syncs.json"),
        (OLD, "baton-json/36zf.expanded.syncs.json"),
    ] {
        let ours = json_of(&s.join(file), &["syncs", "-o", "json"]);
        assert_eq!(ours, baton(&s, expected), "{expected}");
    }
}

#[test]
fn ndjson_rows_are_the_json_envelopes_rows() {
    let Some(s) = samples() else { return };
    let file = s.join(MULTI);
    let args = [
        "grants",
        file.to_str().unwrap(),
        "-e",
        "group:group-0000:member",
    ];
    let env = json_of(&file, &[args[0], args[2], args[3], "-o", "json"]);
    let out = c1z(&[&args[..], &["-o", "ndjson"]].concat());
    assert!(out.status.success() && out.stderr.is_empty());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 47);
    assert_eq!(&lines, env["grants"].as_array().unwrap());
}

#[test]
fn csv_and_table_carry_one_line_per_row() {
    let Some(s) = samples() else { return };
    let file = s.join(MULTI);
    let f = file.to_str().unwrap();
    let out = c1z(&["entitlements", f, "-t", "app", "-o", "csv"]);
    assert!(out.status.success() && out.stderr.is_empty());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ENTITLEMENT,DISPLAY NAME,RESOURCE,PURPOSE");
    assert_eq!(lines.len(), 31);
    assert!(lines.contains(&"app:app-000:admin,App 0 admin,app:app-000,permission"));

    // Piped, the table keeps every cell whole and aligns on the widest of the first rows.
    let out = c1z(&["grants", f, "--principal", "user:user-00000"]);
    assert!(out.status.success() && out.stderr.is_empty());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ENTITLEMENT  "), "{}", lines[0]);
    let col = lines[0].find("PRINCIPAL ").unwrap();
    for l in &lines[1..] {
        assert_eq!(&l[col..col + 16], "user:user-00000 ", "{l}");
        assert!(l.contains(":user:user-00000"), "{l}");
        assert!(!l.contains('…'));
    }
    let json = json_of(
        &file,
        &["grants", "--principal", "user:user-00000", "-o", "json"],
    );
    assert_eq!(lines.len() - 1, json["grants"].as_array().unwrap().len());
}

/// A file with a parent/child pair, an entitlement nobody holds and an asset.
fn small_file(dir: &Path) -> PathBuf {
    let path = dir.join("small.c1z");
    let f = C1zFile::create(&path).unwrap();
    let run = f.store().start_sync(SyncType::Full, None).unwrap();
    run.put_resource_types(&[
        resource_type("org"),
        resource_type("user"),
        resource_type("group"),
    ])
    .unwrap();
    let org = resource("org", "acme");
    run.put_resources(&[
        org.clone(),
        child("group", "eng", &rid("org", "acme")),
        resource("user", "alice"),
        resource("user", "bob"),
    ])
    .unwrap();
    let member = entitlement("group", "eng", "member");
    let empty = entitlement("group", "eng", "admin");
    run.put_entitlements(&[member.clone(), empty]).unwrap();
    run.put_grants(&[
        grant(&member, "user", "alice"),
        grant(&member, "user", "bob"),
    ])
    .unwrap();
    run.put_asset("asset:logo", "image/png", b"\x89PNG-bytes")
        .unwrap();
    run.finish().unwrap();
    f.close().unwrap();
    path
}

#[test]
fn filters_select_rows_and_parents_are_looked_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_file(dir.path());
    let children = json_of(&path, &["resources", "--parent", "org:acme", "-o", "json"]);
    let rows = children["resources"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["resource"]["id"]["resource"], "eng");
    assert_eq!(rows[0]["parent"]["id"]["resource"], "acme");
    assert_eq!(rows[0]["resourceType"]["id"], "group");

    let users = c1z(&[
        "resources",
        path.to_str().unwrap(),
        "-t",
        "user",
        "-o",
        "ndjson",
    ]);
    let users: Vec<Value> = String::from_utf8(users.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(users.len(), 2);
    assert!(
        users
            .iter()
            .all(|u| u["resource"]["id"]["resourceType"] == "user")
    );

    let by_resource = json_of(&path, &["entitlements", "-r", "group:eng", "-o", "json"]);
    assert_eq!(by_resource["entitlements"].as_array().unwrap().len(), 2);
    let grants = json_of(
        &path,
        &[
            "grants",
            "-t",
            "group",
            "--principal",
            "user:bob",
            "-o",
            "json",
        ],
    );
    let rows = grants["grants"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["principal"]["id"]["resource"], "bob");
    assert_eq!(rows[0]["resource"]["id"]["resource"], "eng");

    // Something that exists but matches nothing is an empty answer (baton's `{}`), exit 0.
    let none = json_of(&path, &["grants", "-e", "group:eng:admin", "-o", "json"]);
    assert_eq!(none, serde_json::json!({}));
    let csv = c1z(&[
        "grants",
        path.to_str().unwrap(),
        "-e",
        "group:eng:admin",
        "-o",
        "csv",
    ]);
    assert_eq!(
        String::from_utf8(csv.stdout).unwrap(),
        "ENTITLEMENT,PRINCIPAL,PRINCIPAL NAME,GRANT\n"
    );
}

#[test]
fn assets_list_and_get() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_file(dir.path());
    let p = path.to_str().unwrap();
    let list = json_of(&path, &["assets", "-o", "json"]);
    assert_eq!(
        list,
        serde_json::json!({"assets": [{"id": "asset:logo", "contentType": "image/png", "size": 10}]})
    );
    let out = dir.path().join("logo.png");
    let got = c1z(&["asset", "get", p, "asset:logo", "-o", out.to_str().unwrap()]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"\x89PNG-bytes");
    // Piped stdout gets the bytes.
    let got = c1z(&["asset", "get", p, "asset:logo"]);
    assert_eq!(got.stdout, b"\x89PNG-bytes");
    let missing = c1z(&["asset", "get", p, "asset:nope", "-o", out.to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("c1z assets"));
}

#[test]
fn unknown_names_exit_1_and_bad_syncs_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_file(dir.path());
    let p = path.to_str().unwrap();
    for (args, says) in [
        (
            vec!["grants", p, "--principal", "user:carol"],
            "no principal user:carol",
        ),
        (
            vec!["grants", p, "-e", "group:eng:nope", "-o", "json"],
            "no entitlement group:eng:nope",
        ),
        (vec!["principals", p, "-e", "nope"], "`c1z entitlements"),
        (
            vec!["resources", p, "-t", "robot"],
            "no resource type robot",
        ),
        (
            vec!["entitlements", p, "-r", "group:ops"],
            "no resource group:ops",
        ),
    ] {
        let out = c1z(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: stdout stays empty");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let out = c1z(&["grants", p, "--sync-id", "2aaaaaaaaaaaaaaaaaaaaaaaaaa"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no sync 2aaaaaaaaaaaaaaaaaaaaaaaaaa in"),
        "{err}"
    );
    assert!(err.contains("`c1z syncs"), "{err}");
    let out = c1z(&["grants", p, "--principal", "alice"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a malformed TYPE:ID is a usage error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("TYPE:ID"));
}

#[test]
fn a_closed_pipe_ends_the_listing_quietly() {
    let Some(s) = samples() else { return };
    for format in ["ndjson", "json", "table", "csv"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_c1z"))
            .args(["grants", s.join(PEBBLE).to_str().unwrap(), "-o", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        // The reader is dropped: the rest of 1,502 rows meets a closed pipe.
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}");
        assert!(
            out.stderr.is_empty(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn help_shows_examples() {
    for cmd in [
        "grants",
        "principals",
        "resources",
        "entitlements",
        "syncs",
        "resource-types",
    ] {
        let out = c1z(&[cmd, "--help"]);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("Examples:") && text.contains(&format!("c1z {cmd} FILE")),
            "{cmd}"
        );
    }
}

#[test]
fn stats_recalculate_stores_the_recount_in_place() {
    let dir = tempfile::tempdir().unwrap();
    for engine in [
        c1z::engine::EngineKind::Sqlite,
        c1z::engine::EngineKind::Rocks,
    ] {
        let path = dir.path().join(format!("stale-{}.c1z", engine.name()));
        let f = c1z::OpenOptions::new()
            .with_create(true)
            .with_engine(engine)
            .open(&path)
            .unwrap();
        let w = f.store().start_sync(SyncType::Full, None).unwrap();
        w.put_resource_types(&[resource_type("user"), resource_type("group")])
            .unwrap();
        w.put_resources(&[resource("user", "u1"), resource("group", "g1")])
            .unwrap();
        let e = entitlement("group", "g1", "member");
        w.put_entitlements(&[e.clone()]).unwrap();
        w.put_grants(&[grant(&e, "user", "u1")]).unwrap();
        let id = w.finish().unwrap().id;
        // A grant written after the stats were stored: they are stale now.
        let late = c1z::sync::grant_record(grant(&e, "group", "g1"), c1z::wall::now()).unwrap();
        c1z::Writer::put_grants(f.store(), &id, &[late], c1z::GrantUpsertMode::Replace).unwrap();
        f.close().unwrap();
        let p = path.to_str().unwrap();
        let grants = |args: &[&str]| {
            let mut all = vec!["stats", p, "--json"];
            all.extend(args);
            let o = c1z(&all);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            serde_json::from_slice::<Value>(&o.stdout).unwrap()["grants"].clone()
        };
        assert_eq!(grants(&[]), 1, "the stored (stale) stats");
        assert_eq!(grants(&["--recount"]), 2);
        assert_eq!(grants(&[]), 1, "--recount stores nothing");
        assert_eq!(grants(&["--recalculate"]), 2);
        assert_eq!(grants(&[]), 2, "--recalculate stored the recount");
    }
    // baton's Pebble files are read-only: the error says to convert.
    if let Some(s) = samples() {
        let tmp = dir.path().join("p.c1z");
        std::fs::copy(s.join(PEBBLE), &tmp).unwrap();
        let before = std::fs::read(&tmp).unwrap();
        let o = c1z(&["stats", tmp.to_str().unwrap(), "--recalculate"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("convert"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(std::fs::read(&tmp).unwrap(), before);
    }
}
