//! Recovery by (offset, epoch): paging without a cap, and `Incomplete` when
//! history was trimmed or the epoch changed.

use std::time::Duration;

use chat_fanout::{CloseReason, Hub, Recovery};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Msg {
    n: u64,
}

async fn hub(server: &testkit::RedisServer, history: usize) -> Hub {
    Hub::builder(server.client())
        .history(history)
        .build()
        .await
        .unwrap()
}

/// Recovers everything after `since`, page by page, as a client would.
async fn recover_all(
    hub: &Hub,
    room: &str,
    mut since: u64,
    epoch: &str,
    limit: usize,
) -> (Vec<u64>, usize) {
    let (mut offsets, mut pages) = (Vec::new(), 0);
    let mut epoch = epoch.to_string();
    loop {
        match hub
            .recover::<Msg>(room, since, &epoch, limit)
            .await
            .unwrap()
        {
            Recovery::Page {
                messages,
                more,
                head,
            } => {
                pages += 1;
                assert!(messages.len() <= limit);
                if epoch.is_empty() {
                    epoch = head.epoch.clone(); // a fresh client learns the epoch
                }
                assert_eq!(head.epoch, epoch);
                for message in &messages {
                    assert_eq!(message.payload.n, message.offset);
                    offsets.push(message.offset);
                }
                since = messages.last().map_or(since, |m| m.offset);
                if !more {
                    return (offsets, pages);
                }
            }
            other => panic!("expected a page, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn recovery_pages_through_everything_missed() {
    let server = testkit::redis().await;
    let hub = hub(&server, 10_000).await;
    for n in 1..=2_345 {
        hub.publish("room:1", &Msg { n }).await.unwrap();
    }
    let epoch = hub.head("room:1").await.unwrap().epoch;

    // More than any single page: no cap, only page size.
    let (offsets, pages) = recover_all(&hub, "room:1", 100, &epoch, 500).await;
    assert_eq!(offsets, (101..=2_345).collect::<Vec<_>>());
    assert_eq!(pages, 5);

    // Up to date: an empty page.
    let (offsets, _) = recover_all(&hub, "room:1", 2_345, &epoch, 500).await;
    assert!(offsets.is_empty());

    // From the start of the room.
    let (offsets, _) = recover_all(&hub, "room:1", 0, "", 1_000).await;
    assert_eq!(offsets.len(), 2_345);
}

#[tokio::test]
async fn trimmed_history_or_another_epoch_is_incomplete() {
    let server = testkit::redis().await;
    let hub = hub(&server, 100).await;
    for n in 1..=1_000 {
        hub.publish("room:1", &Msg { n }).await.unwrap();
    }
    let epoch = hub.head("room:1").await.unwrap().epoch;

    let Recovery::Incomplete { from, epoch: now } =
        hub.recover::<Msg>("room:1", 5, &epoch, 50).await.unwrap()
    else {
        panic!("offset 6 was trimmed long ago");
    };
    assert_eq!(now, epoch);
    assert!(
        from > 6 && from <= 901,
        "history keeps at least 100: from = {from}"
    );
    // The app reads 6..from from its archive, then continues from history.
    let (offsets, _) = recover_all(&hub, "room:1", from - 1, &epoch, 50).await;
    assert_eq!(offsets, (from..=1_000).collect::<Vec<_>>());

    // A client from another epoch cannot be served from this history.
    assert!(matches!(
        hub.recover::<Msg>("room:1", 995, "someotherepoch", 50)
            .await
            .unwrap(),
        Recovery::Incomplete { .. }
    ));
}

#[tokio::test]
async fn redis_losing_the_room_starts_a_new_epoch_and_strict_subscribers_are_told() {
    let mut server = testkit::redis().await;
    let hub = Hub::builder(server.client())
        .keepalive(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let mut sub = hub.subscribe::<Msg>("room:1").await.unwrap();
    for n in 1..=5 {
        hub.publish("room:1", &Msg { n }).await.unwrap();
    }
    let old_epoch = hub.head("room:1").await.unwrap().epoch;
    for _ in 0..5 {
        sub.next().await.unwrap();
    }

    server.restart().await; // no persistence: the room is gone
    testkit::wait::until(
        Duration::from_secs(30),
        "the hub to publish again",
        || async { hub.publish("room:1", &Msg { n: 1 }).await.is_ok() },
    )
    .await;
    let head = hub.head("room:1").await.unwrap();
    assert_ne!(head.epoch, old_epoch, "a new epoch");
    assert_eq!(head.offset, 1, "offsets start over");
    assert!(matches!(
        hub.recover::<Msg>("room:1", 5, &old_epoch, 50)
            .await
            .unwrap(),
        Recovery::Incomplete { .. }
    ));

    // The subscriber is closed rather than silently skipping the epoch change.
    let end = tokio::time::timeout(Duration::from_secs(30), sub.next())
        .await
        .unwrap();
    assert!(end.is_none());
    assert!(matches!(
        sub.close_reason(),
        Some(CloseReason::HistoryLost {
            missing_from: 6,
            ..
        })
    ));
}
