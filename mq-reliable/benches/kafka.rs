//! Kafka benchmark (written next).
fn main() {}
