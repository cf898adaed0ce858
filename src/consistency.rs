//! Referential consistency of one sync (`c1z verify --deep`): the references a snapshot's
//! objects make to each other that point at nothing.
//!
//! Streaming: the resource types are held (few), and 16 bytes per resource and per
//! entitlement (a 128-bit hash of its key); examples are kept per class up to a bound.

use std::collections::{BTreeMap, HashSet};

use crate::diff::{IdSet, id_hash};
use crate::error::Result;
use crate::model::SyncId;
use crate::store::{
    EntitlementQuery, GrantQuery, Reader, ReaderExt, ResourceQuery, ResourceTypeQuery, SyncSelector,
};

/// Examples kept per class.
pub const EXAMPLES: usize = 5;

/// A class of dangling reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dangling {
    /// A resource whose type is not among the sync's resource types.
    ResourceOfUndeclaredType,
    /// A resource whose parent resource is not in the sync.
    ResourceWithMissingParent,
    /// An entitlement whose resource is not in the sync.
    EntitlementOnMissingResource,
    /// A grant whose entitlement is not in the sync.
    GrantOfMissingEntitlement,
    /// A grant whose principal resource is not in the sync.
    GrantToMissingPrincipal,
    /// A grant's expansion edge whose source entitlement is not in the sync.
    EdgeFromMissingEntitlement,
}

impl Dangling {
    /// Every class, in report order.
    pub const ALL: [Dangling; 6] = [
        Dangling::ResourceOfUndeclaredType,
        Dangling::ResourceWithMissingParent,
        Dangling::EntitlementOnMissingResource,
        Dangling::GrantOfMissingEntitlement,
        Dangling::GrantToMissingPrincipal,
        Dangling::EdgeFromMissingEntitlement,
    ];

    /// The class's name, as in JSON.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Dangling::ResourceOfUndeclaredType => "resource_of_undeclared_type",
            Dangling::ResourceWithMissingParent => "resource_with_missing_parent",
            Dangling::EntitlementOnMissingResource => "entitlement_on_missing_resource",
            Dangling::GrantOfMissingEntitlement => "grant_of_missing_entitlement",
            Dangling::GrantToMissingPrincipal => "grant_to_missing_principal",
            Dangling::EdgeFromMissingEntitlement => "edge_from_missing_entitlement",
        }
    }
}

/// How many references of one class dangle, with the first few.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// How many.
    pub count: u64,
    /// Up to [`EXAMPLES`]: the referring object's id, `->`, what it names.
    pub examples: Vec<String>,
}

/// The dangling references of one sync.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConsistencyReport {
    /// The sync checked.
    pub sync_id: String,
    /// Objects read: resource types, resources, entitlements, grants.
    pub objects: u64,
    /// Per class with any finding.
    pub dangling: BTreeMap<Dangling, Finding>,
}

impl ConsistencyReport {
    /// Whether nothing dangles.
    #[must_use]
    pub fn is_consistent(&self) -> bool {
        self.dangling.is_empty()
    }

    fn found(&mut self, class: Dangling, example: impl FnOnce() -> String) {
        let f = self.dangling.entry(class).or_default();
        f.count += 1;
        if f.examples.len() < EXAMPLES {
            f.examples.push(example());
        }
    }
}

fn key_hash(resource_type: &str, resource: &str) -> u128 {
    // The same separator-free encoding on both sides: a length prefix, so `a:b`/`c` and
    // `a`/`b:c` stay apart.
    id_hash(&format!(
        "{}\u{0}{resource_type}{resource}",
        resource_type.len()
    ))
}

/// Checks sync `sync` of `store` for dangling references (see [`Dangling`]).
///
/// # Errors
/// Engine or decode errors.
pub fn check_sync(store: &dyn Reader, sync: &SyncId) -> Result<ConsistencyReport> {
    let sel = || SyncSelector::Id(sync.clone());
    let mut report = ConsistencyReport {
        sync_id: sync.as_str().to_owned(),
        ..ConsistencyReport::default()
    };
    let mut types: HashSet<String> = HashSet::new();
    for rt in store.stream_resource_types(ResourceTypeQuery { sync: sel() }) {
        types.insert(rt?.value.id);
        report.objects += 1;
    }
    let resources = || {
        store.stream_resources(ResourceQuery {
            sync: sel(),
            ..ResourceQuery::default()
        })
    };
    let mut keys = IdSet::default();
    let mut any_parent = false;
    for r in resources() {
        let r = r?.value;
        report.objects += 1;
        let id = r.id.unwrap_or_default();
        if !types.contains(&id.resource_type) {
            report.found(Dangling::ResourceOfUndeclaredType, || {
                format!(
                    "{}:{} -> type {}",
                    id.resource_type, id.resource, id.resource_type
                )
            });
        }
        any_parent |= r.parent_resource_id.is_some();
        keys.insert(key_hash(&id.resource_type, &id.resource));
    }
    if any_parent {
        for r in resources() {
            let r = r?.value;
            if let Some(p) = &r.parent_resource_id
                && !keys.contains(&key_hash(&p.resource_type, &p.resource))
            {
                let id = r.id.unwrap_or_default();
                report.found(Dangling::ResourceWithMissingParent, || {
                    format!(
                        "{}:{} -> {}:{}",
                        id.resource_type, id.resource, p.resource_type, p.resource
                    )
                });
            }
        }
    }
    let mut entitlements = IdSet::default();
    for e in store.stream_entitlements(EntitlementQuery {
        sync: sel(),
        ..EntitlementQuery::default()
    }) {
        let e = e?.value;
        report.objects += 1;
        entitlements.insert(id_hash(&e.id));
        let on = e.resource.and_then(|r| r.id).unwrap_or_default();
        if !keys.contains(&key_hash(&on.resource_type, &on.resource)) {
            report.found(Dangling::EntitlementOnMissingResource, || {
                format!("{} -> {}:{}", e.id, on.resource_type, on.resource)
            });
        }
    }
    for g in store.stream_grants(GrantQuery {
        sync: sel(),
        ..GrantQuery::default()
    }) {
        let g = g?;
        report.objects += 1;
        let ent = g.grant.entitlement.as_ref().map_or("", |e| e.id.as_str());
        if !entitlements.contains(&id_hash(ent)) {
            report.found(Dangling::GrantOfMissingEntitlement, || {
                format!("{} -> {ent}", g.grant.id)
            });
        }
        let p = g
            .grant
            .principal
            .as_ref()
            .and_then(|p| p.id.as_ref())
            .cloned()
            .unwrap_or_default();
        if !keys.contains(&key_hash(&p.resource_type, &p.resource)) {
            report.found(Dangling::GrantToMissingPrincipal, || {
                format!("{} -> {}:{}", g.grant.id, p.resource_type, p.resource)
            });
        }
        for source in g.expansion.iter().flat_map(|x| &x.entitlement_ids) {
            if !entitlements.contains(&id_hash(source)) {
                report.found(Dangling::EdgeFromMissingEntitlement, || {
                    format!("{} -> {source}", g.grant.id)
                });
            }
        }
    }
    Ok(report)
}
