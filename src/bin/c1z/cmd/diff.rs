//! `c1z diff OLD NEW [--old-sync ID] [--new-sync ID] [--details] [-o table|json|ndjson|DIFF.c1z]`:
//! what changed between two syncs (of one file or two, any engines), summary first.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use c1z::diff::{Change, DiffSummary, Difference, Kind, Object, Side, diff, write_diff_pair};
use c1z::engine::EngineKind;
use c1z::{OpenOptions, ResourceKey, SyncSelector};
use serde_json::{Value, json};

use super::list::{self, Target};

/// What `c1z diff` is asked.
pub(crate) struct DiffArgs<'a> {
    pub(crate) old: &'a Path,
    pub(crate) new: &'a Path,
    pub(crate) old_sync: Option<&'a str>,
    pub(crate) new_sync: Option<&'a str>,
    pub(crate) details: bool,
    /// `table`, `json`, `ndjson`, or a `.c1z` file to write the diff pair to.
    pub(crate) output: Option<&'a str>,
    pub(crate) engine: &'a str,
    pub(crate) top: usize,
}

fn side<'a>(t: &'a Target, path: &Path) -> anyhow::Result<Side<'a>> {
    match &t.sync {
        Some(sync) => Ok(Side {
            store: t.store(),
            sync,
        }),
        None => bail!(
            "{} has no sync to compare; `c1z syncs {}` lists them",
            path.display(),
            path.display()
        ),
    }
}

pub(crate) fn run(a: &DiffArgs<'_>) -> anyhow::Result<ExitCode> {
    let old_t = list::open(a.old, a.old_sync)?;
    let new_t = list::open(a.new, a.new_sync)?;
    let (old, new) = (side(&old_t, a.old)?, side(&new_t, a.new)?);
    let format = a.output.unwrap_or("table");
    match format {
        "table" => table(a, old, new),
        "json" | "ndjson" => streamed(a, old, new, format == "ndjson"),
        path => write_pair(a, old, new, Path::new(path)),
    }
}

/// The top-level fields (protobuf JSON names) whose values differ, plus `expansion` for
/// grants whose expansion columns differ.
fn changed_fields(old: &Object, new: &Object) -> anyhow::Result<Vec<String>> {
    let (a, b) = (object_json(old)?, object_json(new)?);
    let empty = serde_json::Map::new();
    let (a, b) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut fields: Vec<String> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    if let (Object::Grant(x), Object::Grant(y)) = (old, new)
        && x.expansion != y.expansion
    {
        fields.push("expansion".to_owned());
    }
    Ok(fields)
}

fn object_json(o: &Object) -> anyhow::Result<Value> {
    Ok(match o {
        Object::ResourceType(r) => {
            c1z::json::message_json("c1.connector.v2.ResourceType", &r.value)?
        }
        Object::Resource(r) => c1z::json::message_json("c1.connector.v2.Resource", &r.value)?,
        Object::Entitlement(e) => c1z::json::message_json("c1.connector.v2.Entitlement", &e.value)?,
        Object::Grant(g) => c1z::json::message_json("c1.connector.v2.Grant", &g.grant)?,
    })
}

/// The old side's object with the id of `new` (for the fields of a change).
fn old_object(old: Side<'_>, new: &Object) -> anyhow::Result<Option<Object>> {
    let sync = SyncSelector::Id(old.sync.clone());
    Ok(match new {
        Object::ResourceType(r) => old
            .store
            .resource_type(&sync, &r.value.id)?
            .map(Object::ResourceType),
        Object::Resource(r) => match r.value.id.as_ref() {
            Some(id) => old
                .store
                .resource(&sync, &ResourceKey::of(id))?
                .map(Object::Resource),
            None => None,
        },
        Object::Entitlement(e) => old
            .store
            .entitlement(&sync, &e.value.id)?
            .map(Object::Entitlement),
        Object::Grant(g) => old.store.grant(&sync, &g.grant.id)?.map(Object::Grant),
    })
}

/// One difference as a JSON row: change, kind, id, resource type, and (with details) the
/// changed fields or the object.
fn difference_row(old: Side<'_>, d: &Difference, details: bool) -> anyhow::Result<Value> {
    let mut row = json!({
        "change": d.change.name(),
        "kind": d.object.kind().name(),
        "id": d.object.external_id(),
        "resourceType": d.object.resource_type(),
    });
    if let Some(p) = d.object.principal() {
        row["principal"] = Value::String(p.to_string());
    }
    if details {
        if d.change == Change::Changed
            && let Some(before) = old_object(old, &d.object)?
        {
            row["fields"] = json!(changed_fields(&before, &d.object)?);
        }
        row["object"] = object_json(&d.object)?;
    }
    Ok(row)
}

fn summary_json(a: &DiffArgs<'_>, old: Side<'_>, new: Side<'_>, s: &DiffSummary) -> Value {
    let (gained, lost) = s.top_principals(a.top);
    let list = |v: Vec<(ResourceKey, u64)>| {
        v.into_iter()
            .map(|(k, n)| json!({"principal": k.to_string(), "grants": n}))
            .collect::<Vec<_>>()
    };
    json!({
        "old": {"file": a.old, "sync": old.sync.as_str()},
        "new": {"file": a.new, "sync": new.sync.as_str()},
        "kinds": s.kinds.iter().map(|(k, c)| (k.name().to_owned(), json!(c))).collect::<serde_json::Map<_, _>>(),
        "gained": list(gained),
        "lost": list(lost),
    })
}

