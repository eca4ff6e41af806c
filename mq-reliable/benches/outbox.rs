//! Placeholder: the outbox relay rows/s benchmark (RabbitMQ and Kafka) is not
//! written yet (see docs/mq-reliable.md, known limits).
fn main() {}
