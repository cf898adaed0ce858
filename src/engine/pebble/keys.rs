//! baton's Pebble keyspace (`../shared/spec/format-v3-envelope.md` §11): the tuple
//! encoding, structural identity, and the keys of every family c1z reads.

use crate::error::{Error, Result};

/// The keyspace version byte every key starts with.
pub const VERSION: u8 = 0x03;

/// Key families (the byte after [`VERSION`]).
pub mod family {
    /// Resource types.
    pub const RESOURCE_TYPE: u8 = 0x01;
    /// Resources.
    pub const RESOURCE: u8 = 0x02;
    /// Entitlements.
    pub const ENTITLEMENT: u8 = 0x03;
    /// Grants.
    pub const GRANT: u8 = 0x04;
    /// Assets.
    pub const ASSET: u8 = 0x05;
    /// The sync run (one fixed key).
    pub const SYNC_RUN: u8 = 0x06;
    /// Secondary indexes (an index byte follows).
    pub const INDEX: u8 = 0x07;
    /// Engine meta (stamps, markers, sidecars; no separator follows).
    pub const META: u8 = 0xff;
}

/// Secondary indexes (the byte after `03 07`).
pub mod index {
    /// Resources by parent.
    pub const BY_PARENT: u8 = 0x01;
    /// Grants by principal.
    pub const BY_PRINCIPAL: u8 = 0x04;
    /// Grants that need expansion.
    pub const NEEDS_EXPANSION: u8 = 0x05;
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::corrupt("pebble key", what.to_string())
}

/// Appends one tuple component: `00` → `01 01`, `01` → `01 02`, other bytes verbatim.
pub fn push_component(out: &mut Vec<u8>, component: &[u8]) {
    for &b in component {
        match b {
            0 => out.extend_from_slice(&[1, 1]),
            1 => out.extend_from_slice(&[1, 2]),
            b => out.push(b),
        }
    }
}

/// A key: the header bytes, then each component escaped and preceded by `00`.
#[must_use]
pub fn key(header: &[u8], components: &[&[u8]]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(header.len() + components.iter().map(|c| c.len() + 1).sum::<usize>());
    out.extend_from_slice(header);
    for c in components {
        out.push(0);
        push_component(&mut out, c);
    }
    out
}

/// A "by value" prefix: [`key`] plus the trailing `00` that stops `ent` from matching
/// `entitlement-1`.
#[must_use]
pub fn prefix(header: &[u8], components: &[&[u8]]) -> Vec<u8> {
    let mut out = key(header, components);
    out.push(0);
    out
}

/// The exclusive upper bound of every key starting with `prefix`: the last byte that is
/// not `FF` incremented, the rest dropped (`None`: no bound).
#[must_use]
pub fn upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let i = prefix.iter().rposition(|b| *b != 0xff)?;
    let mut out = prefix[..=i].to_vec();
    out[i] += 1;
    Some(out)
}

/// The components after a `header` of `header_len` bytes followed by `00`.
///
/// # Errors
/// [`Error::Corrupt`] for a key without the separator after its header or a bad escape.
pub fn components(key: &[u8], header_len: usize) -> Result<Vec<Vec<u8>>> {
    let rest = key
        .get(header_len..)
        .and_then(|r| r.strip_prefix(&[0]))
        .ok_or_else(|| bad(format!("no tuple after the header of {}", show(key))))?;
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = rest.iter();
    while let Some(&b) = bytes.next() {
        match b {
            0 => out.push(std::mem::take(&mut current)),
            1 => match bytes.next() {
                Some(1) => current.push(0),
                Some(2) => current.push(1),
                _ => return Err(bad(format!("bad escape in {}", show(key)))),
            },
            b => current.push(b),
        }
    }
    out.push(current);
    Ok(out)
}

/// A key, printable (for errors).
#[must_use]
pub fn show(key: &[u8]) -> String {
    key.escape_ascii().to_string()
}

/// An entitlement's structural identity: (resource type, resource id, flag, tail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntitlementIdentity {
    /// The resource type of the entitlement's resource.
    pub resource_type: Vec<u8>,
    /// The entitlement's resource id.
    pub resource: Vec<u8>,
    /// Whether the external id was `rt:rid:tail` (`1`) or is the tail itself (`0`).
    pub prefixed: bool,
    /// The rest of the external id.
    pub tail: Vec<u8>,
}

impl EntitlementIdentity {
    /// The identity of the entitlement `external_id` on resource (`rt`, `rid`).
    #[must_use]
    pub fn new(rt: &str, rid: &str, external_id: &str) -> Self {
        let head = format!("{rt}:{rid}:");
        match external_id.strip_prefix(&head) {
            Some(tail) => EntitlementIdentity {
                resource_type: rt.into(),
                resource: rid.into(),
                prefixed: true,
                tail: tail.into(),
            },
            None => EntitlementIdentity {
                resource_type: rt.into(),
                resource: rid.into(),
                prefixed: false,
                tail: external_id.into(),
            },
        }
    }

