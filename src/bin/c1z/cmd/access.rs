//! `c1z access FILE TYPE:ID [--sync-id ID] [-o FORMAT]`: everything one principal holds,
//! grouped by resource, through the by-principal index.

use std::process::ExitCode;

use c1z::ResourceKey;
use c1z::access::{is_direct, principal_access};
use c1z::listing::{Listing, Lookups, Row};
use serde_json::Value;

use super::list::{self, Named};
use crate::args::ListArgs;
use crate::output::{self, Column, resource_id, text};

/// The entitlements of a row's grants: slugs (else ids), in order.
fn entitlements(r: &Row) -> String {
    grants(r)
        .map(|g| {
            let e = g.get("entitlement");
            let slug = text(e.and_then(|e| e.get("slug")));
            if slug.is_empty() {
                text(e.and_then(|e| e.get("id")))
            } else {
                slug
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn grants(r: &Row) -> impl Iterator<Item = &Value> {
    r.get("grants")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// `direct`, `inherited` or both: how the principal holds the row's grants.
fn how(r: &Row) -> String {
    let direct = grants(r).map(|g| g.get("direct") == Some(&Value::Bool(true)));
    let (mut d, mut i) = (false, false);
    for is in direct {
        if is {
            d = true;
        } else {
            i = true;
        }
    }
    match (d, i) {
        (true, true) => "direct, inherited",
        (true, false) => "direct",
        (false, true) => "inherited",
        (false, false) => "",
    }
    .to_owned()
}

static COLUMNS: [Column; 4] = [
    Column {
        header: "RESOURCE",
        cell: |r| resource_id(r.get("resource").and_then(|x| x.get("id"))),
    },
    Column {
        header: "DISPLAY NAME",
        cell: |r| text(r.get("resource").and_then(|x| x.get("displayName"))),
    },
    Column {
        header: "ENTITLEMENTS",
        cell: entitlements,
    },
    Column {
        header: "HOW",
        cell: how,
    },
];

pub(crate) fn run(args: &ListArgs, principal: &ResourceKey) -> anyhow::Result<ExitCode> {
    let target = list::open(&args.file, args.sync_id.as_deref())?;
    let store = target.store();
    let mut lookups = Lookups::new(store, target.selector());
    let mut sink = output::rows(args.output, Listing::Access, &COLUMNS);
    if target.sync.is_some() {
        for access in principal_access(store, &target.selector(), principal)? {
            let mut grants = Vec::with_capacity(access.grants.len());
            for g in &access.grants {
                let mut entry = serde_json::Map::new();
                entry.insert("grant".into(), lookups.grant_json(g)?);
                if let Some(e) = &g.grant.entitlement
                    && let Some(json) = lookups.entitlement(&e.id)?
                {
                    entry.insert("entitlement".into(), json.value().clone());
                }
                entry.insert("direct".into(), Value::Bool(is_direct(g)));
                grants.push(Value::Object(entry));
            }
            let row = Row::default()
                .with_field("resource", lookups.resource(&access.resource)?)
                .with_field(
                    "resourceType",
                    lookups.resource_type(&access.resource.resource_type)?,
                )
                .with_field("grants", Value::Array(grants));
            sink.row(&row)?;
        }
    }
    list::finish(sink, &target, &args.file, &[Named::Principal(principal)])
}
