//! Identifiers and rows shared by every engine: sync ids and types, wall-clock timestamps,
//! sync-run rows, and stored records wrapping the `c1.connector.v2` messages.

use std::fmt;

use chrono::{DateTime, NaiveDateTime};

use crate::pb::c1::connector::v2::{Entitlement, Grant, GrantExpandable, Resource, ResourceType};

/// A sync run's id: a KSUID string (27 base62 characters) in files c1z or baton write.
///
/// Ids read from a file are kept verbatim, even if they are not valid KSUIDs.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SyncId(String);

impl SyncId {
    /// A fresh, time-sortable KSUID (Segment-compatible: 4-byte seconds since 2014-05-13 +
    /// 16 random bytes, base62).
    #[must_use]
    pub fn generate() -> Self {
        use svix_ksuid::KsuidLike;
        SyncId(svix_ksuid::Ksuid::new::<std::time::SystemTime>(None, None).to_string())
    }

    /// Wraps an id read from a file or given by a user.
    pub fn new(id: impl Into<String>) -> Self {
        SyncId(id.into())
    }

    /// A stored optional id: the empty string means none.
    pub(crate) fn non_empty(id: String) -> Option<Self> {
        (!id.is_empty()).then_some(SyncId(id))
    }

    /// The id text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The UTC second embedded in the KSUID, or `None` if the id is not a KSUID.
    #[must_use]
    pub fn ksuid_time(&self) -> Option<DateTime<chrono::Utc>> {
        use svix_ksuid::KsuidLike;
        let k: svix_ksuid::Ksuid = self.0.parse().ok()?;
        let secs = k.timestamp_seconds();
        DateTime::from_timestamp(secs, 0)
    }
}

impl fmt::Display for SyncId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SyncId {
    fn from(s: &str) -> Self {
        SyncId(s.to_owned())
    }
}

/// The kinds of sync run baton defines. Stored as text (`full`, `partial`, ...).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SyncType {
    /// A complete snapshot.
    Full,
    /// A targeted sync of a subset, with the latest full sync as parent.
    Partial,
    /// Resource types and resources only.
    ResourcesOnly,
    /// The added or changed rows of a diff (parent = the base sync).
    PartialUpserts,
    /// The removed rows of a diff (parent = the base sync).
    PartialDeletions,
}

impl SyncType {
    /// Every sync type, in baton's enum order.
    pub const ALL: [SyncType; 5] = [
        SyncType::Full,
        SyncType::Partial,
        SyncType::ResourcesOnly,
        SyncType::PartialUpserts,
        SyncType::PartialDeletions,
    ];

    /// The text stored in `v1_sync_runs.sync_type`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SyncType::Full => "full",
            SyncType::Partial => "partial",
            SyncType::ResourcesOnly => "resources_only",
            SyncType::PartialUpserts => "partial_upserts",
            SyncType::PartialDeletions => "partial_deletions",
        }
    }

    /// Parses the stored text; `None` for unknown values (and for `""`, baton's "any").
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        SyncType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether a sync of this type may (and for partial types, usually does) have a parent.
    #[must_use]
    pub fn allows_parent(self) -> bool {
        !matches!(self, SyncType::Full | SyncType::ResourcesOnly)
    }
}

impl fmt::Display for SyncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SyncType {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        SyncType::parse(s).ok_or_else(|| {
            crate::Error::InvalidArgument(format!(
                "unknown sync type '{s}' (expected full, partial, resources_only, \
                 partial_upserts or partial_deletions)"
            ))
        })
    }
}

/// Wall-clock timestamps as baton stores them: local time of the writing process, no zone,
/// text `YYYY-MM-DD HH:MM:SS[.fffffffff]` with trailing fractional zeros removed.
pub mod wall {
    use chrono::{DateTime, NaiveDateTime};

    /// The current local wall-clock time.
    #[must_use]
    pub fn now() -> NaiveDateTime {
        chrono::Local::now().naive_local()
    }

