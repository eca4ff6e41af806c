//! Waiting for the process to be asked to stop.

/// Completes on SIGTERM (what `kill`, systemd and Kubernetes send) or
/// Ctrl-C. Pass it to [`Consumer::run_until`](crate::amqp::Consumer::run_until)
/// for a graceful shutdown.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
