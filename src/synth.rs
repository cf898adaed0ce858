//! Deterministic synthetic syncs: users, groups, roles and apps with memberships, nested
//! groups (`GrantExpandable` edges) and an icon asset. Used for `testdata/`, benchmarks and
//! `c1z generate`. [`fixture`] writes connector-shaped syncs of exact counts instead.

pub mod fixture;

pub use fixture::{FixtureReport, FixtureSpec, generate_fixture, generate_fixture_with_progress};

use crate::codec::{GRANT_EXPANDABLE, to_any};
use crate::error::Result;
use crate::model::{SyncRun, SyncType};
use crate::pb::c1::connector::v2::{
    Entitlement, Grant, GrantExpandable, Resource, ResourceId, ResourceType, resource_type::Trait,
};
use crate::store::Writer;
use crate::sync::WriterExt;

/// Shape of a generated sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynthSpec {
    /// Seed of the pseudo-random choices; equal seeds give equal content.
    pub seed: u64,
    /// Number of users.
    pub users: u32,
    /// Number of groups (each has a `member` entitlement).
    pub groups: u32,
    /// Number of roles (each has an `assigned` entitlement).
    pub roles: u32,
    /// Number of apps (each has `read` and `admin` entitlements).
    pub apps: u32,
    /// Group memberships per user.
    pub memberships_per_user: u32,
    /// Groups nested into another group through an expandable grant.
    pub nested_groups: u32,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            seed: 1,
            users: 100,
            groups: 10,
            roles: 5,
            apps: 3,
            memberships_per_user: 2,
            nested_groups: 4,
        }
    }
}

/// splitmix64's finalizer: a bijection of `u64`.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// splitmix64: tiny, fast, and good enough for picking members.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    fn below(&mut self, n: u32) -> u32 {
        u32::try_from(self.next() % u64::from(n.max(1))).unwrap_or(0)
    }
}

fn rid(rt: &str, id: &str) -> ResourceId {
    ResourceId {
        resource_type: rt.into(),
        resource: id.into(),
        ..Default::default()
    }
}

fn resource(rt: &str, id: &str, name: String) -> Resource {
    Resource {
        id: Some(rid(rt, id)),
        display_name: name,
        ..Default::default()
    }
}

fn entitlement(r: &Resource, slug: &str) -> Entitlement {
    let id = r.id.as_ref().map_or_else(String::new, |i| {
        format!("{}:{}:{slug}", i.resource_type, i.resource)
    });
    Entitlement {
        id,
        display_name: format!("{} {slug}", r.display_name),
        resource: Some(r.clone()),
        slug: slug.into(),
        ..Default::default()
    }
}

fn grant(e: &Entitlement, principal: &Resource) -> Grant {
    let p = principal.id.clone().unwrap_or_default();
    Grant {
        id: format!("{}:{}:{}", e.id, p.resource_type, p.resource),
        entitlement: Some(e.clone()),
        principal: Some(principal.clone()),
        ..Default::default()
    }
}

