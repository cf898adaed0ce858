//! Listings as `baton … -o json` prints them: the per-row objects of its `resource-types`,
//! `resources`, `entitlements`, `grants`, `principals` and `syncs` envelopes, built one row at
//! a time so a listing of any size streams.
//!
//! baton decorates each row with related objects (a grant's entitlement, the entitlement's
//! resource and resource type, the principal); [`Lookups`] fetches them with point gets
//! through caches bounded in bytes, since a few entitlements and resource types repeat
//! across many rows, and principals across several. Rows hold protobuf JSON text
//! ([`crate::json::JsonType`]), written as it is by JSON outputs and parsed only when a
//! field is read ([`Row::get`]), so `jq` filters written against baton's output apply
//! unchanged.
//!
//! What baton prints differs by engine, and so do these rows: grants read from baton's Pebble
//! files carry their `GrantExpandable` annotation (baton's Pebble reader re-attaches the
//! record's expansion), grants read from SQLite do not (baton's SQLite reader leaves the edge
//! in its column). A related object the sync lacks is rendered as baton renders it where
//! baton's output shows it: a resource becomes `{id, displayName: "MISSING RESOURCE (t:i)"}`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use prost::Message;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::codec::{GRANT_EXPANDABLE, to_any};
use crate::error::Result;
use crate::json::{JsonType, message_json};
use crate::model::{GrantRecord, ResourceKey, SyncRun};
use crate::pb::c1::connector::v2::{Entitlement, Resource, ResourceId, ResourceType};
use crate::store::{Reader, ReaderExt, ResourceQuery, SyncSelector};

/// The lists baton prints, each with the key of its JSON envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// `{"resourceTypes":[{"resourceType":…}]}`.
    ResourceTypes,
    /// `{"resources":[{"resource":…,"resourceType":…,"parent":…}]}`.
    Resources,
    /// `{"entitlements":[{"entitlement":…,"resource":…,"resourceType":…}]}`.
    Entitlements,
    /// `{"grants":[{"grant":…,"entitlement":…,"resource":…,"resourceType":…,"principal":…}]}`.
    Grants,
    /// The holders of grants: the same rows as [`Listing::Resources`], under `resources`.
    Principals,
    /// `{"syncs":[{"id":…,"startedAt":…,"endedAt":…,"syncToken":…,"syncType":…,"parentSyncId":…}]}`.
    Syncs,
    /// c1z's own (baton has no asset list): `{"assets":[{"id":…,"contentType":…,"size":…}]}`.
    Assets,
    /// c1z's own: a principal's access by resource,
    /// `{"access":[{"resource":…,"resourceType":…,"grants":[{"grant":…,"entitlement":…,"direct":…}]}]}`.
    Access,
    /// c1z's own: grant rows (as [`Listing::Grants`]) with `direct` and the `via` chain
    /// that explains a derived grant, under `grants`.
    Holders,
    /// c1z's own: principal rows (as [`Listing::Principals`]) with `in` (`both`, `only_a`,
    /// `only_b`), under `principals`.
    Comparison,
}

impl Listing {
    /// The envelope's one key.
    #[must_use]
    pub fn envelope_key(self) -> &'static str {
        match self {
            Listing::ResourceTypes => "resourceTypes",
            Listing::Resources | Listing::Principals => "resources",
            Listing::Entitlements => "entitlements",
            Listing::Grants | Listing::Holders => "grants",
            Listing::Syncs => "syncs",
            Listing::Assets => "assets",
            Listing::Access => "access",
            Listing::Comparison => "principals",
        }
    }
}

/// A JSON value held as its compact text, shared (cloning is a reference count) and
/// parsed only when read as a value ([`Json::value`]).
#[derive(Clone)]
pub struct Json(Arc<JsonInner>);

struct JsonInner {
    text: Box<[u8]>,
    value: OnceLock<Box<Value>>,
}

impl Json {
    /// Text known to be one JSON value (the text writer's output).
    fn from_text(text: Vec<u8>) -> Self {
        Json(Arc::new(JsonInner {
            text: text.into_boxed_slice(),
            value: OnceLock::new(),
        }))
    }

    /// `value`, as compact text.
    #[must_use]
    pub fn from_value(value: Value) -> Self {
        let text = serde_json::to_vec(&value).unwrap_or_else(|_| b"null".to_vec());
        let value_cell = OnceLock::new();
        let _ = value_cell.set(Box::new(value));
        Json(Arc::new(JsonInner {
            text: text.into_boxed_slice(),
            value: value_cell,
        }))
    }

