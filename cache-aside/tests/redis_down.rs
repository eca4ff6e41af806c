//! Redis unreachable: fail-open answers from the loader and a circuit
//! breaker stops paying Redis's failure on every call; fail-closed reports it.

use std::time::Duration;

use cache_aside::{Cache, Error};

const PROMPTLY: Duration = Duration::from_secs(10);

async fn through(proxy: &testkit::Proxy, fail_closed: bool) -> Cache<str, u64> {
    let mut builder =
        Cache::<str, u64>::builder(redis::Client::open(proxy.redis_url()).unwrap(), "down")
            .response_timeout(Duration::from_millis(200))
            .circuit_breaker(3, Duration::from_millis(300));
    if fail_closed {
        builder = builder.fail_closed();
    }
    builder.build().await.unwrap()
}

async fn loader() -> Result<Option<u64>, std::io::Error> {
    Ok(Some(7))
}

#[tokio::test]
async fn fail_open_keeps_answering_and_the_breaker_skips_a_dead_redis() {
    let server = testkit::redis().await;
    for outage in ["cut", "blackhole"] {
        let proxy = testkit::proxy(server.addr()).await;
        let cache = through(&proxy, false).await;
        match outage {
            "cut" => proxy.cut(),
            _ => proxy.blackhole(), // no RST: only timeouts tell
        }
        for _ in 0..10 {
            assert_eq!(
                cache.get_or_load("k", loader).await.unwrap(),
                Some(7),
                "{outage}"
            );
        }
        let stats = cache.stats();
        assert!(
            stats.redis_errors <= 3,
            "{outage}: at most the threshold pays Redis's failure: {stats:?}"
        );
        assert!(
            stats.redis_skipped >= 7,
            "{outage}: the rest skip Redis: {stats:?}"
        );
        assert!(cache.redis_bypassed());

        proxy.restore();
        testkit::wait::until(
            PROMPTLY,
            "the breaker to close after a successful probe",
            || async {
                cache.get_or_load("k", loader).await.unwrap();
                !cache.redis_bypassed()
            },
        )
        .await;
    }
}

#[tokio::test]
async fn fail_closed_reports_the_outage() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let cache = through(&proxy, true).await;
    proxy.cut();
    let mut errors = Vec::new();
    for _ in 0..5 {
        errors.push(cache.get_or_load("k", loader).await.unwrap_err());
    }
    assert!(matches!(errors[0], Error::Redis(_)), "{:?}", errors[0]);
    assert!(
        matches!(errors[4], Error::RedisUnavailable),
        "{:?}",
        errors[4]
    );
    assert_eq!(
        cache.stats().loads,
        0,
        "fail-closed never calls the loader behind Redis's back"
    );
    assert!(
        cache.invalidate("k").await.is_err(),
        "an invalidation Redis did not see is an error"
    );
}
