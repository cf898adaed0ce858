//! Who holds what, and why: a principal's access grouped by resource (through the
//! by-principal index), the holders of a resource's entitlements with the chain of sources
//! that explains each derived grant, and the principals two entitlements share.
//!
//! Chains are read from the grants' `sources` maps as grant expansion writes them
//! (`../shared/spec/grant-expansion.md`): a key is an *immediate parent* entitlement that
//! gave the principal this grant; a grant whose map is empty or names its own entitlement
//! is direct. So the chain of a derived grant is: its grant → a source entitlement → the
//! principal's grant there → … → a direct grant.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::error::Result;
use crate::model::{GrantRecord, ResourceKey};
use crate::store::{GrantQuery, Reader, ReaderExt, SyncSelector};

/// Whether `grant` is direct on its own entitlement: no sources, or a self-source.
#[must_use]
pub fn is_direct(grant: &GrantRecord) -> bool {
    let own = grant_entitlement_id(grant);
    grant
        .grant
        .sources
        .as_ref()
        .is_none_or(|s| s.sources.is_empty() || s.sources.contains_key(own))
}

fn grant_entitlement_id(grant: &GrantRecord) -> &str {
    grant
        .grant
        .entitlement
        .as_ref()
        .map_or("", |e| e.id.as_str())
}

/// The resource a grant's entitlement is on (`None` for an entitlement without one).
fn entitlement_resource(grant: &GrantRecord) -> Option<ResourceKey> {
    grant
        .grant
        .entitlement
        .as_ref()?
        .resource
        .as_ref()?
        .id
        .as_ref()
        .map(ResourceKey::of)
}

/// The grants of one principal on one resource's entitlements.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceAccess {
    /// The resource the entitlements are on (empty type and id for entitlements on none).
    pub resource: ResourceKey,
    /// The principal's grants there, by entitlement id.
    pub grants: Vec<GrantRecord>,
}

/// Everything `principal` holds in `sync`, grouped by the entitlements' resource, both in
/// key order. One indexed query (by principal); no scan of other principals' grants.
///
/// # Errors
/// Engine or decode errors.
pub fn principal_access<R: Reader + ?Sized>(
    store: &R,
    sync: &SyncSelector,
    principal: &ResourceKey,
) -> Result<Vec<ResourceAccess>> {
    let query = GrantQuery {
        sync: sync.clone(),
        principal: Some(principal.clone()),
        ..Default::default()
    };
    let mut by_resource: BTreeMap<ResourceKey, Vec<GrantRecord>> = BTreeMap::new();
    for grant in store.stream_grants(query) {
        let grant = grant?;
        let key = entitlement_resource(&grant).unwrap_or_else(|| ResourceKey::new("", ""));
        by_resource.entry(key).or_default().push(grant);
    }
    Ok(by_resource
        .into_iter()
        .map(|(resource, mut grants)| {
            grants.sort_by(|a, b| {
                grant_entitlement_id(a)
                    .cmp(grant_entitlement_id(b))
                    .then_with(|| a.grant.id.cmp(&b.grant.id))
            });
            ResourceAccess { resource, grants }
        })
        .collect())
}

/// One step of a chain: the principal holds `entitlement_id` through `grant_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The source entitlement.
    pub entitlement_id: String,
    /// The principal's grant on it (`None`: the sync has no such grant, so the chain
    /// breaks here).
    pub grant_id: Option<String>,
}

/// How a chain ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainEnd {
    /// At a direct grant (the grant itself, when the chain is empty).
    Direct,
    /// At a source entitlement the principal holds no grant on (the last link's
    /// `grant_id` is `None`).
    Missing,
    /// At a source already on the chain (sources that loop; expansion never writes them).
    Cycle,
    /// After [`MAX_CHAIN`] links.
    TooLong,
}

/// Links followed at most per chain; expansion's own depth is bounded by the graph's.
pub const MAX_CHAIN: usize = 64;

/// A holder of a resource's entitlement and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Holder {
    /// The holder's grant on the resource's entitlement.
    pub grant: GrantRecord,
    /// Whether that grant is direct (then `chain` is empty).
    pub direct: bool,
    /// From the grant's source to a direct grant: each the principal's grant on the
    /// previous link's source.
    pub chain: Vec<Link>,
    /// How the chain ends.
    pub end: ChainEnd,
}

