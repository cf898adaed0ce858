//! `c1z resources FILE [-t TYPE] [--parent TYPE:ID] [--sync-id ID] [-o FORMAT]`.

use std::process::ExitCode;

use c1z::listing::{Listing, Lookups};
use c1z::{ReaderExt, ResourceKey, ResourceQuery};

use super::list::{self, Named};
use crate::args::ListArgs;
use crate::output::{self, Column, resource_id, text};

static COLUMNS: [Column; 3] = [
    Column {
        header: "RESOURCE",
        cell: |r| resource_id(r.get("resource").and_then(|x| x.get("id"))),
    },
    Column {
        header: "DISPLAY NAME",
        cell: |r| text(r.get("resource").and_then(|x| x.get("displayName"))),
    },
    Column {
        header: "PARENT",
        cell: |r| resource_id(r.get("resource").and_then(|x| x.get("parentResourceId"))),
    },
];

pub(crate) fn run(
    args: &ListArgs,
    resource_type: Option<&str>,
    parent: Option<&ResourceKey>,
) -> anyhow::Result<ExitCode> {
    let target = list::open(&args.file, args.sync_id.as_deref())?;
    let store = target.store();
    let mut lookups = Lookups::new(store, target.selector());
    let mut sink = output::rows(args.output, Listing::Resources, &COLUMNS);
    let query = ResourceQuery {
        sync: target.selector(),
        resource_type_id: resource_type.map(str::to_owned),
        parent: parent.cloned(),
    };
    for r in store.stream_resources(query) {
        sink.row(&lookups.resource_row(&r?.value)?)?;
    }
    let mut named = Vec::new();
    named.extend(resource_type.map(Named::ResourceType));
    named.extend(parent.map(Named::Resource));
    list::finish(sink, &target, &args.file, &named)
}
