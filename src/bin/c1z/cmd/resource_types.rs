//! `c1z resource-types FILE [--sync-id ID] [-o FORMAT]`.

use std::process::ExitCode;

use c1z::listing::{Listing, Lookups, Row};
use c1z::{ReaderExt, ResourceTypeQuery};

use super::list;
use crate::args::ListArgs;
use crate::output::{self, Column, text};

static COLUMNS: [Column; 3] = [
    Column {
        header: "ID",
        cell: |r| text(r.get("resourceType").and_then(|t| t.get("id"))),
    },
    Column {
        header: "DISPLAY NAME",
        cell: |r| text(r.get("resourceType").and_then(|t| t.get("displayName"))),
    },
    Column {
        header: "TRAITS",
        cell: traits,
    },
];

/// `TRAIT_USER, TRAIT_GROUP` as `user,group`.
fn traits(r: &Row) -> String {
    let Some(list) = r
        .get("resourceType")
        .and_then(|t| t.get("traits"))
        .and_then(serde_json::Value::as_array)
    else {
        return String::new();
    };
    list.iter()
        .filter_map(serde_json::Value::as_str)
        .map(|t| t.strip_prefix("TRAIT_").unwrap_or(t).to_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn run(args: &ListArgs) -> anyhow::Result<ExitCode> {
    let target = list::open(&args.file, args.sync_id.as_deref())?;
    let store = target.store();
    let lookups = Lookups::new(store, target.selector());
    let mut sink = output::rows(args.output, Listing::ResourceTypes, &COLUMNS);
    let query = ResourceTypeQuery {
        sync: target.selector(),
    };
    for rt in store.stream_resource_types(query) {
        sink.row(&lookups.resource_type_row(&rt?.value)?)?;
    }
    list::finish(sink, &target, &args.file, &[])
}