/// Writes one finished `full` sync of the given shape into `store`.
///
/// # Errors
/// Store errors.
pub fn generate<W: Writer + ?Sized>(store: &W, spec: &SynthSpec) -> Result<SyncRun> {
    let mut rng = Rng(spec.seed);
    let run = store.start_sync(SyncType::Full, None)?;
    let rt = |id: &str, t: Trait| ResourceType {
        id: id.into(),
        display_name: id.into(),
        traits: vec![t as i32],
        ..Default::default()
    };
    run.put_resource_types(&[
        rt("user", Trait::User),
        rt("group", Trait::Group),
        rt("role", Trait::Role),
        rt("app", Trait::App),
    ])?;
    let users: Vec<_> = (0..spec.users)
        .map(|i| resource("user", &format!("user-{i:06}"), format!("User {i}")))
        .collect();
    let groups: Vec<_> = (0..spec.groups)
        .map(|i| resource("group", &format!("group-{i:04}"), format!("Group {i}")))
        .collect();
    let roles: Vec<_> = (0..spec.roles)
        .map(|i| resource("role", &format!("role-{i:03}"), format!("Role {i}")))
        .collect();
    let apps: Vec<_> = (0..spec.apps)
        .map(|i| resource("app", &format!("app-{i:03}"), format!("App {i}")))
        .collect();
    for chunk in [&users, &groups, &roles, &apps] {
        for part in chunk.chunks(5_000) {
            run.put_resources(part)?;
        }
    }
    let member: Vec<_> = groups.iter().map(|g| entitlement(g, "member")).collect();
    let assigned: Vec<_> = roles.iter().map(|r| entitlement(r, "assigned")).collect();
    let app_ents: Vec<_> = apps
        .iter()
        .flat_map(|a| [entitlement(a, "read"), entitlement(a, "admin")])
        .collect();
    run.put_entitlements(&member)?;
    run.put_entitlements(&assigned)?;
    run.put_entitlements(&app_ents)?;

    let mut grants = Vec::new();
    let flush = |grants: &mut Vec<Grant>, force: bool| -> Result<()> {
        if force || grants.len() >= 5_000 {
            run.put_grants(grants.drain(..))?;
        }
        Ok(())
    };
    if !member.is_empty() {
        for u in &users {
            let mut seen = Vec::new();
            for _ in 0..spec.memberships_per_user {
                let g = rng.below(spec.groups);
                if !seen.contains(&g) {
                    seen.push(g);
                    grants.push(grant(&member[g as usize], u));
                    flush(&mut grants, false)?;
                }
            }
        }
    }
    // Nested groups: group i+1's members are members of group i (a chain), expressed as
    // an expandable grant of group i's entitlement to group i+1.
    for i in 0..spec.nested_groups.min(spec.groups.saturating_sub(1)) as usize {
        let expandable = GrantExpandable {
            entitlement_ids: vec![member[i + 1].id.clone()],
            ..Default::default()
        };
        let mut g = grant(&member[i], &groups[i + 1]);
        g.annotations.push(to_any(GRANT_EXPANDABLE, &expandable));
        grants.push(g);
    }
    // Each role is assigned to a random group's members; each app's read to a role.
    for r in &assigned {
        if groups.is_empty() {
            break;
        }
        let g = rng.below(spec.groups) as usize;
        let expandable = GrantExpandable {
            entitlement_ids: vec![member[g].id.clone()],
            ..Default::default()
        };
        let mut gr = grant(r, &groups[g]);
        gr.annotations.push(to_any(GRANT_EXPANDABLE, &expandable));
        grants.push(gr);
    }
    for (i, a) in app_ents.iter().enumerate() {
        if !users.is_empty() {
            grants.push(grant(a, &users[(i * 7) % users.len()]));
        }
    }
    flush(&mut grants, true)?;
    run.put_asset(
        "asset:app-icon",
        "image/png",
        b"\x89PNG\r\n\x1a\n c1z synthetic icon",
    )?;
    run.finish()
}

/// Graph shapes for expansion benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One group of `members` users granted (expandably) on `resources` resources:
    /// `members × resources` derived grants (2,000 × 3,000 = 6M in the benchmark).
    FanOut {
        /// Members of the group.
        members: u32,
        /// Resources the group is granted on.
        resources: u32,
    },
    /// A chain of `depth` nested groups with `members` users at the bottom.
    Chain {
        /// Levels.
        depth: u32,
        /// Users in the innermost group.
        members: u32,
    },
    /// `parents` groups of `members` users (drawn from `users`) all nested in one group.
    FanIn {
        /// Parent groups.
        parents: u32,
        /// Members per parent.
        members: u32,
        /// Distinct users to draw members from.
        users: u32,
    },
    /// A ring of `size` nested groups (one cycle) with `members` users each, fed by one
    /// outside group of `members` users.
    Cycle {
        /// Groups in the ring.
        size: u32,
        /// Users per group.
        members: u32,
    },
    /// A random DAG: `edges` nestings from `sources` groups (with `members` users each) into
    /// `destinations` groups, plus a second level of `destinations / 10` groups fed by them.
    RandomDag {
        /// Source groups.
        sources: u32,
        /// Destination groups.
        destinations: u32,
        /// Nestings from sources into destinations.
        edges: u32,
        /// Users per source group.
        members: u32,
    },
    /// A 36zf-like organisation: users in groups (as `member` or `admin`), each group
    /// granted on projects and roles through both its entitlements, and a chain of
    /// `chain` nested groups.
    Org {
        /// Users.
        users: u32,
        /// Groups.
        groups: u32,
        /// Group memberships per user (one in five as `admin`).
        memberships: u32,
        /// Projects, and as many roles.
        resources: u32,
        /// Grants per group on projects and roles (half each).
        grants_per_group: u32,
        /// Length of the nested-group chain (`group-0` in `group-1` in …).
        chain: u32,
    },
}

fn ent(rt: &str, id: &str, slug: &str) -> Entitlement {
    entitlement(&resource(rt, id, format!("{rt} {id}")), slug)
}

