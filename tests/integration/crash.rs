//! Crash safety: a writer in a child process writes a sync page by page, checkpointing
//! and saving after each page, and is killed with SIGKILL at a random moment. The file
//! left behind must be one complete save (exactly the pages its checkpoint names, or
//! nothing at all before the first save), and resuming from that checkpoint must finish
//! with exactly the content of an uninterrupted run.
//!
//! 100 kills per engine; `C1Z_CRASH_ITERATIONS=N` runs a deeper sweep.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use c1z::engine::EngineKind;
use c1z::pb::c1::connector::v2::{Entitlement, Grant, Resource, ResourceType};
use c1z::prelude::*;
use c1z::{
    C1zFile, EntitlementQuery, GrantQuery, OpenOptions, ResourceQuery, ResourceTypeQuery,
    SyncSelector, SyncType,
};
use prost::Message;

use crate::util::{Rng, child_test, entitlement, grant, resource, resource_type};

/// Set in the child: the file to write.
const WRITE: &str = "C1Z_TEST_CRASH_WRITE";
/// Set in the child: the engine of a new file.
const ENGINE: &str = "C1Z_TEST_CRASH_ENGINE";

const PAGES: usize = 12;
const USERS_PER_PAGE: usize = 60;

fn engine_name(engine: EngineKind) -> &'static str {
    match engine {
        EngineKind::Sqlite => "sqlite",
        EngineKind::Rocks => "rocksdb",
    }
}

/// Page `p` of the sync: deterministic in `p` alone. Page 0 also declares the types; each
/// page adds users, one group with a membership entitlement, and a grant per user.
fn page(
    p: usize,
) -> (
    Vec<ResourceType>,
    Vec<Resource>,
    Vec<Entitlement>,
    Vec<Grant>,
) {
    let types = if p == 0 {
        vec![resource_type("user"), resource_type("group")]
    } else {
        Vec::new()
    };
    let group_id = format!("g{p}");
    let mut resources = vec![resource("group", &group_id)];
    let member = entitlement("group", &group_id, "member");
    let mut grants = Vec::new();
    for u in 0..USERS_PER_PAGE {
        let user = format!("u{p}-{u}");
        resources.push(resource("user", &user));
        grants.push(grant(&member, "user", &user));
    }
    (types, resources, vec![member], grants)
}

/// Writes the sync into `path` from its checkpoint (a fresh sync if there is none),
/// saving after every page, then finishes it and saves.
fn write_sync(path: &Path, engine: EngineKind) {
    let file = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(path)
        .unwrap();
    let (sync, _new) = file
        .store()
        .start_or_resume_sync(SyncType::Full, None)
        .unwrap();
    let token = sync.token().unwrap();
    let first: usize = token
        .strip_prefix("page:")
        .map_or(0, |n| n.parse().unwrap());
    for p in first..PAGES {
        let (types, resources, entitlements, grants) = page(p);
        sync.put_resource_types(types).unwrap();
        sync.put_resources(resources).unwrap();
        sync.put_entitlements(entitlements).unwrap();
        sync.put_grants(grants).unwrap();
        sync.checkpoint(&format!("page:{}", p + 1)).unwrap();
        file.save().unwrap();
    }
    sync.finish().unwrap();
    file.close().unwrap();
}

/// The child: writes the sync named by the environment (a no-op in a normal test run).
#[test]
fn crash_writer_child() {
    let Ok(path) = std::env::var(WRITE) else {
        return;
    };
    let engine = match std::env::var(ENGINE).as_deref() {
        Ok("rocksdb") => EngineKind::Rocks,
        _ => EngineKind::Sqlite,
    };
    write_sync(Path::new(&path), engine);
}

