//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Read, inspect and analyse .c1z connector snapshot files (baton-sdk compatible).
#[derive(Debug, Parser)]
#[command(name = "c1z", version, about)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show a file's format, engine, payload encoding and sync runs.
    Info {
        /// The .c1z file.
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Count resource types, resources, entitlements, grants and assets of one sync.
    Stats {
        /// The .c1z file.
        file: PathBuf,
        /// The sync to count (default: the latest finished sync).
        #[arg(long)]
        sync_id: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}
