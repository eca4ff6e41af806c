//! The bridge's secure defaults, with a real client: a page from another
//! site cannot open a socket, a user's flood is cut to their rate, a frame
//! past the size limit ends the socket, a read-only room refuses
//! publishing, a message that is not JSON is answered, not ignored; and a
//! client resuming past Redis history is served from the archive.

use std::time::Duration;

use chat_fanout::Hub;
use chat_fanout::ws::{ArchiveSource, Identity, Origins, RateLimit, WsBridge, resume::PageFuture};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PROMPTLY: Duration = Duration::from_secs(30);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Serves `bridge` (every user is who `x-user` says) and returns its address.
async fn serve(bridge: WsBridge) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router: axum::Router = bridge.router("/ws");
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A bridge that trusts an `x-user` header, its rooms open to publishing.
fn bridge(hub: Hub) -> WsBridge {
    read_only_bridge(hub).can_publish(|_, _| true)
}

/// The same with the default policy: no room open to publishing.
fn read_only_bridge(hub: Hub) -> WsBridge {
    WsBridge::new(hub, |headers, _room| async move {
        let user = headers
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .ok_or(axum::http::StatusCode::UNAUTHORIZED)?;
        Ok(Identity {
            user_id: user.to_string(),
            session_id: None,
        })
    })
}