    /// The compact JSON text.
    #[must_use]
    pub fn text(&self) -> &[u8] {
        &self.0.text
    }

    /// The value, parsed from the text on first use.
    #[must_use]
    pub fn value(&self) -> &Value {
        self.0
            .value
            .get_or_init(|| Box::new(serde_json::from_slice(&self.0.text).unwrap_or(Value::Null)))
    }

    /// Heap bytes this value holds (its text and fixed parts; a parsed value is extra).
    fn weight(&self) -> usize {
        self.0.text.len() + std::mem::size_of::<JsonInner>() + 16
    }
}

impl PartialEq for Json {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl std::fmt::Debug for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.text()))
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

impl From<Value> for Json {
    fn from(value: Value) -> Self {
        Json::from_value(value)
    }
}

/// One row of a listing: named JSON objects in baton's key order. Objects shared by many
/// rows (an entitlement, a resource type) are shared, not copied.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    fields: Vec<(&'static str, Json)>,
}

impl Row {
    fn with(mut self, key: &'static str, value: impl Into<Json>) -> Self {
        self.fields.push((key, value.into()));
        self
    }

    /// The object under `key`, if the row has one (parsed from its text on first use).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.json(key).map(Json::value)
    }

    /// The row with one more named object after the others.
    #[must_use]
    pub fn with_field(self, key: &'static str, value: impl Into<Json>) -> Self {
        self.with(key, value)
    }

    /// The object under `key` as JSON text, if the row has one.
    #[must_use]
    pub fn json(&self, key: &str) -> Option<&Json> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Appends the row as one compact JSON object (`{"key":…,…}`, baton's key order) to
    /// `out`: the objects' text as it is, nothing parsed.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            // Keys are this module's own identifiers: nothing to escape.
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(v.text());
        }
        out.push(b'}');
    }

    /// The row as one JSON object (a copy; [`Row::write_json`] writes it without one).
    #[must_use]
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.value().clone()))
                .collect(),
        )
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (k, v) in &self.fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A cache bounded in bytes, of two generations: entries are added to the current one;
/// when it holds half the budget it becomes the previous one (the one before is dropped),
/// and a hit in the previous generation moves the entry back to the current one. About an
/// LRU of between half and all of the budget, at the cost of a hash lookup.
struct Cache<V> {
    current: HashMap<Box<[u8]>, V>,
    previous: HashMap<Box<[u8]>, V>,
    /// Bytes of the current generation.
    bytes: usize,
    budget: usize,
    hits: u64,
    misses: u64,
}

/// Bytes an entry costs beyond its key and value: the table slot and the key's box.
const ENTRY_OVERHEAD: usize = 48;

impl<V: Clone> Cache<V> {
    fn new(budget: usize) -> Self {
        Cache {
            current: HashMap::new(),
            previous: HashMap::new(),
            bytes: 0,
            budget,
            hits: 0,
            misses: 0,
        }
    }

    fn get(&mut self, key: &[u8], weight: impl Fn(&V) -> usize) -> Option<V> {
        if let Some(v) = self.current.get(key) {
            self.hits += 1;
            return Some(v.clone());
        }
        if let Some((k, v)) = self.previous.remove_entry(key) {
            self.hits += 1;
            self.add(k, v.clone(), &weight);
            return Some(v);
        }
        self.misses += 1;
        None
    }

    fn insert(&mut self, key: &[u8], v: V, weight: impl Fn(&V) -> usize) {
        self.add(Box::from(key), v, &weight);
    }

    fn add(&mut self, key: Box<[u8]>, v: V, weight: &impl Fn(&V) -> usize) {
        self.bytes += key.len() + weight(&v) + ENTRY_OVERHEAD;
        self.current.insert(key, v);
        if self.bytes > self.budget / 2 {
            self.previous = std::mem::take(&mut self.current);
            self.bytes = 0;
        }
    }

    fn get_or_try(
        &mut self,
        key: &[u8],
        weight: impl Fn(&V) -> usize,
        make: impl FnOnce() -> Result<V>,
    ) -> Result<V> {
        if let Some(v) = self.get(key, &weight) {
            return Ok(v);
        }
        let v = make()?;
        self.insert(key, v.clone(), weight);
        Ok(v)
    }
}

