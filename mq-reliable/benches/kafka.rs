//! Placeholder: the Kafka consume+commit benchmark beside a raw rdkafka
//! `StreamConsumer` loop is not written yet (see docs/mq-reliable.md, known limits).
fn main() {}
