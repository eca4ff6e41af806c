//! Retry through the TTL queues, then the dead-letter queue with its envelope;
//! rejection, poison payloads, panics and timeouts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use common::{Order, PROMPTLY, Seen, boom, broker, spawn_consumer, wait_for_count};
use mq_reliable::{Backoff, FailureKind, Message, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_exactly_max_attempts_then_dead_letters_with_the_envelope() {
    let (_vhost, mq) = broker().await;
    let consumer = mq
        .consumer("orders.q")
        .bind("orders", "order.created")
        .retry(Backoff::exponential(Duration::from_millis(50), 2.0).max_attempts(4))
        .dead_letter_queue("orders.q.dlq")
        .build()
        .await
        .unwrap();
    let consumer_id = consumer.consumer_id().to_string();
    let seen = Seen::default();
    let record = seen.clone();
    let started = SystemTime::now();
    let (consumer, _task) = spawn_consumer(consumer, move |msg: Message<Order>| {
        let record = record.clone();
        async move {
            record.record(&msg);
            Err(Outcome::retry(boom(format!(
                "attempt {} failed",
                msg.attempt()
            ))))
        }
    });
    let publisher = mq.publisher().build().await.unwrap();
    publisher
        .publish("orders", "order.created", &Order::new(1))
        .await
        .unwrap();

    let dlq = mq.dead_letters("orders.q.dlq");
    wait_for_count(&dlq, 1).await;
    let id = seen.only_id();
    assert_eq!(seen.attempts(&id), vec![1, 2, 3, 4]);

    let letters = dlq.list(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.message_id.as_deref(), Some(id.as_str()));
    let envelope = &letter.envelope;
    assert_eq!(envelope.attempts, 4);
    assert_eq!(envelope.original_exchange, "orders");
    assert_eq!(envelope.original_routing_key, "order.created");
    assert_eq!(envelope.error_kind, Some(FailureKind::Retry));
    assert_eq!(envelope.error_message, "attempt 4 failed");
    assert_eq!(envelope.consumer_id, consumer_id);
    assert_eq!(envelope.source_queue, "orders.q");
    let first = envelope.first_failure.expect("first failure time");
    let last = envelope.last_failure.expect("last failure time");
    assert!(first >= started - Duration::from_secs(1));
    // Three waits of 50, 100 and 200 ms lie between the first and last failure.
    assert!(last.duration_since(first).unwrap() >= Duration::from_millis(350));
    assert_eq!(letter.header("x-attempt").as_deref(), Some("4"));
    assert_eq!(letter.payload::<Order>().unwrap(), Order::new(1));
    // Listing leaves the message in place.
    assert_eq!(dlq.count().await.unwrap(), 1);

    let stats = consumer.stats();
    assert_eq!(stats.consumed, 4);
    assert_eq!(stats.retried, 3);
    assert_eq!(stats.dead_lettered, 1);
    assert_eq!(stats.acked, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_dead_letters_on_the_first_attempt() {
    let (_vhost, mq) = broker().await;
    let consumer = mq
        .consumer("q")
        .bind("ex", "k")
        .retry(Backoff::fixed(Duration::from_millis(50)).max_attempts(5))
        .build()
        .await
        .unwrap();
    let seen = Seen::default();
    let record = seen.clone();
    let (consumer, _task) = spawn_consumer(consumer, move |msg: Message<Order>| {
        let record = record.clone();
        async move {
            record.record(&msg);
            Err(Outcome::reject(boom("order 2 refers to no customer")))
        }
    });
    let publisher = mq.publisher().build().await.unwrap();
    publisher.publish("ex", "k", &Order::new(2)).await.unwrap();
    let dlq = mq.dead_letters("q.dlq"); // the default name
    wait_for_count(&dlq, 1).await;
    let letter = dlq.list(1).await.unwrap().remove(0);
    assert_eq!(letter.envelope.attempts, 1);
    assert_eq!(letter.envelope.error_kind, Some(FailureKind::Rejected));
    assert_eq!(
        letter.envelope.error_message,
        "order 2 refers to no customer"
    );
    assert_eq!(seen.total(), 1);
    assert_eq!(consumer.stats().retried, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_payload_is_dead_lettered_on_first_delivery() {
    let (_vhost, mq) = broker().await;
    let consumer = mq
        .consumer("q")
        .bind("ex", "k")
        .retry(Backoff::fixed(Duration::from_millis(50)).max_attempts(5))
        .build()
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let (consumer, _task) = spawn_consumer(consumer, move |_msg: Message<Order>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok(()) }
    });
    let publisher = mq.publisher().build().await.unwrap();
    // Valid JSON, wrong shape for `Order`.
    publisher
        .publish("ex", "k", &serde_json::json!({"unexpected": true}))
        .await
        .unwrap();
    // Not JSON at all.
    publisher
        .publish_raw("ex", "k", b"\xff\x00garbage", Default::default())
        .await
        .unwrap();
    let dlq = mq.dead_letters("q.dlq");
    wait_for_count(&dlq, 2).await;
    for letter in dlq.list(10).await.unwrap() {
        assert_eq!(letter.envelope.attempts, 1);
        assert_eq!(letter.envelope.error_kind, Some(FailureKind::Deserialize));
        assert!(
            letter
                .envelope
                .error_message
                .contains("does not deserialize"),
            "{}",
            letter.envelope.error_message
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the handler never sees poison"
    );
    let stats = consumer.stats();
    assert_eq!(
        (stats.consumed, stats.retried, stats.dead_lettered),
        (2, 0, 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_retried_and_the_consumer_lives() {
    let (_vhost, mq) = broker().await;
    let consumer = mq
        .consumer("q")
        .bind("ex", "k")
        .retry(Backoff::fixed(Duration::from_millis(50)).max_attempts(3))
        .build()
        .await
        .unwrap();
    let seen = Seen::default();
    let record = seen.clone();
    let (consumer, task) = spawn_consumer(consumer, move |msg: Message<Order>| {
        let record = record.clone();
        async move {
            record.record(&msg);
            if msg.attempt() == 1 {
                panic!("handler bug on order {}", msg.payload().id);
            }
            Ok(())
        }
    });
    let publisher = mq.publisher().build().await.unwrap();
    publisher.publish("ex", "k", &Order::new(3)).await.unwrap();
    publisher.publish("ex", "k", &Order::new(4)).await.unwrap();
    testkit::wait::until(PROMPTLY, "both orders acked on attempt 2", || async {
        consumer.stats().acked == 4
    })
    .await;
    let stats = consumer.stats();
    assert_eq!(stats.panicked, 2);
    assert_eq!(stats.retried, 2);
    assert_eq!(stats.dead_lettered, 0);
    assert!(!task.is_finished(), "the consumer keeps running");
    for attempts in seen.0.lock().unwrap().values() {
        assert_eq!(
            attempts.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_past_its_timeout_is_retried() {
    let (_vhost, mq) = broker().await;
    let consumer = mq
        .consumer("q")
        .bind("ex", "k")
        .handler_timeout(Duration::from_millis(200))
        .retry(Backoff::fixed(Duration::from_millis(50)).max_attempts(2))
        .build()
        .await
        .unwrap();
    let seen = Seen::default();
    let record = seen.clone();
    let (consumer, _task) = spawn_consumer(consumer, move |msg: Message<Order>| {
        let record = record.clone();
        async move {
            record.record(&msg);
            if msg.payload().id == 5 || msg.attempt() == 1 {
                // Order 5 always hangs; order 6 only on its first attempt.
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok(())
        }
    });
    let publisher = mq.publisher().build().await.unwrap();
    publisher.publish("ex", "k", &Order::new(5)).await.unwrap();
    publisher.publish("ex", "k", &Order::new(6)).await.unwrap();
    let dlq = mq.dead_letters("q.dlq");
    wait_for_count(&dlq, 1).await;
    testkit::wait::until(PROMPTLY, "order 6 acked", || async {
        consumer.stats().acked == 4
    })
    .await;
    let letter = dlq.list(1).await.unwrap().remove(0);
    assert_eq!(letter.payload::<Order>().unwrap().id, 5);
    assert_eq!(letter.envelope.error_kind, Some(FailureKind::Timeout));
    assert_eq!(letter.envelope.attempts, 2);
    assert_eq!(consumer.stats().timed_out, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_run_concurrently_up_to_the_bound() {
    let (_vhost, mq) = broker().await;
    let consumer = mq
        .consumer("q")
        .bind("ex", "k")
        .concurrency(4)
        .prefetch(10)
        .build()
        .await
        .unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let (consumer, _task) = spawn_consumer(consumer, move |_msg: Message<Order>| {
        let (running, peak) = (r.clone(), p.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let publisher = mq.publisher().build().await.unwrap();
    let sends: Vec<_> = (0..40)
        .map(|i| {
            let publisher = publisher.clone();
            tokio::spawn(async move { publisher.publish("ex", "k", &Order::new(i)).await })
        })
        .collect();
    for send in sends {
        send.await.unwrap().unwrap();
    }
    testkit::wait::until(PROMPTLY, "40 acks", || async {
        consumer.stats().acked == 40
    })
    .await;
    assert_eq!(peak.load(Ordering::SeqCst), 4);
}
