//! The RocksDB keyspace: typed key prefixes, a compact sync number, and order-preserving
//! tuple components (baton's Pebble tuple encoding). The byte-level contract, values
//! included, is `docs/format-rocksdb.md`; this module is its implementation.
//!
//! Unlike baton's Pebble files, one file holds several sync runs: every row key carries
//! the run's sync number (`seq`, a big-endian u32 assigned at creation), so a run's rows
//! are one contiguous range per family and deleting a run is a range delete.
//!
//! | family | key | value |
//! |---|---|---|
//! | resource type | `01 seq esc(id)` | `ObjectRow` |
//! | resource | `02 seq esc(rt) 00 esc(rid)` | `ObjectRow` |
//! | entitlement | `03 seq esc(rt) 00 esc(rid) 00 esc(id)` | `ObjectRow` |
//! | grant | `04 seq esc(entitlement_id) 00 esc(p_rt) 00 esc(p_id) 00 id` (`id`: `01 03` when it is `entitlement_id:p_rt:p_id`, else `esc(id)`) | `GrantRow`, stored or derived form |
//! | asset | `05 seq esc(id)` | `AssetRow` |
//! | sync run | `06 seq` | `SyncRunRow` |
//! | sync id → seq | `08 esc(sync_id)` | seq (u32 BE) |
//! | entitlement snapshot | `09 seq esc(entitlement_id) 00 version` (u32 BE) | `EntitlementSnapshot` |
//! | resource by parent | `07 01 seq esc(p_rt) 00 esc(p_id) 00 <resource tail>` | empty |
//! | entitlement by id | `07 02 seq esc(id)` | entitlement tail |
//! | grant by id | `07 03 seq esc(id)` | grant tail; for a canonical id, `01 03` and two lengths (see [`push_id_value`]) |
//! | grant by principal | `07 04 seq esc(p_rt) 00 esc(p_id) 00 <grant tail>` | empty |
//! | grant needs expansion | `07 05 seq <grant tail>` | empty |
//! | entitlement granted on resource | `07 07 seq esc(rt) 00 esc(rid) 00 esc(entitlement_id)` | empty |
//! | engine meta | `FF <name>` | u32 BE |
//!
//! Values named in the table are messages of `proto/c1z/rocksdb/v1/rows.proto`
//! ([`super::values`]). `esc` copies bytes except `00 → 01 01` and `01 → 01 02`;
//! components are joined by one `00`. Byte order of keys equals the order of their
//! component lists, and a "by value" prefix ends with a `00` so `ent` never matches
//! `entitlement-1`. A row's *tail* is its key after `family seq`; indexes embed tails so a
//! lookup is one seek plus one point read. Identities are the external ids, as in the
//! SQLite engine (upserts by `(id, sync)`).
//!
//! "Entitlement granted on resource" says that some grant of the entitlement was written
//! with that entitlement resource: one entry per entitlement and resource, not per grant.
//! Grants by resource are the grant rows of those entitlements whose own resource matches;
//! entries outlive deleted grants (they only cost a scan).
//!
//! Retired discriminator bytes are never reused: index `07 06` (a per-grant resource index
//! of pre-release builds) stays unassigned.

/// Family bytes.
pub(super) mod family {
    pub(crate) const RESOURCE_TYPE: u8 = 0x01;
    pub(crate) const RESOURCE: u8 = 0x02;
    pub(crate) const ENTITLEMENT: u8 = 0x03;
    pub(crate) const GRANT: u8 = 0x04;
    pub(crate) const ASSET: u8 = 0x05;
    pub(crate) const SYNC_RUN: u8 = 0x06;
    pub(crate) const INDEX: u8 = 0x07;
    pub(crate) const SYNC_ID: u8 = 0x08;
    pub(crate) const ENTITLEMENT_SNAPSHOT: u8 = 0x09;
    pub(crate) const META: u8 = 0xFF;
}

