use std::path::{Path, PathBuf};

use c1z::codec::{GRANT_EXPANDABLE, to_any};
use c1z::engine::EngineKind;
use c1z::pb::c1::connector::v2::{
    Entitlement, Grant, GrantExpandable, Resource, ResourceId, ResourceType,
};
use c1z::{C1zFile, OpenOptions, RocksOptions, SqliteOptions};

/// A store in a fresh file inside its own temp directory.
pub struct Fresh {
    pub file: C1zFile,
    pub path: PathBuf,
    pub engine: EngineKind,
    pub dir: tempfile::TempDir,
}

thread_local! {
    /// The SQLite memory limit `fresh` and `reopen` use on this thread (`None`: default).
    static SQLITE_MEMORY_LIMIT: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
    /// The RocksDB bulk-load buffer `fresh` and `reopen` use on this thread (`None`: default).
    static ROCKS_BULK_BUFFER: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with SQLite databases opened by `fresh` and `reopen` held in memory up to
/// `bytes` (0: always on disk).
pub fn with_sqlite_memory_limit(bytes: u64, f: impl FnOnce()) {
    SQLITE_MEMORY_LIMIT.with(|m| m.set(Some(bytes)));
    f();
    SQLITE_MEMORY_LIMIT.with(|m| m.set(None));
}

/// Runs `f` with RocksDB stores opened by `fresh` and `reopen` buffering up to `bytes` of a
/// bulk grant write in sorted tables (0: every write through the memtable).
pub fn with_rocks_bulk_buffer(bytes: u64, f: impl FnOnce()) {
    ROCKS_BULK_BUFFER.with(|m| m.set(Some(bytes)));
    f();
    ROCKS_BULK_BUFFER.with(|m| m.set(None));
}

/// The memory settings `fresh` and `reopen` use on this thread, for messages: the SQLite
/// memory limit or the RocksDB bulk buffer, whichever is set (`None`: defaults).
pub fn memory_limit() -> Option<u64> {
    SQLITE_MEMORY_LIMIT
        .with(std::cell::Cell::get)
        .or_else(|| ROCKS_BULK_BUFFER.with(std::cell::Cell::get))
}

/// Open options with this thread's engine settings.
pub fn options() -> OpenOptions {
    let mut opts = OpenOptions::new();
    if let Some(bytes) = SQLITE_MEMORY_LIMIT.with(std::cell::Cell::get) {
        opts = opts.with_sqlite(SqliteOptions::new().with_memory_limit(bytes));
    }
    if let Some(bytes) = ROCKS_BULK_BUFFER.with(std::cell::Cell::get) {
        opts = opts.with_rocksdb(RocksOptions::new().with_bulk_buffer(bytes));
    }
    opts
}

pub fn fresh(engine: EngineKind) -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.c1z");
    let file = options()
        .with_create(true)
        .with_engine(engine)
        .open(&path)
        .unwrap();
    Fresh {
        file,
        path,
        engine,
        dir,
    }
}

impl Fresh {
    /// Saves, closes and opens the file again.
    pub fn reopen(self) -> Fresh {
        let Fresh {
            file,
            path,
            engine,
            dir,
        } = self;
        file.close().unwrap();
        let file = options().open(&path).unwrap();
        Fresh {
            file,
            path,
            engine,
            dir,
        }
    }

    pub fn store(&self) -> &c1z::AnyStore {
        self.file.store()
    }
}

/// `../shared/baton-samples`, or `None` (with a notice) where the folder is absent.
/// Under `CI=true` a missing folder is a failure.
pub fn samples() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/baton-samples");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the baton samples are missing at {}",
        dir.display()
    );
    eprintln!(
        "note: {} not found; skipping a test that needs baton's sample files",
        dir.display()
    );
    None
}

pub fn rid(rt: &str, id: &str) -> ResourceId {
    ResourceId {
        resource_type: rt.into(),
        resource: id.into(),
        ..Default::default()
    }
}

pub fn resource_type(id: &str) -> ResourceType {
    ResourceType {
        id: id.into(),
        display_name: format!("{id} type"),
        ..Default::default()
    }
}

