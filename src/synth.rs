//! Deterministic synthetic syncs: users, groups, roles and apps with memberships, nested
//! groups (`GrantExpandable` edges) and an icon asset. Used for `testdata/`, benchmarks and
//! `c1z generate`.

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

/// splitmix64: tiny, fast, and good enough for picking members.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
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
            run.put_grants(grants)?;
            grants.clear();
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