fn user(i: u32) -> Resource {
    resource("user", &format!("user-{i:07}"), format!("User {i}"))
}

fn group(i: u32) -> Resource {
    resource("group", &format!("group-{i:07}"), format!("Group {i}"))
}

/// Grant of `dest` to `holder` (a group) whose members (`holder:member`) propagate.
fn edge_grant(dest: &Entitlement, holder: &Resource) -> Grant {
    let mut g = grant(dest, holder);
    let id = holder.id.clone().unwrap_or_default();
    let source = format!("{}:{}:member", id.resource_type, id.resource);
    g.annotations.push(to_any(
        GRANT_EXPANDABLE,
        &GrantExpandable {
            entitlement_ids: vec![source],
            ..Default::default()
        },
    ));
    g
}

/// Buffers grants and writes them in batches.
struct GrantSink<'a, 's, W: Writer + ?Sized> {
    run: &'a crate::sync::SyncWriter<'s, W>,
    buf: Vec<Grant>,
}

impl<W: Writer + ?Sized> GrantSink<'_, '_, W> {
    fn push(&mut self, g: Grant) -> Result<()> {
        self.buf.push(g);
        if self.buf.len() >= 10_000 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.run.put_grants(self.buf.drain(..))?;
        }
        Ok(())
    }
}

/// Writes one finished `full` sync of the given expansion shape (unexpanded) into `store`.
///
/// # Errors
/// Store errors.
pub fn generate_shape<W: Writer + ?Sized>(store: &W, shape: Shape, seed: u64) -> Result<SyncRun> {
    let mut rng = Rng(seed);
    let run = store.start_sync(SyncType::Full, None)?;
    let mut ents: Vec<Entitlement> = Vec::new();
    let mut sink = GrantSink {
        run: &run,
        buf: Vec::new(),
    };
    let member_ent = |g: &Resource| entitlement(g, "member");
    match shape {
        Shape::FanOut { members, resources } => {
            let g = group(0);
            let gm = member_ent(&g);
            ents.push(gm.clone());
            for u in 0..members {
                sink.push(grant(&gm, &user(u)))?;
            }
            for r in 0..resources {
                let e = ent("repo", &format!("repo-{r:07}"), "access");
                sink.push(edge_grant(&e, &g))?;
                ents.push(e);
            }
        }
        Shape::Chain { depth, members } => {
            for i in 0..=depth {
                ents.push(member_ent(&group(i)));
            }
            // group i+1 is nested in group i; users sit in the innermost group.
            for i in 0..depth {
                sink.push(edge_grant(&ents[i as usize], &group(i + 1)))?;
            }
            for u in 0..members {
                sink.push(grant(&ents[depth as usize], &user(u)))?;
            }
        }
        Shape::FanIn {
            parents,
            members,
            users,
        } => {
            let dest = member_ent(&group(0));
            ents.push(dest.clone());
            for p in 1..=parents {
                let pg = group(p);
                let pe = member_ent(&pg);
                for _ in 0..members {
                    sink.push(grant(&pe, &user(rng.below(users))))?;
                }
                sink.push(edge_grant(&dest, &pg))?;
                ents.push(pe);
            }
        }
        Shape::Cycle { size, members } => {
            for i in 0..=size {
                ents.push(member_ent(&group(i)));
            }
            for i in 0..size {
                // group (i+1) mod size is nested in group i: a ring.
                let inner = (i + 1) % size;
                sink.push(edge_grant(&ents[i as usize], &group(inner)))?;
                for m in 0..members {
                    sink.push(grant(&ents[i as usize], &user(i * members + m)))?;
                }
            }
            // The feeder (group `size`) is nested in group 0.
            sink.push(edge_grant(&ents[0], &group(size)))?;
            for m in 0..members {
                sink.push(grant(&ents[size as usize], &user(size * members + m)))?;
            }
        }
        Shape::RandomDag {
            sources,
            destinations,
            edges,
            members,
        } => {
            let second = destinations / 10;
            for i in 0..sources + destinations + second {
                ents.push(member_ent(&group(i)));
            }
            for s in 0..sources {
                for _ in 0..members {
                    sink.push(grant(
                        &ents[s as usize],
                        &user(rng.below(sources * members)),
                    ))?;
                }
            }
            let mut seen = std::collections::HashSet::new();
            for _ in 0..edges {
                let (s, d) = (rng.below(sources), sources + rng.below(destinations));
                if seen.insert((s, d)) {
                    sink.push(edge_grant(&ents[d as usize], &group(s)))?;
                }
            }
            for d in 0..destinations {
                let top = sources + destinations + rng.below(second.max(1));
                if second > 0 {
                    sink.push(edge_grant(&ents[top as usize], &group(sources + d)))?;
                }
            }
        }
        Shape::Org {
            users,
            groups,
            memberships,
            resources,
            grants_per_group,
            chain,
        } => {
            let gs: Vec<Resource> = (0..groups).map(group).collect();
            let member: Vec<Entitlement> = gs.iter().map(member_ent).collect();
            let admin: Vec<Entitlement> = gs.iter().map(|g| entitlement(g, "admin")).collect();
            for u in 0..users {
                let mut seen = Vec::new();
                for _ in 0..memberships {
                    let g = rng.below(groups);
                    if !seen.contains(&g) {
                        seen.push(g);
                        let to = if rng.below(5) == 0 { &admin } else { &member };
                        sink.push(grant(&to[g as usize], &user(u)))?;
                    }
                }
            }
            let projects: Vec<Entitlement> = (0..resources)
                .map(|i| ent("project", &format!("project-{i:07}"), "access"))
                .collect();
            let roles: Vec<Entitlement> = (0..resources)
                .map(|i| ent("role", &format!("role-{i:07}"), "assignment"))
                .collect();
            for (gi, g) in gs.iter().enumerate() {
                let mut seen = Vec::new();
                for k in 0..grants_per_group {
                    let on = if k % 2 == 0 { &projects } else { &roles };
                    let r = rng.below(resources);
                    if seen.contains(&(k % 2, r)) {
                        continue;
                    }
                    seen.push((k % 2, r));
                    let mut eg = grant(&on[r as usize], g);
                    eg.annotations.push(to_any(
                        GRANT_EXPANDABLE,
                        &GrantExpandable {
                            entitlement_ids: vec![member[gi].id.clone(), admin[gi].id.clone()],
                            ..Default::default()
                        },
                    ));
                    sink.push(eg)?;
                }
            }
            for i in 0..chain.min(groups.saturating_sub(1)) {
                sink.push(edge_grant(&member[i as usize + 1], &gs[i as usize]))?;
            }
            ents.extend(member);
            ents.extend(admin);
            ents.extend(projects);
            ents.extend(roles);
        }
    }
    sink.flush()?;
    run.put_resource_types(&[
        ResourceType {
            id: "user".into(),
            traits: vec![Trait::User as i32],
            ..Default::default()
        },
        ResourceType {
            id: "group".into(),
            traits: vec![Trait::Group as i32],
            ..Default::default()
        },
        ResourceType {
            id: "repo".into(),
            ..Default::default()
        },
        ResourceType {
            id: "project".into(),
            ..Default::default()
        },
        ResourceType {
            id: "role".into(),
            traits: vec![Trait::Role as i32],
            ..Default::default()
        },
    ])?;
    for chunk in ents.chunks(10_000) {
        run.put_entitlements(chunk)?;
    }
    run.finish()
}

