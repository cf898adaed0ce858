//! baton's retention policy: keep the newest N full syncs, the partial syncs newer than
//! the oldest kept full, and the last diff pair.

use crate::error::Result;
use crate::model::{SyncId, SyncRun, SyncType};
use crate::store::{ReaderExt, Writer};

/// Retention settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Full syncs to keep, counting an open sync (baton's default: 2).
    pub keep_full: usize,
    /// Whether to reclaim space afterwards (SQLite `VACUUM`).
    pub compact: bool,
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy {
            keep_full: 2,
            compact: true,
        }
    }
}

enum Bucket {
    Full,
    Partial,
    Diff,
}

fn bucket(run: &SyncRun) -> Bucket {
    match run.kind() {
        Some(SyncType::Partial | SyncType::ResourcesOnly) => Bucket::Partial,
        Some(SyncType::PartialUpserts | SyncType::PartialDeletions) => Bucket::Diff,
        // Unknown types count as full, as in baton.
        Some(SyncType::Full) | None => Bucket::Full,
    }
}

/// The runs the policy deletes, given every run in creation order and the open run being
/// written (if any), exactly as baton's `SelectSyncsToDelete`.
#[must_use]
pub fn select_syncs_to_delete(
    runs: &[SyncRun],
    keep_full: usize,
    current: Option<&SyncId>,
) -> Vec<SyncId> {
    let open = current.is_some();
    let limit = if open && keep_full > 0 {
        keep_full - 1
    } else {
        keep_full
    };
    let candidates = runs
        .iter()
        .filter(|r| r.is_finished() && Some(&r.id) != current);
    let (mut fulls, mut partials, mut diffs) = (Vec::new(), Vec::new(), Vec::new());
    for r in candidates {
        match bucket(r) {
            Bucket::Full => fulls.push(r),
            Bucket::Partial => partials.push(r),
            Bucket::Diff => diffs.push(r),
        }
    }
    let mut delete = Vec::new();
    if fulls.len() > limit {
        let n = fulls.len() - limit;
        delete.extend(fulls[..n].iter().map(|r| r.id.clone()));
        let cutoff_index = if open { n.checked_sub(1) } else { Some(n) };
        if let Some(cutoff) = cutoff_index.and_then(|i| fulls.get(i)) {
            delete.extend(
                partials
                    .iter()
                    .filter(|p| p.ended_at.is_some_and(|e| e < cutoff.started_at))
                    .map(|p| p.id.clone()),
            );
        }
    }
    if diffs.len() > 2
        && let Some(last) = diffs.last()
    {
        let keep_linked = last.linked_sync_id.clone();
        delete.extend(
            diffs
                .iter()
                .filter(|d| d.id != last.id && Some(&d.id) != keep_linked.as_ref())
                .map(|d| d.id.clone()),
        );
    }
    delete
}

/// Applies the policy: deletes the selected runs with all their rows, then compacts.
/// Returns the deleted ids.
///
/// # Errors
/// [`crate::Error::ReadOnly`]; engine errors.
pub fn cleanup<W: Writer + ?Sized>(
    store: &W,
    policy: CleanupPolicy,
    current: Option<&SyncId>,
) -> Result<Vec<SyncId>> {
    let runs = store.sync_runs()?;
    let doomed = select_syncs_to_delete(&runs, policy.keep_full, current);
    for id in &doomed {
        store.delete_sync_run(id)?;
    }
    if policy.compact {
        store.compact()?;
    }
    Ok(doomed)
}
