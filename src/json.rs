//! Protobuf JSON as baton prints it (`baton … -o json`, Go's protojson): camelCase field
//! names, 64-bit integers as strings, enum names, default values left out, `@type` on
//! `Any` annotations. Messages are rendered from their encoding through the descriptor set
//! compiled from `proto/`, so every message c1z knows has its JSON form.

mod tables;
mod transcode;
mod write;

use std::cell::RefCell;
use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

use crate::error::{Error, Result};

/// The descriptors of every message in `proto/` (and the well-known types it imports).
///
/// # Panics
/// Never: the set is compiled into the binary by the build script and checked by tests.
#[must_use]
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        #[allow(clippy::expect_used)]
        DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET)
            .expect("the compiled descriptor set decodes")
    })
}

fn tables() -> &'static tables::Tables {
    static TABLES: OnceLock<tables::Tables> = OnceLock::new();
    TABLES.get_or_init(|| tables::Tables::build(pool()))
}

/// A message type of [`pool`], resolved once, whose encodings [`JsonType::write`] renders
/// as protobuf JSON text.
///
/// The text is written straight from the wire bytes (no decoded message in between): what
/// Go's protojson prints, parsed as JSON (camelCase names, 64-bit integers as strings, enum
/// names, bytes as base64, default values left out, repeated fields as one array, maps as
/// objects sorted by key, the well-known types in their own forms, `Any` as `{"@type": url,
/// …}` with its type resolved from the pool). Fields are written in declaration order, as
/// Go writes them; unknown fields are skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonType {
    index: u32,
}

impl JsonType {
    /// The type named `full_name` (e.g. `c1.connector.v2.Grant`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a type `proto/` does not define.
    pub fn named(full_name: &str) -> Result<Self> {
        tables()
            .message_index(full_name)
            .map(|index| JsonType { index })
            .ok_or_else(|| Error::InvalidArgument(format!("unknown message type '{full_name}'")))
    }

    /// The type's full name.
    #[must_use]
    pub fn full_name(self) -> &'static str {
        tables()
            .messages
            .get(self.index as usize)
            .map_or("", |m| &m.full_name)
    }

    /// Appends the JSON of the message encoded as `bytes` to `out` (on error `out` is left
    /// as it was).
    ///
    /// # Errors
    /// [`Error::Corrupt`] for bytes that do not decode as the type, and for an `Any` whose
    /// type the pool lacks (as prost-reflect and Go's protojson refuse it).
    pub fn write(self, bytes: &[u8], out: &mut Vec<u8>) -> Result<()> {
        thread_local! {
            static SCRATCH: RefCell<Option<transcode::Transcoder<'static>>> =
                const { RefCell::new(None) };
        }
        let len = out.len();
        let result = SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut slot) => slot
                .get_or_insert_with(|| transcode::Transcoder::new(tables()))
                .message(self.index, bytes, out, 0),
            Err(_) => transcode::Transcoder::new(tables()).message(self.index, bytes, out, 0),
        });
        result.map_err(|e| {
            out.truncate(len);
            Error::corrupt("protobuf message", format!("{}: {e}", self.full_name()))
        })
    }

    /// The JSON text of the message encoded as `bytes`.
    ///
    /// # Errors
    /// As [`JsonType::write`].
    pub fn to_text(self, bytes: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(bytes.len() * 2 + 16);
        self.write(bytes, &mut out)?;
        Ok(out)
    }
}

/// The JSON text of the encoded message `bytes` of type `full_name` ([`JsonType::write`]).
///
/// # Errors
/// As [`JsonType::named`] and [`JsonType::write`].
pub fn to_json_text(full_name: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    JsonType::named(full_name)?.to_text(bytes)
}

/// The JSON text of `message` of type `full_name`.
///
/// # Errors
/// As [`to_json_text`].
pub fn message_json_text<M: prost::Message>(full_name: &str, message: &M) -> Result<Vec<u8>> {
    to_json_text(full_name, &message.encode_to_vec())
}

/// The JSON of the encoded message `bytes` of type `full_name` (e.g.
/// `c1.connector.v2.Grant`), as a value. Rendered by prost-reflect (a decoded
/// `DynamicMessage` serialized with default options): the reference the text writer
/// ([`JsonType::write`]) is tested against; use that where speed matters.
///
/// # Errors
/// [`Error::InvalidArgument`] for a type `proto/` does not define; [`Error::Corrupt`] for
/// bytes that do not decode as it.
pub fn to_json(full_name: &str, bytes: &[u8]) -> Result<serde_json::Value> {
    reflect_json(full_name, bytes)
}

fn reflect_json(full_name: &str, bytes: &[u8]) -> Result<serde_json::Value> {
    let desc = pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| Error::InvalidArgument(format!("unknown message type '{full_name}'")))?;
    let message = DynamicMessage::decode(desc, bytes)
        .map_err(|e| Error::corrupt("protobuf message", format!("{full_name}: {e}")))?;
    message
        .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
        .map_err(|e| Error::corrupt("protobuf message", format!("{full_name}: {e}")))
}

