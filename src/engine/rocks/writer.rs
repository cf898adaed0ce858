//! Writes: upserts with the SQLite engine's rules, one write batch per call.

use std::collections::{HashMap, HashSet};
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use prost::Message;
use rocksdb::WriteBatch;

use super::RocksStore;
use super::bulk::KvSink;
use super::error::RocksError;
use super::idfilter::IdFilter;
use super::keys::{self, family, index};
use super::reader::{Snapshot, Snapshots};
use super::values::{
    DerivedGrantRow, StoredGrantRow, decode_asset, decode_object, encode_asset, encode_snapshot,
    encode_sync_run, object_value,
};
use crate::codec;
use crate::error::{Error, Result};
use crate::model::ResourceKey;
use crate::model::{Asset, GrantRecord, Record, SyncId, SyncRun};
use crate::pb::c1::connector::v2::{Entitlement, Resource, ResourceId, ResourceType};
use crate::store::{
    BulkGrantOps, DerivedEntitlement, DerivedGrant, EncodedGrant, EntitlementKey, GrantBulkLoad,
    GrantUpsertMode, Writer,
};

fn id_parts(id: Option<&ResourceId>) -> (&str, &str) {
    id.map_or(("", ""), |i| {
        (i.resource_type.as_str(), i.resource.as_str())
    })
}

/// The `discovered_at` of an existing object value.
fn first_seen(value: &[u8]) -> Result<chrono::NaiveDateTime> {
    Ok(decode_object(value)?.discovered_at)
}

/// Rows and id-index entries written earlier in the same call, so a later duplicate sees
/// them (later wins). Only keys that a call reads back live here; they join the write
/// batch at the end, so values are never copied twice.
#[derive(Default)]
struct Pending(HashMap<Vec<u8>, Vec<u8>>);

impl Pending {
    fn get(&self, store: &RocksStore, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.0.get(key) {
            // Only duplicates within one call take this (cloning) path.
            Some(v) => Ok(Some(v.clone())),
            None => Ok(store.db.get(key).map_err(RocksError::from)?),
        }
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.0.insert(key, value);
    }

    /// Adds the rows to `batch` in key order (not the map's): consecutive memtable
    /// inserts then reuse their skiplist position.
    fn into_batch(self, batch: &mut WriteBatch) {
        let mut rows: Vec<_> = self.0.into_iter().collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (k, v) in rows {
            batch.put(k, v);
        }
    }
}

/// `07 idx seq tuple(parts) 00 tail`.
fn index_key(idx: u8, seq: u32, parts: &[&str], tail: &[u8]) -> Vec<u8> {
    let mut k = keys::index_head(idx, seq);
    k.extend_from_slice(&keys::tuple(parts));
    k.push(0);
    k.extend_from_slice(tail);
    k
}

/// baton's Replace rule for `needs_expansion` on conflict.
fn replaced_needs_expansion(old: Option<&[u8]>, new: Option<&[u8]>, old_needs: bool) -> bool {
    match (old, new) {
        (_, None) => false,
        (_, Some([])) => false,
        (None, Some(_)) => true,
        (Some(o), Some(n)) => o != n || old_needs,
    }
}

impl RocksStore {
    fn commit(&self, batch: WriteBatch) -> Result<()> {
        self.db
            .write_opt(batch, &self.write_opts)
            .map_err(RocksError::from)?;
        self.touched();
        Ok(())
    }
}

/// An entitlement's resource (type, id).
fn resource_of(e: &EntitlementKey) -> (&str, &str) {
    (e.resource_type_id.as_str(), e.resource_id.as_str())
}

/// Byte strings (keys, key tails) back to back in one buffer: no allocation per string.
#[derive(Default)]
struct PackedKeys {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

/// The grant tails and grant-id keys of a bulk grant write, kept between calls.
#[derive(Default)]
pub(super) struct KeyScratch {
    tails: PackedKeys,
    id_keys: PackedKeys,
}

impl KeyScratch {
    /// Both buffers emptied, with room for `rows` rows.
    fn cleared_for(&mut self, rows: usize) -> (&mut PackedKeys, &mut PackedKeys) {
        self.tails.clear_for(rows, rows * 96);
        self.id_keys.clear_for(rows, rows * 64);
        (&mut self.tails, &mut self.id_keys)
    }
}

/// Most bytes [`KeyScratch`] keeps after a call: an exceptionally large call's buffers
/// are freed rather than held for the store's lifetime.
const KEPT_SCRATCH_BYTES: usize = 16 << 20;

/// The store's [`KeyScratch`], locked; buffers grown past [`KEPT_SCRATCH_BYTES`] are
/// freed when it is released.
struct ScratchGuard<'a>(std::sync::MutexGuard<'a, Box<KeyScratch>>);