/// The source a chain follows from a grant: a source whose grant was direct first (the
/// shortest explanation expansion recorded), else the first in key order.
fn next_source(grant: &GrantRecord) -> Option<&str> {
    let sources = &grant.grant.sources.as_ref()?.sources;
    sources
        .iter()
        .find(|(_, s)| s.is_direct)
        .or_else(|| sources.iter().next())
        .map(|(k, _)| k.as_str())
}

/// The principal's grants by entitlement id, cached per principal while a listing walks
/// the holders (bounded: forgets everything when full).
struct PrincipalGrants<'a, R: Reader + ?Sized> {
    store: &'a R,
    sync: SyncSelector,
    cache: HashMap<ResourceKey, HashMap<String, GrantRecord>>,
}

/// Principals whose grants are kept at once by [`PrincipalGrants`].
const PRINCIPAL_CACHE: usize = 1_024;

impl<'a, R: Reader + ?Sized> PrincipalGrants<'a, R> {
    /// The principal's grant on `entitlement_id`: first the id expansion and baton's
    /// `NewGrant` give it (`ENT:TYPE:ID`, one point get), else the principal's grants
    /// through the by-principal index.
    fn grant_on(
        &mut self,
        principal: &ResourceKey,
        entitlement_id: &str,
    ) -> Result<Option<GrantRecord>> {
        if let Some(grants) = self.cache.get(principal) {
            return Ok(grants.get(entitlement_id).cloned());
        }
        let conventional = format!(
            "{entitlement_id}:{}:{}",
            principal.resource_type, principal.resource
        );
        if let Some(g) = self.store.grant(&self.sync, &conventional)?
            && grant_entitlement_id(&g) == entitlement_id
            && g.grant
                .principal
                .as_ref()
                .and_then(|p| p.id.as_ref())
                .is_some_and(|id| ResourceKey::of(id) == *principal)
        {
            return Ok(Some(g));
        }
        let query = GrantQuery {
            sync: self.sync.clone(),
            principal: Some(principal.clone()),
            ..Default::default()
        };
        let mut grants = HashMap::new();
        for g in self.store.stream_grants(query) {
            let g = g?;
            grants
                .entry(grant_entitlement_id(&g).to_owned())
                .or_insert(g);
        }
        let found = grants.get(entitlement_id).cloned();
        if self.cache.len() >= PRINCIPAL_CACHE {
            self.cache.clear();
        }
        self.cache.insert(principal.clone(), grants);
        Ok(found)
    }

    fn explain(&mut self, grant: GrantRecord) -> Result<Holder> {
        let direct = is_direct(&grant);
        let mut chain = Vec::new();
        let mut end = ChainEnd::Direct;
        if !direct {
            let principal = grant
                .grant
                .principal
                .as_ref()
                .and_then(|p| p.id.as_ref())
                .map(ResourceKey::of)
                .unwrap_or_else(|| ResourceKey::new("", ""));
            let mut seen: HashSet<String> = HashSet::new();
            seen.insert(grant_entitlement_id(&grant).to_owned());
            let mut current = next_source(&grant).map(str::to_owned);
            while let Some(source) = current.take() {
                if chain.len() == MAX_CHAIN {
                    end = ChainEnd::TooLong;
                    break;
                }
                if !seen.insert(source.clone()) {
                    end = ChainEnd::Cycle;
                    break;
                }
                let Some(step) = self.grant_on(&principal, &source)? else {
                    chain.push(Link {
                        entitlement_id: source,
                        grant_id: None,
                    });
                    end = ChainEnd::Missing;
                    break;
                };
                chain.push(Link {
                    entitlement_id: source,
                    grant_id: Some(step.grant.id.clone()),
                });
                if !is_direct(&step) {
                    current = next_source(&step).map(str::to_owned);
                }
            }
        }
        Ok(Holder {
            grant,
            direct,
            chain,
            end,
        })
    }
}