/// A hash of a key (FxHash's mixing, 8 bytes at a time): keys are short and trusted to be
/// the store's own ids.
fn hash(key: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = key.len() as u64;
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    // Murmur3's finalizer: every bit of the result depends on every bit of the input
    // (slots are chosen by the low ones).
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// One generation of a [`TextCache`]: entries `[key len u32][text len u32][key][text]`
/// back to back in one buffer, found through an open-addressing table of offsets.
#[derive(Default)]
struct Arena {
    data: Vec<u8>,
    /// 0: empty; else the entry's hash tag (high half) and 1 + its offset in `data` (low
    /// half). A power of two long.
    slots: Vec<u64>,
    entries: usize,
}

impl Arena {
    fn entry(&self, offset: usize) -> (&[u8], &[u8]) {
        let word = |at: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&self.data[at..at + 4]);
            u32::from_le_bytes(w) as usize
        };
        let (k, t) = (word(offset), word(offset + 4));
        let key = &self.data[offset + 8..offset + 8 + k];
        (key, &self.data[offset + 8 + k..offset + 8 + k + t])
    }

    /// The slot of `key`: its entry's, or the empty one where it would go. Entries are
    /// read only where the tag matches.
    fn slot(&self, key: &[u8], h: u64) -> usize {
        let mask = self.slots.len() - 1;
        let tag = h >> 32;
        let mut i = (h as usize) & mask;
        loop {
            match self.slots[i] {
                0 => return i,
                s if s >> 32 == tag && self.entry(offset_of(s)).0 == key => return i,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn get(&self, key: &[u8], h: u64) -> Option<&[u8]> {
        if self.slots.is_empty() {
            return None;
        }
        match self.slots[self.slot(key, h)] {
            0 => None,
            s => Some(self.entry(offset_of(s)).1),
        }
    }

    /// Bytes held (the buffer's and the table's).
    fn bytes(&self) -> usize {
        self.data.len() + self.slots.len() * 8
    }

    /// Adds `key` (not present) with `text`; `false` if offsets would overflow.
    fn insert(&mut self, key: &[u8], h: u64, text: &[u8]) -> bool {
        let (Ok(k), Ok(t), Ok(offset)) = (
            u32::try_from(key.len()),
            u32::try_from(text.len()),
            u32::try_from(self.data.len()),
        ) else {
            return false;
        };
        if offset == u32::MAX || (self.entries + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let i = self.slot(key, h);
        self.data.extend_from_slice(&k.to_le_bytes());
        self.data.extend_from_slice(&t.to_le_bytes());
        self.data.extend_from_slice(key);
        self.data.extend_from_slice(text);
        self.slots[i] = ((h >> 32) << 32) | u64::from(offset + 1);
        self.entries += 1;
        true
    }

    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(1024);
        let old = std::mem::replace(&mut self.slots, vec![0; n]);
        for s in old.into_iter().filter(|&s| s != 0) {
            let key = self.entry(offset_of(s)).0;
            let i = self.slot(key, hash(key));
            self.slots[i] = s;
        }
    }
}

/// The entry offset a non-empty slot holds.
fn offset_of(slot: u64) -> usize {
    (slot & u64::from(u32::MAX)) as usize - 1
}

/// A cache of JSON texts bounded in bytes, compact (an entry costs its key, its text and
/// about 16 bytes): two generations of [`Arena`]s, as [`Cache`] keeps two maps.
struct TextCache {
    current: Arena,
    previous: Arena,
    budget: usize,
    hits: u64,
    misses: u64,
}

impl TextCache {
    fn new(budget: usize) -> Self {
        TextCache {
            current: Arena::default(),
            previous: Arena::default(),
            budget,
            hits: 0,
            misses: 0,
        }
    }

    fn get(&mut self, key: &[u8]) -> Option<Json> {
        let h = hash(key);
        if let Some(t) = self.current.get(key, h) {
            self.hits += 1;
            return Some(Json::from_text(t.to_vec()));
        }
        if let Some(t) = self.previous.get(key, h) {
            self.hits += 1;
            let t = t.to_vec();
            self.add(key, h, &t);
            return Some(Json::from_text(t));
        }
        self.misses += 1;
        None
    }

    /// Whether the current generation has room for `more` bytes.
    fn has_room(&self, more: usize) -> bool {
        self.current.bytes() + more <= self.budget / 2
    }

    fn insert(&mut self, key: &[u8], text: &[u8]) {
        self.add(key, hash(key), text);
    }

    fn add(&mut self, key: &[u8], h: u64, text: &[u8]) {
        let size = key.len() + text.len() + 16;
        if size > self.budget / 4 {
            return;
        }
        if !self.has_room(size) {
            self.previous = std::mem::take(&mut self.current);
            // One generation's worth up front: the buffer never moves (untouched capacity
            // costs address space, not memory).
            self.current.data.reserve(self.budget / 2);
        }
        if self.current.data.capacity() == 0 {
            self.current.data.reserve(self.budget / 2);
        }
        self.current.insert(key, h, text);
    }
}

/// Resource misses of one type after which [`Lookups`] reads all of the type's resources
/// in one scan (see `Lookups::note_miss`).
const PRELOAD_AFTER: u32 = 4_096;

/// The bytes [`Lookups`] caches hold by default (related objects' JSON text, in two
/// generations): one generation holds every principal of a 250,000-user sync.
pub const DEFAULT_CACHE_BUDGET: usize = 72 << 20;

/// Hits and misses of [`Lookups`]'s caches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Resource lookups (entitlements' resources, principals, parents) answered from cache.
    pub resource_hits: u64,
    /// Resource lookups that read the store.
    pub resource_misses: u64,
    /// Entitlement lookups answered from cache.
    pub entitlement_hits: u64,
    /// Entitlement lookups that read the store.
    pub entitlement_misses: u64,
}

fn weight(v: &Json) -> usize {
    v.weight()
}

fn weight_opt(v: &Option<Json>) -> usize {
    v.as_ref().map_or(0, Json::weight)
}

/// The cache key of a resource: both parts, length-prefixed.
fn resource_key(buf: &mut Vec<u8>, resource_type: &str, resource: &str) {
    buf.clear();
    let n = u32::try_from(resource_type.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&n.to_le_bytes());
    buf.extend_from_slice(resource_type.as_bytes());
    buf.extend_from_slice(resource.as_bytes());
}

/// The message types rows are made of.
#[derive(Clone, Copy)]
struct Types {
    grant: JsonType,
    resource: JsonType,
    entitlement: JsonType,
    resource_type: JsonType,
}

impl Types {
    fn get() -> Result<Self> {
        Ok(Types {
            grant: JsonType::named("c1.connector.v2.Grant")?,
            resource: JsonType::named("c1.connector.v2.Resource")?,
            entitlement: JsonType::named("c1.connector.v2.Entitlement")?,
            resource_type: JsonType::named("c1.connector.v2.ResourceType")?,
        })
    }
}

/// Builds baton's rows for one sync of a store, looking related objects up by point gets
/// (cached, bounded in bytes).
pub struct Lookups<'a, R: Reader + ?Sized> {
    store: &'a R,
    sync: SyncSelector,
    reattach_expansion: bool,
    types: Option<Types>,
    resource_types: Cache<Json>,
    resources: TextCache,
    entitlements: Cache<Option<Json>>,
    /// Resource misses per resource type.
    type_misses: HashMap<String, u32>,
    /// The last grant row's entitlement and its row objects: grants come grouped by
    /// entitlement.
    last_entitlement: Option<LastEntitlement>,
    /// Scratch: a cache key, an encoding.
    key: Vec<u8>,
    encoded: Vec<u8>,
}

