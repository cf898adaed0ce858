//! Rollback of expansion: a finished, expanded sync put back in its pre-expansion shape,
//! with baton's semantics (`../shared/spec/grant-expansion.md` §5), on any engine c1z
//! writes.
//!
//! Each grant of the sync is classified by its `sources` and its own entitlement id:
//! - no sources: a direct grant expansion never touched, kept as it is;
//! - sources, none keyed by its own entitlement: made by expansion, deleted (one without
//!   `GrantImmutable` is "suspect": possibly the connector's, deleted unless
//!   [`RollbackOptions::preserve_suspect`]);
//! - sources including its own entitlement: a direct grant expansion merged into; its
//!   sources are cleared.
//!
//! The expansion columns are not touched, so expanding again rebuilds the same graph. The
//! stats are dropped (recomputed on the next read) and the sync token is marked as needing
//! expansion, without the legacy inline graph.

use crate::codec;
use crate::error::{Error, Result};
use crate::model::{GrantRecord, SyncId};
use crate::store::{GrantQuery, GrantUpsertMode, Reader, ReaderExt, SyncSelector, Writer};

/// Options of [`rollback_expansion`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RollbackOptions {
    /// Keep derived-looking grants that lack `GrantImmutable` (baton's
    /// `--preserve-suspect-grants`).
    pub preserve_suspect: bool,
    /// Only count: write nothing.
    pub dry_run: bool,
}

/// What a rollback did (or, dry, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RollbackReport {
    /// Grants read.
    pub grants: u64,
    /// Grants without sources, left alone.
    pub untouched: u64,
    /// Derived grants deleted (suspect ones included when not preserved).
    pub deleted: u64,
    /// Of those, the ones without `GrantImmutable`.
    pub suspect_deleted: u64,
    /// Suspect grants kept because [`RollbackOptions::preserve_suspect`] was set.
    pub suspect_kept: u64,
    /// Direct grants whose sources were cleared.
    pub cleared: u64,
}

enum Verdict {
    Untouched,
    Delete { suspect: bool },
    Clear,
}

fn classify(g: &GrantRecord) -> Verdict {
    let Some(sources) = g.grant.sources.as_ref().filter(|s| !s.sources.is_empty()) else {
        return Verdict::Untouched;
    };
    let own = g.grant.entitlement.as_ref().map_or("", |e| e.id.as_str());
    if sources.sources.contains_key(own) {
        return Verdict::Clear;
    }
    let immutable = g
        .grant
        .annotations
        .iter()
        .any(|a| codec::any_is(a, codec::GRANT_IMMUTABLE));
    Verdict::Delete {
        suspect: !immutable,
    }
}

/// Grants rewritten per store call.
const PAGE: usize = 1_000;

/// The sync token after a rollback: a JSON object token gets `needs_expansion: true` and
/// loses the legacy inline `entitlement_graph`; anything else becomes `""` (baton's
/// default without a token rewrite).
fn rolled_back_token(token: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(token) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.remove("entitlement_graph");
            map.insert("needs_expansion".into(), serde_json::Value::Bool(true));
            serde_json::Value::Object(map).to_string()
        }
        _ => String::new(),
    }
}

/// The sync run, if it can be rolled back: finished, and marked expanded (`supports_diff`).
///
/// # Errors
/// [`Error::NotFound`] for no such sync; [`Error::InvalidArgument`] for one that cannot be
/// rolled back.
pub fn check_rollback(store: &dyn Reader, sync: &SyncId) -> Result<crate::model::SyncRun> {
    let run = store.require_sync_run(sync)?;
    if run.ended_at.is_none() {
        return Err(Error::InvalidArgument(format!(
            "sync {sync} has not finished; only a finished, expanded sync can be rolled back"
        )));
    }
    if !run.supports_diff {
        return Err(Error::InvalidArgument(format!(
            "sync {sync} is not marked expanded (supports_diff is 0); there is no expansion to roll back"
        )));
    }
    Ok(run)
}

/// Counts what [`rollback_expansion`] would do, writing nothing.
///
/// # Errors
/// As [`rollback_expansion`].
pub fn plan_rollback(
    store: &dyn Reader,
    sync: &SyncId,
    opts: &RollbackOptions,
) -> Result<RollbackReport> {
    check_rollback(store, sync)?;
    let mut report = RollbackReport::default();
    for g in store.stream_grants(GrantQuery {
        sync: SyncSelector::Id(sync.clone()),
        ..GrantQuery::default()
    }) {
        tally(&mut report, &classify(&g?), opts);
    }
    Ok(report)
}

/// Counts one verdict; whether the grant is deleted.
fn tally(report: &mut RollbackReport, verdict: &Verdict, opts: &RollbackOptions) -> bool {
    report.grants += 1;
    match verdict {
        Verdict::Untouched => report.untouched += 1,
        Verdict::Clear => report.cleared += 1,
        Verdict::Delete { suspect: true } if opts.preserve_suspect => report.suspect_kept += 1,
        Verdict::Delete { suspect } => {
            report.deleted += 1;
            report.suspect_deleted += u64::from(*suspect);
            return true;
        }
    }
    false
}

/// Rolls back the expansion of sync `sync` in `store` (see the module docs); with
/// [`RollbackOptions::dry_run`], only counts.
///
/// # Errors
/// [`Error::InvalidArgument`] for an unfinished sync or one not marked expanded
/// (`supports_diff`); [`Error::ReadOnly`]-style engine errors for a read-only store; store
/// errors.
pub fn rollback_expansion(
    store: &dyn Writer,
    sync: &SyncId,
    opts: &RollbackOptions,
) -> Result<RollbackReport> {
    if opts.dry_run {
        return plan_rollback(store, sync, opts);
    }
    let mut run = check_rollback(store, sync)?;
    // Decide first, then write: a listing is not stable across writes to the rows it has
    // yet to return. Held meanwhile: the ids to delete and the grants to clear.
    let mut report = RollbackReport::default();
    let mut deletes: Vec<String> = Vec::new();
    let mut clears: Vec<GrantRecord> = Vec::new();
    for g in store.stream_grants(GrantQuery {
        sync: SyncSelector::Id(sync.clone()),
        ..GrantQuery::default()
    }) {
        let mut g = g?;
        let verdict = classify(&g);
        if tally(&mut report, &verdict, opts) {
            deletes.push(g.grant.id);
        } else if matches!(verdict, Verdict::Clear) {
            g.grant.sources = None;
            clears.push(g);
        }
    }
    for id in &deletes {
        store.delete_grant(sync, id)?;
    }
    for chunk in clears.chunks(PAGE) {
        store.put_grants(sync, chunk, GrantUpsertMode::PreserveExpansion)?;
    }
    run.sync_token = rolled_back_token(&run.sync_token);
    run.stats = None;
    store.put_sync_run(&run)?;
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_marked_as_needing_expansion_without_the_inline_graph() {
        assert_eq!(rolled_back_token(""), "");
        assert_eq!(rolled_back_token("not json"), "");
        assert_eq!(rolled_back_token("[1]"), "");
        let t: serde_json::Value = serde_json::from_str(&rolled_back_token(
            r#"{"current_action_id":2,"needs_expansion":false,"entitlement_graph":{"nodes":{}},"version":1}"#,
        ))
        .unwrap();
        assert_eq!(
            t,
            serde_json::json!({"current_action_id": 2, "needs_expansion": true, "version": 1})
        );
    }
}
