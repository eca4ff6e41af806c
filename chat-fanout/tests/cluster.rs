//! On a Redis Cluster: sharded pub/sub (`SPUBLISH` / `SSUBSCRIBE`), rooms
//! spread over the three shards, two hubs, order and recovery.

use std::time::Duration;

use chat_fanout::{Hub, Recovery, SubscribeOptions};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Msg {
    n: u64,
}

async fn hub(urls: &[String]) -> Hub {
    Hub::cluster_builder(urls.to_vec())
        .history(1_000)
        .subscription(SubscribeOptions::new().capacity(10_000))
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn rooms_on_every_shard_are_delivered_in_order_across_hubs() {
    const ROOMS: u64 = 12;
    const PER_ROOM: u64 = 100;
    let cluster = testkit::redis_cluster().await;
    let urls = cluster.urls();
    let (a, b) = (hub(&urls).await, hub(&urls).await);

    let mut subs = Vec::new();
    for room in 0..ROOMS {
        subs.push(b.subscribe::<Msg>(&format!("room:{room}")).await.unwrap());
    }
    let publishers = (0..ROOMS).map(|room| {
        let a = a.clone();
        async move {
            for n in 1..=PER_ROOM {
                a.publish(&format!("room:{room}"), &Msg { n })
                    .await
                    .unwrap();
            }
        }
    });
    futures::future::join_all(publishers).await;

    for (room, sub) in subs.iter_mut().enumerate() {
        for n in 1..=PER_ROOM {
            let envelope = tokio::time::timeout(Duration::from_secs(30), sub.next())
                .await
                .unwrap_or_else(|_| panic!("room {room}: message {n} in time"))
                .unwrap_or_else(|| panic!("room {room} closed: {:?}", sub.close_reason()));
            assert_eq!((envelope.offset, envelope.payload.n), (n, n), "room {room}");
        }
    }

    // The messages went through sharded channels, not the broadcast bus.
    let mut conn = cluster.nodes()[0].connection().await;
    let (_, plain): (String, u64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("chat:{room:0}")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(plain, 0, "no plain SUBSCRIBE");

    match b
        .recover::<Msg>("room:3", 40, &b.head("room:3").await.unwrap().epoch, 500)
        .await
        .unwrap()
    {
        Recovery::Page { messages, more, .. } => {
            assert!(!more);
            assert_eq!(messages.first().map(|m| m.offset), Some(41));
            assert_eq!(messages.len() as u64, PER_ROOM - 40);
        }
        other => panic!("expected a page, got {other:?}"),
    }
}
