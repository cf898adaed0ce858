//! A read-only gRPC server over one open `.c1z` file (what `c1z serve` runs): baton's
//! `c1.reader.v2` services, the `c1.connector.v2` List RPCs and `GetAsset`, plus the
//! standard `grpc.health.v1` and server-reflection services.
//!
//! The storage core is synchronous; this module is the only async layer. Every RPC
//! validates its request, runs the store calls on tokio's blocking pool
//! (`spawn_blocking`), converts the rows ([`convert`](self)) and maps c1z's errors to gRPC
//! codes (`status.rs`). The file is opened read-only and never modified.
//!
//! # Sync selection
//! A request reads the sync named by its `active_sync_id` field (the connector List
//! requests have one) or else by a `c1.c1z.v1.SyncDetails` annotation; without either it
//! reads baton's default ([`SyncSelector::Latest`]). A named sync the file lacks is
//! `NOT_FOUND`.
//!
//! # Pages
//! `page_size` is clamped as baton's stores clamp it ([`PageRequest::effective_size`]: `0`
//! or more than [`crate::store::MAX_PAGE_SIZE`] means 10,000). A page is also cut short so
//! its response stays under [`MAX_RESPONSE_BYTES`] (the default message limit of gRPC
//! clients is 4 MiB); `next_page_token` then continues after the last row sent, so a
//! client that pages until the token is empty sees every row exactly once. A token is
//! opaque: one this server did not issue is `INVALID_ARGUMENT`.
//!
//! # Limits
//! A request larger than [`MAX_REQUEST_BYTES`] is refused before it is read (tonic's
//! `OUT_OF_RANGE`); a connection opens at most [`MAX_STREAMS_PER_CONNECTION`] requests at
//! once; at most [`ReaderService::max_store_calls`] store calls run at once, the others
//! wait (cheaply, without a thread). A call whose client goes away stops its page at the
//! next chunk. Status messages are cut to a bounded length, so an echoed id or token
//! never makes a response header larger than clients accept.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let file = c1z::C1zFile::open_read_only("sync.c1z")?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
//! let service = c1z::grpc::ReaderService::new(file);
//! c1z::grpc::serve(service, listener, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(()) }
//! ```

// tonic's service traits return `Result<_, tonic::Status>` (a large error); the helpers
// the RPCs share return what the RPCs return.
#![allow(clippy::result_large_err)]

mod connector;
mod convert;
mod reader;
mod status;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prost::Message;
use tonic::Status;
use tonic::server::NamedService;

use crate::codec::any_is;
use crate::error::{Error, Result};
use crate::file::C1zFile;
use crate::model::SyncId;
use crate::pb::c1::c1z::v1::SyncDetails;
use crate::pb::c1::connector::v2 as connector_pb;
use crate::pb::c1::reader::v2 as reader_pb;
use crate::store::{AnyStore, DefaultSync, PageRequest, Reader, SyncSelector};

pub use convert::MAX_RESPONSE_BYTES;

/// Largest request message the services decode: gRPC's usual default (grpc-go, grpc-java
/// and tonic all use 4 MiB), set explicitly so it cannot drift. The largest legitimate
/// request (1,024 resource ids, 128 entitlements) is far smaller. A larger one is refused
/// from its length prefix, before its bytes are buffered, with tonic's `OUT_OF_RANGE`.
pub const MAX_REQUEST_BYTES: usize = 4 << 20;

/// Most requests one HTTP/2 connection may have open at once
/// (`SETTINGS_MAX_CONCURRENT_STREAMS`): hyper's default, which tonic's builder replaces by
/// no limit, while each open request may hold up to [`MAX_REQUEST_BYTES`] of body. Clients queue further calls
/// until one ends; only streams opened before the client has read the server's SETTINGS
/// can be refused (`REFUSED_STREAM`: tonic reports `UNAVAILABLE`, grpc-go waits for the
/// SETTINGS and retries such streams itself).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 200;

/// HTTP/2 streams a connection may reset by its own errors before the server sends GOAWAY
/// (hyper's default, which tonic's builder otherwise switches off; RUSTSEC-2024-0003).
const MAX_LOCAL_ERROR_RESETS: usize = 1024;

/// How often an idle connection is pinged, and how long the server waits for the answer
/// before it closes the connection: a peer that vanished without closing its socket does
/// not hold its connection forever.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

use connector_pb::asset_service_server::AssetServiceServer;
use connector_pb::entitlements_service_server::EntitlementsServiceServer;
use connector_pb::grants_service_server::GrantsServiceServer;
use connector_pb::resource_types_service_server::ResourceTypesServiceServer;
use connector_pb::resources_service_server::ResourcesServiceServer;
use reader_pb::entitlements_reader_service_server::EntitlementsReaderServiceServer;
use reader_pb::grants_reader_service_server::GrantsReaderServiceServer;
use reader_pb::resource_types_reader_service_server::ResourceTypesReaderServiceServer;
use reader_pb::resources_reader_service_server::ResourcesReaderServiceServer;
use reader_pb::syncs_reader_service_server::SyncsReaderServiceServer;