async fn connect(
    addr: std::net::SocketAddr,
    query: &str,
    user: &str,
    origin: Option<&str>,
) -> Result<Socket, String> {
    let mut request = format!("ws://{addr}/ws?{query}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("x-user", user.parse().unwrap());
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
        .map_err(|error| error.to_string())
}

/// The next text frame as JSON, or `None` once the socket is closed.
async fn frame(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(PROMPTLY, socket.next())
            .await
            .expect("a frame in time");
        match message {
            Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

async fn say(socket: &mut Socket, body: String) {
    socket.send(Message::text(body)).await.unwrap();
}

#[tokio::test]
async fn only_pages_of_this_site_or_of_the_allowed_list_may_open_a_socket() {
    let server = testkit::redis().await;
    let hub = Hub::builder(server.client()).build().await.unwrap();
    let same_host = serve(bridge(hub.clone())).await;
    let own = format!("http://{same_host}");
    assert!(
        connect(same_host, "room=r", "ann", Some(&own))
            .await
            .is_ok()
    );
    assert!(
        connect(same_host, "room=r", "ann", None).await.is_ok(),
        "not a browser"
    );
    let foreign = connect(same_host, "room=r", "ann", Some("https://evil.example")).await;
    assert!(foreign.unwrap_err().contains("403"));

    let listed = bridge(hub).origins(Origins::List(vec!["https://shop.example".into()]));
    let listed = serve(listed).await;
    assert!(
        connect(listed, "room=r", "ann", Some("https://shop.example"))
            .await
            .is_ok()
    );
    let own = format!("http://{listed}");
    assert!(
        connect(listed, "room=r", "ann", Some(&own))
            .await
            .unwrap_err()
            .contains("403")
    );
}

#[tokio::test]
async fn a_users_flood_is_cut_to_their_rate_across_their_sockets() {
    let server = testkit::redis().await;
    let hub = Hub::builder(server.client()).build().await.unwrap();
    // Four tokens and no refill: what passes does not depend on timing.
    let addr = serve(bridge(hub.clone()).rate_limit(RateLimit::new(0.0, 4))).await;
    let mut one = connect(addr, "room=r", "ann", None).await.unwrap();
    let mut two = connect(addr, "room=r", "ann", None).await.unwrap();
    let mut bob = connect(addr, "room=r", "bob", None).await.unwrap();
    for socket in [&mut one, &mut two, &mut bob] {
        assert_eq!(frame(socket).await.unwrap()["type"], "live");
    }
    for n in 1..=3 {
        say(&mut one, json!({ "n": n }).to_string()).await;
        assert_eq!(frame(&mut one).await.unwrap()["offset"], n);
    }
    // Ann's second socket shares her bucket: one token is left.
    let mut answers = Vec::new();
    for n in 4..=6 {
        say(&mut two, json!({ "n": n }).to_string()).await;
    }
    // Offsets 1..=3 (sent before), 4, and two refusals, in some order.
    while answers.len() < 6 {
        let frame = frame(&mut two).await.unwrap();
        answers.push(match frame["type"].as_str() {
            Some("message") => frame["offset"].to_string(),
            _ => frame["code"].as_str().unwrap().to_string(),
        });
    }
    answers.sort();
    assert_eq!(
        answers,
        ["1", "2", "3", "4", "rate_limited", "rate_limited"]
    );
    // Another user has a bucket of their own.
    say(&mut bob, json!({ "n": "bob" }).to_string()).await;
    let mut offsets = Vec::new();
    while offsets.len() < 5 {
        let frame = frame(&mut bob).await.unwrap();
        assert_eq!(frame["type"], "message", "{frame}");
        offsets.push(frame["offset"].as_u64().unwrap());
    }
    assert_eq!(offsets, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn oversize_frames_end_the_socket_and_bad_or_forbidden_ones_are_answered() {
    let server = testkit::redis().await;
    let hub = Hub::builder(server.client()).build().await.unwrap();
    let bridge = bridge(hub)
        .max_message_size(1024)
        .can_publish(|_, room| room != "feed");
    let addr = serve(bridge).await;
    let mut socket = connect(addr, "room=r", "ann", None).await.unwrap();
    assert_eq!(frame(&mut socket).await.unwrap()["type"], "live");
    say(&mut socket, "not json".into()).await;
    assert_eq!(frame(&mut socket).await.unwrap()["code"], "bad_message");
    say(&mut socket, json!({ "text": "x".repeat(900) }).to_string()).await;
    assert_eq!(frame(&mut socket).await.unwrap()["type"], "message");
    let _ = socket
        .send(Message::text(
            json!({ "text": "x".repeat(2048) }).to_string(),
        ))
        .await;
    assert_eq!(frame(&mut socket).await, None, "closed");

    let mut feed = connect(addr, "room=feed", "ann", None).await.unwrap();
    assert_eq!(frame(&mut feed).await.unwrap()["type"], "live");
    say(&mut feed, json!({ "text": "mine" }).to_string()).await;
    assert_eq!(frame(&mut feed).await.unwrap()["code"], "forbidden");
}

#[tokio::test]
async fn by_default_a_socket_may_read_but_not_publish() {
    let server = testkit::redis().await;
    let hub = Hub::builder(server.client()).build().await.unwrap();
    let addr = serve(read_only_bridge(hub.clone())).await;
    let mut socket = connect(addr, "room=r", "ann", None).await.unwrap();
    assert_eq!(frame(&mut socket).await.unwrap()["type"], "live");
    say(&mut socket, json!({ "text": "hello" }).to_string()).await;
    assert_eq!(frame(&mut socket).await.unwrap()["code"], "forbidden");
    // What the server publishes still reaches it.
    hub.publish("r", &json!({ "text": "from the shop" }))
        .await
        .unwrap();
    let delivered = frame(&mut socket).await.unwrap();
    assert_eq!(delivered["type"], "message", "{delivered}");
}

/// An archive held in memory: offsets `1..=archived` of one epoch, with
/// `hole` missing.
struct Archived {
    epoch: String,
    archived: u64,
    hole: Option<u64>,
}

impl ArchiveSource for Archived {
    fn page<'a>(
        &'a self,
        _room: &'a str,
        epoch: &'a str,
        after: u64,
        limit: usize,
    ) -> PageFuture<'a> {
        Box::pin(async move {
            if epoch != self.epoch {
                return Ok(Vec::new());
            }
            Ok((after + 1..=self.archived)
                .filter(|offset| Some(*offset) != self.hole)
                .take(limit)
                .map(|offset| (offset, json!({ "n": offset })))
                .collect())
        })
    }
}

#[tokio::test]
async fn a_resume_past_trimmed_history_is_served_from_the_archive_and_only_a_hole_is_reported() {
    let server = testkit::redis().await;
    let hub = Hub::builder(server.client())
        .history(10)
        .build()
        .await
        .unwrap();
    for n in 1..=1_200 {
        hub.publish("r", &json!({ "n": n })).await.unwrap();
    }
    let epoch = hub.head("r").await.unwrap().epoch;
    let whole = Archived {
        epoch: epoch.clone(),
        archived: 1_190,
        hole: None,
    };
    let addr = serve(bridge(hub.clone()).archive(whole)).await;
    let mut socket = connect(addr, &format!("room=r&offset=3&epoch={epoch}"), "ann", None)
        .await
        .unwrap();
    for offset in 4..=1_200u64 {
        let frame = frame(&mut socket).await.unwrap();
        assert_eq!(
            (frame["type"].as_str(), frame["offset"].as_u64()),
            (Some("message"), Some(offset))
        );
        assert_eq!(frame["payload"]["n"], offset);
    }
    assert_eq!(frame(&mut socket).await.unwrap()["type"], "live");

    // Offset 500 was never archived: the client is told, and gets the rest.
    let holed = Archived {
        epoch: epoch.clone(),
        archived: 1_190,
        hole: Some(500),
    };
    let bridge = bridge(hub)
        .archive(holed)
        .archive_wait(Duration::from_millis(200));
    let addr = serve(bridge).await;
    let mut socket = connect(addr, &format!("room=r&offset=3&epoch={epoch}"), "ann", None)
        .await
        .unwrap();
    for offset in 4..500u64 {
        assert_eq!(frame(&mut socket).await.unwrap()["offset"], offset);
    }
    let incomplete = frame(&mut socket).await.unwrap();
    assert_eq!(incomplete["type"], "incomplete");
    let from = incomplete["from"].as_u64().unwrap();
    for offset in from..=1_200 {
        assert_eq!(frame(&mut socket).await.unwrap()["offset"], offset);
    }
    assert_eq!(frame(&mut socket).await.unwrap()["type"], "live");
}

#[tokio::test]
async fn clients_flooding_a_room_are_not_cut_off_by_their_own_traffic() {
    let server = testkit::redis().await;
    let hub = Hub::builder(server.client()).build().await.unwrap();
    let bridge = bridge(hub)
        .buffer(16)
        .rate_limit(RateLimit::new(1e6, 1_000_000));
    let addr = serve(bridge).await;
    // Four clients write everything at once: each socket's room sends it
    // four messages for every one it publishes, 16 at most in wait.
    let mut flooders = Vec::new();
    for client in 0..4 {
        let socket = connect(addr, "room=flood", &format!("user-{client}"), None)
            .await
            .unwrap();
        flooders.push(tokio::spawn(flood(socket)));
    }
    for flooder in flooders {
        assert_eq!(
            flooder.await.unwrap(),
            2_000,
            "every message, no disconnect"
        );
    }
}

/// Sends 500 messages at once and reads the room until offset 2,000;
/// returns the last offset read.
async fn flood(socket: Socket) -> u64 {
    let (mut sink, mut stream) = socket.split();
    let writing = tokio::spawn(async move {
        for n in 1..=500 {
            sink.send(Message::text(json!({ "n": n }).to_string()))
                .await
                .unwrap();
        }
        sink
    });
    let mut last = 0;
    while last < 2_000 {
        let message = tokio::time::timeout(PROMPTLY, stream.next()).await.unwrap();
        match message {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "message" {
                    last = frame["offset"].as_u64().unwrap();
                }
            }
            Some(Ok(Message::Close(close))) => panic!("closed after offset {last}: {close:?}"),
            Some(Ok(_)) => {}
            other => panic!("socket ended after offset {last}: {other:?}"),
        }
    }
    drop(writing.await.unwrap());
    last
}

#[tokio::test]
async fn a_bridge_with_presence_counts_each_user_once_while_any_of_their_sockets_is_open() {
    let server = testkit::redis().await;
    let hub = Hub::builder(server.client()).build().await.unwrap();
    let addr = serve(bridge(hub.clone()).presence(|room| room.starts_with("live."))).await;
    let users = || async { hub.presence("live.show").users().await.unwrap() };
    let members = || async { hub.presence("live.show").members().await.unwrap() };

    let mut ann_laptop = connect(addr, "room=live.show", "ann", None).await.unwrap();
    let mut ann_phone = connect(addr, "room=live.show", "ann", None).await.unwrap();
    let mut bob = connect(addr, "room=live.show", "bob", None).await.unwrap();
    let mut elsewhere = connect(addr, "room=backstage", "cat", None).await.unwrap();
    for socket in [&mut ann_laptop, &mut ann_phone, &mut bob, &mut elsewhere] {
        assert_eq!(frame(socket).await.unwrap()["type"], "live");
    }
    // A socket joins right after its `live` frame: wait for all three.
    testkit::wait::until(PROMPTLY, "three members", || async {
        members().await.len() == 3
    })
    .await;
    assert_eq!(users().await, ["ann", "bob"], "two tabs, one person");
    assert!(
        hub.presence("backstage")
            .members()
            .await
            .unwrap()
            .is_empty(),
        "rooms the filter leaves out are not tracked"
    );

    ann_laptop.close(None).await.unwrap();
    testkit::wait::until(PROMPTLY, "the laptop's member gone", || async {
        members().await.len() == 2
    })
    .await;
    assert_eq!(
        users().await,
        ["ann", "bob"],
        "ann is still here on her phone"
    );
    ann_phone.close(None).await.unwrap();
    bob.close(None).await.unwrap();
    testkit::wait::until(PROMPTLY, "the room empty", || async {
        users().await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_client_joining_without_a_position_gets_the_last_messages_then_live() {
    let server = testkit::redis().await;
    let hub = Hub::builder(server.client()).build().await.unwrap();
    for n in 1..=5 {
        hub.publish("r", &json!({ "n": n })).await.unwrap();
    }
    let addr = serve(bridge(hub.clone()).history_on_join(3)).await;
    let mut joined = connect(addr, "room=r", "ann", None).await.unwrap();
    let mut offsets = Vec::new();
    loop {
        let frame = frame(&mut joined).await.unwrap();
        if frame["type"] == "live" {
            assert_eq!(frame["offset"], 5);
            break;
        }
        offsets.push(frame["offset"].as_u64().unwrap());
    }
    assert_eq!(offsets, [3, 4, 5], "the last three, in order");

    let plain = serve(bridge(hub.clone())).await;
    let mut fresh = connect(plain, "room=r", "bob", None).await.unwrap();
    assert_eq!(
        frame(&mut fresh).await.unwrap()["type"],
        "live",
        "none by default"
    );
    let empty = connect(addr, "room=empty", "cat", None).await;
    assert_eq!(frame(&mut empty.unwrap()).await.unwrap()["type"], "live");
}
