//! The HTTP envelope every `/api` answer uses, and the errors it carries.
//!
//! Success: `{"success": true, "data": …}`. Failure: `{"success": false,
//! "error": {"code": "SOLD_OUT", "message": "…"}}` with the matching status.

use axum::Json;
use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// A successful answer: `{"success": true, "data": …}` with `status`.
pub struct Ok<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for Ok<T> {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"success": true, "data": self.1}))).into_response()
    }
}

/// `200 OK` with `data`.
pub fn ok<T>(data: T) -> Ok<T> {
    Ok(StatusCode::OK, data)
}

/// A failed request: status, a stable code for programs and a message for
/// people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`SOLD_OUT`, `INVALID_COUNT`, …).
    pub code: &'static str,
    /// What happened, for a person.
    pub message: String,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// `400 Bad Request`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `404 Not Found`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// `409 Conflict`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// `503 Service Unavailable`: a backing service failed; retrying may help.
    pub fn unavailable(what: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{what} failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "BACKEND_UNAVAILABLE",
            format!("{what} is unavailable; retry shortly"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "success": false,
            "error": {"code": self.code, "message": self.message},
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::unavailable("the database", error)
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(error: redis::RedisError) -> Self {
        ApiError::unavailable("Redis", error)
    }
}

/// `Json<T>` whose rejections (malformed JSON, wrong content type, body too
/// large) answer in the envelope instead of plain text.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct JsonBody<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "BODY_TOO_LARGE",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
            _ => "MALFORMED_JSON",
        };
        let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        ApiError::new(status, code, rejection.body_text())
    }
}