    /// From four key components.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a flag other than `0` or `1`.
    pub fn from_components(c: &[Vec<u8>]) -> Result<Self> {
        let [rt, rid, flag, tail] = c else {
            return Err(bad("entitlement identity of other than 4 components"));
        };
        let prefixed = match flag.as_slice() {
            b"1" => true,
            b"0" => false,
            _ => return Err(bad("entitlement identity flag other than 0 and 1")),
        };
        Ok(EntitlementIdentity {
            resource_type: rt.clone(),
            resource: rid.clone(),
            prefixed,
            tail: tail.clone(),
        })
    }

    /// The four components, in key order.
    #[must_use]
    pub fn parts(&self) -> [&[u8]; 4] {
        [
            &self.resource_type,
            &self.resource,
            if self.prefixed { b"1" } else { b"0" },
            &self.tail,
        ]
    }

    /// The external id, byte-exact.
    #[must_use]
    pub fn external_id(&self) -> Vec<u8> {
        if !self.prefixed {
            return self.tail.clone();
        }
        let mut out = self.resource_type.clone();
        out.push(b':');
        out.extend_from_slice(&self.resource);
        out.push(b':');
        out.extend_from_slice(&self.tail);
        out
    }
}

/// `03 f` with `f` a family.
#[must_use]
pub fn header(family: u8) -> [u8; 2] {
    [VERSION, family]
}

/// `03 07 i` with `i` an index.
#[must_use]
pub fn index_header(index: u8) -> [u8; 3] {
    [VERSION, family::INDEX, index]
}

/// An engine-meta key: `03 FF name` (no separator).
#[must_use]
pub fn meta(name: &[u8]) -> Vec<u8> {
    let mut out = vec![VERSION, family::META];
    out.extend_from_slice(name);
    out
}

/// Every split of `id` at two of its colons: `(before the first, between, after the
/// second)`. An entitlement id `rt:rid:tail` is one of its splits, a grant id
/// `entitlement:principal_type:principal_id` another; callers try each with point gets
/// (baton's bare-id lookup).
#[must_use]
pub fn colon_splits(id: &str) -> Vec<(&str, &str, &str)> {
    let colons: Vec<usize> = id.match_indices(':').map(|(i, _)| i).collect();
    let mut out = Vec::new();
    for (a, &i) in colons.iter().enumerate() {
        for &j in &colons[a + 1..] {
            out.push((&id[..i], &id[i + 1..j], &id[j + 1..]));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_specs_example_keys() {
        let e = EntitlementIdentity::new("group", "group-0000000", "group:group-0000000:admin");
        let mut comps: Vec<&[u8]> = e.parts().to_vec();
        assert_eq!(
            key(&header(family::ENTITLEMENT), &comps),
            b"\x03\x03\x00group\x00group-0000000\x001\x00admin"
        );
        comps.extend([&b"user"[..], b"user-0000000"]);
        assert_eq!(
            key(&header(family::GRANT), &comps),
            b"\x03\x04\x00group\x00group-0000000\x001\x00admin\x00user\x00user-0000000"
        );
        let odd = EntitlementIdentity::new("group", "g", "other:g:admin");
        assert!(!odd.prefixed);
        assert_eq!(odd.external_id(), b"other:g:admin");
        assert_eq!(upper_bound(&[3, 4, 0]), Some(vec![3, 4, 1]));
        assert_eq!(upper_bound(&[3, 0xff, 0xff]), Some(vec![4]));
        assert_eq!(upper_bound(&[0xff]), None);
        assert_eq!(meta(b"stats\x00"), b"\x03\xffstats\x00");
        assert_eq!(
            colon_splits("a:b:c:d"),
            vec![("a", "b", "c:d"), ("a", "b:c", "d"), ("a:b", "c", "d")]
        );
        assert!(components(b"\x03\x01\x00a\x01\x03", 2).is_err());
        assert!(components(b"\x03\x01a", 2).is_err());
        assert!(
            EntitlementIdentity::from_components(&[vec![], vec![], b"2".to_vec(), vec![]]).is_err()
        );
    }

    proptest! {
        #[test]
        fn tuples_round_trip_and_keep_order(a in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..6), 1..4),
                                            b in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..6), 1..4)) {
            let ka = key(&[3, 1], &a.iter().map(Vec::as_slice).collect::<Vec<_>>());
            let kb = key(&[3, 1], &b.iter().map(Vec::as_slice).collect::<Vec<_>>());
            prop_assert_eq!(components(&ka, 2).unwrap(), a.clone());
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
        }

        #[test]
        fn identities_rebuild_the_external_id(rt in "[a-z:]{0,4}", rid in "[a-z:]{0,4}", id in "[a-z:]{0,10}") {
            let e = EntitlementIdentity::new(&rt, &rid, &id);
            prop_assert_eq!(e.external_id(), id.as_bytes().to_vec());
            let parts: Vec<Vec<u8>> = e.parts().iter().map(|p| p.to_vec()).collect();
            prop_assert_eq!(EntitlementIdentity::from_components(&parts).unwrap(), e);
        }
    }
}
