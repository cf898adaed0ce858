//! Compaction: the latest syncs of several files merged into one sync, by baton's rules
//! (`../shared/spec/format-v1-sqlite.md` §7.3), on any engines.
//!
//! - Each input contributes its latest finished `full`, `resources_only` or `partial` sync
//!   ([`compactable_sync`]); diff syncs are never compacted.
//! - Inputs are given oldest first and processed newest first. An object (matched by
//!   baton's external id) is taken from the first input that has it, and replaced by an
//!   older input's only when that one's `discovered_at` is later — whole rows, as baton's
//!   `INSERT OR REPLACE`, `discovered_at` and expansion columns included.
//! - The result's sync type is the union (`full` if any input is full, else
//!   `resources_only` if any is, else `partial`); it ends at the latest of its own
//!   creation and the inputs' ends. Unless it is `partial` or expansion is switched off,
//!   grants are then expanded, as baton's compactor does. Assets are not merged (baton
//!   merges only the four object tables).
//!
//! Memory: per kind, 40 bytes per distinct object (a 128-bit id hash and its
//! `discovered_at`), plus the resource types, resources and entitlements that an older
//! input replaces. Grants stream once per input; the rare grant an older input replaces is
//! held until the end, then rewritten.

use chrono::NaiveDateTime;
use xxhash_rust::xxh64::xxh64;

use crate::convert::GrantCopier;
use crate::diff::{
    IdMap, Kind, Object, PairWriter, Side, entitlement_resource_type, id_hash, objects,
    with_objects,
};
use crate::error::{Error, Result};
use crate::expand::{ExpandOptions, ExpandReport, expand};
use crate::model::{GrantRecord, SyncId, SyncRun, SyncType};
use crate::store::{GrantUpsertMode, ObjectCounts, Reader, ReaderExt, Writer};

/// The sync of a file that compaction takes: the latest finished `full`, `resources_only`
/// or `partial` sync (greatest `ended_at`, ties to the greater id), as baton's compactor.
///
/// # Errors
/// Engine errors.
pub fn compactable_sync(store: &dyn Reader) -> Result<Option<SyncRun>> {
    let mut best: Option<SyncRun> = None;
    for run in store.sync_runs()? {
        let Some(ended) = run.ended_at.filter(|_| compactable_type(&run)) else {
            continue;
        };
        let later = best.as_ref().is_none_or(|b| {
            let b_ended = b.ended_at.unwrap_or_default();
            ended > b_ended || (ended == b_ended && run.id > b.id)
        });
        if later {
            best = Some(run);
        }
    }
    Ok(best)
}

/// Whether baton's compactor takes syncs of this run's type (not diff syncs).
fn compactable_type(run: &SyncRun) -> bool {
    matches!(
        run.kind(),
        Some(SyncType::Full | SyncType::ResourcesOnly | SyncType::Partial)
    )
}

/// The union of sync types baton's compactor gives its result.
fn union_type(runs: &[SyncRun]) -> SyncType {
    if runs.iter().any(|r| r.kind() == Some(SyncType::Full)) {
        SyncType::Full
    } else if runs
        .iter()
        .any(|r| r.kind() == Some(SyncType::ResourcesOnly))
    {
        SyncType::ResourcesOnly
    } else {
        SyncType::Partial
    }
}

/// Options of [`compact`].
#[derive(Clone, Debug)]
pub struct CompactOptions {
    /// Expand the result's grants (skipped anyway for a `partial` result).
    pub expand: bool,
    /// Expand incrementally when that gives the full expansion's answer: the oldest input
    /// is an expanded full sync (`supports_diff`), and the newer inputs only add or rewrite
    /// grants without changing or removing an edge of the base. Then only the destinations
    /// the changed entitlements reach are evaluated; otherwise a full expansion runs and
    /// [`CompactReport::mode`] says why.
    pub incremental: bool,
    /// How to expand.
    pub expand_options: ExpandOptions,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            expand: true,
            incremental: false,
            expand_options: ExpandOptions::default(),
        }
    }
}

