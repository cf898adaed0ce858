//! The hostile-file corpus: damaged and hostile variants generated from valid files of
//! every format and engine c1z opens (SQLite v1, RocksDB v3 as tar + zstd and as tar,
//! baton's v1 and Pebble files as indexed zstd and as tar). Each case is opened read-only
//! and read in full, and must end in a typed error or in exactly the original content
//! (where the damage is harmless); never a panic, never a silently different content; the
//! input is unchanged and the temp directory is removed.
//!
//! The tally of every class is printed (`cargo test corpus -- --nocapture`).

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;

use c1z::engine::EngineKind;
use c1z::format::{v1::DecodeLimits, v3, v3_payload};
use c1z::pb::c1::c1z::v3::{C1zManifestV3, PayloadEncoding};
use c1z::prelude::*;
use c1z::{
    AssetQuery, C1zFile, EntitlementQuery, GrantQuery, OpenOptions, ResourceQuery,
    ResourceTypeQuery, SyncSelector,
};
use proptest::prelude::*;
use prost::Message;

use crate::util::{Rng, samples};
use crate::v3::{envelope, raw_tar};

/// Every case's decoded size is capped well below what the tests can afford.
const MAX_DECODED: u64 = 256 << 20;

/// One damaged file.
struct Case {
    class: &'static str,
    name: String,
    bytes: Vec<u8>,
}

/// A valid file to damage: its bytes and its content.
struct Base {
    name: &'static str,
    bytes: Vec<u8>,
    content: Vec<String>,
}

/// Everything a full read returns: each sync run and every row of it, in order.
fn content(file: &C1zFile) -> c1z::Result<Vec<String>> {
    let store = file.store();
    let mut out = Vec::new();
    for run in store.sync_runs()? {
        out.push(format!("{run:?}"));
        let sync = SyncSelector::Id(run.id.clone());
        for t in store.stream_resource_types(ResourceTypeQuery { sync: sync.clone() }) {
            out.push(format!("{:?}", t?));
        }
        let query = ResourceQuery {
            sync: sync.clone(),
            ..Default::default()
        };
        for r in store.stream_resources(query) {
            out.push(format!("{:?}", r?));
        }
        let query = EntitlementQuery {
            sync: sync.clone(),
            ..Default::default()
        };
        for e in store.stream_entitlements(query) {
            out.push(format!("{:?}", e?));
        }
        let query = GrantQuery {
            sync: sync.clone(),
            ..Default::default()
        };
        for g in store.stream_grants(query) {
            out.push(format!("{:?}", g?));
        }
        for a in store.stream_assets(AssetQuery { sync }) {
            out.push(format!("{:?}", a?));
        }
    }
    Ok(out)
}

/// How a case ended.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
enum Outcome {
    /// A typed error (the variant's name).
    Error(String),
    /// Opened and read in full, content equal to the original's.
    OpenedCorrectly,
}

fn variant(e: &c1z::Error) -> String {
    let debug = format!("{e:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Opens `bytes` read-only in its own directory and reads everything. Problems that are
/// failures of the test (panic, silent change, input modified, temp left) are `Err`.
fn run_case(bytes: &[u8], expected: &[String]) -> Result<Outcome, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case.c1z");
    std::fs::write(&path, bytes).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let opened = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let file = OpenOptions::new()
            .with_read_only(true)
            .with_tmp_dir(&tmp)
            .with_max_decoded_size(MAX_DECODED)
            .open(&path)?;
        content(&file)
    }));
    let result = match opened {
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            return Err(format!("panicked: {msg}"));
        }
        Ok(Err(e)) => Outcome::Error(variant(&e)),
        Ok(Ok(got)) if got == expected => Outcome::OpenedCorrectly,
        Ok(Ok(got)) => {
            let first = got
                .iter()
                .zip(expected)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(expected.len()));
            return Err(format!(
                "opened with different content ({} rows, expected {}; first difference at row {first})",
                got.len(),
                expected.len()
            ));
        }
    };
    if std::fs::read(&path).unwrap() != bytes {
        return Err("the input was modified".into());
    }
    let left = std::fs::read_dir(&tmp).unwrap().count();
    if left != 0 {
        return Err(format!("{left} entries left in the temp directory"));
    }
    Ok(result)
}

