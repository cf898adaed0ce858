//! `c1z who-can-access FILE TYPE:ID [--entitlement ENT] [--sync-id ID] [-o FORMAT]`: every
//! holder of a resource's entitlements, and for each derived grant the chain of sources
//! that explains it.

use std::process::ExitCode;

use c1z::ResourceKey;
use c1z::access::{ChainEnd, Holder, who_can_access};
use c1z::listing::{Listing, Lookups, Row};
use serde_json::{Value, json};

use super::list::{self, Named};
use crate::args::ListArgs;
use crate::output::{self, Column, resource_id, text};

/// `direct`, or the chain's entitlements joined by ` < ` (each held through the next),
/// with how a broken chain ends.
fn via(r: &Row) -> String {
    if r.get("direct") == Some(&Value::Bool(true)) {
        return "direct".to_owned();
    }
    let links: Vec<String> = r
        .get("via")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|l| text(l.get("entitlement")))
        .collect();
    let mut s = links.join(" < ");
    if let Some(end) = r.get("chainEnd").and_then(Value::as_str) {
        s.push_str(&format!(" ({end})"));
    }
    s
}

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
        header: "VIA",
        cell: via,
    },
];

/// The row of a holder: baton's grant row, `direct`, and for a derived grant `via` (the
/// chain: `{entitlement, grant}` each, `grant` null where it breaks) and `chainEnd` when it
/// does not end at a direct grant.
fn holder_row(lookups: &mut Lookups<'_, c1z::AnyStore>, h: &Holder) -> anyhow::Result<Row> {
    let mut row = lookups
        .grant_row(&h.grant)?
        .with_field("direct", Value::Bool(h.direct));
    if !h.direct {
        let links = h
            .chain
            .iter()
            .map(|l| json!({"entitlement": l.entitlement_id, "grant": l.grant_id}))
            .collect();
        row = row.with_field("via", Value::Array(links));
        let end = match h.end {
            ChainEnd::Direct => None,
            ChainEnd::Missing => Some("missing grant"),
            ChainEnd::Cycle => Some("cycle"),
            ChainEnd::TooLong => Some("too long"),
        };
        if let Some(end) = end {
            row = row.with_field("chainEnd", Value::String(end.to_owned()));
        }
    }
    Ok(row)
}

pub(crate) fn run(
    args: &ListArgs,
    resource: &ResourceKey,
    entitlement: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let target = list::open(&args.file, args.sync_id.as_deref())?;
    let store = target.store();
    let mut lookups = Lookups::new(store, target.selector());
    let mut sink = output::rows(args.output, Listing::Holders, &COLUMNS);
    if target.sync.is_some() {
        for h in who_can_access(store, &target.selector(), resource, entitlement) {
            sink.row(&holder_row(&mut lookups, &h?)?)?;
        }
    }
    let mut named = vec![Named::Resource(resource)];
    named.extend(entitlement.map(Named::Entitlement));
    list::finish(sink, &target, &args.file, &named)
}
