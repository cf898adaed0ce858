//! Protobuf JSON as baton prints it (`baton … -o json`, Go's protojson): camelCase field
//! names, 64-bit integers as strings, enum names, default values left out, `@type` on
//! `Any` annotations. Messages are rendered from their encoding through the descriptor set
//! compiled from `proto/`, so every message c1z knows has its JSON form.

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

/// The JSON of the encoded message `bytes` of type `full_name` (e.g.
/// `c1.connector.v2.Grant`).
///
/// # Errors
/// [`Error::InvalidArgument`] for a type `proto/` does not define; [`Error::Corrupt`] for
/// bytes that do not decode as it.
pub fn to_json(full_name: &str, bytes: &[u8]) -> Result<serde_json::Value> {
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
}
