//! Canonical protobuf encodings, matching Go's deterministic marshalling byte for byte.
//!
//! prost already emits fields in tag order, but it leaves out map entries' default-valued
//! keys and values, while Go always writes both. `Grant.sources` entries with
//! `is_direct = false` are stored by baton as `… 12 00`, so grants are encoded here by hand;
//! every other stored message has no map field whose encoding differs.

use prost::Message;
use prost::bytes::BufMut;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use crate::error::{Error, Result};
use crate::pb::c1::connector::v2::{Grant, GrantExpandable, GrantSources};

/// Full name of the `GrantExpandable` annotation.
pub const GRANT_EXPANDABLE: &str = "c1.connector.v2.GrantExpandable";
/// Full name of the `GrantImmutable` annotation.
pub const GRANT_IMMUTABLE: &str = "c1.connector.v2.GrantImmutable";

/// The `type.googleapis.com/` URL of a message full name.
#[must_use]
pub fn type_url(full_name: &str) -> String {
    format!("type.googleapis.com/{full_name}")
}

/// Whether an `Any` holds the message `full_name` (compares the part after the last `/`).
#[must_use]
pub fn any_is(any: &prost_types::Any, full_name: &str) -> bool {
    any.type_url.rsplit('/').next() == Some(full_name)
}

/// Encodes a grant exactly as Go's deterministic marshal does.
#[must_use]
pub fn encode_grant(grant: &Grant) -> Vec<u8> {
    let mut buf = Vec::with_capacity(grant.encoded_len() + 8);
    if let Some(e) = &grant.entitlement {
        prost::encoding::message::encode(1, e, &mut buf);
    }
    if let Some(p) = &grant.principal {
        prost::encoding::message::encode(2, p, &mut buf);
    }
    if !grant.id.is_empty() {
        prost::encoding::string::encode(3, &grant.id, &mut buf);
    }
    for a in &grant.annotations {
        prost::encoding::message::encode(4, a, &mut buf);
    }
    if let Some(s) = &grant.sources {
        encode_key(5, WireType::LengthDelimited, &mut buf);
        encode_varint(sources_len(s) as u64, &mut buf);
        encode_sources_body(s, &mut buf);
    }
    buf
}

/// Appends a length-delimited field (`tag`, wire type 2) holding `payload`.
fn put_bytes_field(buf: &mut Vec<u8>, tag: u32, payload: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(payload.len() as u64, buf);
    buf.extend_from_slice(payload);
}

/// The encoded `Any` of a `GrantImmutable` annotation with no fields (what expansion puts
/// on every derived grant).
#[must_use]
pub fn grant_immutable_any() -> &'static [u8] {
    static ANY: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        prost_types::Any {
            type_url: type_url(GRANT_IMMUTABLE),
            value: Vec::new(),
        }
        .encode_to_vec()
    });
    &ANY
}

/// Appends `GrantSources.sources` map entries (keys in strictly increasing order), the
/// body [`encode_derived_grant`] takes.
pub fn encode_source_entries<'a>(
    buf: &mut Vec<u8>,
    sources: impl Iterator<Item = (&'a str, bool)>,
) {
    for (k, d) in sources {
        encode_entry(k, d, buf);
    }
}

/// Encodes a derived grant, byte for byte as [`encode_grant_parts`] with the
/// `GrantImmutable` annotation alone: `sources` is the map body
/// ([`encode_source_entries`]).
pub fn encode_derived_grant(
    buf: &mut Vec<u8>,
    entitlement: &[u8],
    principal: &[u8],
    id: &str,
    sources: &[u8],
) {
    buf.reserve(entitlement.len() + principal.len() + id.len() + sources.len() + 80);
    put_bytes_field(buf, 1, entitlement);
    put_bytes_field(buf, 2, principal);
    if !id.is_empty() {
        put_bytes_field(buf, 3, id.as_bytes());
    }
    put_bytes_field(buf, 4, grant_immutable_any());
    put_bytes_field(buf, 5, sources);
}

/// Encodes a grant from parts that are already encoded, byte for byte as [`encode_grant`]
/// would: `entitlement` and `principal` are the encoded messages (empty slices are still
/// written, as a present empty message), `annotations` the encoded `Any`s, and `sources`
/// the map's entries in strictly increasing key order.
///
/// Grant expansion writes millions of grants that share one entitlement and a few
/// thousand principals; encoding those once instead of cloning them into every grant is
/// most of its write cost.
pub fn encode_grant_parts<'a>(
    buf: &mut Vec<u8>,
    entitlement: &[u8],
    principal: &[u8],
    id: &str,
    annotations: &[&[u8]],
    sources: impl Iterator<Item = (&'a str, bool)> + Clone,
) {
    put_bytes_field(buf, 1, entitlement);
    put_bytes_field(buf, 2, principal);
    if !id.is_empty() {
        put_bytes_field(buf, 3, id.as_bytes());
    }
    for a in annotations {
        put_bytes_field(buf, 4, a);
    }
    let body_len: usize = sources
        .clone()
        .map(|(k, d)| {
            let n = entry_len(k, d);
            1 + encoded_len_varint(n as u64) + n
        })
        .sum();
    encode_key(5, WireType::LengthDelimited, buf);
    encode_varint(body_len as u64, buf);
    for (k, d) in sources {
        encode_entry(k, d, buf);
    }
}

