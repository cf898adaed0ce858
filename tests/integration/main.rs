//! c1z's one integration-test binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cloned_ref_to_slice_refs,
    clippy::type_complexity,
    missing_docs,
    unreachable_pub
)]

// Shared builders, fresh stores and the path of baton's sample files.
mod util;
// Every store behaviour, written once and run against each engine.
#[macro_use]
mod conformance;
// baton-sdk's own files: counts, bytes, migrations, checkpoint tokens.
mod fixtures;
// Damaged and hostile input: typed errors, no panic, input unchanged.
mod bad_input;
// Property tests: random objects survive write, save and reopen unchanged.
mod roundtrip;
// The `c1z` binary.
mod cli;
// The v3 envelope: RocksDB files, baton's Pebble files, hostile envelopes.
mod v3;
// Conversion between engines.
mod convert;
// SQLite databases held in memory, and their move to disk.
mod memory;
// One seeded random workload on every engine configuration against a reference model.
mod parity;
// baton's Pebble payloads: c1z's own MANIFEST reader against the spec's facts.
mod pebble;
// baton's Pebble files through c1z's Reader: objects equal to baton's JSON, indexes, pages.
mod pebble_store;
// The read commands of the `c1z` binary against baton's JSON of the same files.
mod cli_list;
// `access`, `who-can-access` and `compare`.
mod cli_access;
// Diffs between syncs and files, and baton's diff pair.
mod diff;
// The protobuf JSON text writer against prost-reflect's rendering.
mod json_text;
// `c1z serve` and `c1z::grpc` against real tonic clients.
mod grpc;
// The gRPC server against hostile clients: limits, bad tokens, crowds, vanishing clients.
mod grpc_hardening;
// Compaction by baton's rules, against a model and on baton's samples.
mod compact;
// Rollback of expansion, and its replay.
mod rollback;
// Content digests.
mod digest;
// `verify --deep`: dangling references.
mod consistency;
// The advisory writer lock: one writer, many readers, across processes.
mod concurrency;
// SIGKILL at random moments: the file is one complete save, and resuming completes it.
mod crash;
// A full disk (RLIMIT_FSIZE): a clear error, the previous file intact, no temp files.
mod disk_full;
// The hostile-file corpus and structure-aware mutations of valid files, every format.
mod corpus;
// `c1z generate`'s fixture mode: exact counts, one content per seed on every engine.
mod generate;