/// Every object of a sync, by kind and id, as encoded protobuf (timestamps excluded).
type Content = BTreeMap<(&'static str, String), Vec<u8>>;

fn content_of_pages(pages: usize) -> Content {
    let mut content = Content::new();
    for p in 0..pages {
        let (types, resources, entitlements, grants) = page(p);
        for t in types {
            content.insert(("type", t.id.clone()), t.encode_to_vec());
        }
        for r in resources {
            let id = r.id.as_ref().unwrap();
            content.insert(
                ("resource", format!("{}/{}", id.resource_type, id.resource)),
                r.encode_to_vec(),
            );
        }
        for e in entitlements {
            content.insert(("entitlement", e.id.clone()), e.encode_to_vec());
        }
        for g in grants {
            content.insert(("grant", g.id.clone()), g.encode_to_vec());
        }
    }
    content
}

/// What the file holds: its only sync (token, finished) and that sync's objects.
struct Saved {
    token: String,
    finished: bool,
    content: Content,
}

fn read_saved(path: &Path) -> Saved {
    let file = C1zFile::open_read_only(path)
        .unwrap_or_else(|e| panic!("the file left behind does not open: {e}"));
    let store = file.store();
    let runs = store.sync_runs().unwrap();
    assert_eq!(runs.len(), 1, "exactly one sync run: {runs:?}");
    let run = &runs[0];
    let sync = SyncSelector::Id(run.id.clone());
    let mut content = Content::new();
    for t in store.stream_resource_types(ResourceTypeQuery { sync: sync.clone() }) {
        let t = t.unwrap().value;
        content.insert(("type", t.id.clone()), t.encode_to_vec());
    }
    let query = ResourceQuery {
        sync: sync.clone(),
        ..Default::default()
    };
    for r in store.stream_resources(query) {
        let r = r.unwrap().value;
        let id = r.id.as_ref().unwrap();
        content.insert(
            ("resource", format!("{}/{}", id.resource_type, id.resource)),
            r.encode_to_vec(),
        );
    }
    let query = EntitlementQuery {
        sync: sync.clone(),
        ..Default::default()
    };
    for e in store.stream_entitlements(query) {
        let e = e.unwrap().value;
        content.insert(("entitlement", e.id.clone()), e.encode_to_vec());
    }
    let query = GrantQuery {
        sync,
        ..Default::default()
    };
    for g in store.stream_grants(query) {
        let g = g.unwrap().grant;
        content.insert(("grant", g.id.clone()), g.encode_to_vec());
    }
    Saved {
        token: run.sync_token.clone(),
        finished: run.is_finished(),
        content,
    }
}

fn iterations() -> usize {
    std::env::var("C1Z_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// Outcomes of the kills, for the failure message and the note.
#[derive(Debug, Default)]
struct Tally {
    before_first_save: usize,
    mid_sync: usize,
    finished: usize,
    stale_temp_files: usize,
}

fn kill_and_resume(engine: EngineKind) {
    let reference = content_of_pages(PAGES);
    let dir = tempfile::tempdir().unwrap();
    // The children's private work directories (left behind by SIGKILL) stay in here.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let spawn = |path: &Path| {
        child_test("crash::crash_writer_child")
            .env(WRITE, path)
            .env(ENGINE, engine_name(engine))
            .env("TMPDIR", &tmp)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };

    // An uninterrupted child run: its content is the reference, its time bounds the delays.
    let path = dir.path().join("whole.c1z");
    let start = Instant::now();
    let status = spawn(&path).wait().unwrap();
    let whole = start.elapsed();
    assert!(status.success());
    let saved = read_saved(&path);
    assert!(saved.finished);
    assert_eq!(saved.content, reference);

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ engine_name(engine).len() as u64);
    let mut tally = Tally::default();
    let span = usize::try_from(whole.as_micros()).unwrap().max(1000);
    for i in 0..iterations() {
        let path = dir.path().join(format!("crash-{i}.c1z"));
        let mut child = spawn(&path);
        std::thread::sleep(Duration::from_micros(rng.below(span) as u64));
        let _ = child.kill();
        child.wait().unwrap();

        let ctx = format!("{} kill {i}", engine_name(engine));
        let stale = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .filter(|n| n.starts_with(&format!(".crash-{i}.c1z.")) && n.ends_with(".tmp"))
            .count();
        tally.stale_temp_files += stale;
        if !path.exists() {
            // Killed before the first save: there is nothing, which is the previous state.
            tally.before_first_save += 1;
        } else {
            let saved = read_saved(&path);
            if saved.finished {
                tally.finished += 1;
                assert_eq!(saved.content, reference, "{ctx}");
                continue;
            }
            tally.mid_sync += 1;
            let pages: usize = saved
                .token
                .strip_prefix("page:")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{ctx}: token {:?}", saved.token));
            assert_eq!(
                saved.content,
                content_of_pages(pages),
                "{ctx}: the save is exactly the checkpointed pages"
            );
        }
        // Resume (in this process) from what was saved, to the end.
        write_sync(&path, engine);
        let resumed = read_saved(&path);
        assert!(resumed.finished, "{ctx}");
        assert_eq!(resumed.content, reference, "{ctx}: resumed content");
        // The resumed writer's lock removed the killed save's temp file; its own lock file
        // went with it.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .filter(|n| n.starts_with(&format!(".crash-{i}.c1z")))
            .collect();
        assert!(leftovers.is_empty(), "{ctx}: {leftovers:?}");
    }
    eprintln!(
        "crash harness, {}: {} kills over {:?} runs: {tally:?}",
        engine_name(engine),
        iterations(),
        whole
    );
    assert!(
        tally.mid_sync > 0,
        "no kill landed mid-sync, so the harness tested nothing: {tally:?}"
    );
}

#[test]
fn sigkill_mid_sync_sqlite() {
    kill_and_resume(EngineKind::Sqlite);
}

#[test]
fn sigkill_mid_sync_rocksdb() {
    kill_and_resume(EngineKind::Rocks);
}
