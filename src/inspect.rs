//! What `c1z info` and `c1z stats` compute: a file's identity and sync runs, and the
//! per-kind counts of one sync.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::file::C1zFile;
use crate::format::{self, Format, v3};
use crate::model::{SyncId, SyncRun, wall};
use crate::pb::c1::storage::v3::SyncType as StorageSyncType;
use crate::store::{Reader, ReaderExt};
use crate::sync::{SyncStats, compute_stats};

/// One sync run as `info` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SyncSummary {
    /// The run's id.
    pub id: String,
    /// Its type text.
    pub sync_type: String,
    /// Start time as stored (v1: local wall clock; v3: RFC 3339 UTC).
    pub started_at: String,
    /// End time, if finished.
    pub ended_at: Option<String>,
    /// Parent sync id, `""` if none.
    pub parent_sync_id: String,
}

impl From<&SyncRun> for SyncSummary {
    fn from(r: &SyncRun) -> Self {
        SyncSummary {
            id: r.id.to_string(),
            sync_type: r.sync_type.clone(),
            started_at: wall::format(&r.started_at),
            ended_at: r.ended_at.as_ref().map(wall::format),
            parent_sync_id: r
                .parent_sync_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        }
    }
}

/// A file's identity and sync runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    /// `v1` or `v3`.
    pub format: &'static str,
    /// Engine name (`sqlite`, `rocksdb`, `pebble3`, ...).
    pub engine: String,
    /// v3 payload encoding (`tar_zstd`, `tar`, `indexed_zstd`); `""` for v1.
    pub payload_encoding: String,
    /// File size in bytes.
    pub file_size: u64,
    /// v3 only: the manifest's engine schema version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_schema_version: Option<u32>,
    /// v3 only: manifest length in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_len: Option<u32>,
    /// Sync runs in creation order (v3: as the manifest lists them).
    pub sync_runs: Vec<SyncSummary>,
    /// v3 indexed payloads only: the frame table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<FrameInfo>>,
}

/// One frame of an indexed v3 payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FrameInfo {
    /// Payload file name.
    pub name: String,
    /// Absolute offset of the frame.
    pub offset: i64,
    /// Compressed size.
    pub compressed_size: i64,
    /// Decoded size.
    pub raw_size: i64,
}

fn storage_sync_type(v: i32) -> String {
    match StorageSyncType::try_from(v) {
        Ok(StorageSyncType::Full) => "full",
        Ok(StorageSyncType::Partial) => "partial",
        Ok(StorageSyncType::ResourcesOnly) => "resources_only",
        Ok(StorageSyncType::PartialUpserts) => "partial_upserts",
        Ok(StorageSyncType::PartialDeletions) => "partial_deletions",
        Ok(StorageSyncType::Unspecified) | Err(_) => "",
    }
    .to_owned()
}

