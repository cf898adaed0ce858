//! The keyspace's invariants (`docs/format-rocksdb.md` §6), checked row by row: what the
//! parity workload asserts after random operations, and what a deep verify reports.

use std::collections::HashSet;

use super::RocksStore;
use super::error::RocksError;
use super::idfilter::IdFilter;
use super::keys::{self, family, index};
use super::reader::Snapshots;
use crate::error::{Error, Result};

fn broken(reason: String) -> Error {
    Error::corrupt("rocksdb index", reason)
}

impl RocksStore {
    /// Checks every sync's index entries against its rows: each grant row has its by-id,
    /// by-principal and "granted on" entries, and a needs-expansion entry exactly while its
    /// value needs expansion; each grant index entry names an existing row; each
    /// entitlement row has its by-id entry and each by-id entry its row; each by-parent
    /// entry names an existing resource; and every stored grant id is in the sync's
    /// grant-id filter, if one is built (so bulk writes never skip a stored id).
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the first violation; engine errors.
    pub fn check_consistency(&self) -> Result<()> {
        let _writes = self.lock();
        self.publish_bulk()?;
        for seq in self.seqs(None)? {
            self.check_grants(seq)?;
            self.check_entitlements(seq)?;
            self.check_parents(seq)?;
        }
        Ok(())
    }

    /// Every key under `prefix`, with its value.
    fn entries(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut it = self.iter_below(keys::prefix_end(prefix), prefix);
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            out.push((k.to_vec(), v.to_vec()));
            it.next();
        }
        it.status().map_err(RocksError::from)?;
        Ok(out)
    }

    fn exists(&self, key: &[u8]) -> Result<bool> {
        Ok(self.db.get(key).map_err(RocksError::from)?.is_some())
    }

    fn check_grants(&self, seq: u32) -> Result<()> {
        let head = keys::head(family::GRANT, seq);
        let rows = self.entries(&head)?;
        let tails: HashSet<&[u8]> = rows.iter().map(|(k, _)| &k[head.len()..]).collect();
        let filters = self.grant_id_filters_if_built();
        let filter = filters.get(&seq);
        let mut seen = Snapshots::default();
        for (key, value) in &rows {
            let tail = &key[head.len()..];
            let [e, pt, pid, id] = keys::untuple_grant_tail(tail)
                .ok_or_else(|| broken(format!("malformed grant key {}", keys::to_hex(key))))?;
            let v = self.grant_value(seq, tail, value, &mut seen)?;
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let name = text(&id);
            let mut id_key = keys::index_head(index::GRANT_BY_ID, seq);
            keys::push_component(&mut id_key, &id);
            match self.db.get(&id_key).map_err(RocksError::from)? {
                Some(entry) if keys::id_entry_tail(&id_key, &entry)?.as_ref() == tail => {}
                _ => return Err(broken(format!("grant '{name}' without its by-id entry"))),
            }
            if filter.is_some_and(|f| !f.may_contain_hash(IdFilter::hash(&id_key))) {
                return Err(broken(format!("grant '{name}' missing from the id filter")));
            }
            let mut by_principal = keys::index_head(index::GRANT_BY_PRINCIPAL, seq);
            keys::push_tuple(&mut by_principal, &[&pt, &pid]);
            by_principal.push(0);
            by_principal.extend_from_slice(tail);
            if !self.exists(&by_principal)? {
                return Err(broken(format!(
                    "grant '{name}' without its by-principal entry"
                )));
            }
            let mut granted_on = Vec::new();
            keys::push_granted_on_key(
                &mut granted_on,
                seq,
                (&v.resource_type_id, &v.resource_id),
                tail,
            );
            if !self.exists(&granted_on)? {
                return Err(broken(format!(
                    "grant '{name}' of '{}' without its granted-on entry",
                    text(&e)
                )));
            }
            let needs = keys::join(keys::index_head(index::GRANT_NEEDS_EXPANSION, seq), tail);
            if self.exists(&needs)? != v.needs_expansion {
                return Err(broken(format!(
                    "grant '{name}': needs-expansion entry disagrees with its row"
                )));
            }
        }
        let ids = self.entries(&keys::index_head(index::GRANT_BY_ID, seq))?;
        for (key, value) in &ids {
            if !tails.contains(keys::id_entry_tail(key, value)?.as_ref()) {
                return Err(broken(format!(
                    "by-id entry {} without its grant",
                    keys::to_hex(key)
                )));
            }
        }
        if ids.len() != rows.len() {
            return Err(broken(format!(
                "{} grants but {} by-id entries",
                rows.len(),
                ids.len()
            )));
        }
        // by-principal `07 04 seq pt 00 pid 00 <tail>`, needs-expansion `07 05 seq <tail>`.
        for (idx, skip) in [
            (index::GRANT_BY_PRINCIPAL, 2),
            (index::GRANT_NEEDS_EXPANSION, 0),
        ] {
            let prefix = keys::index_head(idx, seq);
            for (key, _) in self.entries(&prefix)? {
                let tail = after(&key[prefix.len()..], skip)
                    .ok_or_else(|| broken(format!("malformed index key {}", keys::to_hex(&key))))?;
                if !tails.contains(tail) {
                    return Err(broken(format!(
                        "index entry {} without its grant",
                        keys::to_hex(&key)
                    )));
                }
            }
        }
        Ok(())
    }

    fn check_entitlements(&self, seq: u32) -> Result<()> {
        let head = keys::head(family::ENTITLEMENT, seq);
        let rows = self.entries(&head)?;
        let by_id = self.entries(&keys::index_head(index::ENTITLEMENT_BY_ID, seq))?;
        let tails: HashSet<&[u8]> = rows.iter().map(|(k, _)| &k[head.len()..]).collect();
        for (key, tail) in &by_id {
            if !tails.contains(tail.as_slice()) {
                return Err(broken(format!(
                    "entitlement by-id entry {} without its row",
                    keys::to_hex(key)
                )));
            }
        }
        if by_id.len() != rows.len() {
            return Err(broken(format!(
                "{} entitlements but {} by-id entries",
                rows.len(),
                by_id.len()
            )));
        }
        Ok(())
    }

    fn check_parents(&self, seq: u32) -> Result<()> {
        let prefix = keys::index_head(index::RESOURCE_BY_PARENT, seq);
        for (key, _) in self.entries(&prefix)? {
            let tail = after(&key[prefix.len()..], 2)
                .ok_or_else(|| broken(format!("malformed index key {}", keys::to_hex(&key))))?;
            if !self.exists(&keys::join(keys::head(family::RESOURCE, seq), tail))? {
                return Err(broken(format!(
                    "by-parent entry {} without its resource",
                    keys::to_hex(&key)
                )));
            }
        }
        Ok(())
    }
}

