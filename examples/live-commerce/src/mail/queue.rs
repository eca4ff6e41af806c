//! The RabbitMQ way, up to the queue: the sign-up's outbox row, the relay
//! that publishes it, and the queue the mail worker consumes.
//!
//! ```text
//!  sign-up tx: INSERT account ──┐
//!              mail_outbox row ─┘ commit together (id = the account id)
//!  relay ──► exchange `users`, key `user.signed_up` ──► queue `mail.welcome`
//!                                         (retries with backoff, then `mail.welcome.dlq`)
//! ```
//!
//! The row is written in the transaction that creates the account, so an
//! account never exists without its mail job, and a job never exists
//! without its account. The relay publishes with publisher confirms and
//! marks the row sent only once RabbitMQ confirmed it; a relay killed in
//! between publishes the row again after the restart (the worker's
//! `mail_sent` inbox makes that second copy harmless). The message id is
//! the account id, whichever copy arrives.

use std::time::Duration;

use mq_reliable::amqp::{Broker, Consumer, Publisher};
use mq_reliable::outbox::{Outbox, Relay};
use mq_reliable::{Backoff, Result};
use sqlx::{PgConnection, PgPool};

use super::WelcomeMail;

/// The exchange account events go to.
pub const EXCHANGE: &str = "users";
/// The routing key of a new account.
pub const SIGNED_UP_ROUTE: &str = "user.signed_up";
/// The queue the mail worker consumes.
pub const QUEUE: &str = "mail.welcome";
/// Where welcome mails that keep failing end up (an operator replays them).
pub const DEAD_LETTER_QUEUE: &str = "mail.welcome.dlq";
/// The outbox table of mail jobs (migration 0007).
pub const OUTBOX_TABLE: &str = "mail_outbox";
/// The inbox of mails the SMTP server accepted (migration 0007).
pub const SENT_TABLE: &str = "mail_sent";

/// Declares the queue's topology (exchange, binding, retry queues,
/// dead-letter queue) and returns its consumer. A sign-up's process calls
/// it at start too, so jobs wait in the queue while no worker runs.
///
/// Retries: 1 s doubling, five attempts (an SMTP server down for about half
/// a minute), then the dead-letter queue.
pub async fn consumer(broker: &Broker) -> Result<Consumer> {
    broker
        .consumer(QUEUE)
        .bind(EXCHANGE, SIGNED_UP_ROUTE)
        // Composing takes seconds and costs nothing here: take many at once.
        .prefetch(64)
        .concurrency(64)
        .retry(Backoff::exponential(Duration::from_secs(1), 2.0).max_attempts(5))
        .dead_letter_queue(DEAD_LETTER_QUEUE)
        .build()
        .await
}

/// The outbox of mail jobs.
pub fn outbox() -> Result<Outbox> {
    Outbox::new(OUTBOX_TABLE)
}

/// Enqueues `mail` on `conn` (the sign-up's transaction), with the account
/// id as its message id.
pub async fn enqueue(outbox: &Outbox, conn: &mut PgConnection, mail: &WelcomeMail) -> Result<()> {
    outbox
        .enqueue_with_id(conn, mail.user_id, EXCHANGE, SIGNED_UP_ROUTE, mail)
        .await
}

/// The relay publishing the mail outbox (run one per auth process; they
/// share the rows).
pub fn relay(pool: &PgPool, outbox: Outbox, publisher: Publisher) -> Relay {
    Relay::builder(pool.clone(), outbox, publisher)
        .poll_interval(Duration::from_millis(100))
        .backoff(Duration::from_millis(100), Duration::from_secs(2))
        .build()
}
