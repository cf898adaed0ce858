//! `c1z::grpc` and `c1z serve` against hostile and careless clients: oversized requests,
//! huge page sizes, malformed and foreign page tokens, many clients at once, clients that
//! vanish mid-listing or mid-stream. Each case checks the status code and that the server
//! answers a normal request afterwards. Built on the helpers of `grpc.rs`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use c1z::engine::EngineKind;
use c1z::grpc::{MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use c1z::pb::c1::connector::v2 as cpb;
use c1z::pb::c1::reader::v2 as rpb;
use c1z::{C1zFile, GrantQuery, OpenOptions, ReaderExt, SyncType, WriterExt};
use cpb::asset_service_client::AssetServiceClient;
use cpb::asset_service_get_asset_response::Msg;
use cpb::entitlements_service_client::EntitlementsServiceClient;
use cpb::grants_service_client::GrantsServiceClient;
use cpb::resource_types_service_client::ResourceTypesServiceClient;
use cpb::resources_service_client::ResourcesServiceClient;
use prost::Message as _;
use rpb::grants_reader_service_client::GrantsReaderServiceClient;
use rpb::syncs_reader_service_client::SyncsReaderServiceClient;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::grpc::{
    PEBBLE, Server, all_grants, code_of, connect, grant_ids, sample, store_grant_ids,
};
use crate::util::{entitlement, grant, resource, resource_type, samples};

/// The generated file: 1,200 users in each of 10 groups, so 12,000 grants (more than one
/// clamped page of 10,000, each small enough that 10,000 fit one response), and one asset
/// of four 1 MiB chunks.
const USERS: usize = 1_200;
const GROUPS: usize = 10;
const GRANTS: usize = USERS * GROUPS;
const ASSET: &str = "asset:big";
const ASSET_BYTES: usize = 4 << 20;
/// A page clamped as baton's stores clamp it.
const CLAMPED: usize = 10_000;

/// The generated RocksDB file (its page tokens are hex keys, checked against the listing's
/// key family), built once per test process under Cargo's temp dir for tests.
fn big_file() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let dir = tempfile::tempdir_in(tmp).unwrap();
        let path = dir.path().join("big.c1z");
        let file = OpenOptions::new()
            .with_create(true)
            .with_engine(EngineKind::Rocks)
            .open(&path)
            .unwrap();
        let run = file.store().start_sync(SyncType::Full, None).unwrap();
        run.put_resource_types(&[resource_type("user"), resource_type("group")])
            .unwrap();
        let user = |i: usize| format!("u{i:05}");
        let group = |i: usize| format!("g{i:02}");
        run.put_resources((0..USERS).map(|i| resource("user", &user(i))))
            .unwrap();
        run.put_resources((0..GROUPS).map(|i| resource("group", &group(i))))
            .unwrap();
        let ents: Vec<_> = (0..GROUPS)
            .map(|i| entitlement("group", &group(i), "member"))
            .collect();
        run.put_entitlements(&ents).unwrap();
        run.put_grants(
            ents.iter()
                .flat_map(|e| (0..USERS).map(move |i| grant(e, "user", &user(i)))),
        )
        .unwrap();
        // xorshift bytes: zstd cannot shrink them, GetAsset reads them back whole.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let data: Vec<u8> = (0..ASSET_BYTES)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            })
            .collect();
        run.put_asset(ASSET, "application/octet-stream", data)
            .unwrap();
        run.finish().unwrap();
        file.close().unwrap();
        // A fixed name, replaced atomically: concurrent test processes each read a whole file.
        let kept = tmp.join("grpc-hardening.rocks.c1z");
        std::fs::rename(&path, &kept).unwrap();
        kept
    })
}

/// What the listings that filter need to name: an entitlement and a principal that exist.
struct Names {
    entitlement: String,
    principal: cpb::ResourceId,
}

impl Names {
    fn of(store: &c1z::AnyStore) -> Names {
        let first = store
            .stream_grants(GrantQuery::default())
            .next()
            .unwrap()
            .unwrap()
            .grant;
        Names {
            entitlement: first.entitlement.unwrap().id,
            principal: first.principal.unwrap().id.unwrap(),
        }
    }
}

