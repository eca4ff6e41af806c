//! The shared subscription against a real Redis: events in order, channels
//! changed at run time, recovery after a restart, a silently dead link
//! noticed by the keepalive, and moving on from a dead node.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis_support::{Event, Listener, Subscription};
use tokio::sync::mpsc;

const PROMPTLY: Duration = Duration::from_secs(10);

/// What a listener saw, in order, as short strings.
struct Recorder {
    events: mpsc::UnboundedSender<String>,
    seen: Mutex<Vec<String>>,
}

impl Listener for Recorder {
    async fn on_event(&self, event: Event) {
        let text = match event {
            Event::Up { reconnected } => format!("up reconnected={reconnected}"),
            Event::Message(message) => format!(
                "{}: {}",
                message.get_channel_name(),
                message.get_payload::<String>().unwrap()
            ),
            Event::Down => "down".to_string(),
        };
        self.seen.lock().unwrap().push(text.clone());
        let _ = self.events.send(text);
    }
}

fn recorder() -> (Arc<Recorder>, mpsc::UnboundedReceiver<String>) {
    let (events, received) = mpsc::unbounded_channel();
    let recorder = Recorder {
        events,
        seen: Mutex::new(Vec::new()),
    };
    (Arc::new(recorder), received)
}

async fn next(events: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(PROMPTLY, events.recv())
        .await
        .expect("an event in time")
        .expect("the subscription is alive")
}

async fn publish(server: &testkit::RedisServer, channel: &str, payload: &str) -> i64 {
    let mut conn = server.connection().await;
    redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Publishes until someone receives it (a fresh subscription may not be
/// registered yet on the server when `subscribe` returns `false`).
async fn publish_until_heard(server: &testkit::RedisServer, channel: &str, payload: &str) {
    testkit::wait::until(PROMPTLY, "a subscriber to hear it", || async {
        publish(server, channel, payload).await == 1
    })
    .await;
}

#[tokio::test]
async fn events_come_in_order_and_channels_change_at_run_time() {
    let server = testkit::redis().await;
    let (listener, mut events) = recorder();
    let subscription = Subscription::builder(vec![server.client()])
        .channels(["a".to_string()])
        .start(listener);
    assert!(subscription.wait_up(PROMPTLY).await);
    assert_eq!(next(&mut events).await, "up reconnected=false");

    assert_eq!(publish(&server, "a", "1").await, 1);
    assert_eq!(next(&mut events).await, "a: 1");

    assert!(
        subscription.subscribe("b").await,
        "confirmed on a live link"
    );
    assert_eq!(publish(&server, "b", "2").await, 1);
    assert_eq!(next(&mut events).await, "b: 2");

    subscription.unsubscribe("a");
    assert!(subscription.subscribe("c").await);
    assert_eq!(
        publish(&server, "a", "lost").await,
        0,
        "a is no longer subscribed"
    );
    assert_eq!(publish(&server, "c", "3").await, 1);
    assert_eq!(next(&mut events).await, "c: 3");

    drop(subscription);
    testkit::wait::until(
        PROMPTLY,
        "the link to close with its last handle",
        || async { publish(&server, "b", "after").await == 0 },
    )
    .await;
}

#[tokio::test]
async fn a_restarted_server_gets_every_channel_back_and_the_listener_hears_the_gap() {
    let mut server = testkit::redis().await;
    let (listener, mut events) = recorder();
    let subscription = Subscription::builder(vec![server.client()])
        .channels(["a".to_string()])
        .keepalive(Duration::from_millis(500))
        .start(listener);
    assert!(subscription.wait_up(PROMPTLY).await);
    assert!(subscription.subscribe("b").await);
    assert_eq!(next(&mut events).await, "up reconnected=false");

    server.kill().await;
    assert_eq!(next(&mut events).await, "down");
    assert!(!subscription.is_up());
    // Changed while down: applied with the others on the next link.
    assert!(!subscription.subscribe("c").await, "deferred while down");
    server.restart().await;
    assert_eq!(next(&mut events).await, "up reconnected=true");
    assert!(subscription.wait_up(PROMPTLY).await);
    for channel in ["a", "b", "c"] {
        publish_until_heard(&server, channel, "back").await;
        assert_eq!(next(&mut events).await, format!("{channel}: back"));
    }
}

#[tokio::test]
async fn a_silently_dead_link_is_noticed_by_the_keepalive() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let (listener, mut events) = recorder();
    let subscription = Subscription::builder(vec![redis::Client::open(proxy.redis_url()).unwrap()])
        .channels(["a".to_string()])
        .keepalive(Duration::from_millis(200))
        .start(listener);
    assert!(subscription.wait_up(PROMPTLY).await);
    assert_eq!(next(&mut events).await, "up reconnected=false");

    proxy.discard(); // the connection stays open; nothing comes back
    assert_eq!(publish(&server, "a", "lost").await, 1, "sent into the void");
    assert_eq!(next(&mut events).await, "down", "the unanswered ping");
    proxy.restore();
    assert_eq!(next(&mut events).await, "up reconnected=true");
    publish_until_heard(&server, "a", "again").await;
    assert_eq!(next(&mut events).await, "a: again");
}

#[tokio::test]
async fn a_dead_node_is_skipped_for_the_next_one() {
    let server = testkit::redis().await;
    let dead = redis::Client::open(format!(
        "redis://127.0.0.1:{}",
        testkit::free_port().unwrap()
    ))
    .unwrap();
    let (listener, mut events) = recorder();
    let subscription = Subscription::builder(vec![dead, server.client()])
        .channels(["a".to_string()])
        .start(listener);
    assert!(subscription.wait_up(PROMPTLY).await, "up on the live node");
    assert_eq!(next(&mut events).await, "up reconnected=false");
    assert_eq!(publish(&server, "a", "1").await, 1);
    assert_eq!(next(&mut events).await, "a: 1");
}
