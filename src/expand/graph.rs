//! The entitlement graph of grant expansion: pure data and algorithms, no storage.
//!
//! Nodes hold entitlement ids; an edge S → D means "whoever holds S also holds D". Parallel
//! edges fold (deep beats shallow, unfiltered beats filtered, else the filters' union).
//! Strongly connected components collapse into one node holding every member's
//! entitlements; edges inside a component are dropped (members do not receive each
//! other's principals), edges to and from the outside fold onto the new node.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A node id (1, 2, 3, … in order of first sight; collapsed cycles get fresh ids).
pub type NodeId = u32;

/// What may travel over an edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeSpec {
    /// Only principals holding the source directly propagate.
    pub shallow: bool,
    /// Only principals of these resource types propagate; `None` = all types.
    pub filter: Option<BTreeSet<String>>,
}

impl EdgeSpec {
    /// The spec of a `GrantExpandable` (an empty type list means unfiltered).
    #[must_use]
    pub fn new(shallow: bool, resource_type_ids: &[String]) -> Self {
        let filter = if resource_type_ids.is_empty() {
            None
        } else {
            Some(resource_type_ids.iter().cloned().collect())
        };
        EdgeSpec { shallow, filter }
    }

    /// Folds a parallel edge into this one, independently of order.
    pub fn fold(&mut self, other: &EdgeSpec) {
        self.shallow = self.shallow && other.shallow;
        self.filter = match (self.filter.take(), &other.filter) {
            (Some(mut a), Some(b)) => {
                a.extend(b.iter().cloned());
                Some(a)
            }
            _ => None,
        };
    }

    /// Whether a principal of `resource_type` passes the filter.
    #[must_use]
    pub fn admits(&self, resource_type: &str) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| f.contains(resource_type))
    }
}

/// An edge with its id (1, 2, 3, … in order of creation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// Creation order; breaks ties when merging contributions.
    pub id: u32,
    /// What travels over it.
    pub spec: EdgeSpec,
}

/// The entitlement graph.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: BTreeMap<NodeId, BTreeSet<String>>,
    node_of: HashMap<String, NodeId>,
    edges: BTreeMap<(NodeId, NodeId), Edge>,
    next_node: NodeId,
    next_edge: u32,
    folded: u64,
}

impl Graph {
    /// An empty graph.
    #[must_use]
    pub fn new() -> Self {
        Graph::default()
    }

    /// The node of an entitlement, created on first sight.
    pub fn add_entitlement(&mut self, id: &str) -> NodeId {
        if let Some(n) = self.node_of.get(id) {
            return *n;
        }
        self.next_node += 1;
        let n = self.next_node;
        self.nodes.insert(n, BTreeSet::from([id.to_owned()]));
        self.node_of.insert(id.to_owned(), n);
        n
    }

    /// Adds the edge `source → destination` (folding into an existing parallel edge).
    pub fn add_edge(&mut self, source: &str, destination: &str, spec: EdgeSpec) {
        let d = self.add_entitlement(destination);
        let s = self.add_entitlement(source);
        self.insert_edge(s, d, spec);
    }

    fn insert_edge(&mut self, s: NodeId, d: NodeId, spec: EdgeSpec) {
        match self.edges.get_mut(&(s, d)) {
            Some(e) => {
                e.spec.fold(&spec);
                self.folded += 1;
            }
            None => {
                self.next_edge += 1;
                self.edges.insert(
                    (s, d),
                    Edge {
                        id: self.next_edge,
                        spec,
                    },
                );
            }
        }
    }

    /// Number of nodes.
    #[must_use]
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of edges.
    #[must_use]
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Parallel edges folded into existing ones so far.
    #[must_use]
    pub fn folded_edges(&self) -> u64 {
        self.folded
    }

    /// The entitlements of a node, sorted.
    #[must_use]
    pub fn entitlements(&self, node: NodeId) -> Option<&BTreeSet<String>> {
        self.nodes.get(&node)
    }

    /// The node holding an entitlement.
    #[must_use]
    pub fn node_of(&self, entitlement: &str) -> Option<NodeId> {
        self.node_of.get(entitlement).copied()
    }

    /// Every edge as `(source, destination, edge)`.
    pub fn edges(&self) -> impl Iterator<Item = (NodeId, NodeId, &Edge)> {
        self.edges.iter().map(|((s, d), e)| (*s, *d, e))
    }

