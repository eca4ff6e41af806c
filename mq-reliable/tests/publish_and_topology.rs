//! Publisher confirms and `mandatory`, replay from the dead-letter queue, and
//! the safety checks `build()` makes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Order, PROMPTLY, Seen, boom, broker, spawn_consumer, wait_for_count};
use mq_reliable::amqp::ExchangeKind;
use mq_reliable::{Backoff, Error, Message, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_publish_is_an_error_not_silence() {
    let (_vhost, mq) = broker().await;
    mq.declare_exchange("orders", ExchangeKind::Topic)
        .await
        .unwrap();
    let publisher = mq.publisher().build().await.unwrap();
    let error = publisher
        .publish("orders", "nobody.listens", &Order::new(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Unroutable { exchange, routing_key }
            if exchange == "orders" && routing_key == "nobody.listens"),
        "{error:?}"
    );
    assert!(!error.is_transient());
    // A missing exchange is a topology error, and the publisher recovers from
    // the channel the broker closed.
    let error = publisher
        .publish("no-such-exchange", "k", &Order::new(2))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Topology(_)), "{error:?}");
    // Still usable afterwards.
    let _q = mq
        .consumer("q")
        .bind("orders", "order.*")
        .build()
        .await
        .unwrap();
    publisher
        .publish("orders", "order.created", &Order::new(3))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_sends_dead_letters_back_with_the_attempt_count_reset() {
    let (_vhost, mq) = broker().await;
    let consumer = mq
        .consumer("q")
        .bind("orders", "order.created")
        .retry(Backoff::fixed(Duration::from_millis(20)).max_attempts(2))
        .build()
        .await
        .unwrap();
    let fixed = Arc::new(AtomicBool::new(false));
    let seen = Seen::default();
    let (flag, record) = (fixed.clone(), seen.clone());
    let (consumer, _task) = spawn_consumer(consumer, move |msg: Message<Order>| {
        let (flag, record) = (flag.clone(), record.clone());
        async move {
            record.record(&msg);
            if flag.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(Outcome::retry(boom("downstream unavailable")))
            }
        }
    });
    let publisher = mq.publisher().build().await.unwrap();
    for id in 1..=3 {
        publisher
            .publish("orders", "order.created", &Order::new(id))
            .await
            .unwrap();
    }
    let dlq = mq.dead_letters("q.dlq");
    wait_for_count(&dlq, 3).await;
    fixed.store(true, Ordering::SeqCst);

    // Replay only order 2.
    let report = dlq
        .replay(|letter| {
            letter
                .payload::<Order>()
                .map(|o| o.id == 2)
                .unwrap_or(false)
        })
        .await
        .unwrap();
    assert_eq!((report.replayed, report.kept), (1, 2));
    assert_eq!(dlq.count().await.unwrap(), 2);
    testkit::wait::until(PROMPTLY, "replayed order acked", || async {
        consumer.stats().acked == 3 * 2 + 1
    })
    .await;
    let replayed = dlq_ids_left(&dlq).await;
    assert_eq!(replayed.len(), 2);

    // The replayed message came back to its queue, attempt 1 again.
    let all = seen.0.lock().unwrap().clone();
    let order2 = all
        .iter()
        .find(|(_, attempts)| attempts.len() == 3)
        .expect("one message seen three times");
    assert_eq!(
        order2.1.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        vec![1, 2, 1]
    );

    let report = dlq.replay_all().await.unwrap();
    assert_eq!((report.replayed, report.kept), (2, 0));
    testkit::wait::until(PROMPTLY, "all replayed orders acked", || async {
        consumer.stats().acked == 3 * 2 + 3
    })
    .await;
    assert_eq!(dlq.count().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_goes_back_to_the_failed_queue_only_not_to_every_bound_queue() {
    let (_vhost, mq) = broker().await;
    mq.declare_exchange("events", ExchangeKind::Fanout)
        .await
        .unwrap();
    let fixed = Arc::new(AtomicBool::new(false));
    let (seen_a, seen_b) = (Seen::default(), Seen::default());
    for (queue, seen, fails) in [("a", &seen_a, true), ("b", &seen_b, false)] {
        let consumer = mq
            .consumer(queue)
            .bind("events", "")
            .retry(Backoff::fixed(Duration::from_millis(20)).max_attempts(1))
            .build()
            .await
            .unwrap();
        let (flag, record) = (fixed.clone(), seen.clone());
        let (_consumer, _task) = spawn_consumer(consumer, move |msg: Message<Order>| {
            let (flag, record) = (flag.clone(), record.clone());
            async move {
                record.record(&msg);
                if fails && !flag.load(Ordering::SeqCst) {
                    return Err(Outcome::retry(boom("a's downstream is down")));
                }
                Ok(())
            }
        });
    }
    let publisher = mq.publisher().build().await.unwrap();
    publisher
        .publish("events", "", &Order::new(1))
        .await
        .unwrap();
    let dlq = mq.dead_letters("a.dlq");
    wait_for_count(&dlq, 1).await;
    assert_eq!(seen_b.total(), 1);

    fixed.store(true, Ordering::SeqCst);
    let report = dlq.replay_all().await.unwrap();
    assert_eq!(report.replayed, 1);
    testkit::wait::until(PROMPTLY, "a to handle the replayed message", || async {
        seen_a.total() == 2
    })
    .await;
    // Give b every chance to receive a copy it must not get: a's consumer
    // already handled the replay, so b's would have arrived by now too.
    let sentinel = Order::new(2);
    publisher.publish("events", "", &sentinel).await.unwrap();
    // b's queue is FIFO: a copy routed to it would be handled before event 2.
    testkit::wait::until(PROMPTLY, "b to handle the next event", || async {
        seen_b.distinct() == 2
    })
    .await;
    assert_eq!(
        seen_b.total(),
        2,
        "b saw event 1 once and event 2, never the replay"
    );
}

async fn dlq_ids_left(dlq: &mq_reliable::amqp::DeadLetters) -> Vec<u64> {
    dlq.list(100)
        .await
        .unwrap()
        .iter()
        .map(|l| l.payload::<Order>().unwrap().id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_refuses_a_dead_letter_exchange_that_does_not_exist() {
    let (_vhost, mq) = broker().await;
    let error = mq
        .consumer("q")
        .dead_letter_exchange("dlx-missing")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Topology(text) if text.contains("dlx-missing")),
        "{error:?}"
    );
    // Declared, it is accepted, and dead letters travel through it.
    mq.declare_exchange("dlx", ExchangeKind::Direct)
        .await
        .unwrap();
    let consumer = mq
        .consumer("q")
        .bind("ex", "k")
        .dead_letter_exchange("dlx")
        .build()
        .await
        .unwrap();
    let (_consumer, _task) = spawn_consumer(consumer, |_msg: Message<Order>| async {
        Err(Outcome::reject(boom("no")))
    });
    let publisher = mq.publisher().build().await.unwrap();
    publisher.publish("ex", "k", &Order::new(1)).await.unwrap();
    wait_for_count(&mq.dead_letters("q.dlq"), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_exchange_is_declared_when_missing_and_used_as_it_is_otherwise() {
    let (_vhost, mq) = broker().await;
    // Missing: declared, as a topic exchange (the pattern routes).
    let _topic = mq
        .consumer("q1")
        .bind("fresh", "order.*")
        .build()
        .await
        .unwrap();
    // Existing with another kind: bound to as it is.
    mq.declare_exchange("direct", ExchangeKind::Direct)
        .await
        .unwrap();
    let _direct = mq.consumer("q2").bind("direct", "k").build().await.unwrap();
    // Mandatory publishes: each is refused unless a binding routed it.
    let publisher = mq.publisher().build().await.unwrap();
    publisher
        .publish("fresh", "order.created", &Order::new(1))
        .await
        .unwrap();
    publisher
        .publish("direct", "k", &Order::new(2))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_refuses_a_quorum_queue_with_a_delivery_limit_and_no_dead_letter_queue() {
    let (_vhost, mq) = broker().await;
    let error = mq
        .consumer("q")
        .quorum(true)
        .delivery_limit(5)
        .without_dead_letter_queue()
        .build()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Topology(_)), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_refuses_a_handler_timeout_the_broker_would_cut_short() {
    let (_vhost, mq) = broker().await;
    let error = mq
        .consumer("q")
        .broker_consumer_timeout(Duration::from_secs(60))
        .handler_timeout(Duration::from_secs(90))
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Topology(text) if text.contains("consumer_timeout")),
        "{error:?}"
    );
    // Prefetch rounds count too: 2 rounds of 40 s exceed 60 s.
    let error = mq
        .consumer("q")
        .broker_consumer_timeout(Duration::from_secs(60))
        .handler_timeout(Duration::from_secs(40))
        .concurrency(10)
        .prefetch(20)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Topology(_)), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_reports_a_queue_that_exists_with_other_arguments() {
    let (_vhost, mq) = broker().await;
    let _classic = mq.consumer("q").build().await.unwrap();
    let error = mq.consumer("q").quorum(true).build().await.unwrap_err();
    assert!(
        matches!(&error, Error::Topology(text) if text.contains("other arguments")),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_queues_retry_and_dead_letter() {
    let (_vhost, mq) = broker().await;
    let consumer = mq
        .consumer("q")
        .bind("ex", "k")
        .quorum(true)
        .delivery_limit(10)
        .retry(Backoff::fixed(Duration::from_millis(20)).max_attempts(2))
        .build()
        .await
        .unwrap();
    let (consumer, _task) = spawn_consumer(consumer, |msg: Message<Order>| async move {
        if msg.payload().id == 1 {
            Ok(())
        } else {
            Err(Outcome::retry(boom("nope")))
        }
    });
    let publisher = mq.publisher().build().await.unwrap();
    publisher.publish("ex", "k", &Order::new(1)).await.unwrap();
    publisher.publish("ex", "k", &Order::new(2)).await.unwrap();
    wait_for_count(&mq.dead_letters("q.dlq"), 1).await;
    testkit::wait::until(PROMPTLY, "acks", || async { consumer.stats().acked == 3 }).await;
}