impl Shape {
    /// Names of the benchmark shapes, as [`Shape::named`] takes them.
    pub const NAMES: [&str; 7] = [
        "fanout-6m",
        "fanout-1m",
        "org-420k",
        "chain-30",
        "fan-in",
        "cycle-1000",
        "dag-100k",
    ];

    /// The benchmark shape called `name` (one of [`Shape::NAMES`]).
    #[must_use]
    pub fn named(name: &str) -> Option<Shape> {
        Some(match name {
            "fanout-6m" => Shape::FanOut {
                members: 2_000,
                resources: 3_000,
            },
            "fanout-1m" => Shape::FanOut {
                members: 1_000,
                resources: 1_000,
            },
            "org-420k" => Shape::Org {
                users: 21_300,
                groups: 600,
                memberships: 3,
                resources: 2_000,
                grants_per_group: 5,
                chain: 20,
            },
            "chain-30" => Shape::Chain {
                depth: 30,
                members: 1_000,
            },
            "fan-in" => Shape::FanIn {
                parents: 1_000,
                members: 100,
                users: 20_000,
            },
            "cycle-1000" => Shape::Cycle {
                size: 1_000,
                members: 10,
            },
            "dag-100k" => Shape::RandomDag {
                sources: 10_000,
                destinations: 10_000,
                edges: 100_000,
                members: 5,
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Shape;

    #[test]
    fn every_listed_shape_name_resolves() {
        for name in Shape::NAMES {
            assert!(Shape::named(name).is_some(), "{name}");
        }
        assert!(Shape::named("fanout-7m").is_none());
    }
}