impl Drop for ScratchGuard<'_> {
    fn drop(&mut self) {
        let s = &self.0;
        if s.tails.bytes.capacity() + s.id_keys.bytes.capacity() > KEPT_SCRATCH_BYTES {
            **self.0 = KeyScratch::default();
        }
    }
}

impl PackedKeys {
    /// Empties the buffer, keeping its memory, with room for `keys` keys of `bytes` in all.
    fn clear_for(&mut self, keys: usize, bytes: usize) {
        self.bytes.clear();
        self.ends.clear();
        self.bytes.reserve(bytes);
        self.ends.reserve(keys);
    }

    fn with_capacity(keys: usize, bytes: usize) -> Self {
        PackedKeys {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(keys),
        }
    }

    /// Appends a string built by `build` onto the buffer.
    fn push_with(&mut self, build: impl FnOnce(&mut Vec<u8>)) {
        build(&mut self.bytes);
        self.ends.push(self.bytes.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Bytes of all strings together.
    fn total_bytes(&self) -> usize {
        self.bytes.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// New grant rows of one call, all certainly new: their identities, key tails, grant-id
/// keys, and a writer of each row's value.
struct NewRows<'a> {
    seq: u32,
    /// Per row: the entitlement's resource (type, id).
    resources: Vec<(&'a str, &'a str)>,
    /// Per row: the principal.
    principals: Vec<&'a ResourceKey>,
    /// Every row's tail.
    tails: &'a PackedKeys,
    id_keys: &'a PackedKeys,
    /// Entries written with the rows (entitlement snapshots).
    extra: &'a [(Vec<u8>, Vec<u8>)],
    /// Fills the (emptied) buffer with row `i`'s value.
    value: &'a dyn Fn(usize, &mut Vec<u8>),
    /// About the bytes of all values.
    value_bytes: usize,
}

impl NewRows<'_> {
    fn tail(&self, i: usize) -> &[u8] {
        self.tails.get(i)
    }

    /// At least the bytes [`NewRows::write`] puts in a bulk buffer (keys, values and 12
    /// bytes an entry).
    fn buffered_bytes(&self) -> usize {
        let per_row: usize = self
            .resources
            .iter()
            .zip(&self.principals)
            .zip(self.id_keys.iter())
            .map(|(((rt, rid), p), id_key)| {
                // Three entries (12 bytes each and key heads) and at most one "granted
                // on" entry; the entitlement's resource in the row value and that entry;
                // the principal in an index key.
                4 * (12 + 8)
                    + 2 * (rt.len() + rid.len())
                    + p.resource_type.len()
                    + p.resource.len()
                    + id_key.len()
            })
            .sum();
        let extra: usize = self.extra.iter().map(|(k, v)| 12 + k.len() + v.len()).sum();
        // Each tail is in the row key, the id value and the by-principal key, and its
        // entitlement in a "granted on" entry; one more covers escapes elsewhere.
        per_row + extra + self.value_bytes + self.tails.total_bytes() * 5
    }

    /// The rows' indexes in ascending order of `key` (as they are when they already are,
    /// which the check finds in one pass: the expander's rows come sorted).
    fn order_by<'k>(&self, key: impl Fn(usize) -> &'k [u8]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.id_keys.len()).collect();
        if !order.windows(2).all(|w| key(w[0]) <= key(w[1])) {
            order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)));
        }
        order
    }

    /// Writes every row and its index entries, family by family, each family's keys in
    /// ascending order: memtable inserts then reuse their skiplist position (a connector's
    /// rows in its own order made the skiplist's splice recomputation the largest part of
    /// a write), and a bulk buffer gets long sorted runs.
    fn write(&self, out: &mut impl KvSink) {
        let seq = self.seq;
        for (k, v) in self.extra {
            out.put_kv(k, v);
        }
        let mut key = Vec::with_capacity(512);
        let mut value = Vec::with_capacity(512);
        let head = keys::head(family::GRANT, seq);
        for i in self.order_by(|i| self.tails.get(i)) {
            (self.value)(i, &mut value);
            key.clear();
            key.extend_from_slice(&head);
            key.extend_from_slice(self.tail(i));
            out.put_kv(&key, &value);
        }
        for i in self.order_by(|i| self.id_keys.get(i)) {
            value.clear();
            keys::push_id_value(&mut value, self.tail(i));
            out.put_kv(self.id_keys.get(i), &value);
        }
        // index_key() of each row, then in key order.
        let by_principal = keys::index_head(index::GRANT_BY_PRINCIPAL, seq);
        let mut principal_keys =
            PackedKeys::with_capacity(self.principals.len(), self.tails.total_bytes() * 2);
        for (i, p) in self.principals.iter().enumerate() {
            principal_keys.push_with(|key| {
                key.extend_from_slice(&by_principal);
                keys::push_tuple(key, &[p.resource_type.as_str(), p.resource.as_str()]);
                key.push(0);
                key.extend_from_slice(self.tail(i));
            });
        }
        for i in self.order_by(|i| principal_keys.get(i)) {
            out.put_kv(principal_keys.get(i), b"");
        }
        // One entry per entitlement and resource: rows of one entitlement come together.
        let mut granted_on = PackedKeys::with_capacity(4, 256);
        let mut last: Option<(&str, &str, &[u8])> = None;
        for (i, &(rt, rid)) in self.resources.iter().enumerate() {
            let tail = self.tail(i);
            let entitlement = keys::first_component(tail);
            if last != Some((rt, rid, entitlement)) {
                last = Some((rt, rid, entitlement));
                granted_on.push_with(|k| keys::push_granted_on_key(k, seq, (rt, rid), tail));
            }
        }
        let mut entries: Vec<&[u8]> = granted_on.iter().collect();
        entries.sort_unstable();
        entries.dedup();
        for k in entries {
            out.put_kv(k, b"");
        }
    }
}

