//! The `c1z` binary, run as a user would.
#[allow(unused_imports)]
use c1z::prelude::*;

use std::path::Path;
use std::process::{Command, Output};

use c1z::{C1zFile, SyncType, WriterExt};

use crate::util::{entitlement, grant, resource, resource_type, samples};

fn c1z(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_c1z"))
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn small_file(path: &Path, finish: bool) {
    let f = C1zFile::create(path).unwrap();
    let run = f.store().start_sync(SyncType::Full, None).unwrap();
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
    run.put_grants(&[grant(&member, "user", "a"), grant(&member, "user", "b")])
        .unwrap();
    if finish {
        run.finish().unwrap();
    }
    f.close().unwrap();
}

#[test]
fn stats_json_has_the_documented_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.c1z");
    small_file(&path, true);
    let out = c1z(&["stats", path.to_str().unwrap(), "--json"]);
    let v = json(&out);
    for (k, n) in [
        ("resource_types", 2),
        ("resources", 3),
        ("entitlements", 1),
        ("grants", 2),
    ] {
        assert_eq!(v[k].as_u64(), Some(n), "{k}");
    }
    assert_eq!(v["sync_id"].as_str().unwrap().len(), 27);
    assert_eq!(v["resources_by_resource_type"]["user"].as_u64(), Some(2));
    assert!(out.stderr.is_empty());
}