    /// Formats in baton's canonical layout (Go `2006-01-02 15:04:05.999999999`).
    #[must_use]
    pub fn format(t: &NaiveDateTime) -> String {
        let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
        let nanos = chrono::Timelike::nanosecond(t) % 1_000_000_000;
        if nanos != 0 {
            let frac = format!("{nanos:09}");
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        s
    }

    /// Parses every layout baton's SQLite driver accepts for `datetime` columns. A zone
    /// suffix is dropped (the wall clock as written is kept), as is a trailing `Z`.
    #[must_use]
    pub fn parse(s: &str) -> Option<NaiveDateTime> {
        if let Some(t) = super::parse_canonical(s.as_bytes()) {
            return Some(t);
        }
        let s = s.trim();
        let s = s.strip_suffix('Z').unwrap_or(s);
        for layout in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%:z"] {
            if let Ok(t) = DateTime::parse_from_str(s, layout) {
                return Some(t.naive_local());
            }
        }
        for layout in [
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M",
        ] {
            if let Ok(t) = NaiveDateTime::parse_from_str(s, layout) {
                return Some(t);
            }
        }
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    }
}

/// `YYYY-MM-DD HH:MM:SS[.f…]` (1–9 fraction digits), the layout c1z and baton write, read
/// without chrono's format machinery: it is parsed once per row of every SQLite read.
/// Anything else is `None` (the general layouts then apply).
fn parse_canonical(b: &[u8]) -> Option<NaiveDateTime> {
    fn num(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    }
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(digits)? * 10u32.pow(9 - u32::try_from(digits.len()).ok()?)
        }
        _ => return None,
    };
    let year = i32::try_from(num(&b[0..4])?).ok()?;
    chrono::NaiveDate::from_ymd_opt(year, num(&b[5..7])?, num(&b[8..10])?)?.and_hms_nano_opt(
        num(&b[11..13])?,
        num(&b[14..16])?,
        num(&b[17..19])?,
        nanos,
    )
}

/// One row of the sync-run table.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SyncRun {
    /// The run's id.
    pub id: SyncId,
    /// The stored type text; see [`SyncRun::kind`]. Unknown values are kept verbatim.
    pub sync_type: String,
    /// When the run started (writer's local wall clock).
    pub started_at: NaiveDateTime,
    /// When it ended; `None` while it is open.
    pub ended_at: Option<NaiveDateTime>,
    /// The checkpoint token (the syncer's resumable state; `""` for a fresh run).
    pub sync_token: String,
    /// The base sync of partial and diff runs.
    pub parent_sync_id: Option<SyncId>,
    /// The partner of a `partial_upserts` / `partial_deletions` pair.
    pub linked_sync_id: Option<SyncId>,
    /// Set once expansion metadata is complete (prerequisite for diffs).
    pub supports_diff: bool,
    /// Cached stats JSON as stored (baton's `encoding/json` of `SyncStats`), if any.
    pub stats: Option<String>,
    /// Provenance marker of a post-collection invariant pass (three text columns).
    pub ingest_invariant: IngestInvariant,
}

impl SyncRun {
    /// A new, open run of type `ty` started now: no token, parent, link or stats.
    #[must_use]
    pub fn open(id: SyncId, ty: SyncType) -> Self {
        SyncRun {
            id,
            sync_type: ty.as_str().to_owned(),
            started_at: wall::now(),
            ended_at: None,
            sync_token: String::new(),
            parent_sync_id: None,
            linked_sync_id: None,
            supports_diff: false,
            stats: None,
            ingest_invariant: IngestInvariant::default(),
        }
    }

    /// The sync type, or `None` for a value this build does not know.
    #[must_use]
    pub fn kind(&self) -> Option<SyncType> {
        SyncType::parse(&self.sync_type)
    }

    /// Whether the run has ended.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.ended_at.is_some()
    }
}

/// The `ingest_invariant_*` columns of a sync run, kept verbatim (`""` when unverified).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct IngestInvariant {
    /// `ingest_invariant_generation`.
    pub generation: String,
    /// `ingest_invariant_coverage` (a JSON array of strings, or `""`).
    pub coverage: String,
    /// `ingest_invariant_mode`.
    pub mode: String,
}

