//! Kafka rebalance: consumer `a` owns every partition and has one record of
//! each partition in flight (held at a gate) when consumer `b` joins the
//! group. The join revokes `a`'s partitions: what `a` completed is committed,
//! the held records are abandoned (their handlers finish later, but nothing
//! is committed for them), and each partition's new owner — `b` for the
//! partitions that moved, `a` again for those it kept — starts from the
//! committed offset, which is exactly the held record. Every record is
//! handled at least once; no committed offset ever passes an unhandled one.
//!
//! The member-*leaves* direction is not tested here: the Kafka-API broker of
//! the dev services (tansu 0.6) never hands a departed member's partitions to
//! the member that stays (see docs/mq-reliable.md, known limits).

mod common;
mod kafka_common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use common::Order;
use kafka_common::PROMPTLY;
use mq_reliable::Message;
use mq_reliable::kafka::{Consumer, ConsumerBuilder, Kafka};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

const PARTITIONS: i32 = 4;

/// One completed handler call.
#[derive(Debug, Clone)]
struct Handled {
    /// `a` or `b`.
    who: &'static str,
    /// The consumer's assignment count when the handler ran: 1 for `a`'s
    /// first assignment, 2 once the join reassigned its partitions.
    generation: u64,
    /// A held record whose handler finished after its partition was revoked.
    abandoned: bool,
    n: u64,
    partition: i32,
    offset: i64,
}

type Log = Arc<Mutex<Vec<Handled>>>;

/// Runs `consumer`; records whose `n` is in `hold` wait (the first time they
/// arrive) until `gate` opens.
fn start(
    consumer: Consumer,
    who: &'static str,
    log: Log,
    hold: HashSet<u64>,
    gate: watch::Receiver<bool>,
) -> (
    Arc<Consumer>,
    tokio::task::JoinHandle<mq_reliable::Result<()>>,
) {
    let consumer = Arc::new(consumer);
    let running = consumer.clone();
    let me: Weak<Consumer> = Arc::downgrade(&consumer);
    let hold = Arc::new(Mutex::new(hold));
    let task = tokio::spawn(async move {
        running
            .run(move |msg: Message<Order>| {
                let (log, hold, me, mut gate) =
                    (log.clone(), hold.clone(), me.clone(), gate.clone());
                async move {
                    let n = msg.payload().id;
                    let held = hold.lock().unwrap().remove(&n);
                    if held {
                        gate.wait_for(|open| *open).await.unwrap();
                    }
                    let generation = me.upgrade().map_or(0, |c| c.stats().connects);
                    log.lock().unwrap().push(Handled {
                        who,
                        generation,
                        abandoned: held,
                        n,
                        partition: msg.partition().unwrap(),
                        offset: msg.offset().unwrap(),
                    });
                    Ok(())
                }
            })
            .await
    });
    (consumer, task)
}

/// A topic of [`PARTITIONS`] partitions and a consumer group, in a test's
/// own namespace.
struct Group {
    ns: testkit::KafkaNamespace,
    kafka: Kafka,
    topic: String,
    name: String,
}

impl Group {
    async fn new() -> Self {
        let ns = testkit::kafka().await;
        let topic = ns.create_topic("orders", PARTITIONS).await.unwrap();
        Self {
            kafka: Kafka::new(ns.brokers()),
            name: ns.name("workers"),
            topic,
            ns,
        }
    }

    /// A member: quick commits, a short shutdown, and a session timeout that
    /// survives a busy machine.
    fn member(&self, id: &str) -> ConsumerBuilder {
        self.kafka
            .consumer(&self.topic, &self.name)
            .consumer_id(id)
            .commit_interval(Duration::from_millis(100))
            .shutdown_timeout(Duration::from_secs(5))
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "200")
    }
}

