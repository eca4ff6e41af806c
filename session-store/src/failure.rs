//! [`StoreErrorLayer`]: a clear answer when the session store is down.
//!
//! When Redis cannot be reached, tower-sessions' layer answers a failed save
//! with an empty `500`, and a handler whose session read fails answers
//! whatever it chose. Placed outside `SessionManagerLayer`, this layer
//! notices that the store failed during the request (the store reports it
//! through a task-local slot) and turns any `5xx` answer into
//! `503 Service Unavailable` with a JSON body saying the session store is
//! unavailable and the request can be retried. Responses of requests during
//! which the store worked are never touched. The failure's details go to the
//! log (`tracing`, without session ids or data), not to the client.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response, StatusCode, header};
use tower_layer::Layer;
use tower_service::Service;

/// The body of the `503` answer.
pub const UNAVAILABLE_BODY: &str = r#"{"success":false,"error":{"code":"SESSION_STORE_UNAVAILABLE","message":"the session store is unavailable; retry shortly"}}"#;

tokio::task_local! {
    static FAILURE: RefCell<Option<String>>;
}

/// Called by the store when a Redis call fails.
pub(crate) fn record(error: &redis::RedisError) {
    let _ = FAILURE.try_with(|slot| *slot.borrow_mut() = Some(error.to_string()));
}

/// Wraps a service so that a session-store outage answers `503` with a
/// message instead of an empty `500`.
///
/// The store notes each Redis failure in a task-local slot that this layer
/// opens per request; when the request then ends with a `5xx`, the answer is
/// replaced by `503 Service Unavailable` and [`UNAVAILABLE_BODY`]. Requests
/// during which the store worked are never touched, and the failure's
/// details go to the log, not to the client. Add it outside
/// `SessionManagerLayer`:
///
/// ```no_run
/// # async fn demo(store: session_store::RedisStore) {
/// use axum::{Router, routing::get};
/// use tower_sessions::SessionManagerLayer;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(SessionManagerLayer::new(store))
///     .layer(session_store::StoreErrorLayer::new());
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreErrorLayer;

impl StoreErrorLayer {
    /// The layer.
    pub fn new() -> Self {
        Self
    }
}

impl<S> Layer<S> for StoreErrorLayer {
    type Service = StoreErrorService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StoreErrorService { inner }
    }
}

/// The service [`StoreErrorLayer`] produces.
#[derive(Debug, Clone)]
pub struct StoreErrorService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for StoreErrorService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(FAILURE.scope(RefCell::new(None), async move {
            let response = response.await?;
            let failure = FAILURE.with(|slot| slot.borrow_mut().take());
            match failure {
                Some(reason) if response.status().is_server_error() => {
                    tracing::error!(%reason, "session store unavailable; answering 503");
                    let mut unavailable =
                        Response::new(ResBody::from(UNAVAILABLE_BODY.to_string()));
                    *unavailable.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    unavailable.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    Ok(unavailable)
                }
                _ => Ok(response),
            }
        }))
    }
}
