//! Live stock: `GET /api/stock/{id}/ws` pushes the units left of an item to
//! every page showing its sale.
//!
//! **One reader per item per instance, not one per viewer.** Each instance
//! keeps a [`StockFeeds`] map: the first socket watching an item starts a
//! poller that reads the item's stock every [`POLL_INTERVAL`] (the same
//! reads as `GET /api/stock/{id}`) and publishes it on a `tokio::sync::watch`
//! channel; every socket on that item shares the channel, and the poller
//! stops when the last socket closes. So the cost is one Redis `GET` and one
//! indexed row read per watched item per interval, whatever the crowd: ten
//! thousand viewers cost what one does.
//!
//! **Why polling the source, not an event per order.** During a sale the
//! stock changes on every order (thousands a second), and only the latest
//! value matters to a viewer. Publishing each change would fan every order
//! out to every viewer; sampling sends each viewer at most four numbers a
//! second, and a `watch` channel keeps only the newest, so a slow socket
//! never queues stale ones. A change shows on the page within one interval.
//!
//! Frames: `{"type":"stock","itemId":7,"left":42}` on connect and on every
//! change. The feed is public (stock is public), but, as for every socket
//! here, a page from another site is refused (`403`, see
//! [`Origins`]); the client sends nothing but
//! control frames, and anything else larger than 1 KiB closes the socket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chat_fanout::ws::Origins;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::api::ApiError;
use crate::server::AppState;

/// How often a watched item's stock is read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How often a socket is pinged; browsers answer with a pong.
const PING_INTERVAL: Duration = Duration::from_secs(20);

/// How long past a ping a silent client is kept: a phone that vanished
/// without closing would otherwise hold its item's poller until TCP gives
/// up (minutes).
const PONG_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest frame a client may send.
const MAX_CLIENT_FRAME: usize = 1024;

/// The items watched on this instance, each with its latest units left.
#[derive(Clone, Default)]
pub struct StockFeeds {
    feeds: Arc<Mutex<HashMap<i64, watch::Sender<i64>>>>,
}

impl StockFeeds {
    /// A receiver of item `id`'s units left, starting at `left`; starts the
    /// item's poller if no socket watches it yet.
    pub fn watch(&self, state: &AppState, id: i64, left: i64) -> watch::Receiver<i64> {
        let mut feeds = self.feeds.lock().expect("stock feeds lock");
        if let Some(sender) = feeds.get(&id) {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(left);
        feeds.insert(id, sender.clone());
        tokio::spawn(poll(self.clone(), state.clone(), id, sender));
        receiver
    }

    /// Whether a poller runs for item `id`.
    pub fn is_watched(&self, id: i64) -> bool {
        self.feeds
            .lock()
            .expect("stock feeds lock")
            .contains_key(&id)
    }

    /// Forgets item `id` if no socket watches it; whether it did.
    fn forget_if_unwatched(&self, id: i64, sender: &watch::Sender<i64>) -> bool {
        let mut feeds = self.feeds.lock().expect("stock feeds lock");
        // Checked under the lock: a socket subscribing now holds it too.
        if sender.receiver_count() > 0 {
            return false;
        }
        feeds.remove(&id);
        true
    }
}

/// Reads item `id`'s stock every [`POLL_INTERVAL`] while anyone watches.
async fn poll(feeds: StockFeeds, state: AppState, id: i64, sender: watch::Sender<i64>) {
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if feeds.forget_if_unwatched(id, &sender) {
            return;
        }
        match crate::catalog::stock_view(&state, id).await {
            Ok(Some(view)) => {
                sender.send_if_modified(|left| std::mem::replace(left, view.left) != view.left);
            }
            // Deleted items keep their last number; the page shows it.
            Ok(None) => {}
            // Redis or the database is down: keep the last number and retry.
            Err(error) => tracing::debug!(item = id, ?error, "reading live stock failed"),
        }
    }
}

/// `GET /api/stock/{id}/ws`
pub async fn stock_socket(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if !Origins::SameHost.allows(&headers) {
        return Ok(StatusCode::FORBIDDEN.into_response());
    }
    let view = crate::catalog::stock_view(&state, id)
        .await?
        .ok_or_else(|| super::not_found(id))?;
    let feed = state.stock_feeds.watch(&state, id, view.left);
    Ok(ws
        .max_message_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| serve(socket, feed, id)))
}

/// Sends the units left now and after every change, until the client goes
/// (closes, errs, or stays silent past a ping and [`PONG_TIMEOUT`]).
async fn serve(mut socket: WebSocket, mut feed: watch::Receiver<i64>, id: i64) {
    let mut pings = tokio::time::interval(PING_INTERVAL);
    pings.tick().await;
    let mut last_heard = Instant::now();
    loop {
        let left = *feed.borrow_and_update();
        let frame = json!({"type": "stock", "itemId": id, "left": left}).to_string();
        if socket.send(Message::Text(frame.into())).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                changed = feed.changed() => match changed {
                    Ok(()) => break,
                    Err(_) => return,
                },
                _ = pings.tick() => {
                    let silent = last_heard.elapsed() > PING_INTERVAL + PONG_TIMEOUT;
                    if silent || socket.send(Message::Ping(Default::default())).await.is_err() {
                        return;
                    }
                }
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => last_heard = Instant::now(),
                },
            }
        }
    }
}
