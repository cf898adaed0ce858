//! `c1z serve` throughput: one tonic client lists every grant of a file page by page over
//! loopback (`GrantsService/ListGrants`), `grpc/<file>/list_grants/<page size>`, throughput
//! in grants. Page size 0 is baton's default (10,000 rows, cut to the 4 MiB response
//! limit); 250 is the largest page baton's wire validator accepts.
//!
//! The file is `C1Z_BENCH_FILE` (default `testdata/sample.c1z`); the performance goal is
//! measured on `../shared/baton-samples/large/g1m.pebble3.c1z` (999,362 grants):
//!
//! ```sh
//! C1Z_BENCH_FILE=../shared/baton-samples/large/g1m.pebble3.c1z cargo bench --bench grpc
//! ```
//!
//! With `C1Z_BENCH_ADDR=HOST:PORT` the client reads a `c1z serve` of the same file that is
//! already running (for example a release build) instead of a server in the bench.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;

use c1z::pb::c1::connector::v2::GrantsServiceListGrantsRequest;
use c1z::pb::c1::connector::v2::grants_service_client::GrantsServiceClient;
use c1z::prelude::*;
use c1z::{C1zFile, GrantQuery};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tonic::transport::Channel;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lists every grant with `page_size`; returns how many.
async fn list_all(client: &mut GrantsServiceClient<Channel>, page_size: u32) -> usize {
    let (mut n, mut token) = (0, String::new());
    loop {
        let page = client
            .list_grants(GrantsServiceListGrantsRequest {
                page_size,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        n += page.list.len();
        if page.next_page_token.is_empty() {
            return n;
        }
        token = page.next_page_token;
    }
}

fn bench(c: &mut Criterion) {
    let path = std::env::var_os("C1Z_BENCH_FILE").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/sample.c1z"),
        PathBuf::from,
    );
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let file = C1zFile::open_read_only(&path).unwrap();
    let grants = file.store().stream_grants(GrantQuery::default()).count();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // C1Z_BENCH_ADDR: a `c1z serve` of the same file already running (a release build).
    let external = std::env::var("C1Z_BENCH_ADDR").ok();
    let (addr, stop) = runtime.block_on(async {
        if let Some(addr) = &external {
            return (addr.parse().unwrap(), None);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(c1z::grpc::serve(
            c1z::grpc::ReaderService::new(file),
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        (addr, Some(stop))
    });
    let mut client = runtime.block_on(async {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        GrantsServiceClient::new(channel)
    });

    let mut g = c.benchmark_group(format!("grpc/{name}"));
    g.sample_size(10);
    g.throughput(Throughput::Elements(grants as u64));
    for page_size in [0u32, 250] {
        g.bench_function(format!("list_grants/{page_size}"), |b| {
            b.iter(|| {
                let n = runtime.block_on(list_all(&mut client, page_size));
                assert_eq!(n, grants);
                black_box(n);
            });
        });
    }
    g.finish();
    if let Some(stop) = stop {
        let _ = stop.send(());
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
