//! `c1z entitlements FILE [-t TYPE] [-r TYPE:ID] [--sync-id ID] [-o FORMAT]`.

use std::process::ExitCode;

use c1z::listing::{Listing, Lookups};
use c1z::{EntitlementQuery, ReaderExt, ResourceKey};

use super::list::{self, Named};
use crate::args::ListArgs;
use crate::output::{self, Column, resource_id, text};

static COLUMNS: [Column; 4] = [
    Column {
        header: "ENTITLEMENT",
        cell: |r| text(r.get("entitlement").and_then(|e| e.get("id"))),
    },
    Column {
        header: "DISPLAY NAME",
        cell: |r| text(r.get("entitlement").and_then(|e| e.get("displayName"))),
    },
    Column {
        header: "RESOURCE",
        cell: |r| resource_id(r.get("resource").and_then(|x| x.get("id"))),
    },
    Column {
        header: "PURPOSE",
        cell: |r| {
            let p = text(r.get("entitlement").and_then(|e| e.get("purpose")));
            p.strip_prefix("PURPOSE_VALUE_")
                .unwrap_or(&p)
                .to_lowercase()
        },
    },
];

pub(crate) fn run(
    args: &ListArgs,
    resource_type: Option<&str>,
    resource: Option<&ResourceKey>,
) -> anyhow::Result<ExitCode> {
    let target = list::open(&args.file, args.sync_id.as_deref())?;
    let store = target.store();
    let mut lookups = Lookups::new(store, target.selector());
    let mut sink = output::rows(args.output, Listing::Entitlements, &COLUMNS);
    let query = EntitlementQuery {
        sync: target.selector(),
        resource: resource.cloned(),
    };
    for e in store.stream_entitlements(query) {
        let e = e?.value;
        // The store indexes entitlements by resource, not by resource type: filter here.
        let rt = e
            .resource
            .as_ref()
            .and_then(|r| r.id.as_ref())
            .map(|id| id.resource_type.as_str());
        if resource_type.is_some_and(|t| rt != Some(t)) {
            continue;
        }
        sink.row(&lookups.entitlement_row(&e)?)?;
    }
    let mut named = Vec::new();
    named.extend(resource_type.map(Named::ResourceType));
    named.extend(resource.map(Named::Resource));
    list::finish(sink, &target, &args.file, &named)
}
