//! The crash-safe archive relay: killed with `kill -9` mid-archive and
//! restarted, it leaves every message in PostgreSQL once, none missing; what
//! Redis trimmed before the relay read it is reported as a gap with its
//! range; relays running side by side share the rooms; the best-effort
//! in-process sink still delivers.
//!
//! The kill scenario starts this same test binary again, filtered to the
//! scenario's own test, with the `CHAT_RELAY_*` environment set: that run
//! acts as the relay process.

use std::time::Duration;

use chat_fanout::Hub;
use chat_fanout::archive::{ArchiveGap, ArchiveRelay, KafkaArchive, PgArchive};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use testkit::ChildProcess;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Chat {
    n: u64,
}

fn kafka_config(brokers: &str) -> rdkafka::ClientConfig {
    let mut config = rdkafka::ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    config
}

/// The relay process of the kill scenario (this binary, started again).
async fn relay_process() {
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let client = redis::Client::open(env("CHAT_RELAY_REDIS_URL")).unwrap();
    let relay = ArchiveRelay::builder(
        client,
        kafka_config(&env("CHAT_RELAY_KAFKA_BROKERS")),
        env("CHAT_RELAY_TOPIC"),
    )
    .name("relay-a")
    .batch(100)
    .idle_poll(Duration::from_millis(10))
    .build()
    .await
    .unwrap();
    println!("ready");
    relay.run(CancellationToken::new()).await.unwrap();
}

/// Every row of the archive table, checked: one per `(room, epoch, offset)`,
/// each room's offsets 1..=per_room, payload order = offset order.
/// Runs the Kafka → PostgreSQL archiver until the archive holds `rows` rows;
/// returns the pool and how many records the archiver wrote.
async fn archive_into_postgres(
    db: &testkit::PgDatabase,
    kafka: &testkit::KafkaNamespace,
    topic: &str,
    rows: u64,
) -> (PgPool, u64) {
    let pool = db.pool().await;
    let pg = PgArchive::new(pool.clone());
    pg.migrate().await.unwrap();
    let mut consumer = kafka.client_config();
    consumer.set("group.id", kafka.name("archiver"));
    let stop = CancellationToken::new();
    let archiver = tokio::spawn({
        let (pg, topic, stop) = (pg.clone(), topic.to_string(), stop.clone());
        async move { pg.run(consumer, &topic, stop).await }
    });
    testkit::wait::until(DEADLINE, "the archive to hold every message", || async {
        let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM chat_archive")
            .fetch_one(&pool)
            .await
            .unwrap();
        count == rows as i64
    })
    .await;
    stop.cancel();
    let archived = archiver.await.unwrap().unwrap();
    (pool, archived)
}

async fn assert_archive_complete(pool: &PgPool, rooms: &[String], per_room: u64) {
    let per: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        r#"SELECT room, count(*), count(DISTINCT "offset"), min("offset"), max("offset")
           FROM chat_archive GROUP BY room ORDER BY room"#,
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(per.len(), rooms.len(), "every room archived: {per:?}");
    for (room, count, distinct, min, max) in per {
        let n = per_room as i64;
        assert_eq!(
            (count, distinct, min, max),
            (n, n, 1, n),
            "room {room}: every offset once, none missing"
        );
    }
    let (out_of_order,): (i64,) = sqlx::query_as(
        r#"SELECT count(*) FROM chat_archive WHERE (payload->>'n')::bigint <> "offset""#,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        out_of_order, 0,
        "each room's offsets follow its publish order"
    );
}

