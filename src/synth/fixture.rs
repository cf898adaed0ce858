//! Count-driven fixtures: a full sync with exactly the requested number of resource types,
//! resources, entitlements, principals and grants, shaped like a connector's output and
//! written through the same [`SyncWriter`] calls a connector's sync makes (`c1z generate
//! OUT --resource-types N --resources N --entitlements N --principals N --grants N`).
//!
//! # Semantics
//! - **Resource types** (≥ 2): `user` and `group`, then `role` and `app` (with their
//!   traits), then generic types without traits (`repository`, `project`, …,
//!   `resource-type-N`).
//! - **Principals**: the users (resources of type `user`), with a `UserTrait` (primary
//!   email, login, status, account type, a small profile). Users hold no entitlements.
//! - **Resources**: the non-user resources, spread round-robin over the non-user types
//!   (so with 4 types and 300 resources: 100 groups, 100 roles, 100 apps), written type
//!   by type. Groups, roles and apps carry their trait annotation and a description.
//!   The sync's resource count is `principals + resources`.
//! - **Entitlements**: spread round-robin over the non-user resources in that order: the
//!   first `resources` entitlements give each resource its first entitlement (a group's
//!   `member`, a role's `assigned`, an app's or generic resource's `read`), the next ones
//!   its second (`admin`; a role's `owner`; a generic resource's `write`), and so on
//!   (`permission-N` past each type's list). With fewer entitlements than resources, the
//!   last resources have none.
//! - **Grants**: exactly `grants` distinct direct grants (`grants ≤ entitlements ×
//!   principals`). Each entitlement's share follows a Zipf-like law over a seeded order of
//!   the entitlements (a few "everyone" groups, a long tail), capped at one grant per user;
//!   its users are a seeded permutation of all users. Grants are written per resource, as
//!   a connector's grant listing returns them.
//! - **Expandable grants**: `round(expandable_fraction × M)` of the `M` grants on group
//!   `member` entitlements have another group as principal, with a `GrantExpandable`
//!   annotation naming that group's `member` entitlement (one in eight `shallow`, the rest
//!   deep), so `c1z expand` has nested groups to resolve. Cycles are avoided: a group is
//!   only nested into groups written before it, so the nested-group graph is a DAG (whose
//!   paths give expansion several layers). Every other grant's principal is a user.
//! - **Embedded objects** as baton's `grant.NewGrant` builds them: the grant's entitlement
//!   is `{id, resource}` with the full resource (traits and all), its principal the
//!   principal's `ResourceId` only; ids follow baton's `type:resource:slug` and
//!   `entitlement:principal_type:principal_id` forms.
//! - **Ids and names** of realistic lengths: Okta-like 20-character ids for users, groups
//!   and apps, UUIDs for roles and generic resources; person, team and product names.
//!
//! Objects are written in batches of [`PUT_BATCH`] per put call with a checkpoint every
//! [`CHECKPOINT_EVERY`] objects. The content (not the timestamps or the sync id) depends
//! only on the spec: equal specs give equal [`crate::digest`]s on every engine.

use prost_types::value::Kind;
use prost_types::{Struct, Value};

use super::{Rng, mix64};
use crate::codec::{GRANT_EXPANDABLE, to_any};
use crate::error::{Error, Result};
use crate::model::{SyncRun, SyncType};
use crate::pb::c1::connector::v2::entitlement::PurposeValue;
use crate::pb::c1::connector::v2::user_trait::{self, AccountType};
use crate::pb::c1::connector::v2::{
    AppTrait, Entitlement, Grant, GrantExpandable, GroupTrait, Resource, ResourceId, ResourceType,
    RoleTrait, UserTrait, resource_type::Trait,
};
use crate::store::Writer;
use crate::sync::{SyncWriter, WriterExt};

/// Objects per put call (a connector page's order of magnitude).
pub const PUT_BATCH: usize = 2_000;

/// Objects written between two checkpoints of the sync token.
pub const CHECKPOINT_EVERY: u64 = 5_000;

/// Upper bound of the counts held in memory while generating (resource types, resources
/// and entitlements; principals and grants are streamed).
pub const MAX_HELD: u32 = 10_000_000;

