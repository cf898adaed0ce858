//! `c1z::grpc` against real tonic clients: the server runs in-process on 127.0.0.1:0 (and
//! once as `c1z serve`); every listing is paged to the end and compared with the store's.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use c1z::codec::{GRANT_EXPANDABLE, any_is, to_any};
use c1z::grpc::ReaderService;
use c1z::pb::c1::c1z::v1::SyncDetails;
use c1z::pb::c1::connector::v2 as cpb;
use c1z::pb::c1::reader::v2 as rpb;
use c1z::{C1zFile, GrantQuery, Reader, ReaderExt, ResourceKey, ResourceQuery, SyncSelector};
use cpb::asset_service_client::AssetServiceClient;
use cpb::entitlements_service_client::EntitlementsServiceClient;
use cpb::grants_service_client::GrantsServiceClient;
use cpb::resource_types_service_client::ResourceTypesServiceClient;
use cpb::resources_service_client::ResourcesServiceClient;
use rpb::entitlements_reader_service_client::EntitlementsReaderServiceClient;
use rpb::grants_reader_service_client::GrantsReaderServiceClient;
use rpb::resource_types_reader_service_client::ResourceTypesReaderServiceClient;
use rpb::resources_reader_service_client::ResourcesReaderServiceClient;
use rpb::syncs_reader_service_client::SyncsReaderServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::util::samples;

const MULTI: &str = "current/v025-multi.c1z";
pub(crate) const PEBBLE: &str = "current/v025-full.pebble.c1z";
/// Sync (a) of `v025-multi.c1z`; the default sync is (d).
const SYNC_A: &str = "3MSzR1qTdcCXVYCSZuSj5tsioLQ";
const SYNC_D: &str = "3MSzRZG1ohUOGETUrnuDqs0RnZE";
const UNKNOWN_SYNC: &str = "2aaaaaaaaaaaaaaaaaaaaaaaaaa";

pub(crate) fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample.c1z")
}

/// A server running in-process on 127.0.0.1:0 over one file, stopped on drop.
pub(crate) struct Server {
    file: Arc<C1zFile>,
    pub(crate) channel: Channel,
    pub(crate) addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), c1z::grpc::ServeError>>>,
}

impl Server {
    pub(crate) async fn start(path: &Path) -> Server {
        Server::start_with(path, |service| service).await
    }

