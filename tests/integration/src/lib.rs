//! Cross-crate integration, fault-injection and end-to-end tests.
//!
//! The tests live in `tests/`; each talks to real servers obtained from the
//! [`testkit`](../testkit/index.html) crate. This library is empty on purpose:
//! it only gives the test targets a package to belong to.
