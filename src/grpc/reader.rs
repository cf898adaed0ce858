//! The `c1.reader.v2` services: gets of each kind, grants by entitlement(s), principal and
//! resource type, and the sync runs.

use tonic::{Request, Response, Status};

use super::convert::{self, Rows};
use super::status::clip;
use super::{ReaderService, list_selector, page_request, requested_sync, selector};
use crate::error::{Error, Result};
use crate::model::{ResourceKey, SyncType};
use crate::pb::c1::connector::v2::{Entitlement, Grant, ResourceId};
use crate::pb::c1::reader::v2::entitlements_reader_service_server::EntitlementsReaderService;
use crate::pb::c1::reader::v2::grants_reader_service_server::GrantsReaderService;
use crate::pb::c1::reader::v2::resource_types_reader_service_server::ResourceTypesReaderService;
use crate::pb::c1::reader::v2::resources_reader_service_server::ResourcesReaderService;
use crate::pb::c1::reader::v2::syncs_reader_service_server::SyncsReaderService;
use crate::pb::c1::reader::v2::{
    EntitlementsReaderServiceGetEntitlementRequest as GetEntitlementRequest,
    EntitlementsReaderServiceGetEntitlementResponse as GetEntitlementResponse,
    EntitlementsReaderServiceListEntitlementsByIdsRequest as EntitlementsByIdsRequest,
    EntitlementsReaderServiceListEntitlementsByIdsResponse as EntitlementsByIdsResponse,
    GrantsReaderServiceGetGrantRequest as GetGrantRequest,
    GrantsReaderServiceGetGrantResponse as GetGrantResponse,
    GrantsReaderServiceListGrantsForEntitlementRequest as ForEntitlementRequest,
    GrantsReaderServiceListGrantsForEntitlementResponse as ForEntitlementResponse,
    GrantsReaderServiceListGrantsForEntitlementsRequest as ForEntitlementsRequest,
    GrantsReaderServiceListGrantsForEntitlementsResponse as ForEntitlementsResponse,
    GrantsReaderServiceListGrantsForPrincipalRequest as ForPrincipalRequest,
    GrantsReaderServiceListGrantsForPrincipalResponse as ForPrincipalResponse,
    GrantsReaderServiceListGrantsForResourceTypeRequest as ForResourceTypeRequest,
    GrantsReaderServiceListGrantsForResourceTypeResponse as ForResourceTypeResponse,
    ResourceTypesReaderServiceGetResourceTypeRequest as GetResourceTypeRequest,
    ResourceTypesReaderServiceGetResourceTypeResponse as GetResourceTypeResponse,
    ResourcesReaderServiceGetResourceRequest as GetResourceRequest,
    ResourcesReaderServiceGetResourceResponse as GetResourceResponse,
    ResourcesReaderServiceListResourcesByIdsRequest as ResourcesByIdsRequest,
    ResourcesReaderServiceListResourcesByIdsResponse as ResourcesByIdsResponse,
    SyncsReaderServiceGetLatestFinishedSyncRequest as GetLatestFinishedSyncRequest,
    SyncsReaderServiceGetLatestFinishedSyncResponse as GetLatestFinishedSyncResponse,
    SyncsReaderServiceGetSyncRequest as GetSyncRequest,
    SyncsReaderServiceGetSyncResponse as GetSyncResponse,
    SyncsReaderServiceListSyncsRequest as ListSyncsRequest,
    SyncsReaderServiceListSyncsResponse as ListSyncsResponse,
};
use crate::store::{AnyStore, GrantQuery, PageRequest, Reader, ReaderExt, SyncSelector};

/// Most ids a by-ids request may name (baton's validator).
const MAX_IDS: usize = 1024;
/// Most entitlements a `ListGrantsForEntitlements` request may name (baton's validator).
const MAX_ENTITLEMENTS: usize = 128;

type Reply<T> = std::result::Result<Response<T>, Status>;