impl RocksStore {
    /// The key buffers of bulk grant writes (callers hold the write lock).
    fn key_scratch(&self) -> ScratchGuard<'_> {
        ScratchGuard(
            self.key_scratch
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Whether every grant-id key of a call is new: not repeated in the call, and not
    /// stored (only ids the filter cannot rule out are looked up). If so, the keys join
    /// the filter, and the count of ids it holds and each key's [`IdFilter::hash`] are
    /// returned.
    fn all_new(&self, seq: u32, id_keys: &PackedKeys) -> Result<Option<(usize, Vec<u64>)>> {
        let hashes: Vec<u64> = id_keys.iter().map(IdFilter::hash).collect();
        // Repeats: equal hashes first, keys only if some hashes are equal.
        let mut sorted = hashes.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            let mut seen = HashSet::with_capacity(id_keys.len());
            if !id_keys.iter().all(|k| seen.insert(k)) {
                return Ok(None);
            }
        }
        let mut filters = self.grant_id_filters(seq)?;
        let maybe: Vec<usize> = match filters.get(&seq) {
            Some(f) => (0..id_keys.len())
                .filter(|&i| f.may_contain_hash(hashes[i]))
                .collect(),
            None => (0..id_keys.len()).collect(),
        };
        // The lookup below sees published rows only.
        if self.bulk_may_hold_hashes(maybe.iter().map(|&i| hashes[i])) {
            self.publish_bulk()?;
        }
        for hit in self.db.multi_get(maybe.iter().map(|&i| id_keys.get(i))) {
            if hit.map_err(RocksError::from)?.is_some() {
                return Ok(None);
            }
        }
        let ids = Self::note_new_grant_ids(&mut filters, seq, hashes.iter().copied());
        Ok(Some((ids, hashes)))
    }

    /// Writes certainly-new rows: into the bulk buffer during a bulk load, else as one
    /// write batch. The id count and key hashes come from [`RocksStore::all_new`].
    fn write_new_rows(&self, rows: &NewRows<'_>, (ids, hashes): (usize, Vec<u64>)) -> Result<()> {
        let bytes = rows.buffered_bytes();
        let mut bulk = self.bulk();
        if let Some(bulk) = bulk.as_mut()
            && Self::bulk_fits(bytes)
        {
            self.bulk_write(bulk, bytes, &hashes, |b| rows.write(b))?;
            self.touched();
            return Ok(());
        }
        drop(bulk);
        self.grow_memtables_for(ids)?;
        // Sized up front: growing the batch copies everything written so far.
        let mut batch = WriteBatch::with_capacity_bytes(bytes);
        rows.write(&mut batch);
        self.commit(batch)
    }

