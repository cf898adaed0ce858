//! `c1z principals FILE -e ENT [--sync-id ID] [-o FORMAT]`: the holders of an entitlement.

use std::collections::HashSet;
use std::process::ExitCode;

use c1z::listing::{Listing, Lookups};
use c1z::{GrantQuery, ReaderExt};

use super::list::{self, Named};
use crate::args::ListArgs;
use crate::output::{self, Column, resource_id, text};

static COLUMNS: [Column; 2] = [
    Column {
        header: "PRINCIPAL",
        cell: |r| resource_id(r.get("resource").and_then(|x| x.get("id"))),
    },
    Column {
        header: "DISPLAY NAME",
        cell: |r| text(r.get("resource").and_then(|x| x.get("displayName"))),
    },
];

pub(crate) fn run(args: &ListArgs, entitlement: &str) -> anyhow::Result<ExitCode> {
    let target = list::open(&args.file, args.sync_id.as_deref())?;
    let store = target.store();
    let mut lookups = Lookups::new(store, target.selector());
    let mut sink = output::rows(args.output, Listing::Principals, &COLUMNS);
    let query = GrantQuery {
        sync: target.selector(),
        entitlement_id: Some(entitlement.to_owned()),
        ..Default::default()
    };
    // Each principal once, as baton lists them: the keys seen are the one thing held per
    // row (a holder's key, not its object), bounded by the entitlement's grant count.
    let mut seen = HashSet::new();
    // Stored grants: only the principal column is needed, not the decoded grant.
    for g in store.stream_stored_grants(query) {
        let key = g?.principal;
        if seen.insert(key.clone()) {
            sink.row(&lookups.principal_row(&key)?)?;
        }
    }
    list::finish(
        sink,
        &target,
        &args.file,
        &[Named::Entitlement(entitlement)],
    )
}
