//! The `c1z` command: inspect and analyse `.c1z` files.

mod args;
mod cmd;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: expansion allocates and frees a few small buffers per derived grant (ids,
/// encoded rows, keys); glibc's allocator took about a tenth of the CPU on org-420k.
/// (org-420k on RocksDB: 2.06 -> 1.48 s mean, 10 runs each.)
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Keeps freed memory in the process for reuse. With glibc's defaults, every buffer of a
/// few megabytes (a write batch, a memtable block, a compression window) is a fresh
/// `mmap` whose pages fault in zeroed and go back to the kernel when freed; expansion
/// allocates such buffers per batch. Measured on the 36zf sample: 112 -> 100 ms (RocksDB),
/// 102 -> 97 ms (SQLite), peak RSS unchanged on org-420k.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator thresholds; it is called before any other
    // thread exists, and a refused setting (return 0) leaves the defaults in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// Points every temp file (c1z's working copies, SQLite's and RocksDB's own) at `dir`.
#[allow(unsafe_code)]
fn use_temp_dir(dir: &std::path::Path) -> Result<(), String> {
    if !dir.is_dir() {
        return Err(format!("--temp-dir {}: not a directory", dir.display()));
    }
    // SAFETY: called from main before any other thread exists.
    unsafe { std::env::set_var("TMPDIR", dir) };
    Ok(())
}

fn main() -> ExitCode {
    keep_freed_memory();
    let args = args::Args::parse();
    if let Some(dir) = &args.temp_dir
        && let Err(e) = use_temp_dir(dir)
    {
        eprintln!("c1z: {e}");
        return ExitCode::from(2);
    }
    match cmd::run(args) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`c1z info x | head`) is not an error.
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("c1z: {err:#}");
            ExitCode::from(2)
        }
    }
}