/// Index bytes after [`family::INDEX`].
pub(super) mod index {
    pub(crate) const RESOURCE_BY_PARENT: u8 = 0x01;
    pub(crate) const ENTITLEMENT_BY_ID: u8 = 0x02;
    pub(crate) const GRANT_BY_ID: u8 = 0x03;
    pub(crate) const GRANT_BY_PRINCIPAL: u8 = 0x04;
    pub(crate) const GRANT_NEEDS_EXPANSION: u8 = 0x05;
    // 0x06: retired (a pre-release per-grant resource index); never reuse it.
    pub(crate) const ENTITLEMENT_GRANTED_ON_RESOURCE: u8 = 0x07;
    pub(crate) const ALL: [u8; 6] = [
        RESOURCE_BY_PARENT,
        ENTITLEMENT_BY_ID,
        GRANT_BY_ID,
        GRANT_BY_PRINCIPAL,
        GRANT_NEEDS_EXPANSION,
        ENTITLEMENT_GRANTED_ON_RESOURCE,
    ];
}

/// Appends one escaped tuple component.
pub(super) fn push_component(out: &mut Vec<u8>, s: &[u8]) {
    // Ids rarely hold the two escaped bytes: copy them whole.
    if !s.contains(&0x00) && !s.contains(&0x01) {
        out.extend_from_slice(s);
        return;
    }
    out.reserve(s.len() + 4);
    for &b in s {
        match b {
            0x00 => out.extend_from_slice(&[0x01, 0x01]),
            0x01 => out.extend_from_slice(&[0x01, 0x02]),
            _ => out.push(b),
        }
    }
}

/// Encodes components joined by `00` (no trailing separator).
pub(super) fn tuple<S: AsRef<[u8]>>(parts: &[S]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.as_ref().len() + 1).sum());
    push_tuple(&mut out, parts);
    out
}

/// Appends [`tuple`]`(parts)` to `out`.
pub(super) fn push_tuple<S: AsRef<[u8]>>(out: &mut Vec<u8>, parts: &[S]) {
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(0x00);
        }
        push_component(out, p.as_ref());
    }
}

/// In a grant tail, the id component `01 03` (a sequence escaping never produces) stands
/// for the canonical id `entitlement:principal_type:principal_id`, which the tail already
/// spells out: derived grants, and most connector grants, have such ids.
const CANONICAL_ID: [u8; 2] = [0x01, 0x03];

/// Whether `id` is `entitlement:principal_type:principal_id`.
fn is_canonical_id(entitlement: &str, principal_type: &str, principal_id: &str, id: &str) -> bool {
    id.len() == entitlement.len() + principal_type.len() + principal_id.len() + 2
        && id.strip_prefix(entitlement).is_some_and(|rest| {
            rest.strip_prefix(':')
                .and_then(|r| r.strip_prefix(principal_type))
                .and_then(|r| r.strip_prefix(':'))
                == Some(principal_id)
        })
}

/// Appends a grant row's tail: `entitlement 00 principal_type 00 principal_id 00 id`, the
/// id as [`CANONICAL_ID`] when it is canonical.
pub(super) fn push_grant_tail(
    out: &mut Vec<u8>,
    entitlement: &str,
    principal_type: &str,
    principal_id: &str,
    id: &str,
) {
    push_tuple(out, &[entitlement, principal_type, principal_id]);
    out.push(0x00);
    if is_canonical_id(entitlement, principal_type, principal_id, id) {
        out.extend_from_slice(&CANONICAL_ID);
    } else {
        push_component(out, id.as_bytes());
    }
}

/// Appends the tail of a grant whose id is canonical (`entitlement:principal_type:principal_id`).
pub(super) fn push_canonical_grant_tail(
    out: &mut Vec<u8>,
    entitlement: &str,
    principal_type: &str,
    principal_id: &str,
) {
    push_tuple(out, &[entitlement, principal_type, principal_id]);
    out.push(0x00);
    out.extend_from_slice(&CANONICAL_ID);
}

/// A grant row's tail (see [`push_grant_tail`]).
pub(super) fn grant_tail(
    entitlement: &str,
    principal_type: &str,
    principal_id: &str,
    id: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(entitlement.len() * 2 + principal_type.len() * 2 + 8);
    push_grant_tail(&mut out, entitlement, principal_type, principal_id, id);
    out
}

