//! Grant expansion with baton's semantics, over any store.
//!
//! 1. **Graph.** Every grant of the sync with `needs_expansion` defines edges
//!    `S → D` (S from its `GrantExpandable`, D its own entitlement). A source entitlement
//!    must be on the grant's principal (else a hard error); a missing or blank one is
//!    skipped and counted. Parallel edges fold; cycles collapse ([`graph`]).
//! 2. **Evaluation**, in topological (Kahn layer) order, so every parent is final before
//!    its children: for each destination D of a node, each principal P holding a parent
//!    entitlement S through a qualifying grant (type filter; for shallow edges, direct on S:
//!    no sources or a source key S) contributes `S → is_direct`. A principal without a grant
//!    on D gets a new grant `D:type:id` carrying the contributions and `GrantImmutable`;
//!    existing grants of P on D merge the contributions (adding the self-source D first
//!    when their sources were empty) and are rewritten only if something changed.
//! 3. **Memory.** The graph is small and held whole; grants are streamed per entitlement.
//!    A source's qualifying members are loaded once and kept only while destinations that
//!    read them remain; writes go out in batches, and each layer is flushed before the
//!    next reads it.
//!
//! Output is deterministic and expanding twice changes nothing. There is no depth limit.

pub mod graph;
pub mod rollback;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec;
use crate::error::{Error, Result};
use crate::model::{GrantRecord, ResourceKey, SyncId, wall};
use crate::pb::c1::connector::v2::{
    Entitlement, Grant, GrantSources, ResourceId, grant_sources::GrantSource,
};
use crate::store::{
    DerivedEntitlement, DerivedGrant, EntitlementKey, GrantBulkLoad, GrantQuery, GrantUpsertMode,
    ReaderExt, SyncSelector, Writer,
};
use crate::sync::SyncStats;
use graph::{EdgeSpec, Graph, NodeId};
use prost::Message;

/// Progress of a running expansion, reported after each layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Layers evaluated so far.
    pub layers_done: u64,
    /// All layers.
    pub layers: u64,
    /// Destinations evaluated so far.
    pub destinations_done: u64,
    /// All destinations.
    pub destinations: u64,
    /// Derived grants written so far.
    pub grants_added: u64,
}

/// A progress callback.
pub type ProgressFn = std::sync::Arc<dyn Fn(&Progress) + Send + Sync>;

/// Tuning knobs.
#[derive(Clone)]
pub struct ExpandOptions {
    /// Grants written per store call.
    pub write_batch: usize,
    /// Most new members (32 bytes each) kept in memory for destinations a later layer
    /// reads, which then need no publish from the store (see
    /// [`GrantBulkLoad::publish`]); 0 reads every one back from the store.
    pub held_members: usize,
    /// Called after every layer.
    pub progress: Option<ProgressFn>,
    /// Incremental expansion: evaluate only the destinations these entitlements' changes
    /// can reach (their own nodes and everything downstream), leaving the rest as stored.
    /// Equal to a full expansion when the sync was fully expanded before its grants on
    /// these entitlements were added or rewritten and nothing was removed (no grant, no
    /// edge): what compaction with [`crate::compact::CompactOptions::incremental`]
    /// guarantees before it asks for this.
    pub only_affected_by: Option<Vec<String>>,
}

impl std::fmt::Debug for ExpandOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpandOptions")
            .field("write_batch", &self.write_batch)
            .field("held_members", &self.held_members)
            .field("only_affected_by", &self.only_affected_by)
            .finish_non_exhaustive()
    }
}

impl Default for ExpandOptions {
    fn default() -> Self {
        ExpandOptions {
            write_batch: 10_000,
            held_members: 1 << 19,
            progress: None,
            only_affected_by: None,
        }
    }
}