async fn archived_total(relay: &ArchiveRelay, rooms: &[String]) -> u64 {
    let mut total = 0;
    for room in rooms {
        total += relay.checkpoint(room).await.unwrap().offset;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_archive_and_restarted_leaves_every_message_archived_once() {
    if std::env::var_os("CHAT_RELAY_REDIS_URL").is_some() {
        return relay_process().await;
    }
    const PER_ROOM: u64 = 5_000;
    let redis = testkit::redis().await;
    let kafka = testkit::kafka().await;
    let topic = kafka.create_topic("chat", 4).await.unwrap();
    let db = testkit::postgres().await;
    let rooms: Vec<String> = (0..4).map(|room| format!("live:{room}")).collect();
    let total = PER_ROOM * rooms.len() as u64;

    let hub = Hub::builder(redis.client())
        .history(PER_ROOM as usize)
        .durable_archive()
        .build()
        .await
        .unwrap();
    // Reads checkpoints only (never runs).
    let observer = ArchiveRelay::builder(redis.client(), kafka.client_config(), &topic)
        .build()
        .await
        .unwrap();
    let relay_process = || {
        let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "a_relay_killed_mid_archive_and_restarted_leaves_every_message_archived_once",
                "--nocapture",
            ])
            .env("CHAT_RELAY_REDIS_URL", redis.url())
            .env("CHAT_RELAY_KAFKA_BROKERS", kafka.brokers())
            .env("CHAT_RELAY_TOPIC", &topic);
        ChildProcess::spawn(command).unwrap()
    };

    // Publishing goes on while the relay runs, dies and comes back.
    let publishers: Vec<_> = rooms
        .iter()
        .map(|room| {
            let (hub, room) = (hub.clone(), room.clone());
            tokio::spawn(async move {
                for n in 1..=PER_ROOM {
                    hub.publish(&room, &Chat { n }).await.unwrap();
                }
            })
        })
        .collect();

    let mut relay = relay_process();
    relay.wait_for_output("ready", DEADLINE).await.unwrap();
    testkit::wait::until(DEADLINE, "the relay to archive 3,000 messages", || async {
        archived_total(&observer, &rooms).await >= 3_000
    })
    .await;
    let status = relay.kill9().await;
    assert!(!status.success());
    let at_kill = archived_total(&observer, &rooms).await;
    assert!(
        at_kill < total,
        "the relay must die mid-archive ({at_kill})"
    );

    let mut relay = relay_process();
    relay.wait_for_output("ready", DEADLINE).await.unwrap();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    testkit::wait::until(
        DEADLINE,
        "the restarted relay to reach every head",
        || async { observer.pending_rooms().await.unwrap() == 0 },
    )
    .await;
    assert_eq!(archived_total(&observer, &rooms).await, total);
    relay.kill9().await;

    // Kafka → PostgreSQL: what the dead relay produced twice is one row.
    let (pool, archived) = archive_into_postgres(&db, &kafka, &topic, total).await;
    assert_eq!(archived, total);
    assert_archive_complete(&pool, &rooms, PER_ROOM).await;
}

/// A Redis server, a topic, a hub with the durable archive and a relay (not
/// running: the tests drive it with `run_once`).
struct DurableRoom {
    redis: testkit::RedisServer,
    kafka: testkit::KafkaNamespace,
    hub: Hub,
    relay: ArchiveRelay,
}

impl DurableRoom {
    async fn start(history: Option<usize>) -> Self {
        let redis = testkit::redis().await;
        let kafka = testkit::kafka().await;
        let topic = kafka.create_topic("chat", 1).await.unwrap();
        let mut hub = Hub::builder(redis.client());
        if let Some(history) = history {
            hub = hub.history(history);
        }
        let hub = hub.durable_archive().build().await.unwrap();
        let relay = ArchiveRelay::builder(redis.client(), kafka.client_config(), &topic)
            .build()
            .await
            .unwrap();
        Self {
            redis,
            kafka,
            hub,
            relay,
        }
    }
}