/// How the result was expanded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ExpansionMode {
    /// Not expanded (switched off, or a `partial` result).
    #[default]
    Skipped,
    /// Every destination evaluated.
    Full,
    /// Only what the changed entitlements reach.
    Incremental {
        /// Entitlements whose grants the newer inputs added or changed.
        changed_entitlements: u64,
    },
    /// Incremental was asked for, and a full expansion ran instead, for this reason.
    FullFallback(String),
}

/// What [`compact`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactReport {
    /// The compacted sync.
    pub sync: SyncId,
    /// Its type.
    pub sync_type: String,
    /// Objects in the result, per kind (before expansion).
    pub objects: Vec<(Kind, u64)>,
    /// Objects an older input replaced because its `discovered_at` was later.
    pub replaced: u64,
    /// The expansion, when one ran.
    pub expansion: Option<ExpandReport>,
    /// How it ran.
    pub mode: ExpansionMode,
}

/// The winning version of each object id, as far as the inputs read so far say.
struct Winners {
    seen: IdMap<NaiveDateTime>,
}

impl Winners {
    fn new() -> Self {
        Winners {
            seen: IdMap::default(),
        }
    }

    /// Whether `object` is taken: new, or later than the version taken so far.
    fn offer(&mut self, hash: u128, discovered_at: NaiveDateTime) -> Offer {
        match self.seen.get_mut(&hash) {
            None => {
                self.seen.insert(hash, discovered_at);
                Offer::New
            }
            Some(at) if discovered_at > *at => {
                *at = discovered_at;
                Offer::Later
            }
            Some(_) => Offer::Kept,
        }
    }
}

enum Offer {
    New,
    Later,
    Kept,
}