/// Counts of a generated fixture (see the [module documentation](self) for what each
/// means).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FixtureSpec {
    /// Seed of the pseudo-random choices; equal specs give equal content.
    pub seed: u64,
    /// Resource types, at least 2: `user`, `group`, then `role`, `app`, then generic ones.
    pub resource_types: u32,
    /// Non-user resources, spread over the non-user types.
    pub resources: u32,
    /// Entitlements, spread over the non-user resources.
    pub entitlements: u32,
    /// Principals: the users.
    pub principals: u32,
    /// Distinct direct grants, at most `entitlements × principals`.
    pub grants: u64,
    /// Fraction (0 to 1) of the grants on group `member` entitlements that nest another
    /// group, through a `GrantExpandable` annotation.
    pub expandable_fraction: f64,
}

impl Default for FixtureSpec {
    fn default() -> Self {
        FixtureSpec {
            seed: 1,
            resource_types: 4,
            resources: 100,
            entitlements: 150,
            principals: 1_000,
            grants: 10_000,
            expandable_fraction: 0.05,
        }
    }
}

/// What [`generate_fixture`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixtureReport {
    /// The finished sync run.
    pub run: SyncRun,
    /// Objects written (resource types, resources, entitlements and grants).
    pub objects: u64,
    /// Grants on group `member` entitlements.
    pub member_grants: u64,
    /// Of those, the grants nesting a group (with a `GrantExpandable` annotation).
    pub expandable_grants: u64,
    /// Of those, the shallow ones.
    pub shallow_grants: u64,
}

fn invalid(message: String) -> Error {
    Error::InvalidArgument(message)
}

impl FixtureSpec {
    /// Objects the fixture has: resource types, resources (users included), entitlements
    /// and grants.
    #[must_use]
    pub fn objects(&self) -> u64 {
        u64::from(self.resource_types)
            + u64::from(self.principals)
            + u64::from(self.resources)
            + u64::from(self.entitlements)
            + self.grants
    }

    /// Checks the counts can be honoured exactly.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`]: fewer than 2 resource types, a fraction outside [0, 1],
    /// entitlements without resources, more grants than `entitlements × principals`, a
    /// count above [`MAX_HELD`], or more nested groups than the groups allow.
    pub fn validate(&self) -> Result<()> {
        self.plan().map(|_| ())
    }

    fn check_counts(&self) -> Result<()> {
        if self.resource_types < 2 {
            return Err(invalid(format!(
                "resource types must be at least 2 (user and group), got {}",
                self.resource_types
            )));
        }
        let f = self.expandable_fraction;
        if !(0.0..=1.0).contains(&f) {
            return Err(invalid(format!(
                "expandable fraction must be between 0 and 1, got {f}"
            )));
        }
        for (what, n) in [
            ("resource types", self.resource_types),
            ("resources", self.resources),
            ("entitlements", self.entitlements),
        ] {
            if n > MAX_HELD {
                return Err(invalid(format!(
                    "{what}: {n} is above the generator's limit of {MAX_HELD}"
                )));
            }
        }
        if self.entitlements > 0 && self.resources == 0 {
            return Err(invalid(format!(
                "{} entitlements need resources to be on, and resources is 0",
                self.entitlements
            )));
        }
        let pairs = u128::from(self.entitlements) * u128::from(self.principals);
        if u128::from(self.grants) > pairs {
            return Err(invalid(format!(
                "{} grants exceed the {pairs} distinct (entitlement, principal) pairs of {} \
                 entitlements × {} principals",
                self.grants, self.entitlements, self.principals
            )));
        }
        Ok(())
    }

    /// The resources of non-user type `t` (1-based type index).
    fn resources_of_type(&self, t: u32) -> u32 {
        let kinds = self.resource_types - 1;
        self.resources / kinds + u32::from(t - 1 < self.resources % kinds)
    }

    /// Entitlements on resource `j` (global non-user index).
    fn slots_of(&self, j: u32) -> u32 {
        if j >= self.entitlements {
            0
        } else {
            (self.entitlements - j).div_ceil(self.resources)
        }
    }

