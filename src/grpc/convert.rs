//! Store rows as the messages the services return, and pages cut to the response limit.

use std::sync::atomic::{AtomicBool, Ordering};

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

/// Rows fetched from the store per call while a page is built: small enough that a page
/// cut to [`MAX_RESPONSE_BYTES`] re-reads at most this many rows, and that the engines'
/// row buffers never grow (the Pebble reader reserves 1,025 rows).
const CHUNK: u32 = 1_000;

/// Bytes a row adds to a response: its length-delimited field.
fn framed_len<M: Message>(m: &M) -> usize {
    let len = m.encoded_len();
    1 + prost::length_delimiter_len(len) + len
}

/// One page of `size` rows after `token`, fetched with `fetch(size, token, rows)` (which
/// appends at most `size` rows and returns the next token) in chunks of [`CHUNK`] rows,
/// each chunk's token continuing the listing exactly; cut so the encoded rows fit
/// [`MAX_RESPONSE_BYTES`]: the chunk that does not fit is fetched again with the rows that
/// do, so `next_page_token` continues right after the last row sent. The first row is
/// always sent, however large. Rows are appended in place (a grant is a large value).
///
/// Once `cancelled` is set (the client went away) the page ends after the chunk being
/// read: still a valid page, but nobody waits for the rest of it.
pub(super) fn fitted<M: Message>(
    size: u32,
    token: &str,
    cancelled: &AtomicBool,
    fetch: impl Fn(u32, &str, &mut Vec<M>) -> Result<String>,
) -> Result<Rows<M>> {
    // One chunk's room first; the whole page's once a listing proves long (grants are
    // large values: growing the vector would copy them again).
    let mut rows = Vec::with_capacity(size.min(CHUNK) as usize);
    let (mut bytes, mut left) = (0usize, size);
    let mut token = token.to_owned();
    loop {
        let start = rows.len();
        let next = fetch(left.min(CHUNK), &token, &mut rows)?;
        let mut fit = rows.len();
        for (i, m) in rows.iter().enumerate().skip(start) {
            let len = framed_len(m);
            if bytes + len > MAX_RESPONSE_BYTES && i > 0 {
                fit = i;
                break;
            }
            bytes += len;
        }
        if fit < rows.len() {
            rows.truncate(start);
            if fit == start {
                // The page ends before this chunk: the token before it continues there.
                return Ok((rows, token));
            }
            let n = u32::try_from(fit - start).unwrap_or(u32::MAX);
            let next = fetch(n, &token, &mut rows)?;
            return Ok((rows, next));
        }
        let n = u32::try_from(rows.len() - start).unwrap_or(u32::MAX);
        left = left.saturating_sub(n);
        if next.is_empty() || left == 0 || n == 0 || cancelled.load(Ordering::Relaxed) {
            return Ok((rows, next));
        }
        if start == 0 {
            rows.reserve(left.min(crate::store::MAX_PAGE_SIZE) as usize);
        }
        token = next;
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

    /// The flag of a call whose client is still there.
    static GOING: AtomicBool = AtomicBool::new(false);

    /// A listing of `n` rows of `row` bytes each, its tokens the row offsets.
    fn listing(
        n: usize,
        row: usize,
        calls: &std::cell::RefCell<Vec<(u32, String)>>,
    ) -> impl Fn(u32, &str, &mut Vec<ResourceType>) -> Result<String> + '_ {
        move |size, token, out| {
            calls.borrow_mut().push((size, token.to_owned()));
            let from: usize = if token.is_empty() {
                0
            } else {
                token.parse().unwrap_or(0)
            };
            let to = (from + size as usize).min(n);
            out.extend((from..to).map(|_| ResourceType {
                id: "x".repeat(row),
                ..Default::default()
            }));
            Ok(if to == n {
                String::new()
            } else {
                to.to_string()
            })
        }
    }

    #[test]
    fn an_oversized_page_is_fetched_again_with_the_rows_that_fit() {
        let calls = std::cell::RefCell::new(Vec::new());
        let (rows, next) =
            fitted(10, "4", &GOING, listing(20, 1 << 20, &calls)).unwrap_or_default();
        assert_eq!((rows.len(), next.as_str()), (3, "7"));
        assert_eq!(*calls.borrow(), [(10, "4".into()), (3, "4".into())]);
    }

    #[test]
    fn a_large_page_is_read_in_chunks_and_cut_at_a_chunk_boundary() {
        let calls = std::cell::RefCell::new(Vec::new());
        // Rows of 1.5 KiB: about 2,745 fit, so two whole chunks and part of the third,
        // which is fetched again with the rows that fit.
        let (rows, next) =
            fitted(10_000, "", &GOING, listing(5_000, 1_500, &calls)).unwrap_or_default();
        let fit = MAX_RESPONSE_BYTES
            / framed_len(&ResourceType {
                id: "x".repeat(1_500),
                ..Default::default()
            });
        assert_eq!(rows.len(), fit);
        assert_eq!(next, fit.to_string());
        let sizes: Vec<u32> = calls.borrow().iter().map(|c| c.0).collect();
        assert_eq!(sizes[..2], [1_000, 1_000]);
        // The whole listing, page by page: every row once.
        let (mut total, mut token) = (0, String::new());
        loop {
            let (rows, next) =
                fitted(10_000, &token, &GOING, listing(5_000, 1_500, &calls)).unwrap_or_default();
            total += rows.len();
            if next.is_empty() {
                break;
            }
            token = next;
        }
        assert_eq!(total, 5_000);
    }

    #[test]
    fn a_single_row_over_the_limit_is_sent_alone() {
        let calls = std::cell::RefCell::new(Vec::new());
        let (rows, next) = fitted(10, "", &GOING, listing(3, 5 << 20, &calls)).unwrap_or_default();
        assert_eq!((rows.len(), next.as_str()), (1, "1"));
    }

    #[test]
    fn a_page_that_fits_is_fetched_once() {
        let calls = std::cell::RefCell::new(Vec::new());
        let (rows, next) = fitted(5, "", &GOING, listing(5, 10, &calls)).unwrap_or_default();
        assert_eq!((rows.len(), next.as_str()), (5, ""));
        assert_eq!(calls.borrow().len(), 1);
    }

    #[test]
    fn a_cancelled_call_ends_its_page_after_the_chunk_being_read() {
        let calls = std::cell::RefCell::new(Vec::new());
        let gone = AtomicBool::new(true);
        let (rows, next) =
            fitted(10_000, "", &gone, listing(50_000, 10, &calls)).unwrap_or_default();
        // One chunk read, and its token continues the listing exactly.
        assert_eq!(calls.borrow().len(), 1);
        assert_eq!((rows.len(), next.as_str()), (CHUNK as usize, "1000"));
        // Not cancelled: the whole page, ten chunks.
        calls.borrow_mut().clear();
        let (rows, _) = fitted(10_000, "", &GOING, listing(50_000, 10, &calls)).unwrap_or_default();
        assert_eq!((rows.len(), calls.borrow().len()), (10_000, 10));
    }
}
