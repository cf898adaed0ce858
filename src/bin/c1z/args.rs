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
    /// Write a deterministic synthetic full sync (users, groups, roles, apps, nested
    /// groups) into a new file.
    Generate {
        /// The file to create (must not exist).
        out: PathBuf,
        /// Seed of the pseudo-random choices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of users.
        #[arg(long, default_value_t = 100)]
        users: u32,
        /// Number of groups.
        #[arg(long, default_value_t = 10)]
        groups: u32,
        /// Number of roles.
        #[arg(long, default_value_t = 5)]
        roles: u32,
        /// Number of apps.
        #[arg(long, default_value_t = 3)]
        apps: u32,
        /// Group memberships per user.
        #[arg(long, default_value_t = 2)]
        memberships: u32,
        /// Groups nested (as expandable grants) into the previous group.
        #[arg(long, default_value_t = 4)]
        nested: u32,
        /// Instead of an organisation, write an (unexpanded) expansion benchmark shape
        /// (sizes as in the benchmarks).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(c1z::synth::Shape::NAMES))]
        shape: Option<String>,
        /// Engine of the new file.
        #[arg(long, value_parser = ["sqlite", "rocksdb"], default_value = "sqlite")]
        engine: String,
    },
    /// Copy every sync run of a file into a new file of the chosen engine.
    Convert {
        /// The source file.
        input: PathBuf,
        /// The file to create (must not exist).
        output: PathBuf,
        /// Engine of the new file.
        #[arg(long, value_parser = ["sqlite", "rocksdb"])]
        engine: String,
        /// Payload encoding of a rocksdb (v3) output.
        #[arg(long, value_parser = ["tar_zstd", "tar"], default_value = "tar_zstd")]
        payload_encoding: String,
    },
    /// Check every hash the file carries; exit 1 naming the failing part.
    Verify {
        /// The .c1z file.
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Expand grants (GrantExpandable edges) of one sync into derived grants, writing an
    /// expanded copy (or the input itself with --in-place).
    Expand {
        /// The .c1z file to expand.
        input: PathBuf,
        /// Where to write the expanded file (must not exist).
        #[arg(
            short = 'o',
            long = "output",
            required_unless_present = "in_place",
            conflicts_with = "in_place"
        )]
        output: Option<PathBuf>,
        /// Rewrite the input file instead.
        #[arg(long)]
        in_place: bool,
        /// The sync to expand (default: the latest finished sync).
        #[arg(long)]
        sync_id: Option<String>,
        /// Engine of the output. Default: the input's, except for baton's Pebble files,
        /// which c1z reads but does not write: their expansion is written as rocksdb.
        #[arg(long, value_parser = ["sqlite", "rocksdb"])]
        engine: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}
