//! Value encodings of the RocksDB format: every row value is a protobuf message of
//! `proto/c1z/rocksdb/v1/rows.proto` ([`rows`]), so a new field is a new tag and readers
//! skip tags they do not know. Byte-level description: `docs/format-rocksdb.md`.
//!
//! The rows every sync holds by the million (objects and grants) are encoded and decoded
//! here by hand, borrowing from the value instead of copying into prost structs; tests
//! check the bytes against prost's encoding of the same messages. The rare rows (sync
//! runs, assets, entitlement snapshots) go through prost.

use chrono::NaiveDateTime;
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use crate::error::{Error, Result};
use crate::model::{IngestInvariant, SyncId, SyncRun};

/// The messages of `proto/c1z/rocksdb/v1/rows.proto`.
/// Only tests build the hot rows' messages (the engine encodes those by hand).
#[allow(
    missing_docs,
    unreachable_pub,
    dead_code,
    clippy::all,
    clippy::pedantic
)]
pub(super) mod rows {
    include!(concat!(env!("OUT_DIR"), "/c1z.rocksdb.v1.rs"));
}

/// Field tags of [`rows::ObjectRow`].
mod object_tag {
    pub(super) const DISCOVERED_AT: u32 = 1;
    pub(super) const DATA: u32 = 2;
}

/// Field tags of [`rows::GrantRow`].
mod grant_tag {
    pub(super) const DISCOVERED_AT: u32 = 1;
    pub(super) const NEEDS_EXPANSION: u32 = 2;
    pub(super) const EXPANSION: u32 = 3;
    pub(super) const RESOURCE_TYPE_ID: u32 = 4;
    pub(super) const RESOURCE_ID: u32 = 5;
    pub(super) const DATA: u32 = 6;
    pub(super) const ENTITLEMENT_SNAPSHOT: u32 = 7;
    pub(super) const PRINCIPAL: u32 = 8;
    pub(super) const SOURCES: u32 = 9;
}

fn bad(what: &str) -> Error {
    Error::corrupt("rocksdb value", format!("malformed {what}"))
}

/// Appends a length-delimited field (proto3: an empty value is omitted unless `always`).
fn put_bytes(out: &mut Vec<u8>, tag: u32, v: &[u8], always: bool) {
    if v.is_empty() && !always {
        return;
    }
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(v.len() as u64, out);
    out.extend_from_slice(v);
}

/// Appends a varint field (proto3: zero is omitted unless `always`).
fn put_varint(out: &mut Vec<u8>, tag: u32, v: u64, always: bool) {
    if v == 0 && !always {
        return;
    }
    encode_key(tag, WireType::Varint, out);
    encode_varint(v, out);
}

/// A time as a `google.protobuf.Timestamp` field.
fn put_time(out: &mut Vec<u8>, tag: u32, t: &NaiveDateTime) {
    let utc = t.and_utc();
    // int64 and int32 are varints of their two's-complement bits, as in prost.
    let seconds = utc.timestamp() as u64;
    let nanos = u64::from(utc.timestamp_subsec_nanos());
    let field_len = |v: u64| if v == 0 { 0 } else { 1 + encoded_len_varint(v) };
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint((field_len(seconds) + field_len(nanos)) as u64, out);
    put_varint(out, 1, seconds, false);
    put_varint(out, 2, nanos, false);
}

/// Largest encoded size of a time field.
const TIME_BYTES: usize = 2 + 11 + 6;

/// One field of a message, borrowed from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A fixed-width field (no tag of ours has one: skipped as unknown).
    Fixed,
}

/// The fields of a protobuf message, in order.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Fields { rest: bytes }
    }

    fn varint(&mut self) -> Option<u64> {
        prost::encoding::decode_varint(&mut self.rest).ok()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(head)
    }

    /// The next field; `Err` for bytes that are not a message.
    fn next_field(&mut self, what: &str) -> Result<Option<(u32, Field<'a>)>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let field = (|| {
            let key = self.varint()?;
            let tag = u32::try_from(key >> 3).ok().filter(|t| *t != 0)?;
            let value = match key & 7 {
                0 => Field::Varint(self.varint()?),
                1 => self.take(8).map(|_| Field::Fixed)?,
                2 => {
                    let len = usize::try_from(self.varint()?).ok()?;
                    Field::Bytes(self.take(len)?)
                }
                5 => self.take(4).map(|_| Field::Fixed)?,
                // Groups (3, 4) are not used by proto3 messages.
                _ => return None,
            };
            Some((tag, value))
        })();
        field.map(Some).ok_or_else(|| bad(what))
    }
}

