//! Async clean-up from `Drop`.
//!
//! Dropping a vhost, a database or a topic needs network calls, and `Drop`
//! cannot await. The clean-up runs on a short-lived thread with its own
//! runtime, and the drop waits for it: a test that ends has cleaned up, even
//! when the test's own runtime is already shutting down.

use std::future::Future;

/// Runs `cleanup` to completion on a separate thread and logs a failure
/// (clean-up must never turn a passing test into a panic during unwinding).
pub(crate) fn block_on_detached<F>(what: &str, cleanup: F)
where
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    let what = what.to_string();
    let joined = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(cleanup)
    })
    .join();
    match joined {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "test kit clean-up failed: {what}"),
        Err(_) => tracing::warn!("test kit clean-up panicked: {what}"),
    }
}