/// A required string field: empty is `INVALID_ARGUMENT`.
pub(super) fn required(value: String, field: &str) -> std::result::Result<String, Status> {
    if value.is_empty() {
        Err(Status::invalid_argument(format!("{field} is required")))
    } else {
        Ok(value)
    }
}

/// A required resource id: absent or with an empty part is `INVALID_ARGUMENT`.
pub(super) fn required_key(
    id: Option<ResourceId>,
    field: &str,
) -> std::result::Result<ResourceKey, Status> {
    match id {
        Some(id) if !id.resource_type.is_empty() && !id.resource.is_empty() => {
            Ok(ResourceKey::new(id.resource_type, id.resource))
        }
        _ => Err(Status::invalid_argument(format!(
            "{field} is required, with resource_type and resource set"
        ))),
    }
}

/// An optional resource id (absent or all empty: none); half-set is `INVALID_ARGUMENT`.
pub(super) fn optional_key(
    id: Option<ResourceId>,
    field: &str,
) -> std::result::Result<Option<ResourceKey>, Status> {
    match id {
        None => Ok(None),
        Some(id) if id.resource_type.is_empty() && id.resource.is_empty() => Ok(None),
        id => required_key(id, field).map(Some),
    }
}

fn at_most<T>(list: &[T], max: usize, field: &str) -> std::result::Result<(), Status> {
    if list.len() > max {
        Err(Status::invalid_argument(format!(
            "{field} names {} items; at most {max} are allowed per request",
            list.len()
        )))
    } else {
        Ok(())
    }
}

/// `Ok` if `found`, else the object named is [`Error::NotFound`].
pub(super) fn ensure(found: bool, what: &'static str, id: impl Into<String>) -> Result<()> {
    if found {
        Ok(())
    } else {
        Err(Error::not_found(what, id))
    }
}

/// A fitted page of the grants `query` matches.
pub(super) fn grant_page(
    store: &AnyStore,
    svc: &ReaderService,
    query: &GrantQuery,
    page: &PageRequest,
) -> Result<Rows<Grant>> {
    let reattach = svc.pebble;
    convert::fitted(
        page.size,
        &page.token,
        svc.cancelled(),
        |size, token, out| {
            let page = store.list_grants(query, &PageRequest::after(size, token))?;
            out.extend(page.items.into_iter().map(|r| convert::grant(r, reattach)));
            Ok(page.next_page_token)
        },
    )
}

/// The id of a required entitlement message.
fn entitlement_id(e: Option<Entitlement>, field: &str) -> std::result::Result<String, Status> {
    required(e.map(|e| e.id).unwrap_or_default(), &format!("{field}.id"))
}

#[tonic::async_trait]
impl ResourceTypesReaderService for ReaderService {
    async fn get_resource_type(
        &self,
        request: Request<GetResourceTypeRequest>,
    ) -> Reply<GetResourceTypeResponse> {
        let req = request.into_inner();
        let sync = requested_sync("", &req.annotations)?;
        let id = required(req.resource_type_id, "resource_type_id")?;
        self.blocking(move |store, _| {
            let sel = selector(store, sync)?;
            let rt = store
                .resource_type(&sel, &id)?
                .ok_or_else(|| Error::not_found("resource type", &id))?;
            Ok(GetResourceTypeResponse {
                resource_type: Some(rt.value),
            })
        })
        .await
        .map(Response::new)
    }
}

#[tonic::async_trait]
impl ResourcesReaderService for ReaderService {
    async fn get_resource(
        &self,
        request: Request<GetResourceRequest>,
    ) -> Reply<GetResourceResponse> {
        let req = request.into_inner();
        let sync = requested_sync("", &req.annotations)?;
        let key = required_key(req.resource_id, "resource_id")?;
        self.blocking(move |store, _| {
            let sel = selector(store, sync)?;
            let r = store
                .resource(&sel, &key)?
                .ok_or_else(|| Error::not_found("resource", key.to_string()))?;
            Ok(GetResourceResponse {
                resource: Some(r.value),
            })
        })
        .await
        .map(Response::new)
    }