/// The room's data vanishes from Redis (what `retention` does to an idle
/// room, or an eviction): its three keys are deleted.
async fn lose_room(redis: &testkit::RedisServer, room: &str) {
    let mut conn = redis.connection().await;
    let _: () = redis::cmd("DEL")
        .arg(format!("chat:{{{room}}}:offset"))
        .arg(format!("chat:{{{room}}}:epoch"))
        .arg(format!("chat:{{{room}}}:stream"))
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn history_trimmed_past_the_checkpoint_is_reported_as_a_gap() {
    let DurableRoom {
        redis: _redis,
        kafka: _kafka,
        hub,
        relay,
    } = DurableRoom::start(Some(10)).await;
    let mut gaps = relay.gaps();

    for n in 1..=5 {
        hub.publish("room:1", &Chat { n }).await.unwrap();
    }
    assert_eq!(relay.run_once().await.unwrap(), 5);
    assert_eq!(relay.checkpoint("room:1").await.unwrap().offset, 5);

    // The relay is away while 1,000 messages go by a 10-message history.
    for n in 6..=1_005 {
        hub.publish("room:1", &Chat { n }).await.unwrap();
    }
    let epoch = hub.head("room:1").await.unwrap().epoch;
    let oldest = match hub.recover::<Chat>("room:1", 5, &epoch, 1).await.unwrap() {
        chat_fanout::Recovery::Incomplete { from, .. } => from,
        other => panic!("history should no longer reach offset 6: {other:?}"),
    };
    assert!(oldest > 6, "history was trimmed (oldest {oldest})");

    let archived = relay.run_once().await.unwrap();
    assert_eq!(archived, 1_005 - oldest + 1, "what history still held");
    let gap = gaps.try_recv().expect("the gap is reported");
    assert_eq!(
        gap,
        ArchiveGap {
            room: "room:1".into(),
            epoch: epoch.clone(),
            from: 6,
            to: Some(oldest - 1),
        }
    );
    assert!(gaps.try_recv().is_err(), "reported once");
    let stats = relay.stats();
    assert_eq!((stats.gaps, stats.gap_messages), (1, oldest - 6));
    assert_eq!(relay.checkpoint("room:1").await.unwrap().offset, 1_005);
    assert_eq!(relay.pending_rooms().await.unwrap(), 0);
    assert_eq!(relay.run_once().await.unwrap(), 0, "nothing left");
}

#[tokio::test]
async fn a_new_epoch_before_the_old_one_was_archived_is_reported_as_a_gap() {
    let DurableRoom {
        redis,
        kafka: _kafka,
        hub,
        relay,
    } = DurableRoom::start(Some(100)).await;
    let mut gaps = relay.gaps();

    for n in 1..=3 {
        hub.publish("room:1", &Chat { n }).await.unwrap();
    }
    assert_eq!(relay.run_once().await.unwrap(), 3);
    let old_epoch = hub.head("room:1").await.unwrap().epoch;
    for n in 4..=9 {
        hub.publish("room:1", &Chat { n }).await.unwrap();
    }
    // The room's data is gone before the relay comes back (what `retention`
    // does to an idle room, or an eviction): its three keys vanish.
    lose_room(&redis, "room:1").await;
    hub.publish("room:1", &Chat { n: 1 }).await.unwrap();
    let new_epoch = hub.head("room:1").await.unwrap().epoch;
    assert_ne!(new_epoch, old_epoch);

    assert_eq!(
        relay.run_once().await.unwrap(),
        1,
        "the new epoch's message"
    );
    assert_eq!(
        gaps.try_recv().expect("the old epoch's loss is reported"),
        ArchiveGap {
            room: "room:1".into(),
            epoch: old_epoch,
            from: 4,
            to: Some(9),
        }
    );
    assert!(gaps.try_recv().is_err());
    assert_eq!(
        relay.checkpoint("room:1").await.unwrap(),
        chat_fanout::Position {
            offset: 1,
            epoch: new_epoch
        }
    );
}

#[tokio::test]
async fn a_room_lost_before_it_was_archived_is_reported_even_if_it_never_returns() {
    let DurableRoom {
        redis,
        kafka: _kafka,
        hub,
        relay,
    } = DurableRoom::start(None).await;
    let mut gaps = relay.gaps();
    for n in 1..=2 {
        hub.publish("room:1", &Chat { n }).await.unwrap();
    }
    assert_eq!(relay.run_once().await.unwrap(), 2);
    let epoch = hub.head("room:1").await.unwrap().epoch;
    for n in 3..=7 {
        hub.publish("room:1", &Chat { n }).await.unwrap();
    }
    lose_room(&redis, "room:1").await;

    assert_eq!(relay.run_once().await.unwrap(), 0);
    assert_eq!(
        gaps.try_recv().expect("the loss is reported"),
        ArchiveGap {
            room: "room:1".into(),
            epoch,
            from: 3,
            to: Some(7),
        }
    );
    assert_eq!(relay.pending_rooms().await.unwrap(), 0);

    // The room returns under a new epoch: archived from its start, and the
    // old loss is not reported again.
    hub.publish("room:1", &Chat { n: 1 }).await.unwrap();
    assert_eq!(relay.run_once().await.unwrap(), 1);
    assert!(gaps.try_recv().is_err());
    assert_eq!(relay.stats().gaps, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_share_the_rooms_and_archive_each_message() {
    const PER_ROOM: u64 = 500;
    let redis = testkit::redis().await;
    let kafka = testkit::kafka().await;
    let topic = kafka.create_topic("chat", 2).await.unwrap();
    let db = testkit::postgres().await;
    let rooms: Vec<String> = (0..6).map(|room| format!("room:{room}")).collect();
    let hub = Hub::builder(redis.client())
        .history(PER_ROOM as usize)
        .durable_archive()
        .build()
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let mut relays = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let relay = ArchiveRelay::builder(redis.client(), kafka.client_config(), &topic)
            .batch(50)
            .idle_poll(Duration::from_millis(10))
            .build()
            .await
            .unwrap();
        runs.push(tokio::spawn({
            let (relay, stop) = (relay.clone(), stop.clone());
            async move { relay.run(stop).await }
        }));
        relays.push(relay);
    }
    let publishers: Vec<_> = rooms
        .iter()
        .map(|room| {
            let (hub, room) = (hub.clone(), room.clone());
            tokio::spawn(async move {
                for n in 1..=PER_ROOM {
                    hub.publish(&room, &Chat { n }).await.unwrap();
                }
            })
        })
        .collect();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    testkit::wait::until(DEADLINE, "the relays to reach every head", || async {
        relays[0].pending_rooms().await.unwrap() == 0
    })
    .await;
    stop.cancel();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let (a, b) = (relays[0].stats(), relays[1].stats());
    assert_eq!(
        a.archived + b.archived,
        PER_ROOM * rooms.len() as u64,
        "a room held by one relay is not produced by the other: {a:?} {b:?}"
    );
    assert_eq!((a.gaps + b.gaps, a.errors + b.errors), (0, 0));

    let (pool, _) = archive_into_postgres(&db, &kafka, &topic, PER_ROOM * rooms.len() as u64).await;
    assert_archive_complete(&pool, &rooms, PER_ROOM).await;
}

#[tokio::test]
async fn the_best_effort_in_process_sink_delivers_what_it_is_given() {
    let redis = testkit::redis().await;
    let kafka = testkit::kafka().await;
    let topic = kafka.create_topic("chat", 1).await.unwrap();
    let hub = Hub::builder(redis.client())
        .archive(KafkaArchive::new(kafka.client_config(), &topic).unwrap())
        .build()
        .await
        .unwrap();
    for n in 1..=1_000 {
        hub.publish("room:1", &Chat { n }).await.unwrap();
    }
    hub.flush_archive(DEADLINE).await.unwrap();
    assert_eq!(hub.stats().archived, 1_000);
    assert_eq!(hub.stats().archive_errors, 0);
}

#[tokio::test]
async fn the_durable_archive_needs_a_single_endpoint() {
    let refused = Hub::cluster_builder(["redis://127.0.0.1:1"])
        .durable_archive()
        .build()
        .await;
    assert!(matches!(refused, Err(chat_fanout::Error::Config(_))));
}