    /// Every count decided before anything is written, so a bad spec writes nothing.
    fn plan(&self) -> Result<Plan> {
        self.check_counts()?;
        let e = self.entitlements as usize;
        // Zipf-like shares over a seeded order of the entitlements, plus a flat part so the
        // tail is not empty: a few big groups and many small ones, as in directories.
        let mut order: Vec<u32> = (0..self.entitlements).collect();
        let mut rng = Rng(self.seed ^ 0x5EED_F1C7_0000_0001);
        for i in (1..order.len()).rev() {
            let j = rng.below(u32::try_from(i + 1).unwrap_or(u32::MAX)) as usize;
            order.swap(i, j);
        }
        const SCALE: u64 = 1 << 32;
        let flat = SCALE / u64::from(self.entitlements.max(1));
        let mut weights = vec![0u64; e];
        for (rank, &k) in order.iter().enumerate() {
            weights[k as usize] = SCALE / (rank as u64 + 1) + flat;
        }
        let caps = vec![u64::from(self.principals); e];
        let quotas = allocate(self.grants, &weights, &caps).ok_or_else(|| {
            invalid(format!(
                "{} grants do not fit {} entitlements × {} principals",
                self.grants, self.entitlements, self.principals
            ))
        })?;
        // Groups are the first non-user resources, so group j's `member` entitlement is
        // entitlement j, for the groups that have one.
        let member_groups = self.resources_of_type(1).min(self.entitlements);
        let member_quotas = &quotas[..member_groups as usize];
        let member_grants: u64 = member_quotas.iter().sum();
        // Rounded to nearest; the fraction is in [0, 1] so the product fits.
        let wanted = (self.expandable_fraction * member_grants as f64).round() as u64;
        // Group j nests only groups after it (a DAG), each at most once.
        let caps: Vec<u64> = member_quotas
            .iter()
            .enumerate()
            .map(|(j, &q)| q.min(u64::from(member_groups) - 1 - j as u64))
            .collect();
        let nested = allocate(wanted, member_quotas, &caps).ok_or_else(|| {
            let room: u64 = caps.iter().sum();
            invalid(format!(
                "expandable fraction {}: {wanted} of the {member_grants} group-membership \
                 grants should nest a group, but the {member_groups} groups with a member \
                 entitlement allow {room} (each group nests only groups after it, once); \
                 lower the fraction or add groups",
                self.expandable_fraction
            ))
        })?;
        Ok(Plan {
            quotas,
            nested,
            member_grants,
        })
    }
}

/// The grant counts: per entitlement, and per group `member` entitlement the nested groups.
struct Plan {
    quotas: Vec<u64>,
    nested: Vec<u64>,
    member_grants: u64,
}

/// Splits `total` over slots in proportion to `weights`, none above its cap, summing to
/// `total` exactly (`None` if the caps do not allow it). Water-filling: each round shares
/// what is left over the slots with room, so capped slots pass their excess on.
fn allocate(total: u64, weights: &[u64], caps: &[u64]) -> Option<Vec<u64>> {
    let room: u128 = caps.iter().map(|&c| u128::from(c)).sum();
    if room < u128::from(total) {
        return None;
    }
    let mut out = vec![0u64; weights.len()];
    let mut left = total;
    while left > 0 {
        let open: Vec<usize> = (0..out.len()).filter(|&i| out[i] < caps[i]).collect();
        let weighted: Vec<usize> = open.iter().copied().filter(|&i| weights[i] > 0).collect();
        // Zero-weight slots take a share only once the weighted ones are full.
        let flat = weighted.is_empty();
        let slots = if flat { &open } else { &weighted };
        let weight = |i: usize| if flat { 1 } else { weights[i] };
        let sum: u128 = slots.iter().map(|&i| u128::from(weight(i))).sum();
        let mut given = 0u64;
        for &i in slots {
            let share = u128::from(left) * u128::from(weight(i)) / sum.max(1);
            let add = u64::try_from(share)
                .unwrap_or(u64::MAX)
                .min(caps[i] - out[i]);
            out[i] += add;
            given += add;
        }
        if given == 0 {
            // Every share rounded down to zero: one more each, in slot order.
            for &i in slots {
                if given == left {
                    break;
                }
                out[i] += 1;
                given += 1;
            }
        }
        left -= given;
    }
    Some(out)
}

/// A seeded permutation of `0..n`: `i ↦ (a·i + b) mod n` with `a` coprime to `n`.
struct Permutation {
    n: u64,
    a: u64,
    b: u64,
}

impl Permutation {
    fn new(n: u64, rng: &mut Rng) -> Self {
        if n <= 1 {
            return Permutation { n, a: 1, b: 0 };
        }
        let mut a = 1 + rng.next() % (n - 1);
        while gcd(a, n) != 1 {
            a = if a + 1 >= n { 1 } else { a + 1 };
        }
        Permutation {
            n,
            a,
            b: rng.next() % n,
        }
    }