    /// A connector's call of new grants (the common case): when no id of the call is
    /// stored or repeated ([`RocksStore::all_new`], which asks the grant-id filter, not the
    /// database), the rows and their index entries go out as one write batch, with no
    /// lookup per grant. Returns false, writing nothing, when some id may exist.
    fn put_new_grants(&self, seq: u32, rows: &[GrantRecord]) -> Result<bool> {
        if rows.is_empty() {
            return Ok(true);
        }
        let mut scratch = self.key_scratch();
        let (tails, id_keys) = scratch.0.cleared_for(rows.len());
        let head = keys::index_head(index::GRANT_BY_ID, seq);
        let mut resources = Vec::with_capacity(rows.len());
        let mut principals = Vec::with_capacity(rows.len());
        for r in rows {
            let g = &r.grant;
            let ent = g.entitlement.as_ref();
            let (rt, rid) = id_parts(
                ent.and_then(|e| e.resource.as_ref())
                    .and_then(|res| res.id.as_ref()),
            );
            let (pt, pid) = id_parts(g.principal.as_ref().and_then(|p| p.id.as_ref()));
            let ent_id = ent.map_or("", |e| e.id.as_str());
            tails.push_with(|t| keys::push_grant_tail(t, ent_id, pt, pid, &g.id));
            id_keys.push_with(|k| {
                k.extend_from_slice(&head);
                keys::push_component(k, g.id.as_bytes());
            });
            resources.push((rt, rid));
            principals.push(ResourceKey::new(pt, pid));
        }
        let Some((ids, _hashes)) = self.all_new(seq, id_keys)? else {
            return Ok(false);
        };
        let data: Vec<Vec<u8>> = rows.iter().map(|r| codec::encode_grant(&r.grant)).collect();
        let expansions: Vec<Option<Vec<u8>>> = rows
            .iter()
            .map(|r| r.expansion.as_ref().map(Message::encode_to_vec))
            .collect();
        let needs: Vec<(Vec<u8>, Vec<u8>)> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.needs_expansion)
            .map(|(i, _)| {
                (
                    keys::join(
                        keys::index_head(index::GRANT_NEEDS_EXPANSION, seq),
                        tails.get(i),
                    ),
                    Vec::new(),
                )
            })
            .collect();
        let value = |i: usize, buf: &mut Vec<u8>| {
            buf.clear();
            StoredGrantRow {
                discovered_at: &rows[i].discovered_at,
                needs_expansion: rows[i].needs_expansion,
                expansion: expansions[i].as_deref(),
                resource: resources[i],
                data: &data[i],
            }
            .encode(buf);
        };
        let new_rows = NewRows {
            seq,
            resources: resources.clone(),
            principals: principals.iter().collect(),
            tails,
            id_keys,
            extra: &needs,
            value: &value,
            value_bytes: data
                .iter()
                .zip(&expansions)
                .map(|(d, e)| d.len() + e.as_ref().map_or(0, Vec::len) + 48)
                .sum(),
        };
        // Never into a bulk buffer: a connector's write is visible at once.
        self.grow_memtables_for(ids)?;
        let mut batch = WriteBatch::with_capacity_bytes(new_rows.buffered_bytes());
        new_rows.write(&mut batch);
        self.commit(batch)?;
        Ok(true)
    }

    /// The snapshot version of a derived grant's entitlement in sync `seq`: an existing
    /// one with the same encoding, or a new one whose entry is added to `extra`.
    fn snapshot_version(
        &self,
        seq: u32,
        entitlement: &DerivedEntitlement,
        extra: &mut Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<u32> {
        let mut escaped = Vec::with_capacity(entitlement.key.id.len());
        keys::push_component(&mut escaped, entitlement.key.id.as_bytes());
        let mut cache = self.snapshot_cache();
        let versions = match cache.entry((seq, escaped.clone())) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                // Versions stored by earlier sessions.
                let mut prefix = keys::head(family::ENTITLEMENT_SNAPSHOT, seq);
                prefix.extend_from_slice(&escaped);
                prefix.push(0);
                let mut found = Vec::new();
                let mut it = self.db.raw_iterator();
                it.seek(&prefix);
                while let (Some(k), Some(v)) = (it.key(), it.value()) {
                    if !k.starts_with(&prefix) {
                        break;
                    }
                    if let Some(version) = super::u32_value(&k[prefix.len()..])
                        && k.len() == prefix.len() + 4
                    {
                        found.push((version, Snapshot::decode(v)?.data().to_vec()));
                    }
                    it.next();
                }
                it.status().map_err(RocksError::from)?;
                slot.insert(found)
            }
        };
        if let Some((version, _)) = versions.iter().find(|(_, d)| *d == entitlement.data) {
            return Ok(*version);
        }
        let version = versions
            .iter()
            .map(|(v, _)| *v)
            .max()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or_else(|| Error::corrupt("rocksdb database", "snapshot versions exhausted"))?;
        let key = &entitlement.key;
        extra.push((
            keys::snapshot_key(seq, &escaped, version),
            encode_snapshot(&key.resource_type_id, &key.resource_id, &entitlement.data),
        ));
        versions.push((version, entitlement.data.clone()));
        Ok(version)
    }
}

