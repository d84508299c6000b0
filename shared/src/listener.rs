//! Binding a binary's listening socket: one place for the bind, the address
//! actually bound (port 0 picks a free one) and the start-up log line; and
//! for a server with a serving thread per core, one `SO_REUSEPORT` socket
//! per thread on the same address (the kernel spreads connections over them).

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::{TcpListener, TcpSocket};

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

/// Pending connections per listener.
const BACKLOG: u32 = 1024;

/// Binds and listens on `count` sockets at `address` with `SO_REUSEPORT`
/// (port 0: a free port, the same for all) for `binary`, so that clients
/// can connect at once; each is handed over as a std listener, to be
/// registered (`TcpListener::from_std`) with the runtime that serves it.
/// Returns them and the port bound. Needs a runtime (to listen).
pub fn bind_reuse_port(
    binary: &str,
    address: SocketAddr,
    count: usize,
) -> anyhow::Result<(Vec<std::net::TcpListener>, u16)> {
    let mut bound = address;
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let socket = if address.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .context("while opening a listening socket")?;
        socket
            .set_reuseaddr(true)
            .and_then(|()| socket.set_reuseport(true))
            .context("while setting SO_REUSEPORT")?;
        socket
            .bind(bound)
            .with_context(|| format!("while binding {bound}"))?;
        bound = socket
            .local_addr()
            .context("while reading the bound address")?;
        let listener = socket
            .listen(BACKLOG)
            .and_then(TcpListener::into_std)
            .with_context(|| format!("while listening on {bound}"))?;
        sockets.push(listener);
    }
    tracing::info!(listen = %bound, threads = sockets.len(), "{binary} listening");
    Ok((sockets, bound.port()))
}
