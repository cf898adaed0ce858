//! Content digests: "did anything change?" without a diff, per sync and per entitlement,
//! the same whatever engine holds the sync and whatever order its rows come in.
//!
//! Definition (version 1; `docs/digest.md` is the reference):
//! - An object's hash is SHA-256 of `"c1z-object-v1" 00 kind 00 external_id 00 content`,
//!   where `kind` is `resource_type`, `resource`, `entitlement` or `grant`, `external_id` is
//!   baton's (a resource's `type:id`), and `content` is what [`crate::diff`] compares: the
//!   canonical protobuf encoding of the object, and for a grant its `expansion` first
//!   (length as u64 little-endian, then the encoded `GrantExpandable`, empty when absent).
//! - An entitlement's digest is SHA-256 of `"c1z-entitlement-v1" 00 entitlement_id 00
//!   count(u64 LE)` followed by the hashes of its grants (the grants whose entitlement id it
//!   is) in ascending byte order.
//! - A sync's digest is SHA-256 of `"c1z-sync-v1" 00` followed, for each kind in the order
//!   above, by `count(u64 LE)` and the hashes of its objects in ascending byte order.
//!   Assets, timestamps and the sync run itself are not part of it.
//!
//! Sorting the hashes makes the digests independent of row order; hashing the canonical
//! encodings makes them independent of the engine (a baton Pebble file's records keep less
//! than its SQLite rows, so the same sync read from the two engines digests differently,
//! as it lists differently). SHA-256 keeps them collision-resistant for files from
//! someone else. Computing holds 32 bytes per object, and 32 more per grant.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::diff::{Kind, Object, Side, objects};
use crate::error::Result;
use crate::model::SyncId;
use crate::store::{GrantQuery, Reader, ReaderExt, SyncSelector};

/// A 32-byte digest, shown as lowercase hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash(pub [u8; 32]);

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The hash of one object.
#[must_use]
pub fn object_hash(object: &Object) -> Hash {
    let mut h = Sha256::new();
    h.update(b"c1z-object-v1\0");
    h.update(object.kind().name().as_bytes());
    h.update([0]);
    h.update(object.external_id().as_bytes());
    h.update([0]);
    h.update(object.content());
    Hash(h.finalize().into())
}

/// The digest of a set of hashes under a header: the header, the count, the sorted hashes.
fn fold(header: &mut Sha256, mut hashes: Vec<Hash>) {
    hashes.sort_unstable();
    header.update((hashes.len() as u64).to_le_bytes());
    for x in &hashes {
        header.update(x.0);
    }
}

fn entitlement_digest(id: &str, hashes: Vec<Hash>) -> Hash {
    let mut h = Sha256::new();
    h.update(b"c1z-entitlement-v1\0");
    h.update(id.as_bytes());
    h.update([0]);
    fold(&mut h, hashes);
    Hash(h.finalize().into())
}

/// One entitlement's digest and how many grants it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EntitlementDigest {
    /// Grants of the entitlement.
    pub grants: u64,
    /// Their digest.
    pub digest: Hash,
}

/// One kind's objects in a sync digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KindDigest {
    /// The kind.
    pub kind: Kind,
    /// Objects of the kind.
    pub count: u64,
    /// Their digest (the kind's part of the sync digest, on its own: header
    /// `"c1z-kind-v1" 00 kind 00`, then count and sorted hashes).
    pub digest: Hash,
}

/// The digests of one sync.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SyncDigest {
    /// The sync.
    pub sync_id: String,
    /// The digest of everything.
    pub digest: Hash,
    /// Per kind.
    pub kinds: Vec<KindDigest>,
    /// Per entitlement: every entitlement of the sync, and every entitlement id grants name.
    pub entitlements: BTreeMap<String, EntitlementDigest>,
}

/// The digests of sync `sync` of `store`, computed by streaming every object once.
///
/// # Errors
/// Engine or decode errors.
pub fn digest_sync(store: &dyn Reader, sync: &SyncId) -> Result<SyncDigest> {
    let side = Side { store, sync };
    let mut whole = Sha256::new();
    whole.update(b"c1z-sync-v1\0");
    let mut kinds = Vec::new();
    let mut per_entitlement: BTreeMap<String, Vec<Hash>> = BTreeMap::new();
    for kind in Kind::ALL {
        let mut hashes = Vec::new();
        for o in objects(side, kind) {
            let o = o?;
            let h = object_hash(&o);
            if let Object::Entitlement(e) = &o {
                per_entitlement.entry(e.value.id.clone()).or_default();
            }
            if let Object::Grant(g) = &o {
                let ent = g.grant.entitlement.as_ref().map_or("", |e| e.id.as_str());
                match per_entitlement.get_mut(ent) {
                    Some(v) => v.push(h),
                    None => {
                        per_entitlement.insert(ent.to_owned(), vec![h]);
                    }
                }
            }
            hashes.push(h);
        }
        hashes.sort_unstable();
        let mut k = Sha256::new();
        k.update(b"c1z-kind-v1\0");
        k.update(kind.name().as_bytes());
        k.update([0]);
        let count = hashes.len() as u64;
        whole.update(count.to_le_bytes());
        for x in &hashes {
            whole.update(x.0);
        }
        fold(&mut k, hashes);
        kinds.push(KindDigest {
            kind,
            count,
            digest: Hash(k.finalize().into()),
        });
    }
    let entitlements = per_entitlement
        .into_iter()
        .map(|(id, hashes)| {
            let grants = hashes.len() as u64;
            let digest = entitlement_digest(&id, hashes);
            (id, EntitlementDigest { grants, digest })
        })
        .collect();
    Ok(SyncDigest {
        sync_id: sync.as_str().to_owned(),
        digest: Hash(whole.finalize().into()),
        kinds,
        entitlements,
    })
}

/// The digest of one entitlement's grants in sync `sync`, read through the store's
/// by-entitlement listing (no full scan). Equal to its entry in [`digest_sync`].
///
/// # Errors
/// Engine or decode errors.
pub fn entitlement_digest_of(
    store: &dyn Reader,
    sync: &SyncId,
    entitlement_id: &str,
) -> Result<EntitlementDigest> {
    let mut hashes = Vec::new();
    for g in store.stream_grants(GrantQuery {
        sync: SyncSelector::Id(sync.clone()),
        entitlement_id: Some(entitlement_id.to_owned()),
        ..GrantQuery::default()
    }) {
        hashes.push(object_hash(&Object::Grant(g?)));
    }
    let grants = hashes.len() as u64;
    Ok(EntitlementDigest {
        grants,
        digest: entitlement_digest(entitlement_id, hashes),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_print_as_lowercase_hex() {
        let mut b = [0u8; 32];
        b[0] = 0xab;
        b[31] = 0x01;
        let s = Hash(b).to_string();
        assert_eq!(s.len(), 64);
        assert!(s.starts_with("ab00") && s.ends_with("01"));
    }

    #[test]
    fn entitlement_digests_ignore_order_but_not_content() {
        let h = |i: u8| Hash([i; 32]);
        let a = entitlement_digest("e", vec![h(1), h(2), h(3)]);
        assert_eq!(a, entitlement_digest("e", vec![h(3), h(1), h(2)]));
        assert_ne!(a, entitlement_digest("e", vec![h(1), h(2)]));
        assert_ne!(a, entitlement_digest("f", vec![h(1), h(2), h(3)]));
        assert_ne!(
            entitlement_digest("e", vec![]),
            entitlement_digest("", vec![])
        );
    }
}