fn rfc3339(t: Option<&prost_types::Timestamp>) -> Option<String> {
    let t = t?;
    let nanos = u32::try_from(t.nanos).ok()?;
    chrono::DateTime::from_timestamp(t.seconds, nanos)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// Identifies a file and lists its sync runs. v3 files are described from their manifest
/// alone, so baton's Pebble files are reported even though their payload cannot be read.
///
/// # Errors
/// As [`C1zFile::open_read_only`] and [`v3::read_header`]; [`Error::UnsupportedFormat`]
/// for an empty file.
pub fn inspect(path: &Path) -> Result<FileInfo> {
    let file_size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    match format::sniff_file(path)? {
        None => Err(Error::UnsupportedFormat {
            reason: "empty file".into(),
        }),
        Some(Format::V3) => {
            let h = v3::read_header(path)?;
            let frames = if h.payload_encoding_name() == "indexed_zstd" {
                let index = crate::format::v3_payload::read_index(path, &h)?;
                Some(
                    index
                        .entries
                        .iter()
                        .map(|e| FrameInfo {
                            name: e.name.clone(),
                            offset: e.frame_offset,
                            compressed_size: e.compressed_size,
                            raw_size: e.raw_size,
                        })
                        .collect(),
                )
            } else {
                None
            };
            Ok(FileInfo {
                frames,
                format: Format::V3.name(),
                engine: h.manifest.engine.clone(),
                payload_encoding: h.payload_encoding_name().to_owned(),
                file_size,
                engine_schema_version: Some(h.manifest.engine_schema_version),
                manifest_len: Some(h.manifest_len),
                sync_runs: h
                    .manifest
                    .sync_runs
                    .iter()
                    .map(|s| SyncSummary {
                        id: s.sync_id.clone(),
                        sync_type: storage_sync_type(s.r#type),
                        started_at: rfc3339(s.started_at.as_ref()).unwrap_or_default(),
                        ended_at: rfc3339(s.ended_at.as_ref()),
                        parent_sync_id: s.parent_sync_id.clone(),
                    })
                    .collect(),
            })
        }
        Some(Format::V1) => {
            let file = C1zFile::open_read_only(path)?;
            let meta = file.metadata();
            Ok(FileInfo {
                format: meta.format.name(),
                engine: meta.engine,
                payload_encoding: meta.payload_encoding,
                file_size,
                engine_schema_version: None,
                manifest_len: None,
                sync_runs: file
                    .store()
                    .sync_runs()?
                    .iter()
                    .map(SyncSummary::from)
                    .collect(),
                frames: None,
            })
        }
    }
}

/// Counts of one sync, per kind and per resource type, as `c1z stats` prints them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SyncCounts {
    /// The sync counted.
    pub sync_id: String,
    /// Its type.
    pub sync_type: String,
    /// Whether it has ended.
    pub finished: bool,
    /// Resource types.
    pub resource_types: u64,
    /// Resources.
    pub resources: u64,
    /// Entitlements.
    pub entitlements: u64,
    /// Grants.
    pub grants: u64,
    /// Assets.
    pub assets: u64,
    /// Resources per resource type.
    pub resources_by_resource_type: BTreeMap<String, u64>,
    /// Entitlements per resource type.
    pub entitlements_by_resource_type: BTreeMap<String, u64>,
    /// Grants per resource type of the entitlement's resource.
    pub grants_by_resource_type: BTreeMap<String, u64>,
}

/// Which sync `stats` counts when none is named, and whether it fell back to an
/// unfinished one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChosenSync {
    /// The run.
    pub run: SyncRun,
    /// True when no run has finished and the most recent unfinished one was taken.
    pub unfinished_fallback: bool,
}

/// The named sync, else the latest finished sync of any type, else the most recently
/// started one.
///
/// # Errors
/// [`Error::NotFound`] if `explicit` names no run or the store has no runs at all.
pub fn choose_sync<R: Reader + ?Sized>(store: &R, explicit: Option<&SyncId>) -> Result<ChosenSync> {
    if let Some(id) = explicit {
        return Ok(ChosenSync {
            run: store.require_sync_run(id)?,
            unfinished_fallback: false,
        });
    }
    if let Some(run) = store.latest_finished_sync(None)? {
        return Ok(ChosenSync {
            run,
            unfinished_fallback: false,
        });
    }
    store
        .latest_unfinished_sync(None, None)?
        .map(|run| ChosenSync {
            run,
            unfinished_fallback: true,
        })
        .ok_or_else(|| Error::not_found("sync run", "(the file has no sync runs)"))
}

/// The stats of `run` as `c1z stats` shows them: the stats stored with the run where baton
/// would reuse them (one row read, however large the sync), else (or with `recount`)
/// counted from the rows. The flag says which.
///
/// # Errors
/// Engine errors.
pub fn sync_stats<R: Reader + ?Sized>(
    store: &R,
    run: &SyncRun,
    recount: bool,
) -> Result<(SyncStats, bool)> {
    if !recount && let Some(cached) = crate::sync::stats::cached_stats(run) {
        return Ok((cached, true));
    }
    Ok((compute_stats(store, run)?, false))
}

/// The counts of `run` from its stats.
#[must_use]
pub fn counts_of(run: &SyncRun, stats: &SyncStats) -> SyncCounts {
    let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
    let map =
        |m: &BTreeMap<String, i64>| m.iter().map(|(k, v)| (k.clone(), unsigned(*v))).collect();
    SyncCounts {
        sync_id: run.id.to_string(),
        sync_type: run.sync_type.clone(),
        finished: run.is_finished(),
        resource_types: unsigned(stats.resource_types),
        resources: unsigned(stats.resources),
        entitlements: unsigned(stats.entitlements),
        grants: unsigned(stats.grants),
        assets: unsigned(stats.assets),
        resources_by_resource_type: map(&stats.resources_by_resource_type),
        entitlements_by_resource_type: map(&stats.entitlements_by_resource_type),
        grants_by_resource_type: map(&stats.grants_by_resource_type),
    }
}