/// What an expansion did, and where the time went.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExpandReport {
    /// Edge-defining grants read.
    pub edge_grants: u64,
    /// Edges after folding (before cycle collapse).
    pub edges: u64,
    /// Nodes before cycle collapse.
    pub nodes: u64,
    /// Cycles collapsed.
    pub cycles: u64,
    /// Kahn layers evaluated.
    pub layers: u64,
    /// Incremental expansion: the nodes evaluated (the rest were left as stored).
    pub incremental_nodes: Option<u64>,
    /// Edges skipped because their source entitlement does not exist (or is blank).
    pub dropped_missing_source: u64,
    /// Destinations skipped because their entitlement does not exist.
    pub dropped_missing_destination: u64,
    /// Source grants skipped because they have no principal.
    pub skipped_no_principal: u64,
    /// New (derived) grants written.
    pub grants_added: u64,
    /// New grants per resource type of their entitlement's resource (as the stats count).
    pub grants_added_by_resource_type: std::collections::BTreeMap<String, u64>,
    /// Existing grants whose sources changed.
    pub grants_updated: u64,
    /// Time loading the graph, in milliseconds.
    pub graph_ms: u64,
    /// Time evaluating (reads and merging), in milliseconds.
    pub evaluate_ms: u64,
    /// Time in store writes, in milliseconds.
    pub write_ms: u64,
    /// Time completing the indexes deferred during the writes
    /// ([`GrantBulkLoad::finish`]), in milliseconds.
    pub index_ms: u64,
}

/// A principal holding a source entitlement.
struct Member {
    key: Arc<ResourceKey>,
    direct: bool,
    /// The principal as the source grant holds it, encoded once for every grant derived
    /// from it.
    principal: Arc<[u8]>,
}

fn principal_key(g: &Grant) -> Option<ResourceKey> {
    Some(ResourceKey::of(g.principal.as_ref()?.id.as_ref()?))
}

/// What a source grant contributes to membership, decoded from its stored bytes (the
/// other fields are skipped undecoded). A member is direct on the source when the grant
/// has no sources at all or a source key equal to it (the key's presence counts, not its
/// value).
#[derive(Debug, Default)]
struct MemberView {
    /// `Grant.principal`, as encoded; `None` when absent (a slim grant).
    principal: Option<Vec<u8>>,
    /// The principal occurred more than once (legal, never written by Go). Decoders merge
    /// such occurrences, so `principal` (the last) is not the principal a decode sees.
    principal_repeated: bool,
    /// `Grant.sources`.
    sources: Option<GrantSources>,
}

impl prost::Message for MemberView {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        if let Some(p) = &self.principal {
            prost::encoding::bytes::encode(2, p, buf);
        }
        if let Some(s) = &self.sources {
            prost::encoding::message::encode(5, s, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl prost::bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> std::result::Result<(), prost::DecodeError> {
        match tag {
            2 => {
                self.principal_repeated |= self.principal.is_some();
                let p = self.principal.get_or_insert_with(Vec::new);
                p.clear();
                prost::encoding::bytes::merge(wire_type, p, buf, ctx)
            }
            5 => prost::encoding::message::merge(
                wire_type,
                self.sources.get_or_insert_with(GrantSources::default),
                buf,
                ctx,
            ),
            _ => prost::encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        self.principal
            .as_ref()
            .map_or(0, |p| prost::encoding::bytes::encoded_len(2, p))
            + self
                .sources
                .as_ref()
                .map_or(0, |s| prost::encoding::message::encoded_len(5, s))
    }

    fn clear(&mut self) {
        *self = MemberView::default();
    }
}

/// `Resource.id` of a principal.
#[derive(Clone, PartialEq, prost::Message)]
struct PrincipalIdView {
    #[prost(message, optional, tag = "1")]
    id: Option<ResourceId>,
}

/// The sources one principal receives: sorted by entitlement id, each direct if any of
/// its flows is.
fn merged_sources<'a>(flows: &[(&Member, &'a str)]) -> Vec<(&'a str, bool)> {
    let mut v: Vec<(&str, bool)> = flows.iter().map(|(m, s)| (*s, m.direct)).collect();
    v.sort_unstable_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
    v.dedup_by(|later, first| later.0 == first.0);
    v
}

struct Expander<'s, W: Writer + ?Sized> {
    store: &'s W,
    /// Every write of the expansion goes through it; reads of what it wrote publish first.
    bulk: GrantBulkLoad<'s>,
    sync: SyncId,
    opts: ExpandOptions,
    report: ExpandReport,
    entitlements: HashMap<String, Option<Arc<Entitlement>>>,
    members: HashMap<String, Arc<Vec<Member>>>,
    uses: HashMap<String, usize>,
    pending_updates: Vec<GrantRecord>,
    pending_new: Vec<DerivedGrant>,
    /// Entitlements with derived grants the store may not show yet (see
    /// [`GrantBulkLoad::publish`]): published only before one of them is read, so
    /// a layer nobody reads next stays in the store's buffers.
    unpublished: std::collections::HashSet<String>,
    /// New members of entitlements written this expansion and read by a later layer, in
    /// principal order: a read merges them with the store's rows, so the store need not
    /// publish them first (see [`Expander::members`]).
    derived_members: HashMap<String, Vec<Member>>,
    /// Members held in `derived_members`, bounded by [`ExpandOptions::held_members`].
    derived_member_count: usize,
    write_time: Duration,
}

