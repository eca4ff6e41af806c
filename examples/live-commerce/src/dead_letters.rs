//! The operator's view of what failed for good: the dead letters of the
//! order queues, to inspect, replay or discard (admin role only).
//!
//! | endpoint | what it does |
//! |---|---|
//! | `GET /api/admin/dead-letters?limit=50` | every dead letter: queue, reason, attempts, first and last failure, payload |
//! | `POST /api/admin/dead-letters/{id}/replay` | sends it back to the queue it failed in (not to every queue bound to its exchange) |
//! | `DELETE /api/admin/dead-letters/{id}` | drops it |
//!
//! A letter's id is its message id (an order id for `order.placed`). The
//! work is mq-reliable's [`DeadLetters`](mq_reliable::amqp::DeadLetters):
//! letters are read without being taken, and a replayed one leaves the
//! dead-letter queue only once the broker confirmed its copy.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use mq_reliable::amqp::{Broker, DeadLetter};
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiError};
use crate::auth::session::Admin;
use crate::orders::expiry;
use crate::server::AppState;
use crate::worker;

/// The dead-letter queues of this system.
pub const QUEUES: [&str; 2] = [worker::DEAD_LETTER_QUEUE, expiry::DEAD_LETTER_QUEUE];
/// The most letters one listing returns.
pub const MAX_LIMIT: usize = 200;
/// The longest id accepted (message ids are UUIDs; 128 leaves room).
const MAX_ID_LENGTH: usize = 128;

/// A dead letter as the admin API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterView {
    /// The message id.
    pub id: Option<String>,
    /// The dead-letter queue it is in.
    pub queue: String,
    /// The queue it failed in.
    pub failed_in: String,
    /// The last failure's text.
    pub reason: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the first attempt failed.
    pub first_failure: Option<DateTime<Utc>>,
    /// When the last attempt failed.
    pub last_failure: Option<DateTime<Utc>>,
    /// The body: JSON when it is JSON, else its text (lossy UTF-8).
    pub payload: serde_json::Value,
}

impl DeadLetterView {
    fn new(queue: &str, letter: DeadLetter) -> Self {
        let payload = serde_json::from_slice(&letter.body).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&letter.body).into_owned())
        });
        let envelope = letter.envelope;
        Self {
            id: letter.message_id,
            queue: queue.to_string(),
            failed_in: envelope.source_queue,
            reason: envelope.error_message,
            attempts: envelope.attempts,
            first_failure: envelope.first_failure.map(DateTime::<Utc>::from),
            last_failure: envelope.last_failure.map(DateTime::<Utc>::from),
            payload,
        }
    }
}

/// The query of the listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Letters per queue (1..=200, default 50).
    pub limit: Option<usize>,
}

fn broker(state: &AppState) -> Result<&Broker, ApiError> {
    state.broker.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NO_BROKER",
            "this service has no message broker",
        )
    })
}

/// `GET /api/admin/dead-letters`
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<api::Ok<Vec<DeadLetterView>>, ApiError> {
    let Query(query) =
        query.map_err(|rejection| ApiError::bad_request("INVALID_QUERY", rejection.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "INVALID_QUERY",
            format!("limit must be 1..={MAX_LIMIT}"),
        ));
    }
    let broker = broker(&state)?;
    let mut views = Vec::new();
    for queue in QUEUES {
        let letters = broker.dead_letters(queue).list(limit).await?;
        views.extend(letters.into_iter().map(|l| DeadLetterView::new(queue, l)));
    }
    Ok(api::ok(views))
}

/// What an action on one letter did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Done {
    /// The letter's id.
    pub id: String,
    /// The dead-letter queue it was in.
    pub queue: &'static str,
}

/// `POST /api/admin/dead-letters/{id}/replay`
pub async fn replay(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<api::Ok<Done>, ApiError> {
    let id = checked_id(id)?;
    let broker = broker(&state)?;
    for queue in QUEUES {
        if broker.dead_letters(queue).replay_message(&id).await? {
            tracing::info!(%id, queue, "dead letter replayed");
            return Ok(api::ok(Done { id, queue }));
        }
    }
    Err(not_found(&id))
}

/// `DELETE /api/admin/dead-letters/{id}`
pub async fn discard(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<api::Ok<Done>, ApiError> {
    let id = checked_id(id)?;
    let broker = broker(&state)?;
    for queue in QUEUES {
        if broker.dead_letters(queue).discard_message(&id).await? {
            tracing::info!(%id, queue, "dead letter discarded");
            return Ok(api::ok(Done { id, queue }));
        }
    }
    Err(not_found(&id))
}

fn checked_id(id: String) -> Result<String, ApiError> {
    if (1..=MAX_ID_LENGTH).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(id)
    } else {
        Err(ApiError::bad_request(
            "INVALID_ID",
            "a dead letter's id is its message id",
        ))
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("DEAD_LETTER_NOT_FOUND", format!("no dead letter {id}"))
}
