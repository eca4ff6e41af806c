//! The fault-injecting TCP proxy: forward, cut, black-hole, delay, restore.

use std::time::{Duration, Instant};

use testkit::LinkState;

#[tokio::test]
async fn forwards_traffic_both_ways() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    testkit::ping_url(&proxy.redis_url(), Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(proxy.state(), LinkState::Open);
}

#[tokio::test]
async fn cut_resets_open_connections_and_refuses_new_ones_until_restored() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let client = redis::Client::open(proxy.redis_url()).unwrap();
    let mut conn = testkit::redis_connection(&client).await.unwrap();
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .unwrap();
    testkit::wait::until(
        Duration::from_secs(2),
        "the connection to be counted",
        || async { proxy.open_connections() == 1 },
    )
    .await;

    proxy.cut();
    // The open connection fails promptly with an error rather than hanging.
    let failed = tokio::time::timeout(
        Duration::from_secs(2),
        redis::cmd("PING").query_async::<String>(&mut conn),
    )
    .await
    .expect("a cut link fails fast, it does not hang");
    assert!(failed.is_err());
    assert!(
        testkit::ping_url(&proxy.redis_url(), Duration::from_secs(2))
            .await
            .is_err(),
        "new connections are refused"
    );
    testkit::wait::until(
        Duration::from_secs(2),
        "cut connections to close",
        || async { proxy.open_connections() == 0 },
    )
    .await;

    proxy.restore();
    testkit::ping_url(&proxy.redis_url(), Duration::from_secs(2))
        .await
        .unwrap();
}

#[tokio::test]
async fn blackhole_stalls_traffic_without_closing_it() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let client = redis::Client::open(proxy.redis_url()).unwrap();
    let mut conn = testkit::redis_connection(&client).await.unwrap();

    proxy.blackhole();
    let pending = tokio::spawn({
        let mut conn = conn.clone();
        async move {
            redis::cmd("INCR")
                .arg("n")
                .query_async::<i64>(&mut conn)
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "nothing crosses a black hole");
    assert_eq!(proxy.open_connections(), 1, "the connection stays open");

    proxy.restore();
    let answer = tokio::time::timeout(Duration::from_secs(2), pending)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        answer.unwrap(),
        1,
        "the stalled command completes once restored"
    );
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn delay_holds_each_direction_back() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let client = redis::Client::open(proxy.redis_url()).unwrap();
    let mut conn = testkit::redis_connection(&client).await.unwrap();

    let delay = Duration::from_millis(100);
    proxy.delay(delay);
    let started = Instant::now();
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .unwrap();
    // A lower bound only: the proxy guarantees at least the injected latency.
    assert!(
        started.elapsed() >= delay * 2,
        "a round trip crosses the delay twice: {:?}",
        started.elapsed()
    );

    proxy.delay(Duration::ZERO);
    let before = Instant::now();
    for _ in 0..3 {
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .unwrap();
    }
    assert!(
        before.elapsed() < delay * 2,
        "removing the delay restores direct traffic"
    );
}

#[tokio::test]
async fn dropping_the_proxy_closes_its_connections() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let client = redis::Client::open(proxy.redis_url()).unwrap();
    let mut conn = testkit::redis_connection(&client).await.unwrap();
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .unwrap();
    drop(proxy);
    let result = tokio::time::timeout(
        Duration::from_secs(2),
        redis::cmd("PING").query_async::<String>(&mut conn),
    )
    .await
    .expect("fails fast");
    assert!(result.is_err());
}

#[tokio::test]
async fn discard_loses_what_is_sent_while_the_connection_stays_open() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let client = redis::Client::open(proxy.redis_url()).unwrap();
    let mut conn = testkit::redis_connection(&client).await.unwrap();

    proxy.discard();
    let lost = tokio::time::timeout(
        Duration::from_millis(300),
        redis::cmd("SET")
            .arg("k")
            .arg("sent-while-discarding")
            .query_async::<()>(&mut conn),
    )
    .await;
    assert!(lost.is_err(), "no answer comes back");
    assert_eq!(proxy.open_connections(), 1, "the connection stays open");
    proxy.restore();

    let mut direct = server.connection().await;
    let stored: Option<String> = redis::cmd("GET")
        .arg("k")
        .query_async(&mut direct)
        .await
        .unwrap();
    assert_eq!(
        stored, None,
        "the command sent while discarding never arrived"
    );
}