/// `-o json` (`{"changes":[…],"summary":{…}}`, written as it goes) and `-o ndjson` (one
/// change per line, then nothing: the summary is `-o json`'s).
fn streamed(
    a: &DiffArgs<'_>,
    old: Side<'_>,
    new: Side<'_>,
    ndjson: bool,
) -> anyhow::Result<ExitCode> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !ndjson {
        out.write_all(b"{\"changes\":[")?;
    }
    let mut first = true;
    let mut failed: Option<anyhow::Error> = None;
    let summary = diff(old, new, |d| {
        if !ndjson && !a.details {
            return Ok(());
        }
        let mut write = || -> anyhow::Result<()> {
            let row = difference_row(old, d, a.details)?;
            if ndjson {
                serde_json::to_writer(&mut out, &row)?;
                out.write_all(b"\n")?;
            } else {
                if !first {
                    out.write_all(b",")?;
                }
                out.write_all(b"\n  ")?;
                serde_json::to_writer(&mut out, &row)?;
            }
            first = false;
            Ok(())
        };
        write().map_err(|e| {
            let msg = e.to_string();
            failed = Some(e);
            c1z::Error::InvalidArgument(msg)
        })
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let summary = summary?;
    if !ndjson {
        out.write_all(if first {
            b"],\"summary\":"
        } else {
            b"\n],\"summary\":"
        })?;
        serde_json::to_writer_pretty(&mut out, &summary_json(a, old, new, &summary))?;
        out.write_all(b"}\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn print_summary(
    out: &mut impl Write,
    a: &DiffArgs<'_>,
    old: Side<'_>,
    new: Side<'_>,
    s: &DiffSummary,
) -> std::io::Result<()> {
    writeln!(out, "old  {} (sync {})", a.old.display(), old.sync)?;
    writeln!(out, "new  {} (sync {})", a.new.display(), new.sync)?;
    if s.is_empty() {
        return writeln!(out, "no differences");
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<24} {:>10} {:>10} {:>10}",
        "", "added", "changed", "removed"
    )?;
    for kind in Kind::ALL {
        let Some(c) = s.kinds.get(&kind) else {
            continue;
        };
        let label = match kind {
            Kind::ResourceType => "resource types",
            Kind::Resource => "resources",
            Kind::Entitlement => "entitlements",
            Kind::Grant => "grants",
        };
        writeln!(
            out,
            "{label:<24} {:>10} {:>10} {:>10}",
            c.added, c.changed, c.removed
        )?;
        for (rt, t) in &c.by_resource_type {
            writeln!(
                out,
                "  {rt:<22} {:>10} {:>10} {:>10}",
                t.added, t.changed, t.removed
            )?;
        }
    }
    let (gained, lost) = s.top_principals(a.top);
    for (label, list, sign) in [
        ("gained the most access", gained, '+'),
        ("lost the most access", lost, '-'),
    ] {
        if list.is_empty() {
            continue;
        }
        writeln!(out)?;
        writeln!(out, "principals who {label}:")?;
        for (p, n) in list {
            writeln!(out, "  {:<40} {sign}{n} grants", p.to_string())?;
        }
    }
    Ok(())
}

/// The summary first; with `--details`, a second pass lists each difference.
fn table(a: &DiffArgs<'_>, old: Side<'_>, new: Side<'_>) -> anyhow::Result<ExitCode> {
    let summary = diff(old, new, |_| Ok(()))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    print_summary(&mut out, a, old, new, &summary)?;
    if a.details && !summary.is_empty() {
        writeln!(out)?;
        let mut failed: Option<anyhow::Error> = None;
        let walked = diff(old, new, |d| {
            let mut line = || -> anyhow::Result<()> {
                write!(
                    out,
                    "{:<8} {:<14} {}",
                    d.change.name(),
                    d.object.kind().name(),
                    d.object.external_id()
                )?;
                if d.change == Change::Changed
                    && let Some(before) = old_object(old, &d.object)?
                {
                    write!(
                        out,
                        "  ({})",
                        changed_fields(&before, &d.object)?.join(", ")
                    )?;
                }
                writeln!(out)?;
                Ok(())
            };
            line().map_err(|e| {
                let msg = e.to_string();
                failed = Some(e);
                c1z::Error::InvalidArgument(msg)
            })
        });
        if let Some(e) = failed {
            return Err(e);
        }
        walked?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `-o DIFF.c1z`: baton's pair of syncs in a new file, then the summary.
fn write_pair(
    a: &DiffArgs<'_>,
    old: Side<'_>,
    new: Side<'_>,
    path: &Path,
) -> anyhow::Result<ExitCode> {
    if path.exists() {
        bail!(
            "{} already exists; refusing to overwrite it",
            path.display()
        );
    }
    let engine: EngineKind = a.engine.parse()?;
    let file = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let pair = match write_diff_pair(old, new, file.store()) {
        Ok(pair) => pair,
        Err(e) => {
            file.discard();
            return Err(e.into());
        }
    };
    file.close()
        .with_context(|| format!("cannot save {}", path.display()))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    print_summary(&mut out, a, old, new, &pair.summary)?;
    writeln!(out)?;
    writeln!(
        out,
        "wrote {}: partial_upserts {}, partial_deletions {} (parent {})",
        path.display(),
        pair.upserts,
        pair.deletions,
        old.sync
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
