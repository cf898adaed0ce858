//! Value encodings of the RocksDB keyspace: a version byte, the row's `discovered_at`, the
//! columns the SQLite engine keeps beside the blob, and the protobuf blob itself (the same
//! canonical bytes the SQLite engine stores, so the engines convert losslessly).
//!
//! Integers are big-endian; strings and byte strings are `u32 length ++ bytes`; times are
//! `i64 seconds ++ u32 nanoseconds` of the stored wall clock (read as if UTC).

use chrono::NaiveDateTime;

use crate::error::{Error, Result};
use crate::model::{IngestInvariant, SyncId, SyncRun};

/// Version byte of every value this build writes, except derived grant rows.
pub(super) const VALUE_VERSION: u8 = 1;
/// Version byte of a grant row made by expansion (keyspace version 3): `discovered_at`,
/// the entitlement snapshot's version (u32), the principal (bytes), then the encoded
/// sources entries. The grant is `{snapshot, principal, canonical id, [GrantImmutable],
/// sources}` (see `codec::encode_derived_grant`).
pub(super) const DERIVED_GRANT_VERSION: u8 = 2;

/// Appends fields to a value.
#[derive(Default)]
pub(super) struct ValueWriter(pub(super) Vec<u8>);

impl ValueWriter {
    pub(super) fn new() -> Self {
        ValueWriter(vec![VALUE_VERSION])
    }

    /// A writer whose buffer already holds `capacity` bytes (no regrowth for known sizes).
    pub(super) fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(1));
        buf.push(VALUE_VERSION);
        ValueWriter(buf)
    }

    /// A writer appending to `buf` (cleared first) under version byte `version`.
    pub(super) fn into_buffer(mut buf: Vec<u8>, version: u8) -> Self {
        buf.clear();
        buf.push(version);
        ValueWriter(buf)
    }

    pub(super) fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(super) fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    pub(super) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(&v[..len as usize]);
        self
    }

    pub(super) fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    pub(super) fn time(&mut self, t: &NaiveDateTime) -> &mut Self {
        let utc = t.and_utc();
        self.0.extend_from_slice(&utc.timestamp().to_be_bytes());
        self.0
            .extend_from_slice(&utc.timestamp_subsec_nanos().to_be_bytes());
        self
    }

    pub(super) fn opt_time(&mut self, t: Option<&NaiveDateTime>) -> &mut Self {
        match t {
            Some(t) => self.u8(1).time(t),
            None => self.u8(0),
        }
    }

    pub(super) fn opt_bytes(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            Some(b) => self.u8(1).bytes(b),
            None => self.u8(0),
        }
    }

    /// The rest of the value: raw bytes with no length.
    pub(super) fn tail(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }

    pub(super) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// Reads fields of a value written by [`ValueWriter`].
pub(super) struct ValueReader<'a> {
    rest: &'a [u8],
}

fn bad(what: &str) -> Error {
    Error::corrupt("rocksdb value", format!("truncated or malformed {what}"))
}

impl<'a> ValueReader<'a> {
    /// A reader of a value under version byte `version`.
    pub(super) fn with_version(value: &'a [u8], version: u8) -> Result<Self> {
        match value.split_first() {
            Some((v, rest)) if *v == version => Ok(ValueReader { rest }),
            Some((v, _)) => Err(Error::corrupt(
                "rocksdb value",
                format!("unknown value version {v}"),
            )),
            None => Err(bad("value")),
        }
    }

    pub(super) fn u32(&mut self) -> Result<u32> {
        let b = self.take(4, "u32")?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn new(value: &'a [u8]) -> Result<Self> {
        match value.split_first() {
            Some((&VALUE_VERSION, rest)) => Ok(ValueReader { rest }),
            Some((v, _)) => Err(Error::corrupt(
                "rocksdb value",
                format!("unknown value version {v}"),
            )),
            None => Err(bad("value")),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(bad(what));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub(super) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1, "byte")?[0])
    }

    pub(super) fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.take(4, "length")?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        self.take(len, "bytes")
    }

    pub(super) fn string(&mut self) -> Result<String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| bad("utf-8 text"))
    }

    pub(super) fn time(&mut self) -> Result<NaiveDateTime> {
        let s = self.take(8, "time")?;
        let n = self.take(4, "time")?;
        let secs = i64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
        let nanos = u32::from_be_bytes([n[0], n[1], n[2], n[3]]);
        chrono::DateTime::from_timestamp(secs, nanos)
            .map(|t| t.naive_utc())
            .ok_or_else(|| bad("time"))
    }

    pub(super) fn opt_time(&mut self) -> Result<Option<NaiveDateTime>> {
        Ok(if self.u8()? == 1 {
            Some(self.time()?)
        } else {
            None
        })
    }

    pub(super) fn opt_bytes(&mut self) -> Result<Option<&'a [u8]>> {
        Ok(if self.u8()? == 1 {
            Some(self.bytes()?)
        } else {
            None
        })
    }

    pub(super) fn tail(self) -> &'a [u8] {
        self.rest
    }
}

/// Encodes a sync run.
pub(super) fn encode_sync_run(run: &SyncRun) -> Vec<u8> {
    let mut w = ValueWriter::new();
    w.str(run.id.as_str())
        .str(&run.sync_type)
        .time(&run.started_at)
        .opt_time(run.ended_at.as_ref())
        .str(&run.sync_token)
        .str(run.parent_sync_id.as_ref().map_or("", SyncId::as_str))
        .str(run.linked_sync_id.as_ref().map_or("", SyncId::as_str))
        .u8(u8::from(run.supports_diff))
        .opt_bytes(run.stats.as_deref().map(str::as_bytes))
        .str(&run.ingest_invariant.generation)
        .str(&run.ingest_invariant.coverage)
        .str(&run.ingest_invariant.mode);
    w.finish()
}

/// Decodes a sync run.
pub(super) fn decode_sync_run(value: &[u8]) -> Result<SyncRun> {
    let mut r = ValueReader::new(value)?;
    Ok(SyncRun {
        id: SyncId::new(r.string()?),
        sync_type: r.string()?,
        started_at: r.time()?,
        ended_at: r.opt_time()?,
        sync_token: r.string()?,
        parent_sync_id: SyncId::non_empty(r.string()?),
        linked_sync_id: SyncId::non_empty(r.string()?),
        supports_diff: r.u8()? != 0,
        stats: r
            .opt_bytes()?
            .map(|b| String::from_utf8_lossy(b).into_owned()),
        ingest_invariant: IngestInvariant {
            generation: r.string()?,
            coverage: r.string()?,
            mode: r.string()?,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::wall;

    #[test]
    fn sync_runs_round_trip() {
        let run = SyncRun {
            id: SyncId::generate(),
            sync_type: "weird_type".into(),
            started_at: wall::parse("2026-03-03 09:45:13.056791").unwrap(),
            ended_at: wall::parse("2026-03-03 09:45:14.000000001"),
            sync_token: "{\"x\":1}".into(),
            parent_sync_id: Some(SyncId::from("p")),
            linked_sync_id: None,
            supports_diff: true,
            stats: Some("{}".into()),
            ingest_invariant: IngestInvariant {
                generation: "1".into(),
                coverage: "[]".into(),
                mode: "connector".into(),
            },
        };
        assert_eq!(decode_sync_run(&encode_sync_run(&run)).unwrap(), run);
        let bytes = encode_sync_run(&run);
        for cut in 0..bytes.len() {
            assert!(decode_sync_run(&bytes[..cut]).is_err(), "cut {cut}");
        }
    }
}
