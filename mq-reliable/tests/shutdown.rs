//! Graceful shutdown in process: running handlers finish and are acked;
//! past the deadline they are dropped and their messages go back.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Order, PROMPTLY, broker};
use mq_reliable::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_running_handlers_finish_and_acks_them() {
    let (_vhost, mq) = broker().await;
    let consumer = mq
        .consumer("q")
        .bind("ex", "k")
        .concurrency(4)
        .prefetch(8)
        .build()
        .await
        .unwrap();
    let publisher = mq.publisher().build().await.unwrap();
    for id in 0..12 {
        publisher.publish("ex", "k", &Order::new(id)).await.unwrap();
    }
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let stop = consumer.shutdown_handle();
    let (s, f) = (started.clone(), finished.clone());
    let run = consumer.run(move |_msg: Message<Order>| {
        let (started, finished) = (s.clone(), f.clone());
        async move {
            started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            finished.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let trigger = async {
        testkit::wait::until(PROMPTLY, "four handlers running", || async {
            started.load(Ordering::SeqCst) == 4
        })
        .await;
        stop.shutdown();
    };
    let (result, ()) = tokio::join!(run, trigger);
    result.unwrap();
    assert_eq!(started.load(Ordering::SeqCst), 4, "nothing new starts");
    assert_eq!(
        finished.load(Ordering::SeqCst),
        4,
        "running handlers finish"
    );
    assert_eq!(consumer.stats().acked, 4);
    // The 8 others (some prefetched, never started) are back in the queue.
    assert_eq!(mq.ready_count("q").await.unwrap(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_past_the_shutdown_deadline_are_dropped_and_their_messages_return() {
    let (_vhost, mq) = broker().await;
    let consumer = mq
        .consumer("q")
        .bind("ex", "k")
        .concurrency(2)
        .shutdown_timeout(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    let publisher = mq.publisher().build().await.unwrap();
    for id in 0..2 {
        publisher.publish("ex", "k", &Order::new(id)).await.unwrap();
    }
    let started = Arc::new(AtomicUsize::new(0));
    let stop = consumer.shutdown_handle();
    let s = started.clone();
    let run = consumer.run(move |_msg: Message<Order>| {
        let started = s.clone();
        async move {
            started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
    });
    let trigger = async {
        testkit::wait::until(PROMPTLY, "two handlers running", || async {
            started.load(Ordering::SeqCst) == 2
        })
        .await;
        stop.shutdown();
    };
    let (result, ()) = tokio::join!(run, trigger);
    result.unwrap();
    assert_eq!(consumer.stats().acked, 0);
    assert_eq!(
        mq.ready_count("q").await.unwrap(),
        2,
        "both messages requeued"
    );
}
