//! Listings as `baton … -o json` prints them: the per-row objects of its `resource-types`,
//! `resources`, `entitlements`, `grants`, `principals` and `syncs` envelopes, built one row at
//! a time so a listing of any size streams.
//!
//! baton decorates each row with related objects (a grant's entitlement, the entitlement's
//! resource and resource type, the principal); [`Lookups`] fetches them with point gets
//! through small bounded caches, since a few entitlements and resource types repeat across
//! many rows. Rows render as protobuf JSON ([`crate::json`]), so `jq` filters written
//! against baton's output apply unchanged.
//!
//! What baton prints differs by engine, and so do these rows: grants read from baton's Pebble
//! files carry their `GrantExpandable` annotation (baton's Pebble reader re-attaches the
//! record's expansion), grants read from SQLite do not (baton's SQLite reader leaves the edge
//! in its column). A related object the sync lacks is rendered as baton renders it where
//! baton's output shows it: a resource becomes `{id, displayName: "MISSING RESOURCE (t:i)"}`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::codec::{GRANT_EXPANDABLE, to_any};
use crate::error::Result;
use crate::json::message_json;
use crate::model::{GrantRecord, ResourceKey, SyncRun};
use crate::pb::c1::connector::v2::{Entitlement, Resource, ResourceId, ResourceType};
use crate::store::{Reader, SyncSelector};

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

/// One row of a listing: named JSON objects in baton's key order. Objects shared by many
/// rows (an entitlement, a resource type) are shared, not copied.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    fields: Vec<(&'static str, Arc<Value>)>,
}

impl Row {
    fn with(mut self, key: &'static str, value: impl Into<Arc<Value>>) -> Self {
        self.fields.push((key, value.into()));
        self
    }

    /// The object under `key`, if the row has one.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| &**v)
    }

    /// The row with one more named object after the others.
    #[must_use]
    pub fn with_field(self, key: &'static str, value: Value) -> Self {
        self.with(key, value)
    }

    /// The row as one JSON object (a copy; [`Row`] serializes directly without one).
    #[must_use]
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (**v).clone()))
                .collect(),
        )
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (k, v) in &self.fields {
            map.serialize_entry(k, &**v)?;
        }
        map.end()
    }
}

/// A cache that forgets everything when full: bounded memory, and for the hot keys of a
/// listing (a few entitlements, every resource type) as good as an LRU.
struct Bounded<K, V> {
    map: HashMap<K, V>,
    capacity: usize,
}

impl<K: Hash + Eq, V: Clone> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            capacity,
        }
    }

    fn get_or_try(&mut self, key: &K, make: impl FnOnce() -> Result<V>) -> Result<V>
    where
        K: Clone,
    {
        if let Some(v) = self.map.get(key) {
            return Ok(v.clone());
        }
        let v = make()?;
        if self.map.len() >= self.capacity {
            self.map.clear();
        }
        self.map.insert(key.clone(), v.clone());
        Ok(v)
    }
}

/// Entries per cache: enough for every entitlement of a large connector's hot set, a few
/// megabytes at most.
const CACHE_ENTRIES: usize = 4_096;

/// Builds baton's rows for one sync of a store, looking related objects up by point gets
/// (cached, bounded).
pub struct Lookups<'a, R: Reader + ?Sized> {
    store: &'a R,
    sync: SyncSelector,
    reattach_expansion: bool,
    resource_types: Bounded<String, Arc<Value>>,
    resources: Bounded<ResourceKey, Arc<Value>>,
    entitlements: Bounded<String, Option<Arc<Value>>>,
}

