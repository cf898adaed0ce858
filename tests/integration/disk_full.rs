//! A full disk, played by a child `c1z` under a small `RLIMIT_FSIZE` (writes past it fail
//! with EFBIG, SIGXFSZ ignored): a clear error, the previous file intact, no temp file
//! left beside it or in the temp directory.

use std::path::Path;
use std::process::Command;

use crate::util::bytes_of;

fn c1z() -> Command {
    Command::new(env!("CARGO_BIN_EXE_c1z"))
}

/// A generated file of `engine`, with expandable grants (so `expand` has work).
fn generated(dir: &Path, engine: &str) -> std::path::PathBuf {
    let path = dir.join(format!("org.{engine}.c1z"));
    let out = c1z()
        .arg("generate")
        .arg(&path)
        .args(["--users", "3000", "--groups", "60", "--nested", "8"])
        .args(["--engine", engine])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// Runs `c1z --temp-dir TMP ARGS...` with files limited to `limit_kib` KiB.
fn run_limited(limit_kib: u64, tmp: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -f {limit_kib} && trap '' XFSZ && exec \"$0\" --temp-dir \"$1\" \"${{@:2}}\""
        ))
        .arg(env!("CARGO_BIN_EXE_c1z"))
        .arg(tmp)
        .args(args)
        .output()
        .unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn full_disk_during(engine: &str, limit_kib: u64) {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("files");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let file = generated(&work, engine);
    let before = bytes_of(&file);

    let out = run_limited(
        limit_kib,
        &tmp,
        &["expand".as_ref(), "--in-place".as_ref(), file.as_os_str()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{engine}: {stderr}");
    assert!(
        stderr.contains("File too large") && stderr.contains("i/o error on"),
        "{engine}: the error names the path and the cause: {stderr}"
    );
    assert_eq!(
        bytes_of(&file),
        before,
        "{engine}: the previous file is intact"
    );
    assert_eq!(
        names_in(&work),
        [file.file_name().unwrap().to_str().unwrap()],
        "{engine}: nothing left beside the file"
    );
    assert!(names_in(&tmp).is_empty(), "{engine}: {:?}", names_in(&tmp));

    // With room, the same command works.
    let out = c1z()
        .args(["--temp-dir".as_ref(), tmp.as_os_str()])
        .args(["expand".as_ref(), "--in-place".as_ref(), file.as_os_str()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expanded = bytes_of(&file).len() as u64;
    assert!(
        expanded > limit_kib * 1024,
        "{engine}: the expanded file ({expanded} bytes) is what the limit refused"
    );
    assert!(names_in(&tmp).is_empty());
}

/// SQLite files up to the memory threshold are worked on in memory: the save is what
/// hits the limit.
#[test]
fn a_full_disk_while_saving_keeps_the_previous_sqlite_file() {
    full_disk_during("sqlite", 256);
}

/// RocksDB working copies are on disk: opening (extracting the tables) hits the limit.
#[test]
fn a_full_disk_while_opening_keeps_the_rocksdb_file() {
    full_disk_during("rocksdb", 256);
}

#[test]
fn a_temp_dir_that_is_not_a_directory_is_refused() {
    let out = c1z()
        .args(["--temp-dir", "/nonexistent/c1z-tmp", "info", "x.c1z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}