    /// Strongly connected components that are cycles (several nodes, or one node with a
    /// self-edge), each sorted, in order of their smallest node id.
    #[must_use]
    pub fn cycles(&self) -> Vec<Vec<NodeId>> {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let index_of: HashMap<NodeId, usize> =
            ids.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut adj = vec![Vec::new(); ids.len()];
        for (s, d) in self.edges.keys() {
            adj[index_of[s]].push(index_of[d]);
        }
        let mut comps: Vec<Vec<NodeId>> = tarjan(&adj)
            .into_iter()
            .filter(|c| c.len() > 1 || adj[c[0]].contains(&c[0]))
            .map(|c| {
                let mut c: Vec<NodeId> = c.into_iter().map(|i| ids[i]).collect();
                c.sort_unstable();
                c
            })
            .collect();
        comps.sort();
        comps
    }

    /// Collapses every cycle into one node (ids assigned in order of the cycles' smallest
    /// member); returns how many were collapsed. One pass over the edges.
    pub fn collapse_cycles(&mut self) -> usize {
        let cycles = self.cycles();
        let mut rep: HashMap<NodeId, NodeId> = HashMap::new();
        for members in &cycles {
            self.next_node += 1;
            let new = self.next_node;
            let mut ents = BTreeSet::new();
            for m in members {
                rep.insert(*m, new);
                if let Some(e) = self.nodes.remove(m) {
                    ents.extend(e);
                }
            }
            for e in &ents {
                self.node_of.insert(e.clone(), new);
            }
            self.nodes.insert(new, ents);
        }
        if cycles.is_empty() {
            return 0;
        }
        let old = std::mem::take(&mut self.edges);
        let mut moved = Vec::new();
        for ((s, d), e) in old {
            match (rep.get(&s).copied(), rep.get(&d).copied()) {
                (None, None) => {
                    self.edges.insert((s, d), e);
                }
                // Inside one component: dropped (no propagation within a cycle).
                (Some(a), Some(b)) if a == b => {}
                (a, b) => moved.push((a.unwrap_or(s), b.unwrap_or(d), e.spec)),
            }
        }
        for (s, d, spec) in moved {
            self.insert_edge(s, d, spec);
        }
        cycles.len()
    }

    /// The nodes reachable from `seeds` along edges, the seeds included.
    #[must_use]
    pub fn reachable_from(&self, seeds: impl IntoIterator<Item = NodeId>) -> HashSet<NodeId> {
        let mut out: HashMap<NodeId, Vec<NodeId>> = HashMap::new();
        for (s, d) in self.edges.keys() {
            out.entry(*s).or_default().push(*d);
        }
        let mut seen: HashSet<NodeId> = HashSet::new();
        let mut todo: Vec<NodeId> = seeds.into_iter().collect();
        while let Some(n) = todo.pop() {
            if seen.insert(n) {
                todo.extend(out.get(&n).into_iter().flatten().copied());
            }
        }
        seen
    }

    /// Incoming edges of every node with any, each list ordered by source node id then
    /// edge id.
    #[must_use]
    pub fn incoming(&self) -> HashMap<NodeId, Vec<(NodeId, &Edge)>> {
        let mut map: HashMap<NodeId, Vec<(NodeId, &Edge)>> = HashMap::new();
        for ((s, d), e) in &self.edges {
            map.entry(*d).or_default().push((*s, e));
        }
        for v in map.values_mut() {
            v.sort_by_key(|(s, e)| (*s, e.id));
        }
        map
    }

    /// Kahn layers of an acyclic graph, each sorted by node id; `None` if a cycle remains.
    #[must_use]
    pub fn layers(&self) -> Option<Vec<Vec<NodeId>>> {
        let mut indegree: BTreeMap<NodeId, usize> = self.nodes.keys().map(|n| (*n, 0)).collect();
        let mut out: HashMap<NodeId, Vec<NodeId>> = HashMap::new();
        for (s, d) in self.edges.keys() {
            *indegree.entry(*d).or_default() += 1;
            out.entry(*s).or_default().push(*d);
        }
        let mut layer: Vec<NodeId> = indegree
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(k, _)| *k)
            .collect();
        let mut layers = Vec::new();
        let mut seen = 0;
        while !layer.is_empty() {
            seen += layer.len();
            let mut next = Vec::new();
            for n in &layer {
                for d in out.get(n).map(Vec::as_slice).unwrap_or_default() {
                    if let Some(deg) = indegree.get_mut(d) {
                        *deg -= 1;
                        if *deg == 0 {
                            next.push(*d);
                        }
                    }
                }
            }
            next.sort_unstable();
            layers.push(std::mem::replace(&mut layer, next));
        }
        (seen == self.nodes.len()).then_some(layers)
    }
}

