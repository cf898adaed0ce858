//! Store rows as the messages the services return, and pages cut to the response limit.

use prost::Message;

use crate::codec::{GRANT_EXPANDABLE, to_any};
use crate::error::Result;
use crate::model::{GrantRecord, SyncRun};
use crate::pb::c1::connector::v2::Grant;
use crate::pb::c1::reader::v2 as pb;
use crate::sync::SyncStats;

/// Largest encoded list a response carries: 4 MiB (the default message limit of gRPC
/// clients, grpcurl and tonic included) less room for the page token and framing. A page
/// whose rows would exceed it is cut short; a single row larger than this is still sent
/// alone.
pub const MAX_RESPONSE_BYTES: usize = (4 << 20) - (64 << 10);

/// Rows of one page and the token of the next (`""` at the end).
pub(super) type Rows<M> = (Vec<M>, String);

/// One page of `size` rows after `token`, from `fetch(size, token)`, cut so the encoded rows
/// fit [`MAX_RESPONSE_BYTES`]: a page that does not fit is fetched again with the size that
/// does, so its `next_page_token` continues right after the last row sent.
pub(super) fn fitted<M: Message>(
    size: u32,
    token: &str,
    fetch: impl Fn(u32, &str) -> Result<Rows<M>>,
) -> Result<Rows<M>> {
    let (rows, next) = fetch(size, token)?;
    let mut total = 0usize;
    let fit = rows.iter().position(|m| {
        let len = m.encoded_len();
        total += 1 + prost::length_delimiter_len(len) + len;
        total > MAX_RESPONSE_BYTES
    });
    match fit {
        None => Ok((rows, next)),
        Some(n) => {
            let n = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
            fetch(n, token)
        }
    }
}

/// A stored grant as the reader returns it; with `reattach_expansion` (baton's Pebble
/// reader) the record's expansion edge is appended as a `GrantExpandable` annotation.
pub(super) fn grant(record: GrantRecord, reattach_expansion: bool) -> Grant {
    let mut grant = record.grant;
    if reattach_expansion && let Some(x) = &record.expansion {
        grant.annotations.push(to_any(GRANT_EXPANDABLE, x));
    }
    grant
}

/// A wall-clock time as stored (taken as UTC, as baton's readers take it).
pub(super) fn timestamp(t: &chrono::NaiveDateTime) -> prost_types::Timestamp {
    let utc = t.and_utc();
    prost_types::Timestamp {
        seconds: utc.timestamp(),
        nanos: i32::try_from(utc.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A sync run as `c1.reader.v2.SyncRun`, with its cached stats if it has any.
pub(super) fn sync_run(run: SyncRun) -> pb::SyncRun {
    pb::SyncRun {
        id: run.id.as_str().to_owned(),
        started_at: Some(timestamp(&run.started_at)),
        ended_at: run.ended_at.as_ref().map(timestamp),
        sync_token: run.sync_token,
        sync_type: run.sync_type,
        parent_sync_id: run
            .parent_sync_id
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        stats: run
            .stats
            .as_deref()
            .and_then(|json| serde_json::from_str::<SyncStats>(json).ok())
            .map(sync_stats),
    }
}

fn call_stats(
    m: std::collections::BTreeMap<String, crate::sync::CallStat>,
) -> std::collections::BTreeMap<String, pb::CallStat> {
    m.into_iter()
        .map(|(k, c)| {
            (
                k,
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
}

fn sync_stats(s: SyncStats) -> pb::SyncStats {
    pb::SyncStats {
        resource_types: s.resource_types,
        resources: s.resources,
        entitlements: s.entitlements,
        grants: s.grants,
        resources_by_resource_type: s.resources_by_resource_type,
        grants_by_resource_type: s.grants_by_resource_type,
        entitlements_by_resource_type: s.entitlements_by_resource_type,
        assets: s.assets,
        step_durations_ms: s.step_durations_ms,
        connector_call_stats: call_stats(s.connector_call_stats),
        session_store_stats: call_stats(s.session_store_stats),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::c1::connector::v2::ResourceType;

    #[test]
    fn an_oversized_page_is_fetched_again_with_the_rows_that_fit() {
        let big = ResourceType {
            id: "x".repeat(1 << 20),
            ..Default::default()
        };
        let calls = std::cell::RefCell::new(Vec::new());
        let (rows, next) = fitted(10, "t0", |size, token| {
            calls.borrow_mut().push((size, token.to_owned()));
            Ok((vec![big.clone(); size as usize], format!("after-{size}")))
        })
        .unwrap_or_default();
        assert_eq!(rows.len(), 3);
        assert_eq!(next, "after-3");
        assert_eq!(*calls.borrow(), [(10, "t0".into()), (3, "t0".into())]);
    }

    #[test]
    fn a_page_that_fits_is_fetched_once() {
        let (rows, next) = fitted(5, "", |size, _| {
            Ok((vec![ResourceType::default(); size as usize], String::new()))
        })
        .unwrap_or_default();
        assert_eq!((rows.len(), next.as_str()), (5, ""));
    }
}