    fn at(&self, i: u64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let v = (u128::from(self.a) * u128::from(i) + u128::from(self.b)) % u128::from(self.n);
        u64::try_from(v).unwrap_or(0)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A bijection of `u32` (xor-shifts and odd multiplications).
fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// An Okta-like id (`prefix` + 17 base-62 characters), distinct for distinct `i`: the first
/// 11 characters spell a bijection of `i`.
fn okta_id(prefix: &str, salt: u64, i: u32) -> String {
    let mut s = String::with_capacity(prefix.len() + 17);
    s.push_str(prefix);
    let mut h = mix64(u64::from(i).wrapping_add(salt));
    let mut filler = mix64(h ^ 0x632B_E59B_D9B4_E019);
    for _ in 0..11 {
        s.push(char::from(BASE62[(h % 62) as usize]));
        h /= 62;
    }
    for _ in 0..6 {
        s.push(char::from(BASE62[(filler % 62) as usize]));
        filler /= 62;
    }
    s
}

/// A UUID-shaped id (version 4 layout), distinct for distinct `i`: the first group spells a
/// bijection of `i`.
fn uuid_id(salt: u64, i: u32) -> String {
    let head = mix32(i ^ (salt as u32));
    let tail = mix64(mix64(u64::from(i).wrapping_add(salt)) ^ 0x632B_E59B_D9B4_E019);
    format!(
        "{head:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        tail & 0xffff,
        (tail >> 16) & 0xfff,
        0x8000 | ((tail >> 28) & 0x3fff),
        mix64(tail) & 0xffff_ffff_ffff
    )
}

const FIRST: [&str; 32] = [
    "Ada",
    "Alan",
    "Amara",
    "Aiko",
    "Beatriz",
    "Carlos",
    "Chen",
    "Dmitri",
    "Elena",
    "Farah",
    "Grace",
    "Hiroshi",
    "Ines",
    "Jamal",
    "Katarzyna",
    "Liam",
    "Mei",
    "Nadia",
    "Olusegun",
    "Priya",
    "Quentin",
    "Rosa",
    "Sanjay",
    "Tomasz",
    "Ursula",
    "Valentina",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zainab",
    "Margaret",
    "Christopher",
];
const LAST: [&str; 32] = [
    "Lovelace",
    "Turing",
    "Okafor",
    "Tanaka",
    "Oliveira",
    "Mendoza",
    "Wang",
    "Ivanov",
    "Petrova",
    "Haddad",
    "Hopper",
    "Yamamoto",
    "Fernandes",
    "Abdullah",
    "Nowak",
    "O'Brien",
    "Zhang",
    "Rahman",
    "Adeyemi",
    "Krishnan",
    "Dubois",
    "Garcia",
    "Gupta",
    "Kowalski",
    "Schneider",
    "Rossi",
    "Liu",
    "Hernandez",
    "Demir",
    "Mensah",
    "Hamilton",
    "Vanderberg-Smith",
];
const DEPARTMENTS: [&str; 16] = [
    "Engineering",
    "Finance",
    "Sales",
    "Marketing",
    "Security",
    "Legal",
    "Support",
    "Operations",
    "Data Platform",
    "Human Resources",
    "Infrastructure",
    "Product",
    "Design",
    "Procurement",
    "Customer Success",
    "Research",
];
const TEAMS: [&str; 12] = [
    "All Staff",
    "Admins",
    "On-call",
    "Contractors",
    "Leads",
    "EMEA",
    "North America",
    "APAC",
    "Interns",
    "Reviewers",
    "Release Managers",
    "Break-glass Access",
];
const TITLES: [&str; 8] = [
    "Engineer",
    "Senior Engineer",
    "Manager",
    "Analyst",
    "Director",
    "Specialist",
    "Staff Engineer",
    "Coordinator",
];
const ROLE_LEVELS: [&str; 8] = [
    "Administrator",
    "Read-only Auditor",
    "Billing Manager",
    "Power User",
    "Approver",
    "Developer",
    "Support Agent",
    "Owner",
];
const PRODUCTS: [&str; 16] = [
    "Atlas", "Beacon", "Cobalt", "Drift", "Ember", "Fathom", "Granite", "Harbor", "Ion", "Juniper",
    "Keystone", "Lumen", "Meridian", "Nimbus", "Orbit", "Prism",
];
const ENVIRONMENTS: [&str; 4] = ["Production", "Staging", "Sandbox", "EU Production"];
const EXTRA_TYPES: [(&str, &str); 8] = [
    ("repository", "Repository"),
    ("project", "Project"),
    ("workspace", "Workspace"),
    ("database", "Database"),
    ("vault", "Vault"),
    ("folder", "Folder"),
    ("channel", "Channel"),
    ("dashboard", "Dashboard"),
];

fn pick<'a>(list: &[&'a str], rng: &mut Rng) -> &'a str {
    list[(rng.next() % list.len() as u64) as usize]
}

