//! `c1z compare FILE ENT_A ENT_B [--other-file FILE_B] [--only SIDE] [--summary]`: the
//! principals two entitlements share, and those only one of them has. The second
//! entitlement may sit in another file (or another sync).

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use c1z::access::{Side, compare_holders, holders};
use c1z::listing::{Listing, Lookups};
use serde_json::Value;

use super::list::{self, Named, Target};
use crate::args::{CompareSide, ListArgs};
use crate::output::{self, Column, resource_id, text};

static COLUMNS: [Column; 3] = [
    Column {
        header: "IN",
        cell: |r| text(r.get("in")),
    },
    Column {
        header: "PRINCIPAL",
        cell: |r| resource_id(r.get("resource").and_then(|x| x.get("id"))),
    },
    Column {
        header: "DISPLAY NAME",
        cell: |r| text(r.get("resource").and_then(|x| x.get("displayName"))),
    },
];

/// What `compare` is asked.
pub(crate) struct Comparison<'a> {
    pub(crate) entitlement_a: &'a str,
    pub(crate) entitlement_b: &'a str,
    pub(crate) other_file: Option<&'a Path>,
    pub(crate) other_sync_id: Option<&'a str>,
    pub(crate) only: Option<CompareSide>,
    pub(crate) summary: bool,
}

/// Exit 1 with a message when `entitlement` is not in `target`'s sync.
fn require(target: &Target, path: &Path, entitlement: &str) -> anyhow::Result<Option<ExitCode>> {
    if let Some(msg) = list::first_missing(target, path, &[Named::Entitlement(entitlement)])? {
        eprintln!("c1z: {msg}");
        return Ok(Some(ExitCode::from(1)));
    }
    Ok(None)
}

pub(crate) fn run(args: &ListArgs, c: &Comparison<'_>) -> anyhow::Result<ExitCode> {
    let a = list::open(&args.file, args.sync_id.as_deref())?;
    let b_path = c.other_file.unwrap_or(&args.file);
    let b_sync = if c.other_file.is_some() {
        c.other_sync_id
    } else {
        c.other_sync_id.or(args.sync_id.as_deref())
    };
    let b = list::open(b_path, b_sync)?;
    for (target, path, ent) in [
        (&a, &*args.file, c.entitlement_a),
        (&b, b_path, c.entitlement_b),
    ] {
        if let Some(code) = require(target, path, ent)? {
            return Ok(code);
        }
    }
    let held_a = holders(a.store(), &a.selector(), c.entitlement_a)?;
    let held_b = holders(b.store(), &b.selector(), c.entitlement_b)?;
    let rows = compare_holders(&held_a, &held_b);
    let count = |side| rows.iter().filter(|(s, _)| *s == side).count();
    let (both, only_a, only_b) = (count(Side::Both), count(Side::OnlyA), count(Side::OnlyB));
    if c.summary {
        let counts = serde_json::json!({"both": both, "onlyA": only_a, "onlyB": only_b});
        if matches!(
            args.output,
            Some(crate::args::Format::Json | crate::args::Format::Ndjson)
        ) {
            output::json(&counts)?;
        } else {
            let mut t = output::Table::new();
            t.row("both", both);
            t.row("only A", only_a);
            t.row("only B", only_b);
            t.print()?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let wanted = c.only.map(|o| match o {
        CompareSide::Both => Side::Both,
        CompareSide::OnlyA => Side::OnlyA,
        CompareSide::OnlyB => Side::OnlyB,
    });
    let mut lookups_a = Lookups::new(a.store(), a.selector());
    let mut lookups_b = Lookups::new(b.store(), b.selector());
    let mut sink = output::rows(args.output, Listing::Comparison, &COLUMNS);
    for (side, key) in &rows {
        if wanted.is_some_and(|w| w != *side) {
            continue;
        }
        // A principal is described by a file that has it: A's, unless only B holds it.
        let lookups = if *side == Side::OnlyB {
            &mut lookups_b
        } else {
            &mut lookups_a
        };
        let row = lookups
            .principal_row(key)?
            .with_field("in", Value::String(side.name().to_owned()));
        sink.row(&row)?;
    }
    sink.finish()?;
    if std::io::stderr().is_terminal() && args.output.is_none() {
        eprintln!("both {both}, only in A {only_a}, only in B {only_b}");
    }
    Ok(ExitCode::SUCCESS)
}
