//! # mq-reliable: work that must happen, delivered at least once
//!
//! This crate will make the reliable path the easy one when consuming from
//! RabbitMQ (through [lapin](https://docs.rs/lapin)) or Kafka (through
//! [rdkafka](https://docs.rs/rdkafka)):
//!
//! - **Manual acknowledgement.** A message is acknowledged only after its handler
//!   succeeds; handlers run as tokio tasks under a concurrency bound.
//! - **Retry with backoff, then a dead letter.** A failed message is retried after
//!   a growing delay; after the last attempt it is moved to a dead-letter queue or
//!   topic with the reason, where an operator can inspect and replay it.
//! - **Publisher confirms.** Publishing returns only once the broker has taken
//!   responsibility for the message.
//! - **Recovery.** Connections are re-established after a broker restart, and the
//!   consumer resumes with its settings restored.
//! - **A transactional outbox** for PostgreSQL, so a database write and the message
//!   announcing it cannot disagree.
//!
//! The same handler signature and outcome type serve both brokers. The API is not
//! published yet; this page describes the contract the crate is being built
//! against.