pub fn resource(rt: &str, id: &str) -> Resource {
    Resource {
        id: Some(rid(rt, id)),
        display_name: format!("{rt} {id}"),
        ..Default::default()
    }
}

pub fn child(rt: &str, id: &str, parent: &ResourceId) -> Resource {
    Resource {
        parent_resource_id: Some(parent.clone()),
        ..resource(rt, id)
    }
}

/// Entitlement `rt:id:name` on resource `rt:id`.
pub fn entitlement(rt: &str, id: &str, name: &str) -> Entitlement {
    Entitlement {
        id: format!("{rt}:{id}:{name}"),
        resource: Some(resource(rt, id)),
        display_name: name.into(),
        ..Default::default()
    }
}

/// Grant `<entitlement>:<principal type>:<principal id>`.
pub fn grant(ent: &Entitlement, prt: &str, pid: &str) -> Grant {
    Grant {
        id: format!("{}:{prt}:{pid}", ent.id),
        entitlement: Some(ent.clone()),
        principal: Some(resource(prt, pid)),
        ..Default::default()
    }
}

pub fn expandable(ids: &[&str]) -> GrantExpandable {
    GrantExpandable {
        entitlement_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

/// `g` with a `GrantExpandable` annotation.
pub fn with_expandable(mut g: Grant, e: &GrantExpandable) -> Grant {
    g.annotations.push(to_any(GRANT_EXPANDABLE, e));
    g
}

/// SHA-less fingerprint of a file's bytes, to prove it was not modified.
pub fn bytes_of(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// `g` as an [`c1z::EncodedGrant`] (identity columns from `g`, its canonical bytes, first
/// seen 2030-01-02 03:04:05); a test may swap in other bytes.
pub fn encoded(g: &Grant) -> c1z::EncodedGrant {
    let e = g.entitlement.as_ref().unwrap();
    let r = e.resource.as_ref().unwrap().id.as_ref().unwrap();
    let p = g.principal.as_ref().unwrap().id.as_ref().unwrap();
    c1z::EncodedGrant {
        id: g.id.clone(),
        entitlement: std::sync::Arc::new(c1z::EntitlementKey {
            id: e.id.clone(),
            resource_type_id: r.resource_type.clone(),
            resource_id: r.resource.clone(),
        }),
        principal: std::sync::Arc::new(c1z::ResourceKey::of(p)),
        data: c1z::codec::encode_grant(g),
        discovered_at: c1z::wall::parse("2030-01-02 03:04:05.000000").unwrap(),
    }
}

/// A grant's sources as key → `is_direct`.
pub fn sources_map(g: &Grant) -> std::collections::BTreeMap<String, bool> {
    g.sources
        .as_ref()
        .map(|s| {
            s.sources
                .iter()
                .map(|(k, v)| (k.clone(), v.is_direct))
                .collect()
        })
        .unwrap_or_default()
}

/// Writes grants in their stored encoding through a bulk load of their own (begun, written,
/// finished): the `PreserveExpansion` fast path outside an expansion.
pub fn put_encoded(
    store: &dyn c1z::Writer,
    sync: &c1z::SyncId,
    rows: &[c1z::EncodedGrant],
) -> c1z::Result<()> {
    let load = store.bulk_grants()?;
    load.put_encoded_grants(sync, rows)?;
    load.finish()
}

/// JSON with every number as f64: `google.protobuf.Struct` numbers are doubles, which Go
/// prints as `55` and serde as `55.0`; both parse to the same value.
pub fn normalized(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Number(n), Value::Number),
        Value::Array(a) => Value::Array(a.into_iter().map(normalized).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, normalized(v))).collect()),
        other => other,
    }
}

/// A command that runs the test `name` of this test binary alone in a child process. The
/// test does a child's work when an environment variable the caller sets says so, and
/// returns at once otherwise.
pub fn child_test(name: &str) -> std::process::Command {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args([
        name,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "--quiet",
    ]);
    command
}

/// A small seeded generator (xorshift64*): the corpus and the crash harness are the same
/// on every run.
pub struct Rng(pub u64);

impl Rng {
    /// A value in `0..n` (0 for `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as usize % n.max(1)
    }
}
