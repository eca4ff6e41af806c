//! Notifications (scenario 9): what happened that a user should know,
//! stored once, pushed live once, listed for whoever was offline.
//!
//! ```text
//!  producer's transaction ─ record(): INSERT … ON CONFLICT DO NOTHING + pg_notify(id)
//!        │ commit (a rollback announces nothing)
//!        ▼
//!  every chat instance: LISTEN notifications ─► claim (UPDATE … delivered_at IS NULL)
//!        │ the one whose claim returned the row
//!        ▼
//!  hub.publish("user.<id>") ─► the user's feed socket (GET /api/notifications/ws), any instance
//! ```
//!
//! | event | producer | key |
//! |---|---|---|
//! | an order paid | [`orders::payment`](crate::orders::payment) | `order-confirmed:<order id>` |
//! | an order's window ended | [`orders::expiry`](crate::orders::expiry) | `order-expired:<order id>` |
//! | a lower price on an item the user ordered | [`catalog::admin`](crate::catalog::admin) | `price-drop:<item id>:<edit id>` |
//! | `@<email>` in a live room | the worker's [`mentions`] consumer | `mention:<room>:<epoch>:<offset>` |
//!
//! | file | what it is |
//! |---|---|
//! | [`record`](mod@record) | recording an event once, announced at commit |
//! | [`deliver`] | the chat instances' listener: claim, then push |
//! | [`mentions`] | the worker's Kafka consumer finding `@<email>` in chat |
//! | [`api`] | list, mark read, mark all read |

pub mod api;
pub mod deliver;
pub mod mentions;
pub mod record;

use axum::Router;
use axum::routing::{get, post};
use sqlx::PgPool;

pub use record::{Kind, record};

/// The notification routes (the chat role serves them beside the feed
/// socket).
pub fn routes(pool: PgPool) -> Router {
    Router::new()
        .route("/api/notifications", get(api::list))
        .route("/api/notifications/read-all", post(api::read_all))
        .route("/api/notifications/{id}/read", post(api::read_one))
        .with_state(api::NotificationsState { pool })
}
