//! One channel's life as the consumer's: opened with the topology declared
//! (again, after a reconnect), the prefetch set and the queue consumed;
//! cancelled and closed at shutdown, or dropped and closed when it died.
//!
//! Each reconnect opens a new session with a new consumer tag
//! (`<consumer id>#<session number>`), so the broker's management view
//! tells the sessions apart.

use std::time::Duration;

use lapin::Channel;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;

use super::Consumer;
use crate::amqp::broker;
use crate::error::{Error, Result};

/// A channel consuming the queue.
pub(super) struct Session {
    // Fields drop in this order: the delivery stream before its channel.
    pub(super) tag: String,
    pub(super) deliveries: lapin::Consumer,
    channel: Channel,
}

impl Session {
    /// Asks the broker to send no more deliveries (waiting at most
    /// `limit`). Prefetched deliveries stay unacknowledged and return to the
    /// queue when the channel closes.
    pub(super) async fn cancel(&self, limit: Duration) {
        let _ = tokio::time::timeout(
            limit,
            self.channel
                .basic_cancel(self.tag.as_str().into(), BasicCancelOptions::default()),
        )
        .await;
    }

    /// Closes the channel at shutdown.
    pub(super) async fn close(self, reason: &str) {
        broker::close_quietly(&self.channel, reason).await;
    }

    /// Drops the delivery stream that ended and closes its channel, before
    /// a reconnect.
    pub(super) async fn discard(self) {
        drop(self.deliveries);
        broker::close_quietly(&self.channel, "reconnecting").await;
    }
}

impl Consumer {
    /// A fresh channel with the topology declared, prefetch set and
    /// consuming, within the broker's setup timeout.
    pub(super) async fn open_session(&self, number: u64) -> Result<Session> {
        let shared = &self.shared;
        let channel = shared.broker.channel().await?;
        let limit = shared.broker.setup_timeout();
        match tokio::time::timeout(limit, self.subscribe(&channel, number)).await {
            Ok(Ok((deliveries, tag))) => Ok(Session {
                tag,
                deliveries,
                channel,
            }),
            Ok(Err(error)) => Err(error),
            Err(_) => {
                broker::close_quietly(&channel, "setup timed out").await;
                Err(Error::Unavailable(format!(
                    "declaring and subscribing took longer than {limit:?}"
                )))
            }
        }
    }

    /// Declares the topology, sets the prefetch and starts consuming.
    async fn subscribe(&self, channel: &Channel, number: u64) -> Result<(lapin::Consumer, String)> {
        let shared = &self.shared;
        shared.topology.declare(channel).await?;
        channel
            .basic_qos(shared.prefetch, BasicQosOptions::default())
            .await?;
        let tag = format!("{}#{number}", shared.consumer_id);
        let deliveries = channel
            .basic_consume(
                shared.topology.queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok((deliveries, tag))
    }
}