/// Merges `store` members (in principal order) with `derived` ones (in principal order,
/// one per principal), dropping derived members the store already shows. `None` if the
/// store's rows are not in principal order and miss some derived member (a store that
/// shows every row, as SQLite does, needs no order).
fn merge_members(store: Vec<Member>, derived: Vec<Member>) -> Option<Vec<Member>> {
    if !store.windows(2).all(|w| w[0].key <= w[1].key) {
        let shown: std::collections::HashSet<&ResourceKey> =
            store.iter().map(|m| &*m.key).collect();
        return derived
            .iter()
            .all(|d| shown.contains(&*d.key))
            .then_some(store);
    }
    let mut out = Vec::with_capacity(store.len() + derived.len());
    let mut derived = derived.into_iter().peekable();
    for m in store {
        while let Some(d) = derived.next_if(|d| d.key <= m.key) {
            if d.key < m.key {
                out.push(d);
            }
        }
        out.push(m);
    }
    out.extend(derived);
    Some(out)
}

impl<W: Writer + ?Sized> Expander<'_, W> {
    fn entitlement(&mut self, id: &str) -> Result<Option<Arc<Entitlement>>> {
        if let Some(e) = self.entitlements.get(id) {
            return Ok(e.clone());
        }
        let e = self
            .store
            .entitlement(&SyncSelector::from(&self.sync), id)?
            .map(|r| Arc::new(r.value));
        self.entitlements.insert(id.to_owned(), e.clone());
        Ok(e)
    }

    fn grants_of(&self, entitlement: &str) -> crate::store::BoxIter<'_, GrantRecord> {
        self.store.stream_grants(GrantQuery {
            sync: SyncSelector::Id(self.sync.clone()),
            entitlement_id: Some(entitlement.to_owned()),
            ..Default::default()
        })
    }

    fn load_graph(&mut self) -> Result<Graph> {
        let mut graph = Graph::new();
        // Streamed: only the graph is kept, never the edge-defining grants themselves.
        let store = self.store;
        let edge_rows = store.stream_grants(GrantQuery {
            sync: SyncSelector::Id(self.sync.clone()),
            needs_expansion: true,
            ..Default::default()
        });
        for row in edge_rows {
            let row = row?;
            let Some(exp) = &row.expansion else { continue };
            self.report.edge_grants += 1;
            let g = &row.grant;
            let dest = g
                .entitlement
                .as_ref()
                .map(|e| e.id.clone())
                .unwrap_or_default();
            let principal = principal_key(g);
            let spec = EdgeSpec::new(exp.shallow, &exp.resource_type_ids);
            for source in &exp.entitlement_ids {
                if source.trim().is_empty() {
                    self.report.dropped_missing_source += 1;
                    continue;
                }
                let Some(src) = self.entitlement(source)? else {
                    self.report.dropped_missing_source += 1;
                    continue;
                };
                let on = src
                    .resource
                    .as_ref()
                    .and_then(|r| r.id.as_ref())
                    .map(ResourceKey::of);
                if on != principal {
                    return Err(Error::InvalidExpansion {
                        grant_id: g.id.clone(),
                        reason: format!(
                            "source entitlement resource id did not match grant principal id: '{source}' is on {}, the principal is {}",
                            on.map_or_else(|| "no resource".into(), |k| k.external_id()),
                            principal
                                .as_ref()
                                .map_or_else(|| "missing".into(), ResourceKey::external_id),
                        ),
                    });
                }
                graph.add_edge(source, &dest, spec.clone());
            }
        }
        Ok(graph)
    }

    /// The qualifying-member list of a source entitlement, loaded once while in use.
    /// Rows are read as stored and only the principal and sources are decoded.
    fn members(&mut self, source: &str) -> Result<Arc<Vec<Member>>> {
        if let Some(m) = self.members.get(source) {
            return Ok(m.clone());
        }
        let derived = self.derived_members.remove(source);
        let out = match derived {
            None => {
                self.readable(source)?;
                self.read_members(source)?
            }
            Some(derived) => {
                self.derived_member_count -= derived.len();
                let skipped = self.report.skipped_no_principal;
                let stored = self.read_members(source)?;
                match merge_members(stored, derived) {
                    Some(merged) => merged,
                    None => {
                        // Not in principal order: read it all back once published.
                        self.bulk.publish()?;
                        self.unpublished.clear();
                        self.report.skipped_no_principal = skipped;
                        self.read_members(source)?
                    }
                }
            }
        };
        let m = Arc::new(out);
        self.members.insert(source.to_owned(), m.clone());
        Ok(m)
    }

    /// The members of `source` the store shows, in stream order.
    fn read_members(&mut self, source: &str) -> Result<Vec<Member>> {
        let mut out = Vec::new();
        let mut skipped = 0;
        let rows = self.store.stream_stored_grants(GrantQuery {
            sync: SyncSelector::Id(self.sync.clone()),
            entitlement_id: Some(source.to_owned()),
            ..Default::default()
        });
        for row in rows {
            let row = row?;
            let view: MemberView = codec::decode("grant", &row.data)?;
            let principal = if view.principal_repeated {
                // Take the merged principal, as a full decode sees it.
                let grant: Grant = codec::decode("grant", &row.data)?;
                grant.principal.map(|p| p.encode_to_vec())
            } else {
                view.principal
            };
            let (key, principal) = match principal {
                // A slim grant: its principal is the identity-column stub (as hydrated).
                None => {
                    let stub =
                        codec::identity_stub(&row.principal.resource_type, &row.principal.resource);
                    (row.principal, stub.encode_to_vec().into())
                }
                Some(bytes) => {
                    let id: PrincipalIdView = codec::decode("grant principal", &bytes)?;
                    let Some(id) = id.id else {
                        skipped += 1;
                        continue;
                    };
                    (ResourceKey::of(&id), bytes.into())
                }
            };
            out.push(Member {
                key: Arc::new(key),
                direct: view
                    .sources
                    .as_ref()
                    .is_none_or(|s| s.sources.is_empty() || s.sources.contains_key(source)),
                principal,
            });
        }
        self.report.skipped_no_principal += skipped;
        Ok(out)
    }

    fn release(&mut self, source: &str) {
        if let Some(n) = self.uses.get_mut(source) {
            *n -= 1;
            if *n == 0 {
                self.uses.remove(source);
                self.members.remove(source);
            }
        }
    }

    fn flush_if_full(&mut self) -> Result<()> {
        if self.pending_updates.len() + self.pending_new.len() >= self.opts.write_batch {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let start = Instant::now();
        // Updates first: the order in which they were produced.
        if !self.pending_updates.is_empty() {
            self.store.put_grants(
                &self.sync,
                &self.pending_updates,
                GrantUpsertMode::PreserveExpansion,
            )?;
            self.pending_updates.clear();
        }
        if !self.pending_new.is_empty() {
            self.bulk
                .put_derived_grants(&self.sync, &self.pending_new)?;
            let mut last: Option<&Arc<DerivedEntitlement>> = None;
            for r in &self.pending_new {
                if !last.is_some_and(|e| Arc::ptr_eq(e, &r.entitlement)) {
                    let id = &r.entitlement.key.id;
                    if !self.derived_members.contains_key(id) {
                        self.unpublished.insert(id.clone());
                    }
                    last = Some(&r.entitlement);
                }
            }
            self.pending_new.clear();
        }
        self.write_time += start.elapsed();
        Ok(())
    }

    /// Makes the derived grants of `entitlement` readable, if any may be hidden.
    fn readable(&mut self, entitlement: &str) -> Result<()> {
        if self.unpublished.contains(entitlement) {
            let start = Instant::now();
            self.bulk.publish()?;
            self.unpublished.clear();
            self.write_time += start.elapsed();
        }
        Ok(())
    }

    fn expand_destination(
        &mut self,
        dest: &str,
        incoming: &[(Vec<String>, EdgeSpec)],
    ) -> Result<()> {
        let Some(dest_ent) = self.entitlement(dest)? else {
            self.report.dropped_missing_destination += incoming.len() as u64;
            for (sources, _) in incoming {
                for s in sources {
                    self.release(s);
                }
            }
            return Ok(());
        };
        // Each parent's members, loaded once (the Arcs keep them alive here after release).
        let mut inputs: Vec<(&str, &EdgeSpec, Arc<Vec<Member>>)> = Vec::new();
        for (sources, spec) in incoming {
            for source in sources {
                if self.entitlement(source)?.is_some() {
                    inputs.push((source.as_str(), spec, self.members(source)?));
                }
                self.release(source);
            }
        }
        // Every qualifying (principal, parent) flow, grouped by principal. The sort is
        // stable, so a principal's first flow (whose principal object a new grant copies)
        // is the first in edge and stream order.
        let mut flows: Vec<(&Member, &str)> = Vec::new();
        for (source, spec, members) in &inputs {
            for m in members.iter() {
                if spec.admits(&m.key.resource_type) && (m.direct || !spec.shallow) {
                    flows.push((m, source));
                }
            }
        }
        if flows.is_empty() {
            return Ok(());
        }
        flows.sort_by(|a, b| a.0.key.cmp(&b.0.key));
        let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
        for (i, (m, _)) in flows.iter().enumerate() {
            match groups.last_mut() {
                Some(g) if flows[g.start].0.key == m.key => g.end = i + 1,
                _ => groups.push(i..i + 1),
            }
        }
        let group_of =
            |key: &ResourceKey| groups.binary_search_by(|g| flows[g.start].0.key.as_ref().cmp(key));

        // Existing grants of the destination: merge into every row of a contributing
        // principal.
        let mut has_row = vec![false; groups.len()];
        let mut updates = Vec::new();
        self.readable(dest)?;
        for row in self.grants_of(dest) {
            let mut row = row?;
            let Some(key) = principal_key(&row.grant) else {
                continue;
            };
            let Ok(gi) = group_of(&key) else { continue };
            has_row[gi] = true;
            let sources = &mut row
                .grant
                .sources
                .get_or_insert_with(GrantSources::default)
                .sources;
            let mut changed = false;
            if sources.is_empty() {
                sources.insert(dest.to_owned(), GrantSource { is_direct: true });
                changed = true;
            }
            for (s, d) in merged_sources(&flows[groups[gi].clone()]) {
                match sources.get_mut(s) {
                    None => {
                        sources.insert(s.to_owned(), GrantSource { is_direct: d });
                        changed = true;
                    }
                    Some(existing) if d && !existing.is_direct => {
                        existing.is_direct = true;
                        changed = true;
                    }
                    Some(_) => {}
                }
            }
            if changed {
                updates.push(row);
            }
        }
        self.report.grants_updated += updates.len() as u64;
        for row in updates {
            self.pending_updates.push(row);
            self.flush_if_full()?;
        }

        // New grants, in principal order, from parts shared by many grants.
        let target = Arc::new(DerivedEntitlement {
            key: entitlement_key(&dest_ent),
            data: dest_ent.encode_to_vec(),
        });
        let now = wall::now();
        // A destination a later layer reads keeps its new members here, so that read
        // needs no publish (bounded; the rest are published and read back).
        let new_rows = has_row.iter().filter(|&&h| !h).count();
        if new_rows > 0 {
            *self
                .report
                .grants_added_by_resource_type
                .entry(target.key.resource_type_id.clone())
                .or_default() += new_rows as u64;
        }
        let keep = self.uses.get(dest).is_some_and(|&n| n > 0)
            && self.derived_member_count + new_rows <= self.opts.held_members;
        // Marked now (flushes below leave a kept entitlement unpublished), filled after.
        let mut kept = Vec::new();
        if keep {
            self.derived_members.insert(dest.to_owned(), Vec::new());
            self.derived_member_count += new_rows;
            kept.reserve_exact(new_rows);
        }
        for (gi, range) in groups.iter().enumerate() {
            if has_row[gi] {
                continue;
            }
            let group = &flows[range.clone()];
            let member = group[0].0;
            let merged = merged_sources(group);
            if keep {
                kept.push(Member {
                    key: member.key.clone(),
                    // As `members` reads it: direct if a source key is the entitlement.
                    direct: merged.iter().any(|(s, _)| *s == dest),
                    principal: member.principal.clone(),
                });
            }
            let mut sources = Vec::with_capacity(48 * group.len());
            codec::encode_source_entries(&mut sources, merged.into_iter());
            self.report.grants_added += 1;
            self.pending_new.push(DerivedGrant {
                entitlement: target.clone(),
                principal: member.key.clone(),
                principal_data: member.principal.clone(),
                sources,
                discovered_at: now,
            });
            self.flush_if_full()?;
        }
        if keep {
            self.derived_members.insert(dest.to_owned(), kept);
        }
        Ok(())
    }
}

