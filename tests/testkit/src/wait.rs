//! Waiting for a condition with a deadline instead of sleeping a fixed time.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `probe` until it returns `Ok`, or returns the last error once
/// `timeout` has passed. The interval starts at 5 ms and doubles up to 100 ms,
/// so a fast server is seen at once and a slow one is not hammered.
pub async fn until_ok<T, E, F, Fut>(timeout: Duration, mut probe: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + timeout;
    let mut interval = Duration::from_millis(5);
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(error) if Instant::now() >= deadline => return Err(error),
            Err(_) => {
                tokio::time::sleep(interval).await;
                interval = (interval * 2).min(Duration::from_millis(100));
            }
        }
    }
}

/// Waits until `condition` returns true; panics with `what` after `timeout`.
/// Meant for test bodies: "await a condition with a deadline".
pub async fn until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let result = until_ok(timeout, || {
        let fut = condition();
        async move { if fut.await { Ok(()) } else { Err(()) } }
    })
    .await;
    if result.is_err() {
        panic!("timed out after {timeout:?} waiting for {what}");
    }
}