fn bytes_of<'a>(field: Field<'a>, what: &str) -> Result<&'a [u8]> {
    match field {
        Field::Bytes(b) => Ok(b),
        _ => Err(bad(what)),
    }
}

fn varint_of(field: Field<'_>, what: &str) -> Result<u64> {
    match field {
        Field::Varint(v) => Ok(v),
        _ => Err(bad(what)),
    }
}

fn str_of<'a>(field: Field<'a>, what: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes_of(field, what)?).map_err(|_| bad(what))
}

/// A `google.protobuf.Timestamp` field's time.
fn time_of(field: Field<'_>) -> Result<NaiveDateTime> {
    let mut fields = Fields::new(bytes_of(field, "time")?);
    let (mut seconds, mut nanos) = (0i64, 0u32);
    while let Some((tag, f)) = fields.next_field("time")? {
        match tag {
            1 => seconds = varint_of(f, "time")? as i64,
            2 => nanos = u32::try_from(varint_of(f, "time")? as i64).map_err(|_| bad("time"))?,
            _ => {}
        }
    }
    chrono::DateTime::from_timestamp(seconds, nanos)
        .map(|t| t.naive_utc())
        .ok_or_else(|| bad("time"))
}

fn time_of_message(t: Option<&prost_types::Timestamp>) -> Result<NaiveDateTime> {
    let t = t.ok_or_else(|| bad("time"))?;
    let nanos = u32::try_from(t.nanos).map_err(|_| bad("time"))?;
    chrono::DateTime::from_timestamp(t.seconds, nanos)
        .map(|t| t.naive_utc())
        .ok_or_else(|| bad("time"))
}

fn timestamp(t: &NaiveDateTime) -> prost_types::Timestamp {
    let utc = t.and_utc();
    prost_types::Timestamp {
        seconds: utc.timestamp(),
        nanos: i32::try_from(utc.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

fn decode_message<M: Message + Default>(what: &str, value: &[u8]) -> Result<M> {
    M::decode(value).map_err(|e| Error::Corrupt {
        what: "rocksdb value",
        reason: format!("malformed {what}"),
        source: Some(Box::new(e)),
    })
}

/// Appends an [`rows::ObjectRow`] (resource type, resource, entitlement) to `out`.
pub(super) fn encode_object(out: &mut Vec<u8>, discovered_at: &NaiveDateTime, data: &[u8]) {
    out.reserve(TIME_BYTES + 6 + data.len());
    put_time(out, object_tag::DISCOVERED_AT, discovered_at);
    put_bytes(out, object_tag::DATA, data, false);
}

/// An [`rows::ObjectRow`] value.
pub(super) fn object_value(discovered_at: &NaiveDateTime, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_object(&mut out, discovered_at, data);
    out
}

/// A decoded [`rows::ObjectRow`], borrowing the object's bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ObjectView<'a> {
    pub(super) discovered_at: NaiveDateTime,
    pub(super) data: &'a [u8],
}

/// Decodes an [`rows::ObjectRow`].
pub(super) fn decode_object(value: &[u8]) -> Result<ObjectView<'_>> {
    let mut fields = Fields::new(value);
    let (mut discovered_at, mut data) = (None, &[][..]);
    while let Some((tag, f)) = fields.next_field("object row")? {
        match tag {
            object_tag::DISCOVERED_AT => discovered_at = Some(time_of(f)?),
            object_tag::DATA => data = bytes_of(f, "object row")?,
            _ => {}
        }
    }
    Ok(ObjectView {
        discovered_at: discovered_at.ok_or_else(|| bad("object row (no discovered_at)"))?,
        data,
    })
}

/// The columns of a stored grant row.
pub(super) struct StoredGrantRow<'a> {
    pub(super) discovered_at: &'a NaiveDateTime,
    pub(super) needs_expansion: bool,
    pub(super) expansion: Option<&'a [u8]>,
    /// The entitlement's resource (type, id).
    pub(super) resource: (&'a str, &'a str),
    pub(super) data: &'a [u8],
}