/// The full names of the services [`ReaderService`] implements.
const SERVED: [&str; 10] = [
    ResourceTypesReaderServiceServer::<ReaderService>::NAME,
    ResourcesReaderServiceServer::<ReaderService>::NAME,
    EntitlementsReaderServiceServer::<ReaderService>::NAME,
    GrantsReaderServiceServer::<ReaderService>::NAME,
    SyncsReaderServiceServer::<ReaderService>::NAME,
    ResourceTypesServiceServer::<ReaderService>::NAME,
    ResourcesServiceServer::<ReaderService>::NAME,
    EntitlementsServiceServer::<ReaderService>::NAME,
    GrantsServiceServer::<ReaderService>::NAME,
    AssetServiceServer::<ReaderService>::NAME,
];

/// Full name of the sync-routing annotation on reader requests.
const SYNC_DETAILS: &str = "c1.c1z.v1.SyncDetails";

/// The `c1.reader.v2` and `c1.connector.v2` services over one open file. Cheap to clone:
/// clones share the file.
#[derive(Clone, Debug)]
pub struct ReaderService {
    /// The file read (it owns its store's working copy).
    file: Arc<C1zFile>,
    /// Whether the file is one of baton's Pebble files, whose reader differs from baton's
    /// SQLite reader where this server follows it: grants carry their expansion edge as a
    /// `GrantExpandable` annotation (SQLite leaves it in its column), and
    /// `ListGrantsForResourceType` filters on the principal's type (SQLite: the
    /// entitlement's resource's).
    pebble: bool,
    /// Permits for store calls: a call waits for one before it takes a blocking thread,
    /// so work and page buffers in flight are bounded however many clients call.
    calls: Arc<tokio::sync::Semaphore>,
    /// The number of permits `calls` was made with.
    max_calls: usize,
    /// Set when the request of the store call running on this clone went away (its
    /// future was dropped: the client cancelled or disconnected); pages stop early.
    /// Never set on the service itself, only on the per-call clones of `blocking`.
    cancelled: Arc<AtomicBool>,
}

/// Sets a call's cancellation flag when dropped: dropping the RPC's future (hyper does
/// on RST_STREAM or a closed connection) tells the blocking store call to stop.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl ReaderService {
    /// Serves `file` (open it with [`C1zFile::open_read_only`]).
    #[must_use]
    pub fn new(file: C1zFile) -> Self {
        ReaderService::shared(Arc::new(file))
    }

    /// Serves a file the caller keeps reading too.
    #[must_use]
    pub fn shared(file: Arc<C1zFile>) -> Self {
        let pebble = file.store().engine().starts_with("pebble");
        let permits = std::thread::available_parallelism()
            .map_or(4, |n| 2 * n.get())
            .max(4);
        ReaderService {
            file,
            pebble,
            calls: Arc::new(tokio::sync::Semaphore::new(permits)),
            max_calls: permits,
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The service with at most `n` store calls running at once (at least 1). The default
    /// is twice the machine's cores, at least 4: store calls are CPU and disk bound, so
    /// more at once only adds memory.
    #[must_use]
    pub fn with_max_store_calls(mut self, n: usize) -> Self {
        self.max_calls = n.max(1);
        self.calls = Arc::new(tokio::sync::Semaphore::new(self.max_calls));
        self
    }

    /// The most store calls that run at once (see [`ReaderService::with_max_store_calls`]).
    #[must_use]
    pub fn max_store_calls(&self) -> usize {
        self.max_calls
    }

    /// Whether the request of this store call went away (see [`CancelOnDrop`]).
    fn cancelled(&self) -> &AtomicBool {
        &self.cancelled
    }

    /// The store served.
    #[must_use]
    pub fn store(&self) -> &AnyStore {
        self.file.store()
    }

    /// Runs `f` on the store on tokio's blocking pool once a store-call permit is free; its
    /// errors become statuses. If this future is dropped (the client went away) while `f`
    /// runs, `f` sees [`ReaderService::cancelled`] and its page ends at the next chunk; a
    /// call dropped while it waits for a permit never runs.
    async fn blocking<T, F>(&self, f: F) -> std::result::Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&AnyStore, &ReaderService) -> Result<T> + Send + 'static,
    {
        let permit = self
            .calls
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Status::unavailable("the server is shutting down"))?;
        let cancelled = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(cancelled.clone());
        let mut this = self.clone();
        this.cancelled = cancelled;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(this.store(), &this)
        })
        .await
        .map_err(|e| Status::internal(format!("the store call did not complete: {e}")))?
        .map_err(|e| status::to_status(&e))
    }

    /// Every service of this module with the health and reflection services, ready for
    /// [`tonic::transport::Server::add_routes`]; also returns the health reporter, which
    /// marks every service `SERVING`.
    ///
    /// # Errors
    /// [`ServeError::Reflection`] if the compiled descriptor set does not load (a build
    /// defect).
    pub async fn routes(
        &self,
    ) -> std::result::Result<
        (tonic::service::Routes, tonic_health::server::HealthReporter),
        ServeError,
    > {
        let (reporter, health) = tonic_health::server::health_reporter();
        let names = SERVED;
        for name in names {
            reporter
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
        }
        let reflection = |names: &[&'static str]| {
            names
                .iter()
                .chain([
                    &"grpc.health.v1.Health",
                    &"grpc.reflection.v1.ServerReflection",
                    &"grpc.reflection.v1alpha.ServerReflection",
                ])
                .fold(
                    tonic_reflection::server::Builder::configure()
                        .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
                        .register_encoded_file_descriptor_set(
                            tonic_health::pb::FILE_DESCRIPTOR_SET,
                        ),
                    |b, name| b.with_service_name(*name),
                )
        };
        let v1 = reflection(&names)
            .build_v1()
            .map_err(ServeError::Reflection)?;
        let v1alpha = reflection(&names)
            .build_v1alpha()
            .map_err(ServeError::Reflection)?;

        // Every generated server has the method, none shares a trait for it.
        macro_rules! limited {
            ($server:expr) => {
                $server.max_decoding_message_size(MAX_REQUEST_BYTES)
            };
        }
        let mut routes = tonic::service::RoutesBuilder::default();
        routes
            .add_service(limited!(ResourceTypesReaderServiceServer::new(
                self.clone()
            )))
            .add_service(limited!(ResourcesReaderServiceServer::new(self.clone())))
            .add_service(limited!(EntitlementsReaderServiceServer::new(self.clone())))
            .add_service(limited!(GrantsReaderServiceServer::new(self.clone())))
            .add_service(limited!(SyncsReaderServiceServer::new(self.clone())))
            .add_service(limited!(ResourceTypesServiceServer::new(self.clone())))
            .add_service(limited!(ResourcesServiceServer::new(self.clone())))
            .add_service(limited!(EntitlementsServiceServer::new(self.clone())))
            .add_service(limited!(GrantsServiceServer::new(self.clone())))
            .add_service(limited!(AssetServiceServer::new(self.clone())))
            .add_service(limited!(health))
            .add_service(limited!(v1))
            .add_service(limited!(v1alpha));
        Ok((routes.routes(), reporter))
    }
}

