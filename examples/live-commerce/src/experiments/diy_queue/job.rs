//! What a job is in this experiment: an id (`"0"` … `"9999"`) and a
//! moment of work during which a consumer holds it.
//!
//! The work is a sleep of `hold` (`--work-ms`, default 5 ms), bracketed by
//! the two [`Ledger`] records. Holding each job for a moment is what makes a
//! kill land mid-job: a consumer spends most of its time inside [`process`],
//! and the experiment pulls the trigger only when the ledger shows jobs
//! started and not completed.

use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::ledger::Ledger;

/// Does `job`: records its start, holds it for `hold`, records its
/// completion. The caller acknowledges it (if its queue can) afterwards.
pub async fn process(
    ledger: &Ledger,
    conn: &mut MultiplexedConnection,
    job: &str,
    hold: Duration,
) -> redis::RedisResult<()> {
    ledger.started(conn, job).await?;
    if !hold.is_zero() {
        tokio::time::sleep(hold).await;
    }
    ledger.completed(conn, job).await
}