impl StoredGrantRow<'_> {
    /// Bytes of the encoded row, at most.
    pub(super) fn max_len(&self) -> usize {
        TIME_BYTES
            + 2
            + self.expansion.map_or(0, |e| e.len() + 6)
            + self.resource.0.len()
            + self.resource.1.len()
            + self.data.len()
            + 18
    }

    /// Appends the [`rows::GrantRow`] (stored form) to `out`.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.max_len());
        put_time(out, grant_tag::DISCOVERED_AT, self.discovered_at);
        put_varint(
            out,
            grant_tag::NEEDS_EXPANSION,
            u64::from(self.needs_expansion),
            false,
        );
        if let Some(e) = self.expansion {
            put_bytes(out, grant_tag::EXPANSION, e, true);
        }
        put_bytes(
            out,
            grant_tag::RESOURCE_TYPE_ID,
            self.resource.0.as_bytes(),
            false,
        );
        put_bytes(
            out,
            grant_tag::RESOURCE_ID,
            self.resource.1.as_bytes(),
            false,
        );
        put_bytes(out, grant_tag::DATA, self.data, false);
    }

    /// The encoded row.
    pub(super) fn to_value(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// The columns of a grant row made by expansion.
pub(super) struct DerivedGrantRow<'a> {
    pub(super) discovered_at: &'a NaiveDateTime,
    pub(super) entitlement_snapshot: u32,
    pub(super) principal: &'a [u8],
    pub(super) sources: &'a [u8],
}

impl DerivedGrantRow<'_> {
    /// Bytes of the encoded row, at most.
    pub(super) fn max_len(&self) -> usize {
        TIME_BYTES + 6 + self.principal.len() + self.sources.len() + 12
    }

    /// Appends the [`rows::GrantRow`] (derived form) to `out`.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.max_len());
        put_time(out, grant_tag::DISCOVERED_AT, self.discovered_at);
        put_varint(
            out,
            grant_tag::ENTITLEMENT_SNAPSHOT,
            u64::from(self.entitlement_snapshot),
            true,
        );
        put_bytes(out, grant_tag::PRINCIPAL, self.principal, false);
        put_bytes(out, grant_tag::SOURCES, self.sources, false);
    }
}

/// A decoded [`rows::GrantRow`], borrowing from the value.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct GrantRowView<'a> {
    pub(super) discovered_at: NaiveDateTime,
    pub(super) needs_expansion: bool,
    pub(super) expansion: Option<&'a [u8]>,
    pub(super) resource_type_id: &'a str,
    pub(super) resource_id: &'a str,
    pub(super) data: &'a [u8],
    /// Present: the derived form.
    pub(super) entitlement_snapshot: Option<u32>,
    pub(super) principal: &'a [u8],
    pub(super) sources: &'a [u8],
}

/// Decodes a [`rows::GrantRow`] (either form).
pub(super) fn decode_grant_row(value: &[u8]) -> Result<GrantRowView<'_>> {
    const WHAT: &str = "grant row";
    let mut fields = Fields::new(value);
    let mut discovered_at = None;
    let mut row = GrantRowView {
        discovered_at: NaiveDateTime::default(),
        needs_expansion: false,
        expansion: None,
        resource_type_id: "",
        resource_id: "",
        data: &[],
        entitlement_snapshot: None,
        principal: &[],
        sources: &[],
    };
    while let Some((tag, f)) = fields.next_field(WHAT)? {
        match tag {
            grant_tag::DISCOVERED_AT => discovered_at = Some(time_of(f)?),
            grant_tag::NEEDS_EXPANSION => row.needs_expansion = varint_of(f, WHAT)? != 0,
            grant_tag::EXPANSION => row.expansion = Some(bytes_of(f, WHAT)?),
            grant_tag::RESOURCE_TYPE_ID => row.resource_type_id = str_of(f, WHAT)?,
            grant_tag::RESOURCE_ID => row.resource_id = str_of(f, WHAT)?,
            grant_tag::DATA => row.data = bytes_of(f, WHAT)?,
            grant_tag::ENTITLEMENT_SNAPSHOT => {
                row.entitlement_snapshot =
                    Some(u32::try_from(varint_of(f, WHAT)?).map_err(|_| bad(WHAT))?);
            }
            grant_tag::PRINCIPAL => row.principal = bytes_of(f, WHAT)?,
            grant_tag::SOURCES => row.sources = bytes_of(f, WHAT)?,
            _ => {}
        }
    }
    row.discovered_at = discovered_at.ok_or_else(|| bad("grant row (no discovered_at)"))?;
    Ok(row)
}

