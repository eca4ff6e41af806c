//! Mentions: `@ann@buyers.example` in a chat room notifies ann.
//!
//! The worker reads the chat archive's Kafka topic a second time, in its
//! own consumer group (`<topic>-mentions`), beside the archiver. For each
//! batch of records it:
//!
//! 1. keeps the messages of live rooms (`live.<name>`; the feed rooms
//!    carry notifications themselves, which must not be scanned again);
//! 2. finds the mentions in each message's `text` ([`mentioned`]);
//! 3. in one transaction, looks the emails up and [`record`]s one
//!    notification per mentioned account but the writer, keyed
//!    `mention:<room>:<epoch>:<offset>` (the message's place in its room);
//! 4. commits the Kafka offsets, only after that transaction.
//!
//! A worker killed between 3 and 4 reads the batch again and records
//! nothing new (the keys exist): each mention is one notification, in
//! effect exactly once.
//!
//! ```text
//!  "hi @Bob@buyers.example, see you!"  → ["bob@buyers.example"]
//!  "mail me at ann@x.example"          → []   (not a mention: no leading @)
//! ```

use std::collections::HashMap;
use std::time::Duration;

use chat_fanout::archive::ArchivedMessage;
use futures::StreamExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::record::{Kind, record};
use crate::chat::rooms::Room;

/// Records per batch at most.
const BATCH: usize = 500;
/// How long a batch waits to fill.
const LINGER: Duration = Duration::from_millis(50);
/// The characters of the text a mention's payload keeps.
pub const EXCERPT: usize = 140;
/// The longest email an account may have.
const MAX_EMAIL: usize = 254;

/// A chat message's payload, as the chat service writes it.
#[derive(Debug, Deserialize)]
struct ChatMessage {
    from: String,
    text: String,
}

/// The emails `text` mentions: whitespace-separated tokens starting with
/// `@`, trailing punctuation trimmed, lower-cased, that look like an email
/// (whether an account has it is the database's to say). Each once.
pub fn mentioned(text: &str) -> Vec<String> {
    let mut emails: Vec<String> = Vec::new();
    for token in text.split_whitespace() {
        let Some(rest) = token.strip_prefix('@') else {
            continue;
        };
        let email = rest
            .trim_end_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        let looks_right = matches!(email.split_once('@'),
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
        if looks_right && email.len() <= MAX_EMAIL && !emails.contains(&email) {
            emails.push(email);
        }
    }
    emails
}

/// A message worth looking at: a live room's, with at least one mention.
struct Candidate {
    message: ArchivedMessage,
    from: String,
    text: String,
    emails: Vec<String>,
}

fn candidate(message: ArchivedMessage) -> Option<Candidate> {
    if !matches!(Room::parse(&message.room), Some(Room::Live(_))) {
        return None;
    }
    let chat: ChatMessage = serde_json::from_str(&message.payload).ok()?;
    let emails = mentioned(&chat.text);
    (!emails.is_empty()).then_some(Candidate {
        message,
        from: chat.from,
        text: chat.text,
        emails,
    })
}

/// Records the mentions of `batch` in one transaction; how many rows were new.
pub async fn record_batch(pool: &PgPool, batch: &[ArchivedMessage]) -> anyhow::Result<u64> {
    let candidates: Vec<Candidate> = batch.iter().cloned().filter_map(candidate).collect();
    if candidates.is_empty() {
        return Ok(0);
    }
    let emails: Vec<&str> = candidates
        .iter()
        .flat_map(|c| c.emails.iter().map(String::as_str))
        .collect();
    let mut tx = pool.begin().await?;
    let accounts: HashMap<String, Uuid> =
        sqlx::query_as::<_, (String, Uuid)>("SELECT email, id FROM accounts WHERE email = ANY($1)")
            .bind(&emails)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    let mut new = 0;
    for candidate in &candidates {
        let m = &candidate.message;
        let key = format!("mention:{}:{}:{}", m.room, m.epoch, m.offset);
        let excerpt: String = candidate.text.chars().take(EXCERPT).collect();
        let payload =
            json!({"room": m.room, "offset": m.offset, "from": candidate.from, "text": excerpt});
        for email in &candidate.emails {
            let Some(user) = accounts.get(email) else {
                continue;
            };
            if user.to_string() == candidate.from {
                continue;
            }
            new += u64::from(record(&mut tx, *user, &key, Kind::Mention, &payload).await?);
        }
    }
    tx.commit().await?;
    Ok(new)
}

/// Consumes `topic` with `config` (with `bootstrap.servers` and `group.id`
/// set) and records mentions until `stop`, committing offsets only after
/// each batch's rows.
pub async fn run(
    pool: &PgPool,
    mut config: rdkafka::ClientConfig,
    topic: &str,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    config
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[topic])?;
    let mut stream = consumer.stream();
    loop {
        let first = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            next = stream.next() => next,
        };
        let Some(first) = first else { return Ok(()) };
        let mut batch = Vec::new();
        let mut positions: HashMap<i32, i64> = HashMap::new();
        let mut take = |message: rdkafka::message::BorrowedMessage<'_>| {
            positions.insert(message.partition(), message.offset());
            let key = message.key().unwrap_or_default();
            if let Some(archived) =
                ArchivedMessage::from_record(key, message.payload().unwrap_or_default())
            {
                batch.push(archived);
            }
        };
        take(first?);
        let deadline = tokio::time::Instant::now() + LINGER;
        for _ in 1..BATCH {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(message)) => take(message?),
                Ok(None) | Err(_) => break,
            }
        }
        record_batch(pool, &batch).await?;
        let mut commit = TopicPartitionList::new();
        for (partition, offset) in positions {
            commit.add_partition_offset(topic, partition, Offset::Offset(offset + 1))?;
        }
        consumer.commit(&commit, CommitMode::Async)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_whole_emails_after_an_at_sign() {
        assert_eq!(
            mentioned("hi @Bob@buyers.example, and @ann@x.example! @bob@buyers.example"),
            vec!["bob@buyers.example", "ann@x.example"]
        );
        assert!(mentioned("mail ann@x.example or @ann or @ or @@x or @a@b@c").is_empty());
    }
}
