//! baton's `c1.storage.v3` records turned into the connector objects baton's Pebble reader
//! returns (`../shared/spec/format-v3-envelope.md` §11.10): traits and purposes back to
//! their enums, grants with identity-only entitlement and principal stubs, the expansion
//! edge in [`GrantRecord::expansion`].

use chrono::NaiveDateTime;
use prost::Message;

use crate::error::{Error, Result};
use crate::model::{Asset, GrantRecord, IngestInvariant, Record, SyncId, SyncRun};
use crate::pb::c1::connector::v2::{
    AssetRef, Entitlement, Grant, GrantExpandable, GrantSources, Resource, ResourceId,
    ResourceType, Status, entitlement::PurposeValue, grant_sources::GrantSource,
    resource_type::Trait,
};
use crate::pb::c1::storage::v3 as rec;

/// Decodes a record value.
///
/// # Errors
/// [`Error::Corrupt`] naming the record kind.
pub fn decode<M: Message + Default>(what: &'static str, value: &[u8]) -> Result<M> {
    M::decode(value).map_err(|e| Error::corrupt(what, format!("pebble record: {e}")))
}

/// A stored UTC timestamp as c1z's wall-clock time (Pebble records carry UTC instants;
/// the writer's zone is not recorded, so UTC is the wall clock c1z reports).
#[must_use]
pub fn time(t: Option<&prost_types::Timestamp>) -> Option<NaiveDateTime> {
    let t = t?;
    let nanos = u32::try_from(t.nanos).ok()?;
    chrono::DateTime::from_timestamp(t.seconds, nanos).map(|d| d.naive_utc())
}

fn discovered(t: Option<&prost_types::Timestamp>) -> NaiveDateTime {
    time(t).unwrap_or_default()
}

fn resource_id(rt: &str, id: &str) -> ResourceId {
    ResourceId {
        resource_type: rt.to_owned(),
        resource: id.to_owned(),
        ..Default::default()
    }
}

