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

/// Runs `work` (a consumer's loop) to its end; if `signal` completes first,
/// cancels `stop` so that the loop shuts down gracefully, and keeps running
/// it until it has. Shared by every consumer's `run_until`.
#[cfg_attr(not(any(feature = "amqp", feature = "kafka")), allow(dead_code))]
pub(crate) async fn stop_on<R, W, S>(
    stop: &tokio_util::sync::CancellationToken,
    work: W,
    signal: S,
) -> R
where
    W: std::future::Future<Output = R>,
    S: std::future::Future,
{
    let signal_watch = async {
        signal.await;
        stop.cancel();
        std::future::pending::<()>().await
    };
    tokio::select! {
        result = work => result,
        _ = signal_watch => unreachable!("the signal watch never completes"),
    }
}
