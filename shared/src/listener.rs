//! Binding a binary's listening socket: one place for the bind, the address
//! actually bound (port 0 picks a free one) and the start-up log line.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

/// Binds `address` for `binary`; returns the listener and the port bound.
pub async fn bind(binary: &str, address: SocketAddr) -> anyhow::Result<(TcpListener, u16)> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("while binding {address}"))?;
    let bound = listener
        .local_addr()
        .context("while reading the bound address")?;
    tracing::info!(listen = %bound, "{binary} listening");
    Ok((listener, bound.port()))
}