impl RocksStore {
    /// Grants in their stored encoding (`PreserveExpansion`): certainly-new ones written
    /// blind (into the bulk buffer while a load lives), the rest upserted.
    fn put_encoded_grants(&self, sync: &SyncId, rows: &[EncodedGrant]) -> Result<()> {
        {
            let _lock = self.writable("write grants")?;
            let seq = self.seq_for_write(sync)?;
            let mut scratch = self.key_scratch();
            let (tails, id_keys) = scratch.0.cleared_for(rows.len());
            for r in rows {
                tails.push_with(|t| {
                    keys::push_grant_tail(
                        t,
                        &r.entitlement.id,
                        &r.principal.resource_type,
                        &r.principal.resource,
                        &r.id,
                    );
                });
            }
            let head = keys::index_head(index::GRANT_BY_ID, seq);
            for r in rows {
                id_keys.push_with(|k| {
                    k.extend_from_slice(&head);
                    keys::push_component(k, r.id.as_bytes());
                });
            }
            // The fast path writes new rows blind; any id already stored or repeated in
            // the call takes the general upsert below instead.
            if let Some(new) = self.all_new(seq, id_keys)? {
                let value = |i: usize, buf: &mut Vec<u8>| {
                    let (r, e) = (&rows[i], &*rows[i].entitlement);
                    buf.clear();
                    StoredGrantRow {
                        discovered_at: &r.discovered_at,
                        needs_expansion: false,
                        expansion: None,
                        resource: (&e.resource_type_id, &e.resource_id),
                        data: &r.data,
                    }
                    .encode(buf);
                };
                let new_rows = NewRows {
                    seq,
                    resources: rows.iter().map(|r| resource_of(&r.entitlement)).collect(),
                    principals: rows.iter().map(|r| &*r.principal).collect(),
                    tails,
                    id_keys,
                    extra: &[],
                    value: &value,
                    // Tags, lengths and the time: 40 bytes at most (see `StoredGrantRow::max_len`).
                    value_bytes: rows.iter().map(|r| r.data.len() + 40).sum(),
                };
                return self.write_new_rows(&new_rows, new);
            }
        }
        self.put_grants(
            sync,
            &crate::store::decode_encoded_grants(rows)?,
            GrantUpsertMode::PreserveExpansion,
        )
    }

    /// Grants made by expansion: new ones stored against an entitlement snapshot.
    fn put_derived_grants(&self, sync: &SyncId, rows: &[DerivedGrant]) -> Result<()> {
        {
            let _lock = self.writable("write grants")?;
            let seq = self.seq_for_write(sync)?;
            // Ids are canonical: each tail ends in the marker, and the id key spells the
            // parts out (escaping is per byte, so esc(a:b) is esc(a):esc(b)).
            let mut scratch = self.key_scratch();
            let (tails, id_keys) = scratch.0.cleared_for(rows.len());
            let head = keys::index_head(index::GRANT_BY_ID, seq);
            for r in rows {
                let (e, p) = (&r.entitlement.key.id, &*r.principal);
                tails.push_with(|t| {
                    keys::push_canonical_grant_tail(t, e, &p.resource_type, &p.resource);
                });
                id_keys.push_with(|k| {
                    k.extend_from_slice(&head);
                    for (i, part) in [e.as_str(), &p.resource_type, &p.resource]
                        .iter()
                        .enumerate()
                    {
                        if i > 0 {
                            k.push(b':');
                        }
                        keys::push_component(k, part.as_bytes());
                    }
                });
            }
            if let Some(new) = self.all_new(seq, id_keys)? {
                // One snapshot lookup per run of rows on the same entitlement.
                let mut extra = Vec::new();
                let mut versions = Vec::with_capacity(rows.len());
                let mut last: Option<(&std::sync::Arc<DerivedEntitlement>, u32)> = None;
                for r in rows {
                    let version = match last {
                        Some((e, v)) if std::sync::Arc::ptr_eq(e, &r.entitlement) => v,
                        _ => match self.snapshot_version(seq, &r.entitlement, &mut extra) {
                            Ok(v) => v,
                            Err(e) => {
                                self.snapshot_cache().clear();
                                return Err(e);
                            }
                        },
                    };
                    last = Some((&r.entitlement, version));
                    versions.push(version);
                }
                let value = |i: usize, buf: &mut Vec<u8>| {
                    let r = &rows[i];
                    buf.clear();
                    DerivedGrantRow {
                        discovered_at: &r.discovered_at,
                        entitlement_snapshot: versions[i],
                        principal: &r.principal_data,
                        sources: &r.sources,
                    }
                    .encode(buf);
                };
                let new_rows = NewRows {
                    seq,
                    resources: rows
                        .iter()
                        .map(|r| resource_of(&r.entitlement.key))
                        .collect(),
                    principals: rows.iter().map(|r| &*r.principal).collect(),
                    tails,
                    id_keys,
                    extra: &extra,
                    value: &value,
                    value_bytes: rows
                        .iter()
                        .map(|r| r.principal_data.len() + r.sources.len() + 40)
                        .sum(),
                };
                let written = self.write_new_rows(&new_rows, new);
                if written.is_err() {
                    // New snapshots may not have been stored: read them again.
                    self.snapshot_cache().clear();
                }
                return written;
            }
        }
        let encoded: Vec<EncodedGrant> = rows.iter().map(DerivedGrant::to_encoded).collect();
        self.put_grants(
            sync,
            &crate::store::decode_encoded_grants(&encoded)?,
            GrantUpsertMode::PreserveExpansion,
        )
    }