/// (entitlement id, resource type, resource id, the row objects: entitlement, resource,
/// resource type).
type LastEntitlement = (String, String, String, Vec<(&'static str, Json)>);

impl<'a, R: Reader + ?Sized> Lookups<'a, R> {
    /// Rows of `sync` of `store` (name one sync with [`SyncSelector::Id`] so that the rows
    /// and their lookups read the same one), with caches of [`DEFAULT_CACHE_BUDGET`].
    pub fn new(store: &'a R, sync: SyncSelector) -> Self {
        Lookups::with_cache_budget(store, sync, DEFAULT_CACHE_BUDGET)
    }

    /// [`Lookups::new`] with caches holding about `bytes` in all (resources most of it).
    pub fn with_cache_budget(store: &'a R, sync: SyncSelector, bytes: usize) -> Self {
        Lookups {
            store,
            sync,
            reattach_expansion: store.engine().starts_with("pebble"),
            types: Types::get().ok(),
            resource_types: Cache::new(bytes / 64),
            resources: TextCache::new(bytes - bytes / 64 - bytes / 16),
            entitlements: Cache::new(bytes / 16),
            type_misses: HashMap::new(),
            last_entitlement: None,
            key: Vec::new(),
            encoded: Vec::new(),
        }
    }

    /// The caches' hits and misses so far.
    #[must_use]
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            resource_hits: self.resources.hits,
            resource_misses: self.resources.misses,
            entitlement_hits: self.entitlements.hits,
            entitlement_misses: self.entitlements.misses,
        }
    }

    fn types(&self) -> Result<Types> {
        match self.types {
            Some(t) => Ok(t),
            None => Types::get(),
        }
    }

    /// The JSON of a grant as baton's reader for this store's engine returns it
    /// ([`grant_json`]).
    ///
    /// # Errors
    /// As [`crate::json::to_json`].
    pub fn grant_json(&self, record: &GrantRecord) -> Result<Value> {
        grant_json(record, self.reattach_expansion)
    }

    /// The JSON text of a grant as baton's reader for this store's engine returns it (the
    /// text of [`Lookups::grant_json`]).
    ///
    /// # Errors
    /// As [`JsonType::write`].
    pub fn grant_text(&mut self, record: &GrantRecord) -> Result<Json> {
        let grant = self.types()?.grant;
        self.encoded.clear();
        record.grant.encode(&mut self.encoded).map_err(|e| {
            crate::Error::corrupt("protobuf message", format!("grant encoding: {e}"))
        })?;
        if self.reattach_expansion
            && let Some(x) = &record.expansion
        {
            // A repeated field may continue anywhere on the wire: the annotation appended
            // after the grant's own is the one `annotations.push` would add.
            let any = to_any(GRANT_EXPANDABLE, x);
            prost::encoding::message::encode(4, &any, &mut self.encoded);
        }
        let mut text = Vec::with_capacity(self.encoded.len() * 2 + 64);
        grant.write(&self.encoded, &mut text)?;
        Ok(Json::from_text(text))
    }

    /// The resource type `id`; a type the sync lacks is `{"id": id}`.
    ///
    /// # Errors
    /// Engine or decode errors of the get.
    pub fn resource_type(&mut self, id: &str) -> Result<Json> {
        let ty = self.types()?.resource_type;
        let (store, sync) = (self.store, &self.sync);
        self.resource_types.get_or_try(id.as_bytes(), weight, || {
            let rt = store.resource_type(sync, id)?.map_or_else(
                || ResourceType {
                    id: id.to_owned(),
                    ..Default::default()
                },
                |r| r.value,
            );
            Ok(Json::from_text(ty.to_text(&rt.encode_to_vec())?))
        })
    }

    /// The resource `key`; one the sync lacks is baton's placeholder
    /// `{id, displayName: "MISSING RESOURCE (type:id)"}`.
    ///
    /// # Errors
    /// Engine or decode errors of the get.
    pub fn resource(&mut self, key: &ResourceKey) -> Result<Json> {
        self.resource_of(&key.resource_type, &key.resource)
    }

    fn resource_of(&mut self, resource_type: &str, resource: &str) -> Result<Json> {
        resource_key(&mut self.key, resource_type, resource);
        if let Some(v) = self.resources.get(&self.key) {
            return Ok(v);
        }
        if self.note_miss(resource_type)? {
            resource_key(&mut self.key, resource_type, resource);
            if let Some(v) = self.resources.get(&self.key) {
                return Ok(v);
            }
        }
        let ty = self.types()?.resource;
        let key = ResourceKey::new(resource_type, resource);
        let r = self
            .store
            .resource(&self.sync, &key)?
            .map_or_else(|| missing_resource(&key), |r| r.value);
        self.encoded.clear();
        r.encode(&mut self.encoded).map_err(|e| {
            crate::Error::corrupt("protobuf message", format!("resource encoding: {e}"))
        })?;
        let text = ty.to_text(&self.encoded)?;
        self.resources.insert(&self.key, &text);
        Ok(Json::from_text(text))
    }

    /// Counts a resource miss of `resource_type`; at the [`PRELOAD_AFTER`]th, reads the
    /// type's resources in one scan into the cache (as many as half its budget holds) and
    /// returns `true`. One scan decodes each stored block once; point gets of resources
    /// scattered over a large table decode a block for each.
    fn note_miss(&mut self, resource_type: &str) -> Result<bool> {
        let n = match self.type_misses.get_mut(resource_type) {
            Some(n) => n,
            None => self
                .type_misses
                .entry(resource_type.to_owned())
                .or_insert(0),
        };
        *n = n.saturating_add(1);
        if *n != PRELOAD_AFTER {
            return Ok(false);
        }
        let ty = self.types()?.resource;
        let query = ResourceQuery {
            sync: self.sync.clone(),
            resource_type_id: Some(resource_type.to_owned()),
            parent: None,
        };
        let mut text = Vec::new();
        for r in self.store.stream_resources(query) {
            let r = r?.value;
            let Some(id) = &r.id else { continue };
            resource_key(&mut self.key, &id.resource_type, &id.resource);
            if self
                .resources
                .current
                .get(&self.key, hash(&self.key))
                .is_some()
            {
                continue;
            }
            self.encoded.clear();
            r.encode(&mut self.encoded).map_err(|e| {
                crate::Error::corrupt("protobuf message", format!("resource encoding: {e}"))
            })?;
            text.clear();
            ty.write(&self.encoded, &mut text)?;
            if !self.resources.has_room(self.key.len() + text.len() + 16) {
                break;
            }
            self.resources.insert(&self.key, &text);
        }
        Ok(true)
    }

    /// The entitlement `id`, or `None` if the sync lacks it.
    ///
    /// # Errors
    /// Engine or decode errors of the get.
    pub fn entitlement(&mut self, id: &str) -> Result<Option<Json>> {
        let ty = self.types()?.entitlement;
        let (store, sync) = (self.store, &self.sync);
        self.entitlements.get_or_try(id.as_bytes(), weight_opt, || {
            store
                .entitlement(sync, id)?
                .map(|e| Ok(Json::from_text(ty.to_text(&e.value.encode_to_vec())?)))
                .transpose()
        })
    }

    /// A `resource-types` row: `{resourceType}`.
    ///
    /// # Errors
    /// As [`JsonType::write`].
    pub fn resource_type_row(&self, rt: &ResourceType) -> Result<Row> {
        let ty = self.types()?.resource_type;
        Ok(Row::default().with(
            "resourceType",
            Json::from_text(ty.to_text(&rt.encode_to_vec())?),
        ))
    }

    /// A `resources` row: `{resource, resourceType, parent}` (`parent` only for a resource
    /// with a parent).
    ///
    /// # Errors
    /// Engine or decode errors of the lookups.
    pub fn resource_row(&mut self, resource: &Resource) -> Result<Row> {
        let ty = self.types()?.resource;
        let json = Json::from_text(ty.to_text(&resource.encode_to_vec())?);
        let rt = resource
            .id
            .as_ref()
            .map_or("", |id| id.resource_type.as_str());
        let parent = resource.parent_resource_id.as_ref().map(ResourceKey::of);
        self.resource_row_of(rt, json, parent.as_ref())
    }

    fn resource_row_of(
        &mut self,
        resource_type: &str,
        json: Json,
        parent: Option<&ResourceKey>,
    ) -> Result<Row> {
        let mut row = Row::default()
            .with("resource", json)
            .with("resourceType", self.resource_type(resource_type)?);
        if let Some(parent) = parent {
            row = row.with("parent", self.resource(parent)?);
        }
        Ok(row)
    }

    /// A `principals` row: the principal `key` looked up, as a `resources` row.
    ///
    /// # Errors
    /// Engine or decode errors of the lookups.
    pub fn principal_row(&mut self, key: &ResourceKey) -> Result<Row> {
        let json = self.resource(key)?;
        // The parent as the rendered resource names it (protobuf JSON of a ResourceId).
        let parent = json.value().get("parentResourceId").map(|p| {
            let part = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
            ResourceKey::new(part("resourceType"), part("resource"))
        });
        self.resource_row_of(&key.resource_type, json, parent.as_ref())
    }

    /// An `entitlements` row: `{entitlement, resource, resourceType}`.
    ///
    /// # Errors
    /// Engine or decode errors of the lookups.
    pub fn entitlement_row(&mut self, entitlement: &Entitlement) -> Result<Row> {
        let ty = self.types()?.entitlement;
        let mut row = Row::default().with(
            "entitlement",
            Json::from_text(ty.to_text(&entitlement.encode_to_vec())?),
        );
        if let Some(id) = entitlement.resource.as_ref().and_then(|r| r.id.as_ref()) {
            row = row
                .with(
                    "resource",
                    self.resource_of(&id.resource_type, &id.resource)?,
                )
                .with("resourceType", self.resource_type(&id.resource_type)?);
        }
        Ok(row)
    }

    /// A grant row's entitlement, its resource and resource type (those the row has).
    /// The second value: whether the entitlement is the stored one.
    fn entitlement_objects(
        &mut self,
        e: &Entitlement,
    ) -> Result<(Vec<(&'static str, Json)>, bool)> {
        let mut objects = Vec::with_capacity(3);
        let stored = self.entitlement(&e.id)?;
        let found = stored.is_some();
        let json = match stored {
            Some(json) => json,
            None => {
                let ty = self.types()?.entitlement;
                Json::from_text(ty.to_text(&e.encode_to_vec())?)
            }
        };
        objects.push(("entitlement", json));
        if let Some(id) = e.resource.as_ref().and_then(|r| r.id.as_ref()) {
            objects.push((
                "resource",
                self.resource_of(&id.resource_type, &id.resource)?,
            ));
            objects.push(("resourceType", self.resource_type(&id.resource_type)?));
        }
        Ok((objects, found))
    }

    /// A `grants` row: `{grant, entitlement, resource, resourceType, principal}`, the
    /// entitlement, its resource and resource type and the principal looked up. An
    /// entitlement the sync lacks is the one the grant embeds.
    ///
    /// # Errors
    /// Engine or decode errors of the lookups.
    pub fn grant_row(&mut self, record: &GrantRecord) -> Result<Row> {
        let grant = &record.grant;
        let mut fields = Vec::with_capacity(5);
        fields.push(("grant", self.grant_text(record)?));
        if let Some(e) = &grant.entitlement {
            let rid = e.resource.as_ref().and_then(|r| r.id.as_ref());
            match &self.last_entitlement {
                Some((id, rt, r, objects))
                    if *id == e.id
                        && rid.is_some_and(|x| x.resource_type == *rt && x.resource == *r) =>
                {
                    fields.extend(objects.iter().cloned());
                }
                _ => {
                    let (objects, stored) = self.entitlement_objects(e)?;
                    fields.extend(objects.iter().cloned());
                    // Only a stored entitlement stands for every grant of its id (an
                    // embedded one is the grant's own).
                    self.last_entitlement = match (stored, rid) {
                        (true, Some(x)) => Some((
                            e.id.clone(),
                            x.resource_type.clone(),
                            x.resource.clone(),
                            objects,
                        )),
                        _ => None,
                    };
                }
            }
        }
        if let Some(id) = grant.principal.as_ref().and_then(|p| p.id.as_ref()) {
            fields.push((
                "principal",
                self.resource_of(&id.resource_type, &id.resource)?,
            ));
        }
        Ok(Row { fields })
    }
}

/// baton's placeholder for a resource a sync lacks.
fn missing_resource(key: &ResourceKey) -> Resource {
    Resource {
        id: Some(ResourceId {
            resource_type: key.resource_type.clone(),
            resource: key.resource.clone(),
            ..Default::default()
        }),
        display_name: format!("MISSING RESOURCE ({key})"),
        ..Default::default()
    }
}

/// The JSON of a stored grant; with `reattach_expansion` (what baton's Pebble reader
/// returns) the record's expansion is appended to the annotations as a `GrantExpandable`.
///
/// # Errors
/// As [`crate::json::to_json`].
pub fn grant_json(record: &GrantRecord, reattach_expansion: bool) -> Result<Value> {
    match (&record.expansion, reattach_expansion) {
        (Some(x), true) => {
            let mut grant = record.grant.clone();
            grant.annotations.push(to_any(GRANT_EXPANDABLE, x));
            message_json("c1.connector.v2.Grant", &grant)
        }
        _ => message_json("c1.connector.v2.Grant", &record.grant),
    }
}

/// A `syncs` row as baton prints it: protobuf JSON of baton's `SyncOutput` (empty strings
/// and absent times left out, times as `google.protobuf.Timestamp` JSON in UTC, the stored
/// wall clock taken as UTC as baton's readers do).
#[must_use]
pub fn sync_run_row(run: &SyncRun) -> Row {
    let mut row = Row::default().with("id", Value::String(run.id.to_string()));
    row = row.with("startedAt", Value::String(timestamp(&run.started_at)));
    if let Some(t) = &run.ended_at {
        row = row.with("endedAt", Value::String(timestamp(t)));
    }
    if !run.sync_token.is_empty() {
        row = row.with("syncToken", Value::String(run.sync_token.clone()));
    }
    if !run.sync_type.is_empty() {
        row = row.with("syncType", Value::String(run.sync_type.clone()));
    }
    if let Some(p) = &run.parent_sync_id {
        row = row.with("parentSyncId", Value::String(p.to_string()));
    }
    row
}

/// An asset row (c1z's own shape: baton has no asset list): `{id, contentType, size}`.
#[must_use]
pub fn asset_row(asset: &crate::model::Asset) -> Row {
    Row::default()
        .with("id", Value::String(asset.id.clone()))
        .with("contentType", Value::String(asset.content_type.clone()))
        .with("size", Value::from(asset.data.len()))
}

/// `google.protobuf.Timestamp` JSON: RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits
/// (as Go's protojson prints it).
fn timestamp(t: &chrono::NaiveDateTime) -> String {
    let nanos = chrono::Timelike::nanosecond(t) % 1_000_000_000;
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    if nanos == 0 {
        format!("{base}Z")
    } else if nanos.is_multiple_of(1_000_000) {
        format!("{base}.{:03}Z", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("{base}.{:06}Z", nanos / 1_000)
    } else {
        format!("{base}.{nanos:09}Z")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_protojson() {
        let t = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        assert_eq!(timestamp(&t("2026-11-22 14:45:44")), "2026-11-22T14:45:44Z");
        assert_eq!(
            timestamp(&t("2026-11-22 14:45:44.5")),
            "2026-11-22T14:45:44.500Z"
        );
        assert_eq!(
            timestamp(&t("2026-11-22 14:45:44.000123")),
            "2026-11-22T14:45:44.000123Z"
        );
        assert_eq!(
            timestamp(&t("2026-11-22 14:45:44.77979921")),
            "2026-11-22T14:45:44.779799210Z"
        );
    }

    #[test]
    fn rows_serialize_in_key_order_and_get_by_name() {
        let row = Row::default()
            .with("b", Value::from(1))
            .with("a", Value::from("x"));
        assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"b":1,"a":"x"}"#);
        assert_eq!(row.get("a"), Some(&Value::from("x")));
        assert_eq!(row.get("c"), None);
        assert_eq!(row.to_value(), serde_json::json!({"a": "x", "b": 1}));
    }

    #[test]
    fn rows_write_their_objects_text_verbatim() {
        let row = Row::default()
            .with("grant", Json::from_text(br#"{"id":"g","x":"1"}"#.to_vec()))
            .with("principal", Json::from_text(b"{}".to_vec()));
        let mut out = Vec::new();
        row.write_json(&mut out);
        assert_eq!(out, br#"{"grant":{"id":"g","x":"1"},"principal":{}}"#);
        assert_eq!(row.get("grant").unwrap()["x"], "1");
        assert_eq!(
            serde_json::to_vec(&row).unwrap(),
            br#"{"grant":{"id":"g","x":"1"},"principal":{}}"#
        );
    }

    #[test]
    fn the_cache_keeps_two_generations_within_its_budget() {
        let w = |_: &u32| 0usize;
        // Each entry costs 1 + 48 bytes: a generation ends with the entry that takes it
        // past 100 bytes, its third.
        let mut c: Cache<u32> = Cache::new(200);
        let mut calls = 0;
        for k in [1u8, 2, 1, 3, 1, 4, 5, 6, 1, 2] {
            c.get_or_try(&[k], w, || {
                calls += 1;
                Ok(u32::from(k) * 10)
            })
            .unwrap();
        }
        // 1, 2 fetched, 1 hit, 3 fetched (generation {1,2,3} ends), 1 hit (moved back),
        // 4, 5 fetched (generation {1,4,5} ends: 2 and 3 forgotten), 6 fetched, 1 hit,
        // 2 fetched again (generation {6,1,2} ends: 4 and 5 forgotten).
        assert_eq!(calls, 7);
        assert_eq!((c.hits, c.misses), (3, 7));
        assert_eq!(c.current.len() + c.previous.len(), 3);
    }
}