    async fn list_resources_by_ids(
        &self,
        request: Request<ResourcesByIdsRequest>,
    ) -> Reply<ResourcesByIdsResponse> {
        let req = request.into_inner();
        let sync = requested_sync("", &req.annotations)?;
        at_most(&req.resource_ids, MAX_IDS, "resource_ids")?;
        let keys = req
            .resource_ids
            .into_iter()
            .map(|id| required_key(Some(id), "resource_ids[]"))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.blocking(move |store, _| {
            let sel = selector(store, sync)?;
            let list = store.resources_by_keys(&sel, &keys)?;
            Ok(ResourcesByIdsResponse {
                list: list.into_iter().map(|r| r.value).collect(),
            })
        })
        .await
        .map(Response::new)
    }
}

#[tonic::async_trait]
impl EntitlementsReaderService for ReaderService {
    async fn get_entitlement(
        &self,
        request: Request<GetEntitlementRequest>,
    ) -> Reply<GetEntitlementResponse> {
        let req = request.into_inner();
        let sync = requested_sync("", &req.annotations)?;
        let id = required(req.entitlement_id, "entitlement_id")?;
        self.blocking(move |store, _| {
            let sel = selector(store, sync)?;
            let e = store
                .entitlement(&sel, &id)?
                .ok_or_else(|| Error::not_found("entitlement", &id))?;
            Ok(GetEntitlementResponse {
                entitlement: Some(e.value),
            })
        })
        .await
        .map(Response::new)
    }

    async fn list_entitlements_by_ids(
        &self,
        request: Request<EntitlementsByIdsRequest>,
    ) -> Reply<EntitlementsByIdsResponse> {
        let req = request.into_inner();
        let sync = requested_sync("", &req.annotations)?;
        at_most(&req.entitlement_ids, MAX_IDS, "entitlement_ids")?;
        let ids = req.entitlement_ids;
        self.blocking(move |store, _| {
            let sel = selector(store, sync)?;
            let list = store.entitlements_by_ids(&sel, &ids)?;
            Ok(EntitlementsByIdsResponse {
                list: list.into_iter().map(|e| e.value).collect(),
            })
        })
        .await
        .map(Response::new)
    }
}

/// The position in a `ListGrantsForEntitlements` listing: the index of the entitlement
/// being read and the store's token within it, as `"{index}:{token}"`.
fn parse_multi_token(token: &str, entitlements: usize) -> Result<(usize, String)> {
    if token.is_empty() {
        return Ok((0, String::new()));
    }
    token
        .split_once(':')
        .and_then(|(i, inner)| Some((i.parse::<usize>().ok()?, inner.to_owned())))
        .filter(|(i, _)| *i < entitlements)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "page token '{token}' was not issued for this list of entitlements"
            ))
        })
}

/// One page of `ListGrantsForEntitlements`: the grants of each entitlement in request
/// order, a page running on into the next entitlement until it is full.
fn grants_for_entitlements(
    store: &AnyStore,
    svc: &ReaderService,
    sel: &SyncSelector,
    ids: &[String],
    page: &PageRequest,
) -> Result<Rows<Grant>> {
    let reattach = svc.pebble;
    convert::fitted(
        page.size,
        &page.token,
        svc.cancelled(),
        |size, token, rows| {
            let (mut index, mut inner) = parse_multi_token(token, ids.len())?;
            let (start, size) = (rows.len(), size as usize);
            while index < ids.len() && rows.len() - start < size {
                let query = GrantQuery {
                    sync: sel.clone(),
                    entitlement_id: Some(ids[index].clone()),
                    ..Default::default()
                };
                let left = u32::try_from(size - (rows.len() - start)).unwrap_or(u32::MAX);
                let page = store.list_grants(&query, &PageRequest::after(left, inner))?;
                rows.extend(page.items.into_iter().map(|r| convert::grant(r, reattach)));
                inner = page.next_page_token;
                if inner.is_empty() {
                    index += 1;
                }
            }
            Ok(if index < ids.len() {
                format!("{index}:{inner}")
            } else {
                String::new()
            })
        },
    )
}

