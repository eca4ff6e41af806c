//! The topics a consumer needs, created or verified before it starts.
//!
//! Brokers often run with `auto.create.topics.enable=false` (and a
//! consumer's subscription never creates topics anyway), so a retry topic or
//! dead-letter topic that nobody created would make the first failure stall.
//! [`ConsumerBuilder::build`](super::ConsumerBuilder::build) therefore
//! checks every topic it will read or write through the admin API:
//!
//! - the consumed topic must exist, unless
//!   [`create_topic`](super::ConsumerBuilder::create_topic) says how many
//!   partitions to create it with;
//! - retry topics and the dead-letter topic are created when missing, with
//!   the partition count of the consumed topic (so a key keeps one partition
//!   in each of them).
//!
//! Anything else is a [`Error::Topology`] naming the topic and the fix.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

use crate::error::{Error, Result};

const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The partition count of `topic`, or `None` when it does not exist.
pub(crate) async fn partitions(config: &ClientConfig, topic: &str) -> Result<Option<i32>> {
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(&topic), ADMIN_TIMEOUT)
            .map_err(|error| {
                Error::Unavailable(format!("metadata for topic `{topic}`: {error}"))
            })?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .map(|t| t.partitions().len() as i32))
    })
    .await
    .map_err(|e| Error::Unavailable(e.to_string()))?
}

/// Creates the missing ones of `topics` with `partitions` partitions each
/// and waits until the broker lists them all.
pub(crate) async fn ensure(
    config: &ClientConfig,
    topics: &[String],
    partitions_each: i32,
    replication: i32,
) -> Result<()> {
    let mut missing = Vec::new();
    for topic in topics {
        if partitions(config, topic).await?.is_none() {
            missing.push(topic.clone());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let new: Vec<NewTopic<'_>> = missing
        .iter()
        .map(|name| NewTopic::new(name, partitions_each, TopicReplication::Fixed(replication)))
        .collect();
    let results = admin
        .create_topics(
            &new,
            &AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT)),
        )
        .await
        .map_err(|error| Error::Topology(format!("creating topics {missing:?}: {error}")))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(Error::Topology(format!(
                    "topic `{topic}` does not exist and could not be created ({code}); \
                     create it with {partitions_each} partition(s) or grant the consumer \
                     CreateTopics"
                )));
            }
        }
    }
    let deadline = Instant::now() + ADMIN_TIMEOUT;
    for topic in &missing {
        while partitions(config, topic).await?.is_none() {
            if Instant::now() > deadline {
                return Err(Error::Unavailable(format!(
                    "topic `{topic}` was created but the broker does not list it yet"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}
