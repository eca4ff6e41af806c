//! The originals' experiment: a burst of 100,000 messages across 10 rooms.
//! Realtime subscribers on another hub get all of them, in order, and the
//! archive (Redis streams → relay → Kafka → PostgreSQL) ends with 100,000
//! rows, none missing, each room's offsets matching its publish order.

use std::time::Duration;

use chat_fanout::archive::{ArchiveRelay, ArchivedMessage, PgArchive};
use chat_fanout::{Hub, SubscribeOptions};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

const ROOMS: u64 = 10;
const PER_ROOM: u64 = 10_000;
const DEADLINE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Chat {
    room: u64,
    n: u64,
    text: String,
}

#[tokio::test]
async fn a_burst_of_100_000_messages_reaches_every_subscriber_and_the_archive() {
    let redis = testkit::redis().await;
    let kafka = testkit::kafka().await;
    let topic = kafka.create_topic("chat", 4).await.unwrap();
    let db = testkit::postgres().await;

    let a = Hub::builder(redis.client())
        .history(20_000)
        .durable_archive()
        .build()
        .await
        .unwrap();
    let b = Hub::builder(redis.client())
        .history(20_000)
        .build()
        .await
        .unwrap();

    // The relay: the rooms' Redis streams → Kafka, acknowledged before each
    // checkpoint.
    let relay = ArchiveRelay::builder(redis.client(), kafka.client_config(), &topic)
        .build()
        .await
        .unwrap();
    let mut gaps = relay.gaps();
    let stop = CancellationToken::new();
    let relaying = tokio::spawn({
        let (relay, stop) = (relay.clone(), stop.clone());
        async move { relay.run(stop).await }
    });

    // The archive worker: Kafka → PostgreSQL.
    let pg = PgArchive::new(db.pool().await);
    pg.migrate().await.unwrap();
    let mut consumer = kafka.client_config();
    consumer.set("group.id", kafka.name("archiver"));
    let archiver = tokio::spawn({
        let (pg, topic, stop) = (pg.clone(), topic.clone(), stop.clone());
        async move { pg.run(consumer, &topic, stop).await }
    });

    // Realtime subscribers on hub B, one reader task per room.
    let mut readers = Vec::new();
    for room in 0..ROOMS {
        let mut sub = b
            .subscribe_with::<Chat>(
                &format!("live:{room}"),
                SubscribeOptions::new().capacity(PER_ROOM as usize),
            )
            .await
            .unwrap();
        readers.push(tokio::spawn(async move {
            let mut expected = 1;
            while expected <= PER_ROOM {
                let envelope = sub
                    .next()
                    .await
                    .unwrap_or_else(|| panic!("closed: {:?}", sub.close_reason()));
                assert_eq!(envelope.offset, expected, "room {room} in order");
                assert_eq!(envelope.payload.n, expected);
                expected += 1;
            }
        }));
    }

    // The burst: every room at once.
    let publishers = (0..ROOMS).map(|room| {
        let a = a.clone();
        tokio::spawn(async move {
            for n in 1..=PER_ROOM {
                let message = Chat {
                    room,
                    n,
                    text: format!("message {n} of room {room}"),
                };
                a.publish(&format!("live:{room}"), &message).await.unwrap();
            }
        })
    });
    for publisher in futures::future::join_all(publishers).await {
        publisher.unwrap();
    }
    assert_eq!(a.stats().published, ROOMS * PER_ROOM);

    for reader in readers {
        tokio::time::timeout(DEADLINE, reader)
            .await
            .expect("realtime subscribers get every message")
            .unwrap();
    }
    assert_eq!(b.stats().delivered, ROOMS * PER_ROOM);
    assert_eq!(b.stats().disconnected_slow, 0);

    testkit::wait::until(DEADLINE, "the relay to archive every room", || async {
        relay.pending_rooms().await.unwrap() == 0
    })
    .await;
    for room in 0..ROOMS {
        let checkpoint = relay.checkpoint(&format!("live:{room}")).await.unwrap();
        assert_eq!(
            checkpoint.offset, PER_ROOM,
            "room {room} archived to its head"
        );
    }
    let relayed = relay.stats();
    assert_eq!(
        relayed.archived,
        ROOMS * PER_ROOM,
        "each message produced once"
    );
    assert_eq!((relayed.gaps, relayed.errors), (0, 0));
    assert!(gaps.try_recv().is_err(), "no gap reported");

    let pool = db.pool().await;
    testkit::wait::until(DEADLINE, "the archive to hold 100,000 rows", || async {
        let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM chat_archive")
            .fetch_one(&pool)
            .await
            .unwrap();
        rows == (ROOMS * PER_ROOM) as i64
    })
    .await;
    stop.cancel();
    relaying.await.unwrap().unwrap();
    let written = archiver.await.unwrap().unwrap();
    assert_eq!(written, ROOMS * PER_ROOM);

    let per_room: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        r#"SELECT room, count(*), min("offset"), max("offset") FROM chat_archive GROUP BY room ORDER BY room"#,
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(per_room.len(), ROOMS as usize);
    for (room, count, min, max) in per_room {
        assert_eq!(
            (count, min, max),
            (PER_ROOM as i64, 1, PER_ROOM as i64),
            "room {room}: every offset, none missing"
        );
    }
    let (out_of_order,): (i64,) = sqlx::query_as(
        r#"SELECT count(*) FROM chat_archive WHERE (payload->>'n')::bigint <> "offset""#,
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        out_of_order, 0,
        "each room's offsets follow its publish order"
    );
}