/// Runs every case; panics listing the failures, prints the tally.
fn run_all(label: &str, base: &Base, cases: Vec<Case>) {
    let mut tally: BTreeMap<(&'static str, Outcome), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let total = cases.len();
    for case in cases {
        match run_case(&case.bytes, &base.content) {
            Ok(outcome) => *tally.entry((case.class, outcome)).or_default() += 1,
            Err(why) => failures.push(format!("{} / {}: {why}", case.class, case.name)),
        }
    }
    let mut report = format!("corpus {label} (base {}): {total} cases\n", base.name);
    for ((class, outcome), n) in &tally {
        report.push_str(&format!("  {class:<28} {outcome:?}: {n}\n"));
    }
    eprint!("{report}");
    assert!(
        failures.is_empty(),
        "{report}{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A base from a file on disk, its content read once.
fn base(name: &'static str, bytes: Vec<u8>) -> Base {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("base.c1z");
    std::fs::write(&path, &bytes).unwrap();
    let file = C1zFile::open_read_only(&path).unwrap();
    let content = content(&file).unwrap();
    assert!(content.len() > 10, "{name}: a base with content");
    Base {
        name,
        bytes,
        content,
    }
}

/// A generated organisation (expandable grants, an asset) in a new file of `engine`.
fn generated(engine: EngineKind) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("org.c1z");
    let file = OpenOptions::new()
        .with_create(true)
        .with_engine(engine)
        .open(&path)
        .unwrap();
    let spec = c1z::synth::SynthSpec {
        users: 60,
        groups: 6,
        ..Default::default()
    };
    c1z::synth::generate(file.store(), &spec).unwrap();
    file.close().unwrap();
    std::fs::read(&path).unwrap()
}

/// A v3 file's payload as (manifest, tar members).
fn payload_members(bytes: &[u8]) -> (C1zManifestV3, Vec<(tar::Header, Vec<u8>)>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.c1z");
    std::fs::write(&path, bytes).unwrap();
    let header = v3::read_header(&path).unwrap();
    let root = dir.path().join("payload");
    v3_payload::extract(&path, &header, &root, DecodeLimits::default()).unwrap();
    let mut tar = Vec::new();
    v3_payload::write_tar(&root, &mut tar).unwrap();
    let mut archive = tar::Archive::new(&tar[..]);
    let members = archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let header = e.header().clone();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (header, data)
        })
        .collect();
    (header.manifest, members)
}

