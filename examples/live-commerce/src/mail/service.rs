//! What a process serving auth sets up for its welcome-mail mode.
//!
//! | mode | the sign-up | in the background |
//! |---|---|---|
//! | `off` | nothing | nothing |
//! | `in-process` | spawns a task per mail | those tasks |
//! | `mq` | an outbox row per mail | the relay and the mail worker (consumer of `mail.welcome`) |
//!
//! In `mq` mode the mail worker runs beside the auth service that enqueues
//! (the original experiment's single application with its listener); any
//! number of auth processes share the queue and the outbox rows.

use std::time::Duration;

use mq_reliable::StatsHandle;
use mq_reliable::amqp::{Broker, Consumer, ShutdownHandle};
use mq_reliable::inbox::PgInbox;
use mq_reliable::outbox::Relay;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use super::signup::WelcomeMails;
use super::smtp::Mailer;
use super::worker::MailWorker;
use super::{Mode, queue};

/// The welcome-mail parts of one process.
pub struct MailService {
    /// What the sign-up handler calls.
    pub welcome: WelcomeMails,
    /// The relay and the worker (`mq` mode), not running yet.
    pub queue: Option<QueueParts>,
}

/// The `mq` mode's background parts, built but not started.
pub struct QueueParts {
    consumer: Consumer,
    worker: MailWorker,
    relay: Relay,
}

/// The `mq` mode's background parts, running.
pub struct QueueTasks {
    /// The mail worker's consumer loop (ends on SIGTERM / Ctrl-C).
    pub worker: JoinHandle<anyhow::Result<()>>,
    /// The relay of the mail outbox (runs until aborted).
    pub relay: JoinHandle<()>,
    /// Stops the worker gracefully.
    pub stop: ShutdownHandle,
}

impl MailService {
    /// The parts of `mode`: mails through `smtp_url`, each composed in
    /// `delay`. `mq` needs `broker` and declares the queue.
    pub async fn prepare(
        mode: Mode,
        smtp_url: &str,
        delay: Duration,
        pool: &PgPool,
        broker: Option<&Broker>,
    ) -> anyhow::Result<Self> {
        let (welcome, queue) = match (mode, broker) {
            (Mode::Off, _) => (WelcomeMails::Off, None),
            (Mode::InProcess, _) => (WelcomeMails::InProcess(Mailer::new(smtp_url, delay)?), None),
            (Mode::Mq, None) => anyhow::bail!("--welcome-mail mq needs RabbitMQ"),
            (Mode::Mq, Some(broker)) => {
                let outbox = queue::outbox()?;
                let publisher = broker.publisher().build().await?;
                let parts = QueueParts {
                    consumer: queue::consumer(broker).await?,
                    worker: MailWorker {
                        pool: pool.clone(),
                        sent: PgInbox::new(queue::SENT_TABLE)?,
                        mailer: Mailer::new(smtp_url, delay)?,
                    },
                    relay: queue::relay(pool, outbox.clone(), publisher),
                };
                (WelcomeMails::Queued(outbox), Some(parts))
            }
        };
        Ok(Self { welcome, queue })
    }
}

impl QueueParts {
    /// The worker's counters (for `/metrics` and tests).
    pub fn stats(&self) -> StatsHandle {
        self.consumer.stats_handle()
    }

    /// Starts the relay and the worker.
    pub fn spawn(self) -> QueueTasks {
        let stop = self.consumer.shutdown_handle();
        let (consumer, worker, relay) = (self.consumer, self.worker, self.relay);
        let worker = tokio::spawn(async move {
            consumer
                .run_until(
                    move |message| {
                        let worker = worker.clone();
                        async move { worker.handle(message).await }
                    },
                    mq_reliable::shutdown_signal(),
                )
                .await?;
            Ok(())
        });
        let relay = tokio::spawn(async move {
            relay.run_until(std::future::pending::<()>()).await;
        });
        QueueTasks {
            worker,
            relay,
            stop,
        }
    }
}
