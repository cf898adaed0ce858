//! The protobuf JSON text writer (`c1z::json::JsonType`) against prost-reflect's rendering
//! (`c1z::json::to_json`), as parsed JSON: every object of baton's sample files, random
//! messages of every type in the pool (merged encodings included), and arbitrary bytes,
//! which must never panic.

use std::path::PathBuf;

use c1z::codec::{GRANT_EXPANDABLE, to_any};
use c1z::json::{JsonType, pool, to_json};
use c1z::prelude::*;
use c1z::store::{EntitlementQuery, GrantQuery, ResourceQuery, ResourceTypeQuery, SyncSelector};
use c1z::{C1zFile, Error};
use proptest::prelude::*;
use prost::Message;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value as PValue,
};
use serde_json::Value;

use crate::util::{normalized, samples};

/// Our text, parsed.
fn text_value(full_name: &str, bytes: &[u8]) -> c1z::Result<Value> {
    let text = JsonType::named(full_name)?.to_text(bytes)?;
    Ok(serde_json::from_slice(&text).unwrap_or_else(|e| {
        panic!(
            "{full_name}: not JSON ({e}): {}",
            String::from_utf8_lossy(&text)
        )
    }))
}

/// Both renderings agree, as parsed JSON with numbers compared as doubles.
fn assert_same(full_name: &str, bytes: &[u8]) {
    let want = to_json(full_name, bytes).unwrap();
    let got = text_value(full_name, bytes).unwrap();
    assert_equal(full_name, bytes, got, want);
}

fn assert_equal(full_name: &str, bytes: &[u8], got: Value, want: Value) {
    let (got, want) = (normalized(got), normalized(want));
    assert!(
        same(&got, &want),
        "{full_name}: {}\n  ours: {got}\n  prost-reflect: {want}",
        hex(bytes)
    );
}

/// Equal JSON, doubles within an ulp or so: serde_json's default float parser may round
/// the last digit of the shortest representation the writer prints.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sample_files() -> Vec<PathBuf> {
    let Some(dir) = samples() else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("current"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "c1z"))
        .collect();
    files.extend(
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("sync."))
            }),
    );
    files.sort();
    files
}

#[test]
fn every_sample_object_renders_as_prost_reflect_renders_it() {
    let mut checked = 0usize;
    for path in sample_files() {
        let file = C1zFile::open_read_only(&path).unwrap();
        let s = file.store();
        let all = SyncSelector::All;
        for r in s.stream_resource_types(ResourceTypeQuery { sync: all.clone() }) {
            assert_same(
                "c1.connector.v2.ResourceType",
                &r.unwrap().value.encode_to_vec(),
            );
            checked += 1;
        }
        let q = ResourceQuery {
            sync: all.clone(),
            ..Default::default()
        };
        for r in s.stream_resources(q) {
            assert_same(
                "c1.connector.v2.Resource",
                &r.unwrap().value.encode_to_vec(),
            );
            checked += 1;
        }
        let q = EntitlementQuery {
            sync: all.clone(),
            ..Default::default()
        };
        for r in s.stream_entitlements(q) {
            assert_same(
                "c1.connector.v2.Entitlement",
                &r.unwrap().value.encode_to_vec(),
            );
            checked += 1;
        }
        let q = GrantQuery {
            sync: all.clone(),
            ..Default::default()
        };
        for g in s.stream_grants(q) {
            let g = g.unwrap();
            let mut grant = g.grant.clone();
            assert_same("c1.connector.v2.Grant", &grant.encode_to_vec());
            if let Some(x) = &g.expansion {
                grant.annotations.push(to_any(GRANT_EXPANDABLE, x));
                assert_same("c1.connector.v2.Grant", &grant.encode_to_vec());
            }
            checked += 1;
        }
    }
    if samples().is_some() {
        assert!(checked > 10_000, "only {checked} objects checked");
    }
}

/// A small deterministic generator (proptest supplies the seeds, and reports the failing
/// one).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn string(&mut self) -> String {
        const CHARS: &[char] = &[
            'a', 'b', 'z', 'A', '0', '_', '-', ':', '/', ' ', '"', '\\', '\n', '\t', '\u{1}',
            '\u{1f}', 'é', '€', '😀', '\u{2028}',
        ];
        let n = self.below(8);
        (0..n)
            .map(|_| CHARS[self.below(CHARS.len() as u64) as usize])
            .collect()
    }

    fn bytes(&mut self) -> Vec<u8> {
        let n = self.below(10);
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// An integer of interesting size: small, large, negative, extreme.
    fn int(&mut self) -> u64 {
        match self.below(6) {
            0 => 0,
            1 => self.below(10),
            2 => self.below(1 << 20),
            3 => u64::MAX - self.below(5),
            4 => 1 << self.below(64),
            _ => self.next(),
        }
    }

    fn double(&mut self) -> f64 {
        const VALUES: &[f64] = &[
            0.0,
            1.0,
            -2.5,
            0.1,
            55.0,
            1e21,
            1.5e-7,
            123_456.789,
            -1e300,
            5e-324,
        ];
        VALUES[self.below(VALUES.len() as u64) as usize]
    }
}

