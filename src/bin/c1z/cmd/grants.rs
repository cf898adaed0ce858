//! `c1z grants FILE [-e ENT] [-r TYPE:ID] [-t TYPE] [--principal TYPE:ID] [--sync-id ID]
//! [-o FORMAT]`: every filter is an indexed query of the store.

use std::process::ExitCode;

use c1z::listing::{Listing, Lookups};
use c1z::{GrantQuery, ReaderExt, ResourceKey};

use super::list::{self, Named};
use crate::args::ListArgs;
use crate::output::{self, Column, resource_id, text};

static COLUMNS: [Column; 4] = [
    Column {
        header: "ENTITLEMENT",
        cell: |r| text(r.get("grant").and_then(|g| g.get("entitlement")?.get("id"))),
    },
    Column {
        header: "PRINCIPAL",
        cell: |r| resource_id(r.get("grant").and_then(|g| g.get("principal")?.get("id"))),
    },
    Column {
        header: "PRINCIPAL NAME",
        cell: |r| text(r.get("principal").and_then(|p| p.get("displayName"))),
    },
    Column {
        header: "GRANT",
        cell: |r| text(r.get("grant").and_then(|g| g.get("id"))),
    },
];

/// The filters of `c1z grants`.
pub(crate) struct Filters {
    pub(crate) entitlement: Option<String>,
    pub(crate) resource: Option<ResourceKey>,
    pub(crate) resource_type: Option<String>,
    pub(crate) principal: Option<ResourceKey>,
}

pub(crate) fn run(args: &ListArgs, f: &Filters) -> anyhow::Result<ExitCode> {
    let target = list::open(&args.file, args.sync_id.as_deref())?;
    let store = target.store();
    let mut lookups = Lookups::new(store, target.selector());
    let mut sink = output::rows(args.output, Listing::Grants, &COLUMNS);
    let query = GrantQuery {
        sync: target.selector(),
        entitlement_id: f.entitlement.clone(),
        principal: f.principal.clone(),
        resource: f.resource.clone(),
        resource_type_id: f.resource_type.clone(),
        ..Default::default()
    };
    for g in store.stream_grants(query) {
        sink.row(&lookups.grant_row(&g?)?)?;
    }
    let mut named = Vec::new();
    named.extend(f.entitlement.as_deref().map(Named::Entitlement));
    named.extend(f.principal.as_ref().map(Named::Principal));
    named.extend(f.resource.as_ref().map(Named::Resource));
    named.extend(f.resource_type.as_deref().map(Named::ResourceType));
    list::finish(sink, &target, &args.file, &named)
}
