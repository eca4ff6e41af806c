//! Connection loss mid-stream: the broker force-closes every connection, or
//! restarts. The consumer and the publisher reconnect by themselves and no
//! message is lost.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// A consumer recording every delivery. Handlers wait while `gate` is
/// closed, so the test can cut the connection with deliveries certainly in
/// flight (started, unacknowledged) and more prefetched behind them.
async fn recording_consumer(
    mq: &Broker,
    seen: &Seen,
    gate: tokio::sync::watch::Receiver<bool>,
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
        let (record, mut gate) = (record.clone(), gate.clone());
        async move {
            gate.wait_for(|open| *open)
                .await
                .expect("gate kept by the test");
            tokio::time::sleep(Duration::from_millis(1)).await;
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
    let (gate, gate_rx) = tokio::sync::watch::channel(true);
    let consumer = recording_consumer(&mq, &seen, gate_rx).await;
    let publisher = mq.publisher().build().await.unwrap();
    let publishing = publish_in_background(publisher, N);

    for threshold in [500, 1_500] {
        testkit::wait::until(Duration::from_secs(60), "progress", || async {
            distinct_orders(&seen) >= threshold
        })
        .await;
        gate.send_replace(false);
        vhost.close_connections().await.unwrap();
        gate.send_replace(true);
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
    assert!(
        stats.acks_lost > 0,
        "handlers were running when the connections closed"
    );
    assert!(stats.redelivered > 0, "{stats:?}");
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

/// Publishes orders `0, 1, 2, …` from 8 lanes, each pausing 10 ms between
/// publishes, until `stop` is set; every publish must succeed (the publisher
/// retries through an outage). Answers how many were published and the
/// longest single publish.
fn publish_until_stopped(
    publisher: Publisher,
    stop: tokio::sync::watch::Receiver<bool>,
    published: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<Duration> {
    tokio::spawn(async move {
        let next = Arc::new(AtomicU64::new(0));
        let lanes: Vec<_> = (0..8)
            .map(|_| {
                let (publisher, stop, next, published) = (
                    publisher.clone(),
                    stop.clone(),
                    next.clone(),
                    published.clone(),
                );
                tokio::spawn(async move {
                    let mut longest = Duration::ZERO;
                    while !*stop.borrow() {
                        let id = next.fetch_add(1, Ordering::SeqCst);
                        let began = Instant::now();
                        publisher
                            .publish("orders", "order.created", &Order::new(id))
                            .await
                            .unwrap_or_else(|e| panic!("publish {id} failed: {e}"));
                        longest = longest.max(began.elapsed());
                        published.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    longest
                })
            })
            .collect();
        let mut longest = Duration::ZERO;
        for lane in lanes {
            longest = longest.max(lane.await.unwrap());
        }
        longest
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_loses_nothing_private_node() {
    // The library's own account of the outage (warnings: reconnects, given-up
    // connections), shown if the test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("mq_reliable=warn")
        .with_test_writer()
        .try_init();
    let booting = Instant::now();
    let node = testkit::rabbitmq_node().await;
    eprintln!("the node answered after {:?}", booting.elapsed());
    let mq = Broker::builder(node.url())
        .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let seen = Seen::default();
    let (gate, gate_rx) = tokio::sync::watch::channel(true);
    let consumer = recording_consumer(&mq, &seen, gate_rx).await;
    let publisher = mq
        .publisher()
        .retry_for(Duration::from_secs(120))
        .build()
        .await
        .unwrap();
    let (stop_publishing, stop) = tokio::sync::watch::channel(false);
    let published = Arc::new(AtomicU64::new(0));
    let publishing = publish_until_stopped(publisher, stop, published.clone());
    let started = Instant::now();

    testkit::wait::until(Duration::from_secs(60), "progress", || async {
        distinct_orders(&seen) >= 500
    })
    .await;
    // Handlers hold their deliveries while the node goes down, and the
    // publishers keep publishing into the outage.
    gate.send_replace(false);
    eprintln!(
        "{:?}: 500 orders seen; restarting the node",
        started.elapsed()
    );
    node.restart().await.unwrap();
    let at_restart = published.load(Ordering::SeqCst);
    eprintln!(
        "{:?}: the node is back after {at_restart} publishes",
        started.elapsed()
    );
    gate.send_replace(true);
    testkit::wait::until(
        Duration::from_secs(60),
        "publishes after the restart",
        || async { published.load(Ordering::SeqCst) >= at_restart + 500 },
    )
    .await;
    stop_publishing.send_replace(true);
    let longest = tokio::time::timeout(Duration::from_secs(60), publishing)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "publishes still unconfirmed a minute after the restart; {} published, {} orders seen; consumer {:?}",
                published.load(Ordering::SeqCst),
                distinct_orders(&seen),
                consumer.stats()
            )
        })
        .expect("every publish confirmed");
    let n = published.load(Ordering::SeqCst);
    eprintln!(
        "{:?}: {n} publishes confirmed, the longest took {longest:?}",
        started.elapsed()
    );
    assert!(
        longest > Duration::from_secs(1),
        "a publish waited through the outage ({longest:?})"
    );
    testkit::wait::until(Duration::from_secs(120), "all orders handled", || async {
        distinct_orders(&seen) == n as usize
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

/// `url` (`amqp://user:pass@host:port/vhost`) with its host and port replaced
/// by `addr`, and a heartbeat of `heartbeat_secs`.
fn through(url: &str, addr: std::net::SocketAddr, heartbeat_secs: u16) -> String {
    let (scheme, rest) = url.split_once("://").expect("an AMQP URL");
    let (authority, vhost) = rest.split_once('/').unwrap_or((rest, ""));
    let credentials = authority
        .rsplit_once('@')
        .map(|(credentials, _)| format!("{credentials}@"))
        .unwrap_or_default();
    format!("{scheme}://{credentials}{addr}/{vhost}?heartbeat={heartbeat_secs}")
}

/// The broker's address, from the vhost's URL.
async fn broker_addr(vhost: &testkit::RabbitVhost) -> std::net::SocketAddr {
    let url = vhost.url();
    let authority = url.split_once('@').map_or(url.as_str(), |(_, a)| a);
    let host_port = authority.split('/').next().unwrap();
    tokio::net::lookup_host(host_port)
        .await
        .unwrap()
        .next()
        .unwrap()
}

/// A network path that goes silent (no bytes, no FIN, no RST: a pulled
/// cable, a dead NAT entry) must not leave the consumer waiting forever on a
/// connection that looks open. The client's heartbeat monitor declares it
/// dead, the consumer reconnects, and once the path is back nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_link_is_detected_by_heartbeats_and_consumption_resumes() {
    let vhost = testkit::rabbitmq().await;
    let proxy = testkit::proxy(broker_addr(&vhost).await).await;
    let consuming = Broker::builder(through(&vhost.url(), proxy.addr(), 2))
        .connect_timeout(Duration::from_secs(2))
        .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let seen = Seen::default();
    let (_gate, gate_rx) = tokio::sync::watch::channel(true);
    let consumer = recording_consumer(&consuming, &seen, gate_rx).await;
    // The publisher does not go through the proxy.
    let publishing = Broker::connect(vhost.url()).await.unwrap();
    let publisher = publishing.publisher().build().await.unwrap();
    let publish = |ids: std::ops::Range<u64>| {
        let publisher = publisher.clone();
        async move {
            for id in ids {
                publisher
                    .publish("orders", "order.created", &Order::new(id))
                    .await
                    .unwrap();
            }
        }
    };

    publish(0..100).await;
    testkit::wait::until(Duration::from_secs(30), "the first 100 orders", || async {
        distinct_orders(&seen) == 100
    })
    .await;
    assert_eq!(proxy.open_connections(), 1);

    proxy.blackhole();
    publish(100..200).await;
    // Heartbeats every 2 s: after two silent intervals the client gives the
    // connection up and dials again, which the proxy sees as a new
    // connection while the old one still looks open.
    testkit::wait::until(
        Duration::from_secs(30),
        "a new connection attempt while the link is silent",
        || async { proxy.open_connections() >= 2 },
    )
    .await;
    assert_eq!(distinct_orders(&seen), 100, "nothing arrives meanwhile");

    proxy.restore();
    testkit::wait::until(
        Duration::from_secs(60),
        "every order after the link is back",
        || async { distinct_orders(&seen) == 200 },
    )
    .await;
    let stats = consumer.stats();
    assert!(stats.connects >= 2, "{stats:?}");
    eprintln!("{stats:?}");
}

/// A broker that cannot be reached at start-up is a prompt error, not an
/// endless retry (a wrong URL should fail the deployment, not hang it).
#[tokio::test]
async fn an_unreachable_broker_at_start_up_is_a_prompt_error() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let error = Broker::builder(format!("amqp://guest:guest@127.0.0.1:{closed_port}/%2f"))
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{error}");
    assert!(
        error.is_transient(),
        "a connection failure may be retried: {error}"
    );

    // A port that accepts and then says nothing: the connect timeout.
    let vhost = testkit::rabbitmq().await;
    let proxy = testkit::proxy(broker_addr(&vhost).await).await;
    proxy.blackhole();
    let started = Instant::now();
    let error = Broker::builder(through(&vhost.url(), proxy.addr(), 30))
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(error, mq_reliable::Error::Unavailable(_)),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "{error}");
}

/// A publish whose confirm never comes back fails with `ConfirmTimeout`
/// after `confirm_timeout`: the caller learns that the outcome is unknown
/// (and, with an inbox downstream, may safely publish again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirm_that_never_comes_is_a_timeout_error() {
    let vhost = testkit::rabbitmq().await;
    let proxy = testkit::proxy(broker_addr(&vhost).await).await;
    let mq = Broker::builder(through(&vhost.url(), proxy.addr(), 30))
        .connect()
        .await
        .unwrap();
    // Topology, so that publishes are routable.
    let _consumer = mq
        .consumer("orders.q")
        .bind("orders", "order.created")
        .build()
        .await
        .unwrap();
    let publisher = mq
        .publisher()
        .confirm_timeout(Duration::from_secs(1))
        .retry_for(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    publisher
        .publish("orders", "order.created", &Order::new(1))
        .await
        .expect("confirmed while the path is open");

    proxy.blackhole();
    let started = Instant::now();
    let error = publisher
        .publish("orders", "order.created", &Order::new(2))
        .await
        .unwrap_err();
    assert!(
        matches!(error, mq_reliable::Error::ConfirmTimeout(t) if t == Duration::from_secs(1)),
        "{error}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}