/// The four components of a grant tail (entitlement, principal type, principal id, id),
/// with a [`CANONICAL_ID`] spelled out; `None` if the tail is malformed.
pub(super) fn untuple_grant_tail(tail: &[u8]) -> Option<[Vec<u8>; 4]> {
    let (head, canonical) = match tail.strip_suffix(&CANONICAL_ID) {
        // Only a whole last component counts: `01 03` cannot occur inside escaped bytes.
        Some(head) if head.last() == Some(&0x00) => (&head[..head.len() - 1], true),
        _ => (tail, false),
    };
    let parts = untuple(head)?;
    let mut it = parts.into_iter();
    let (e, pt, pid) = (it.next()?, it.next()?, it.next()?);
    let id = if canonical {
        let mut id = Vec::with_capacity(e.len() + pt.len() + pid.len() + 2);
        for part in [&e[..], b":", &pt, b":", &pid] {
            id.extend_from_slice(part);
        }
        id
    } else {
        it.next()?
    };
    it.next().is_none().then_some([e, pt, pid, id])
}

/// Bytes of an index key's head (`07 idx seq`).
pub(super) const INDEX_HEAD_LEN: usize = 6;

/// Appends the value of a grant's by-id entry: its tail, or for a canonical id
/// [`CANONICAL_ID`] and the escaped lengths of the entitlement and the
/// principal type as varints, from which [`id_entry_tail`] rebuilds the tail out of the
/// entry's key. A tail never starts with `01 03` (escaping never produces it), so both
/// forms read back.
pub(super) fn push_id_value(out: &mut Vec<u8>, tail: &[u8]) {
    if let Some(head) = tail.strip_suffix(&CANONICAL_ID)
        && head.last() == Some(&0x00)
    {
        let mut parts = head.split(|b| *b == 0x00);
        if let (Some(e), Some(pt)) = (parts.next(), parts.next()) {
            out.extend_from_slice(&CANONICAL_ID);
            prost::encoding::encode_varint(e.len() as u64, out);
            prost::encoding::encode_varint(pt.len() as u64, out);
            return;
        }
    }
    out.extend_from_slice(tail);
}

/// The grant tail a by-id entry (`07 03 seq esc(id)` → `value`) stands for (see
/// [`push_id_value`]); a corrupt-data error if the value does not fit the key.
pub(super) fn id_entry_tail<'v>(
    id_key: &[u8],
    value: &'v [u8],
) -> crate::error::Result<std::borrow::Cow<'v, [u8]>> {
    rebuilt_tail(id_key, value).ok_or_else(|| {
        crate::error::Error::corrupt("rocksdb index", "id entry does not fit its key")
    })
}

/// [`id_entry_tail`], `None` for a value that does not fit.
fn rebuilt_tail<'v>(id_key: &[u8], value: &'v [u8]) -> Option<std::borrow::Cow<'v, [u8]>> {
    let Some(mut lengths) = value.strip_prefix(&CANONICAL_ID) else {
        return Some(std::borrow::Cow::Borrowed(value));
    };
    let id = id_key.get(INDEX_HEAD_LEN..)?;
    let e = usize::try_from(prost::encoding::decode_varint(&mut lengths).ok()?).ok()?;
    let pt = usize::try_from(prost::encoding::decode_varint(&mut lengths).ok()?).ok()?;
    // `esc(id)` is `esc(e) : esc(pt) : esc(pid)`: escaping is per byte and keeps ':'.
    let pid_at = e.checked_add(pt)?.checked_add(2)?;
    if !lengths.is_empty() || id.get(e) != Some(&b':') || id.get(pid_at - 1) != Some(&b':') {
        return None;
    }
    let mut tail = Vec::with_capacity(id.len() + 4);
    tail.extend_from_slice(&id[..e]);
    tail.push(0x00);
    tail.extend_from_slice(&id[e + 1..pid_at - 1]);
    tail.push(0x00);
    tail.extend_from_slice(&id[pid_at..]);
    tail.push(0x00);
    tail.extend_from_slice(&CANONICAL_ID);
    Some(std::borrow::Cow::Owned(tail))
}

