//! Delayed delivery (never early, through the outbox too, surviving a
//! consumer that is not running) and the per-letter dead-letter operations
//! an operator uses: replay one letter to the queue it failed in, discard
//! one.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Order, PROMPTLY, Seen, boom, broker, spawn_consumer, wait_for_count};
use mq_reliable::amqp::ExchangeKind;
use mq_reliable::outbox::{Outbox, Relay};
use mq_reliable::{Backoff, Error, Message, Outcome};

const DELAY: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_message_arrives_after_its_delay_never_before() {
    let (_vhost, mq) = broker().await;
    let consumer = mq
        .consumer("expire.q")
        .bind("orders", "order.expire")
        .build()
        .await
        .unwrap();
    let route = mq
        .delay_route("orders", "order.expire", DELAY)
        .await
        .unwrap();
    assert_eq!(route.routing_key(), "order.expire.delay.1500ms");
    assert_eq!(route.destination_exchange(), "orders");
    let publisher = mq.publisher().build().await.unwrap();
    let sent = Instant::now();
    for id in 1..=5 {
        publisher
            .publish_delayed(&route, &Order::new(id), &format!("expire-{id}"))
            .await
            .unwrap();
    }
    // Waiting in the delay queue, not in the destination.
    assert_eq!(mq.ready_count("expire.q").await.unwrap(), 0);
    let seen = Seen::default();
    let record = seen.clone();
    let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
    let times = arrivals.clone();
    let (_consumer, _task) = spawn_consumer(consumer, move |msg: Message<Order>| {
        record.record(&msg);
        times.lock().unwrap().push(sent.elapsed());
        async { Ok(()) }
    });
    testkit::wait::until(PROMPTLY, "five delayed messages", || async {
        seen.distinct() == 5
    })
    .await;
    for id in 1..=5 {
        assert_eq!(seen.attempts(&format!("expire-{id}")), vec![1]);
    }
    for elapsed in arrivals.lock().unwrap().iter() {
        assert!(
            *elapsed >= DELAY,
            "arrived after {elapsed:?}, before {DELAY:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_messages_wait_for_a_consumer_and_come_through_the_outbox_with_their_id() {
    let (_vhost, mq) = broker().await;
    // The destination exists (bound), but nobody consumes while the delay runs.
    drop(
        mq.consumer("expire.q")
            .bind("orders", "order.expire")
            .build()
            .await
            .unwrap(),
    );
    let route = mq
        .delay_route("orders", "order.expire", Duration::from_millis(300))
        .await
        .unwrap();
    let db = testkit::postgres().await;
    let pool = db.pool().await;
    let outbox = Outbox::new("mq_outbox").unwrap();
    outbox.create_table(&pool).await.unwrap();
    let id = uuid::Uuid::new_v4();
    let mut tx = pool.begin().await.unwrap();
    outbox
        .enqueue_with_id(
            &mut tx,
            id,
            route.exchange(),
            route.routing_key(),
            &Order::new(7),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // The id is the row's key: the same id twice is refused.
    let mut tx = pool.begin().await.unwrap();
    let again = outbox
        .enqueue_with_id(
            &mut tx,
            id,
            route.exchange(),
            route.routing_key(),
            &Order::new(7),
        )
        .await;
    assert!(matches!(again, Err(Error::Database(_))), "{again:?}");
    tx.rollback().await.unwrap();

    let relay = Relay::builder(
        pool.clone(),
        outbox.clone(),
        mq.publisher().build().await.unwrap(),
    )
    .build();
    assert_eq!(relay.run_once().await.unwrap(), 1);
    testkit::wait::until(PROMPTLY, "the delayed row in the destination", || async {
        mq.ready_count("expire.q").await.unwrap_or(0) == 1
    })
    .await;
    let consumer = mq
        .consumer("expire.q")
        .bind("orders", "order.expire")
        .build()
        .await
        .unwrap();
    let seen = Seen::default();
    let record = seen.clone();
    let (_consumer, _task) = spawn_consumer(consumer, move |msg: Message<Order>| {
        record.record(&msg);
        async { Ok(()) }
    });
    testkit::wait::until(PROMPTLY, "the delayed row consumed", || async {
        seen.total() == 1
    })
    .await;
    assert_eq!(seen.only_id(), id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_route_refuses_what_would_be_dropped() {
    let (_vhost, mq) = broker().await;
    let missing = mq
        .delay_route("no-such-exchange", "k", DELAY)
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::Topology(_)), "{missing:?}");
    let zero = mq.delay_route("", "q", Duration::ZERO).await.unwrap_err();
    assert!(matches!(zero, Error::Topology(_)), "{zero:?}");
}

/// Two queues bound to one exchange; `failing.q`'s handler fails until
/// fixed, `other.q` takes everything. Returns the broker side and what
/// each queue's handler saw.
struct TwoQueues {
    _vhost: testkit::RabbitVhost,
    mq: mq_reliable::amqp::Broker,
    fixed: Arc<AtomicBool>,
    failing: Seen,
    other: Seen,
}

/// The message ids of the letters in `dlq`, in queue order.
async fn letter_ids(dlq: &mq_reliable::amqp::DeadLetters) -> Vec<String> {
    let letters = dlq.list(10).await.unwrap();
    letters.into_iter().filter_map(|l| l.message_id).collect()
}

async fn two_queues_with_three_dead_letters() -> TwoQueues {
    let (vhost, mq) = broker().await;
    mq.declare_exchange("orders", ExchangeKind::Topic)
        .await
        .unwrap();
    let failing_consumer = mq
        .consumer("failing.q")
        .bind("orders", "order.created")
        .retry(Backoff::fixed(Duration::from_millis(20)).max_attempts(2))
        .build()
        .await
        .unwrap();
    let other_consumer = mq
        .consumer("other.q")
        .bind("orders", "order.created")
        .build()
        .await
        .unwrap();
    let (fixed, failing, other) = (
        Arc::new(AtomicBool::new(false)),
        Seen::default(),
        Seen::default(),
    );
    let (flag, record) = (fixed.clone(), failing.clone());
    spawn_consumer(failing_consumer, move |msg: Message<Order>| {
        record.record(&msg);
        let ok = flag.load(Ordering::SeqCst);
        async move {
            if ok {
                Ok(())
            } else {
                Err(Outcome::retry(boom("payment provider down")))
            }
        }
    });
    let record = other.clone();
    spawn_consumer(other_consumer, move |msg: Message<Order>| {
        record.record(&msg);
        async { Ok(()) }
    });
    let publisher = mq.publisher().build().await.unwrap();
    for id in 1..=3 {
        publisher
            .publish_with_id(
                "orders",
                "order.created",
                &Order::new(id),
                &format!("o-{id}"),
            )
            .await
            .unwrap();
    }
    wait_for_count(&mq.dead_letters("failing.q.dlq"), 3).await;
    TwoQueues {
        _vhost: vhost,
        mq,
        fixed,
        failing,
        other,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_one_letter_reaches_only_the_queue_that_failed() {
    let queues = two_queues_with_three_dead_letters().await;
    let dlq = queues.mq.dead_letters("failing.q.dlq");
    testkit::wait::until(PROMPTLY, "other.q took all three", || async {
        queues.other.distinct() == 3
    })
    .await;
    queues.fixed.store(true, Ordering::SeqCst);
    // Retries run concurrently, so the letters may have died in any order;
    // whatever it was, the letters left keep it.
    let mut expected_left = letter_ids(&dlq).await;
    expected_left.retain(|id| id != "o-2");

    assert!(dlq.replay_message("o-2").await.unwrap());
    assert!(!dlq.replay_message("o-9").await.unwrap(), "no such letter");
    testkit::wait::until(PROMPTLY, "o-2 handled again", || async {
        queues.failing.attempts("o-2") == vec![1, 2, 1]
    })
    .await;
    assert_eq!(dlq.count().await.unwrap(), 2);
    assert_eq!(
        letter_ids(&dlq).await,
        expected_left,
        "the others in their order"
    );
    // The queue that did not fail never saw the replay.
    assert_eq!(queues.other.attempts("o-2"), vec![1]);
    assert_eq!(queues.other.total(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discarding_one_letter_keeps_the_others() {
    let queues = two_queues_with_three_dead_letters().await;
    let dlq = queues.mq.dead_letters("failing.q.dlq");
    let mut expected_left = letter_ids(&dlq).await;
    expected_left.retain(|id| id != "o-1");
    assert!(dlq.discard_message("o-1").await.unwrap());
    assert!(!dlq.discard_message("o-1").await.unwrap(), "already gone");
    assert_eq!(dlq.count().await.unwrap(), 2);
    let letters = dlq.list(10).await.unwrap();
    let ids: Vec<_> = letters
        .iter()
        .filter_map(|l| l.message_id.clone())
        .collect();
    assert_eq!(ids, expected_left, "the others in their order");
    let letter = &letters[0];
    assert_eq!(letter.envelope.source_queue, "failing.q");
    assert_eq!(letter.envelope.attempts, 2);
    assert!(
        letter
            .envelope
            .error_message
            .contains("payment provider down")
    );
    assert!(letter.envelope.first_failure <= letter.envelope.last_failure);
    // Nothing was redelivered to the handler by the discard.
    assert_eq!(queues.failing.attempts("o-1"), vec![1, 2]);
}