fn string(v: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(v.to_owned())),
    }
}

fn profile(fields: &[(&str, String)]) -> Struct {
    Struct {
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), string(v)))
            .collect(),
    }
}

/// The type ids and names: `user`, `group`, `role`, `app`, then generic ones.
fn type_of(t: u32) -> (String, String, Option<Trait>) {
    match t {
        0 => ("user".into(), "User".into(), Some(Trait::User)),
        1 => ("group".into(), "Group".into(), Some(Trait::Group)),
        2 => ("role".into(), "Role".into(), Some(Trait::Role)),
        3 => ("app".into(), "App".into(), Some(Trait::App)),
        _ => match EXTRA_TYPES.get(t as usize - 4) {
            Some((id, name)) => ((*id).into(), (*name).into(), None),
            None => (
                format!("resource-type-{t}"),
                format!("Resource type {t}"),
                None,
            ),
        },
    }
}

fn resource_type(t: u32) -> ResourceType {
    let (id, display_name, tr) = type_of(t);
    ResourceType {
        id,
        display_name,
        traits: tr.map(|t| vec![t as i32]).unwrap_or_default(),
        ..Default::default()
    }
}

fn rid(resource_type: &str, id: String) -> ResourceId {
    ResourceId {
        resource_type: resource_type.into(),
        resource: id,
        ..Default::default()
    }
}

/// Per-spec salts, so ids and names differ between seeds.
struct Names {
    seed: u64,
}

impl Names {
    fn salt(&self, kind: u64) -> u64 {
        mix64(self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ kind)
    }

