//! Binding the listener, and serving a router on it over plain HTTP or
//! TLS until SIGTERM / Ctrl-C (requests in flight finish first).
//!
//! The listener is bound with a deep accept queue ([`BACKLOG`]): a flash
//! sale opens a connection per buyer at the same instant, and so does the
//! gateway towards an instance when every request is slow. With tokio's
//! default of 1,024, a busy process that accepts late lets the queue
//! overflow; the kernel then drops the new connections' SYNs, and each
//! client only tries again after a second (then three, then seven): a
//! stall that a connect timeout turns into an error.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, TcpSocket};

use crate::gateway::tls::Tls;

/// How long requests in flight may take to finish at shutdown (TLS).
const DRAIN: Duration = Duration::from_secs(10);

/// Connections the kernel may hold for the process to accept (Linux caps
/// it at `net.core.somaxconn`, 4,096 by default).
pub const BACKLOG: u32 = 4096;

/// A listener on `addr` with a [`BACKLOG`]-deep accept queue.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As tokio's own bind does: a restarted server gets its port back
    // while the old connections linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `app` on `listener`; every handler can read the peer's address
/// (`ConnectInfo<SocketAddr>`).
pub async fn serve(listener: TcpListener, app: Router, tls: Option<Tls>) -> anyhow::Result<()> {
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(mq_reliable::shutdown_signal())
                .await?;
        }
        Some(tls) => {
            let handle = axum_server::Handle::new();
            let stopping = handle.clone();
            tokio::spawn(async move {
                mq_reliable::shutdown_signal().await;
                stopping.graceful_shutdown(Some(DRAIN));
            });
            axum_server::from_tcp_rustls(listener.into_std()?, tls.config)
                .handle(handle)
                .serve(app)
                .await?;
        }
    }
    Ok(())
}
