//! Per-sync stats, computed from row counts and cached in the sync run as baton's JSON
//! (Go `encoding/json` of `c1.reader.v2.SyncStats`: snake_case keys, every field
//! `omitempty`, map keys sorted).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::{SyncRun, SyncType};
use crate::store::Reader;

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Stats of one sync run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncStats {
    /// Number of resource types.
    #[serde(skip_serializing_if = "is_zero")]
    pub resource_types: i64,
    /// Number of resources of known types.
    #[serde(skip_serializing_if = "is_zero")]
    pub resources: i64,
    /// Number of entitlements (absent for `resources_only`).
    #[serde(skip_serializing_if = "is_zero")]
    pub entitlements: i64,
    /// Number of grants (absent for `resources_only`).
    #[serde(skip_serializing_if = "is_zero")]
    pub grants: i64,
    /// Resources per resource type (every type of the sync, zero included).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub resources_by_resource_type: BTreeMap<String, i64>,
    /// Grants per resource type of the entitlement's resource.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub grants_by_resource_type: BTreeMap<String, i64>,
    /// Entitlements per resource type.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub entitlements_by_resource_type: BTreeMap<String, i64>,
    /// Number of assets.
    #[serde(skip_serializing_if = "is_zero")]
    pub assets: i64,
    /// Sync step durations from the checkpoint token.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub step_durations_ms: BTreeMap<String, i64>,
    /// Connector call stats from the checkpoint token.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub connector_call_stats: BTreeMap<String, CallStat>,
    /// Session store stats from the checkpoint token.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub session_store_stats: BTreeMap<String, CallStat>,
}

/// Call counters (`c1.reader.v2.CallStat`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallStat {
    /// Calls.
    #[serde(skip_serializing_if = "is_zero")]
    pub count: i64,
    /// Total time.
    #[serde(skip_serializing_if = "is_zero")]
    pub total_ms: i64,
    /// Longest call.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_ms: i64,
    /// Failed calls.
    #[serde(skip_serializing_if = "is_zero")]
    pub errors: i64,
    /// Timed-out calls.
    #[serde(skip_serializing_if = "is_zero")]
    pub timeouts: i64,
}

impl SyncStats {
    /// baton's JSON text.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Parses stored stats; `None` for JSON baton would not reuse (unparseable, or no
    /// resource types).
    #[must_use]
    pub fn from_cached(json: &str) -> Option<Self> {
        serde_json::from_str::<SyncStats>(json)
            .ok()
            .filter(|s| s.resource_types > 0)
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn lift<T: serde::de::DeserializeOwned + Default>(
    token: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> T {
    token
        .get(key)
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// Computes a run's stats from its rows, as baton does at the end of a sync.
///
/// # Errors
/// Engine errors.
pub fn compute_stats<R: Reader + ?Sized>(store: &R, run: &SyncRun) -> Result<SyncStats> {
    Ok(stats_of_counts(&store.count_objects(&run.id)?, run))
}

/// A run's stats from counts of its rows (what [`compute_stats`] reads from the store).
pub(crate) fn stats_of_counts(counts: &crate::store::ObjectCounts, run: &SyncRun) -> SyncStats {
    let mut stats = SyncStats {
        resource_types: count(counts.resource_type_ids.len() as u64),
        ..Default::default()
    };
    for rt in &counts.resource_type_ids {
        let n = counts.resources_by_type.get(rt).copied().unwrap_or(0);
        stats
            .resources_by_resource_type
            .insert(rt.clone(), count(n));
    }
    stats.resources = stats.resources_by_resource_type.values().sum();
    if run.kind() != Some(SyncType::ResourcesOnly) {
        stats.entitlements_by_resource_type = counts
            .entitlements_by_type
            .iter()
            .map(|(k, v)| (k.clone(), count(*v)))
            .collect();
        stats.entitlements = stats.entitlements_by_resource_type.values().sum();
        stats.grants_by_resource_type = counts
            .grants_by_type
            .iter()
            .map(|(k, v)| (k.clone(), count(*v)))
            .collect();
        stats.grants = stats.grants_by_resource_type.values().sum();
    }
    stats.assets = count(counts.assets);
    lift_token_stats(&mut stats, &run.sync_token);
    stats
}

/// Fills the timing maps a stats record lacks from the checkpoint token, where baton's
/// syncer keeps them (baton's Pebble stats records never carry them; its readers show the
/// token's).
pub(crate) fn lift_token_stats(stats: &mut SyncStats, sync_token: &str) {
    if let Ok(serde_json::Value::Object(token)) = serde_json::from_str(sync_token) {
        if stats.step_durations_ms.is_empty() {
            stats.step_durations_ms = lift(&token, "step_durations_ms");
        }
        if stats.connector_call_stats.is_empty() {
            stats.connector_call_stats = lift(&token, "connector_call_stats");
        }
        if stats.session_store_stats.is_empty() {
            stats.session_store_stats = lift(&token, "session_store_stats");
        }
    }
}

/// The stats stored with `run` where baton would reuse them, with the token's timings.
pub(crate) fn cached_stats(run: &SyncRun) -> Option<SyncStats> {
    let mut stats = run.stats.as_deref().and_then(SyncStats::from_cached)?;
    lift_token_stats(&mut stats, &run.sync_token);
    Some(stats)
}

/// A run's stats: the cached JSON when baton would reuse it, else computed.
///
/// # Errors
/// Engine errors.
pub fn stats_for<R: Reader + ?Sized>(store: &R, run: &SyncRun) -> Result<SyncStats> {
    if let Some(cached) = cached_stats(run) {
        return Ok(cached);
    }
    compute_stats(store, run)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn json_matches_baton_shape() {
        let mut s = SyncStats {
            resource_types: 5,
            resources: 79,
            ..Default::default()
        };
        for (k, v) in [
            ("group", 31),
            ("project", 25),
            ("role", 10),
            ("scoped_role", 3),
            ("user", 10),
        ] {
            s.resources_by_resource_type.insert(k.into(), v);
        }
        assert_eq!(
            s.to_json(),
            r#"{"resource_types":5,"resources":79,"resources_by_resource_type":{"group":31,"project":25,"role":10,"scoped_role":3,"user":10}}"#
        );
        assert_eq!(SyncStats::from_cached(&s.to_json()), Some(s));
        assert_eq!(SyncStats::from_cached("{}"), None);
        assert_eq!(SyncStats::from_cached("not json"), None);
    }
}