#[tokio::test]
async fn archiving_the_same_messages_twice_changes_nothing() {
    let db = testkit::postgres().await;
    let pg = PgArchive::new(db.pool().await);
    pg.migrate().await.unwrap();
    let batch: Vec<ArchivedMessage> = (1..=50)
        .map(|offset| ArchivedMessage {
            room: "room:1".into(),
            epoch: "e1".into(),
            offset,
            payload: format!(r#"{{"n":{offset}}}"#),
        })
        .collect();
    assert_eq!(pg.write(&batch).await.unwrap(), 50);
    assert_eq!(
        pg.write(&batch).await.unwrap(),
        0,
        "a redelivered batch is skipped"
    );
    assert_eq!(pg.write(&batch[40..]).await.unwrap(), 0);

    // The same offsets under a new epoch (Redis lost the room) are new messages.
    let mut reborn = batch[..5].to_vec();
    for message in &mut reborn {
        message.epoch = "e2".into();
    }
    assert_eq!(pg.write(&reborn).await.unwrap(), 5);
}

#[tokio::test]
async fn a_rooms_archive_is_read_page_by_page_by_offset_within_its_epoch() {
    let db = testkit::postgres().await;
    let pg = PgArchive::new(db.pool().await);
    pg.migrate().await.unwrap();
    let message = |room: &str, epoch: &str, offset| ArchivedMessage {
        room: room.into(),
        epoch: epoch.into(),
        offset,
        payload: format!(r#"{{"n":{offset}}}"#),
    };
    let mut rows: Vec<ArchivedMessage> = (1..=25).map(|o| message("room:1", "e1", o)).collect();
    rows.extend((1..=5).map(|o| message("room:1", "e2", o)));
    rows.extend((1..=5).map(|o| message("room:2", "e1", o)));
    pg.write(&rows).await.unwrap();

    let mut after = 3;
    let mut read = Vec::new();
    loop {
        let page = pg.read("room:1", "e1", after, 10).await.unwrap();
        read.extend(page.messages.iter().map(|m| m.offset));
        after = page.next(after);
        if !page.more {
            break;
        }
    }
    assert_eq!(
        read,
        (4..=25).collect::<Vec<u64>>(),
        "one room, one epoch, in order"
    );
    let first = pg.read("room:1", "e1", 3, 1).await.unwrap();
    let payload: serde_json::Value = serde_json::from_str(&first.messages[0].payload).unwrap();
    assert_eq!(
        payload,
        serde_json::json!({ "n": 4 }),
        "jsonb keeps the value"
    );
    assert_eq!(first.messages.len(), 1);
    assert!(first.more);
    let end = pg.read("room:1", "e2", 5, 10).await.unwrap();
    assert!(end.messages.is_empty() && !end.more);
    assert_eq!(end.next(5), 5);
}
