//! Command-line arguments.

use std::path::PathBuf;

use c1z::ResourceKey;
use clap::{Parser, Subcommand, ValueEnum};

/// Read, inspect and analyse .c1z connector snapshot files (baton-sdk compatible).
#[derive(Debug, Parser)]
#[command(name = "c1z", version, about)]
pub(crate) struct Args {
    /// Directory for working copies and temp files (default: $TMPDIR, else /tmp). It
    /// needs room for the decoded database of each file opened.
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) temp_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How a listing is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns (fitted to the terminal's width when printing to one).
    Table,
    /// Protobuf JSON in baton's envelope (`baton … -o json`).
    Json,
    /// One JSON object per line: the rows of the json envelope.
    Ndjson,
    /// Comma-separated values with a header row (the table's columns).
    Csv,
}

/// The file, sync and format every listing takes.
#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// The .c1z file (any engine: SQLite v1, RocksDB v3, baton's Pebble files).
    pub(crate) file: PathBuf,
    /// The sync to read (default: baton's, the latest finished full sync); `c1z syncs FILE`
    /// lists them.
    #[arg(long, value_name = "ID")]
    pub(crate) sync_id: Option<String>,
    /// Output format (default: table).
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT")]
    pub(crate) output: Option<Format>,
}

/// `TYPE:ID`, split at the first colon (resource ids may contain colons, type ids do not).
fn resource_key(s: &str) -> Result<ResourceKey, String> {
    match s.split_once(':') {
        Some((t, id)) if !t.is_empty() && !id.is_empty() => Ok(ResourceKey::new(t, id)),
        _ => Err(format!(
            "expected TYPE:ID (for example user:alice), got '{s}'"
        )),
    }
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
    /// Count resource types, resources, entitlements, grants and assets of one sync: the
    /// stats stored with the sync when it has them (as baton), else counted from the rows.
    #[command(after_help = "Examples:\n  \
        c1z stats FILE\n  \
        c1z stats FILE -o json | jq .stats.grants     # baton's `stats -o json`\n  \
        c1z stats FILE --json --recount               # c1z's counts, from the rows")]
    Stats {
        /// The .c1z file.
        file: PathBuf,
        /// The sync to count (default: the latest finished sync).
        #[arg(long)]
        sync_id: Option<String>,
        /// Output format: `json` is baton's (the sync run with its stats, protobuf JSON).
        #[arg(short = 'o', long = "output", value_name = "FORMAT", value_parser = ["table", "json"])]
        output: Option<String>,
        /// Print c1z's counts object (numbers as numbers, `finished`) instead of a table.
        #[arg(long, conflicts_with = "output")]
        json: bool,
        /// Count the rows even when the sync has stored stats.
        #[arg(long)]
        recount: bool,
        /// Count the rows and store the counts as the sync's stats (baton's
        /// recalculate-stats): FILE is saved in place, atomically. Finished syncs only.
        #[arg(long, conflicts_with = "recount")]
        recalculate: bool,
    },
    /// List the resource types of a sync.
    #[command(after_help = "Examples:\n  \
        c1z resource-types FILE\n  \
        c1z resource-types FILE --sync-id 3MSzR1qTdcCXVYCSZuSj5tsioLQ -o json")]
    ResourceTypes {
        #[command(flatten)]
        list: ListArgs,
    },
    /// List the resources of a sync.
    #[command(after_help = "Examples:\n  \
        c1z resources FILE -t user\n  \
        c1z resources FILE --parent org:acme -o csv\n  \
        c1z resources FILE -o ndjson | jq -r .resource.displayName")]
    Resources {
        #[command(flatten)]
        list: ListArgs,
        /// Only resources of this type.
        #[arg(short = 't', long = "resource-type", value_name = "TYPE")]
        resource_type: Option<String>,
        /// Only children of this resource.
        #[arg(long, value_name = "TYPE:ID", value_parser = resource_key)]
        parent: Option<ResourceKey>,
    },
    /// List the entitlements of a sync.
    #[command(after_help = "Examples:\n  \
        c1z entitlements FILE -t app\n  \
        c1z entitlements FILE -r group:eng -o json")]
    Entitlements {
        #[command(flatten)]
        list: ListArgs,
        /// Only entitlements of resources of this type.
        #[arg(short = 't', long = "resource-type", value_name = "TYPE")]
        resource_type: Option<String>,
        /// Only entitlements of this resource.
        #[arg(short = 'r', long, value_name = "TYPE:ID", value_parser = resource_key)]
        resource: Option<ResourceKey>,
    },
    /// List the grants of a sync, each with its entitlement, resource, resource type and
    /// principal (baton's `grants -o json` rows). Filters combine.
    #[command(after_help = "Examples:\n  \
        c1z grants FILE -e group:eng:member\n  \
        c1z grants FILE --principal user:alice -o csv\n  \
        c1z grants FILE -t app -o json | jq '.grants[].principal.displayName'\n  \
        c1z grants FILE -o ndjson | head")]
    Grants {
        #[command(flatten)]
        list: ListArgs,
        /// Only grants of this entitlement id.
        #[arg(short = 'e', long, value_name = "ENTITLEMENT")]
        entitlement: Option<String>,
        /// Only grants on entitlements of this resource.
        #[arg(short = 'r', long, value_name = "TYPE:ID", value_parser = resource_key)]
        resource: Option<ResourceKey>,
        /// Only grants on entitlements of resources of this type.
        #[arg(short = 't', long = "resource-type", value_name = "TYPE")]
        resource_type: Option<String>,
        /// Only grants to this principal.
        #[arg(long, value_name = "TYPE:ID", value_parser = resource_key)]
        principal: Option<ResourceKey>,
    },
    /// List the principals holding grants of an entitlement (each once).
    #[command(after_help = "Examples:\n  \
        c1z principals FILE -e group:eng:member\n  \
        c1z principals FILE -e app:github:admin -o json | jq -r '.resources[].resource.displayName'")]
    Principals {
        #[command(flatten)]
        list: ListArgs,
        /// The entitlement id.
        #[arg(short = 'e', long, value_name = "ENTITLEMENT")]
        entitlement: String,
    },
    /// Everything one principal holds, grouped by resource (one indexed query by
    /// principal), each grant marked direct or inherited.
    #[command(after_help = "Examples:\n  \
        c1z access FILE user:alice\n  \
        c1z access FILE user:alice -o json | jq -r '.access[].grants[].grant.entitlement.id'")]
    Access {
        #[command(flatten)]
        list: ListArgs,
        /// The principal.
        #[arg(value_name = "TYPE:ID", value_parser = resource_key)]
        principal: ResourceKey,
    },
    /// Every holder of a resource's entitlements, and for each inherited grant the chain of
    /// sources that explains it (grant < source entitlement < … < a direct grant).
    #[command(after_help = "Examples:\n  \
        c1z who-can-access FILE app:github\n  \
        c1z who-can-access FILE group:eng --entitlement group:eng:member -o ndjson \\\n    \
        | jq -c '[.grant.principal.id.resource, [.via[]?.entitlement]]'")]
    WhoCanAccess {
        #[command(flatten)]
        list: ListArgs,
        /// The resource.
        #[arg(value_name = "TYPE:ID", value_parser = resource_key)]
        resource: ResourceKey,
        /// Only holders of this entitlement of the resource.
        #[arg(short = 'e', long, value_name = "ENTITLEMENT")]
        entitlement: Option<String>,
    },
    /// The principals two entitlements share, and those only one has (like baton's
    /// `principals compare`). The second may be in another file or sync.
    #[command(after_help = "Examples:\n  \
        c1z compare FILE group:eng:member group:ops:member\n  \
        c1z compare OLD.c1z app:github:admin app:github:admin --other-file NEW.c1z --only only-b\n  \
        c1z compare FILE role:a:assigned role:b:assigned --summary -o json")]
    Compare {
        #[command(flatten)]
        list: ListArgs,
        /// The first entitlement (A), in FILE.
        #[arg(value_name = "ENT_A")]
        entitlement_a: String,
        /// The second entitlement (B), in FILE or in --other-file.
        #[arg(value_name = "ENT_B")]
        entitlement_b: String,
        /// The file B is read from (default: FILE).
        #[arg(long, value_name = "FILE_B")]
        other_file: Option<PathBuf>,
        /// The sync B is read from (default: --sync-id for the same file, else baton's
        /// default sync of FILE_B).
        #[arg(long, value_name = "ID")]
        other_sync_id: Option<String>,
        /// Only the principals on one side.
        #[arg(long, value_enum, value_name = "SIDE")]
        only: Option<CompareSide>,
        /// Print the three counts only.
        #[arg(long)]
        summary: bool,
    },
    /// What changed between two syncs (of one file or two, any engines): counts added,
    /// changed and removed per kind and resource type, the principals who gained or lost
    /// the most access, and on request each difference. `-o DIFF.c1z` writes baton's pair
    /// of diff syncs (partial_upserts + partial_deletions) to a new file.
    #[command(after_help = "Examples:\n  \
        c1z diff last-week.c1z today.c1z\n  \
        c1z diff FILE FILE --old-sync 3MSzR1qT… --new-sync 3MSzRZG1… --details\n  \
        c1z diff OLD NEW -o ndjson | jq -r 'select(.kind==\"grant\" and .change==\"added\") | .id'\n  \
        c1z diff OLD NEW -o changes.c1z")]
    Diff {
        /// The old file.
        old: PathBuf,
        /// The new file (may be the same file, with other syncs).
        new: PathBuf,
        /// The old side's sync (default: baton's default sync of OLD).
        #[arg(long, value_name = "ID")]
        old_sync: Option<String>,
        /// The new side's sync (default: baton's default sync of NEW).
        #[arg(long, value_name = "ID")]
        new_sync: Option<String>,
        /// List each difference (with the fields that changed) after the summary, or put
        /// them and the objects in the JSON.
        #[arg(long)]
        details: bool,
        /// `table` (default), `json` (summary; with --details every change), `ndjson`
        /// (one change per line), or a new `.c1z` file to write the diff pair to.
        #[arg(short = 'o', long = "output", value_name = "FORMAT|FILE")]
        output: Option<String>,
        /// Engine of a diff file written with -o FILE.
        #[arg(long, value_parser = ["sqlite", "rocksdb"], default_value = "sqlite")]
        engine: String,
        /// Principals listed as gaining and losing the most access.
        #[arg(long, default_value_t = 10, value_name = "N")]
        top: usize,
    },
    /// Apply a diff pair (partial_upserts + partial_deletions, as `c1z diff -o` or baton
    /// write them) to its base sync: base + upserts − deletions, as a new full sync in a new
    /// file.
    #[command(after_help = "Examples:\n  \
        c1z diff last-week.c1z today.c1z -o changes.c1z\n  \
        c1z apply last-week.c1z changes.c1z -o today-again.c1z")]
    Apply {
        /// The file holding the base sync.
        base: PathBuf,
        /// The file holding the diff pair (may be BASE itself).
        diff: PathBuf,
        /// The file to create (must not exist).
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: PathBuf,
        /// The base sync (default: baton's default sync of BASE).
        #[arg(long, value_name = "ID")]
        base_sync: Option<String>,
        /// The partial_upserts sync to apply (default: the latest whose parent is the base).
        #[arg(long, value_name = "ID")]
        upserts_sync: Option<String>,
        /// Engine of the new file.
        #[arg(long, value_parser = ["sqlite", "rocksdb"], default_value = "sqlite")]
        engine: String,
    },
    /// Merge the latest syncs of several files into one sync in a new file (baton's
    /// compactor: newest file first, an older row wins only with a later discovered_at; the
    /// result's type is the union), then expand its grants.
    #[command(
        after_help = "Inputs are given oldest first; each contributes its latest finished full, \
        resources_only or partial sync.\n\nExamples:\n  \
        c1z compact merged.c1z full.c1z partial-1.c1z partial-2.c1z\n  \
        c1z compact merged.c1z expanded-full.c1z partial.c1z --incremental\n  \
        c1z compact merged.c1z a.c1z b.c1z --no-expand --engine sqlite"
    )]
    Compact {
        /// The file to create (must not exist).
        output: PathBuf,
        /// The files to merge, oldest first.
        #[arg(required = true, num_args = 1..)]
        inputs: Vec<PathBuf>,
        /// Do not expand the result's grants.
        #[arg(long)]
        no_expand: bool,
        /// Expand only what the newer files changed, when the oldest is an expanded full
        /// sync and the newer ones only add grants and edges (else a full expansion, saying
        /// why).
        #[arg(long, conflicts_with = "no_expand")]
        incremental: bool,
        /// Engine of the new file.
        #[arg(long, value_parser = ["sqlite", "rocksdb"], default_value = "rocksdb")]
        engine: String,
    },
    /// Undo the expansion of a finished, expanded sync (baton's rollback-expansion): delete
    /// the grants expansion made, clear the sources it merged into direct grants, and write
    /// the sync alone into a new file; the input is never modified.
    #[command(after_help = "Examples:\n  \
        c1z rollback-expansion FILE --dry-run\n  \
        c1z rollback-expansion FILE -o unexpanded.c1z && c1z expand unexpanded.c1z -o again.c1z")]
    RollbackExpansion {
        /// The .c1z file (read only).
        file: PathBuf,
        /// The file to create (must not exist; required unless --dry-run).
        #[arg(
            short = 'o',
            long = "output",
            value_name = "OUT",
            required_unless_present = "dry_run"
        )]
        output: Option<PathBuf>,
        /// The sync to roll back (default: baton's default sync, the latest finished full).
        #[arg(long, value_name = "ID")]
        sync_id: Option<String>,
        /// Keep derived-looking grants that lack GrantImmutable (possibly the connector's).
        #[arg(long)]
        preserve_suspect_grants: bool,
        /// Only count what would change.
        #[arg(long)]
        dry_run: bool,
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
        /// Engine of the new file (default: the input's; rocksdb for baton's Pebble files).
        #[arg(long, value_parser = ["sqlite", "rocksdb"])]
        engine: Option<String>,
    },
    /// Content digests of a sync (SHA-256, independent of engine and row order; see
    /// docs/digest.md): equal digests mean equal content, without a diff.
    #[command(after_help = "Examples:\n  \
        c1z digest FILE\n  \
        c1z digest FILE -e group:eng:member\n  \
        c1z digest FILE --entitlements --json | jq -r '.entitlements | keys[]'")]
    Digest {
        /// The .c1z file.
        file: PathBuf,
        /// The sync (default: baton's default sync, the latest finished full).
        #[arg(long, value_name = "ID")]
        sync_id: Option<String>,
        /// Only this entitlement's grants (read through the by-entitlement index).
        #[arg(short = 'e', long, value_name = "ENT")]
        entitlement: Option<String>,
        /// Also every entitlement's digest.
        #[arg(long, conflicts_with = "entitlement")]
        entitlements: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Clone one sync (its run, token, stats, every row and asset) into a new file of any
    /// engine.
    #[command(after_help = "Example:\n  \
        c1z export-sync FILE --sync-id 3MSzRZG1ohUOGETUrnuDqs0RnZE -o latest.c1z --engine sqlite")]
    ExportSync {
        /// The source file.
        file: PathBuf,
        /// The sync to clone (`c1z syncs FILE` lists them).
        #[arg(long, value_name = "ID")]
        sync_id: String,
        /// The file to create (must not exist).
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: PathBuf,
        /// Engine of the new file (default: the input's; rocksdb for baton's Pebble files).
        #[arg(long, value_parser = ["sqlite", "rocksdb"])]
        engine: Option<String>,
    },
    /// Delete old syncs by baton's retention policy (keep the newest N full syncs, the
    /// partial syncs newer than the oldest kept one, and the last diff pair), reclaim the
    /// space, and save the file in place (atomically).
    #[command(after_help = "Examples:\n  \
        c1z cleanup FILE --keep 2 --dry-run\n  \
        c1z cleanup FILE --keep 1")]
    Cleanup {
        /// The .c1z file (rewritten in place; baton's Pebble files must be converted first).
        file: PathBuf,
        /// Full syncs to keep (baton's default: 2).
        #[arg(long, default_value_t = 2, value_name = "N")]
        keep: usize,
        /// Skip reclaiming space (SQLite VACUUM, RocksDB compaction).
        #[arg(long)]
        no_compact: bool,
        /// Only list the syncs that would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the sync runs of a file, in creation order.
    #[command(after_help = "Examples:\n  \
        c1z syncs FILE\n  \
        c1z syncs FILE -o json | jq -r '.syncs[-1].id'")]
    Syncs {
        /// The .c1z file.
        file: PathBuf,
        /// Output format (default: table).
        #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT")]
        output: Option<Format>,
    },
    /// List the assets (icons, ...) of a sync: id, content type, size.
    #[command(after_help = "Examples:\n  \
        c1z assets FILE\n  \
        c1z asset get FILE asset:app-icon -o icon.png")]
    Assets {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Read one asset.
    Asset {
        #[command(subcommand)]
        command: AssetCommand,
    },
    /// Write a deterministic synthetic full sync into a new file: an organisation (users,
    /// groups, roles, apps, nested groups; --users ...), an expansion shape (--shape), or
    /// a connector-shaped fixture of exact counts (--resource-types ... --grants).
    #[command(
        group(
            clap::ArgGroup::new("organisation")
                .multiple(true)
                .args(["users", "groups", "roles", "apps", "memberships", "nested", "shape"])
        ),
        group(
            clap::ArgGroup::new("fixture")
                .multiple(true)
                .args([
                    "resource_types",
                    "resources",
                    "entitlements",
                    "principals",
                    "grants",
                    "expandable_fraction",
                ])
                .requires_all([
                    "resource_types",
                    "resources",
                    "entitlements",
                    "principals",
                    "grants",
                ])
                .conflicts_with("organisation")
        ),
        after_help = "Fixture mode (all five counts together; not with the organisation flags):\n  \
            --principals are the users; --resources the non-user resources, spread\n  \
            round-robin over the non-user types (group, role, app, then generic ones);\n  \
            --entitlements spread round-robin over those resources (group: member, admin,\n  \
            owner; role: assigned, owner; app: read, admin, write, owner); --grants is the\n  \
            exact number of distinct direct grants (at most entitlements × principals),\n  \
            a few large entitlements and a long tail; --expandable-fraction of the group\n  \
            membership grants nest another group (GrantExpandable, no cycles).\n\n\
            Examples:\n  \
            c1z generate org.c1z --users 1000 --groups 50\n  \
            c1z generate f.c1z --engine rocksdb --resource-types 6 --resources 10000 \\\n    \
            --entitlements 15000 --principals 100000 --grants 1000000 --expandable-fraction 0.02"
    )]
    Generate {
        /// The file to create (must not exist).
        out: PathBuf,
        /// Seed of the pseudo-random choices (same seed, same content on either engine).
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
        /// Fixture: resource types, at least 2 (user, group, then role, app, then generic).
        #[arg(long, value_name = "N")]
        resource_types: Option<u32>,
        /// Fixture: non-user resources, spread over the non-user types.
        #[arg(long, value_name = "N")]
        resources: Option<u32>,
        /// Fixture: entitlements, spread over the non-user resources.
        #[arg(long, value_name = "N")]
        entitlements: Option<u32>,
        /// Fixture: principals (the users).
        #[arg(long, value_name = "N")]
        principals: Option<u32>,
        /// Fixture: distinct direct grants (at most entitlements × principals).
        #[arg(long, value_name = "N")]
        grants: Option<u64>,
        /// Fixture: fraction (0 to 1) of the group-membership grants whose principal is
        /// another group, with a GrantExpandable annotation [default: 0]
        #[arg(long, value_name = "F")]
        expandable_fraction: Option<f64>,
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
    /// Measure the read workloads on a file (any engine c1z reads, baton's included):
    /// open, count, stream every grant, gets by grant id, listings by entitlement and by
    /// principal; ops/s, p50/p99 latency, peak RSS.
    #[command(after_help = "Example:\n  c1z bench ../shared/baton-samples/large/g1m.pebble3.c1z")]
    Bench {
        /// The .c1z file.
        file: PathBuf,
        /// The sync to measure (default: the latest finished sync).
        #[arg(long)]
        sync_id: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check every hash the file carries; exit 1 naming the failing part.
    Verify {
        /// The .c1z file.
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also check one sync's references: grants of missing entitlements or to missing
        /// principals, entitlements on missing resources, resources with missing parents
        /// or of undeclared types, expansion edges from missing entitlements (exit 1 when
        /// any is found).
        #[arg(long)]
        deep: bool,
        /// The sync --deep checks (default: baton's default sync).
        #[arg(long, value_name = "ID", requires = "deep")]
        sync_id: Option<String>,
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
    /// Serve one file read-only over gRPC: baton's c1.reader.v2 services, the
    /// c1.connector.v2 List RPCs, grpc.health.v1 and server reflection. Runs until SIGINT
    /// or SIGTERM; prints the address on stderr once it listens.
    #[command(after_help = "Examples:\n  \
        c1z serve FILE\n  \
        c1z serve FILE --listen 127.0.0.1:0            # any free port (printed on stderr)\n  \
        grpcurl -plaintext 127.0.0.1:50051 list\n  \
        grpcurl -plaintext -d '{\"page_size\": 2}' 127.0.0.1:50051 \\\n      \
        c1.connector.v2.GrantsService/ListGrants")]
    Serve {
        /// The .c1z file (any engine: SQLite v1, RocksDB v3, baton's Pebble files); opened
        /// read-only, never modified.
        file: PathBuf,
        /// Address to listen on (port 0: any free port).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
        listen: std::net::SocketAddr,
        /// Allow a non-loopback --listen address: anyone who reaches it can read the whole
        /// file (no TLS, no authentication).
        #[arg(long)]
        allow_remote: bool,
    },
}

/// A side of `c1z compare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum CompareSide {
    /// Principals holding both entitlements.
    Both,
    /// Principals holding only A.
    OnlyA,
    /// Principals holding only B.
    OnlyB,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AssetCommand {
    /// Write an asset's bytes to a file (or to stdout when it is not a terminal).
    #[command(after_help = "Examples:\n  \
        c1z asset get FILE asset:app-icon -o icon.png\n  \
        c1z asset get FILE asset:app-icon | file -")]
    Get {
        /// The .c1z file.
        file: PathBuf,
        /// The asset id (`c1z assets FILE` lists them).
        id: String,
        /// Where to write the bytes (`-`: stdout, the default).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// The sync to read (default: baton's, the latest finished full sync).
        #[arg(long, value_name = "ID")]
        sync_id: Option<String>,
    },
}