/// A resource of which only the identity is known.
fn stub(resource_type: String, resource: String) -> Resource {
    Resource {
        id: Some(ResourceId {
            resource_type,
            resource,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A resource type record.
#[must_use]
pub fn resource_type(r: rec::ResourceTypeRecord) -> Record<ResourceType> {
    let traits = r
        .traits
        .iter()
        .map(|t| Trait::from_str_name(&format!("TRAIT_{t}")).map_or(0, |t| t as i32))
        .collect();
    Record {
        discovered_at: discovered(r.discovered_at.as_ref()),
        value: ResourceType {
            id: r.external_id,
            display_name: r.display_name,
            traits,
            annotations: r.annotations,
            description: r.description,
            sourced_externally: r.sourced_externally,
        },
    }
}

/// A resource record.
#[must_use]
pub fn resource(r: rec::ResourceRecord) -> Record<Resource> {
    let parent = r
        .parent
        .filter(|p| !p.resource_id.is_empty())
        .map(|p| resource_id(&p.resource_type_id, &p.resource_id));
    Record {
        discovered_at: discovered(r.discovered_at.as_ref()),
        value: Resource {
            id: Some(resource_id(&r.resource_type_id, &r.resource_id)),
            parent_resource_id: parent,
            display_name: r.display_name,
            annotations: r.annotations,
            description: r.description,
            profile: r.profile,
            icon: (!r.icon_asset_external_id.is_empty()).then_some(AssetRef {
                id: r.icon_asset_external_id,
            }),
            status: r.status.map(|s| Status {
                status: s.status,
                details: s.details,
            }),
            created_at: r.created_at,
            ..Default::default()
        },
    }
}

/// An entitlement record.
#[must_use]
pub fn entitlement(r: rec::EntitlementRecord) -> Record<Entitlement> {
    let (rt, rid) = r
        .resource
        .map(|x| (x.resource_type_id, x.resource_id))
        .unwrap_or_default();
    let purpose = if r.purpose.is_empty() {
        0
    } else {
        PurposeValue::from_str_name(&format!("PURPOSE_VALUE_{}", r.purpose)).map_or(0, |p| p as i32)
    };
    Record {
        discovered_at: discovered(r.discovered_at.as_ref()),
        value: Entitlement {
            resource: Some(stub(rt, rid)),
            id: r.external_id,
            display_name: r.display_name,
            description: r.description,
            grantable_to: r
                .grantable_to_resource_type_ids
                .into_iter()
                .map(|id| ResourceType {
                    id,
                    ..Default::default()
                })
                .collect(),
            annotations: r.annotations,
            purpose,
            slug: r.slug,
        },
    }
}

/// A grant record: the grant with stub entitlement and principal, its expansion edge and
/// flag.
#[must_use]
pub fn grant(r: rec::GrantRecord) -> GrantRecord {
    let e = r.entitlement.unwrap_or_default();
    let p = r.principal.unwrap_or_default();
    let id = if r.external_id.is_empty() {
        format!(
            "{}:{}:{}",
            e.entitlement_id, p.resource_type_id, p.resource_id
        )
    } else {
        r.external_id
    };
    let sources = (!r.sources.is_empty()).then(|| GrantSources {
        sources: r
            .sources
            .into_iter()
            .map(|(k, s)| {
                (
                    k,
                    GrantSource {
                        is_direct: s.is_direct,
                    },
                )
            })
            .collect(),
    });
    let expansion = r.expansion.map(|x| GrantExpandable {
        entitlement_ids: x.entitlement_ids,
        shallow: x.shallow,
        resource_type_ids: x.resource_type_ids,
    });
    GrantRecord {
        grant: Grant {
            entitlement: Some(Entitlement {
                resource: Some(stub(e.resource_type_id, e.resource_id)),
                id: e.entitlement_id,
                ..Default::default()
            }),
            principal: Some(stub(p.resource_type_id, p.resource_id)),
            id,
            sources,
            annotations: r.annotations,
        },
        expansion,
        needs_expansion: r.needs_expansion,
        discovered_at: discovered(r.discovered_at.as_ref()),
    }
}

/// An asset record.
#[must_use]
pub fn asset(r: rec::AssetRecord) -> Asset {
    Asset {
        id: r.external_id,
        content_type: r.content_type,
        data: r.data,
        discovered_at: discovered(r.discovered_at.as_ref()),
    }
}

/// The sync-run record, with the stats sidecar as the JSON baton's SQLite engine caches.
#[must_use]
pub fn sync_run(r: rec::SyncRunRecord, stats: Option<&rec::SyncStatsRecord>) -> SyncRun {
    let sync_type = match rec::SyncType::try_from(r.r#type) {
        Ok(rec::SyncType::Full) => "full",
        Ok(rec::SyncType::Partial) => "partial",
        Ok(rec::SyncType::ResourcesOnly) => "resources_only",
        Ok(rec::SyncType::PartialUpserts) => "partial_upserts",
        Ok(rec::SyncType::PartialDeletions) => "partial_deletions",
        Ok(rec::SyncType::Unspecified) | Err(_) => "",
    };
    let coverage = if r.ingest_invariant_coverage.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&r.ingest_invariant_coverage).unwrap_or_default()
    };
    SyncRun {
        id: SyncId::new(r.sync_id),
        sync_type: sync_type.to_owned(),
        started_at: discovered(r.started_at.as_ref()),
        ended_at: time(r.ended_at.as_ref()),
        sync_token: r.sync_token,
        parent_sync_id: SyncId::non_empty(r.parent_sync_id),
        linked_sync_id: SyncId::non_empty(r.linked_sync_id),
        supports_diff: r.supports_diff,
        stats: stats.map(stats_json),
        ingest_invariant: IngestInvariant {
            generation: r.ingest_invariant_generation,
            coverage,
            mode: r.ingest_invariant_mode,
        },
    }
}

/// The stats sidecar in the JSON shape of `v1_sync_runs.stats`.
fn stats_json(s: &rec::SyncStatsRecord) -> String {
    serde_json::json!({
        "resource_types": s.resource_types,
        "resources": s.resources,
        "entitlements": s.entitlements,
        "grants": s.grants,
        "resources_by_resource_type": s.resources_by_resource_type,
        "grants_by_resource_type": s.grants_by_entitlement_resource_type,
        "entitlements_by_resource_type": s.entitlements_by_resource_type,
        "assets": s.assets,
    })
    .to_string()
}
