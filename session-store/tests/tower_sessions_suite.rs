//! tower-sessions' own integration suite (`route_tests!`, copied in
//! `tower_sessions_suite/common.rs`), run against this crate's `RedisStore` through
//! `SessionManagerLayer` on an axum `Router`, each app on its own Redis.
//!
//! The same suite also runs against tower-sessions' `MemoryStore`, as
//! tower-sessions runs it: the reference for what every case expects,
//! including the one case added here (a read does not extend an
//! `Expiry::OnInactivity` session).

#[macro_use]
#[path = "tower_sessions_suite/common.rs"]
mod common;

/// The suite on tower-sessions' own `MemoryStore`, exactly as tower-sessions
/// instantiates it.
mod memory_store_tests {
    use axum::Router;
    use tower_sessions::{MemoryStore, SessionManagerLayer};

    use crate::common::build_app;

    async fn app(max_age: Option<Duration>, domain: Option<String>) -> Router {
        let session_store = MemoryStore::default();
        let session_manager = SessionManagerLayer::new(session_store).with_secure(true);
        build_app(session_manager, max_age, domain)
    }

    route_tests!(app);
}

/// The suite on a `RedisStore` with its default
/// settings (30 min idle timeout, 24 h absolute lifetime).
mod redis_store_tests {
    use std::sync::Arc;

    use axum::{Extension, Router};
    use session_store::RedisStore;
    use tower_sessions::SessionManagerLayer;

    use crate::common::build_app;

    async fn app(max_age: Option<Duration>, domain: Option<String>) -> Router {
        let server = testkit::redis().await;
        let session_store = RedisStore::builder(server.client()).build().unwrap();
        let session_manager = SessionManagerLayer::new(session_store).with_secure(true);
        // The app owns its Redis: the server lives as long as the router.
        build_app(session_manager, max_age, domain).layer(Extension(Arc::new(server)))
    }

    route_tests!(app);
}