/// An [`rows::EntitlementSnapshot`] value.
pub(super) fn encode_snapshot(resource_type_id: &str, resource_id: &str, data: &[u8]) -> Vec<u8> {
    rows::EntitlementSnapshot {
        resource_type_id: resource_type_id.to_owned(),
        resource_id: resource_id.to_owned(),
        entitlement: data.to_vec(),
    }
    .encode_to_vec()
}

/// Decodes an [`rows::EntitlementSnapshot`].
pub(super) fn decode_snapshot(value: &[u8]) -> Result<rows::EntitlementSnapshot> {
    decode_message("entitlement snapshot", value)
}

/// An [`rows::AssetRow`] value.
pub(super) fn encode_asset(
    discovered_at: &NaiveDateTime,
    content_type: &str,
    data: &[u8],
) -> Vec<u8> {
    rows::AssetRow {
        discovered_at: Some(timestamp(discovered_at)),
        content_type: content_type.to_owned(),
        data: data.to_vec(),
    }
    .encode_to_vec()
}

/// Decodes an [`rows::AssetRow`]: its time, content type and data.
pub(super) fn decode_asset(value: &[u8]) -> Result<(NaiveDateTime, String, Vec<u8>)> {
    let row: rows::AssetRow = decode_message("asset row", value)?;
    Ok((
        time_of_message(row.discovered_at.as_ref())?,
        row.content_type,
        row.data,
    ))
}

/// A [`rows::SyncRunRow`] value.
pub(super) fn encode_sync_run(run: &SyncRun) -> Vec<u8> {
    let text = |id: &Option<SyncId>| id.as_ref().map_or_else(String::new, ToString::to_string);
    rows::SyncRunRow {
        sync_id: run.id.to_string(),
        sync_type: run.sync_type.clone(),
        started_at: Some(timestamp(&run.started_at)),
        ended_at: run.ended_at.as_ref().map(timestamp),
        sync_token: run.sync_token.clone(),
        parent_sync_id: text(&run.parent_sync_id),
        linked_sync_id: text(&run.linked_sync_id),
        supports_diff: run.supports_diff,
        stats: run.stats.clone(),
        ingest_generation: run.ingest_invariant.generation.clone(),
        ingest_coverage: run.ingest_invariant.coverage.clone(),
        ingest_mode: run.ingest_invariant.mode.clone(),
    }
    .encode_to_vec()
}