    /// Ends a live bulk grant load: publishes its grants (a no-op without one).
    pub(crate) fn end_bulk_load(&self) -> Result<()> {
        if self.state().is_read_only() || !self.bulk_active.load(Ordering::Acquire) {
            return Ok(());
        }
        let _lock = self.lock();
        let ended = self.end_bulk();
        self.bulk_active.store(false, Ordering::Release);
        ended
    }
}

/// The bulk grant load of a RocksDB store: new grants collect in sorted tables (see
/// [`super::bulk`]) until published.
struct RocksBulk<'a>(&'a RocksStore);

impl BulkGrantOps for RocksBulk<'_> {
    fn put_encoded_grants(&self, sync: &SyncId, rows: &[EncodedGrant]) -> Result<()> {
        self.0.put_encoded_grants(sync, rows)
    }

    fn put_derived_grants(&self, sync: &SyncId, rows: &[DerivedGrant]) -> Result<()> {
        self.0.put_derived_grants(sync, rows)
    }

    fn publish(&self) -> Result<()> {
        let _lock = self.0.writable("write grants")?;
        self.0.publish_bulk()
    }

    fn end(&self) -> Result<()> {
        self.0.end_bulk_load()
    }
}

impl Writer for RocksStore {
    fn put_sync_run(&self, run: &SyncRun) -> Result<()> {
        let _lock = self.writable("write a sync run")?;
        let seq = self.seq_for_write(&run.id)?;
        let mut batch = WriteBatch::default();
        batch.put(keys::head(family::SYNC_RUN, seq), encode_sync_run(run));
        self.commit(batch)
    }

    fn delete_sync_run(&self, id: &SyncId) -> Result<()> {
        let _lock = self.writable("delete a sync run")?;
        // A range delete must not precede tables ingested later.
        self.publish_bulk()?;
        let Some(seq) = self.seq(id)? else {
            return Ok(());
        };
        let mut batch = WriteBatch::default();
        let mut heads: Vec<Vec<u8>> = [
            family::RESOURCE_TYPE,
            family::RESOURCE,
            family::ENTITLEMENT,
            family::GRANT,
            family::ASSET,
            family::ENTITLEMENT_SNAPSHOT,
        ]
        .into_iter()
        .map(|f| keys::head(f, seq))
        .collect();
        heads.extend(index::ALL.into_iter().map(|i| keys::index_head(i, seq)));
        for head in heads {
            if let Some(end) = keys::prefix_end(&head) {
                batch.delete_range(&head, &end);
            }
        }
        batch.delete(keys::head(family::SYNC_RUN, seq));
        batch.delete(keys::sync_id_key(id.as_str()));
        self.forget_grant_ids(seq);
        self.snapshot_cache().retain(|(s, _), _| *s != seq);
        let mut seqs = self.seq_cache();
        seqs.remove(id.as_str());
        self.commit(batch)
    }

    fn put_resource_types(&self, sync: &SyncId, rows: &[Record<ResourceType>]) -> Result<()> {
        let _lock = self.writable("write resource types")?;
        let seq = self.seq_for_write(sync)?;
        let (mut batch, mut pending) = (WriteBatch::default(), Pending::default());
        for r in rows {
            let key = keys::join(
                keys::head(family::RESOURCE_TYPE, seq),
                &keys::tuple(&[&r.value.id]),
            );
            let discovered = match pending.get(self, &key)? {
                Some(old) => first_seen(&old)?,
                None => r.discovered_at,
            };
            pending.put(key, object_value(&discovered, &r.value.encode_to_vec()));
        }
        pending.into_batch(&mut batch);
        self.commit(batch)
    }

    fn put_resources(&self, sync: &SyncId, rows: &[Record<Resource>]) -> Result<()> {
        let _lock = self.writable("write resources")?;
        let seq = self.seq_for_write(sync)?;
        let (mut batch, mut pending) = (WriteBatch::default(), Pending::default());
        for r in rows {
            let (rt, rid) = id_parts(r.value.id.as_ref());
            let tail = keys::tuple(&[rt, rid]);
            let key = keys::join(keys::head(family::RESOURCE, seq), &tail);
            let discovered = match pending.get(self, &key)? {
                Some(old) => first_seen(&old)?,
                None => {
                    // The parent index follows the first write, like SQLite's parent columns.
                    if let Some(p) = &r.value.parent_resource_id {
                        let k = index_key(
                            index::RESOURCE_BY_PARENT,
                            seq,
                            &[p.resource_type.as_str(), p.resource.as_str()],
                            &tail,
                        );
                        batch.put(k, b"");
                    }
                    r.discovered_at
                }
            };
            pending.put(key, object_value(&discovered, &r.value.encode_to_vec()));
        }
        pending.into_batch(&mut batch);
        self.commit(batch)
    }

