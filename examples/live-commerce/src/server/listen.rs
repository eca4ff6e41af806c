//! Serving a router on a bound listener, over plain HTTP or TLS, until
//! SIGTERM / Ctrl-C (requests in flight finish first).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::gateway::tls::Tls;

/// How long requests in flight may take to finish at shutdown (TLS).
const DRAIN: Duration = Duration::from_secs(10);

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
