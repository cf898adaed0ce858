//! `c1z generate`'s fixture mode: exact counts, the same content on every engine for a
//! seed, nested groups for expansion, and clear errors for impossible specs.

use std::path::Path;
use std::process::{Command, Output};

use c1z::digest::digest_sync;
use c1z::engine::EngineKind;
use c1z::synth::{FixtureSpec, generate_fixture};
use c1z::{C1zFile, Error, GrantQuery, OpenOptions, ReaderExt, SyncSelector};

fn c1z(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_c1z"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> &Output {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&ok(out).stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fixture written by the library into a new file of `engine`, saved, opened read-only.
fn fixture(dir: &Path, name: &str, engine: EngineKind, spec: &FixtureSpec) -> C1zFile {
    let path = dir.join(name);
    let file = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(&path)
        .unwrap();
    generate_fixture(file.store(), spec).unwrap();
    file.close().unwrap();
    C1zFile::open_read_only(&path).unwrap()
}

fn grants_where(file: &C1zFile, query: GrantQuery) -> usize {
    let mut n = 0;
    for g in file.store().stream_grants(query) {
        g.unwrap();
        n += 1;
    }
    n
}

/// Every kind's count is the flag's, on both engines, read back by `c1z stats`; the two
/// engines' files hold the same content.
#[test]
fn fixture_counts_match_the_flags_on_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for engine in ["sqlite", "rocksdb"] {
        let out = dir.path().join(format!("{engine}.c1z"));
        let o = out.to_str().unwrap();
        #[rustfmt::skip]
        ok(&c1z(&[
            "generate", o, "--engine", engine, "--seed", "7",
            "--resource-types", "7", "--resources", "300", "--entitlements", "500",
            "--principals", "400", "--grants", "6000", "--expandable-fraction", "0.1",
        ]));
        let v = json(&c1z(&["stats", o, "--json"]));
        let counts: Vec<_> = ["resource_types", "resources", "entitlements", "grants"]
            .iter()
            .map(|k| v[k].as_u64().unwrap())
            .collect();
        assert_eq!(counts, [7, 700, 500, 6_000], "{engine}: {v}");
        let by_type = &v["resources_by_resource_type"];
        assert_eq!(by_type["user"].as_u64(), Some(400), "{v}");
        // 300 resources round-robin over 6 non-user types.
        for t in ["group", "role", "app", "repository", "project", "workspace"] {
            assert_eq!(by_type[t].as_u64(), Some(50), "{t}: {v}");
        }
        let file = C1zFile::open_read_only(&out).unwrap();
        let run = file.store().latest_finished_sync(None).unwrap().unwrap();
        digests.push(digest_sync(file.store(), &run.id).unwrap());
    }
    assert_eq!(digests[0].digest, digests[1].digest);
    assert_eq!(digests[0].kinds, digests[1].kinds);
}

/// The same seed gives the same content on both engines; another seed other content of
/// the same counts.
#[test]
fn same_seed_same_content_other_seed_other_content() {
    let dir = tempfile::tempdir().unwrap();
    let spec = FixtureSpec {
        seed: 42,
        resource_types: 5,
        resources: 200,
        entitlements: 260,
        principals: 500,
        grants: 5_000,
        expandable_fraction: 0.05,
    };
    let digest = |name: &str, engine, spec: &FixtureSpec| {
        let f = fixture(dir.path(), name, engine, spec);
        let run = f.store().latest_finished_sync(None).unwrap().unwrap();
        digest_sync(f.store(), &run.id).unwrap()
    };
    let sqlite = digest("a.c1z", EngineKind::Sqlite, &spec);
    let rocks = digest("b.c1z", EngineKind::Rocks, &spec);
    let again = digest("c.c1z", EngineKind::Sqlite, &spec);
    assert_eq!(sqlite.digest, rocks.digest);
    assert_eq!(sqlite.entitlements, rocks.entitlements);
    assert_eq!(sqlite.digest, again.digest);
    let other = digest(
        "d.c1z",
        EngineKind::Sqlite,
        &FixtureSpec { seed: 43, ..spec },
    );
    let counts = |d: &c1z::digest::SyncDigest| d.kinds.iter().map(|k| k.count).collect::<Vec<_>>();
    assert_eq!(counts(&other), counts(&sqlite));
    assert_eq!(counts(&sqlite), [5, 700, 260, 5_000]);
    // Resource types are fixed by their count; every other kind's content moves.
    let same: Vec<bool> = sqlite
        .kinds
        .iter()
        .zip(&other.kinds)
        .map(|(a, b)| a.digest == b.digest)
        .collect();
    assert_eq!(same, [true, false, false, false]);
}

