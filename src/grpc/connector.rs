//! The `c1.connector.v2` List RPCs over the file (what baton's stores serve in-process),
//! and `AssetService.GetAsset`.

use std::pin::Pin;

use tonic::codegen::tokio_stream::{self, Stream};
use tonic::{Request, Response, Status};

use super::convert::{self, Rows};
use super::reader::{ensure, grant_page, optional_key, required};
use super::{ReaderService, list_selector, page_request, requested_sync, selector};
use crate::error::{Error, Result};
use crate::model::{Record, ResourceKey};
use crate::pb::c1::connector::v2::asset_service_get_asset_response::{Data, Metadata, Msg};
use crate::pb::c1::connector::v2::asset_service_server::AssetService;
use crate::pb::c1::connector::v2::entitlements_service_server::EntitlementsService;
use crate::pb::c1::connector::v2::grants_service_server::GrantsService;
use crate::pb::c1::connector::v2::resource_types_service_server::ResourceTypesService;
use crate::pb::c1::connector::v2::resources_service_server::ResourcesService;
use crate::pb::c1::connector::v2::{
    AssetServiceGetAssetRequest, AssetServiceGetAssetResponse,
    EntitlementsServiceListEntitlementsRequest as ListEntitlementsRequest,
    EntitlementsServiceListEntitlementsResponse as ListEntitlementsResponse,
    EntitlementsServiceListStaticEntitlementsRequest as ListStaticEntitlementsRequest,
    EntitlementsServiceListStaticEntitlementsResponse as ListStaticEntitlementsResponse,
    GrantsServiceListGrantsRequest as ListGrantsRequest,
    GrantsServiceListGrantsResponse as ListGrantsResponse, Resource,
    ResourceTypesServiceListResourceTypesRequest as ListResourceTypesRequest,
    ResourceTypesServiceListResourceTypesResponse as ListResourceTypesResponse,
    ResourcesServiceListResourcesRequest as ListResourcesRequest,
    ResourcesServiceListResourcesResponse as ListResourcesResponse,
};
use crate::store::{
    EntitlementQuery, GrantQuery, Page, PageRequest, Reader, ResourceQuery, ResourceTypeQuery,
};

/// Largest data chunk of a `GetAsset` stream (baton's limit).
const ASSET_CHUNK: usize = 1 << 20;

type Reply<T> = std::result::Result<Response<T>, Status>;

/// A fitted page of records' values from `list`.
fn values<T: prost::Message>(
    svc: &ReaderService,
    page: &PageRequest,
    list: impl Fn(&PageRequest) -> Result<Page<Record<T>>>,
) -> Result<Rows<T>> {
    convert::fitted(
        page.size,
        &page.token,
        svc.cancelled(),
        |size, token, out| {
            let page = list(&PageRequest::after(size, token))?;
            out.extend(page.items.into_iter().map(|r| r.value));
            Ok(page.next_page_token)
        },
    )
}

/// The key of an optional resource filter given as a `Resource` message.
fn resource_filter(
    resource: Option<Resource>,
    field: &str,
) -> std::result::Result<Option<ResourceKey>, Status> {
    optional_key(resource.and_then(|r| r.id), &format!("{field}.id"))
}

#[tonic::async_trait]
impl ResourceTypesService for ReaderService {
    async fn list_resource_types(
        &self,
        request: Request<ListResourceTypesRequest>,
    ) -> Reply<ListResourceTypesResponse> {
        let req = request.into_inner();
        let sync = requested_sync(&req.active_sync_id, &req.annotations)?;
        let page = page_request(req.page_size, &req.page_token);
        self.blocking(move |store, svc| {
            let query = ResourceTypeQuery {
                sync: list_selector(store, sync)?.unwrap_or_default(),
            };
            let (list, next_page_token) =
                values(svc, &page, |p| store.list_resource_types(&query, p))?;
            Ok(ListResourceTypesResponse {
                list,
                next_page_token,
                annotations: Vec::new(),
            })
        })
        .await
        .map(Response::new)
    }
}

#[tonic::async_trait]
impl ResourcesService for ReaderService {
    async fn list_resources(
        &self,
        request: Request<ListResourcesRequest>,
    ) -> Reply<ListResourcesResponse> {
        let req = request.into_inner();
        let sync = requested_sync(&req.active_sync_id, &req.annotations)?;
        let parent = optional_key(req.parent_resource_id, "parent_resource_id")?;
        let rt = Some(req.resource_type_id).filter(|t| !t.is_empty());
        let page = page_request(req.page_size, &req.page_token);
        self.blocking(move |store, svc| {
            let sel = list_selector(store, sync)?.unwrap_or_default();
            let query = ResourceQuery {
                sync: sel.clone(),
                resource_type_id: rt.clone(),
                parent: parent.clone(),
            };
            let (list, next_page_token) = values(svc, &page, |p| store.list_resources(&query, p))?;
            if list.is_empty() && page.token.is_empty() {
                if let Some(rt) = &rt {
                    ensure(
                        store.resource_type(&sel, rt)?.is_some(),
                        "resource type",
                        rt,
                    )?;
                }
                if let Some(p) = &parent {
                    ensure(
                        store.resource(&sel, p)?.is_some(),
                        "resource",
                        p.to_string(),
                    )?;
                }
            }
            Ok(ListResourcesResponse {
                list,
                next_page_token,
                annotations: Vec::new(),
            })
        })
        .await
        .map(Response::new)
    }
}