#[tonic::async_trait]
impl GrantsReaderService for ReaderService {
    async fn get_grant(&self, request: Request<GetGrantRequest>) -> Reply<GetGrantResponse> {
        let req = request.into_inner();
        let sync = requested_sync("", &req.annotations)?;
        let id = required(req.grant_id, "grant_id")?;
        self.blocking(move |store, svc| {
            let sel = selector(store, sync)?;
            let g = store
                .grant(&sel, &id)?
                .ok_or_else(|| Error::not_found("grant", &id))?;
            Ok(GetGrantResponse {
                grant: Some(convert::grant(g, svc.pebble)),
            })
        })
        .await
        .map(Response::new)
    }

    async fn list_grants_for_entitlement(
        &self,
        request: Request<ForEntitlementRequest>,
    ) -> Reply<ForEntitlementResponse> {
        let req = request.into_inner();
        let sync = requested_sync("", &req.annotations)?;
        let id = entitlement_id(req.entitlement, "entitlement")?;
        let principal = optional_key(req.principal_id, "principal_id")?;
        let page = page_request(req.page_size, &req.page_token);
        let types = req.principal_resource_type_ids;
        self.blocking(move |store, svc| {
            let sel = list_selector(store, sync)?.unwrap_or_default();
            let query = GrantQuery {
                sync: sel.clone(),
                entitlement_id: Some(id.clone()),
                principal,
                principal_resource_type_ids: types,
                ..Default::default()
            };
            let (list, next_page_token) = grant_page(store, svc, &query, &page)?;
            if list.is_empty() && page.token.is_empty() {
                ensure(store.entitlement(&sel, &id)?.is_some(), "entitlement", &id)?;
            }
            Ok(ForEntitlementResponse {
                list,
                next_page_token,
            })
        })
        .await
        .map(Response::new)
    }

    async fn list_grants_for_resource_type(
        &self,
        request: Request<ForResourceTypeRequest>,
    ) -> Reply<ForResourceTypeResponse> {
        let req = request.into_inner();
        let sync = requested_sync("", &req.annotations)?;
        let page = page_request(req.page_size, &req.page_token);
        let rt = req.resource_type_id;
        self.blocking(move |store, svc| {
            let sel = list_selector(store, sync)?.unwrap_or_default();
            let mut query = GrantQuery {
                sync: sel.clone(),
                ..Default::default()
            };
            // baton's engines differ: its SQLite reader filters on the entitlement's
            // resource type, its Pebble reader on the principal's.
            if !rt.is_empty() {
                if svc.pebble {
                    query.principal_resource_type_ids = vec![rt.clone()];
                } else {
                    query.resource_type_id = Some(rt.clone());
                }
            }
            let (list, next_page_token) = grant_page(store, svc, &query, &page)?;
            if list.is_empty() && page.token.is_empty() && !rt.is_empty() {
                ensure(
                    store.resource_type(&sel, &rt)?.is_some(),
                    "resource type",
                    &rt,
                )?;
            }
            Ok(ForResourceTypeResponse {
                list,
                next_page_token,
            })
        })
        .await
        .map(Response::new)
    }

    async fn list_grants_for_entitlements(
        &self,
        request: Request<ForEntitlementsRequest>,
    ) -> Reply<ForEntitlementsResponse> {
        let req = request.into_inner();
        let sync = requested_sync("", &req.annotations)?;
        at_most(&req.entitlements, MAX_ENTITLEMENTS, "entitlements")?;
        let ids = req
            .entitlements
            .into_iter()
            .map(|e| required(e.id, "entitlements[].id"))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let page = page_request(req.page_size, &req.page_token);
        self.blocking(move |store, svc| {
            let sel = list_selector(store, sync)?.unwrap_or_default();
            let (list, next_page_token) = grants_for_entitlements(store, svc, &sel, &ids, &page)?;
            Ok(ForEntitlementsResponse {
                list,
                next_page_token,
            })
        })
        .await
        .map(Response::new)
    }

