//! Outbox benchmark (written next).
fn main() {}
