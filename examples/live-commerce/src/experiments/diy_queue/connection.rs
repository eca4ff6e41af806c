//! Connections for the queue's consumers.
//!
//! The redis client gives every command a 500 ms response timeout by
//! default. A blocking pop (`BRPOP`, `BLMOVE`) waits longer than that on an
//! empty queue, and a client that gives up on a pop Redis still performs
//! loses the job it popped: the naive queue would lose jobs without any
//! crash. So a consumer blocks on its own connection, whose response
//! timeout outlasts the block, and never shares it (a blocked connection
//! answers nothing else until the pop returns).

use std::time::Duration;

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;

/// How long a consumer's pop blocks before it checks whether to stop.
pub const BLOCK: Duration = Duration::from_millis(500);

/// A connection for ordinary commands (default timeouts).
pub async fn connect(client: &redis::Client) -> redis::RedisResult<MultiplexedConnection> {
    client.get_multiplexed_async_connection().await
}

/// A connection for one consumer's blocking pops: its response timeout is
/// the block plus a margin, so a pop is never abandoned while Redis may
/// still answer it with a job.
pub async fn blocking(client: &redis::Client) -> redis::RedisResult<MultiplexedConnection> {
    let config =
        AsyncConnectionConfig::new().set_response_timeout(Some(BLOCK + Duration::from_secs(10)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}
