//! The WebSocket adapter with a real client: auth from a session-store
//! session, resume from (offset, epoch), live messages both ways, keepalive,
//! and closing when session-store revokes the session.

use std::time::Duration;

use chat_fanout::Hub;
use chat_fanout::ws::{CLOSE_REVOKED, Identity, Revoked, WsBridge};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use session_store::{RedisStore, RevocationEvent};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tower_sessions_core::session::{Id, Record};

const PROMPTLY: Duration = Duration::from_secs(30);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct App {
    hub: Hub,
    store: RedisStore,
    addr: std::net::SocketAddr,
}

async fn app(server: &testkit::RedisServer, keepalive: Duration) -> App {
    app_with(server, keepalive, None).await
}

/// With `injected`, the bridge hears only those events (as if it had
/// missed every revocation), and verifies sockets on `Recheck`.
async fn app_with(
    server: &testkit::RedisServer,
    keepalive: Duration,
    injected: Option<tokio::sync::mpsc::UnboundedReceiver<Revoked>>,
) -> App {
    let hub = Hub::builder(server.client()).build().await.unwrap();
    let store = RedisStore::builder(server.client())
        .bind_users_explicitly()
        .build()
        .unwrap();
    let sessions = store.clone();
    let revocations = match injected {
        Some(mut injected) => futures::stream::poll_fn(move |cx| injected.poll_recv(cx)).boxed(),
        None => store
            .revocations()
            .await
            .unwrap()
            .filter_map(|event| async move {
                match event {
                    RevocationEvent::Revoked(revocation) => Some(Revoked::Sessions {
                        user_id: revocation.user_id,
                        session_ids: revocation.session_ids,
                    }),
                    RevocationEvent::Resubscribed => Some(Revoked::Recheck),
                }
            })
            .boxed(),
    };
    let verifier = store.clone();
    let bridge = WsBridge::new(hub.clone(), move |headers, _room| {
        let sessions = sessions.clone();
        async move {
            let id: Id = headers
                .get("x-session")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse().ok())
                .ok_or(axum::http::StatusCode::UNAUTHORIZED)?;
            let user = sessions
                .user_of(&id)
                .await
                .map_err(|_| axum::http::StatusCode::SERVICE_UNAVAILABLE)?
                .ok_or(axum::http::StatusCode::UNAUTHORIZED)?;
            Ok(Identity {
                user_id: user,
                session_id: Some(id.to_string()),
            })
        }
    })
    .keepalive(keepalive, keepalive)
    .can_publish(|_, _| true)
    .revocations(revocations)
    .verify(move |identity| {
        let store = verifier.clone();
        async move {
            let Some(id) = identity.session_id.and_then(|id| id.parse::<Id>().ok()) else {
                return true;
            };
            !matches!(store.user_of(&id).await, Ok(None))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router: axum::Router = bridge.router("/ws");
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    App { hub, store, addr }
}

async fn login(store: &RedisStore, user: &str) -> String {
    let mut record = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    store.create_record(&mut record).await.unwrap();
    assert!(store.bind_user(&record.id, user).await.unwrap());
    record.id.to_string()
}

async fn connect(app: &App, session: Option<&str>, query: &str) -> Result<Socket, String> {
    let mut request = format!("ws://{}/ws?{query}", app.addr)
        .into_client_request()
        .unwrap();
    if let Some(session) = session {
        request
            .headers_mut()
            .insert("x-session", session.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
        .map_err(|error| error.to_string())
}

/// The next text frame as JSON (answering pings on the way).
async fn frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(PROMPTLY, socket.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("no socket error");
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Close(close) => panic!("closed: {close:?}"),
            _ => {}
        }
    }
}

/// Reads until the server closes; returns the close code.
async fn close_code(socket: &mut Socket) -> u16 {
    loop {
        let message = tokio::time::timeout(PROMPTLY, socket.next())
            .await
            .expect("the server closes in time");
        match message {
            Some(Ok(Message::Close(Some(close)))) => return u16::from(close.code),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_client_resumes_chats_and_is_closed_when_its_session_is_revoked() {
    let server = testkit::redis().await;
    let app = app(&server, Duration::from_secs(20)).await;
    let session = login(&app.store, "ann").await;

    for n in 1..=5 {
        app.hub.publish("room:1", &json!({ "n": n })).await.unwrap();
    }
    let epoch = app.hub.head("room:1").await.unwrap().epoch;

    // Without a session: refused before the upgrade.
    let refused = connect(&app, None, "room=room:1").await.unwrap_err();
    assert!(refused.contains("401"), "{refused}");

    // Resume after offset 2: 3, 4, 5 from history, then live.
    let mut socket = connect(
        &app,
        Some(&session),
        &format!("room=room:1&offset=2&epoch={epoch}"),
    )
    .await
    .unwrap();
    for n in 3..=5 {
        let message = frame(&mut socket).await;
        assert_eq!(message["type"], "message");
        assert_eq!(message["offset"], n);
        assert_eq!(message["payload"]["n"], n);
    }
    assert_eq!(
        frame(&mut socket).await,
        json!({"type": "live", "offset": 5, "epoch": epoch})
    );
    app.hub.publish("room:1", &json!({ "n": 6 })).await.unwrap();
    assert_eq!(frame(&mut socket).await["offset"], 6);

    // What the client says reaches the room, attributed to its user.
    let mut room = app.hub.subscribe::<Value>("room:1").await.unwrap();
    socket
        .send(Message::text(r#"{"text":"hello"}"#))
        .await
        .unwrap();
    let said = tokio::time::timeout(PROMPTLY, room.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        said.payload,
        json!({"from": "ann", "body": {"text": "hello"}})
    );
    assert_eq!(frame(&mut socket).await["payload"]["from"], "ann");

    // A second user's socket stays open when ann's sessions are revoked.
    let bob_session = login(&app.store, "bob").await;
    let mut bob = connect(&app, Some(&bob_session), "room=room:1")
        .await
        .unwrap();
    assert_eq!(frame(&mut bob).await["type"], "live");

    assert_eq!(app.store.revoke_all("ann").await.unwrap(), 1);
    assert_eq!(close_code(&mut socket).await, CLOSE_REVOKED);

    app.hub.publish("room:1", &json!({ "n": 8 })).await.unwrap();
    assert_eq!(frame(&mut bob).await["payload"]["n"], 8);

    // The revoked session cannot reconnect.
    let refused = connect(&app, Some(&session), "room=room:1")
        .await
        .unwrap_err();
    assert!(refused.contains("401"), "{refused}");
}

#[tokio::test]
async fn resuming_past_trimmed_history_says_incomplete() {
    let server = testkit::redis().await;
    let app = app(&server, Duration::from_secs(20)).await;
    let hub = Hub::builder(server.client())
        .history(10)
        .build()
        .await
        .unwrap();
    for n in 1..=200 {
        hub.publish("room:2", &json!({ "n": n })).await.unwrap();
    }
    let epoch = hub.head("room:2").await.unwrap().epoch;
    let session = login(&app.store, "ann").await;
    let mut socket = connect(
        &app,
        Some(&session),
        &format!("room=room:2&offset=3&epoch={epoch}"),
    )
    .await
    .unwrap();
    let incomplete = frame(&mut socket).await;
    assert_eq!(incomplete["type"], "incomplete");
    let from = incomplete["from"].as_u64().unwrap();
    assert!(from > 4);
    for offset in from..=200 {
        assert_eq!(frame(&mut socket).await["offset"], offset);
    }
    assert_eq!(frame(&mut socket).await["type"], "live");
}

#[tokio::test]
async fn a_silent_client_is_dropped_by_the_keepalive() {
    let server = testkit::redis().await;
    let app = app(&server, Duration::from_millis(100)).await;
    let session = login(&app.store, "ann").await;
    let mut socket = connect(&app, Some(&session), "room=room:3").await.unwrap();
    assert_eq!(frame(&mut socket).await["type"], "live");
    // Not reading means not answering pings: the client is silent.
    tokio::time::sleep(Duration::from_millis(600)).await; // the silence under test
    assert_eq!(close_code(&mut socket).await, 1001);
}

#[tokio::test]
async fn after_missed_revocations_a_recheck_closes_the_sockets_of_ended_sessions() {
    let server = testkit::redis().await;
    let (inject, injected) = tokio::sync::mpsc::unbounded_channel();
    let app = app_with(&server, Duration::from_secs(20), Some(injected)).await;
    let (ann, bob) = (
        login(&app.store, "ann").await,
        login(&app.store, "bob").await,
    );
    let mut ann_socket = connect(&app, Some(&ann), "room=room:4").await.unwrap();
    let mut bob_socket = connect(&app, Some(&bob), "room=room:4").await.unwrap();
    assert_eq!(frame(&mut ann_socket).await["type"], "live");
    assert_eq!(frame(&mut bob_socket).await["type"], "live");

    // The bridge does not hear this revocation (as if its subscription was down)...
    assert_eq!(app.store.revoke_all("ann").await.unwrap(), 1);
    app.hub.publish("room:4", &json!({ "n": 1 })).await.unwrap();
    assert_eq!(
        frame(&mut ann_socket).await["offset"],
        1,
        "ann's socket is still open"
    );

    // ...until it is told to re-check.
    inject.send(Revoked::Recheck).unwrap();
    assert_eq!(close_code(&mut ann_socket).await, CLOSE_REVOKED);
    app.hub.publish("room:4", &json!({ "n": 2 })).await.unwrap();
    assert_eq!(frame(&mut bob_socket).await["offset"], 1);
    assert_eq!(
        frame(&mut bob_socket).await["offset"],
        2,
        "bob's session is live: kept"
    );
}
