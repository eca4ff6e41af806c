//! Two hubs on separate connections share rooms: order, one subscription per
//! room, and gap-free delivery across a cut of the subscriber's link.

use std::time::Duration;

use chat_fanout::{Envelope, Hub, SubscribeOptions};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

const PROMPTLY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Msg {
    n: u64,
}

async fn hub(url: &str) -> Hub {
    Hub::builder(redis::Client::open(url).unwrap())
        .history(10_000)
        .keepalive(Duration::from_millis(500))
        // The tests read one room at a time: let the others wait.
        .subscription(SubscribeOptions::new().capacity(10_000))
        .build()
        .await
        .unwrap()
}

async fn numsub(server: &testkit::RedisServer, channel: &str) -> u64 {
    let mut conn = server.connection().await;
    let (_, count): (String, u64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut conn)
        .await
        .unwrap();
    count
}

/// Receives `count` messages, or panics naming how many arrived.
async fn take(sub: &mut chat_fanout::Subscription<Msg>, count: usize) -> Vec<Envelope<Msg>> {
    let mut got = Vec::with_capacity(count);
    let result = tokio::time::timeout(PROMPTLY, async {
        while got.len() < count {
            match sub.next().await {
                Some(envelope) => got.push(envelope),
                None => panic!("subscription closed: {:?}", sub.close_reason()),
            }
        }
    })
    .await;
    assert!(result.is_ok(), "received {} of {count} messages", got.len());
    got
}

fn assert_in_order(received: &[Envelope<Msg>], first_offset: u64) {
    for (i, envelope) in received.iter().enumerate() {
        assert_eq!(
            envelope.offset,
            first_offset + i as u64,
            "offsets are consecutive"
        );
        assert_eq!(
            envelope.payload.n, envelope.offset,
            "payload matches its offset"
        );
    }
}

#[tokio::test]
async fn published_on_a_is_received_on_b_in_order_over_one_subscription() {
    let server = testkit::redis().await;
    let (a, b) = (hub(&server.url()).await, hub(&server.url()).await);
    let mut first = b.subscribe::<Msg>("room:1").await.unwrap();
    let mut second = b.subscribe::<Msg>("room:1").await.unwrap();
    let mut other_room = b.subscribe::<Msg>("room:2").await.unwrap();
    assert_eq!(first.start().offset, 0);

    assert_eq!(
        numsub(&server, "chat:{room:1}").await,
        1,
        "two local subscribers of a room share one Redis subscription"
    );
    for n in 1..=200 {
        assert_eq!(a.publish("room:1", &Msg { n }).await.unwrap(), n);
    }
    a.publish("room:2", &Msg { n: 1 }).await.unwrap();

    assert_in_order(&take(&mut first, 200).await, 1);
    assert_in_order(&take(&mut second, 200).await, 1);
    assert_in_order(&take(&mut other_room, 1).await, 1);
    let epochs: std::collections::HashSet<String> =
        take(&mut b.subscribe::<Msg>("room:1").await.unwrap(), 0)
            .await
            .into_iter()
            .map(|e| e.epoch)
            .collect();
    assert!(epochs.is_empty());
    assert_eq!(b.stats().delivered, 401);
    assert_eq!(a.stats().published, 201);

    // A late subscriber starts after what was already published.
    let late = b.subscribe::<Msg>("room:1").await.unwrap();
    assert_eq!(late.start().offset, 200);
    assert_eq!(late.start().epoch, a.head("room:1").await.unwrap().epoch);

    // The last local subscriber leaving ends the Redis subscription.
    drop((first, second, late));
    testkit::wait::until(PROMPTLY, "room:1 to be unsubscribed", || async {
        numsub(&server, "chat:{room:1}").await == 0
    })
    .await;
    assert_eq!(numsub(&server, "chat:{room:2}").await, 1);
}