/// `google.protobuf.Timestamp` of a stored wall clock, taken as UTC (as baton's readers do).
fn timestamp(t: &chrono::NaiveDateTime) -> prost_types::Timestamp {
    let utc = t.and_utc();
    prost_types::Timestamp {
        seconds: utc.timestamp(),
        nanos: i32::try_from(utc.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// `run` with `stats` as the `c1.reader.v2.SyncRun` message (what baton's `stats -o json`
/// prints, and the reader API returns).
#[must_use]
pub fn sync_run_message(
    run: &SyncRun,
    stats: Option<&SyncStats>,
) -> crate::pb::c1::reader::v2::SyncRun {
    use crate::pb::c1::reader::v2 as pb;
    let call_stats = |m: &BTreeMap<String, crate::sync::CallStat>| {
        m.iter()
            .map(|(k, c)| {
                (
                    k.clone(),
                    pb::CallStat {
                        count: c.count,
                        total_ms: c.total_ms,
                        max_ms: c.max_ms,
                        errors: c.errors,
                        timeouts: c.timeouts,
                    },
                )
            })
            .collect()
    };
    pb::SyncRun {
        id: run.id.to_string(),
        started_at: Some(timestamp(&run.started_at)),
        ended_at: run.ended_at.as_ref().map(timestamp),
        sync_token: run.sync_token.clone(),
        sync_type: run.sync_type.clone(),
        parent_sync_id: run
            .parent_sync_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        stats: stats.map(|s| pb::SyncStats {
            resource_types: s.resource_types,
            resources: s.resources,
            entitlements: s.entitlements,
            grants: s.grants,
            resources_by_resource_type: s.resources_by_resource_type.clone(),
            grants_by_resource_type: s.grants_by_resource_type.clone(),
            entitlements_by_resource_type: s.entitlements_by_resource_type.clone(),
            assets: s.assets,
            step_durations_ms: s.step_durations_ms.clone(),
            connector_call_stats: call_stats(&s.connector_call_stats),
            session_store_stats: call_stats(&s.session_store_stats),
        }),
    }
}

/// Counts the rows of `run` (from the rows themselves, never from cached stats).
///
/// # Errors
/// Engine errors.
pub fn count_sync<R: Reader + ?Sized>(store: &R, run: &SyncRun) -> Result<SyncCounts> {
    let counts = store.count_objects(&run.id)?;
    Ok(SyncCounts {
        sync_id: run.id.to_string(),
        sync_type: run.sync_type.clone(),
        finished: run.is_finished(),
        resource_types: counts.resource_type_ids.len() as u64,
        resources: counts.resources_by_type.values().sum(),
        entitlements: counts.entitlements_by_type.values().sum(),
        grants: counts.grants_by_type.values().sum(),
        assets: counts.assets,
        resources_by_resource_type: counts.resources_by_type,
        entitlements_by_resource_type: counts.entitlements_by_type,
        grants_by_resource_type: counts.grants_by_type,
    })
}

/// Checks every hash `path` carries (v1: the zstd checksums over the whole stream; v3: see
/// [`crate::format::v3_payload::verify`]) and lists what was checked.
///
/// # Errors
/// The first failure, naming the part ([`Error::Corrupt`] for a hash mismatch).
pub fn verify(path: &Path) -> Result<Vec<crate::format::v3_payload::CheckedPart>> {
    let limits = crate::format::v1::DecodeLimits::default();
    match format::sniff_file(path)? {
        None => Err(Error::UnsupportedFormat {
            reason: "empty file".into(),
        }),
        Some(Format::V1) => {
            let n = crate::format::v1::verify(path, limits)?;
            Ok(vec![crate::format::v3_payload::CheckedPart {
                part: format!("zstd stream ({n} bytes decoded)"),
                checks: "zstd checksum",
            }])
        }
        Some(Format::V3) => {
            let h = v3::read_header(path)?;
            let mut parts = crate::format::v3_payload::verify(path, &h, limits)?;
            if v3::PEBBLE_ENGINES.contains(&h.manifest.engine.as_str()) {
                // baton's tables carry their own block checksums: read every block.
                let file = crate::C1zFile::open_read_only(path)?;
                if let crate::store::AnyStore::Pebble(store) = file.store() {
                    let (tables, blocks, keys) = store.verify_tables()?;
                    parts.push(crate::format::v3_payload::CheckedPart {
                        part: format!(
                            "pebble database ({tables} tables, {blocks} data blocks, {keys} live keys)"
                        ),
                        checks: "table footers, block checksums and decoding, key order",
                    });
                }
            }
            Ok(parts)
        }
    }
}