/// A stored object with the time it was first written in its sync.
#[derive(Clone, PartialEq, Debug)]
pub struct Record<T> {
    /// The object.
    pub value: T,
    /// First-write time in this sync (writer's local wall clock).
    pub discovered_at: NaiveDateTime,
}

impl<T> Record<T> {
    /// A record discovered now.
    pub fn now(value: T) -> Self {
        Record {
            value,
            discovered_at: wall::now(),
        }
    }
}

/// A stored grant: the grant (never carrying a `GrantExpandable` annotation), its expansion
/// edge definition if any, and the `needs_expansion` flag.
#[derive(Clone, PartialEq, Debug)]
pub struct GrantRecord {
    /// The grant, with every `GrantExpandable` annotation removed.
    pub grant: Grant,
    /// The expansion edges this grant defines (`v1_grants.expansion`).
    pub expansion: Option<GrantExpandable>,
    /// `v1_grants.needs_expansion`.
    pub needs_expansion: bool,
    /// First-write time in this sync.
    pub discovered_at: NaiveDateTime,
}

/// A stored asset (for example an icon).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Asset {
    /// `AssetRef.id`.
    pub id: String,
    /// MIME type; `"unknown"` when the writer gave none.
    pub content_type: String,
    /// Raw bytes.
    pub data: Vec<u8>,
    /// First-write time in this sync.
    pub discovered_at: NaiveDateTime,
}

/// A resource identity: (resource type id, resource id).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ResourceKey {
    /// Resource type id, e.g. `group`.
    pub resource_type: String,
    /// Resource id within the type.
    pub resource: String,
}

impl ResourceKey {
    /// Builds a key.
    pub fn new(resource_type: impl Into<String>, resource: impl Into<String>) -> Self {
        ResourceKey {
            resource_type: resource_type.into(),
            resource: resource.into(),
        }
    }

    /// The key of a `ResourceId` message.
    #[must_use]
    pub fn of(id: &crate::pb::c1::connector::v2::ResourceId) -> Self {
        ResourceKey::new(id.resource_type.clone(), id.resource.clone())
    }

    /// Baton's resource external id, `"<type>:<id>"`.
    #[must_use]
    pub fn external_id(&self) -> String {
        format!("{}:{}", self.resource_type, self.resource)
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource_type, self.resource)
    }
}

/// Convenience aliases for stored connector objects.
pub type ResourceTypeRecord = Record<ResourceType>;
/// A stored resource.
pub type ResourceRecord = Record<Resource>;
/// A stored entitlement.
pub type EntitlementRecord = Record<Entitlement>;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_canonical_fast_path_agrees_with_chrono() {
        for s in [
            "2026-11-22 14:45:44",
            "2026-11-22 14:45:44.5",
            "2026-11-22 14:45:44.000123",
            "2026-11-22 14:45:44.779799210",
            "0001-01-01 00:00:00",
        ] {
            assert_eq!(
                parse_canonical(s.as_bytes()),
                Some(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()),
                "{s}"
            );
        }
        for s in [
            "2026-13-01 00:00:00",
            "2026-02-30 00:00:00",
            "2026-01-01 24:00:00",
            "2026-01-01T00:00:00",
            "2026-01-01 00:00:00.",
            "2026-01-01 00:00:00.1234567890",
            "2026-01-01 00:00:00+02:00",
            "2026-01-01 0a:00:00",
            "+026-01-01 00:00:00",
        ] {
            assert_eq!(parse_canonical(s.as_bytes()), None, "{s}");
        }
        // The general layouts still apply where the fast path declines.
        assert_eq!(
            wall::parse("2026-01-01T10:00:00Z"),
            wall::parse("2026-01-01 10:00:00")
        );
        assert_eq!(
            wall::parse("2026-01-01 10:00:00+02:00"),
            wall::parse("2026-01-01 10:00:00")
        );
    }

    proptest! {
        #[test]
        fn formatted_times_parse_back(secs in 0i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
            let t = chrono::DateTime::from_timestamp(secs, nanos).unwrap().naive_utc();
            prop_assert_eq!(wall::parse(&wall::format(&t)), Some(t));
            prop_assert_eq!(parse_canonical(wall::format(&t).as_bytes()), Some(t));
        }
    }
}