    /// [`Server::start`] with the service configured by `configure`.
    pub(crate) async fn start_with(
        path: &Path,
        configure: impl FnOnce(ReaderService) -> ReaderService,
    ) -> Server {
        let file = Arc::new(C1zFile::open_read_only(path).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(c1z::grpc::serve(
            configure(ReaderService::shared(file.clone())),
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        let channel = connect(addr).await;
        Server {
            file,
            channel,
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) fn store(&self) -> &c1z::AnyStore {
        self.file.store()
    }

    /// Stops the server gracefully and waits for `serve` to return.
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

pub(crate) async fn connect(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn sync_details(id: &str) -> prost_types::Any {
    to_any("c1.c1z.v1.SyncDetails", &SyncDetails { id: id.into() })
}

fn rid(rt: &str, id: &str) -> cpb::ResourceId {
    cpb::ResourceId {
        resource_type: rt.into(),
        resource: id.into(),
        ..Default::default()
    }
}

fn key_of(r: &cpb::Resource) -> ResourceKey {
    ResourceKey::of(r.id.as_ref().unwrap())
}

/// Every grant of `ListGrants` (connector), paged with `page_size`, with the number of
/// pages.
pub(crate) async fn all_grants(
    channel: Channel,
    page_size: u32,
    active_sync_id: &str,
    annotations: Vec<prost_types::Any>,
) -> (Vec<cpb::Grant>, usize) {
    let mut client = GrantsServiceClient::new(channel);
    let (mut all, mut pages, mut token) = (Vec::new(), 0, String::new());
    loop {
        let page = client
            .list_grants(cpb::GrantsServiceListGrantsRequest {
                page_size,
                page_token: token.clone(),
                active_sync_id: active_sync_id.into(),
                annotations: annotations.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        all.extend(page.list);
        if page.next_page_token.is_empty() {
            return (all, pages);
        }
        assert_ne!(page.next_page_token, token, "the token must move");
        token = page.next_page_token;
    }
}

pub(crate) fn grant_ids(grants: &[cpb::Grant]) -> Vec<String> {
    grants.iter().map(|g| g.id.clone()).collect()
}

/// The store's own grants of `sync`, in its order.
pub(crate) fn store_grant_ids(store: &c1z::AnyStore, query: GrantQuery) -> Vec<String> {
    store
        .stream_grants(query)
        .map(|g| g.unwrap().grant.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_page_to_the_end_as_the_store_lists_them() {
    let server = Server::start(&sample()).await;
    let expected = store_grant_ids(server.store(), GrantQuery::default());
    assert_eq!(expected.len(), 205);
    let (grants, pages) = all_grants(server.channel.clone(), 7, "", vec![]).await;
    assert_eq!(grant_ids(&grants), expected);
    assert_eq!(pages, 205usize.div_ceil(7));
    // Page size 0 is baton's default (10,000): one page.
    let (grants, pages) = all_grants(server.channel.clone(), 0, "", vec![]).await;
    assert_eq!((grants.len(), pages), (205, 1));
    // ... and the grants equal the store's, message for message.
    let stored: Vec<cpb::Grant> = server
        .store()
        .stream_grants(GrantQuery::default())
        .map(|g| g.unwrap().grant)
        .collect();
    assert_eq!(grants, stored);

    // ListGrantsForResourceType with no type pages through every grant too.
    let mut client = GrantsReaderServiceClient::new(server.channel.clone());
    let (mut ids, mut token) = (Vec::new(), String::new());
    loop {
        let page = client
            .list_grants_for_resource_type(
                rpb::GrantsReaderServiceListGrantsForResourceTypeRequest {
                    page_size: 50,
                    page_token: token,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .into_inner();
        ids.extend(grant_ids(&page.list));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(ids, expected);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_entitlements_and_types_page_to_the_end() {
    let server = Server::start(&sample()).await;
    let store = server.store();

    let mut rts = ResourceTypesServiceClient::new(server.channel.clone());
    let (mut got, mut token) = (Vec::new(), String::new());
    loop {
        let page = rts
            .list_resource_types(cpb::ResourceTypesServiceListResourceTypesRequest {
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        got.extend(page.list);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let want: Vec<cpb::ResourceType> = store
        .stream_resource_types(Default::default())
        .map(|r| r.unwrap().value)
        .collect();
    assert_eq!(got, want);
    assert_eq!(got.len(), 4);

    let mut resources = ResourcesServiceClient::new(server.channel.clone());
    let (mut got, mut token) = (Vec::new(), String::new());
    loop {
        let page = resources
            .list_resources(cpb::ResourcesServiceListResourcesRequest {
                page_size: 10,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        got.extend(page.list);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let want: Vec<cpb::Resource> = store
        .stream_resources(ResourceQuery::default())
        .map(|r| r.unwrap().value)
        .collect();
    assert_eq!(got.len(), 118);
    assert_eq!(got, want);

    // Filtered by type: only that type, the same as the store's.
    let rt = &want[0].id.as_ref().unwrap().resource_type;
    let page = resources
        .list_resources(cpb::ResourcesServiceListResourcesRequest {
            resource_type_id: rt.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let typed: Vec<_> = want
        .iter()
        .filter(|r| &r.id.as_ref().unwrap().resource_type == rt)
        .cloned()
        .collect();
    assert_eq!(page.list, typed);

    let mut ents = EntitlementsServiceClient::new(server.channel.clone());
    let (mut got, mut token) = (Vec::new(), String::new());
    loop {
        let page = ents
            .list_entitlements(cpb::EntitlementsServiceListEntitlementsRequest {
                page_size: 4,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        got.extend(page.list);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let want: Vec<cpb::Entitlement> = store
        .stream_entitlements(Default::default())
        .map(|r| r.unwrap().value)
        .collect();
    assert_eq!(got.len(), 21);
    assert_eq!(got, want);

    // Static entitlements: always none, as in baton's stores.
    let page = ents
        .list_static_entitlements(cpb::EntitlementsServiceListStaticEntitlementsRequest {
            resource_type_id: rt.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(page.list.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gets_return_what_the_store_holds() {
    let server = Server::start(&sample()).await;
    let store = server.store();
    let ch = server.channel.clone();
    let sel = SyncSelector::Latest;

    let rt = store
        .stream_resource_types(Default::default())
        .next()
        .unwrap()
        .unwrap()
        .value;
    let got = ResourceTypesReaderServiceClient::new(ch.clone())
        .get_resource_type(rpb::ResourceTypesReaderServiceGetResourceTypeRequest {
            resource_type_id: rt.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.resource_type, Some(rt));

    let resources: Vec<cpb::Resource> = store
        .stream_resources(ResourceQuery::default())
        .take(3)
        .map(|r| r.unwrap().value)
        .collect();
    let mut client = ResourcesReaderServiceClient::new(ch.clone());
    let got = client
        .get_resource(rpb::ResourcesReaderServiceGetResourceRequest {
            resource_id: resources[0].id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.resource.as_ref(), Some(&resources[0]));
    // By ids: in request order, missing ids left out.
    let mut ids: Vec<_> = resources
        .iter()
        .rev()
        .map(|r| r.id.clone().unwrap())
        .collect();
    ids.insert(1, rid("user", "no-such-user"));
    let got = client
        .list_resources_by_ids(rpb::ResourcesReaderServiceListResourcesByIdsRequest {
            resource_ids: ids,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let want: Vec<_> = resources.iter().rev().cloned().collect();
    assert_eq!(got.list, want);

    let ent = store
        .stream_entitlements(Default::default())
        .next()
        .unwrap()
        .unwrap()
        .value;
    let mut client = EntitlementsReaderServiceClient::new(ch.clone());
    let got = client
        .get_entitlement(rpb::EntitlementsReaderServiceGetEntitlementRequest {
            entitlement_id: ent.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.entitlement.as_ref(), Some(&ent));
    let got = client
        .list_entitlements_by_ids(rpb::EntitlementsReaderServiceListEntitlementsByIdsRequest {
            entitlement_ids: vec![ent.id.clone(), "no:such:entitlement".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.list, [ent.clone()]);

    let grant = store.grant(&sel, &store_grant_ids(store, GrantQuery::default())[0]);
    let grant = grant.unwrap().unwrap().grant;
    let got = GrantsReaderServiceClient::new(ch.clone())
        .get_grant(rpb::GrantsReaderServiceGetGrantRequest {
            grant_id: grant.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.grant, Some(grant));

    // The one asset: its content type, then its bytes.
    let asset = store
        .stream_assets(Default::default())
        .next()
        .unwrap()
        .unwrap();
    let mut stream = AssetServiceClient::new(ch)
        .get_asset(cpb::AssetServiceGetAssetRequest {
            asset: Some(cpb::AssetRef {
                id: asset.id.clone(),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    use cpb::asset_service_get_asset_response::Msg;
    let (mut content_type, mut data) = (None, Vec::new());
    while let Some(m) = stream.message().await.unwrap() {
        match m.msg.unwrap() {
            Msg::Metadata(m) => content_type = Some(m.content_type),
            Msg::Data(d) => data.extend(d.data),
        }
    }
    assert_eq!(content_type.as_deref(), Some(asset.content_type.as_str()));
    assert_eq!(data, asset.data);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_by_entitlement_principal_and_entitlements() {
    let server = Server::start(&sample()).await;
    let store = server.store();
    let mut client = GrantsReaderServiceClient::new(server.channel.clone());
    let all: Vec<cpb::Grant> = store
        .stream_grants(GrantQuery::default())
        .map(|g| g.unwrap().grant)
        .collect();

    // The entitlement with the most grants, paged 3 at a time.
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for g in &all {
        *counts
            .entry(g.entitlement.as_ref().unwrap().id.clone())
            .or_default() += 1;
    }
    let (busiest, n) = counts.iter().max_by_key(|(_, n)| **n).unwrap();
    assert!(*n > 3);
    let ent = store
        .entitlement(&SyncSelector::Latest, busiest)
        .unwrap()
        .unwrap()
        .value;
    let (mut got, mut token) = (Vec::new(), String::new());
    loop {
        let page = client
            .list_grants_for_entitlement(rpb::GrantsReaderServiceListGrantsForEntitlementRequest {
                entitlement: Some(ent.clone()),
                page_size: 3,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        got.extend(grant_ids(&page.list));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let want = store_grant_ids(
        store,
        GrantQuery {
            entitlement_id: Some(busiest.clone()),
            ..Default::default()
        },
    );
    assert_eq!(got, want);
    assert_eq!(got.len(), *n);

    // By principal: the first grant's principal.
    let principal = key_of(all[0].principal.as_ref().unwrap());
    let (mut got, mut token) = (Vec::new(), String::new());
    loop {
        let page = client
            .list_grants_for_principal(rpb::GrantsReaderServiceListGrantsForPrincipalRequest {
                principal_id: Some(rid(&principal.resource_type, &principal.resource)),
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        got.extend(grant_ids(&page.list));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let want = store_grant_ids(
        store,
        GrantQuery {
            principal: Some(principal),
            ..Default::default()
        },
    );
    assert!(!want.is_empty());
    assert_eq!(got, want);

    // Several entitlements: each one's grants in request order, pages running across.
    let mut names: Vec<String> = counts.keys().take(4).cloned().collect();
    names.reverse();
    let ents: Vec<cpb::Entitlement> = names
        .iter()
        .map(|id| cpb::Entitlement {
            id: id.clone(),
            ..Default::default()
        })
        .collect();
    let (mut got, mut token) = (Vec::new(), String::new());
    loop {
        let page = client
            .list_grants_for_entitlements(
                rpb::GrantsReaderServiceListGrantsForEntitlementsRequest {
                    entitlements: ents.clone(),
                    page_size: 2,
                    page_token: token,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .into_inner();
        assert!(page.list.len() <= 2);
        got.extend(grant_ids(&page.list));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let want: Vec<String> = names
        .iter()
        .flat_map(|id| {
            store_grant_ids(
                store,
                GrantQuery {
                    entitlement_id: Some(id.clone()),
                    ..Default::default()
                },
            )
        })
        .collect();
    assert_eq!(got, want);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_are_listed_got_and_the_latest_finished_found() {
    let server = Server::start(&sample()).await;
    let store = server.store();
    let runs = store.sync_runs().unwrap();
    let mut client = SyncsReaderServiceClient::new(server.channel.clone());
    let (mut got, mut token) = (Vec::new(), String::new());
    loop {
        let page = client
            .list_syncs(rpb::SyncsReaderServiceListSyncsRequest {
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        got.extend(page.syncs);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let ids: Vec<&str> = got.iter().map(|s| s.id.as_str()).collect();
    let want: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, want);
    let latest = store.latest_finished_sync(None).unwrap().unwrap();
    let got = client
        .get_latest_finished_sync(rpb::SyncsReaderServiceGetLatestFinishedSyncRequest::default())
        .await
        .unwrap()
        .into_inner()
        .sync
        .unwrap();
    assert_eq!(got.id, latest.id.as_str());
    assert_eq!(got.sync_type, "full");
    assert!(got.ended_at.is_some());
    assert_eq!(
        got.started_at.unwrap().seconds,
        latest.started_at.and_utc().timestamp()
    );
    let stats = got.stats.expect("the sample's run has stats");
    assert_eq!((stats.resource_types, stats.grants), (4, 205));

    let one = client
        .get_sync(rpb::SyncsReaderServiceGetSyncRequest {
            sync_id: latest.id.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sync
        .unwrap();
    assert_eq!(one.id, latest.id.as_str());
    // No finished sync of a type: an empty answer, not an error (baton).
    let none = client
        .get_latest_finished_sync(rpb::SyncsReaderServiceGetLatestFinishedSyncRequest {
            sync_type: "partial_deletions".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(none.sync, None);
    server.stop().await;
}

pub(crate) async fn code_of<T>(r: Result<tonic::Response<T>, tonic::Status>) -> (Code, String) {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(s) => (s.code(), s.message().to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_has_its_code() {
    let server = Server::start(&sample()).await;
    let ch = server.channel.clone();
    let mut grants = GrantsServiceClient::new(ch.clone());
    let mut reader = GrantsReaderServiceClient::new(ch.clone());

    // A token this server did not issue.
    let (code, msg) = code_of(
        grants
            .list_grants(cpb::GrantsServiceListGrantsRequest {
                page_token: "not-a-token".into(),
                ..Default::default()
            })
            .await,
    )
    .await;
    assert_eq!(code, Code::InvalidArgument, "{msg}");
    assert!(msg.contains("next_page_token"), "{msg}");
    let (code, _) = code_of(
        reader
            .list_grants_for_entitlements(
                rpb::GrantsReaderServiceListGrantsForEntitlementsRequest {
                    entitlements: vec![cpb::Entitlement {
                        id: "x".into(),
                        ..Default::default()
                    }],
                    page_token: "7:".into(),
                    ..Default::default()
                },
            )
            .await,
    )
    .await;
    assert_eq!(code, Code::InvalidArgument);

    // An unknown sync, by field and by annotation.
    let (code, msg) = code_of(
        grants
            .list_grants(cpb::GrantsServiceListGrantsRequest {
                active_sync_id: UNKNOWN_SYNC.into(),
                ..Default::default()
            })
            .await,
    )
    .await;
    assert_eq!(code, Code::NotFound, "{msg}");
    assert!(
        msg.contains(UNKNOWN_SYNC) && msg.contains("ListSyncs"),
        "{msg}"
    );
    let (code, _) = code_of(
        reader
            .get_grant(rpb::GrantsReaderServiceGetGrantRequest {
                grant_id: "x".into(),
                annotations: vec![sync_details(UNKNOWN_SYNC)],
            })
            .await,
    )
    .await;
    assert_eq!(code, Code::NotFound);
    let (code, _) = code_of(
        SyncsReaderServiceClient::new(ch.clone())
            .get_sync(rpb::SyncsReaderServiceGetSyncRequest {
                sync_id: UNKNOWN_SYNC.into(),
                ..Default::default()
            })
            .await,
    )
    .await;
    assert_eq!(code, Code::NotFound);

    // Unknown objects: every get, and lists filtered by something the sync lacks.
    let (code, msg) = code_of(
        reader
            .get_grant(rpb::GrantsReaderServiceGetGrantRequest {
                grant_id: "no:such:grant".into(),
                ..Default::default()
            })
            .await,
    )
    .await;
    assert_eq!(code, Code::NotFound, "{msg}");
    assert!(msg.contains("no:such:grant"), "{msg}");
    let (code, _) = code_of(
        EntitlementsReaderServiceClient::new(ch.clone())
            .get_entitlement(rpb::EntitlementsReaderServiceGetEntitlementRequest {
                entitlement_id: "no:such:entitlement".into(),
                ..Default::default()
            })
            .await,
    )
    .await;
    assert_eq!(code, Code::NotFound);
    let (code, _) = code_of(
        ResourcesReaderServiceClient::new(ch.clone())
            .get_resource(rpb::ResourcesReaderServiceGetResourceRequest {
                resource_id: Some(rid("user", "nobody")),
                ..Default::default()
            })
            .await,
    )
    .await;
    assert_eq!(code, Code::NotFound);
    let (code, _) = code_of(
        ResourceTypesReaderServiceClient::new(ch.clone())
            .get_resource_type(rpb::ResourceTypesReaderServiceGetResourceTypeRequest {
                resource_type_id: "no-such-type".into(),
                ..Default::default()
            })
            .await,
    )
    .await;
    assert_eq!(code, Code::NotFound);
    let (code, _) = code_of(
        reader
            .list_grants_for_entitlement(rpb::GrantsReaderServiceListGrantsForEntitlementRequest {
                entitlement: Some(cpb::Entitlement {
                    id: "no:such:entitlement".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await,
    )
    .await;
    assert_eq!(code, Code::NotFound);
    let (code, _) = code_of(
        reader
            .list_grants_for_principal(rpb::GrantsReaderServiceListGrantsForPrincipalRequest {
                principal_id: Some(rid("user", "nobody")),
                ..Default::default()
            })
            .await,
    )
    .await;
    assert_eq!(code, Code::NotFound);
    let (code, _) = code_of(
        ResourcesServiceClient::new(ch.clone())
            .list_resources(cpb::ResourcesServiceListResourcesRequest {
                resource_type_id: "no-such-type".into(),
                ..Default::default()
            })
            .await,
    )
    .await;
    assert_eq!(code, Code::NotFound);
    let (code, _) = code_of(
        AssetServiceClient::new(ch.clone())
            .get_asset(cpb::AssetServiceGetAssetRequest {
                asset: Some(cpb::AssetRef {
                    id: "no-such-asset".into(),
                }),
            })
            .await,
    )
    .await;
    assert_eq!(code, Code::NotFound);

    // Missing required fields and bad values.
    let (code, msg) = code_of(
        reader
            .get_grant(rpb::GrantsReaderServiceGetGrantRequest::default())
            .await,
    )
    .await;
    assert_eq!(code, Code::InvalidArgument);
    assert!(msg.contains("grant_id"), "{msg}");
    let (code, _) = code_of(
        reader
            .list_grants_for_principal(
                rpb::GrantsReaderServiceListGrantsForPrincipalRequest::default(),
            )
            .await,
    )
    .await;
    assert_eq!(code, Code::InvalidArgument);
    let (code, _) = code_of(
        SyncsReaderServiceClient::new(ch.clone())
            .get_latest_finished_sync(rpb::SyncsReaderServiceGetLatestFinishedSyncRequest {
                sync_type: "weekly".into(),
                ..Default::default()
            })
            .await,
    )
    .await;
    assert_eq!(code, Code::InvalidArgument);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_page_at_once() {
    let server = Server::start(&sample()).await;
    let expected = store_grant_ids(server.store(), GrantQuery::default());
    // Two connections of their own, interleaving small pages.
    let (a, b) = (connect(server.addr).await, connect(server.addr).await);
    let ((ga, pa), (gb, pb)) = tokio::join!(
        tokio::spawn(all_grants(a, 3, "", vec![])),
        tokio::spawn(all_grants(b, 5, "", vec![]))
    )
    .map_both();
    assert_eq!(grant_ids(&ga), expected);
    assert_eq!(grant_ids(&gb), expected);
    assert_eq!((pa, pb), (205usize.div_ceil(3), 205usize.div_ceil(5)));
    server.stop().await;
}

/// `tokio::join!` of two spawned tasks, unwrapped.
trait MapBoth<A, B> {
    fn map_both(self) -> (A, B);
}

impl<A, B> MapBoth<A, B>
    for (
        Result<A, tokio::task::JoinError>,
        Result<B, tokio::task::JoinError>,
    )
{
    fn map_both(self) -> (A, B) {
        (self.0.unwrap(), self.1.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_serving_and_reflection_lists_the_services() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let server = Server::start(&sample()).await;
    let mut health = HealthClient::new(server.channel.clone());
    for service in [
        "",
        "c1.reader.v2.GrantsReaderService",
        "c1.connector.v2.GrantsService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(server.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream_once(request))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a service list: {response:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "c1.connector.v2.AssetService",
            "c1.connector.v2.EntitlementsService",
            "c1.connector.v2.GrantsService",
            "c1.connector.v2.ResourceTypesService",
            "c1.connector.v2.ResourcesService",
            "c1.reader.v2.EntitlementsReaderService",
            "c1.reader.v2.GrantsReaderService",
            "c1.reader.v2.ResourceTypesReaderService",
            "c1.reader.v2.ResourcesReaderService",
            "c1.reader.v2.SyncsReaderService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]
    );
    // A service's file resolves, with its imports (what grpcurl needs to describe it).
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "c1.reader.v2.GrantsReaderService".into(),
        )),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream_once(request))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response else {
        panic!("no file descriptors: {response:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());
    server.stop().await;
}

fn tokio_stream_once<T: Send + 'static>(
    item: T,
) -> impl tonic::codegen::tokio_stream::Stream<Item = T> + Send + 'static {
    tonic::codegen::tokio_stream::iter([item])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_sync_is_read_by_field_or_annotation() {
    let Some(samples) = samples() else { return };
    let server = Server::start(&samples.join(MULTI)).await;
    let store = server.store();
    let (default, _) = all_grants(server.channel.clone(), 500, "", vec![]).await;
    assert_eq!(default.len(), 1502);
    assert_eq!(
        grant_ids(&default),
        store_grant_ids(
            store,
            GrantQuery {
                sync: SyncSelector::Id(SYNC_D.into()),
                ..Default::default()
            }
        )
    );
    let (by_field, _) = all_grants(server.channel.clone(), 500, SYNC_A, vec![]).await;
    let (by_annotation, _) =
        all_grants(server.channel.clone(), 500, "", vec![sync_details(SYNC_A)]).await;
    assert_eq!(by_field.len(), 1498);
    assert_eq!(by_field, by_annotation);

    // Reader gets take the annotation too.
    let id = &by_field[0].id;
    let got = GrantsReaderServiceClient::new(server.channel.clone())
        .get_grant(rpb::GrantsReaderServiceGetGrantRequest {
            grant_id: id.clone(),
            annotations: vec![sync_details(SYNC_A)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.grant.as_ref(), Some(&by_field[0]));

    let page = SyncsReaderServiceClient::new(server.channel.clone())
        .list_syncs(rpb::SyncsReaderServiceListSyncsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.syncs.len(), 4);
    assert!(page.next_page_token.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baton_pebble_file_serves() {
    let Some(samples) = samples() else { return };
    let server = Server::start(&samples.join(PEBBLE)).await;
    let (grants, _) = all_grants(server.channel.clone(), 100, "", vec![]).await;
    assert_eq!(grants.len(), 1502);
    assert_eq!(
        grant_ids(&grants),
        store_grant_ids(server.store(), GrantQuery::default())
    );
    // baton's Pebble reader returns expansion edges as GrantExpandable annotations.
    let expandable = grants
        .iter()
        .filter(|g| g.annotations.iter().any(|a| any_is(a, GRANT_EXPANDABLE)))
        .count();
    assert_eq!(expandable, 30);

    let page = ResourcesServiceClient::new(server.channel.clone())
        .list_resources(cpb::ResourcesServiceListResourcesRequest {
            resource_type_id: "user".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.list.len(), 300);
    let latest = SyncsReaderServiceClient::new(server.channel.clone())
        .get_latest_finished_sync(rpb::SyncsReaderServiceGetLatestFinishedSyncRequest::default())
        .await
        .unwrap()
        .into_inner()
        .sync
        .unwrap();
    assert_eq!(latest.id, "3MSzW63iBPkLz0bLA62xGeHQmb1");
    server.stop().await;
}

/// `c1z serve`: prints its address once ready, answers, and exits 0 on SIGTERM; a
/// non-loopback address without --allow-remote is refused.
#[test]
fn the_binary_serves_until_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_c1z"))
        .args([
            "serve",
            sample().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{line}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let n = runtime.block_on(async {
        let (grants, _) = all_grants(connect(addr).await, 0, "", vec![]).await;
        grants.len()
    });
    assert_eq!(n, 205);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(rest.contains("shutting down"), "{rest}");

    let out = Command::new(env!("CARGO_BIN_EXE_c1z"))
        .args(["serve", sample().to_str().unwrap(), "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow-remote"), "{err}");
}