    fn put_entitlements(&self, sync: &SyncId, rows: &[Record<Entitlement>]) -> Result<()> {
        let _lock = self.writable("write entitlements")?;
        let seq = self.seq_for_write(sync)?;
        let (mut batch, mut pending) = (WriteBatch::default(), Pending::default());
        for r in rows {
            let mut id_key = keys::index_head(index::ENTITLEMENT_BY_ID, seq);
            keys::push_component(&mut id_key, r.value.id.as_bytes());
            let data = r.value.encode_to_vec();
            match pending.get(self, &id_key)? {
                Some(tail) => {
                    let key = keys::join(keys::head(family::ENTITLEMENT, seq), &tail);
                    let discovered = match pending.get(self, &key)? {
                        Some(old) => first_seen(&old)?,
                        None => r.discovered_at,
                    };
                    pending.put(key, object_value(&discovered, &data));
                }
                None => {
                    let (rt, rid) =
                        id_parts(r.value.resource.as_ref().and_then(|res| res.id.as_ref()));
                    let tail = keys::tuple(&[rt, rid, r.value.id.as_str()]);
                    let key = keys::join(keys::head(family::ENTITLEMENT, seq), &tail);
                    pending.put(key, object_value(&r.discovered_at, &data));
                    pending.put(id_key, tail);
                }
            }
        }
        pending.into_batch(&mut batch);
        self.commit(batch)
    }

    fn put_grants(&self, sync: &SyncId, rows: &[GrantRecord], mode: GrantUpsertMode) -> Result<()> {
        let _lock = self.writable("write grants")?;
        let seq = self.seq_for_write(sync)?;
        // An upsert reads the rows it replaces: buffered ones must be visible first.
        let id_key = |g: &crate::pb::c1::connector::v2::Grant| {
            let mut k = keys::index_head(index::GRANT_BY_ID, seq);
            keys::push_component(&mut k, g.id.as_bytes());
            k
        };
        if self.bulk_may_hold(rows.iter().map(|r| id_key(&r.grant))) {
            self.publish_bulk()?;
        }
        if self.put_new_grants(seq, rows)? {
            return Ok(());
        }
        let (mut batch, mut pending) = (WriteBatch::default(), Pending::default());
        // New ids are kept for the grant-id filter only if one tracks this sync (bulk
        // writes built it); ordinary connector writes skip the copies.
        let track_ids = self.tracks_grant_ids(seq);
        let mut new_ids = Vec::new();
        for r in rows {
            let g = &r.grant;
            let id_key = id_key(g);
            let data = codec::encode_grant(g);
            let new_expansion = r.expansion.as_ref().map(Message::encode_to_vec);
            let existing = match pending.get(self, &id_key)? {
                Some(entry) => {
                    let tail = keys::id_entry_tail(&id_key, &entry)?.into_owned();
                    let key = keys::join(keys::head(family::GRANT, seq), &tail);
                    pending.get(self, &key)?.map(|old| (tail, key, old))
                }
                None => None,
            };
            if let Some((tail, key, old)) = existing {
                let old = self.grant_value(seq, &tail, &old, &mut Snapshots::default())?;
                let (expansion, needs) = match mode {
                    GrantUpsertMode::Replace => (
                        new_expansion.as_deref(),
                        replaced_needs_expansion(
                            old.expansion,
                            new_expansion.as_deref(),
                            old.needs_expansion,
                        ),
                    ),
                    GrantUpsertMode::PreserveExpansion => (old.expansion, old.needs_expansion),
                };
                let needs_key =
                    keys::join(keys::index_head(index::GRANT_NEEDS_EXPANSION, seq), &tail);
                if needs && !old.needs_expansion {
                    batch.put(&needs_key, b"");
                } else if !needs && old.needs_expansion {
                    batch.delete(&needs_key);
                }
                let value = StoredGrantRow {
                    discovered_at: &old.discovered_at,
                    needs_expansion: needs,
                    expansion,
                    resource: (&old.resource_type_id, &old.resource_id),
                    data: &data,
                }
                .to_value();
                pending.put(key, value);
            } else {
                let ent = g.entitlement.as_ref();
                let (rt, rid) = id_parts(
                    ent.and_then(|e| e.resource.as_ref())
                        .and_then(|res| res.id.as_ref()),
                );
                let (pt, pid) = id_parts(g.principal.as_ref().and_then(|p| p.id.as_ref()));
                let ent_id = ent.map_or("", |e| e.id.as_str());
                let tail = keys::grant_tail(ent_id, pt, pid, &g.id);
                let value = StoredGrantRow {
                    discovered_at: &r.discovered_at,
                    needs_expansion: r.needs_expansion,
                    expansion: new_expansion.as_deref(),
                    resource: (rt, rid),
                    data: &data,
                }
                .to_value();
                pending.put(keys::join(keys::head(family::GRANT, seq), &tail), value);
                batch.put(
                    index_key(index::GRANT_BY_PRINCIPAL, seq, &[pt, pid], &tail),
                    b"",
                );
                let mut granted_on = Vec::with_capacity(tail.len() + rt.len() + rid.len() + 8);
                keys::push_granted_on_key(&mut granted_on, seq, (rt, rid), &tail);
                batch.put(granted_on, b"");
                if r.needs_expansion {
                    batch.put(
                        keys::join(keys::index_head(index::GRANT_NEEDS_EXPANSION, seq), &tail),
                        b"",
                    );
                }
                if track_ids {
                    new_ids.push(id_key.clone());
                }
                let mut id_value = Vec::with_capacity(8);
                keys::push_id_value(&mut id_value, &tail);
                pending.put(id_key, id_value);
            }
        }
        pending.into_batch(&mut batch);
        Self::note_new_grant_ids(
            &mut self.grant_id_filters_if_built(),
            seq,
            new_ids.iter().map(|k| IdFilter::hash(k)),
        );
        self.commit(batch)
    }