/// With only users and groups every entitlement is a group membership, so the expandable
/// grants are exactly `round(fraction × grants)`; `c1z expand` then adds grants.
#[test]
fn expandable_fraction_nests_that_many_groups_and_expand_adds_grants() {
    let dir = tempfile::tempdir().unwrap();
    let spec = FixtureSpec {
        seed: 3,
        resource_types: 2,
        resources: 60,
        entitlements: 60,
        principals: 300,
        grants: 4_000,
        expandable_fraction: 0.25,
    };
    let path = dir.path().join("x.c1z");
    let file = OpenOptions::new()
        .with_create(true)
        .with_engine(EngineKind::Sqlite)
        .open(&path)
        .unwrap();
    let report = generate_fixture(file.store(), &spec).unwrap();
    file.close().unwrap();
    assert_eq!(report.member_grants, 4_000);
    assert_eq!(report.expandable_grants, 1_000);
    assert!(report.shallow_grants > 0 && report.shallow_grants < 1_000);
    assert_eq!(report.objects, spec.objects());

    let file = C1zFile::open_read_only(&path).unwrap();
    let sync = SyncSelector::Id(report.run.id.clone());
    let expandable = grants_where(
        &file,
        GrantQuery {
            sync: sync.clone(),
            needs_expansion: true,
            ..GrantQuery::default()
        },
    );
    let to_groups = grants_where(
        &file,
        GrantQuery {
            sync: sync.clone(),
            principal_resource_type_ids: vec!["group".into()],
            ..GrantQuery::default()
        },
    );
    assert_eq!((expandable, to_groups), (1_000, 1_000));
    // Every edge nests a later group into an earlier one: no cycles.
    let mut edges = 0;
    for g in file.store().stream_grants(GrantQuery {
        sync,
        needs_expansion: true,
        ..GrantQuery::default()
    }) {
        let g = g.unwrap();
        let source = &g.expansion.as_ref().unwrap().entitlement_ids[0];
        let dest = &g.grant.entitlement.as_ref().unwrap().id;
        assert_ne!(source, dest);
        edges += 1;
    }
    assert_eq!(edges, 1_000);
    drop(file);

    let expanded = dir.path().join("expanded.c1z");
    let v = json(&c1z(&[
        "expand",
        path.to_str().unwrap(),
        "-o",
        expanded.to_str().unwrap(),
        "--json",
    ]));
    let report = &v["report"];
    assert!(report["grants_added"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["cycles"].as_u64(), Some(0), "{report}");
    let v = json(&c1z(&["stats", expanded.to_str().unwrap(), "--json"]));
    assert!(v["grants"].as_u64().unwrap() > 4_000, "{v}");
}

/// Impossible specs are typed errors from the library and exit code 2 with a message from
/// the CLI, which writes nothing; mixing the two flag sets is a usage error.
#[test]
fn impossible_specs_are_clear_errors() {
    let base = FixtureSpec {
        seed: 1,
        resource_types: 4,
        resources: 30,
        entitlements: 40,
        principals: 50,
        grants: 1_000,
        expandable_fraction: 0.0,
    };
    for bad in [
        FixtureSpec {
            grants: 40 * 50 + 1,
            ..base
        },
        FixtureSpec {
            resource_types: 1,
            ..base
        },
        FixtureSpec {
            expandable_fraction: -0.1,
            ..base
        },
        FixtureSpec {
            expandable_fraction: 1.1,
            ..base
        },
        // Ten groups nest at most 45 groups; this asks for hundreds.
        FixtureSpec {
            expandable_fraction: 1.0,
            ..base
        },
    ] {
        let err = bad.validate().unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{bad:?}: {err}");
        // The generator refuses before writing anything.
        let f = crate::util::fresh(EngineKind::Sqlite);
        assert!(matches!(
            generate_fixture(f.file.store(), &bad),
            Err(Error::InvalidArgument(_))
        ));
        assert!(f.file.store().sync_runs().unwrap().is_empty());
        f.file.discard();
    }

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bad.c1z");
    let o = out.to_str().unwrap();
    let counts = |grants: &str, fraction: &str, types: &str| {
        #[rustfmt::skip]
        let args = vec![
            "generate".to_owned(), o.to_owned(), "--resource-types".into(), types.into(),
            "--resources".into(), "30".into(), "--entitlements".into(), "40".into(),
            "--principals".into(), "50".into(), "--grants".into(), grants.into(),
            "--expandable-fraction".into(), fraction.into(),
        ];
        args
    };
    for (args, message) in [
        (counts("2001", "0", "4"), "exceed the 2000 distinct"),
        (counts("100", "1.5", "4"), "between 0 and 1"),
        (counts("100", "0", "1"), "at least 2"),
        (counts("1000", "1", "4"), "lower the fraction"),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = c1z(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
        assert!(!out.exists());
    }
    // Mixed flag sets, and an incomplete fixture: clap's usage errors.
    let mixed = c1z(&["generate", o, "--users", "5", "--grants", "10"]);
    assert_eq!(mixed.status.code(), Some(2));
    assert!(
        stderr(&mixed).contains("cannot be used with"),
        "{}",
        stderr(&mixed)
    );
    let partial = c1z(&["generate", o, "--grants", "10", "--principals", "5"]);
    assert_eq!(partial.status.code(), Some(2));
    assert!(
        stderr(&partial).contains("--resource-types"),
        "{}",
        stderr(&partial)
    );
    assert!(!out.exists());
    // The organisation flags alone still work.
    ok(&c1z(&["generate", o, "--users", "5", "--groups", "2"]));
    let v = json(&c1z(&["stats", o, "--json"]));
    assert_eq!(v["resources_by_resource_type"]["user"].as_u64(), Some(5));
}