/// Why [`serve`] stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The descriptor set for reflection did not load.
    #[error("cannot build the reflection service")]
    Reflection(#[source] tonic_reflection::server::Error),
    /// The transport failed (accepting connections, HTTP/2).
    #[error("gRPC transport error")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves `service` on `listener` until `shutdown` completes, then stops accepting
/// connections and waits for the requests in flight (graceful shutdown). The health
/// service reports `NOT_SERVING` for every service once shutdown begins. Connections get
/// the limits of the module docs (streams, resets, keepalive).
///
/// # Errors
/// [`ServeError`].
pub async fn serve(
    service: ReaderService,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> std::result::Result<(), ServeError> {
    let (routes, reporter) = service.routes().await?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(KEEPALIVE_INTERVAL));
    let shutdown = async move {
        shutdown.await;
        for name in std::iter::once("").chain(SERVED) {
            reporter
                .set_service_status(name, tonic_health::ServingStatus::NotServing)
                .await;
        }
    };
    tonic::transport::Server::builder()
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .http2_max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}

/// The sync a request names: its `active_sync_id` (when the request has one and it is
/// set), else a `SyncDetails` annotation's id; `None` when it names none.
fn requested_sync(
    active_sync_id: &str,
    annotations: &[prost_types::Any],
) -> std::result::Result<Option<SyncId>, Status> {
    if !active_sync_id.is_empty() {
        return Ok(Some(SyncId::new(active_sync_id)));
    }
    for any in annotations.iter().filter(|a| any_is(a, SYNC_DETAILS)) {
        let details = SyncDetails::decode(any.value.as_slice()).map_err(|e| {
            Status::invalid_argument(format!(
                "the {SYNC_DETAILS} annotation does not decode ({e}); its one field is the \
                 sync id (string, field 1)"
            ))
        })?;
        if !details.id.is_empty() {
            return Ok(Some(SyncId::new(details.id)));
        }
    }
    Ok(None)
}

/// The selector of a request's sync, checked against the store: a named sync the file
/// lacks is [`Error::NotFound`].
fn selector<R: Reader + ?Sized>(store: &R, sync: Option<SyncId>) -> Result<SyncSelector> {
    match sync {
        None => Ok(SyncSelector::Latest),
        Some(id) => match store.sync_run(&id)? {
            Some(_) => Ok(SyncSelector::Id(id)),
            None => Err(Error::not_found("sync run", id.as_str())),
        },
    }
}

/// [`selector`] with [`SyncSelector::Latest`] resolved as lists resolve it (baton's default
/// for lists), so a list and the existence checks after it read the same sync; `None`
/// when the file has no sync to read.
fn list_selector<R: Reader + ?Sized>(
    store: &R,
    sync: Option<SyncId>,
) -> Result<Option<SyncSelector>> {
    selector(store, sync)?.pinned(store, DefaultSync::LatestFull)
}

/// A request's page: its size (clamped as baton's stores clamp it) and token.
fn page_request(size: u32, token: &str) -> PageRequest {
    let mut page = PageRequest::after(size, token);
    page.size = page.effective_size();
    page
}