#[tonic::async_trait]
impl EntitlementsService for ReaderService {
    async fn list_entitlements(
        &self,
        request: Request<ListEntitlementsRequest>,
    ) -> Reply<ListEntitlementsResponse> {
        let req = request.into_inner();
        let sync = requested_sync(&req.active_sync_id, &req.annotations)?;
        let resource = resource_filter(req.resource, "resource")?;
        let page = page_request(req.page_size, &req.page_token);
        self.blocking(move |store, svc| {
            let sel = list_selector(store, sync)?.unwrap_or_default();
            let query = EntitlementQuery {
                sync: sel.clone(),
                resource: resource.clone(),
            };
            let (list, next_page_token) =
                values(svc, &page, |p| store.list_entitlements(&query, p))?;
            if list.is_empty()
                && page.token.is_empty()
                && let Some(r) = &resource
            {
                ensure(
                    store.resource(&sel, r)?.is_some(),
                    "resource",
                    r.to_string(),
                )?;
            }
            Ok(ListEntitlementsResponse {
                list,
                next_page_token,
                annotations: Vec::new(),
            })
        })
        .await
        .map(Response::new)
    }

    /// Always an empty list, as in both of baton's stores (a file keeps no static
    /// entitlements apart from the others).
    async fn list_static_entitlements(
        &self,
        request: Request<ListStaticEntitlementsRequest>,
    ) -> Reply<ListStaticEntitlementsResponse> {
        let req = request.into_inner();
        let sync = requested_sync(&req.active_sync_id, &req.annotations)?;
        self.blocking(move |store, _| {
            selector(store, sync)?;
            Ok(ListStaticEntitlementsResponse::default())
        })
        .await
        .map(Response::new)
    }
}

#[tonic::async_trait]
impl GrantsService for ReaderService {
    /// Grants on entitlements of `resource` (the entitlement's resource, not the
    /// principal), or every grant when it is absent.
    async fn list_grants(&self, request: Request<ListGrantsRequest>) -> Reply<ListGrantsResponse> {
        let req = request.into_inner();
        let sync = requested_sync(&req.active_sync_id, &req.annotations)?;
        let resource = resource_filter(req.resource, "resource")?;
        let page = page_request(req.page_size, &req.page_token);
        self.blocking(move |store, svc| {
            let sel = list_selector(store, sync)?.unwrap_or_default();
            let query = GrantQuery {
                sync: sel.clone(),
                resource: resource.clone(),
                ..Default::default()
            };
            let (list, next_page_token) = grant_page(store, svc, &query, &page)?;
            if list.is_empty()
                && page.token.is_empty()
                && let Some(r) = &resource
            {
                ensure(
                    store.resource(&sel, r)?.is_some(),
                    "resource",
                    r.to_string(),
                )?;
            }
            Ok(ListGrantsResponse {
                list,
                next_page_token,
                annotations: Vec::new(),
            })
        })
        .await
        .map(Response::new)
    }
}

/// The messages of a `GetAsset` stream.
pub(super) type AssetStream =
    Pin<Box<dyn Stream<Item = std::result::Result<AssetServiceGetAssetResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AssetService for ReaderService {
    type GetAssetStream = AssetStream;

    /// The asset's content type, then its bytes in chunks of at most 1 MiB.
    async fn get_asset(
        &self,
        request: Request<AssetServiceGetAssetRequest>,
    ) -> Reply<Self::GetAssetStream> {
        let req = request.into_inner();
        let id = required(req.asset.map(|a| a.id).unwrap_or_default(), "asset.id")?;
        let asset = self
            .blocking(move |store, _| {
                store
                    .asset(&crate::store::SyncSelector::Latest, &id)?
                    .ok_or_else(|| Error::not_found("asset", &id))
            })
            .await?;
        // Chunks are copied out one at a time as the stream is polled (hyper polls once
        // the client's flow-control window has room), not all up front: a stalled or
        // vanished reader holds the asset once, and dropping the stream frees it.
        let data = asset.data;
        let chunks = data.len().div_ceil(ASSET_CHUNK);
        let metadata = Msg::Metadata(Metadata {
            content_type: asset.content_type,
        });
        let messages = std::iter::once(metadata)
            .chain((0..chunks).map(move |i| {
                let from = i * ASSET_CHUNK;
                let to = data.len().min(from + ASSET_CHUNK);
                Msg::Data(Data {
                    data: data.get(from..to).unwrap_or_default().to_vec(),
                })
            }))
            .map(|m| Ok(AssetServiceGetAssetResponse { msg: Some(m) }));
        let stream: AssetStream = Box::pin(tokio_stream::iter(messages));
        Ok(Response::new(stream))
    }
}