/// The holders of `resource`'s entitlements (only `entitlement_id` when given), in the
/// store's grant order, each with the chain that explains it. Streams: chains are resolved
/// per holder, with the principals' grants cached (bounded).
pub fn who_can_access<'a, R: Reader + ?Sized>(
    store: &'a R,
    sync: &SyncSelector,
    resource: &ResourceKey,
    entitlement_id: Option<&str>,
) -> impl Iterator<Item = Result<Holder>> + 'a {
    let query = GrantQuery {
        sync: sync.clone(),
        resource: Some(resource.clone()),
        entitlement_id: entitlement_id.map(str::to_owned),
        ..Default::default()
    };
    let mut principals = PrincipalGrants {
        store,
        sync: sync.clone(),
        cache: HashMap::new(),
    };
    store
        .stream_grants(query)
        .map(move |g| principals.explain(g?))
}

/// Where a principal of [`compare_holders`] holds its grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// Holds both entitlements.
    Both,
    /// Holds only the first.
    OnlyA,
    /// Holds only the second.
    OnlyB,
}

impl Side {
    /// `both`, `only_a`, `only_b`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Side::Both => "both",
            Side::OnlyA => "only_a",
            Side::OnlyB => "only_b",
        }
    }
}

/// The distinct holders of an entitlement, in key order (stored grants: only the principal
/// column is read).
///
/// # Errors
/// Engine errors.
pub fn holders<R: Reader + ?Sized>(
    store: &R,
    sync: &SyncSelector,
    entitlement_id: &str,
) -> Result<BTreeSet<ResourceKey>> {
    let query = GrantQuery {
        sync: sync.clone(),
        entitlement_id: Some(entitlement_id.to_owned()),
        ..Default::default()
    };
    store
        .stream_stored_grants(query)
        .map(|g| g.map(|g| g.principal))
        .collect()
}

/// The principals of two holder sets: in both, only in `a`, only in `b` (that order, each
/// in key order).
#[must_use]
pub fn compare_holders(
    a: &BTreeSet<ResourceKey>,
    b: &BTreeSet<ResourceKey>,
) -> Vec<(Side, ResourceKey)> {
    let both = a.intersection(b).map(|k| (Side::Both, k.clone()));
    let only_a = a.difference(b).map(|k| (Side::OnlyA, k.clone()));
    let only_b = b.difference(a).map(|k| (Side::OnlyB, k.clone()));
    both.chain(only_a).chain(only_b).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pb::c1::connector::v2::{Entitlement, Grant, GrantSources, grant_sources};

    fn grant(ent: &str, sources: &[(&str, bool)]) -> GrantRecord {
        GrantRecord {
            grant: Grant {
                id: format!("{ent}:user:u"),
                entitlement: Some(Entitlement {
                    id: ent.into(),
                    ..Default::default()
                }),
                sources: (!sources.is_empty()).then(|| GrantSources {
                    sources: sources
                        .iter()
                        .map(|(k, d)| {
                            (
                                (*k).to_owned(),
                                grant_sources::GrantSource { is_direct: *d },
                            )
                        })
                        .collect(),
                }),
                ..Default::default()
            },
            expansion: None,
            needs_expansion: false,
            discovered_at: chrono::NaiveDateTime::default(),
        }
    }

    #[test]
    fn directness_follows_the_sources_map() {
        assert!(is_direct(&grant("g:a:member", &[])));
        assert!(is_direct(&grant("g:a:member", &[("g:a:member", true)])));
        assert!(is_direct(&grant(
            "g:a:member",
            &[("g:a:member", false), ("g:b:member", true)]
        )));
        assert!(!is_direct(&grant("g:a:member", &[("g:b:member", false)])));
    }

    #[test]
    fn a_chain_follows_a_direct_source_first() {
        let g = grant("g:a:member", &[("g:b:member", false), ("g:c:member", true)]);
        assert_eq!(next_source(&g), Some("g:c:member"));
        let g = grant(
            "g:a:member",
            &[("g:c:member", false), ("g:b:member", false)],
        );
        assert_eq!(next_source(&g), Some("g:b:member"));
    }

    #[test]
    fn comparisons_split_three_ways_in_order() {
        let k = |s: &str| ResourceKey::new("user", s);
        let a: BTreeSet<_> = [k("x"), k("y"), k("z")].into();
        let b: BTreeSet<_> = [k("w"), k("y")].into();
        assert_eq!(
            compare_holders(&a, &b),
            vec![
                (Side::Both, k("y")),
                (Side::OnlyA, k("x")),
                (Side::OnlyA, k("z")),
                (Side::OnlyB, k("w")),
            ]
        );
    }
}