fn entry_len(key: &str, is_direct: bool) -> usize {
    let value_len = if is_direct { 2 } else { 0 };
    1 + encoded_len_varint(key.len() as u64) + key.len() + 1 + 1 + value_len
}

fn sources_len(s: &GrantSources) -> usize {
    s.sources
        .iter()
        .map(|(k, v)| {
            let n = entry_len(k, v.is_direct);
            1 + encoded_len_varint(n as u64) + n
        })
        .sum()
}

fn encode_sources_body(s: &GrantSources, buf: &mut impl BufMut) {
    // BTreeMap iteration is key order, as Go's deterministic option sorts map keys.
    for (k, v) in &s.sources {
        encode_entry(k, v.is_direct, buf);
    }
}

fn encode_entry(k: &str, is_direct: bool, buf: &mut impl BufMut) {
    encode_key(1, WireType::LengthDelimited, buf);
    encode_varint(entry_len(k, is_direct) as u64, buf);
    encode_key(1, WireType::LengthDelimited, buf);
    encode_varint(k.len() as u64, buf);
    buf.put_slice(k.as_bytes());
    encode_key(2, WireType::LengthDelimited, buf);
    if is_direct {
        buf.put_slice(&[2, 0x08, 0x01]);
    } else {
        buf.put_u8(0);
    }
}

/// Decodes a stored message, naming it in the error.
pub(crate) fn decode<M: Message + Default>(what: &'static str, bytes: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|source| Error::Decode { what, source })
}

/// Removes every `GrantExpandable` annotation from `grant` and returns the first one,
/// decoded. An undecodable annotation is an error (the grant is left unchanged).
pub(crate) fn take_expandable(grant: &mut Grant) -> Result<Option<GrantExpandable>> {
    let Some(first) = grant
        .annotations
        .iter()
        .find(|a| any_is(a, GRANT_EXPANDABLE))
    else {
        return Ok(None);
    };
    let expandable: GrantExpandable = decode("GrantExpandable annotation", &first.value)?;
    grant.annotations.retain(|a| !any_is(a, GRANT_EXPANDABLE));
    Ok(Some(expandable))
}

/// Whether an encoded grant can hold a `GrantExpandable` annotation: its type URL must
/// appear verbatim, so a blob without it needs no decoding.
pub(crate) fn may_hold_expandable(encoded_grant: &[u8]) -> bool {
    encoded_grant
        .windows(GRANT_EXPANDABLE.len())
        .any(|w| w == GRANT_EXPANDABLE.as_bytes())
}

/// Baton's rule for an edge definition: at least one entitlement id that is non-blank
/// after trimming.
#[must_use]
pub fn is_usable_expansion(e: &GrantExpandable) -> bool {
    e.entitlement_ids.iter().any(|id| !id.trim().is_empty())
}

/// Packs a message into an `Any` with the standard type URL.
#[must_use]
pub fn to_any<M: Message>(full_name: &str, m: &M) -> prost_types::Any {
    prost_types::Any {
        type_url: type_url(full_name),
        value: m.encode_to_vec(),
    }
}

/// The identity columns stored beside a grant (the SQLite engine's row columns).
pub(crate) struct GrantIdentity<'a> {
    pub(crate) resource_type_id: &'a str,
    pub(crate) resource_id: &'a str,
    pub(crate) entitlement_id: &'a str,
    pub(crate) principal_type: &'a str,
    pub(crate) principal_id: &'a str,
}

/// The identity-only resource a slim grant's missing entitlement resource or principal is
/// hydrated with.
pub(crate) fn identity_stub(
    resource_type: &str,
    resource: &str,
) -> crate::pb::c1::connector::v2::Resource {
    use crate::pb::c1::connector::v2::{Resource, ResourceId};
    Resource {
        id: Some(ResourceId {
            resource_type: resource_type.to_owned(),
            resource: resource.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Fills in the entitlement and principal of a grant stored slim (baton's v2 grants
/// writer) with identity-only stubs built from the stored identity columns.
pub(crate) fn hydrate_grant(grant: &mut Grant, id: &GrantIdentity<'_>) {
    use crate::pb::c1::connector::v2::Entitlement;
    if grant.entitlement.is_none() {
        grant.entitlement = Some(Entitlement {
            id: id.entitlement_id.to_owned(),
            resource: Some(identity_stub(id.resource_type_id, id.resource_id)),
            ..Default::default()
        });
    }
    if grant.principal.is_none() {
        grant.principal = Some(identity_stub(id.principal_type, id.principal_id));
    }
}