/// Decodes a [`rows::SyncRunRow`].
pub(super) fn decode_sync_run(value: &[u8]) -> Result<SyncRun> {
    let row: rows::SyncRunRow = decode_message("sync run", value)?;
    Ok(SyncRun {
        id: SyncId::new(row.sync_id),
        sync_type: row.sync_type,
        started_at: time_of_message(row.started_at.as_ref())?,
        ended_at: row
            .ended_at
            .as_ref()
            .map(|t| time_of_message(Some(t)))
            .transpose()?,
        sync_token: row.sync_token,
        parent_sync_id: SyncId::non_empty(row.parent_sync_id),
        linked_sync_id: SyncId::non_empty(row.linked_sync_id),
        supports_diff: row.supports_diff,
        stats: row.stats,
        ingest_invariant: IngestInvariant {
            generation: row.ingest_generation,
            coverage: row.ingest_coverage,
            mode: row.ingest_mode,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::model::wall;

    fn time() -> impl Strategy<Value = NaiveDateTime> {
        // Before and after the epoch, with and without nanoseconds.
        (
            -5_000_000_000i64..5_000_000_000,
            prop_oneof![Just(0u32), 0u32..1_000_000_000],
        )
            .prop_map(|(s, n)| chrono::DateTime::from_timestamp(s, n).unwrap().naive_utc())
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..300)
    }

    proptest! {
        #[test]
        fn object_rows_are_prost_object_rows(t in time(), data in bytes()) {
            let value = object_value(&t, &data);
            let message = rows::ObjectRow { discovered_at: Some(timestamp(&t)), data: data.clone() };
            prop_assert_eq!(&value, &message.encode_to_vec());
            prop_assert_eq!(decode_object(&value).unwrap(), ObjectView { discovered_at: t, data: &data });
        }

        #[test]
        fn stored_grant_rows_are_prost_grant_rows(
            t in time(),
            needs in any::<bool>(),
            expansion in proptest::option::of(bytes()),
            rt in "[a-z:]{0,12}",
            rid in "\\PC{0,12}",
            data in bytes(),
        ) {
            let row = StoredGrantRow {
                discovered_at: &t,
                needs_expansion: needs,
                expansion: expansion.as_deref(),
                resource: (&rt, &rid),
                data: &data,
            };
            let value = row.to_value();
            prop_assert!(value.len() <= row.max_len());
            let message = rows::GrantRow {
                discovered_at: Some(timestamp(&t)),
                needs_expansion: needs,
                expansion: expansion.clone(),
                entitlement_resource_type_id: rt.clone(),
                entitlement_resource_id: rid.clone(),
                data: data.clone(),
                ..Default::default()
            };
            prop_assert_eq!(&value, &message.encode_to_vec());
            let view = decode_grant_row(&value).unwrap();
            prop_assert_eq!(view.discovered_at, t);
            prop_assert_eq!(view.needs_expansion, needs);
            prop_assert_eq!(view.expansion, expansion.as_deref());
            prop_assert_eq!((view.resource_type_id, view.resource_id), (rt.as_str(), rid.as_str()));
            prop_assert_eq!(view.data, &data[..]);
            prop_assert_eq!(view.entitlement_snapshot, None);
        }

        #[test]
        fn derived_grant_rows_are_prost_grant_rows(
            t in time(),
            version in any::<u32>(),
            principal in bytes(),
            sources in bytes(),
        ) {
            let row = DerivedGrantRow {
                discovered_at: &t,
                entitlement_snapshot: version,
                principal: &principal,
                sources: &sources,
            };
            let mut value = Vec::new();
            row.encode(&mut value);
            prop_assert!(value.len() <= row.max_len());
            let message = rows::GrantRow {
                discovered_at: Some(timestamp(&t)),
                entitlement_snapshot: Some(version),
                principal: principal.clone(),
                sources: sources.clone(),
                ..Default::default()
            };
            prop_assert_eq!(&value, &message.encode_to_vec());
            let view = decode_grant_row(&value).unwrap();
            prop_assert_eq!(view.entitlement_snapshot, Some(version));
            prop_assert_eq!((view.principal, view.sources), (&principal[..], &sources[..]));
        }

        /// Damaged values are errors, never panics.
        #[test]
        fn any_bytes_decode_or_fail_cleanly(value in bytes()) {
            let _ = decode_object(&value);
            let _ = decode_grant_row(&value);
            let _ = decode_sync_run(&value);
            let _ = decode_asset(&value);
        }
    }

    /// Readers skip fields they do not know: a newer writer's extra tags are no new version.
    #[test]
    fn unknown_fields_are_skipped() {
        let t = wall::parse("2026-03-03 09:45:13.056791").unwrap();
        let mut value = object_value(&t, b"data");
        // An unknown varint, length-delimited, fixed64 and fixed32 field.
        value.extend_from_slice(&[0x78, 0x05, 0x82, 0x01, 0x02, b'h', b'i']);
        value.extend_from_slice(&[0x89, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x95, 0x01, 1, 2, 3, 4]);
        let view = decode_object(&value).unwrap();
        assert_eq!((view.discovered_at, view.data), (t, &b"data"[..]));
    }

    #[test]
    fn a_row_without_its_time_is_corrupt() {
        assert!(decode_object(&[0x12, 0x01, 0x00]).is_err());
        assert!(decode_grant_row(&[]).is_err());
    }

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
        let unfinished = SyncRun {
            ended_at: None,
            stats: None,
            ..run
        };
        assert_eq!(
            decode_sync_run(&encode_sync_run(&unfinished)).unwrap(),
            unfinished
        );
    }
}