#[test]
fn stats_falls_back_to_the_unfinished_sync_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.c1z");
    small_file(&path, false);
    let out = c1z(&["stats", path.to_str().unwrap(), "--json"]);
    assert_eq!(json(&out)["grants"].as_u64(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unfinished"));
    // The human form too.
    let out = c1z(&["stats", path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("grants"));
}

#[test]
fn stats_of_an_unknown_sync_fails_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.c1z");
    small_file(&path, true);
    let out = c1z(&["stats", path.to_str().unwrap(), "--sync-id", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

#[test]
fn info_json_names_format_engine_and_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.c1z");
    small_file(&path, true);
    let v = json(&c1z(&["info", path.to_str().unwrap(), "--json"]));
    assert_eq!(v["format"], "v1");
    assert_eq!(v["engine"], "sqlite");
    assert_eq!(v["payload_encoding"], "");
    assert_eq!(v["sync_runs"].as_array().unwrap().len(), 1);
    assert_eq!(v["sync_runs"][0]["sync_type"], "full");
}

#[test]
fn info_and_stats_on_baton_samples() {
    let Some(dir) = samples() else { return };
    let v = json(&c1z(&[
        "info",
        dir.join("sync.36zM46KKuaBq0wjSSvKh5o0350y.unexpanded.pebble.c1z")
            .to_str()
            .unwrap(),
        "--json",
    ]));
    assert_eq!(
        (
            v["format"].as_str(),
            v["engine"].as_str(),
            v["payload_encoding"].as_str()
        ),
        (Some("v3"), Some("pebble2"), Some("indexed_zstd"))
    );
    // The older writer's file (range deletions, virtual tables): the spec's counts.
    let v = json(&c1z(&[
        "stats",
        dir.join("sync.36zM46KKuaBq0wjSSvKh5o0350y.unexpanded.pebble.c1z")
            .to_str()
            .unwrap(),
        "--json",
    ]));
    assert_eq!(v["sync_id"], "36zM46KKuaBq0wjSSvKh5o0350y");
    assert_eq!(
        (v["resources"].as_u64(), v["grants"].as_u64()),
        (Some(45_217), Some(85_401))
    );
    let v = json(&c1z(&[
        "stats",
        dir.join("current/v025-multi.c1z").to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(v["sync_id"], "3MSzRZG1ohUOGETUrnuDqs0RnZE");
    assert_eq!(v["grants"].as_u64(), Some(1502));
    let v = json(&c1z(&[
        "stats",
        dir.join("current/v025-multi.c1z").to_str().unwrap(),
        "--sync-id",
        "3MSzRQYwupl3gWol0rE7PjBrBvX",
        "--json",
    ]));
    assert_eq!(
        (
            v["resource_types"].as_u64(),
            v["resources"].as_u64(),
            v["grants"].as_u64()
        ),
        (Some(2), Some(3), Some(26))
    );
}

#[test]
fn bad_files_exit_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.c1z");
    std::fs::write(&path, b"not a c1z file").unwrap();
    for cmd in ["info", "stats"] {
        let out = c1z(&[cmd, path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not a c1z file"),
            "{cmd}"
        );
    }
}

/// The README's main command works on the committed sample.
#[test]
fn readme_sample_has_the_documented_counts() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample.c1z");
    let v = json(&c1z(&["stats", sample.to_str().unwrap(), "--json"]));
    let counts: Vec<_> = [
        "resource_types",
        "resources",
        "entitlements",
        "grants",
        "assets",
    ]
    .iter()
    .map(|k| v[k].as_u64().unwrap())
    .collect();
    assert_eq!(counts, [4, 118, 21, 205, 1]);
    assert_eq!(v["resources_by_resource_type"]["user"].as_u64(), Some(100));
}

/// `c1z generate` is deterministic in content and refuses to overwrite.
#[test]
fn generate_writes_a_new_file_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.c1z");
    let o = c1z(&[
        "generate",
        out.to_str().unwrap(),
        "--users",
        "20",
        "--groups",
        "3",
    ]);
    assert!(o.status.success());
    let again = c1z(&["generate", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    let v = json(&c1z(&["stats", out.to_str().unwrap(), "--json"]));
    assert_eq!(v["resources_by_resource_type"]["user"].as_u64(), Some(20));
}

#[test]
fn convert_to_rocksdb_and_back_keeps_stats() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("s.c1z");
    small_file(&src, true);
    let rocks = dir.path().join("r.c1z");
    let back = dir.path().join("b.c1z");
    for (from, to, engine) in [(&src, &rocks, "rocksdb"), (&rocks, &back, "sqlite")] {
        let out = c1z(&[
            "convert",
            from.to_str().unwrap(),
            to.to_str().unwrap(),
            "--engine",
            engine,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let info = json(&c1z(&["info", rocks.to_str().unwrap(), "--json"]));
    assert_eq!(
        (
            info["format"].as_str(),
            info["engine"].as_str(),
            info["payload_encoding"].as_str()
        ),
        (Some("v3"), Some("rocksdb"), Some("tar_zstd"))
    );
    let tar = dir.path().join("t.c1z");
    assert!(
        c1z(&[
            "convert",
            src.to_str().unwrap(),
            tar.to_str().unwrap(),
            "--engine",
            "rocksdb",
            "--payload-encoding",
            "tar"
        ])
        .status
        .success()
    );
    assert_eq!(
        json(&c1z(&["info", tar.to_str().unwrap(), "--json"]))["payload_encoding"],
        "tar"
    );
    let stats = |p: &Path| json(&c1z(&["stats", p.to_str().unwrap(), "--json"]));
    assert_eq!(stats(&rocks), stats(&src));
    assert_eq!(stats(&back), stats(&src));
    assert_eq!(stats(&tar), stats(&src));
    // Never overwrites.
    let again = c1z(&[
        "convert",
        src.to_str().unwrap(),
        rocks.to_str().unwrap(),
        "--engine",
        "rocksdb",
    ]);
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn verify_passes_on_good_files_and_names_the_bad_frame() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("s.c1z");
    small_file(&src, true);
    assert_eq!(
        c1z(&["verify", src.to_str().unwrap()]).status.code(),
        Some(0)
    );
    let mut bytes = std::fs::read(&src).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x10;
    std::fs::write(&src, &bytes).unwrap();
    assert_eq!(
        c1z(&["verify", src.to_str().unwrap()]).status.code(),
        Some(1)
    );
    let Some(samples) = samples() else { return };
    let pebble = samples.join("sync.36zM46KKuaBq0wjSSvKh5o0350y.unexpanded.pebble.c1z");
    let out = c1z(&["verify", pebble.to_str().unwrap(), "--json"]);
    let v = json(&out);
    assert_eq!(v["ok"], true);
    let info = json(&c1z(&["info", pebble.to_str().unwrap(), "--json"]));
    let frames = info["frames"].as_array().unwrap();
    let frame = frames
        .iter()
        .max_by_key(|f| f["compressed_size"].as_i64().unwrap())
        .unwrap();
    let mut bytes = std::fs::read(&pebble).unwrap();
    let at = usize::try_from(frame["offset"].as_i64().unwrap() + 40).unwrap();
    bytes[at] ^= 0x01;
    let bad = dir.path().join("bad.pebble.c1z");
    std::fs::write(&bad, &bytes).unwrap();
    let out = c1z(&["verify", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(frame["name"].as_str().unwrap()), "{err}");
}

#[test]
fn expand_writes_a_copy_and_leaves_the_input_alone() {
    let Some(samples) = samples() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.c1z");
    std::fs::copy(
        samples.join("sync.36zfOAoWMxQdISbixanQCRBiX7E.unexpanded"),
        &input,
    )
    .unwrap();
    let before = std::fs::read(&input).unwrap();
    let out = dir.path().join("out.c1z");
    let o = c1z(&[
        "expand",
        input.to_str().unwrap(),
        "--sync-id",
        "36zfOAoWMxQdISbixanQCRBiX7E",
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&o);
    assert_eq!(v["report"]["grants_added"].as_u64(), Some(12_072));
    assert_eq!(v["report"]["grants_updated"].as_u64(), Some(1_199));
    assert_eq!(v["report"]["edges"].as_u64(), Some(799));
    // Piped: the summary is for terminals, and the discarded working copy warns nothing.
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read(&input).unwrap(), before, "input untouched");
    let stats = json(&c1z(&[
        "stats",
        out.to_str().unwrap(),
        "--sync-id",
        "36zfOAoWMxQdISbixanQCRBiX7E",
        "--json",
    ]));
    assert_eq!(stats["grants"].as_u64(), Some(14_981));
    // Refuses to overwrite; --in-place rewrites the input.
    assert_eq!(
        c1z(&[
            "expand",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap()
        ])
        .status
        .code(),
        Some(2)
    );
    let o = c1z(&[
        "expand",
        input.to_str().unwrap(),
        "--sync-id",
        "36zfOAoWMxQdISbixanQCRBiX7E",
        "--in-place",
    ]);
    assert!(o.status.success());
    assert_ne!(std::fs::read(&input).unwrap(), before);
    // Expanding an expanded file adds nothing.
    let v = json(&c1z(&[
        "expand",
        input.to_str().unwrap(),
        "--sync-id",
        "36zfOAoWMxQdISbixanQCRBiX7E",
        "--in-place",
        "--json",
    ]));
    assert_eq!(v["report"]["grants_added"].as_u64(), Some(0));
    assert_eq!(v["report"]["grants_updated"].as_u64(), Some(0));
}

/// baton's Pebble files through the binary: stats count the rows, verify reads every
/// table block, convert writes either engine, expand writes rocksdb (or the chosen engine)
/// and refuses to rewrite the input.
#[test]
fn pebble_files_work_with_every_command() {
    let Some(samples) = samples() else { return };
    let src = samples.join("current/v025-full.pebble.c1z");
    let s = src.to_str().unwrap();
    let v = json(&c1z(&["stats", s, "--json"]));
    assert_eq!(v["grants"].as_u64(), Some(1502));
    assert_eq!(v["resources"].as_u64(), Some(360));
    assert_eq!(v["grants_by_resource_type"]["role"].as_u64(), Some(326));
    let v = json(&c1z(&["verify", s, "--json"]));
    let parts = v["checked"].as_array().unwrap();
    // 5 table files (8 live tables: 4 are virtual, over one backing file), 5,067 live
    // keys (format-pebble §0).
    assert!(
        parts
            .iter()
            .any(|p| p["part"] == "pebble database (5 tables, 24 data blocks, 5067 live keys)"),
        "{parts:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    for engine in ["sqlite", "rocksdb"] {
        let out = dir.path().join(format!("conv.{engine}.c1z"));
        let o = c1z(&["convert", s, out.to_str().unwrap(), "--engine", engine]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v = json(&c1z(&["stats", out.to_str().unwrap(), "--json"]));
        assert_eq!(v["grants"].as_u64(), Some(1502), "{engine}");
        let info = json(&c1z(&["info", out.to_str().unwrap(), "--json"]));
        assert_eq!(info["engine"], engine);
    }
    let out = dir.path().join("expanded.c1z");
    let o = c1z(&["expand", s, "-o", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "piped: notes are for terminals");
    let info = json(&c1z(&["info", out.to_str().unwrap(), "--json"]));
    assert_eq!(
        info["engine"], "rocksdb",
        "a Pebble input expands into rocksdb"
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // baton expanded it already: nothing to add.
    assert_eq!(report["report"]["grants_added"].as_u64(), Some(0));
    assert_eq!(
        json(&c1z(&["info", out.to_str().unwrap(), "--json"]))["engine"],
        "rocksdb"
    );
    assert_eq!(
        json(&c1z(&["stats", out.to_str().unwrap(), "--json"]))["grants"],
        1502
    );
    let out = dir.path().join("expanded.sqlite.c1z");
    let o = c1z(&[
        "expand",
        s,
        "-o",
        out.to_str().unwrap(),
        "--engine",
        "sqlite",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        json(&c1z(&["info", out.to_str().unwrap(), "--json"]))["engine"],
        "sqlite"
    );
    let o = c1z(&["expand", s, "--in-place"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("-o OUT"));
}

/// `c1z bench` measures every workload on any engine's file and reports what it read.
#[test]
fn bench_reports_every_workload() {
    let Some(samples) = samples() else { return };
    for file in [
        samples.join("current/v025-full.pebble.c1z"),
        samples.join("current/v025-multi.c1z"),
    ] {
        let v = json(&c1z(&["bench", file.to_str().unwrap(), "--json"]));
        assert_eq!(v["grants"], 1502, "{}", file.display());
        let w = v["workloads"].as_array().unwrap();
        let by_name = |name: &str| {
            w.iter()
                .find(|x| x["workload"] == name)
                .unwrap_or_else(|| panic!("no workload {name}: {w:?}"))
        };
        assert_eq!(w.len(), 9);
        assert_eq!(by_name("stream every grant")["ops"], 1502);
        let gets = by_name("get grant by id");
        assert!(gets["ops"].as_u64().unwrap() > 10, "gets: {gets}");
        assert!(gets["p99_us"].as_f64().unwrap() >= gets["p50_us"].as_f64().unwrap());
        assert!(by_name("access (one principal)")["ops"].as_u64().unwrap() > 0);
        // The largest resource's holders: at least its sampled grants' worth.
        assert!(by_name("who-can-access (largest)")["ops"].as_u64().unwrap() > 0);
        assert_eq!(by_name("stats (stored)")["ops"], 1);
        assert!(v["peak_rss_bytes"].as_u64().unwrap() > 0);
    }
}
