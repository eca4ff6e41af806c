//! Live chat across instances (scenario 6), through real Redis, Kafka and
//! PostgreSQL: users on two chat processes talk to each other in order, a
//! gateway passes sockets through, the socket refuses what it must
//! (no session, a foreign page, another user's feed, floods, oversize
//! frames), a revoked session's socket closes, and a client resuming past
//! Redis history gets the rest from the archive.

mod support;

use std::time::{Duration, Instant};

use live_commerce::server::Role;
use live_commerce::strategy::Strategy;
use serde_json::Value;
use support::chat::{connect, join, join_from};
use support::{Services, base_url, buyer, spawn_serve, start_role};

/// The texts of `message` frames, in order, and their offsets.
fn texts(frames: &[Value]) -> (Vec<String>, Vec<u64>) {
    let texts = frames
        .iter()
        .map(|f| f["payload"]["text"].as_str().unwrap().to_string())
        .collect();
    let offsets = frames
        .iter()
        .map(|f| f["offset"].as_u64().unwrap())
        .collect();
    (texts, offsets)
}

/// `count` message frames from `socket`.
async fn messages(socket: &mut support::chat::Socket, count: usize) -> Vec<Value> {
    let mut frames = Vec::with_capacity(count);
    while frames.len() < count {
        let frame = socket.frame().await;
        match frame["type"].as_str() {
            Some("message") => frames.push(frame),
            Some("live") => {}
            _ => panic!("unexpected frame: {frame}"),
        }
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_two_chat_instances_talk_in_order_directly_and_through_the_gateway() {
    let services = Services::start().await;
    let auth = start_role(&services, Role::Auth, Strategy::Lua).await;
    let http = reqwest::Client::new();
    let (ann, bob) = (
        buyer(&http, &base_url(&auth), "ann").await,
        buyer(&http, &base_url(&auth), "bob").await,
    );
    let a = spawn_serve(&services, &["--role", "chat", "--chat-burst", "100"]).await;
    let b = spawn_serve(&services, &["--role", "chat", "--chat-burst", "100"]).await;

    let mut on_a = join(&a.url, "live.launch", &ann).await;
    let mut on_b = join(&b.url, "live.launch", &bob).await;
    assert!(on_a.until_live().await.is_empty());
    assert!(on_b.until_live().await.is_empty());
    // Presence: both users, one on each instance, counted by either.
    let presence = format!("{}/api/chat/rooms/live.launch/presence", b.url);
    testkit::wait::until(Duration::from_secs(30), "both users present", || async {
        let answer = http.get(&presence).header("cookie", &bob).send().await;
        let body: Value = answer.unwrap().json().await.unwrap();
        body["data"]["watching"] == 2
    })
    .await;
    for n in 0..50 {
        on_a.say(&format!("ann {n}")).await;
    }
    let (seen, offsets) = texts(&messages(&mut on_b, 50).await);
    let sent: Vec<String> = (0..50).map(|n| format!("ann {n}")).collect();
    assert_eq!(seen, sent, "bob on instance B sees ann's messages in order");
    assert_eq!(offsets, (1..=50).collect::<Vec<u64>>());
    on_b.say("hi ann").await;
    let to_ann = messages(&mut on_a, 51).await;
    let epoch = to_ann[0]["epoch"].as_str().unwrap().to_string();
    assert_eq!(to_ann[50]["payload"]["text"], "hi ann");
    assert_eq!(
        to_ann[50]["payload"]["name"], "bob",
        "the author's display name"
    );
    let bob_id = to_ann[50]["payload"]["from"].as_str().unwrap();
    assert_ne!(bob_id, to_ann[0]["payload"]["from"].as_str().unwrap());

    // The same through a gateway in front of both instances.
    let gateway = spawn_serve(
        &services,
        &[
            "--role",
            "gateway",
            "--no-tls",
            "--upstream",
            &format!("chat={},{}", a.url, b.url),
        ],
    )
    .await;
    let mut via_gateway = join_from(
        &gateway.url,
        "live.launch",
        &bob,
        &format!("?offset=49&epoch={epoch}"),
    )
    .await;
    let caught_up = via_gateway.until_live().await;
    assert_eq!(texts(&caught_up).1, vec![50, 51], "resumed after offset 49");
    on_a.say("through the gateway").await;
    let live = messages(&mut via_gateway, 1).await;
    assert_eq!(live[0]["payload"]["text"], "through the gateway");
    assert_eq!(live[0]["offset"], 52);
    let refused = connect(&gateway.url, "/api/chat/rooms/live.launch/ws", None, None).await;
    assert_eq!(
        refused.err(),
        Some(401),
        "the gateway passes the refusal on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_refuses_strangers_foreign_pages_other_feeds_floods_and_oversize_frames() {
    let services = Services::start().await;
    let auth = start_role(&services, Role::Auth, Strategy::Lua).await;
    let http = reqwest::Client::new();
    let ann = buyer(&http, &base_url(&auth), "ann").await;
    let bob = buyer(&http, &base_url(&auth), "bob").await;
    let chat = spawn_serve(
        &services,
        &["--role", "chat", "--chat-rate", "1", "--chat-burst", "3"],
    )
    .await;
    let room = "/api/chat/rooms/live.launch/ws";
    let host = chat.url.trim_start_matches("http://");

    let status = |r: Result<support::chat::Socket, u16>| r.err();
    assert_eq!(
        status(connect(&chat.url, room, None, None).await),
        Some(401)
    );
    assert_eq!(
        status(connect(&chat.url, room, Some("session=forged"), None).await),
        Some(401)
    );
    let foreign = connect(&chat.url, room, Some(&ann), Some("https://evil.example")).await;
    assert_eq!(status(foreign), Some(403), "cross-site WebSocket hijacking");
    let own_page = format!("http://{host}");
    assert!(
        connect(&chat.url, room, Some(&ann), Some(&own_page))
            .await
            .is_ok()
    );
    let no_such = connect(&chat.url, "/api/chat/rooms/lobby/ws", Some(&ann), None).await;
    assert_eq!(status(no_such), Some(404));

    // Bob's feed is his alone, and nobody writes to a feed from a socket.
    let me = http
        .get(format!("{}/api/auth/me", base_url(&auth)))
        .header("cookie", &bob)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let bob_feed = format!(
        "/api/chat/rooms/user.{}/ws",
        me["data"]["userId"].as_str().unwrap()
    );
    assert_eq!(
        status(connect(&chat.url, &bob_feed, Some(&ann), None).await),
        Some(403)
    );
    let mut feed = connect(&chat.url, &bob_feed, Some(&bob), None)
        .await
        .unwrap();
    feed.until_live().await;
    feed.say("writing my own feed").await;
    assert_eq!(feed.frame().await["code"], "forbidden");

    // Three at once pass (the burst); the rest of a flood is refused.
    let mut socket = join(&chat.url, "live.launch", &ann).await;
    socket.until_live().await;
    for n in 0..6 {
        socket.say(&format!("flood {n}")).await;
    }
    let mut published = 0;
    let mut limited = 0;
    while published + limited < 6 {
        let frame = socket.frame().await;
        match frame["type"].as_str() {
            Some("message") => published += 1,
            Some("error") if frame["code"] == "rate_limited" => limited += 1,
            _ => panic!("unexpected frame: {frame}"),
        }
    }
    assert!(
        published >= 3 && limited >= 1,
        "{published} published, {limited} limited"
    );
    assert!(socket.send_raw("not json".into()).await);
    assert_eq!(socket.frame().await["code"], "bad_message");

    // A frame past the size limit ends the socket.
    let mut big = join(&chat.url, "live.launch", &bob).await;
    big.until_live().await;
    let _ = big
        .send_raw(format!("{{\"text\":\"{}\"}}", "x".repeat(64 * 1024)))
        .await;
    assert!(
        big.try_frame(support::chat::FRAME_PATIENCE).await.is_none(),
        "closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_everywhere_closes_the_users_sockets_on_every_instance() {
    let services = Services::start().await;
    let auth = start_role(&services, Role::Auth, Strategy::Lua).await;
    let http = reqwest::Client::new();
    let ann = buyer(&http, &base_url(&auth), "ann").await;
    let a = spawn_serve(&services, &["--role", "chat"]).await;
    let b = spawn_serve(&services, &["--role", "chat"]).await;
    let mut on_a = join(&a.url, "live.launch", &ann).await;
    let mut on_b = join(&b.url, "live.launch", &ann).await;
    on_a.until_live().await;
    on_b.until_live().await;

    let started = Instant::now();
    let logout = http
        .post(format!("{}/api/auth/logout-all", base_url(&auth)))
        .header("cookie", &ann)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    assert_eq!(
        on_a.close_code().await,
        Some(chat_fanout::ws::CLOSE_REVOKED)
    );
    assert_eq!(
        on_b.close_code().await,
        Some(chat_fanout::ws::CLOSE_REVOKED)
    );
    println!(
        "both sockets closed {:?} after the logout",
        started.elapsed()
    );
    let again = connect(&a.url, "/api/chat/rooms/live.launch/ws", Some(&ann), None).await;
    assert_eq!(again.err(), Some(401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resuming_past_trimmed_history_gets_the_rest_from_the_archive() {
    let services = Services::start().await;
    let kafka = testkit::kafka().await;
    let topic = kafka.name("chat");
    let auth = start_role(&services, Role::Auth, Strategy::Lua).await;
    let http = reqwest::Client::new();
    let ann = buyer(&http, &base_url(&auth), "ann").await;
    let chat = spawn_serve(
        &services,
        &[
            "--role",
            "chat",
            "--chat-history",
            "20",
            "--chat-burst",
            "200",
        ],
    )
    .await;
    let _worker = spawn_serve(
        &services,
        &["--role", "worker", "--chat-archive-topic", &topic],
    )
    .await;

    // History (20) must cover the archive's lag, as in production: the
    // messages go out in tens, each ten archived before the next.
    let pool = services.postgres.pool().await;
    let mut socket = join(&chat.url, "live.replay", &ann).await;
    socket.until_live().await;
    let mut frames = Vec::new();
    for ten in 0..12 {
        for n in 1..=10 {
            socket.say(&format!("m{}", ten * 10 + n)).await;
        }
        frames.extend(messages(&mut socket, 10).await);
        until_archived(&pool, "live.replay", (ten + 1) * 10).await;
    }
    let epoch = frames[0]["epoch"].as_str().unwrap().to_string();
    drop(socket);

    // Redis keeps the last 20: offsets 6..=100 come from the archive.
    let resumed = join_from(
        &chat.url,
        "live.replay",
        &ann,
        &format!("?offset=5&epoch={epoch}"),
    )
    .await;
    let mut resumed = resumed;
    let caught_up = resumed.until_live().await;
    let (seen, offsets) = texts(&caught_up);
    assert_eq!(
        offsets,
        (6..=120).collect::<Vec<u64>>(),
        "no gap, no repeat"
    );
    assert_eq!(seen, (6..=120).map(|n| format!("m{n}")).collect::<Vec<_>>());
    let kept = support::chat::history_len(&services, "live.replay").await;
    assert!(kept < 100, "Redis trimmed most of the 120 ({kept} kept)");
}

/// Waits (bounded) until the archive holds `rows` messages of `room`.
async fn until_archived(pool: &sqlx::PgPool, room: &str, rows: i64) {
    testkit::wait::until(
        Duration::from_secs(60),
        "the archive to catch up",
        || async {
            let (count,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM chat_archive WHERE room = $1")
                    .bind(room)
                    .fetch_one(pool)
                    .await
                    .unwrap();
            count == rows
        },
    )
    .await;
}