/// Adds the derived grants to the stats stored with the run, so that they describe the
/// sync as it now is (a run without stored stats stays without).
fn refresh_stored_stats<W: Writer + ?Sized>(
    store: &W,
    sync: &SyncId,
    report: &ExpandReport,
) -> Result<()> {
    if report.grants_added == 0 {
        return Ok(());
    }
    let mut run = store.require_sync_run(sync)?;
    let Some(mut stats) = run.stats.as_deref().and_then(SyncStats::from_cached) else {
        return Ok(());
    };
    let add = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    stats.grants = stats.grants.saturating_add(add(report.grants_added));
    for (rt, n) in &report.grants_added_by_resource_type {
        let entry = stats.grants_by_resource_type.entry(rt.clone()).or_default();
        *entry = entry.saturating_add(add(*n));
    }
    run.stats = Some(stats.to_json());
    store.put_sync_run(&run)
}

fn entitlement_key(e: &Entitlement) -> EntitlementKey {
    let (resource_type_id, resource_id) = e
        .resource
        .as_ref()
        .and_then(|r| r.id.as_ref())
        .map(|i| (i.resource_type.clone(), i.resource.clone()))
        .unwrap_or_default();
    EntitlementKey {
        id: e.id.clone(),
        resource_type_id,
        resource_id,
    }
}