/// The group's committed offset per partition (`None`: nothing committed).
async fn committed(
    ns: &testkit::KafkaNamespace,
    group: &str,
    topic: &str,
) -> BTreeMap<i32, Option<i64>> {
    let client: BaseConsumer = ns.client_config().set("group.id", group).create().unwrap();
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition(topic, partition);
    }
    tokio::task::spawn_blocking(move || {
        let list = client
            .committed_offsets(list, Duration::from_secs(10))
            .unwrap();
        list.elements()
            .iter()
            .map(|e| {
                let offset = match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                };
                (e.partition(), offset)
            })
            .collect()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_member_takes_over_uncommitted_records_and_nothing_committed_is_redone() {
    const N: u64 = 400;
    const KEYS: u64 = 40;
    let setup = Group::new().await;
    let (ns, kafka, topic, group) = (&setup.ns, &setup.kafka, &setup.topic, &setup.name);
    let build = |id: &str| setup.member(id).concurrency(8).build();

    // Where each record landed; the tenth record of each partition is held.
    let producer = kafka.producer().build().unwrap();
    let mut position = BTreeMap::new(); // n -> (partition, offset)
    let mut key_of = BTreeMap::new();
    for n in 0..N {
        let key = format!("k{}", n % KEYS);
        let delivery = producer.send(topic, &key, &Order::new(n)).await.unwrap();
        position.insert(n, (delivery.partition, delivery.offset));
        key_of.insert(n, key);
    }
    drop(producer);
    let mut end = BTreeMap::new(); // partition -> one past its last offset
    for (partition, offset) in position.values() {
        let e = end.entry(*partition).or_insert(0);
        *e = (*e).max(offset + 1);
    }
    assert_eq!(end.len() as i32, PARTITIONS, "every partition has records");
    let mut held_at = BTreeMap::new(); // partition -> (n, offset)
    for (n, (partition, offset)) in &position {
        if *offset == 9 {
            held_at.insert(*partition, (*n, *offset));
        }
    }
    assert_eq!(
        held_at.len() as i32,
        PARTITIONS,
        "ten records per partition"
    );
    // Behind a held record wait the later records of its key (same lane).
    let blocked: BTreeSet<u64> = position
        .iter()
        .filter(|(n, (partition, offset))| {
            let (held_n, held_offset) = held_at[partition];
            key_of[*n] == key_of[&held_n] && *offset >= held_offset
        })
        .map(|(n, _)| *n)
        .collect();

    let (open_gate, gate) = watch::channel(false);
    let log: Log = Arc::default();
    let hold: HashSet<u64> = held_at.values().map(|(n, _)| *n).collect();
    let (a, a_task) = start(
        build("a").await.unwrap(),
        "a",
        log.clone(),
        hold.clone(),
        gate.clone(),
    );
    testkit::wait::until(
        PROMPTLY,
        "a handled everything but the held records and their keys' later records",
        || async { log.lock().unwrap().len() as u64 == N - blocked.len() as u64 },
    )
    .await;
    // `a` commits up to the held records and not one past them.
    let expected: BTreeMap<i32, Option<i64>> = held_at
        .iter()
        .map(|(partition, (_, offset))| (*partition, Some(*offset)))
        .collect();
    testkit::wait::until(PROMPTLY, "a committed up to the held records", || async {
        committed(ns, group, topic).await == expected
    })
    .await;
    assert_eq!(a.stats().connects, 1);
    assert_eq!(a.assignment().len() as i32, PARTITIONS);

    // `b` joins: the group rebalances while the held records are in flight.
    let (b, b_task) = start(
        build("b").await.unwrap(),
        "b",
        log.clone(),
        HashSet::new(),
        gate.clone(),
    );
    testkit::wait::until(PROMPTLY, "the join reassigned the partitions", || async {
        a.stats().connects >= 2 && b.stats().connects >= 1
    })
    .await;
    let (mine, theirs) = (a.assignment(), b.assignment());
    let owner: BTreeMap<i32, &str> = mine
        .iter()
        .map(|(_, p)| (*p, "a"))
        .chain(theirs.iter().map(|(_, p)| (*p, "b")))
        .collect();
    assert_eq!(
        mine.len() + theirs.len(),
        PARTITIONS as usize,
        "each partition has one owner: a {mine:?}, b {theirs:?}"
    );
    assert!(
        !mine.is_empty() && !theirs.is_empty(),
        "the join split the partitions: a {mine:?}, b {theirs:?}"
    );
    eprintln!("after the join: a owns {mine:?}, b owns {theirs:?}");
    // The revoke committed nothing past the held records.
    assert_eq!(committed(ns, group, topic).await, expected);

    // The held handlers now finish: too late, their partitions were revoked.
    open_gate.send(true).unwrap();
    let redone = |log: &[Handled], n: u64| {
        log.iter()
            .any(|h| h.n == n && !h.abandoned && (h.who == "b" || h.generation >= 2))
    };
    testkit::wait::until(
        PROMPTLY,
        "the new owners handled every record from the held one on",
        || async {
            let log = log.lock().unwrap();
            position
                .iter()
                .all(|(n, (partition, offset))| *offset < held_at[partition].1 || redone(&log, *n))
        },
    )
    .await;
    testkit::wait::until(PROMPTLY, "everything committed", || async {
        committed(ns, group, topic).await == end.iter().map(|(p, e)| (*p, Some(*e))).collect()
    })
    .await;
    a.shutdown_handle().shutdown();
    b.shutdown_handle().shutdown();
    a_task.await.unwrap().unwrap();
    b_task.await.unwrap().unwrap();

    let log = log.lock().unwrap().clone();
    let handled: BTreeSet<u64> = log.iter().map(|h| h.n).collect();
    assert_eq!(handled.len() as u64, N, "every record handled");
    let abandoned: HashSet<u64> = log.iter().filter(|h| h.abandoned).map(|h| h.n).collect();
    assert_eq!(
        abandoned, hold,
        "each held handler finished after the revoke"
    );
    assert!(
        a.stats().acks_lost >= hold.len() as u64,
        "the held records' completions were ignored: {:?}",
        a.stats()
    );
    for h in &log {
        let after_join = h.who == "b" || h.generation >= 2;
        let (_, held_offset) = held_at[&h.partition];
        if after_join && !h.abandoned {
            // Handled again only from the committed position on, and only by
            // the partition's new owner.
            assert!(
                h.offset >= held_offset,
                "{} redid record {} (partition {}, offset {}) below the committed {held_offset}",
                h.who,
                h.n,
                h.partition,
                h.offset
            );
            assert_eq!(
                owner[&h.partition], h.who,
                "record {} handled by a non-owner",
                h.n
            );
        } else {
            assert_eq!(h.who, "a");
        }
    }
    // Records below the held ones were handled exactly once.
    for (n, (partition, offset)) in &position {
        if *offset < held_at[partition].1 {
            let times = log.iter().filter(|h| h.n == *n).count();
            assert_eq!(
                times, 1,
                "record {n} below the committed offset handled {times}×"
            );
        }
    }

    drop(Arc::into_inner(a));
    drop(Arc::into_inner(b));
    kafka_common::delete_topics(ns, &[format!("{topic}.dlt")]).await;
}

/// A consumer whose in-flight slots are all taken by handlers that do not
/// finish still serves the group: when `b` joins, `a` gives up its
/// partitions at once (its running handlers keep going), so `b` consumes its
/// share while `a` is stuck. A consumer that only listened to the group when
/// it had a free slot would hold up the rebalance — and with it every
/// member of the group — until its handlers finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_member_gives_up_its_partitions_without_waiting_for_its_handlers() {
    const N: u64 = 200;
    const IN_FLIGHT: usize = 8;
    let setup = Group::new().await;
    let (ns, kafka, topic) = (&setup.ns, &setup.kafka, &setup.topic);
    let build = |id: &str| {
        setup
            .member(id)
            .concurrency(IN_FLIGHT)
            .max_in_flight(IN_FLIGHT)
            .build()
    };
    let producer = kafka.producer().build().unwrap();
    let mut partition_of = BTreeMap::new();
    for n in 0..N {
        let delivery = producer
            .send(topic, &format!("k{n}"), &Order::new(n))
            .await
            .unwrap();
        partition_of.insert(n, delivery.partition);
    }
    drop(producer);

    // Every record `a` receives before the gate opens waits at the gate.
    let (open_gate, gate) = watch::channel(false);
    let log: Log = Arc::default();
    let everything: HashSet<u64> = (0..N).collect();
    let (a, a_task) = start(
        build("a").await.unwrap(),
        "a",
        log.clone(),
        everything,
        gate.clone(),
    );
    testkit::wait::until(PROMPTLY, "a's in-flight slots are all taken", || async {
        a.stats().consumed >= IN_FLIGHT as u64
    })
    .await;
    assert_eq!(a.stats().connects, 1);

    let (b, b_task) = start(
        build("b").await.unwrap(),
        "b",
        log.clone(),
        HashSet::new(),
        gate.clone(),
    );
    testkit::wait::until(
        PROMPTLY,
        "b owns a share of the partitions and handled every record in it, with a's handlers still stuck",
        || async {
            let theirs: BTreeSet<i32> = b.assignment().into_iter().map(|(_, p)| p).collect();
            let log = log.lock().unwrap();
            !theirs.is_empty()
                && partition_of
                    .iter()
                    .filter(|(_, p)| theirs.contains(p))
                    .all(|(n, _)| log.iter().any(|h| h.n == *n && h.who == "b"))
        },
    )
    .await;
    let (mine, theirs) = (a.assignment(), b.assignment());
    assert_eq!(
        mine.len() + theirs.len(),
        PARTITIONS as usize,
        "each partition has one owner: a {mine:?}, b {theirs:?}"
    );
    assert!(
        log.lock().unwrap().iter().all(|h| h.who == "b"),
        "a's handlers are all still at the gate"
    );
    // What `a` read is bounded: its slots plus one record per partition
    // waiting for a slot.
    assert!(
        a.stats().consumed <= (IN_FLIGHT + PARTITIONS as usize) as u64,
        "a read past its bound: {:?}",
        a.stats()
    );

    open_gate.send(true).unwrap();
    testkit::wait::until(PROMPTLY, "every record handled", || async {
        let log = log.lock().unwrap();
        (0..N).all(|n| log.iter().any(|h| h.n == n))
    })
    .await;
    a.shutdown_handle().shutdown();
    b.shutdown_handle().shutdown();
    a_task.await.unwrap().unwrap();
    b_task.await.unwrap().unwrap();
    drop(Arc::into_inner(a));
    drop(Arc::into_inner(b));
    kafka_common::delete_topics(ns, &[format!("{topic}.dlt")]).await;
}