/// Decodes a tuple into its components; `None` if an escape is invalid.
pub(super) fn untuple(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut parts = vec![Vec::new()];
    let mut it = bytes.iter();
    while let Some(&b) = it.next() {
        match b {
            0x00 => parts.push(Vec::new()),
            0x01 => match it.next() {
                Some(0x01) => parts.last_mut()?.push(0x00),
                Some(0x02) => parts.last_mut()?.push(0x01),
                _ => return None,
            },
            _ => parts.last_mut()?.push(b),
        }
    }
    Some(parts)
}

/// Appends the "entitlement granted on resource" key of a grant row:
/// `07 07 seq esc(rt) 00 esc(rid) 00 <the tail's escaped entitlement>`.
pub(super) fn push_granted_on_key(
    out: &mut Vec<u8>,
    seq: u32,
    resource: (&str, &str),
    tail: &[u8],
) {
    out.push(family::INDEX);
    out.push(index::ENTITLEMENT_GRANTED_ON_RESOURCE);
    out.extend_from_slice(&seq.to_be_bytes());
    push_tuple(out, &[resource.0, resource.1]);
    out.push(0x00);
    out.extend_from_slice(first_component(tail));
}

/// `family seq`.
pub(super) fn head(family: u8, seq: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(32);
    k.push(family);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// `07 index seq`.
pub(super) fn index_head(index: u8, seq: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(40);
    k.push(family::INDEX);
    k.push(index);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// `head ++ tail`.
pub(super) fn join(mut head: Vec<u8>, tail: &[u8]) -> Vec<u8> {
    head.extend_from_slice(tail);
    head
}

/// The smallest key greater than every key starting with `prefix` (`None`: no bound).
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last != 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// `09 seq <escaped entitlement id> 00 version`: one encoding of an entitlement that
/// derived grants embed.
pub(super) fn snapshot_key(seq: u32, escaped_entitlement: &[u8], version: u32) -> Vec<u8> {
    let mut k = head(family::ENTITLEMENT_SNAPSHOT, seq);
    k.extend_from_slice(escaped_entitlement);
    k.push(0);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// The first component of a tuple, still escaped.
pub(super) fn first_component(tuple: &[u8]) -> &[u8] {
    tuple.split(|b| *b == 0).next().unwrap_or_default()
}

/// Sync-id lookup key.
pub(super) fn sync_id_key(id: &str) -> Vec<u8> {
    let mut k = vec![family::SYNC_ID];
    push_component(&mut k, id.as_bytes());
    k
}

/// Engine-meta key.
pub(super) fn meta_key(name: &str) -> Vec<u8> {
    let mut k = vec![family::META];
    k.extend_from_slice(name.as_bytes());
    k
}

/// Lowercase hex (page tokens).
pub(super) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses lowercase or uppercase hex.
pub(super) fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn component() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1u8), Just(2u8), any::<u8>()],
            0..8,
        )
    }

    proptest! {
        #[test]
        fn tuples_round_trip(parts in proptest::collection::vec(component(), 1..5)) {
            prop_assert_eq!(untuple(&tuple(&parts)), Some(parts));
        }

        #[test]
        fn tuple_order_is_component_order(
            a in proptest::collection::vec(component(), 1..4),
            b in proptest::collection::vec(component(), 1..4),
        ) {
            prop_assert_eq!(tuple(&a).cmp(&tuple(&b)), a.cmp(&b));
        }

        #[test]
        fn grant_tails_round_trip(
            parts in proptest::collection::vec(component(), 3..=3),
            literal in component(),
            canonical in any::<bool>(),
        ) {
            let text = |b: &Vec<u8>| String::from_utf8_lossy(b).into_owned();
            let (e, pt, pid) = (text(&parts[0]), text(&parts[1]), text(&parts[2]));
            let id = if canonical { format!("{e}:{pt}:{pid}") } else { text(&literal) };
            let tail = grant_tail(&e, &pt, &pid, &id);
            prop_assert_eq!(
                untuple_grant_tail(&tail),
                Some([e.clone().into_bytes(), pt.clone().into_bytes(), pid.clone().into_bytes(), id.clone().into_bytes()])
            );
            // The row's prefix by entitlement and principal is unchanged by the id's form.
            prop_assert!(tail.starts_with(&tuple(&[&e, &pt, &pid])));
            // The marker form is exactly the prefix, a separator and the marker (an escaped
            // id may also end in the bytes `01 03`: `00 03` escapes to `01 01 03`).
            let mut marker_form = tuple(&[&e, &pt, &pid]);
            marker_form.push(0);
            marker_form.extend_from_slice(&CANONICAL_ID);
            prop_assert_eq!(tail == marker_form, is_canonical_id(&e, &pt, &pid, &id));
            // The by-id entry's value gives the tail back from the entry's key; only a
            // canonical id has the short form.
            let mut id_key = index_head(index::GRANT_BY_ID, 7);
            push_component(&mut id_key, id.as_bytes());
            let mut value = Vec::new();
            push_id_value(&mut value, &tail);
            prop_assert_eq!(value.starts_with(&CANONICAL_ID), tail == marker_form);
            let rebuilt = id_entry_tail(&id_key, &value).ok().map(std::borrow::Cow::into_owned);
            prop_assert_eq!(rebuilt, Some(tail));
        }

        #[test]
        fn id_entries_that_do_not_fit_their_key_are_refused(
            id in component(),
            e in 0u64..300,
            pt in 0u64..300,
        ) {
            let text = String::from_utf8_lossy(&id).into_owned();
            let mut id_key = index_head(index::GRANT_BY_ID, 7);
            push_component(&mut id_key, text.as_bytes());
            let mut value = CANONICAL_ID.to_vec();
            prost::encoding::encode_varint(e, &mut value);
            prost::encoding::encode_varint(pt, &mut value);
            // Never a panic; a rebuilt tail always spells the key's id.
            if let Ok(tail) = id_entry_tail(&id_key, &value) {
                let [_, _, _, rebuilt] = untuple_grant_tail(&tail).unwrap();
                prop_assert_eq!(rebuilt, text.into_bytes());
            }
        }

        #[test]
        fn hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(from_hex(&to_hex(&bytes)), Some(bytes));
        }
    }

    #[test]
    fn by_value_prefix_does_not_match_longer_components() {
        let mut prefix = tuple(&["ent"]);
        prefix.push(0);
        assert!(!tuple(&["entitlement-1", "x"]).starts_with(&prefix));
        assert!(tuple(&["ent", "x"]).starts_with(&prefix));
    }

    #[test]
    fn prefix_end_bounds() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
        assert!(untuple(&[0x01, 0x03]).is_none());
    }

    /// Found by the property test: an id whose escaped form ends in the marker's bytes.
    #[test]
    fn an_escaped_id_ending_in_marker_bytes_is_not_the_marker() {
        let tail = grant_tail("", "", "", "\u{0}\u{3}");
        assert_eq!(tail, [0, 0, 0, 1, 1, 3]);
        assert_eq!(
            untuple_grant_tail(&tail),
            Some([vec![], vec![], vec![], vec![0, 3]])
        );
    }

    #[test]
    fn canonical_ids_are_exact() {
        assert!(is_canonical_id(
            "g:eng:member",
            "user",
            "a:b",
            "g:eng:member:user:a:b"
        ));
        assert!(!is_canonical_id(
            "g:eng:member",
            "user",
            "a",
            "g:eng:member:user:b"
        ));
        assert!(!is_canonical_id("g", "user", "a", "g:user:a:"));
        assert!(!is_canonical_id("g", "user", "a", "g-user-a"));
        // An id whose escaped bytes end in `01 03` is not the marker.
        let tail = grant_tail("g", "user", "a", "\u{0}\u{3}");
        assert!(tail.ends_with(&[0x01, 0x01, 0x03]));
        assert_eq!(
            untuple_grant_tail(&tail).map(|p| p[3].clone()),
            Some(vec![0x00, 0x03])
        );
    }
}
