//! A WebSocket client for the chat tests: connect with a session cookie,
//! send texts, read frames.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How long a test waits for one frame.
pub const FRAME_PATIENCE: Duration = Duration::from_secs(30);

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One open socket.
pub struct Socket {
    stream: Stream,
}

/// How a handshake went: a socket, or the refusing HTTP status.
pub async fn connect(
    base: &str,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Result<Socket, u16> {
    let url = format!("{}{path}", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((stream, _)) => Ok(Socket { stream }),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(error) => panic!("connecting {path}: {error}"),
    }
}

/// Connects `cookie`'s user to chat room `room` at `base`.
pub async fn join(base: &str, room: &str, cookie: &str) -> Socket {
    join_from(base, room, cookie, "").await
}

/// The same, resuming with `query` (`?offset=5&epoch=…`, or empty).
pub async fn join_from(base: &str, room: &str, cookie: &str, query: &str) -> Socket {
    let path = format!("/api/chat/rooms/{room}/ws{query}");
    connect(base, &path, Some(cookie), None)
        .await
        .unwrap_or_else(|status| panic!("joining {room}: HTTP {status}"))
}

/// The sending half of a socket whose incoming frames are read and
/// dropped in the background (a client must read, or the server stops
/// writing to it and, past its buffer, closes it as a slow consumer).
pub struct Sender {
    sink: futures::stream::SplitSink<Stream, Message>,
    drain: tokio::task::JoinHandle<()>,
}

impl Sender {
    /// Sends `{"text": text}`.
    pub async fn say(&mut self, text: &str) {
        let body = serde_json::json!({ "text": text }).to_string();
        self.sink.send(Message::text(body)).await.unwrap();
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.drain.abort();
    }
}

impl Socket {
    /// Keeps only the sending half; incoming frames are drained.
    pub fn into_sender(self) -> Sender {
        let (sink, mut stream) = self.stream.split();
        let drain = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
        Sender { sink, drain }
    }

    /// Sends `{"text": text}`.
    pub async fn say(&mut self, text: &str) {
        let body = serde_json::json!({ "text": text }).to_string();
        self.stream.send(Message::text(body)).await.unwrap();
    }

    /// Sends a raw text frame.
    pub async fn send_raw(&mut self, body: String) -> bool {
        self.stream.send(Message::text(body)).await.is_ok()
    }

    /// The next JSON frame (pings answered on the way).
    pub async fn frame(&mut self) -> Value {
        self.try_frame(FRAME_PATIENCE)
            .await
            .unwrap_or_else(|| panic!("no frame within {FRAME_PATIENCE:?}"))
    }

    /// The next JSON frame within `patience`, or `None` (socket closed or
    /// silent).
    pub async fn try_frame(&mut self, patience: Duration) -> Option<Value> {
        loop {
            let next = tokio::time::timeout(patience, self.stream.next())
                .await
                .ok()??;
            match next.ok()? {
                Message::Text(text) => return Some(serde_json::from_str(&text).unwrap()),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Frames until the `live` one; the `message` frames before it.
    pub async fn until_live(&mut self) -> Vec<Value> {
        let mut messages = Vec::new();
        loop {
            let frame = self.frame().await;
            match frame["type"].as_str() {
                Some("live") => return messages,
                Some("message") => messages.push(frame),
                _ => panic!("unexpected frame before live: {frame}"),
            }
        }
    }

    /// The close code the server ends the socket with.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            let next = tokio::time::timeout(FRAME_PATIENCE, self.stream.next())
                .await
                .expect("the socket to close in time");
            match next {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

/// How many messages chat room `room` keeps in its Redis history (the
/// hub's stream, `chat:{<room>}:stream`).
pub async fn history_len(services: &super::Services, room: &str) -> usize {
    let client = services.redis.client();
    let mut redis = testkit::redis_connection(&client).await.unwrap();
    redis::cmd("XLEN")
        .arg(format!("chat:{{{room}}}:stream"))
        .query_async(&mut redis)
        .await
        .unwrap()
}