/// Messages an `Any` may carry in these tests.
fn any_types() -> Vec<MessageDescriptor> {
    pool()
        .all_messages()
        .filter(|m| !m.is_map_entry())
        .filter(|m| {
            let n = m.full_name();
            n.starts_with("c1.connector.v2.")
                || matches!(
                    n,
                    "google.protobuf.Timestamp"
                        | "google.protobuf.Struct"
                        | "google.protobuf.Value"
                        | "google.protobuf.ListValue"
                        | "google.protobuf.Any"
                )
        })
        .collect()
}

/// The encoding of a random message of type `desc`.
fn random_bytes(g: &mut Gen, desc: &MessageDescriptor, depth: u32) -> Vec<u8> {
    match desc.full_name() {
        "google.protobuf.Timestamp" => {
            return prost_types::Timestamp {
                seconds: g.below(253_402_300_799) as i64 - g.below(62_135_596_800) as i64,
                nanos: [0, 5_000_000, 123_000, 7][g.below(4) as usize],
            }
            .encode_to_vec();
        }
        "google.protobuf.Duration" => {
            let seconds = g.below(1 << 20) as i64;
            let nanos = [0, 5_000_000, 123_000, 7][g.below(4) as usize];
            let sign = if g.chance(30) { -1 } else { 1 };
            return prost_types::Duration {
                seconds: sign * seconds,
                nanos: sign as i32 * nanos,
            }
            .encode_to_vec();
        }
        "google.protobuf.FieldMask" => {
            const PARTS: &[&str] = &["a", "foo_bar", "x.y_z", "grant.id"];
            let n = g.below(3);
            return prost_types::FieldMask {
                paths: (0..n)
                    .map(|_| PARTS[g.below(PARTS.len() as u64) as usize].to_owned())
                    .collect(),
            }
            .encode_to_vec();
        }
        "google.protobuf.Any" => {
            let types = any_types();
            let t = &types[g.below(types.len() as u64) as usize];
            let value = if depth > 2 && t.full_name() == "google.protobuf.Any" {
                prost_types::Any {
                    type_url: "type.googleapis.com/c1.connector.v2.GrantImmutable".into(),
                    value: Vec::new(),
                }
                .encode_to_vec()
            } else {
                random_bytes(g, t, depth + 1)
            };
            return prost_types::Any {
                type_url: format!("type.googleapis.com/{}", t.full_name()),
                value,
            }
            .encode_to_vec();
        }
        _ => {}
    }
    random_message(g, desc, depth).encode_to_vec()
}

fn random_message(g: &mut Gen, desc: &MessageDescriptor, depth: u32) -> DynamicMessage {
    let mut m = DynamicMessage::new(desc.clone());
    for f in desc.fields() {
        if !g.chance(if depth > 3 { 15 } else { 60 }) {
            continue;
        }
        let v = if f.is_map() {
            let Kind::Message(entry) = f.kind() else {
                continue;
            };
            let (kf, vf) = (entry.map_entry_key_field(), entry.map_entry_value_field());
            let n = g.below(3);
            let map = (0..n)
                .map(|_| (random_key(g, &kf), random_value(g, &vf, depth)))
                .collect();
            PValue::Map(map)
        } else if f.is_list() {
            let n = g.below(4);
            PValue::List((0..n).map(|_| random_value(g, &f, depth)).collect())
        } else {
            random_value(g, &f, depth)
        };
        m.set_field(&f, v);
    }
    m
}