    fn rng(&self, kind: u64, i: u32) -> Rng {
        Rng(self.salt(kind) ^ u64::from(i).wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    fn user_id(&self, i: u32) -> String {
        okta_id("00u", self.salt(0), i)
    }

    fn user(&self, i: u32) -> Resource {
        let mut rng = self.rng(100, i);
        let (first, last) = (pick(&FIRST, &mut rng), pick(&LAST, &mut rng));
        let login = format!(
            "{}.{}{i}@example.com",
            first.to_lowercase(),
            last.to_lowercase().replace(['\'', ' '], "")
        );
        let department = pick(&DEPARTMENTS, &mut rng);
        let title = pick(&TITLES, &mut rng);
        // One in twenty disabled, one in fifty a service account, as directories have.
        let status = if rng.below(20) == 0 {
            user_trait::status::Status::Disabled
        } else {
            user_trait::status::Status::Enabled
        };
        let account_type = if rng.below(50) == 0 {
            AccountType::Service
        } else {
            AccountType::Human
        };
        let traits = UserTrait {
            emails: vec![user_trait::Email {
                address: login.clone(),
                is_primary: true,
            }],
            status: Some(user_trait::Status {
                status: status as i32,
                details: String::new(),
            }),
            profile: Some(profile(&[
                ("first_name", first.to_owned()),
                ("last_name", last.to_owned()),
                ("email", login.clone()),
                ("login", login.clone()),
                ("department", department.to_owned()),
                ("title", title.to_owned()),
                ("employee_number", format!("E{:07}", u64::from(i) + 1_000)),
            ])),
            account_type: account_type as i32,
            login,
            ..Default::default()
        };
        Resource {
            id: Some(rid("user", self.user_id(i))),
            display_name: format!("{first} {last}"),
            annotations: vec![to_any("c1.connector.v2.UserTrait", &traits)],
            ..Default::default()
        }
    }

    /// Resource `i` of non-user type `t`.
    fn resource(&self, t: u32, i: u32) -> Resource {
        let (type_id, type_name, _) = type_of(t);
        let mut rng = self.rng(200 + u64::from(t), i);
        let dept = pick(&DEPARTMENTS, &mut rng);
        let (id, display_name, description, annotation) = match t {
            1 => {
                let name = format!("{dept} {}", pick(&TEAMS, &mut rng));
                let traits = GroupTrait {
                    profile: Some(profile(&[("department", dept.to_owned())])),
                    ..Default::default()
                };
                (
                    okta_id("00g", self.salt(1), i),
                    name.clone(),
                    format!("Members of {name}, managed by {dept}"),
                    Some(to_any("c1.connector.v2.GroupTrait", &traits)),
                )
            }
            2 => {
                let name = format!("{dept} {}", pick(&ROLE_LEVELS, &mut rng));
                let traits = RoleTrait {
                    profile: Some(profile(&[("scope", dept.to_owned())])),
                };
                (
                    uuid_id(self.salt(2), i),
                    name.clone(),
                    format!("Grants the {name} permissions"),
                    Some(to_any("c1.connector.v2.RoleTrait", &traits)),
                )
            }
            3 => {
                let product = pick(&PRODUCTS, &mut rng);
                let name = format!("{product} {}", pick(&ENVIRONMENTS, &mut rng));
                let traits = AppTrait {
                    help_url: format!("https://help.example.com/apps/{}", product.to_lowercase()),
                    ..Default::default()
                };
                (
                    okta_id("0oa", self.salt(3), i),
                    name.clone(),
                    format!("Single sign-on application {name}"),
                    Some(to_any("c1.connector.v2.AppTrait", &traits)),
                )
            }
            _ => (
                uuid_id(self.salt(u64::from(t)), i),
                format!(
                    "{}-{}-{i}",
                    dept.to_lowercase().replace(' ', "-"),
                    pick(&PRODUCTS, &mut rng).to_lowercase()
                ),
                format!("{type_name} owned by {dept}"),
                None,
            ),
        };
        Resource {
            id: Some(rid(&type_id, id)),
            display_name,
            description,
            annotations: annotation.into_iter().collect(),
            ..Default::default()
        }
    }
}

/// The slug of entitlement number `slot` of a resource of type `t`, and its purpose.
fn slug(t: u32, slot: u32) -> (String, PurposeValue) {
    let list: &[&str] = match t {
        1 => &["member", "admin", "owner"],
        2 => &["assigned", "owner"],
        3 => &["read", "admin", "write", "owner"],
        _ => &["read", "write", "admin", "owner"],
    };
    let name = list
        .get(slot as usize)
        .map_or_else(|| format!("permission-{slot}"), |s| (*s).to_owned());
    let purpose = match name.as_str() {
        "member" | "assigned" => PurposeValue::Assignment,
        "owner" => PurposeValue::Ownership,
        _ => PurposeValue::Permission,
    };
    (name, purpose)
}

fn entitlement_id(r: &Resource, slug: &str) -> String {
    r.id.as_ref().map_or_else(String::new, |i| {
        format!("{}:{}:{slug}", i.resource_type, i.resource)
    })
}

/// A full entitlement, as a connector's entitlement listing returns it.
fn entitlement(r: &Resource, t: u32, slot: u32, user_rt: &ResourceType) -> Entitlement {
    let (slug, purpose) = slug(t, slot);
    let mut grantable_to = vec![user_rt.clone()];
    if t == 1 && slot == 0 {
        // Groups nest into a group's membership.
        grantable_to.push(resource_type(1));
    }
    let label = slug.replace('-', " ");
    Entitlement {
        id: entitlement_id(r, &slug),
        display_name: format!("{} {label}", r.display_name),
        description: format!("{label} of {}", r.display_name),
        resource: Some(r.clone()),
        grantable_to,
        purpose: purpose as i32,
        slug,
        ..Default::default()
    }
}

/// A grant as baton's `grant.NewGrant(resource, slug, principal_id)` builds it.
fn grant(resource: &Resource, entitlement_id: &str, principal: ResourceId) -> Grant {
    Grant {
        id: format!(
            "{entitlement_id}:{}:{}",
            principal.resource_type, principal.resource
        ),
        entitlement: Some(Entitlement {
            id: entitlement_id.to_owned(),
            resource: Some(resource.clone()),
            ..Default::default()
        }),
        principal: Some(Resource {
            id: Some(principal),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Batches puts and checkpoints the sync token as a connector's syncer does.
struct Out<'a, 's, W: Writer + ?Sized> {
    run: &'a SyncWriter<'s, W>,
    written: u64,
    at_checkpoint: u64,
    progress: &'a mut dyn FnMut(u64),
}

impl<W: Writer + ?Sized> Out<'_, '_, W> {
    fn wrote(&mut self, n: usize, step: &str) -> Result<()> {
        self.written += n as u64;
        if self.written - self.at_checkpoint >= CHECKPOINT_EVERY {
            self.at_checkpoint = self.written;
            self.run.checkpoint(&format!(
                r#"{{"generator":"c1z fixture","step":"{step}","objects":{}}}"#,
                self.written
            ))?;
        }
        (self.progress)(self.written);
        Ok(())
    }

    fn resources(&mut self, buf: &mut Vec<Resource>, force: bool) -> Result<()> {
        if !buf.is_empty() && (force || buf.len() >= PUT_BATCH) {
            let n = buf.len();
            self.run.put_resources(buf.drain(..))?;
            self.wrote(n, "list-resources")?;
        }
        Ok(())
    }

    fn entitlements(&mut self, buf: &mut Vec<Entitlement>, force: bool) -> Result<()> {
        if !buf.is_empty() && (force || buf.len() >= PUT_BATCH) {
            let n = buf.len();
            self.run.put_entitlements(buf.drain(..))?;
            self.wrote(n, "list-entitlements")?;
        }
        Ok(())
    }

    fn grants(&mut self, buf: &mut Vec<Grant>, force: bool) -> Result<()> {
        if !buf.is_empty() && (force || buf.len() >= PUT_BATCH) {
            let n = buf.len();
            self.run.put_grants(buf.drain(..))?;
            self.wrote(n, "list-grants")?;
        }
        Ok(())
    }
}

/// Writes one finished `full` fixture sync of `spec` into `store`.
///
/// # Errors
/// [`Error::InvalidArgument`] for a spec [`FixtureSpec::validate`] refuses (before anything
/// is written); store errors.
pub fn generate_fixture<W: Writer + ?Sized>(
    store: &W,
    spec: &FixtureSpec,
) -> Result<FixtureReport> {
    generate_fixture_with_progress(store, spec, &mut |_| {})
}

/// [`generate_fixture`], calling `progress` with the number of objects written so far
/// after each put (out of [`FixtureSpec::objects`]).
///
/// # Errors
/// As [`generate_fixture`].
pub fn generate_fixture_with_progress<W: Writer + ?Sized>(
    store: &W,
    spec: &FixtureSpec,
    progress: &mut dyn FnMut(u64),
) -> Result<FixtureReport> {
    let plan = spec.plan()?;
    let names = Names { seed: spec.seed };
    let run = store.start_sync(SyncType::Full, None)?;
    let mut out = Out {
        run: &run,
        written: 0,
        at_checkpoint: 0,
        progress,
    };
    let types: Vec<ResourceType> = (0..spec.resource_types).map(resource_type).collect();
    run.put_resource_types(&types)?;
    out.wrote(types.len(), "list-resource-types")?;

    let mut buf = Vec::with_capacity(PUT_BATCH);
    for i in 0..spec.principals {
        buf.push(names.user(i));
        out.resources(&mut buf, false)?;
    }
    out.resources(&mut buf, true)?;
    // The non-user resources in global order (type by type), with their type index.
    let mut resources: Vec<(u32, Resource)> = Vec::with_capacity(spec.resources as usize);
    for t in 1..spec.resource_types {
        for i in 0..spec.resources_of_type(t) {
            let r = names.resource(t, i);
            buf.push(r.clone());
            resources.push((t, r));
            out.resources(&mut buf, false)?;
        }
        // A connector's resource listing ends with its type.
        out.resources(&mut buf, true)?;
    }

    let mut ents = Vec::with_capacity(PUT_BATCH);
    for (j, (t, r)) in resources.iter().enumerate() {
        let j = j as u32;
        for slot in 0..spec.slots_of(j) {
            ents.push(entitlement(r, *t, slot, &types[0]));
            out.entitlements(&mut ents, false)?;
        }
    }
    out.entitlements(&mut ents, true)?;

    let mut grants = Vec::with_capacity(PUT_BATCH);
    let member_groups = plan.nested.len() as u64;
    let (mut expandable, mut shallow) = (0, 0);
    for (j, (t, r)) in resources.iter().enumerate() {
        for slot in 0..spec.slots_of(j as u32) {
            let k = slot as usize * spec.resources as usize + j;
            let quota = plan.quotas[k];
            let nested = if slot == 0 {
                plan.nested.get(j).copied().unwrap_or(0)
            } else {
                0
            };
            let (slug, _) = slug(*t, slot);
            let ent_id = entitlement_id(r, &slug);
            let mut rng = names.rng(300, k as u32);
            let users = Permutation::new(u64::from(spec.principals), &mut rng);
            for n in 0..quota - nested {
                let u = u32::try_from(users.at(n)).unwrap_or(0);
                grants.push(grant(r, &ent_id, rid("user", names.user_id(u))));
                out.grants(&mut grants, false)?;
            }
            if nested == 0 {
                continue;
            }
            // Nested groups: groups after this one (a DAG), distinct. Only member
            // entitlements (slot 0 of the first `member_groups` resources) get here.
            let after = member_groups - 1 - j as u64;
            let children = Permutation::new(after, &mut rng);
            for n in 0..nested {
                let child = u32::try_from(j as u64 + 1 + children.at(n)).unwrap_or(0);
                let child_r = &resources[child as usize].1;
                let child_id = child_r.id.clone().unwrap_or_default();
                let is_shallow = rng.below(8) == 0;
                let mut g = grant(r, &ent_id, child_id);
                g.annotations.push(to_any(
                    GRANT_EXPANDABLE,
                    &GrantExpandable {
                        entitlement_ids: vec![entitlement_id(child_r, "member")],
                        shallow: is_shallow,
                        ..Default::default()
                    },
                ));
                grants.push(g);
                expandable += 1;
                shallow += u64::from(is_shallow);
                out.grants(&mut grants, false)?;
            }
        }
    }
    out.grants(&mut grants, true)?;
    let objects = out.written;
    let run = run.finish()?;
    Ok(FixtureReport {
        run,
        objects,
        member_grants: plan.member_grants,
        expandable_grants: expandable,
        shallow_grants: shallow,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn allocation_is_exact_and_within_caps() {
        for (total, weights, caps) in [
            (10u64, vec![5u64, 1, 1], vec![4u64, 4, 4]),
            (12, vec![5, 1, 1], vec![4, 4, 4]),
            (7, vec![0, 0, 3], vec![5, 5, 1]),
            (1_000, vec![1 << 32, 1, 1, 1], vec![900, 900, 900, 900]),
            (3, vec![1; 10], vec![1; 10]),
        ] {
            let out = allocate(total, &weights, &caps).unwrap();
            assert_eq!(out.iter().sum::<u64>(), total, "{weights:?}");
            assert!(out.iter().zip(&caps).all(|(o, c)| o <= c), "{out:?}");
        }
        assert!(allocate(13, &[1, 1, 1], &[4, 4, 4]).is_none());
        assert_eq!(allocate(0, &[], &[]), Some(vec![]));
    }

    #[test]
    fn permutations_and_ids_are_distinct() {
        let mut rng = Rng(7);
        for n in [1u64, 2, 12, 97, 1_000] {
            let p = Permutation::new(n, &mut rng);
            let seen: HashSet<u64> = (0..n).map(|i| p.at(i)).collect();
            assert_eq!(seen.len() as u64, n);
            assert!(seen.iter().all(|&v| v < n));
        }
        let okta: HashSet<String> = (0..50_000).map(|i| okta_id("00u", 3, i)).collect();
        let uuids: HashSet<String> = (0..50_000).map(|i| uuid_id(3, i)).collect();
        assert_eq!((okta.len(), uuids.len()), (50_000, 50_000));
        assert!(okta.iter().all(|s| s.len() == 20));
        assert!(uuids.iter().all(|s| s.len() == 36));
    }

    #[test]
    fn bad_specs_are_invalid_arguments() {
        let ok = FixtureSpec::default();
        assert!(ok.validate().is_ok());
        for bad in [
            FixtureSpec {
                resource_types: 1,
                ..ok
            },
            FixtureSpec {
                expandable_fraction: 1.5,
                ..ok
            },
            FixtureSpec {
                expandable_fraction: f64::NAN,
                ..ok
            },
            FixtureSpec {
                grants: u64::from(ok.entitlements) * u64::from(ok.principals) + 1,
                ..ok
            },
            FixtureSpec { resources: 0, ..ok },
            FixtureSpec {
                expandable_fraction: 1.0,
                ..ok
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_plan_honours_the_counts() {
        let spec = FixtureSpec {
            resource_types: 2,
            resources: 40,
            entitlements: 40,
            principals: 300,
            grants: 4_000,
            expandable_fraction: 0.1,
            ..FixtureSpec::default()
        };
        let plan = spec.plan().unwrap();
        assert_eq!(plan.quotas.iter().sum::<u64>(), 4_000);
        assert_eq!(plan.member_grants, 4_000);
        assert_eq!(plan.nested.iter().sum::<u64>(), 400);
        assert!(plan.quotas.iter().all(|&q| q <= 300));
    }
}