impl<'a, R: Reader + ?Sized> Lookups<'a, R> {
    /// Rows of `sync` of `store` (name one sync with [`SyncSelector::Id`] so that the rows
    /// and their lookups read the same one).
    pub fn new(store: &'a R, sync: SyncSelector) -> Self {
        Lookups {
            store,
            sync,
            reattach_expansion: store.engine().starts_with("pebble"),
            resource_types: Bounded::new(CACHE_ENTRIES),
            resources: Bounded::new(CACHE_ENTRIES),
            entitlements: Bounded::new(CACHE_ENTRIES),
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

    /// The resource type `id`; a type the sync lacks is `{"id": id}`.
    ///
    /// # Errors
    /// Engine or decode errors of the get.
    pub fn resource_type(&mut self, id: &str) -> Result<Arc<Value>> {
        let (store, sync) = (self.store, &self.sync);
        self.resource_types.get_or_try(&id.to_owned(), || {
            let rt = store.resource_type(sync, id)?.map_or_else(
                || ResourceType {
                    id: id.to_owned(),
                    ..Default::default()
                },
                |r| r.value,
            );
            Ok(Arc::new(message_json("c1.connector.v2.ResourceType", &rt)?))
        })
    }

    /// The resource `key`; one the sync lacks is baton's placeholder
    /// `{id, displayName: "MISSING RESOURCE (type:id)"}`.
    ///
    /// # Errors
    /// Engine or decode errors of the get.
    pub fn resource(&mut self, key: &ResourceKey) -> Result<Arc<Value>> {
        let (store, sync) = (self.store, &self.sync);
        self.resources.get_or_try(key, || {
            let r = store
                .resource(sync, key)?
                .map_or_else(|| missing_resource(key), |r| r.value);
            Ok(Arc::new(message_json("c1.connector.v2.Resource", &r)?))
        })
    }

    /// The entitlement `id`, or `None` if the sync lacks it.
    ///
    /// # Errors
    /// Engine or decode errors of the get.
    pub fn entitlement(&mut self, id: &str) -> Result<Option<Arc<Value>>> {
        let (store, sync) = (self.store, &self.sync);
        self.entitlements.get_or_try(&id.to_owned(), || {
            store
                .entitlement(sync, id)?
                .map(|e| message_json("c1.connector.v2.Entitlement", &e.value).map(Arc::new))
                .transpose()
        })
    }

    /// A `resource-types` row: `{resourceType}`.
    ///
    /// # Errors
    /// As [`crate::json::to_json`].
    pub fn resource_type_row(&self, rt: &ResourceType) -> Result<Row> {
        Ok(Row::default().with(
            "resourceType",
            message_json("c1.connector.v2.ResourceType", rt)?,
        ))
    }

    /// A `resources` row: `{resource, resourceType, parent}` (`parent` only for a resource
    /// with a parent).
    ///
    /// # Errors
    /// Engine or decode errors of the lookups.
    pub fn resource_row(&mut self, resource: &Resource) -> Result<Row> {
        let json = message_json("c1.connector.v2.Resource", resource)?;
        let rt = resource
            .id
            .as_ref()
            .map_or("", |id| id.resource_type.as_str());
        let parent = resource.parent_resource_id.as_ref().map(ResourceKey::of);
        self.resource_row_of(rt, Arc::new(json), parent.as_ref())
    }

    fn resource_row_of(
        &mut self,
        resource_type: &str,
        json: Arc<Value>,
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
        let parent = json.get("parentResourceId").map(|p| {
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
        let mut row = Row::default().with(
            "entitlement",
            message_json("c1.connector.v2.Entitlement", entitlement)?,
        );
        if let Some(id) = entitlement.resource.as_ref().and_then(|r| r.id.as_ref()) {
            row = row
                .with("resource", self.resource(&ResourceKey::of(id))?)
                .with("resourceType", self.resource_type(&id.resource_type)?);
        }
        Ok(row)
    }

    /// A `grants` row: `{grant, entitlement, resource, resourceType, principal}`, the
    /// entitlement, its resource and resource type and the principal looked up. An
    /// entitlement the sync lacks is the one the grant embeds.
    ///
    /// # Errors
    /// Engine or decode errors of the lookups.
    pub fn grant_row(&mut self, record: &GrantRecord) -> Result<Row> {
        let grant = &record.grant;
        let mut row = Row::default().with("grant", self.grant_json(record)?);
        if let Some(e) = &grant.entitlement {
            let json = match self.entitlement(&e.id)? {
                Some(json) => json,
                None => Arc::new(message_json("c1.connector.v2.Entitlement", e)?),
            };
            row = row.with("entitlement", json);
            if let Some(id) = e.resource.as_ref().and_then(|r| r.id.as_ref()) {
                row = row
                    .with("resource", self.resource(&ResourceKey::of(id))?)
                    .with("resourceType", self.resource_type(&id.resource_type)?);
            }
        }
        if let Some(id) = grant.principal.as_ref().and_then(|p| p.id.as_ref()) {
            row = row.with("principal", self.resource(&ResourceKey::of(id))?);
        }
        Ok(row)
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
    fn the_bounded_cache_forgets_when_full() {
        let mut c: Bounded<u32, u32> = Bounded::new(2);
        let mut calls = 0;
        for k in [1, 2, 1, 3, 1] {
            c.get_or_try(&k, || {
                calls += 1;
                Ok(k * 10)
            })
            .unwrap();
        }
        // 1, 2 fetched; 1 hit; 3 clears the full cache; 1 fetched again.
        assert_eq!(calls, 4);
        assert!(c.map.len() <= 2);
    }
}