fn random_key(g: &mut Gen, f: &FieldDescriptor) -> MapKey {
    match f.kind() {
        Kind::String => MapKey::String(g.string()),
        Kind::Bool => MapKey::Bool(g.chance(50)),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(g.int() as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(g.int() as i64),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(g.int() as u32),
        _ => MapKey::U64(g.int()),
    }
}

fn random_value(g: &mut Gen, f: &FieldDescriptor, depth: u32) -> PValue {
    match f.kind() {
        Kind::Double => PValue::F64(g.double()),
        // Floats exactly representable in few digits (prost-reflect widens them to f64).
        Kind::Float => PValue::F32([0.0f32, 1.5, -2.0, 1024.25][g.below(4) as usize]),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => PValue::I32(g.int() as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => PValue::I64(g.int() as i64),
        Kind::Uint32 | Kind::Fixed32 => PValue::U32(g.int() as u32),
        Kind::Uint64 | Kind::Fixed64 => PValue::U64(g.int()),
        Kind::Bool => PValue::Bool(g.chance(50)),
        Kind::String => PValue::String(g.string()),
        Kind::Bytes => PValue::Bytes(g.bytes().into()),
        Kind::Enum(e) => {
            let values: Vec<i32> = e.values().map(|v| v.number()).collect();
            if g.chance(10) {
                PValue::EnumNumber(1000 + g.below(5) as i32)
            } else {
                PValue::EnumNumber(values[g.below(values.len() as u64) as usize])
            }
        }
        Kind::Message(m) => {
            let bytes = if depth > 4 && m.full_name() == "google.protobuf.Any" {
                prost_types::Any {
                    type_url: "type.googleapis.com/c1.connector.v2.GrantImmutable".into(),
                    value: Vec::new(),
                }
                .encode_to_vec()
            } else if depth > 4 {
                Vec::new()
            } else {
                random_bytes(g, &m, depth + 1)
            };
            PValue::Message(DynamicMessage::decode(m, &bytes[..]).unwrap())
        }
    }
}

/// Types the random tests cover: every message of the pool but map entries.
fn all_types() -> Vec<MessageDescriptor> {
    pool()
        .all_messages()
        .filter(|m| !m.is_map_entry())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random messages of every type, and the merge of two (their concatenation: repeated
    /// fields split on the wire, singular messages merged, oneofs switched, map keys
    /// repeated), render as prost-reflect renders them.
    #[test]
    fn random_messages_render_as_prost_reflect_renders_them(seed in any::<u64>()) {
        let mut g = Gen(seed);
        for desc in all_types() {
            let a = random_bytes(&mut g, &desc, 0);
            assert_same(desc.full_name(), &a);
            let b = random_bytes(&mut g, &desc, 0);
            let mut merged = a.clone();
            merged.extend_from_slice(&b);
            // A merged Any may pair one type's URL with another's value: both then fail.
            check_agreement(desc.full_name(), &merged);
        }
    }

    /// Arbitrary bytes, and damaged valid encodings, never panic: either both renderings
    /// fail or both agree.
    #[test]
    fn arbitrary_bytes_never_panic(
        seed in any::<u64>(),
        noise in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut g = Gen(seed);
        let types = all_types();
        for _ in 0..8 {
            let desc = &types[g.below(types.len() as u64) as usize];
            let mut bytes = random_bytes(&mut g, desc, 0);
            match g.below(4) {
                0 => bytes.clone_from(&noise),
                1 if !bytes.is_empty() => {
                    let at = g.below(bytes.len() as u64) as usize;
                    bytes[at] ^= 1 << g.below(8);
                }
                2 => {
                    let at = g.below(bytes.len() as u64 + 1) as usize;
                    bytes.truncate(at);
                }
                _ => bytes.extend_from_slice(&noise),
            }
            check_agreement(desc.full_name(), &bytes);
        }
    }
}

/// Whether `error` (ours) refuses a map field's entry for its wire type: prost-reflect reads
/// any wire type of a map field as a length-delimited entry (protobuf and Go refuse it).
fn map_with_wrong_wire_type(error: &str) -> bool {
    prost_map_with_wrong_wire_type(error) || {
        let Some((_, rest)) = error.split_once("invalid wire type ") else {
            return false;
        };
        ours_map_with_wrong_wire_type(rest)
    }
}

/// The same refusal in prost's words, for the well-known types the writer decodes with
/// prost (`Struct.fields: invalid wire type: Varint (expected LengthDelimited)`).
fn prost_map_with_wrong_wire_type(error: &str) -> bool {
    let Some((before, after)) = error.split_once(": invalid wire type: ") else {
        return false;
    };
    if !after.contains("(expected LengthDelimited)") {
        return false;
    }
    let path = before.rsplit(": ").next().unwrap_or("");
    let Some((message, field)) = path.rsplit_once('.') else {
        return false;
    };
    pool()
        .all_messages()
        .any(|m| m.name() == message && m.get_field_by_name(field).is_some_and(|f| f.is_map()))
}

fn ours_map_with_wrong_wire_type(rest: &str) -> bool {
    let Some((_, rest)) = rest.split_once(" for field ") else {
        return false;
    };
    let Some((number, rest)) = rest.split_once(" of ") else {
        return false;
    };
    let Some((message, _)) = rest.split_once(" (expected 2)") else {
        return false;
    };
    number.parse().ok().is_some_and(|n| {
        pool()
            .get_message_by_name(message)
            .and_then(|m| m.get_field(n))
            .is_some_and(|f| f.is_map())
    })
}

/// Where prost-reflect renders `bytes`, the text writer renders the same; where it fails,
/// the text writer fails too (with a typed error). Two exceptions: an empty `Any`, which
/// Go's protojson renders as `{}`, and a map entry of the wrong wire type, which
/// prost-reflect accepts.
fn check_agreement(full_name: &str, bytes: &[u8]) {
    let ours = text_value(full_name, bytes);
    match (to_json(full_name, bytes), ours) {
        (Ok(want), Ok(got)) => assert_equal(full_name, bytes, got, want),
        (Err(_), Err(e)) => assert!(matches!(e, Error::Corrupt { .. }), "{e}"),
        (Ok(want), Err(e)) => assert!(
            map_with_wrong_wire_type(&e.to_string()),
            "{full_name}: {e}, prost-reflect: {want} ({})",
            hex(bytes)
        ),
        (Err(e), Ok(got)) => assert!(
            e.to_string().contains("type url '': missing"),
            "{full_name}: prost-reflect fails ({e}) where we render {got} ({})",
            hex(bytes)
        ),
    }
}

#[test]
fn special_values_render_as_protojson() {
    use c1z::pb::c1::connector::v2::{Grant, GrantExpandable, Resource, ResourceId};
    // An Any of a type the pool lacks is a typed error, as in prost-reflect.
    let g = Grant {
        id: "g".into(),
        annotations: vec![prost_types::Any {
            type_url: "type.googleapis.com/no.such.Type".into(),
            value: vec![8, 1],
        }],
        ..Default::default()
    };
    let err = JsonType::named("c1.connector.v2.Grant")
        .unwrap()
        .to_text(&g.encode_to_vec())
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("no.such.Type"), "{err}");
    // Malformed bytes: typed errors.
    for bad in [
        &[0xff][..],
        &[0x0a, 0x05, 0x01],
        &[0x1a, 0x02, 0xc3, 0x28],
        &[0x00],
    ] {
        let err = JsonType::named("c1.connector.v2.Grant")
            .unwrap()
            .to_text(bad)
            .unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    }
    assert!(JsonType::named("no.such.Type").is_err());
    // Non-contiguous repeated fields, in one array; 64-bit integers as strings; base64.
    let r = Resource {
        id: Some(ResourceId {
            resource_type: "user".into(),
            resource: "a".into(),
            ..Default::default()
        }),
        annotations: vec![to_any(
            GRANT_EXPANDABLE,
            &GrantExpandable {
                entitlement_ids: vec!["e1".into()],
                ..Default::default()
            },
        )],
        ..Default::default()
    };
    let mut bytes = r.encode_to_vec();
    bytes.extend(r.encode_to_vec());
    let v = text_value("c1.connector.v2.Resource", &bytes).unwrap();
    assert_eq!(v["annotations"].as_array().unwrap().len(), 2);
    assert_eq!(v["id"]["resource"], "a");
    assert_same("c1.connector.v2.Resource", &bytes);
    let ts = prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 5_000_000,
    };
    assert_eq!(
        text_value("google.protobuf.Timestamp", &ts.encode_to_vec()).unwrap(),
        "2023-11-14T22:13:20.005Z"
    );
    let big = prost_types::Timestamp {
        seconds: i64::MAX,
        nanos: 0,
    };
    assert!(text_value("google.protobuf.Timestamp", &big.encode_to_vec()).is_err());
    // Deep nesting is refused, not a stack overflow.
    let mut deep: Vec<u8> = Vec::new();
    for _ in 0..10_000 {
        let mut outer = vec![0x0a];
        prost::encoding::encode_varint(deep.len() as u64, &mut outer);
        outer.extend_from_slice(&deep);
        deep = outer;
        if deep.len() > 200_000 {
            break;
        }
    }
    assert!(text_value("google.protobuf.Struct", &deep).is_err());
    let mut deep_struct = Vec::new();
    for _ in 0..2_000 {
        // ListValue{values: [Value{list_value: <deep>}]}
        let mut value = vec![0x32];
        prost::encoding::encode_varint(deep_struct.len() as u64, &mut value);
        value.extend_from_slice(&deep_struct);
        let mut list = vec![0x0a];
        prost::encoding::encode_varint(value.len() as u64, &mut list);
        list.extend_from_slice(&value);
        deep_struct = list;
    }
    assert!(text_value("google.protobuf.ListValue", &deep_struct).is_err());
    let mut any = Vec::new();
    for _ in 0..2_000 {
        any = prost_types::Any {
            type_url: "type.googleapis.com/google.protobuf.Any".into(),
            value: any,
        }
        .encode_to_vec();
    }
    assert!(text_value("google.protobuf.Any", &any).is_err());
}

/// A listing whose principals outnumber the lookups' miss threshold (so they are preloaded
/// by one scan) gives the rows that uncached lookups give, byte for byte, and the JSON
/// of each object is prost-reflect's.
#[test]
fn grant_rows_with_preloaded_principals_equal_uncached_rows() {
    use c1z::engine::EngineKind;
    use c1z::listing::Lookups;
    use c1z::{SyncType, WriterExt};

    use crate::util::{entitlement, fresh, grant, resource, resource_type};

    for engine in [EngineKind::Sqlite, EngineKind::Rocks] {
        let f = fresh(engine);
        let store = f.store();
        let sync = store.start_sync(SyncType::Full, None).unwrap();
        sync.put_resource_types(&[resource_type("user"), resource_type("group")])
            .unwrap();
        let users: Vec<_> = (0..5_000)
            .map(|i| resource("user", &format!("u{i:05}")))
            .collect();
        sync.put_resources(&users).unwrap();
        let groups: Vec<_> = (0..3)
            .map(|i| resource("group", &format!("g{i}")))
            .collect();
        sync.put_resources(&groups).unwrap();
        let ents: Vec<_> = (0..3)
            .map(|i| entitlement("group", &format!("g{i}"), "member"))
            .collect();
        sync.put_entitlements(&ents).unwrap();
        let mut grants = Vec::new();
        for (i, e) in ents.iter().enumerate() {
            for u in (i..5_000).step_by(2) {
                grants.push(grant(e, "user", &format!("u{u:05}")));
            }
        }
        // A principal the sync lacks: baton's placeholder.
        grants.push(grant(&ents[0], "user", "ghost"));
        sync.put_grants(&grants).unwrap();
        let run = sync.finish().unwrap();
        let sel = SyncSelector::Id(run.id.clone());
        let mut cached = Lookups::new(store, sel.clone());
        let mut uncached = Lookups::with_cache_budget(store, sel.clone(), 0);
        let q = GrantQuery {
            sync: sel.clone(),
            ..Default::default()
        };
        let mut n = 0;
        for g in store.stream_grants(q) {
            let g = g.unwrap();
            let (a, b) = (
                cached.grant_row(&g).unwrap(),
                uncached.grant_row(&g).unwrap(),
            );
            let (mut ta, mut tb) = (Vec::new(), Vec::new());
            a.write_json(&mut ta);
            b.write_json(&mut tb);
            assert_eq!(ta, tb, "{engine:?}: {}", g.grant.id);
            let want = normalized(cached.grant_json(&g).unwrap());
            assert!(same(&normalized(a.get("grant").unwrap().clone()), &want));
            n += 1;
        }
        assert_eq!(n, grants.len());
        let stats = cached.cache_stats();
        assert!(
            stats.resource_misses < 4_200,
            "{engine:?}: principals were not preloaded: {stats:?}"
        );
        let ghost = GrantQuery {
            sync: sel,
            principal: Some(c1z::ResourceKey::new("user", "ghost")),
            ..Default::default()
        };
        let g = store.stream_grants(ghost).next().unwrap().unwrap();
        let row = cached.grant_row(&g).unwrap();
        assert_eq!(
            row.get("principal").unwrap()["displayName"],
            "MISSING RESOURCE (user:ghost)"
        );
    }
}

/// Found by `arbitrary_bytes_never_panic`: a `Struct` (inside a `SecretTrait`) whose
/// `fields` map entry has the wrong wire type. prost-reflect renders it; the writer
/// refuses it in prost's words. Both are acceptable (see `map_with_wrong_wire_type`).
#[test]
fn a_struct_map_entry_of_the_wrong_wire_type_is_refused_or_rendered() {
    let unhex = |h: &str| {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
    };
    for h in [
        "0a1e08070a013a12022a000a130a091f2f202d41e280a87a120632040a0208001207088fd5facbdc06220b08a997df80a70510f8c0072a180a0ef09f9880e280a8c3a9f09f98803012047a2d61411801",
        "0a1e08130a091f2f202d41e280a87a120632040a0208000a070a013a12022a001207088fd5facbdc06220b08a997df80a70510f8c0072a180a0ef09f9880e280a8c3a9f09f98803012047a2d61411801",
    ] {
        check_agreement("c1.connector.v2.SecretTrait", &unhex(h));
    }
}
