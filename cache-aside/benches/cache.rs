//! Benchmarks of the cache (written next).
fn main() {}