/// Expands the grants of sync `sync` in `store`, writing derived grants into the same sync
/// (see the module docs for the semantics).
///
/// # Errors
/// [`Error::InvalidExpansion`] when an edge's source entitlement is not on the grant's
/// principal; [`Error::ReadOnly`]; store errors.
pub fn expand<W: Writer + ?Sized>(
    store: &W,
    sync: &SyncId,
    opts: &ExpandOptions,
) -> Result<ExpandReport> {
    let started = Instant::now();
    let mut run = store.require_sync_run(sync)?;
    if !run.supports_diff {
        // As baton's syncer, which marks the sync when its expansion step starts: the
        // expansion metadata is complete, and diffs, rollback and incremental expansion
        // may rely on it.
        run.supports_diff = true;
        store.put_sync_run(&run)?;
    }
    let mut x = Expander {
        store,
        bulk: store.bulk_grants()?,
        sync: sync.clone(),
        opts: opts.clone(),
        report: ExpandReport::default(),
        entitlements: HashMap::new(),
        members: HashMap::new(),
        uses: HashMap::new(),
        pending_updates: Vec::new(),
        pending_new: Vec::new(),
        unpublished: std::collections::HashSet::new(),
        derived_members: HashMap::new(),
        derived_member_count: 0,
        write_time: Duration::ZERO,
    };
    let mut graph = x.load_graph()?;
    x.report.nodes = graph.node_count() as u64;
    x.report.edges = graph.edge_count() as u64;
    x.report.cycles = graph.collapse_cycles() as u64;
    let layers = graph.layers().ok_or_else(|| Error::InvalidExpansion {
        grant_id: String::new(),
        reason: "the entitlement graph still has a cycle after collapsing".into(),
    })?;
    x.report.layers = layers.len() as u64;
    x.report.graph_ms = millis(started.elapsed());
    let eval_start = Instant::now();
    let incoming = graph.incoming();
    // Per node: its incoming (sorted parent entitlements, spec), in merge order.
    let mut plan: HashMap<NodeId, Vec<(Vec<String>, EdgeSpec)>> = incoming
        .iter()
        .map(|(n, edges)| {
            let v = edges
                .iter()
                .map(|(src, e)| {
                    let ents = graph
                        .entitlements(*src)
                        .map(|s| s.iter().cloned().collect())
                        .unwrap_or_default();
                    (ents, e.spec.clone())
                })
                .collect();
            (*n, v)
        })
        .collect();
    if let Some(seeds) = &opts.only_affected_by {
        let affected = graph.reachable_from(seeds.iter().filter_map(|e| graph.node_of(e)));
        plan.retain(|n, _| affected.contains(n));
        x.report.incremental_nodes = Some(plan.len() as u64);
    }
    for (node, edges) in &plan {
        let dests = graph
            .entitlements(*node)
            .map_or(0, std::collections::BTreeSet::len);
        for (sources, _) in edges {
            for s in sources {
                *x.uses.entry(s.clone()).or_default() += dests;
            }
        }
    }
    let mut progress = Progress {
        layers_done: 0,
        layers: layers.len() as u64,
        destinations_done: 0,
        destinations: plan
            .keys()
            .map(|n| {
                graph
                    .entitlements(*n)
                    .map_or(0, std::collections::BTreeSet::len) as u64
            })
            .sum(),
        grants_added: 0,
    };
    // Every entitlement the evaluation looks up (each is kept once read), read before
    // bulk writes add tables that every lookup would probe.
    for (node, edges) in &plan {
        for dest in graph.entitlements(*node).into_iter().flatten() {
            x.entitlement(dest)?;
        }
        for (sources, _) in edges {
            for source in sources {
                x.entitlement(source)?;
            }
        }
    }
    let evaluated = evaluate(
        &mut x,
        &graph,
        &layers,
        &plan,
        &opts.progress,
        &mut progress,
    );
    let evaluated_at = Instant::now();
    let Expander {
        bulk,
        mut report,
        write_time,
        ..
    } = x;
    // Indexes come back whether or not the evaluation succeeded.
    let restored = bulk.finish();
    report.index_ms = millis(evaluated_at.elapsed());
    evaluated?;
    restored?;
    refresh_stored_stats(store, sync, &report)?;
    report.write_ms = millis(write_time);
    report.evaluate_ms =
        millis(evaluated_at.duration_since(eval_start)).saturating_sub(report.write_ms);
    Ok(report)
}