/// Every listing RPC that takes a page token.
const LISTINGS: [&str; 9] = [
    "ListGrants",
    "ListResources",
    "ListEntitlements",
    "ListResourceTypes",
    "ListSyncs",
    "ListGrantsForEntitlement",
    "ListGrantsForPrincipal",
    "ListGrantsForResourceType",
    "ListGrantsForEntitlements",
];

/// One page of `listing` after `token`: its row count and next token, or its status.
async fn page_of(
    ch: &Channel,
    listing: &str,
    token: &str,
    page_size: u32,
    names: &Names,
) -> Result<(usize, String), Status> {
    let page_token = token.to_owned();
    let entitlement = || cpb::Entitlement {
        id: names.entitlement.clone(),
        ..Default::default()
    };
    let ch = ch.clone();
    match listing {
        "ListGrants" => GrantsServiceClient::new(ch)
            .list_grants(cpb::GrantsServiceListGrantsRequest {
                page_size,
                page_token,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
            .map(|p| (p.list.len(), p.next_page_token)),
        "ListResources" => ResourcesServiceClient::new(ch)
            .list_resources(cpb::ResourcesServiceListResourcesRequest {
                page_size,
                page_token,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
            .map(|p| (p.list.len(), p.next_page_token)),
        "ListEntitlements" => EntitlementsServiceClient::new(ch)
            .list_entitlements(cpb::EntitlementsServiceListEntitlementsRequest {
                page_size,
                page_token,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
            .map(|p| (p.list.len(), p.next_page_token)),
        "ListResourceTypes" => ResourceTypesServiceClient::new(ch)
            .list_resource_types(cpb::ResourceTypesServiceListResourceTypesRequest {
                page_size,
                page_token,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
            .map(|p| (p.list.len(), p.next_page_token)),
        "ListSyncs" => SyncsReaderServiceClient::new(ch)
            .list_syncs(rpb::SyncsReaderServiceListSyncsRequest {
                page_size,
                page_token,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
            .map(|p| (p.syncs.len(), p.next_page_token)),
        "ListGrantsForEntitlement" => GrantsReaderServiceClient::new(ch)
            .list_grants_for_entitlement(rpb::GrantsReaderServiceListGrantsForEntitlementRequest {
                entitlement: Some(entitlement()),
                page_size,
                page_token,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
            .map(|p| (p.list.len(), p.next_page_token)),
        "ListGrantsForPrincipal" => GrantsReaderServiceClient::new(ch)
            .list_grants_for_principal(rpb::GrantsReaderServiceListGrantsForPrincipalRequest {
                principal_id: Some(names.principal.clone()),
                page_size,
                page_token,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
            .map(|p| (p.list.len(), p.next_page_token)),
        "ListGrantsForResourceType" => GrantsReaderServiceClient::new(ch)
            .list_grants_for_resource_type(
                rpb::GrantsReaderServiceListGrantsForResourceTypeRequest {
                    page_size,
                    page_token,
                    ..Default::default()
                },
            )
            .await
            .map(|r| r.into_inner())
            .map(|p| (p.list.len(), p.next_page_token)),
        "ListGrantsForEntitlements" => GrantsReaderServiceClient::new(ch)
            .list_grants_for_entitlements(
                rpb::GrantsReaderServiceListGrantsForEntitlementsRequest {
                    entitlements: vec![entitlement()],
                    page_size,
                    page_token,
                    ..Default::default()
                },
            )
            .await
            .map(|r| r.into_inner())
            .map(|p| (p.list.len(), p.next_page_token)),
        other => panic!("no listing {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_is_refused_and_the_server_serves_on() {
    let server = Server::start(&sample()).await;
    let mut grants = GrantsServiceClient::new(server.channel.clone());
    // Over the limit: refused from the message's length prefix, with tonic's code for
    // it, again and again on the same connection.
    for _ in 0..5 {
        let (code, msg) = code_of(
            grants
                .list_grants(cpb::GrantsServiceListGrantsRequest {
                    page_token: "a".repeat(MAX_REQUEST_BYTES + (1 << 20)),
                    ..Default::default()
                })
                .await,
        )
        .await;
        assert_eq!(code, Code::OutOfRange, "{msg}");
        assert!(msg.contains(&MAX_REQUEST_BYTES.to_string()), "{msg}");
    }
    let (all, _) = all_grants(server.channel.clone(), 0, "", vec![]).await;
    assert_eq!(all.len(), 205);

    // Under the limit but echoed by the error: the request's own code, and a message short
    // enough for an HTTP/2 header (clients refuse header lists over 16 KiB, which would
    // turn the answer into a transport error).
    let half = MAX_REQUEST_BYTES / 2;
    let bounded = |code: Code, want: Code, msg: &str| {
        assert_eq!(code, want, "{}", &msg[..msg.floor_char_boundary(300)]);
        assert!(msg.len() < 4096, "a message of {} bytes", msg.len());
    };
    for token in ["z".repeat(half), "é".repeat(half / 2), "\u{1}".repeat(half)] {
        let (code, msg) = code_of(
            grants
                .list_grants(cpb::GrantsServiceListGrantsRequest {
                    page_token: token.clone(),
                    ..Default::default()
                })
                .await,
        )
        .await;
        bounded(code, Code::InvalidArgument, &msg);
        let (code, msg) = code_of(
            GrantsReaderServiceClient::new(server.channel.clone())
                .list_grants_for_entitlements(
                    rpb::GrantsReaderServiceListGrantsForEntitlementsRequest {
                        entitlements: vec![cpb::Entitlement {
                            id: "x".into(),
                            ..Default::default()
                        }],
                        page_token: token,
                        ..Default::default()
                    },
                )
                .await,
        )
        .await;
        bounded(code, Code::InvalidArgument, &msg);
    }
    let (code, msg) = code_of(
        grants
            .list_grants(cpb::GrantsServiceListGrantsRequest {
                active_sync_id: "s".repeat(half),
                ..Default::default()
            })
            .await,
    )
    .await;
    bounded(code, Code::NotFound, &msg);
    let (code, msg) = code_of(
        SyncsReaderServiceClient::new(server.channel.clone())
            .get_latest_finished_sync(rpb::SyncsReaderServiceGetLatestFinishedSyncRequest {
                sync_type: "t".repeat(half),
                ..Default::default()
            })
            .await,
    )
    .await;
    bounded(code, Code::InvalidArgument, &msg);
    let (code, msg) = code_of(
        GrantsReaderServiceClient::new(server.channel.clone())
            .get_grant(rpb::GrantsReaderServiceGetGrantRequest {
                grant_id: "g".repeat(half),
                ..Default::default()
            })
            .await,
    )
    .await;
    bounded(code, Code::NotFound, &msg);

    // The connection that carried all of it, and a new one, still answer in full.
    let (all, _) = all_grants(server.channel.clone(), 50, "", vec![]).await;
    assert_eq!(all.len(), 205);
    let (all, _) = all_grants(connect(server.addr).await, 0, "", vec![]).await;
    assert_eq!(all.len(), 205);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_page_sizes_are_clamped_to_valid_pages() {
    let server = Server::start(big_file()).await;
    let expected = store_grant_ids(server.store(), GrantQuery::default());
    assert_eq!(expected.len(), GRANTS);
    let mut client = GrantsServiceClient::new(server.channel.clone());
    for page_size in [u32::MAX, u32::MAX - 1, 1 << 31, 10_001] {
        let page = client
            .list_grants(cpb::GrantsServiceListGrantsRequest {
                page_size,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.list.len(), CLAMPED, "page_size {page_size}");
        assert_eq!(grant_ids(&page.list), expected[..CLAMPED]);
        assert!(page.encoded_len() <= MAX_RESPONSE_BYTES + 1024);
        assert!(!page.next_page_token.is_empty());
    }
    let (all, pages) = all_grants(server.channel.clone(), u32::MAX, "", vec![]).await;
    assert_eq!((grant_ids(&all), pages), (expected, 2));

    // Every listing: a full first page of at most 10,000 rows, then the rest.
    let names = Names::of(server.store());
    let want = [
        ("ListResources", USERS + GROUPS),
        ("ListEntitlements", GROUPS),
        ("ListResourceTypes", 2),
        ("ListSyncs", 1),
        ("ListGrantsForEntitlement", USERS),
        ("ListGrantsForPrincipal", GROUPS),
        ("ListGrantsForResourceType", GRANTS),
        ("ListGrantsForEntitlements", USERS),
    ];
    for (listing, rows) in want {
        let (mut total, mut token, mut pages) = (0, String::new(), 0);
        loop {
            let (n, next) = page_of(&server.channel, listing, &token, u32::MAX, &names)
                .await
                .unwrap_or_else(|s| panic!("{listing}: {s:?}"));
            assert_eq!(n, (rows - total).min(CLAMPED), "{listing} page {pages}");
            (total, pages) = (total + n, pages + 1);
            if next.is_empty() {
                break;
            }
            token = next;
        }
        assert_eq!(total, rows, "{listing}");
    }
    server.stop().await;
}

/// Tokens no listing of any engine issues: not row ids (SQLite), not the hex of a key of
/// the listing's family (RocksDB), not the base64 of a key in the listing's range (Pebble).
fn malformed_tokens() -> Vec<String> {
    let garbage: Vec<u8> = (0u8..=255).rev().step_by(7).collect();
    let hex: String = garbage.iter().map(|b| format!("{b:02x}")).collect();
    let mut tokens: Vec<String> = [
        "-1",
        "1.5",
        " 1",
        "1 ",
        "0x10",
        "1e3",
        "99999999999999999999999999",
        "\0",
        "\u{1}\u{7f}\n",
        "é",
        "🦀🦀",
        "%00",
        "'; DROP TABLE v1_grants; --",
        "..",
        "\u{feff}",
    ]
    .map(String::from)
    .to_vec();
    tokens.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&garbage));
    tokens.push(base64::engine::general_purpose::STANDARD.encode(&garbage));
    tokens.push(hex.clone());
    tokens.push(hex.to_uppercase());
    tokens.push("zz".repeat(50_000));
    tokens
}

/// Every listing of the file at `path` refuses every malformed token, and (where the
/// engine's tokens say which listing issued them) every other listing's token, with
/// `INVALID_ARGUMENT`; then still pages normally.
async fn tokens_are_checked(path: &Path, kinds_distinguishable: bool) {
    let server = Server::start(path).await;
    let names = Names::of(server.store());
    let ch = &server.channel;
    let mut refused = 0;
    for token in malformed_tokens() {
        for listing in LISTINGS {
            let got = page_of(ch, listing, &token, 0, &names).await;
            let shown = &token[..token.floor_char_boundary(40)];
            let status = got
                .err()
                .unwrap_or_else(|| panic!("{listing} took {shown:?}"));
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{listing}, {shown:?}: {status:?}"
            );
            refused += 1;
        }
        // The store's token inside ListGrantsForEntitlements' own `index:token`.
        let wrapped = format!("0:{token}");
        let got = page_of(ch, "ListGrantsForEntitlements", &wrapped, 0, &names).await;
        assert_eq!(got.err().map(|s| s.code()), Some(Code::InvalidArgument));
    }

    // A real token of one listing passed to a listing of another kind.
    let kinds = [
        "ListGrants",
        "ListResources",
        "ListEntitlements",
        "ListResourceTypes",
    ];
    let mut foreign = 0;
    for issuer in kinds {
        let (_, token) = page_of(ch, issuer, "", 1, &names).await.unwrap();
        assert!(!token.is_empty(), "{issuer} has one row only");
        for listing in kinds.into_iter().filter(|l| *l != issuer) {
            let got = page_of(ch, listing, &token, 0, &names).await;
            match got {
                Err(s) if s.code() == Code::InvalidArgument => foreign += 1,
                // SQLite's tokens are row ids: any listing takes any of them.
                Ok(_) if !kinds_distinguishable => {}
                other => panic!("{issuer}'s token {token:?} on {listing}: {other:?}"),
            }
        }
    }
    if kinds_distinguishable {
        assert_eq!(foreign, 12);
    }
    eprintln!(
        "{}: {refused} malformed and {foreign} foreign tokens refused",
        path.display()
    );
    // After all of it, a full listing.
    let (all, _) = all_grants(server.channel.clone(), 100, "", vec![]).await;
    assert_eq!(
        grant_ids(&all),
        store_grant_ids(server.store(), GrantQuery::default())
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_foreign_tokens_are_invalid_argument_on_every_engine() {
    tokens_are_checked(&sample(), false).await;
    tokens_are_checked(big_file(), true).await;
    if let Some(samples) = samples() {
        tokens_are_checked(&samples.join(PEBBLE), true).await;
    }
}

/// `GrantsServiceListGrantsRequest` with its `page_token` (field 3, a string) as bytes: a
/// request no protobuf library sends, a string that is not UTF-8.
#[derive(Clone, PartialEq, prost::Message)]
struct RawListGrants {
    #[prost(bytes = "vec", tag = "3")]
    page_token: Vec<u8>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_does_not_decode_is_internal_as_grpc_specifies() {
    let server = Server::start(&sample()).await;
    let mut grpc = tonic::client::Grpc::new(server.channel.clone());
    grpc.ready().await.unwrap();
    let codec =
        tonic_prost::ProstCodec::<RawListGrants, cpb::GrantsServiceListGrantsResponse>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/c1.connector.v2.GrantsService/ListGrants",
    );
    let request = tonic::Request::new(RawListGrants {
        page_token: vec![0xff, 0xfe, 0x00, 0xc3],
    });
    let status = grpc.unary(request, path, codec).await.unwrap_err();
    // gRPC's status-code table: "Error parsing request proto" is INTERNAL (tonic and
    // grpc-go both answer so); the message says what failed.
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(status.message().contains("decode"), "{status:?}");
    let (all, _) = all_grants(server.channel.clone(), 0, "", vec![]).await;
    assert_eq!(all.len(), 205);
    server.stop().await;
}

/// `clients` connections page every grant of the sample at once (page sizes 1 to 17, so
/// their requests interleave), with at most `store_calls` store calls at once; each gets
/// the store's grants, message for message.
async fn clients_page_at_once(clients: u32, store_calls: usize) {
    let server = Server::start_with(&sample(), |s| s.with_max_store_calls(store_calls)).await;
    let expected: Vec<cpb::Grant> = server
        .store()
        .stream_grants(GrantQuery::default())
        .map(|g| g.unwrap().grant)
        .collect();
    let start = Arc::new(tokio::sync::Barrier::new(clients as usize));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        let (channel, start) = (connect(server.addr).await, start.clone());
        tasks.spawn(async move {
            let page_size = 1 + i % 17;
            start.wait().await;
            (page_size, all_grants(channel, page_size, "", vec![]).await)
        });
    }
    let mut requests = 0;
    while let Some(done) = tasks.join_next().await {
        let (page_size, (grants, pages)) = done.unwrap();
        assert_eq!(grants, expected, "page size {page_size}");
        assert_eq!(pages, 205usize.div_ceil(page_size as usize));
        requests += pages;
    }
    eprintln!("{clients} clients, {store_calls} store calls at once: {requests} pages");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_clients_page_every_grant_at_once() {
    clients_page_at_once(64, 16).await;
    // One store call at a time: the others wait their turn, none fails.
    clients_page_at_once(64, 1).await;

    // One connection, more calls at once than it may open streams: the client queues them
    // (once it has the server's SETTINGS, which a first answer proves).
    let server = Server::start(&sample()).await;
    let (all, _) = all_grants(server.channel.clone(), 0, "", vec![]).await;
    assert_eq!(all.len(), 205);
    let calls = 2 * c1z::grpc::MAX_STREAMS_PER_CONNECTION;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..calls {
        tasks.spawn(all_grants(server.channel.clone(), 41, "", vec![]));
    }
    while let Some(done) = tasks.join_next().await {
        let (grants, pages) = done.unwrap();
        assert_eq!((grants.len(), pages), (205, 5));
    }
    server.stop().await;
}

/// `c1z serve FILE` in a child process (its memory its own, not shared with the tests
/// running alongside), killed on drop.
struct Served {
    child: std::process::Child,
    addr: SocketAddr,
    /// Kept open: the server's later stderr lines have somewhere to go.
    _stderr: BufReader<std::process::ChildStderr>,
}

impl Served {
    fn start(file: &Path) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_c1z"))
            .args(["serve", file.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Served {
            child,
            addr,
            _stderr: stderr,
        }
    }

    /// The server's resident memory (KiB), where `/proc` says.
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The server's CPU time so far (user + system, in clock ticks), where `/proc` says.
    fn cpu_ticks(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command name (which may hold spaces): state is field 3, utime
        // and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
        Some(ticks(11)? + ticks(12)?)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three clients that go away: one after the first page of a listing (closing its
/// connection), one while the server builds a 10,000-grant page (cancelling the call),
/// one after the first of the asset's four chunks (closing the stream).
async fn vanish(addr: SocketAddr) {
    let page = GrantsServiceClient::new(connect(addr).await)
        .list_grants(cpb::GrantsServiceListGrantsRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.list.len(), 500);
    assert!(!page.next_page_token.is_empty());

    let mut client = GrantsServiceClient::new(connect(addr).await);
    let call = client.list_grants(cpb::GrantsServiceListGrantsRequest::default());
    let _ = tokio::time::timeout(Duration::from_millis(2), call).await;
    drop(client);

    let mut stream = AssetServiceClient::new(connect(addr).await)
        .get_asset(cpb::AssetServiceGetAssetRequest {
            asset: Some(cpb::AssetRef { id: ASSET.into() }),
        })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().and_then(|m| m.msg);
    assert!(matches!(first, Some(Msg::Metadata(_))), "{first:?}");
    let second = stream.message().await.unwrap().and_then(|m| m.msg);
    assert!(
        matches!(&second, Some(Msg::Data(d)) if d.data.len() == 1 << 20),
        "not a 1 MiB chunk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_vanish_mid_listing_and_mid_stream_leave_it_serving() {
    let path = big_file();
    let expected = {
        let file = C1zFile::open_read_only(path).unwrap();
        store_grant_ids(file.store(), GrantQuery::default())
    };
    let served = Served::start(path);
    let addr = served.addr;
    // Warm up: the allocator's pools, the engine's caches, tokio's blocking threads.
    for _ in 0..20 {
        vanish(addr).await;
    }
    let (before, cpu_before) = (served.rss_kib(), served.cpu_ticks());
    let started = Instant::now();
    const ROUNDS: usize = 200;
    for _ in 0..ROUNDS {
        vanish(addr).await;
    }
    let took = started.elapsed();
    let (after, cpu_after) = (served.rss_kib(), served.cpu_ticks());

    // Still serving, in full, on a new connection.
    let (all, _) = all_grants(connect(addr).await, 0, "", vec![]).await;
    assert_eq!(grant_ids(&all), expected);
    let mut stream = AssetServiceClient::new(connect(addr).await)
        .get_asset(cpb::AssetServiceGetAssetRequest {
            asset: Some(cpb::AssetRef { id: ASSET.into() }),
        })
        .await
        .unwrap()
        .into_inner();
    let mut bytes = 0;
    while let Some(m) = stream.message().await.unwrap() {
        if let Some(Msg::Data(d)) = m.msg {
            bytes += d.data.len();
        }
    }
    assert_eq!(bytes, ASSET_BYTES);

    let cpu = cpu_before.zip(cpu_after).map(|(b, a)| a.saturating_sub(b));
    eprintln!(
        "{ROUNDS} rounds of 3 vanishing clients in {took:?}, server CPU {cpu:?} ticks; \
         server RSS {before:?} -> {after:?} KiB"
    );
    // Each round abandons 4 MiB of asset and a page of up to 10,000 grants: kept, 200
    // rounds would hold over a GiB. Growth within 128 MiB is noise (allocator pools).
    if let (Some(before), Some(after)) = (before, after) {
        assert!(
            after.saturating_sub(before) < 128 << 10,
            "RSS grew from {before} to {after} KiB over {ROUNDS} rounds"
        );
    }
}
