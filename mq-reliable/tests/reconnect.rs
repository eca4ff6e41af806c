//! Connection loss mid-stream: the broker force-closes every connection, or
//! restarts. The consumer and the publisher reconnect by themselves and no
//! message is lost.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Order, Seen, spawn_consumer};
use mq_reliable::Message;
use mq_reliable::amqp::{Broker, Publisher};

/// Publishes orders `0..n` from 8 tasks; every publish must succeed.
fn publish_in_background(publisher: Publisher, n: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let tasks: Vec<_> = (0..8)
            .map(|lane| {
                let publisher = publisher.clone();
                tokio::spawn(async move {
                    for id in (lane..n).step_by(8) {
                        publisher
                            .publish("orders", "order.created", &Order::new(id))
                            .await
                            .unwrap_or_else(|e| panic!("publish {id} failed: {e}"));
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    })
}

/// A consumer recording every delivery, with a short pause per message so the
/// stream is still flowing when the connection is cut.
async fn recording_consumer(
    mq: &Broker,
    seen: &Seen,
    pause: Duration,
) -> Arc<mq_reliable::amqp::Consumer> {
    let consumer = mq
        .consumer("orders.q")
        .bind("orders", "order.created")
        .concurrency(16)
        .prefetch(32)
        .build()
        .await
        .unwrap();
    let record = seen.clone();
    let (consumer, _task) = spawn_consumer(consumer, move |msg: Message<Order>| {
        let record = record.clone();
        async move {
            tokio::time::sleep(pause).await;
            record.record(&msg);
            Ok(())
        }
    });
    consumer
}

fn distinct_orders(seen: &Seen) -> usize {
    seen.distinct()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_force_closed_twice_mid_stream_lose_nothing() {
    const N: u64 = 3_000;
    let vhost = testkit::rabbitmq().await;
    let mq = Broker::builder(vhost.url())
        .reconnect_delay(Duration::from_millis(50), Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let seen = Seen::default();
    let consumer = recording_consumer(&mq, &seen, Duration::from_millis(25)).await;
    let publisher = mq.publisher().build().await.unwrap();
    let publishing = publish_in_background(publisher, N);

    for threshold in [300, 1_200] {
        testkit::wait::until(Duration::from_secs(60), "progress", || async {
            distinct_orders(&seen) >= threshold
        })
        .await;
        vhost.close_connections().await.unwrap();
        assert!(
            distinct_orders(&seen) < N as usize,
            "the stream must still be flowing when the connections are closed"
        );
    }
    publishing.await.expect("every publish confirmed");
    testkit::wait::until(Duration::from_secs(60), "all orders handled", || async {
        distinct_orders(&seen) == N as usize
    })
    .await;
    testkit::wait::until(
        Duration::from_secs(20),
        "a consumer session per connection",
        || async { consumer.stats().connects >= 3 },
    )
    .await;
    let stats = consumer.stats();
    assert!(seen.total() >= N as usize);
    // Every message a dead channel could not acknowledge came back redelivered.
    let redelivered = seen
        .0
        .lock()
        .unwrap()
        .values()
        .flatten()
        .filter(|(_, redelivered)| *redelivered)
        .count() as u64;
    assert_eq!(redelivered, stats.redelivered);
    eprintln!("{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_loses_nothing_private_node() {
    const N: u64 = 4_000;
    let node = testkit::rabbitmq_node().await;
    let mq = Broker::builder(node.url())
        .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let seen = Seen::default();
    // ~800 messages a second: the stream is still flowing when the broker restarts.
    let consumer = recording_consumer(&mq, &seen, Duration::from_millis(20)).await;
    let publisher = mq
        .publisher()
        .retry_for(Duration::from_secs(120))
        .build()
        .await
        .unwrap();
    let publishing = publish_in_background(publisher, N);

    testkit::wait::until(Duration::from_secs(60), "progress", || async {
        distinct_orders(&seen) >= 500
    })
    .await;
    node.restart().await.unwrap();
    assert!(
        distinct_orders(&seen) < N as usize,
        "the stream must still be flowing when the broker comes back"
    );
    publishing.await.expect("every publish confirmed");
    testkit::wait::until(Duration::from_secs(120), "all orders handled", || async {
        distinct_orders(&seen) == N as usize
    })
    .await;
    testkit::wait::until(
        Duration::from_secs(20),
        "a second consumer session",
        || async { consumer.stats().connects >= 2 },
    )
    .await;
    let stats = consumer.stats();
    eprintln!("{stats:?}");
}