/// Merges the syncs `inputs` name (oldest first) into a new sync of `out`, then expands it
/// (see the module docs).
///
/// # Errors
/// [`Error::InvalidArgument`] for no inputs, a read-only `out`, or an input sync that is not
/// a finished `full`, `resources_only` or `partial` sync; store and expansion errors.
pub fn compact(
    inputs: &[Side<'_>],
    out: &dyn Writer,
    opts: &CompactOptions,
) -> Result<CompactReport> {
    if inputs.is_empty() {
        return Err(Error::InvalidArgument(
            "compaction needs at least one input".into(),
        ));
    }
    if out.metadata().read_only {
        return Err(Error::InvalidArgument(
            "the compaction's output store is read-only".into(),
        ));
    }
    let mut runs = Vec::with_capacity(inputs.len());
    for side in inputs {
        let run = side.store.require_sync_run(side.sync)?;
        if !compactable_type(&run) || run.ended_at.is_none() {
            return Err(Error::InvalidArgument(format!(
                "sync {} is a{} {} sync; only finished full, resources_only and partial syncs are compacted",
                run.id,
                if run.ended_at.is_none() {
                    "n unfinished"
                } else {
                    ""
                },
                run.sync_type
            )));
        }
        runs.push(run);
    }
    let sync_type = union_type(&runs);
    let sync = SyncId::generate();
    let mut run = SyncRun {
        supports_diff: true,
        ..SyncRun::open(sync.clone(), sync_type)
    };
    let created = run.started_at;
    out.put_sync_run(&run)?;
    let mut report = CompactReport {
        sync: sync.clone(),
        sync_type: run.sync_type.clone(),
        objects: Vec::new(),
        replaced: 0,
        expansion: None,
        mode: ExpansionMode::Skipped,
    };
    let mut changes = Changes {
        tracking: opts.incremental && opts.expand,
        ..Changes::default()
    };
    let mut counts = ObjectCounts::default();
    for kind in Kind::ALL {
        let (written, replaced) = if kind == Kind::Grant {
            merge_grants(inputs, out, &sync, &mut changes, &mut counts)?
        } else {
            merge_objects(inputs, kind, out, &sync, &mut counts)?
        };
        report.objects.push((kind, written));
        report.replaced += replaced;
    }
    let latest_input_end = runs.iter().filter_map(|r| r.ended_at).max();
    run.ended_at = Some(latest_input_end.map_or(created, |e| e.max(created)));
    // Counted while merging, so no scan of the result; a row replaced by an older
    // input's may count under another type, so then the rows are counted.
    let stats = if report.replaced == 0 {
        crate::sync::stats::stats_of_counts(&counts, &run)
    } else {
        crate::sync::compute_stats(out, &run)?
    };
    run.stats = Some(stats.to_json());
    out.put_sync_run(&run)?;
    if opts.expand && sync_type != SyncType::Partial {
        let mut expand_options = opts.expand_options.clone();
        report.mode = ExpansionMode::Full;
        if opts.incremental {
            let base = &runs[0];
            let decline = if base.kind() != Some(SyncType::Full) || !base.supports_diff {
                Some(format!(
                    "the oldest input's sync {} is not an expanded full sync (supports_diff)",
                    base.id
                ))
            } else {
                changes.edge_changed.clone()
            };
            report.mode = match decline {
                Some(reason) => ExpansionMode::FullFallback(reason),
                None => {
                    let seeds = changes.entitlements();
                    let n = seeds.len() as u64;
                    expand_options.only_affected_by = Some(seeds);
                    ExpansionMode::Incremental {
                        changed_entitlements: n,
                    }
                }
            };
        }
        // Expansion adds its grants to the stored stats.
        report.expansion = Some(expand(out, &sync, &expand_options)?);
    }
    Ok(report)
}

/// One kind other than grants: the winner of each id is decided over every input first
/// (these kinds are small next to grants), then each input writes its winners, so every
/// object is written once, whole.
fn merge_objects(
    inputs: &[Side<'_>],
    kind: Kind,
    out: &dyn Writer,
    sync: &SyncId,
    counts: &mut ObjectCounts,
) -> Result<(u64, u64)> {
    // id hash → (input index, discovered_at) of the winner.
    let mut winners: IdMap<(usize, NaiveDateTime)> = IdMap::default();
    let mut replaced = 0u64;
    for (i, side) in inputs.iter().enumerate().rev() {
        for o in objects(*side, kind) {
            let o = o?;
            let (hash, at) = (id_hash(&o.external_id()), o.discovered_at());
            match winners.get_mut(&hash) {
                None => {
                    winners.insert(hash, (i, at));
                }
                Some(w) if at > w.1 => {
                    *w = (i, at);
                    replaced += 1;
                }
                Some(_) => {}
            }
        }
    }
    let mut writer = PairWriter::new(out, sync.clone());
    let mut written = 0u64;
    for (i, side) in inputs.iter().enumerate().rev() {
        for o in objects(*side, kind) {
            let o = o?;
            let (hash, at) = (id_hash(&o.external_id()), o.discovered_at());
            // The first object of the winning input with the winning time (an input holds
            // an id once per sync, so this is the one).
            if winners.get(&hash) == Some(&(i, at)) {
                winners.remove(&hash);
                count(counts, &o);
                writer.push(&o)?;
                written += 1;
            }
        }
    }
    writer.flush()?;
    Ok((written, replaced))
}

/// A grant of a newer input that is in the result: what incremental expansion compares
/// with the base's version of it.
struct NewerGrant {
    entitlement: String,
    content: u64,
    expansion: Option<u64>,
}

/// What the newer inputs changed relative to the oldest (the base), for incremental
/// expansion.
#[derive(Default)]
struct Changes {
    /// Grants of newer inputs in the result, by id hash, until the base shows them to be
    /// no-ops.
    newer: IdMap<NewerGrant>,
    /// Why the edges of the base did not survive as they were, if they did not.
    edge_changed: Option<String>,
    /// Whether to track at all (incremental expansion was asked for).
    tracking: bool,
}

impl Changes {
    /// Notes one grant of the merge (`base`: it is the oldest input's), as it was offered.
    fn note(&mut self, base: bool, hash: u128, g: &GrantRecord, offer: &Offer) {
        if !self.tracking {
            return;
        }
        if !base {
            if !matches!(offer, Offer::Kept) {
                self.newer.insert(hash, newer_grant(g));
            }
        } else if let Some(newer) = self.newer.get(&hash) {
            let (content, expansion) = (newer.content, newer.expansion);
            compare_with_base(self, hash, content, expansion, g, offer);
        }
    }

    fn entitlements(&self) -> Vec<String> {
        let set: std::collections::BTreeSet<&str> = self
            .newer
            .values()
            .map(|g| g.entitlement.as_str())
            .collect();
        set.into_iter().map(str::to_owned).collect()
    }
}

fn expansion_hash(g: &GrantRecord) -> Option<u64> {
    g.expansion
        .as_ref()
        .map(|e| xxh64(&prost::Message::encode_to_vec(e), 0))
}

fn newer_grant(g: &GrantRecord) -> NewerGrant {
    NewerGrant {
        entitlement: g
            .grant
            .entitlement
            .as_ref()
            .map(|e| e.id.clone())
            .unwrap_or_default(),
        content: xxh64(&crate::codec::encode_grant(&g.grant), 0),
        expansion: expansion_hash(g),
    }
}

/// Grants: one pass per input, newest first; a grant an older input has with a later
/// `discovered_at` is held, and rewritten at the end (deleted, then written whole).
fn merge_grants(
    inputs: &[Side<'_>],
    out: &dyn Writer,
    sync: &SyncId,
    changes: &mut Changes,
    counts: &mut ObjectCounts,
) -> Result<(u64, u64)> {
    let mut winners = Winners::new();
    let mut later: IdMap<GrantRecord> = IdMap::default();
    // Each id is written once here, so the destination's bulk path applies.
    let mut copier = GrantCopier::new(out, sync.clone())?;
    for (i, side) in inputs.iter().enumerate().rev() {
        with_objects(*side, Kind::Grant, |rows| {
            for o in rows {
                let Object::Grant(g) = o? else { continue };
                let hash = id_hash(&g.grant.id);
                let offer = winners.offer(hash, g.discovered_at);
                changes.note(i == 0, hash, &g, &offer);
                match offer {
                    Offer::New => {
                        let rt = entitlement_resource_type(g.grant.entitlement.as_ref());
                        bump(&mut counts.grants_by_type, rt);
                        copier.push(g)?;
                    }
                    Offer::Later => {
                        later.insert(hash, g);
                    }
                    Offer::Kept => {}
                }
            }
            Ok(())
        })?;
    }
    copier.finish()?;
    let written = winners.seen.len() as u64;
    let replaced = later.len() as u64;
    let mut rows: Vec<GrantRecord> = later.into_values().collect();
    rows.sort_by(|a, b| a.grant.id.cmp(&b.grant.id));
    for chunk in rows.chunks(1_000) {
        for g in chunk {
            out.delete_grant(sync, &g.grant.id)?;
        }
        out.put_grants(sync, chunk, GrantUpsertMode::Replace)?;
    }
    Ok((written, replaced))
}

/// The base's version of a grant a newer input also has: a no-op when the result keeps the
/// base's version or the same bytes; an edge change when the expansion differs from one
/// the base had (narrowed, widened or removed: incremental expansion handles only added
/// edges).
fn compare_with_base(
    changes: &mut Changes,
    hash: u128,
    newer_content: u64,
    newer_expansion: Option<u64>,
    base: &GrantRecord,
    offer: &Offer,
) {
    if matches!(offer, Offer::Later) {
        // The base's row wins after all: the result holds the base's version.
        changes.newer.remove(&hash);
        return;
    }
    let base_expansion = expansion_hash(base);
    if base_expansion.is_some()
        && base_expansion != newer_expansion
        && changes.edge_changed.is_none()
    {
        changes.edge_changed = Some(format!(
            "grant {} changes or drops an expansion edge of the base",
            base.grant.id
        ));
    }
    if newer_expansion == base_expansion
        && newer_content == xxh64(&crate::codec::encode_grant(&base.grant), 0)
    {
        changes.newer.remove(&hash);
    }
}

fn bump(map: &mut std::collections::BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

/// Counts one written object as the stats count it.
fn count(counts: &mut ObjectCounts, object: &Object) {
    match object {
        Object::ResourceType(r) => counts.resource_type_ids.push(r.value.id.clone()),
        Object::Resource(_) => bump(&mut counts.resources_by_type, &object.resource_type()),
        Object::Entitlement(_) => bump(&mut counts.entitlements_by_type, &object.resource_type()),
        Object::Grant(_) => bump(&mut counts.grants_by_type, &object.resource_type()),
    }
}