/// Tarjan's strongly connected components, iterative (no recursion depth limit).
fn tarjan(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = adj.len();
    let (mut index, mut low, mut on_stack) = (vec![UNSEEN; n], vec![0; n], vec![false; n]);
    let (mut stack, mut comps, mut next) = (Vec::new(), Vec::new(), 0usize);
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut i)) = call.last_mut() {
            if let Some(&w) = adj[v].get(*i) {
                *i += 1;
                if index[w] == UNSEEN {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            call.pop();
            if let Some(&(parent, _)) = call.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                comps.push(comp);
            }
        }
    }
    comps
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn deep() -> EdgeSpec {
        EdgeSpec::new(false, &[])
    }

    #[test]
    fn parallel_edges_fold_deep_and_unfiltered_win() {
        let mut a = EdgeSpec::new(true, &["user".into()]);
        a.fold(&EdgeSpec::new(true, &["group".into()]));
        assert_eq!(
            a,
            EdgeSpec {
                shallow: true,
                filter: Some(["group".into(), "user".into()].into())
            }
        );
        a.fold(&EdgeSpec::new(false, &[]));
        assert_eq!(a, deep());
        let mut g = Graph::new();
        g.add_edge("a", "b", EdgeSpec::new(true, &["user".into()]));
        g.add_edge("a", "b", EdgeSpec::new(false, &["group".into()]));
        assert_eq!(g.edge_count(), 1);
        assert_eq!(g.folded_edges(), 1);
        let (_, _, e) = g.edges().next().unwrap();
        assert!(!e.spec.shallow);
    }

    #[test]
    fn node_ids_follow_first_sight_destination_first() {
        let mut g = Graph::new();
        g.add_edge("src", "dst", deep());
        assert_eq!(g.node_of("dst"), Some(1));
        assert_eq!(g.node_of("src"), Some(2));
    }

    #[test]
    fn cycles_collapse_with_external_edges_folded() {
        let mut g = Graph::new();
        // a → b → c → a is a cycle; x → a (filtered user), x → b (filtered group); c → y.
        g.add_edge("a", "b", deep());
        g.add_edge("b", "c", deep());
        g.add_edge("c", "a", deep());
        g.add_edge("x", "a", EdgeSpec::new(true, &["user".into()]));
        g.add_edge("x", "b", EdgeSpec::new(true, &["group".into()]));
        g.add_edge("c", "y", deep());
        assert_eq!(g.collapse_cycles(), 1);
        let n = g.node_of("a").unwrap();
        assert_eq!(g.node_of("b"), Some(n));
        assert_eq!(g.entitlements(n).unwrap().len(), 3);
        assert_eq!(g.node_count(), 3);
        assert_eq!(g.edge_count(), 2);
        let inc = g.incoming();
        let inc = &inc[&n];
        assert_eq!(inc.len(), 1);
        assert_eq!(
            inc[0].1.spec,
            EdgeSpec {
                shallow: true,
                filter: Some(["group".into(), "user".into()].into())
            }
        );
        assert!(g.layers().is_some());
    }

    #[test]
    fn self_loops_and_cliques_vanish() {
        let mut g = Graph::new();
        g.add_edge("a", "a", deep());
        g.add_edge("a", "z", deep());
        assert_eq!(g.collapse_cycles(), 1);
        assert_eq!(g.edge_count(), 1);
        let mut g = Graph::new();
        for (s, d) in [
            ("a", "b"),
            ("b", "a"),
            ("b", "c"),
            ("c", "b"),
            ("a", "c"),
            ("c", "a"),
        ] {
            g.add_edge(s, d, deep());
        }
        g.collapse_cycles();
        assert_eq!((g.node_count(), g.edge_count()), (1, 0));
    }

    #[test]
    fn long_chains_layer_without_recursion_limits() {
        let mut g = Graph::new();
        for i in 0..50_000 {
            g.add_edge(&format!("e{i}"), &format!("e{}", i + 1), deep());
        }
        assert!(g.cycles().is_empty());
        assert_eq!(g.layers().unwrap().len(), 50_001);
        g.add_edge("e50000", "e0", deep());
        assert_eq!(g.cycles().len(), 1);
        assert!(g.layers().is_none());
        g.collapse_cycles();
        assert_eq!((g.node_count(), g.edge_count()), (1, 0));
    }
}
