//! Fanout benchmark (written next).

fn main() {}