fn evaluate<W: Writer + ?Sized>(
    x: &mut Expander<'_, W>,
    graph: &Graph,
    layers: &[Vec<NodeId>],
    plan: &HashMap<NodeId, Vec<(Vec<String>, EdgeSpec)>>,
    callback: &Option<ProgressFn>,
    progress: &mut Progress,
) -> Result<()> {
    for layer in layers {
        for node in layer {
            let Some(edges) = plan.get(node) else {
                continue;
            };
            let dests: Vec<String> = graph
                .entitlements(*node)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            for dest in dests {
                x.expand_destination(&dest, edges)?;
                progress.destinations_done += 1;
            }
        }
        // A layer reads only earlier layers: hand this one to the store before the next
        // (it is published when read).
        x.flush()?;
        progress.layers_done += 1;
        progress.grants_added = x.report.grants_added;
        if let Some(cb) = callback {
            cb(progress);
        }
    }
    Ok(())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::{Member, ResourceKey, merge_members};
    use std::sync::Arc;

    fn member(id: &str, direct: bool) -> Member {
        Member {
            key: Arc::new(ResourceKey::new("user", id)),
            direct,
            principal: Arc::from(id.as_bytes()),
        }
    }

    fn ids(members: &[Member]) -> Vec<(&str, bool)> {
        members
            .iter()
            .map(|m| (m.key.resource.as_str(), m.direct))
            .collect()
    }

    #[test]
    fn derived_members_merge_in_principal_order_and_the_store_wins_ties() {
        // The store shows `b` twice (two grants) and already shows derived `d`.
        let store = vec![
            member("b", true),
            member("b", false),
            member("d", true),
            member("f", true),
        ];
        let derived = vec![
            member("a", false),
            member("c", false),
            member("d", false),
            member("g", false),
        ];
        let merged = merge_members(store, derived).expect("sorted");
        assert_eq!(
            ids(&merged),
            [
                ("a", false),
                ("b", true),
                ("b", false),
                ("c", false),
                ("d", true),
                ("f", true),
                ("g", false)
            ]
        );
    }

    #[test]
    fn store_members_out_of_principal_order_are_refused_unless_complete() {
        let store = || vec![member("b", true), member("a", true)];
        assert!(merge_members(store(), vec![member("c", false)]).is_none());
        // Every derived member already shown: the store's rows, in its order.
        let merged = merge_members(store(), vec![member("a", false)]).expect("complete");
        assert_eq!(ids(&merged), [("b", true), ("a", true)]);
        assert_eq!(
            merge_members(Vec::new(), vec![member("c", false)]).map(|m| m.len()),
            Some(1)
        );
    }
}
