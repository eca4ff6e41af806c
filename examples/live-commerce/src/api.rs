//! The HTTP envelope every `/api` answer uses, the errors it carries, and
//! [`JsonBody`], the request body extractor that refuses in it.
//!
//! Success: `{"success": true, "data": …}`. Failure: `{"success": false,
//! "error": {"code": "SOLD_OUT", "message": "…"}}` with the matching status.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use serde_json::value::RawValue;

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
    /// Seconds after which a retry may succeed (sent as `Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same error, telling the client to retry after `seconds`.
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// `401 Unauthorized`.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// `403 Forbidden`.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
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
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::unavailable("the database", error)
    }
}

impl From<mq_reliable::Error> for ApiError {
    fn from(error: mq_reliable::Error) -> Self {
        match error {
            mq_reliable::Error::Database(error) => error.into(),
            other => ApiError::unavailable("the message broker", other),
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(error: redis::RedisError) -> Self {
        ApiError::unavailable("Redis", error)
    }
}

/// A JSON request body: an object, deserialized into `T`.
///
/// Like `axum::Json<T>`, but every refusal answers in the envelope:
///
/// | body | status | code |
/// |---|---|---|
/// | no JSON content type | `415` | `UNSUPPORTED_MEDIA_TYPE` |
/// | over the body limit | `413` | `BODY_TOO_LARGE` |
/// | not JSON, or trailing text after it | `400` | `MALFORMED_JSON` |
/// | JSON, but not an object (`[1, 2]`, `"x"`, `3`, `null`, …) | `400` | `EXPECTED_OBJECT` |
/// | an object `T` does not accept (missing or unknown field, wrong type) | `400` | `MALFORMED_JSON` |
///
/// Why the object check: a struct that derives `Deserialize` also reads
/// itself from a JSON array of its fields in declaration order, and
/// `deny_unknown_fields` only looks at objects. So without it
/// `{"itemId": 7, "count": 1}` and `[7, 1]` would be the same order. Every
/// body of this API is an object with named fields; anything else is
/// refused before `T` sees it. (A body that is meant to be an array needs
/// another extractor.)
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        // Two passes over a body of at most the body limit: the first
        // (through axum's `Json`, so its content-type, size and syntax
        // refusals stay as they are) checks that the body is one JSON value
        // and keeps a copy of its text, building nothing else; the second
        // deserializes `T` from that text. Checking the first byte of the
        // raw bytes and parsing once would do too, but would mean copying
        // axum's content-type rules to keep the `415` ahead of the body.
        let axum::Json(raw) = axum::Json::<Box<RawValue>>::from_request(request, state).await?;
        let kind = json_kind(raw.get());
        if kind != "an object" {
            return Err(ApiError::bad_request(
                "EXPECTED_OBJECT",
                format!("the request body must be a JSON object, not {kind}"),
            ));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(raw.get().as_bytes())?;
        // `Result::Ok`: a bare `Ok` in this module is the success envelope.
        Result::Ok(JsonBody(value))
    }
}

/// What kind of value the valid JSON text `json` is, with its article:
/// `"an object"`, `"an array"`, `"a string"`, `"a number"`, `"a boolean"`
/// or `"null"`.
///
/// The first character decides it: valid JSON leaves no other choice.
/// `RawValue` already excludes the whitespace around a value; it is
/// skipped here too so the answer does not rest on that.
fn json_kind(json: &str) -> &'static str {
    match json
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .chars()
        .next()
    {
        Some('{') => "an object",
        Some('[') => "an array",
        Some('"') => "a string",
        Some('t' | 'f') => "a boolean",
        Some('n') => "null",
        Some(_) => "a number",
        None => "nothing",
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(json: &str) -> &'static str {
        let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
        json_kind(raw.get())
    }

    #[test]
    fn only_an_object_is_an_object() {
        assert_eq!(kind_of(r#"{"itemId": 7, "count": 1}"#), "an object");
        assert_eq!(kind_of(" \n\t{} \r\n"), "an object");
        assert_eq!(kind_of("[7, 1]"), "an array");
        assert_eq!(kind_of(" \n[{\"itemId\": 7}]"), "an array");
        assert_eq!(kind_of(r#""{}""#), "a string");
        assert_eq!(kind_of("7"), "a number");
        assert_eq!(kind_of("-7.5e3"), "a number");
        assert_eq!(kind_of("true"), "a boolean");
        assert_eq!(kind_of("false"), "a boolean");
        assert_eq!(kind_of("null"), "null");
    }

    #[test]
    fn the_raw_value_leaves_out_the_whitespace_around_it() {
        let raw: Box<RawValue> = serde_json::from_str(" \n[1, 2]\t ").unwrap();
        assert_eq!(raw.get(), "[1, 2]");
        assert_eq!(json_kind("\r\n {}"), "an object");
        assert_eq!(json_kind(""), "nothing");
    }
}