/// The JSON of `message` of type `full_name`.
///
/// # Errors
/// As [`to_json`].
pub fn message_json<M: prost::Message>(full_name: &str, message: &M) -> Result<serde_json::Value> {
    to_json(full_name, &message.encode_to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pb::c1::connector::v2::{ResourceType, resource_type::Trait};

    #[test]
    fn messages_render_as_protojson() {
        let rt = ResourceType {
            id: "user".into(),
            display_name: "User".into(),
            traits: vec![Trait::User as i32],
            annotations: vec![crate::codec::to_any(
                "c1.connector.v2.GrantExpandable",
                &crate::pb::c1::connector::v2::GrantExpandable {
                    entitlement_ids: vec!["e".into()],
                    ..Default::default()
                },
            )],
            ..Default::default()
        };
        assert_eq!(
            message_json("c1.connector.v2.ResourceType", &rt).unwrap(),
            serde_json::json!({
                "id": "user",
                "displayName": "User",
                "traits": ["TRAIT_USER"],
                "annotations": [{
                    "@type": "type.googleapis.com/c1.connector.v2.GrantExpandable",
                    "entitlementIds": ["e"],
                }],
            })
        );
        assert!(to_json("no.such.Type", &[]).is_err());
        assert!(to_json("c1.connector.v2.ResourceType", &[0xff]).is_err());
    }

    /// The well-known types c1z's pool lacks (wrappers, `Duration`, `FieldMask`, `Empty`),
    /// through tables of prost-reflect's own pool of them, against prost-reflect.
    #[test]
    fn well_known_types_render_as_prost_reflect_renders_them() {
        use prost::Message;
        let pool = DescriptorPool::global();
        let t = tables::Tables::build(&pool);
        let render = |name: &str, bytes: &[u8]| -> (serde_json::Value, serde_json::Value) {
            let mut out = Vec::new();
            transcode::Transcoder::new(&t)
                .message(t.message_index(name).unwrap(), bytes, &mut out, 0)
                .unwrap();
            let ours: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let m = DynamicMessage::decode(pool.get_message_by_name(name).unwrap(), bytes).unwrap();
            let theirs = m
                .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
                .unwrap();
            (ours, theirs)
        };
        // Numbers as doubles: serde prints a double 0 as `0.0`, protojson as `0`.
        fn norm(v: serde_json::Value) -> serde_json::Value {
            use serde_json::Value;
            match v {
                Value::Number(n) => n
                    .as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Number(n), Value::Number),
                Value::Array(a) => Value::Array(a.into_iter().map(norm).collect()),
                Value::Object(o) => {
                    Value::Object(o.into_iter().map(|(k, v)| (k, norm(v))).collect())
                }
                other => other,
            }
        }
        let same = |name: &str, bytes: &[u8]| {
            let (ours, theirs) = render(name, bytes);
            assert_eq!(norm(ours), norm(theirs), "{name}");
        };
        let d = |seconds, nanos| prost_types::Duration { seconds, nanos }.encode_to_vec();
        for b in [
            d(0, 0),
            d(1, 500_000_000),
            d(-3, -1000),
            d(315_576_000_000, 7),
        ] {
            same("google.protobuf.Duration", &b);
        }
        let mask = prost_types::FieldMask {
            paths: vec!["a.foo_bar".into(), "x".into()],
        };
        same("google.protobuf.FieldMask", &mask.encode_to_vec());
        same("google.protobuf.Empty", &[]);
        same("google.protobuf.Empty", &[0x08, 0x01]);
        for (name, bytes) in [
            (
                "google.protobuf.Int32Value",
                vec![0x08, 0xff, 0xff, 0xff, 0xff, 0x0f],
            ),
            ("google.protobuf.Int64Value", vec![0x08, 0x05]),
            ("google.protobuf.UInt32Value", vec![0x08, 0x05]),
            ("google.protobuf.UInt64Value", vec![0x08, 0x05]),
            ("google.protobuf.BoolValue", vec![0x08, 0x01]),
            ("google.protobuf.StringValue", vec![0x0a, 0x01, b'x']),
            ("google.protobuf.BytesValue", vec![0x0a, 0x02, 0xff, 0x00]),
            ("google.protobuf.DoubleValue", 1.5f64.to_le_bytes().to_vec()),
            ("google.protobuf.FloatValue", vec![]),
        ] {
            same(name, &[]);
            let bytes = if name.ends_with("DoubleValue") {
                [&[0x09][..], &bytes].concat()
            } else {
                bytes
            };
            same(name, &bytes);
        }
        // Any of well-known types: `{"@type", "value"}`; of a message: its fields.
        for (name, value) in [
            ("google.protobuf.Duration", d(1, 5)),
            ("google.protobuf.Int64Value", vec![0x08, 0x07]),
            ("google.protobuf.Empty", vec![]),
            ("google.protobuf.FieldMask", mask.encode_to_vec()),
            ("google.protobuf.Timestamp", d(1_700_000_000, 5)),
            (
                "google.protobuf.Any",
                prost_types::Any {
                    type_url: "type.googleapis.com/google.protobuf.Int64Value".into(),
                    value: vec![0x08, 0x07],
                }
                .encode_to_vec(),
            ),
            (
                "google.protobuf.Type",
                prost_types::Type {
                    name: "t".into(),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ] {
            let any = prost_types::Any {
                type_url: format!("type.googleapis.com/{name}"),
                value,
            };
            same("google.protobuf.Any", &any.encode_to_vec());
        }
        // Out of range: an error, as in prost-reflect.
        let mut out = Vec::new();
        let bad = d(315_576_000_001, 0);
        assert!(
            transcode::Transcoder::new(&t)
                .message(
                    t.message_index("google.protobuf.Duration").unwrap(),
                    &bad,
                    &mut out,
                    0
                )
                .is_err()
        );
    }
}