    fn delete_grant(&self, sync: &SyncId, grant_id: &str) -> Result<bool> {
        let _lock = self.writable("delete a grant")?;
        let Some(seq) = self.seq(sync)? else {
            return Ok(false);
        };
        let mut id_key = keys::index_head(index::GRANT_BY_ID, seq);
        keys::push_component(&mut id_key, grant_id.as_bytes());
        if self.bulk_may_hold([&id_key]) {
            self.publish_bulk()?;
        }
        let Some(entry) = self.db.get(&id_key).map_err(RocksError::from)? else {
            return Ok(false);
        };
        let tail = keys::id_entry_tail(&id_key, &entry)?;
        let key = keys::join(keys::head(family::GRANT, seq), &tail);
        // The entitlement's "granted on" entry stays: others may share it, and readers
        // check each row's resource.
        let mut batch = WriteBatch::default();
        if self.db.get(&key).map_err(RocksError::from)?.is_some() {
            let [_, pt, pid, _] = keys::untuple_grant_tail(&tail)
                .ok_or_else(|| Error::corrupt("rocksdb key", "malformed grant tail"))?;
            let (pt, pid) = (
                String::from_utf8_lossy(&pt).into_owned(),
                String::from_utf8_lossy(&pid).into_owned(),
            );
            batch.delete(index_key(
                index::GRANT_BY_PRINCIPAL,
                seq,
                &[pt.as_str(), pid.as_str()],
                &tail,
            ));
            batch.delete(keys::join(
                keys::index_head(index::GRANT_NEEDS_EXPANSION, seq),
                &tail,
            ));
        }
        batch.delete(&key);
        batch.delete(&id_key);
        self.commit(batch)?;
        Ok(true)
    }

    fn put_asset(&self, sync: &SyncId, asset: &Asset) -> Result<()> {
        let _lock = self.writable("write an asset")?;
        let seq = self.seq_for_write(sync)?;
        let key = keys::join(keys::head(family::ASSET, seq), &keys::tuple(&[&asset.id]));
        let (discovered, content_type) = match self.db.get(&key).map_err(RocksError::from)? {
            Some(old) => {
                let (discovered, content_type, _) = decode_asset(&old)?;
                (discovered, content_type)
            }
            None => (asset.discovered_at, asset.content_type.clone()),
        };
        let mut batch = WriteBatch::default();
        batch.put(&key, encode_asset(&discovered, &content_type, &asset.data));
        self.commit(batch)
    }

    fn bulk_grants(&self) -> Result<GrantBulkLoad<'_>> {
        let _lock = self.writable("write grants")?;
        if self.bulk_active.swap(true, Ordering::AcqRel) {
            return Err(Error::InvalidArgument(
                "a bulk grant load of this store is already live".into(),
            ));
        }
        // Derived grants are all new keys: compacting them while they are written, or
        // while the result is being saved, only rewrites the same bytes on the core the
        // writer needs. Level-0 tables pile up instead (the store never stalls writes);
        // `compact()` merges them. (Stores open with compactions off; a `compact()` since
        // may have switched them on.)
        if let Err(e) = self.db.set_options(&[("disable_auto_compactions", "true")]) {
            self.bulk_active.store(false, Ordering::Release);
            return Err(RocksError::from(e).into());
        }
        self.begin_bulk();
        Ok(GrantBulkLoad::new(Box::new(RocksBulk(self))))
    }

    fn compact(&self) -> Result<()> {
        let _lock = self.writable("compact")?;
        self.publish_bulk()?;
        self.db.compact_range(None::<&[u8]>, None::<&[u8]>);
        // Merged: background compaction may resume (a bulk grant write paused it).
        self.db
            .set_options(&[("disable_auto_compactions", "false")])
            .map_err(RocksError::from)?;
        self.touched();
        Ok(())
    }
}
