//! The `c1z` command: inspect and analyse `.c1z` files.

mod args;
mod cmd;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Args::parse();
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