/// The bytes after the `n`-th `00` of `bytes`.
fn after(bytes: &[u8], n: usize) -> Option<&[u8]> {
    let mut rest = bytes;
    for _ in 0..n {
        let at = rest.iter().position(|b| *b == 0)?;
        rest = &rest[at + 1..];
    }
    Some(rest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{GrantRecord, SyncId};
    use crate::pb::c1::connector::v2::{Entitlement, Grant, Resource, ResourceId};
    use crate::store::{GrantUpsertMode, Writer};

    fn grant(id: &str, user: &str) -> GrantRecord {
        let rid = |t: &str, r: &str| {
            Some(ResourceId {
                resource_type: t.into(),
                resource: r.into(),
                ..Default::default()
            })
        };
        GrantRecord {
            grant: Grant {
                id: id.into(),
                entitlement: Some(Entitlement {
                    id: "g:eng:member".into(),
                    resource: Some(Resource {
                        id: rid("g", "eng"),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                principal: Some(Resource {
                    id: rid("user", user),
                    ..Default::default()
                }),
                ..Default::default()
            },
            expansion: None,
            needs_expansion: false,
            discovered_at: crate::model::wall::now(),
        }
    }

    /// A consistent store passes; a missing index entry is named.
    #[test]
    fn a_missing_entry_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(&dir.path().join("db"), false).unwrap();
        let sync = SyncId::from("s");
        store
            .put_grants(
                &sync,
                &[grant("a", "alice"), grant("b", "bob")],
                GrantUpsertMode::Replace,
            )
            .unwrap();
        store.check_consistency().unwrap();
        let seq = store.seq(&sync).unwrap().unwrap();
        let mut by_principal = keys::index_head(index::GRANT_BY_PRINCIPAL, seq);
        by_principal.extend_from_slice(&keys::tuple(&["user", "bob"]));
        let mut it = store.db.raw_iterator();
        it.seek(&by_principal);
        let key = it.key().unwrap().to_vec();
        drop(it);
        store.db.delete(&key).unwrap();
        let err = store.check_consistency().unwrap_err().to_string();
        assert!(err.contains("'b' without its by-principal entry"), "{err}");
    }
}
