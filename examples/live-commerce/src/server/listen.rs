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

#[cfg(test)]
mod tests {
    use super::*;

    /// The accept queue the kernel reports for a listening port (`ss`
    /// shows it as the Send-Q of a socket in LISTEN).
    fn backlog_of(port: u16) -> u32 {
        let output = std::process::Command::new("ss")
            .args(["-ltnH", &format!("sport = :{port}")])
            .output()
            .expect("ss (iproute2) runs");
        let text = String::from_utf8_lossy(&output.stdout);
        let columns: Vec<&str> = text.split_whitespace().collect();
        columns[2].parse().expect("a Send-Q column")
    }

    #[tokio::test]
    async fn the_listener_queues_as_many_connections_as_the_kernel_allows() {
        // tokio's own bind asks for 1,024.
        let listener = bind(([127, 0, 0, 1], 0).into()).unwrap();
        let port = listener.local_addr().unwrap().port();
        let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(backlog_of(port), BACKLOG.min(somaxconn));
    }
}