#[tokio::test]
async fn a_cut_during_a_burst_loses_nothing_and_keeps_order() {
    const ROOMS: u64 = 3;
    const PER_ROOM: u64 = 1_500;
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let a = hub(&server.url()).await;
    let b = hub(&proxy.redis_url()).await;
    let mut subs = Vec::new();
    for room in 0..ROOMS {
        subs.push(b.subscribe::<Msg>(&format!("room:{room}")).await.unwrap());
    }

    let burst = tokio::spawn({
        let a = a.clone();
        async move {
            let rooms = (0..ROOMS).map(|room| {
                let a = a.clone();
                async move {
                    for n in 1..=PER_ROOM {
                        a.publish(&format!("room:{room}"), &Msg { n })
                            .await
                            .unwrap();
                    }
                }
            });
            futures::future::join_all(rooms).await;
        }
    });

    // Cut B's link a little into the burst, keep it cut until the burst ends.
    let mut received: Vec<Vec<Envelope<Msg>>> = vec![Vec::new(); ROOMS as usize];
    received[0] = take(&mut subs[0], 100).await;
    proxy.cut();
    testkit::wait::until(PROMPTLY, "hub B to notice the cut", || async {
        !b.is_connected()
    })
    .await;
    burst.await.unwrap();
    proxy.restore();

    for (room, sub) in subs.iter_mut().enumerate() {
        let missing = PER_ROOM as usize - received[room].len();
        let rest = take(sub, missing).await;
        received[room].extend(rest);
        assert_in_order(&received[room], 1);
    }
    let stats = b.stats();
    assert!(stats.resubscribes >= 1, "{stats:?}");
    assert!(
        stats.gaps_filled > 0,
        "the gap was filled from history: {stats:?}"
    );

    // Live delivery goes on after the reconnection.
    a.publish("room:0", &Msg { n: PER_ROOM + 1 }).await.unwrap();
    assert_eq!(take(&mut subs[0], 1).await[0].offset, PER_ROOM + 1);
}

#[tokio::test]
async fn a_silently_dead_link_is_noticed_by_the_keepalive_and_nothing_is_lost() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let a = hub(&server.url()).await;
    let b = Hub::builder(redis::Client::open(proxy.redis_url()).unwrap())
        .keepalive(Duration::from_millis(200))
        .response_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    let mut sub = b.subscribe::<Msg>("room:1").await.unwrap();
    a.publish("room:1", &Msg { n: 1 }).await.unwrap();
    assert_eq!(take(&mut sub, 1).await[0].offset, 1);

    // Bytes vanish both ways, no reset: only the keepalive can tell.
    proxy.discard();
    for n in 2..=50 {
        a.publish("room:1", &Msg { n }).await.unwrap();
    }
    testkit::wait::until(PROMPTLY, "hub B to notice the dead link", || async {
        !b.is_connected()
    })
    .await;
    proxy.restore();
    assert_in_order(&take(&mut sub, 49).await, 2);
    assert!(b.stats().resubscribes >= 1);
}

#[tokio::test]
async fn a_room_that_cannot_take_a_burst_at_once_refills_from_history() {
    let server = testkit::redis().await;
    let a = hub(&server.url()).await;
    // A one-message hand-over buffer: most of a burst overflows it.
    let b = Hub::builder(server.client())
        .history(10_000)
        .room_buffer(1)
        .subscription(SubscribeOptions::new().capacity(10_000))
        .build()
        .await
        .unwrap();
    let mut sub = b.subscribe::<Msg>("room:1").await.unwrap();
    let burst = (1..=2_000).map(|_| {
        let a = a.clone();
        async move { a.publish("room:1", &Msg { n: 0 }).await.unwrap() }
    });
    let mut offsets = futures::future::join_all(burst).await;
    offsets.sort_unstable();
    assert_eq!(offsets, (1..=2_000).collect::<Vec<_>>());
    let received = take(&mut sub, 2_000).await;
    let got: Vec<u64> = received.iter().map(|e| e.offset).collect();
    assert_eq!(got, offsets, "every offset once, in order");
    let stats = b.stats();
    assert!(stats.router_overflow > 0, "the burst overflowed: {stats:?}");
    assert_eq!(
        stats.delivered, 2_000,
        "overflowed: {}, refilled: {}",
        stats.router_overflow, stats.gaps_filled
    );
}