fn build_tar(members: &[(tar::Header, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (header, data) in members {
        let mut header = header.clone();
        header.set_size(data.len() as u64);
        header.set_cksum();
        b.append(&header, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// A v3 file of these members, with the payload encoded as `encoding`.
fn repacked(
    manifest: &C1zManifestV3,
    members: &[(tar::Header, Vec<u8>)],
    encoding: PayloadEncoding,
) -> Vec<u8> {
    let tar = build_tar(members);
    let payload = match encoding {
        PayloadEncoding::Tar => tar,
        _ => zstd::encode_all(&tar[..], 3).unwrap(),
    };
    let manifest = C1zManifestV3 {
        payload_encoding: encoding as i32,
        ..manifest.clone()
    };
    envelope(&manifest, &payload)
}

/// Truncations (every offset of the header region, then spread over the file), bit flips
/// (in the header region and spread over the file), wrong magic.
fn generic_damage(base: &Base, header_len: usize, rng: &mut Rng) -> Vec<Case> {
    let bytes = &base.bytes;
    let len = bytes.len();
    let header_len = header_len.min(len);
    let mut cuts: Vec<usize> = (0..header_len.min(64)).collect();
    cuts.extend((1..24).map(|i| i * header_len / 24));
    cuts.extend((1..40).map(|i| i * len / 40));
    cuts.extend([len - 1, len.saturating_sub(512)]);
    cuts.sort_unstable();
    cuts.dedup();
    let mut cases: Vec<Case> = cuts
        .into_iter()
        // An empty file, or one of the magic alone, is a new store by design (as in
        // baton), not damage.
        .filter(|&c| c > 5 && c < len)
        .map(|cut| Case {
            class: "truncated",
            name: format!("at {cut}"),
            bytes: bytes[..cut].to_vec(),
        })
        .collect();
    let mut flips: Vec<usize> = (0..12).map(|_| rng.below(header_len)).collect();
    flips.extend((0..60).map(|_| rng.below(len)));
    for pos in flips {
        let bit = rng.below(8);
        let mut b = bytes.clone();
        b[pos] ^= 1 << bit;
        cases.push(Case {
            class: "bit flip",
            name: format!("byte {pos} bit {bit}"),
            bytes: b,
        });
    }
    for magic in [&b"C1ZX\0"[..], b"c1zf\0", b"PK\x03\x04\0", b"C1Z3\x01"] {
        let mut b = bytes.clone();
        b[..magic.len()].copy_from_slice(magic);
        cases.push(Case {
            class: "wrong magic",
            name: String::from_utf8_lossy(magic).into_owned(),
            bytes: b,
        });
    }
    cases
}

/// Damage to each member of a v3 payload: flipped bytes, truncation, the member missing
/// (a MANIFEST naming missing files), a duplicate with other bytes.
fn member_damage(
    manifest: &C1zManifestV3,
    members: &[(tar::Header, Vec<u8>)],
    rng: &mut Rng,
) -> Vec<Case> {
    let mut cases = Vec::new();
    for (i, (header, data)) in members.iter().enumerate() {
        let name = String::from_utf8_lossy(&header.path_bytes()).into_owned();
        let with = |data: Vec<u8>| {
            let mut m = members.to_vec();
            m[i].1 = data;
            repacked(manifest, &m, PayloadEncoding::Tar)
        };
        if !data.is_empty() {
            for _ in 0..4 {
                let pos = rng.below(data.len());
                let mut d = data.clone();
                d[pos] ^= 1 << rng.below(8);
                cases.push(Case {
                    class: "member byte flipped",
                    name: format!("{name} byte {pos}"),
                    bytes: with(d),
                });
            }
            // The last bytes hold the footers and checksums of tables and logs.
            let mut d = data.clone();
            let last = d.len() - 1 - rng.below(d.len().min(64));
            d[last] ^= 0x40;
            cases.push(Case {
                class: "member footer flipped",
                name: format!("{name} byte {last}"),
                bytes: with(d),
            });
            cases.push(Case {
                class: "member truncated",
                name: format!("{name} to {}", data.len() / 2),
                bytes: with(data[..data.len() / 2].to_vec()),
            });
        }
        let mut m = members.to_vec();
        m.remove(i);
        cases.push(Case {
            class: "member missing",
            name: name.clone(),
            bytes: repacked(manifest, &m, PayloadEncoding::Tar),
        });
        let mut m = members.to_vec();
        let mut other = data.clone();
        other.reverse();
        m.push((header.clone(), other));
        cases.push(Case {
            class: "member duplicated",
            name,
            bytes: repacked(manifest, &m, PayloadEncoding::Tar),
        });
    }
    cases
}

/// Envelope-level damage to a v3 file: manifest length past the end or over the bound, a
/// garbage manifest, hostile tar members appended to a valid payload.
fn envelope_damage(
    manifest: &C1zManifestV3,
    members: &[(tar::Header, Vec<u8>)],
    rng: &mut Rng,
) -> Vec<Case> {
    let good = manifest.encode_to_vec();
    let tar = build_tar(members);
    let with_len = |len: u32, body: &[u8]| {
        let mut b = b"C1Z3\0".to_vec();
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(body);
        b
    };
    let mut cases = vec![
        Case {
            class: "manifest length",
            name: "past the end".into(),
            bytes: with_len(u32::try_from(good.len() + tar.len() + 1).unwrap(), &good),
        },
        Case {
            class: "manifest length",
            name: "over the bound".into(),
            bytes: with_len(v3::MAX_MANIFEST_LEN + 1, &good),
        },
        Case {
            class: "manifest length",
            name: "zero".into(),
            bytes: with_len(0, &tar),
        },
    ];
    for n in 0..6 {
        let garbage: Vec<u8> = (0..good.len()).map(|_| rng.below(256) as u8).collect();
        let mut b = with_len(u32::try_from(garbage.len()).unwrap(), &garbage);
        b.extend_from_slice(&tar);
        cases.push(Case {
            class: "garbage manifest",
            name: format!("#{n}"),
            bytes: b,
        });
    }
    let hostile = [
        (
            "../ path",
            raw_tar(b"../escaped", tar::EntryType::Regular, None, b"x"),
        ),
        (
            "absolute path",
            raw_tar(b"/tmp/c1z-escaped", tar::EntryType::Regular, None, b"x"),
        ),
        (
            "symlink",
            raw_tar(b"link", tar::EntryType::Symlink, Some("/etc/passwd"), b""),
        ),
        (
            "hard link",
            raw_tar(b"hard", tar::EntryType::Link, Some("/etc/passwd"), b""),
        ),
        ("device", raw_tar(b"dev", tar::EntryType::Char, None, b"")),
        ("fifo", raw_tar(b"fifo", tar::EntryType::Fifo, None, b"")),
    ];
    for (name, member) in hostile {
        for encoding in [PayloadEncoding::Tar, PayloadEncoding::TarZstd] {
            // The hostile member first, then the valid payload.
            let mut payload = member[..member.len() - 1024].to_vec();
            payload.extend_from_slice(&tar);
            if encoding == PayloadEncoding::TarZstd {
                payload = zstd::encode_all(&payload[..], 1).unwrap();
            }
            let manifest = C1zManifestV3 {
                payload_encoding: encoding as i32,
                ..manifest.clone()
            };
            cases.push(Case {
                class: "hostile tar member",
                name: format!("{name} ({encoding:?})"),
                bytes: envelope(&manifest, &payload),
            });
        }
    }
    cases
}

/// v1 damage that needs zstd's own structure: a content size that lies (a decompression
/// bomb), a window over the limit, a valid stream of bytes that are not SQLite.
fn v1_zstd_damage() -> Vec<Case> {
    let frame = |data: &[u8], pledged: bool, window_log: u32| {
        let mut out = b"C1ZF\0".to_vec();
        let mut enc = zstd::stream::Encoder::new(&mut out, 1).unwrap();
        enc.include_contentsize(pledged).unwrap();
        if pledged {
            enc.set_pledged_src_size(Some(data.len() as u64)).unwrap();
        }
        if window_log > 0 {
            enc.window_log(window_log).unwrap();
            enc.long_distance_matching(true).unwrap();
        }
        std::io::Write::write_all(&mut enc, data).unwrap();
        enc.finish().unwrap();
        out
    };
    // Zeros past the decoded-size cap declaring 1 KiB: the frame content size is patched
    // (its 4-byte field follows the descriptor, and the window byte when single-segment
    // is off).
    let zeros = vec![0u8; usize::try_from(MAX_DECODED).unwrap() + (16 << 20)];
    let mut bomb = frame(&zeros, true, 0);
    let descriptor = bomb[5 + 4];
    assert_eq!(descriptor >> 6, 2, "a 4-byte content size field");
    let single_segment = descriptor & 0x20 != 0;
    let at = 5 + 4 + 1 + usize::from(!single_segment);
    bomb[at..at + 4].copy_from_slice(&1024u32.to_le_bytes());
    let unsized_bomb = frame(&zeros, false, 0);
    drop(zeros);
    let big_window = frame(&vec![7u8; 1 << 20], false, 30);
    let not_sqlite = frame(&b"not a database, just text\n".repeat(50_000), true, 0);
    let sqlite_header_then_junk = {
        let mut db = b"SQLite format 3\0".to_vec();
        db.extend((0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
        frame(&db, true, 0)
    };
    vec![
        Case {
            class: "zstd bomb",
            name: "content size lies (1 KiB declared, 272 MiB)".into(),
            bytes: bomb,
        },
        Case {
            class: "zstd bomb",
            name: "no content size, 272 MiB".into(),
            bytes: unsized_bomb,
        },
        Case {
            class: "zstd window",
            name: "window log 30".into(),
            bytes: big_window,
        },
        Case {
            class: "zstd of non-sqlite",
            name: "text".into(),
            bytes: not_sqlite,
        },
        Case {
            class: "zstd of non-sqlite",
            name: "sqlite magic, junk pages".into(),
            bytes: sqlite_header_then_junk,
        },
    ]
}

fn v3_header_len(bytes: &[u8]) -> usize {
    9 + u32::from_be_bytes(bytes[5..9].try_into().unwrap()) as usize
}

/// Every class for a v3 base, plus member damage on a tar repack of its payload.
fn v3_corpus(label: &str, name: &'static str, bytes: Vec<u8>, seed: u64) {
    let mut rng = Rng(seed);
    let (manifest, members) = payload_members(&bytes);
    let base = base(name, bytes);
    let mut cases = generic_damage(&base, v3_header_len(&base.bytes) + 64, &mut rng);
    cases.extend(envelope_damage(&manifest, &members, &mut rng));
    run_all(label, &base, cases);

    // The payload as plain tar: the flips land on the engine's own bytes.
    let tar_bytes = repacked(&manifest, &members, PayloadEncoding::Tar);
    let tar_base = Base {
        name,
        content: base.content.clone(),
        bytes: tar_bytes,
    };
    let mut cases = generic_damage(&tar_base, v3_header_len(&tar_base.bytes) + 1024, &mut rng);
    cases.extend(member_damage(&manifest, &members, &mut rng));
    run_all(&format!("{label}, repacked as tar"), &tar_base, cases);
}

#[test]
fn corpus_sqlite_v1() {
    let mut rng = Rng(1);
    let base = base("generated sqlite", generated(EngineKind::Sqlite));
    let mut cases = generic_damage(&base, 64, &mut rng);
    cases.extend(v1_zstd_damage());
    run_all("sqlite v1", &base, cases);
}

#[test]
fn corpus_batons_sqlite_v1() {
    let Some(dir) = samples() else { return };
    let mut rng = Rng(2);
    let base = base(
        "baton v025-multi",
        std::fs::read(dir.join("current/v025-multi.c1z")).unwrap(),
    );
    let cases = generic_damage(&base, 64, &mut rng);
    run_all("baton sqlite v1", &base, cases);
}

#[test]
fn corpus_rocksdb_v3() {
    v3_corpus(
        "rocksdb v3 tar_zstd",
        "generated rocksdb",
        generated(EngineKind::Rocks),
        3,
    );
}

#[test]
fn corpus_batons_pebble_v3() {
    let Some(dir) = samples() else { return };
    v3_corpus(
        "baton pebble3 indexed_zstd",
        "baton v025-full.pebble",
        std::fs::read(dir.join("current/v025-full.pebble.c1z")).unwrap(),
        4,
    );
}

/// The valid files the mutation property test starts from, with their content.
fn mutation_bases() -> &'static [(Base, usize)] {
    static BASES: std::sync::LazyLock<Vec<(Base, usize)>> = std::sync::LazyLock::new(|| {
        let mut bases = vec![(base("generated sqlite", generated(EngineKind::Sqlite)), 5)];
        let rocks = generated(EngineKind::Rocks);
        let (manifest, members) = payload_members(&rocks);
        let tar = repacked(&manifest, &members, PayloadEncoding::Tar);
        bases.push((base("generated rocksdb", rocks), 9));
        let skip = v3_header_len(&tar);
        bases.push((base("generated rocksdb as tar", tar), skip));
        if let Some(dir) = samples() {
            let pebble = std::fs::read(dir.join("current/v025-full.pebble.c1z")).unwrap();
            let (manifest, members) = payload_members(&pebble);
            let tar = repacked(&manifest, &members, PayloadEncoding::Tar);
            let skip = v3_header_len(&tar);
            bases.push((base("baton pebble as tar", tar), skip));
        }
        bases
    });
    &BASES
}

/// One structural edit of a file.
#[derive(Clone, Debug)]
enum Edit {
    Flip { at: usize, bit: u8 },
    Set { at: usize, value: u8 },
    Delete { at: usize, len: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Duplicate { at: usize, len: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Edit::Flip { at, bit }),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Edit::Set { at, value }),
        1 => (any::<usize>(), 1usize..600).prop_map(|(at, len)| Edit::Delete { at, len }),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
        1 => (any::<usize>(), 1usize..600).prop_map(|(at, len)| Edit::Duplicate { at, len }),
    ]
}

/// Applies `edit` past the first `skip` bytes (the magic and the first header), so the
/// input reaches the decoders behind them.
fn apply(bytes: &mut Vec<u8>, skip: usize, edit: &Edit) {
    if bytes.len() <= skip {
        return;
    }
    let span = bytes.len() - skip;
    match edit {
        Edit::Flip { at, bit } => bytes[skip + at % span] ^= 1 << bit,
        Edit::Set { at, value } => bytes[skip + at % span] = *value,
        Edit::Delete { at, len } => {
            let start = skip + at % span;
            let end = (start + len).min(bytes.len());
            bytes.drain(start..end);
        }
        Edit::Insert { at, bytes: new } => {
            let at = skip + at % span;
            bytes.splice(at..at, new.iter().copied());
        }
        Edit::Duplicate { at, len } => {
            let start = skip + at % span;
            let end = (start + len).min(bytes.len());
            let copy = bytes[start..end].to_vec();
            bytes.splice(end..end, copy);
        }
    }
}

proptest! {
    // `PROPTEST_CASES=N` runs a longer campaign.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(160),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Structure-aware mutation: one to four edits of a valid file behind its magic and
    /// first header; a typed error or the original content, never anything else.
    #[test]
    fn mutated_valid_files_are_typed_errors_or_read_correctly(
        which in any::<usize>(),
        edits in proptest::collection::vec(edit(), 1..5),
    ) {
        let bases = mutation_bases();
        let (base, skip) = &bases[which % bases.len()];
        let mut bytes = base.bytes.clone();
        for e in &edits {
            apply(&mut bytes, *skip, e);
        }
        if let Err(why) = run_case(&bytes, &base.content) {
            prop_assert!(false, "{}: {why}", base.name);
        }
    }
}
