//! Kafka rebalance: two consumers in a group, one leaving while a record of
//! its partition is still in flight. Completed work is committed on revoke;
//! the unfinished record is abandoned, not committed, and the new owner
//! handles it.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Order, PROMPTLY};
use mq_reliable::Message;
use mq_reliable::kafka::{Consumer, Kafka};

/// (consumer, n, partition, offset) of each handler call that completed.
type Log = Arc<Mutex<Vec<(&'static str, u64, i32, i64)>>>;

fn start(
    consumer: Consumer,
    name: &'static str,
    log: Log,
    hold: Option<u64>,
) -> (
    Arc<Consumer>,
    tokio::task::JoinHandle<mq_reliable::Result<()>>,
) {
    let consumer = Arc::new(consumer);
    let running = consumer.clone();
    let task = tokio::spawn(async move {
        running
            .run(move |msg: Message<Order>| {
                let log = log.clone();
                async move {
                    let n = msg.payload().id;
                    if Some(n) == hold {
                        std::future::pending::<()>().await; // in flight until aborted
                    }
                    log.lock().unwrap().push((
                        name,
                        n,
                        msg.partition().unwrap(),
                        msg.offset().unwrap(),
                    ));
                    Ok(())
                }
            })
            .await
    });
    (consumer, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tansu 0.6 never hands a departed member's partitions to the member that stays \
            (after LeaveGroup, and still 90 s later, the survivor is assigned only its own \
            share); run with --ignored against Apache Kafka"]
async fn a_leaving_member_commits_what_it_finished_and_its_unfinished_record_moves() {
    const N: u64 = 400;
    const HELD: u64 = 5;
    let ns = testkit::kafka().await;
    let topic = ns.create_topic("orders", 4).await.unwrap();
    let kafka = Kafka::new(ns.brokers());
    let group = ns.name("workers");
    let build = |id: &str| {
        kafka
            .consumer(&topic, &group)
            .consumer_id(id)
            .concurrency(8)
            .shutdown_timeout(Duration::from_millis(200))
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500")
            .build()
    };
    let producer = kafka.producer().build().unwrap();
    let mut held_at = None;
    for n in 0..N {
        let delivery = producer
            .send(&topic, &format!("k{}", n % 40), &Order::new(n))
            .await
            .unwrap();
        if n == HELD {
            held_at = Some(delivery);
        }
    }
    let held_at = held_at.unwrap();
    drop(producer);

    let log: Log = Arc::default();
    let (a, a_task) = start(build("a").await.unwrap(), "a", log.clone(), Some(HELD));
    // The held key's later records wait behind it (one key, in order).
    testkit::wait::until(
        PROMPTLY,
        "a handled everything but the held key",
        || async { log.lock().unwrap().len() as u64 == N - N / 40 },
    )
    .await;

    let (b, b_task) = start(build("b").await.unwrap(), "b", log.clone(), None);
    testkit::wait::until(PROMPTLY, "b joined the group", || async {
        b.stats().connects >= 1
    })
    .await;

    // `a` leaves with the held record still running: it is abandoned.
    a.shutdown_handle().shutdown();
    a_task.await.unwrap().unwrap();
    testkit::wait::until(
        Duration::from_secs(90),
        "b handled the held record",
        || async {
            log.lock()
                .unwrap()
                .iter()
                .any(|(who, n, _, _)| *who == "b" && *n == HELD)
        },
    )
    .await;

    let log = log.lock().unwrap().clone();
    let handled: BTreeSet<u64> = log.iter().map(|(_, n, _, _)| *n).collect();
    assert_eq!(handled.len() as u64, N, "every record handled");
    assert!(
        a.stats().acks_lost >= 1,
        "the held record was abandoned: {:?}",
        a.stats()
    );
    // What `b` handled again is only what lies at or after the held record in
    // its partition: everything `a` finished elsewhere was committed.
    for (who, n, partition, offset) in &log {
        if *who == "b" {
            assert_eq!(
                *partition, held_at.partition,
                "b redid record {n} of a committed partition"
            );
            assert!(*offset >= held_at.offset, "b redid committed record {n}");
        }
    }
    b.shutdown_handle().shutdown();
    b_task.await.unwrap().unwrap();
    drop(Arc::into_inner(a));
    drop(Arc::into_inner(b));
    let dlt = [format!("{topic}.dlt")];
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        ns.client_config().create().unwrap();
    let names: Vec<&str> = dlt.iter().map(String::as_str).collect();
    let _ = admin
        .delete_topics(&names, &rdkafka::admin::AdminOptions::new())
        .await;
}