    async fn list_grants_for_principal(
        &self,
        request: Request<ForPrincipalRequest>,
    ) -> Reply<ForPrincipalResponse> {
        let req = request.into_inner();
        let sync = requested_sync("", &req.annotations)?;
        let principal = required_key(req.principal_id, "principal_id")?;
        let entitlement = req.entitlement.map(|e| e.id).filter(|id| !id.is_empty());
        let page = page_request(req.page_size, &req.page_token);
        self.blocking(move |store, svc| {
            let sel = list_selector(store, sync)?.unwrap_or_default();
            let query = GrantQuery {
                sync: sel.clone(),
                principal: Some(principal.clone()),
                entitlement_id: entitlement,
                ..Default::default()
            };
            let (list, next_page_token) = grant_page(store, svc, &query, &page)?;
            if list.is_empty() && page.token.is_empty() {
                ensure(
                    store.resource(&sel, &principal)?.is_some(),
                    "principal",
                    principal.to_string(),
                )?;
            }
            Ok(ForPrincipalResponse {
                list,
                next_page_token,
            })
        })
        .await
        .map(Response::new)
    }
}

#[tonic::async_trait]
impl SyncsReaderService for ReaderService {
    async fn get_sync(&self, request: Request<GetSyncRequest>) -> Reply<GetSyncResponse> {
        let req = request.into_inner();
        let id = requested_sync(&req.sync_id, &req.annotations)?
            .ok_or_else(|| Status::invalid_argument("sync_id is required"))?;
        self.blocking(move |store, _| {
            let run = store.require_sync_run(&id)?;
            Ok(GetSyncResponse {
                sync: Some(convert::sync_run(run)),
                annotations: Vec::new(),
            })
        })
        .await
        .map(Response::new)
    }

    async fn list_syncs(&self, request: Request<ListSyncsRequest>) -> Reply<ListSyncsResponse> {
        let req = request.into_inner();
        let page = page_request(req.page_size, &req.page_token);
        self.blocking(move |store, svc| {
            let (syncs, next_page_token) = convert::fitted(
                page.size,
                &page.token,
                svc.cancelled(),
                |size, token, out| {
                    let page = store.list_sync_runs(&PageRequest::after(size, token))?;
                    out.extend(page.items.into_iter().map(convert::sync_run));
                    Ok(page.next_page_token)
                },
            )?;
            Ok(ListSyncsResponse {
                syncs,
                next_page_token,
                annotations: Vec::new(),
            })
        })
        .await
        .map(Response::new)
    }

    async fn get_latest_finished_sync(
        &self,
        request: Request<GetLatestFinishedSyncRequest>,
    ) -> Reply<GetLatestFinishedSyncResponse> {
        let req = request.into_inner();
        let ty = match req.sync_type.as_str() {
            "" => None,
            s => Some(SyncType::parse(s).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "unknown sync_type '{}'; use full, partial, resources_only, \
                     partial_upserts, partial_deletions, or \"\" for any",
                    clip(s.to_owned())
                ))
            })?),
        };
        self.blocking(move |store, _| {
            Ok(GetLatestFinishedSyncResponse {
                sync: store.latest_finished_sync(ty)?.map(convert::sync_run),
                annotations: Vec::new(),
            })
        })
        .await
        .map(Response::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_entitlement_tokens_round_trip_and_reject_strangers() {
        assert_eq!(parse_multi_token("", 2).ok(), Some((0, String::new())));
        assert_eq!(
            parse_multi_token("1:abc:d", 2).ok(),
            Some((1, "abc:d".to_owned()))
        );
        assert!(parse_multi_token("2:", 2).is_err());
        assert!(parse_multi_token("x:1", 2).is_err());
        assert!(parse_multi_token("garbage", 2).is_err());
    }
}
