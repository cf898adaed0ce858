//! `c1z bench FILE [--sync-id ID] [--json]`: the read workloads on any file c1z reads
//! (baton's included), measured the same way: open, count, stream every grant, point gets
//! by grant id, listings by entitlement and by principal, stored stats, one principal's
//! access, the holders (with chains) of the largest resource, peak RSS.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use c1z::inspect::choose_sync;
use c1z::prelude::*;
use c1z::{GrantQuery, ResourceKey, SyncId, SyncSelector};

use crate::output;

/// One workload's result.
#[derive(Debug, serde::Serialize)]
struct Measured {
    workload: &'static str,
    /// Operations (rows for streams and listings, calls for gets).
    ops: u64,
    seconds: f64,
    ops_per_second: f64,
    /// Per-call latency (gets and listings), microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    p50_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p99_us: Option<f64>,
}

fn measured(
    workload: &'static str,
    ops: u64,
    total: Duration,
    mut calls: Vec<Duration>,
) -> Measured {
    calls.sort_unstable();
    let pct = |p: f64| {
        (!calls.is_empty()).then(|| {
            let i = ((calls.len() - 1) as f64 * p).round() as usize;
            calls[i].as_secs_f64() * 1e6
        })
    };
    Measured {
        workload,
        ops,
        seconds: total.as_secs_f64(),
        ops_per_second: ops as f64 / total.as_secs_f64().max(1e-9),
        p50_us: pct(0.5),
        p99_us: pct(0.99),
    }
}

/// Peak resident memory of this process so far (Linux), bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// What the who-can-access workload read, for the person running the bench.
fn eprintln_note(message: &str) {
    crate::progress::note(format_args!("{message}"));
}

/// Every `step`-th item, at most `n`.
fn sample<T: Clone>(items: &[T], n: usize) -> Vec<T> {
    let step = (items.len() / n.max(1)).max(1);
    items.iter().step_by(step).take(n).cloned().collect()
}

pub(crate) fn run(file: &Path, sync_id: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let mut results = Vec::new();
    let start = Instant::now();
    let c1 = c1z::C1zFile::open_read_only(file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    results.push(measured(
        "open (decompress + open)",
        1,
        start.elapsed(),
        Vec::new(),
    ));
    let store = c1.store();
    let chosen = choose_sync(store, sync_id.map(SyncId::from).as_ref())?;
    let sync = SyncSelector::Id(chosen.run.id.clone());

    let t = Instant::now();
    let counts = store.count_objects(&chosen.run.id)?;
    let grants: u64 = counts.grants_by_type.values().sum();
    results.push(measured(
        "count objects (stats)",
        1,
        t.elapsed(),
        Vec::new(),
    ));
    let t = Instant::now();
    c1z::inspect::sync_stats(store, &chosen.run, false)?;
    results.push(measured("stats (stored)", 1, t.elapsed(), Vec::new()));

    // Stream every grant, decoded; keep the identities the later workloads sample from.
    let query = GrantQuery {
        sync: sync.clone(),
        ..Default::default()
    };
    let (mut ids, mut entitlements, mut principals) = (Vec::new(), Vec::new(), Vec::new());
    // Sampled grants per entitlement resource: the largest is the who-can-access target.
    let mut by_resource: std::collections::HashMap<ResourceKey, u64> = Default::default();
    let t = Instant::now();
    let mut n = 0u64;
    for g in store.stream_grants(query) {
        let g = g?;
        n += 1;
        if n % 97 == 1 {
            ids.push(g.grant.id.clone());
            if let Some(e) = &g.grant.entitlement {
                entitlements.push(e.id.clone());
                if let Some(r) = e.resource.as_ref().and_then(|r| r.id.as_ref()) {
                    *by_resource.entry(ResourceKey::of(r)).or_default() += 1;
                }
            }
            if let Some(p) = g.grant.principal.as_ref().and_then(|p| p.id.as_ref()) {
                principals.push(ResourceKey::of(p));
            }
        }
    }
    results.push(measured("stream every grant", n, t.elapsed(), Vec::new()));
    debug_assert_eq!(n, grants);

    let gets = sample(&ids, 10_000);
    let mut calls = Vec::with_capacity(gets.len());
    let t = Instant::now();
    for id in &gets {
        let c = Instant::now();
        store.grant(&sync, id)?;
        calls.push(c.elapsed());
    }
    results.push(measured(
        "get grant by id",
        gets.len() as u64,
        t.elapsed(),
        calls,
    ));

    entitlements.sort();
    entitlements.dedup();
    for (workload, lists) in [
        ("list grants by entitlement", 0),
        ("list grants by principal", 1),
    ] {
        let mut calls = Vec::new();
        let mut rows = 0u64;
        let t = Instant::now();
        let targets: Vec<GrantQuery> = if lists == 0 {
            sample(&entitlements, 200)
                .into_iter()
                .map(|e| GrantQuery {
                    sync: sync.clone(),
                    entitlement_id: Some(e),
                    ..Default::default()
                })
                .collect()
        } else {
            sample(&principals, 1_000)
                .into_iter()
                .map(|p| GrantQuery {
                    sync: sync.clone(),
                    principal: Some(p),
                    ..Default::default()
                })
                .collect()
        };
        for q in targets {
            let c = Instant::now();
            for g in store.stream_grants(q) {
                g?;
                rows += 1;
            }
            calls.push(c.elapsed());
        }
        results.push(measured(workload, rows, t.elapsed(), calls));
    }

    let mut calls = Vec::new();
    let mut rows = 0u64;
    let t = Instant::now();
    for p in sample(&principals, 200) {
        let c = Instant::now();
        for r in c1z::access::principal_access(store, &sync, &p)? {
            rows += r.grants.len() as u64;
        }
        calls.push(c.elapsed());
    }
    results.push(measured("access (one principal)", rows, t.elapsed(), calls));

    if let Some((resource, _)) = by_resource
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
    {
        let t = Instant::now();
        let mut holders = 0u64;
        let mut links = 0u64;
        for h in c1z::access::who_can_access(store, &sync, &resource, None) {
            holders += 1;
            links += h?.chain.len() as u64;
        }
        eprintln_note(&format!(
            "who-can-access {resource}: {holders} holders, {links} chain links"
        ));
        results.push(measured(
            "who-can-access (largest)",
            holders,
            t.elapsed(),
            Vec::new(),
        ));
    }

    let rss = peak_rss();
    if json {
        output::json(&serde_json::json!({
            "file": file,
            "engine": store.engine(),
            "sync_id": chosen.run.id.to_string(),
            "grants": grants,
            "workloads": results,
            "peak_rss_bytes": rss,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} ({}, sync {}, {grants} grants)",
        file.display(),
        store.engine(),
        chosen.run.id
    );
    println!(
        "{:<28} {:>10} {:>9} {:>12} {:>10} {:>10}",
        "workload", "ops", "seconds", "ops/s", "p50 µs", "p99 µs"
    );
    for r in &results {
        let us = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        println!(
            "{:<28} {:>10} {:>9.3} {:>12.0} {:>10} {:>10}",
            r.workload,
            r.ops,
            r.seconds,
            r.ops_per_second,
            us(r.p50_us),
            us(r.p99_us)
        );
    }
    if let Some(rss) = rss {
        println!("peak RSS {:.1} MB", rss as f64 / 1e6);
    }
    Ok(ExitCode::SUCCESS)
}
