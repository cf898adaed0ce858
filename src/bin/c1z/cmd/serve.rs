//! `c1z serve FILE [--listen ADDR] [--allow-remote]`: a read-only gRPC server over one
//! file until SIGINT or SIGTERM. The one place the binary runs an async runtime.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

pub(crate) fn run(file: &Path, listen: SocketAddr, allow_remote: bool) -> anyhow::Result<ExitCode> {
    if !listen.ip().is_loopback() {
        if !allow_remote {
            anyhow::bail!(
                "refusing to listen on {listen}: not a loopback address; pass --allow-remote \
                 to serve {} to the network (no TLS, no authentication)",
                file.display()
            );
        }
        eprintln!(
            "c1z: warning: listening on non-loopback address {listen}: anyone who can reach \
             it can read all of {} (no TLS, no authentication)",
            file.display()
        );
    }
    let opened = c1z::C1zFile::open_read_only(file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    let service = c1z::grpc::ReaderService::new(opened);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let local = listener
            .local_addr()
            .context("cannot read the bound address")?;
        eprintln!("c1z: serving {} on {local}", file.display());
        c1z::grpc::serve(service, listener, shutdown_signal()).await?;
        eprintln!("c1z: stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    eprintln!("c1z: shutting down (finishing the requests in flight)");
}
