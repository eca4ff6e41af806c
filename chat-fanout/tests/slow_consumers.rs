//! Each slow-consumer policy: a subscriber that never reads does not slow
//! the others, and gets what its policy promises.

use std::time::Duration;

use chat_fanout::{CloseReason, Envelope, Hub, SlowConsumer, SubscribeOptions, Subscription};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

const PROMPTLY: Duration = Duration::from_secs(30);
const MESSAGES: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Msg {
    n: u64,
}

async fn hub(server: &testkit::RedisServer) -> Hub {
    Hub::builder(server.client())
        .history(10_000)
        .page_size(50)
        .build()
        .await
        .unwrap()
}

fn slow(policy: SlowConsumer) -> SubscribeOptions {
    SubscribeOptions::new().policy(policy).capacity(10)
}

async fn drain(sub: &mut Subscription<Msg>) -> Vec<Envelope<Msg>> {
    let mut got = Vec::new();
    while let Ok(Some(envelope)) =
        tokio::time::timeout(Duration::from_millis(300), sub.next()).await
    {
        got.push(envelope);
    }
    got
}

/// Publishes MESSAGES while a fast subscriber reads them all; returns once
/// the fast one has every message (it was never held up by the slow one).
async fn burst_past(publisher: &Hub, subscriber: &Hub, room: &str) {
    let mut fast = subscriber.subscribe::<Msg>(room).await.unwrap();
    for n in 1..=MESSAGES {
        publisher.publish(room, &Msg { n }).await.unwrap();
    }
    let got = tokio::time::timeout(PROMPTLY, async {
        let mut offsets = Vec::new();
        while offsets.len() < MESSAGES as usize {
            offsets.push(fast.next().await.expect("fast subscriber open").offset);
        }
        offsets
    })
    .await
    .expect("the fast subscriber gets every message while the slow one sleeps");
    assert_eq!(got, (1..=MESSAGES).collect::<Vec<_>>());
}

#[tokio::test]
async fn disconnect_closes_the_slow_subscriber_with_a_reason() {
    let server = testkit::redis().await;
    let (a, b) = (hub(&server).await, hub(&server).await);
    let mut sleepy = b
        .subscribe_with::<Msg>("room:d", slow(SlowConsumer::Disconnect))
        .await
        .unwrap();
    burst_past(&a, &b, "room:d").await;

    let got = drain(&mut sleepy).await;
    assert_eq!(
        got.iter().map(|e| e.offset).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>(),
        "what was buffered is delivered, then the stream ends"
    );
    assert_eq!(
        sleepy.close_reason(),
        Some(CloseReason::SlowConsumer { last_offset: 10 })
    );
    assert_eq!(b.stats().disconnected_slow, 1);

    // The client resumes by offset.
    match a
        .recover::<Msg>("room:d", 10, &got[0].epoch, 1_000)
        .await
        .unwrap()
    {
        chat_fanout::Recovery::Page { messages, more, .. } => {
            assert!(!more);
            assert_eq!(messages.len() as u64, MESSAGES - 10);
            assert_eq!(messages[0].offset, 11);
        }
        other => panic!("expected a page, got {other:?}"),
    }
}

#[tokio::test]
async fn drop_oldest_keeps_the_newest_messages() {
    let server = testkit::redis().await;
    let (a, b) = (hub(&server).await, hub(&server).await);
    let mut sleepy = b
        .subscribe_with::<Msg>("room:t", slow(SlowConsumer::DropOldest))
        .await
        .unwrap();
    burst_past(&a, &b, "room:t").await;

    let got = drain(&mut sleepy).await;
    assert_eq!(
        got.iter().map(|e| e.offset).collect::<Vec<_>>(),
        (MESSAGES - 9..=MESSAGES).collect::<Vec<_>>(),
        "the ten newest remain"
    );
    assert_eq!(sleepy.close_reason(), None, "still subscribed");
    assert_eq!(b.stats().dropped, MESSAGES - 10);
}

#[tokio::test]
async fn block_catches_up_from_history_without_holding_anyone_up() {
    let server = testkit::redis().await;
    let (a, b) = (hub(&server).await, hub(&server).await);
    let mut sleepy = b
        .subscribe_with::<Msg>("room:b", slow(SlowConsumer::Block))
        .await
        .unwrap();
    burst_past(&a, &b, "room:b").await;

    // Now it reads, slowly at first, and gets everything in order.
    let mut offsets = Vec::new();
    tokio::time::timeout(PROMPTLY, async {
        while offsets.len() < MESSAGES as usize {
            let envelope = sleepy.next().await.expect("still open");
            if offsets.len() < 20 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            offsets.push(envelope.offset);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("got {} of {MESSAGES}", offsets.len()));
    assert_eq!(offsets, (1..=MESSAGES).collect::<Vec<_>>());
    assert!(b.stats().catch_ups >= 1, "{:?}", b.stats());

    // Back on the live feed: the next message arrives without a gap.
    a.publish("room:b", &Msg { n: MESSAGES + 1 }).await.unwrap();
    let next = tokio::time::timeout(PROMPTLY, sleepy.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.offset, MESSAGES + 1);
}

#[tokio::test]
async fn the_defaults_disconnect_a_subscriber_that_stops_reading() {
    // Default hubs and default subscription options: a 1,024-message
    // buffer and `SlowConsumer::Disconnect`.
    let server = testkit::redis().await;
    let a = Hub::builder(server.client()).build().await.unwrap();
    let b = Hub::builder(server.client()).build().await.unwrap();
    let mut sleepy = b.subscribe::<Msg>("room:defaults").await.unwrap();
    for n in 1..=1_500 {
        a.publish("room:defaults", &Msg { n }).await.unwrap();
    }
    let got = tokio::time::timeout(PROMPTLY, drain(&mut sleepy))
        .await
        .expect("the buffered messages come, then the end");
    assert_eq!(
        got.iter().map(|e| e.offset).collect::<Vec<_>>(),
        (1..=1_024).collect::<Vec<_>>(),
        "the default buffer, in order, then the stream ends"
    );
    assert_eq!(
        sleepy.close_reason(),
        Some(CloseReason::SlowConsumer { last_offset: 1_024 })
    );
    assert_eq!(b.stats().disconnected_slow, 1);
}
