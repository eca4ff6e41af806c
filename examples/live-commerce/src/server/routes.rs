//! The routes of each role, and the layers every request passes through.
//!
//! From the outside in:
//!
//! 1. the edge's duties (gateway and `all` only: [`edge`](crate::http::edge));
//! 2. a request id and a tracing span ([`trace`](crate::http::trace));
//! 3. the request count and latency per route ([`observe`](crate::observe));
//! 4. the refusal of cross-site writes ([`cross_site`](crate::http::cross_site));
//! 5. a clear `503` when the session store is down, and the session
//!    itself (roles that read it);
//! 6. the body limit;
//! 7. the role's routes, and `/healthz`, `/readyz`, `/metrics`; the
//!    gateway and `all` also serve the web front end ([`web`](crate::web)).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use session_store::{RedisStore, StoreErrorLayer};

use crate::auth::routes::AuthState;
use crate::gateway::Gateway;
use crate::http::edge::Edge;
use crate::observe::Observability;
use crate::server::{AppState, Role};
use crate::{catalog, dead_letters, orders, ranking};

/// What a role's router is made of.
pub struct Parts {
    /// The role.
    pub role: Role,
    /// Catalog and order state (roles serving them).
    pub app: Option<AppState>,
    /// Auth state (roles serving it).
    pub auth: Option<AuthState>,
    /// The shared session store (roles reading sessions).
    pub sessions: Option<RedisStore>,
    /// The gateway's pools (the gateway).
    pub gateway: Option<Gateway>,
    /// Chat rooms and notification feeds (the chat role).
    pub chat: Option<crate::chat::ChatState>,
    /// Whether the edge serves TLS.
    pub tls: bool,
    /// Health, readiness and metrics.
    pub observe: Observability,
}

/// The whole router of a role.
pub fn router(parts: Parts) -> Router {
    let mut app = Router::new();
    if let Some(state) = parts.app {
        app = app.merge(catalog_and_orders(state, parts.role));
    }
    if let Some(auth) = parts.auth {
        app = app.merge(crate::auth::routes::routes(auth));
    }
    if let Some(chat) = parts.chat {
        app = app.merge(crate::notifications::routes(chat.pool.clone()));
        app = app.merge(crate::chat::routes(chat));
    }
    if let Some(gateway) = &parts.gateway {
        app = app.merge(gateway.routes());
    }
    if matches!(parts.role, Role::Gateway | Role::All) {
        app = app.merge(crate::web::routes());
    }
    // Merged before the layers, so they wrap these routes and the fallback too.
    app = app.merge(parts.observe.routes());
    app = app.layer(DefaultBodyLimit::max(crate::server::BODY_LIMIT));
    if let Some(sessions) = parts.sessions {
        app = app
            .layer(crate::auth::session::layer(sessions))
            .layer(StoreErrorLayer::new());
    }
    app = app.layer(axum::middleware::from_fn(
        crate::http::cross_site::refuse_cross_site,
    ));
    app = app.layer(axum::middleware::from_fn_with_state(
        parts.role.name(),
        crate::observe::track_requests,
    ));
    app = crate::http::trace::traced(app);
    if matches!(parts.role, Role::Gateway | Role::All) {
        let edge = Edge { tls: parts.tls };
        app = app.layer(axum::middleware::from_fn_with_state(
            edge,
            crate::http::edge::edge,
        ));
    }
    app
}

fn catalog_and_orders(state: AppState, role: Role) -> Router {
    let mut app = Router::new()
        .route("/api/stock/{id}", get(catalog::get_stock))
        .route("/api/stock/{id}/ws", get(catalog::live_stock::stock_socket));
    if matches!(role, Role::Catalog | Role::All) {
        app = app
            .route(
                "/api/items",
                get(catalog::list_items).post(catalog::admin::create),
            )
            .route(
                "/api/items/{id}",
                get(catalog::get_item).put(catalog::admin::update),
            )
            .route("/api/items/{id}/views", post(ranking::views::view_item))
            .route("/api/search", get(ranking::search::search))
            .route("/api/ranking/items", get(ranking::api::items))
            .route("/api/ranking/keywords", get(ranking::api::keywords))
            .route("/api/stats/daily", get(crate::scheduler::api::daily));
    } else {
        app = app
            .route("/api/items", get(catalog::list_items))
            .route("/api/items/{id}", get(catalog::get_item));
    }
    if role.serves_orders() {
        app = app
            .route(
                "/api/orders",
                post(orders::place_order).get(orders::list_orders),
            )
            .route("/api/orders/{id}", get(orders::get_order))
            .route("/api/orders/{id}/pay", post(orders::payment::pay_order))
            .route("/api/admin/dead-letters", get(dead_letters::list))
            .route(
                "/api/admin/dead-letters/{id}",
                axum::routing::delete(dead_letters::discard),
            )
            .route(
                "/api/admin/dead-letters/{id}/replay",
                post(dead_letters::replay),
            );
    }
    app.with_state(state)
}
