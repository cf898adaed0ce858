//! The advisory writer lock: one writer per file, across processes and within one; any
//! number of readers at once, writer or not, each seeing the last saved state.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use c1z::engine::EngineKind;
use c1z::prelude::*;
use c1z::{C1zFile, Error, OpenOptions, SyncType};

use crate::util::{child_test, resource_type};

/// The environment variable that makes [`lock_holder_child`] hold a file.
const HOLD: &str = "C1Z_TEST_HOLD_WRITER";

/// The checkpoint token of the file's only sync, as a reader sees it now.
fn saved_token(path: &Path) -> String {
    let file = C1zFile::open_read_only(path).unwrap();
    let runs = file.store().sync_runs().unwrap();
    assert_eq!(runs.len(), 1);
    runs[0].sync_token.clone()
}

/// A file with one open full sync, checkpointed at `token`.
fn create(path: &Path, engine: EngineKind) {
    let file = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(path)
        .unwrap();
    let sync = file.store().start_sync(SyncType::Full, None).unwrap();
    sync.checkpoint("saved-1").unwrap();
    file.close().unwrap();
}

/// In a child process (when [`HOLD`] names a file): opens it for writing, checkpoints
/// `unsaved`, says `held`, and on each line of stdin: `save` checkpoints `saved-2` and
/// saves, `exit` returns (dropping the lock).
#[test]
fn lock_holder_child() {
    let Ok(path) = std::env::var(HOLD) else {
        return;
    };
    let file = C1zFile::open(&path).unwrap();
    let sync = file.store().resume_sync(None, None).unwrap();
    sync.checkpoint("unsaved").unwrap();
    println!("held");
    std::io::stdout().flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        match line.unwrap().as_str() {
            "save" => {
                sync.checkpoint("saved-2").unwrap();
                file.save().unwrap();
                println!("saved");
                std::io::stdout().flush().unwrap();
            }
            _ => break,
        }
    }
    file.discard();
}

/// A child holding `path` for writing, and its stdout.
struct Holder {
    child: std::process::Child,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Holder {
    fn start(path: &Path) -> Holder {
        let mut child = child_test("concurrency::lock_holder_child")
            .env(HOLD, path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut holder = Holder { child, stdout };
        holder.expect("held");
        holder
    }

    /// Waits for the child to print `word` on a line of its own (test-harness lines are
    /// skipped).
    fn expect(&mut self, word: &str) {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "the child exited before printing {word}");
            if line.trim() == word {
                return;
            }
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn finish(mut self) {
        self.send("exit");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the child failed: {status}");
    }
}

fn c1z() -> Command {
    Command::new(env!("CARGO_BIN_EXE_c1z"))
}

fn one_writer_many_readers(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.c1z");
    create(&path, engine);
    let mut holder = Holder::start(&path);

    // A second writer, in this process, is refused with a typed error naming the lock.
    let err = C1zFile::open(&path).unwrap_err();
    match &err {
        Error::Locked { path: p, lock } => {
            assert_eq!(p, &path);
            assert!(lock.exists(), "{}", lock.display());
        }
        other => panic!("expected Locked, got {other}"),
    }
    // So is a save to it from another file, and the CLI's writers.
    let other = OpenOptions::new()
        .with_create(true)
        .open(dir.path().join("other.c1z"))
        .unwrap();
    other
        .store()
        .start_sync(SyncType::Full, None)
        .unwrap()
        .put_resource_types([resource_type("user")])
        .unwrap();
    assert!(matches!(other.save_as(&path), Err(Error::Locked { .. })));
    other.discard();
    let out = c1z()
        .args(["stats", "--recalculate"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("locked by another process"), "{stderr}");

    // Readers, many at once, see the last save and not the holder's unsaved checkpoint.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| assert_eq!(saved_token(&path), "saved-1"));
        }
    });
    let out = c1z().arg("info").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A reader opened before the save keeps its snapshot; one opened after sees the save.
    let before = C1zFile::open_read_only(&path).unwrap();
    holder.send("save");
    holder.expect("saved");
    assert_eq!(saved_token(&path), "saved-2");
    assert_eq!(before.store().sync_runs().unwrap()[0].sync_token, "saved-1");
    drop(before);
    // Still held after the save.
    assert!(matches!(C1zFile::open(&path), Err(Error::Locked { .. })));

    holder.finish();
    // Released with the process: writable again, and no lock file is left behind.
    let file = C1zFile::open(&path).unwrap();
    assert_eq!(file.store().sync_runs().unwrap()[0].sync_token, "saved-2");
    file.discard();
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["held.c1z"]);
}

#[test]
fn one_writer_many_readers_sqlite() {
    one_writer_many_readers(EngineKind::Sqlite);
}

#[test]
fn one_writer_many_readers_rocksdb() {
    one_writer_many_readers(EngineKind::Rocks);
}

#[test]
fn a_killed_writer_releases_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.c1z");
    create(&path, EngineKind::Sqlite);
    let mut holder = Holder::start(&path);
    holder.child.kill().unwrap();
    holder.child.wait().unwrap();
    // The lock file stays (nobody removed it) but locks nothing.
    let file = C1zFile::open(&path).unwrap();
    assert_eq!(file.store().sync_runs().unwrap()[0].sync_token, "saved-1");
    file.discard();
}

#[test]
fn two_writable_opens_in_one_process_conflict() {
    for engine in [EngineKind::Sqlite, EngineKind::Rocks] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("twice.c1z");
        let first = OpenOptions::new()
            .with_create(true)
            .with_engine(engine)
            .open(&path)
            .unwrap();
        // A new file is locked too, before its first save.
        let err = OpenOptions::new()
            .with_create(true)
            .with_engine(engine)
            .open(&path)
            .unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        first.discard();
        let second = OpenOptions::new()
            .with_create(true)
            .with_engine(engine)
            .open(&path)
            .unwrap();
        second.discard();
    }
}
