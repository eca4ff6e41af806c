//! `live_commerce::observe` on a real server: `/readyz` against a real Redis
//! and a dependency that is down, and `/metrics` after requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::routing::get;
use futures::FutureExt;
use live_commerce::observe::{self, Observability, Probe, StatsSource};
use serde_json::{Value, json};

/// The role label of this test's server.
const ROLE: &str = "observe-test";

/// A tiny app: one route and the observe endpoints, every request tracked.
fn app(observability: &Observability) -> Router {
    Router::new()
        .route("/api/things/{id}", get(|| async { "thing" }))
        .merge(observability.routes())
        .layer(axum::middleware::from_fn_with_state(
            ROLE,
            observe::track_requests,
        ))
}

/// Serves `app` on a free port; returns its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// `GET {url}{path}`: status and body.
async fn get_text(url: &str, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("{url}{path}")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// `GET {url}{path}` as JSON.
async fn get_json(url: &str, path: &str) -> (u16, Value) {
    let (status, body) = get_text(url, path).await;
    let body = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, body)
}

/// The dependency entry named `name` of a readiness body.
fn dependency<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["data"]["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// The value of the sample exactly `series` (name and labels) in a
/// Prometheus page, if present.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn readiness_names_the_failing_dependency_until_all_pass() {
    let mut redis = testkit::redis().await;
    let connection = redis::aio::ConnectionManager::new(redis.client())
        .await
        .unwrap();
    let up = Arc::new(AtomicBool::new(false));
    let flag = up.clone();
    let down = Probe::from_fn("down", move || {
        let up = flag.load(Ordering::SeqCst);
        async move {
            if up {
                Ok(())
            } else {
                Err("refused".to_string())
            }
        }
        .boxed()
    });
    let observability = Observability::new(ROLE)
        .probe(Probe::redis(connection))
        .probe(down);
    let url = serve(app(&observability)).await;

    let (status, body) = get_json(&url, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["success"], json!(false));
    assert_eq!(body["error"]["code"], json!("NOT_READY"));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("down") && !message.contains("redis"),
        "{body}"
    );
    let redis_entry = dependency(&body, "redis");
    assert_eq!(redis_entry["ok"], json!(true), "{body}");
    assert!(redis_entry["roundTripMs"].as_f64().unwrap() > 0.0, "{body}");
    assert!(redis_entry.get("error").is_none(), "{body}");
    let down_entry = dependency(&body, "down");
    assert_eq!(down_entry["ok"], json!(false), "{body}");
    assert_eq!(down_entry["error"], json!("refused"), "{body}");
    assert!(down_entry["roundTripMs"].is_f64(), "{body}");

    up.store(true, Ordering::SeqCst);
    let (status, body) = get_json(&url, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["data"]["status"], json!("ready"));
    assert_eq!(body["data"]["role"], json!(ROLE));
    assert_eq!(dependency(&body, "down")["ok"], json!(true), "{body}");

    redis.kill().await; // Redis gone: ready no more, but still alive.
    let (status, body) = get_json(&url, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(dependency(&body, "redis")["ok"], json!(false), "{body}");
    let (status, body) = get_json(&url, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "data": {"status": "ok", "role": ROLE}})
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_export_the_crates_counters() {
    let redis = testkit::redis().await;
    let locks = redlock::LockManager::builder(redis.client())
        .build()
        .await
        .unwrap();
    locks
        .lock("observe-test")
        .await
        .unwrap()
        .unlock()
        .await
        .unwrap();
    let observability = Observability::new(ROLE).stats(StatsSource::locks(&locks));
    let url = serve(app(&observability)).await;

    for path in ["/api/things/1", "/api/things/2", "/no/such/route"] {
        get_text(&url, path).await;
    }
    let response = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let page = response.text().await.unwrap();

    let requests = |route: &str, status: u16| {
        let series = format!(
            r#"http_requests_total{{role="{ROLE}",method="GET",route="{route}",status="{status}"}}"#
        );
        sample(&page, &series)
    };
    assert_eq!(requests("/api/things/{id}", 200), Some(2.0), "{page}");
    assert_eq!(requests("unmatched", 404), Some(1.0), "{page}");
    assert!(
        !page.contains("/api/things/1"),
        "a raw path became a label:\n{page}"
    );
    let bucket = format!(
        r#"http_request_duration_seconds_bucket{{role="{ROLE}",method="GET",route="/api/things/{{id}}",le="+Inf"}}"#
    );
    assert_eq!(sample(&page, &bucket), Some(2.0), "{page}");
    let acquired = format!(r#"lock_acquisitions_total{{role="{ROLE}"}}"#);
    assert_eq!(sample(&page, &acquired), Some(1.0), "{page}");
    assert!(
        page.contains("# TYPE http_requests_total counter"),
        "{page}"
    );
}

#[tokio::test]
async fn each_server_probe_passes_against_its_server_and_fails_without_it() {
    let postgres = testkit::postgres().await;
    let rabbitmq = testkit::rabbitmq().await;
    let broker = mq_reliable::amqp::Broker::connect(rabbitmq.url())
        .await
        .unwrap();
    broker
        .consumer("observe.ready")
        .without_dead_letter_queue()
        .build()
        .await
        .unwrap();
    let closed = "amqp://guest:guest@127.0.0.1:1/%2f".to_string();
    let observability = Observability::new(ROLE)
        .probe(Probe::postgres(postgres.pool().await))
        .probe(Probe::rabbitmq(rabbitmq.url()))
        .probe(Probe::rabbitmq_queue(broker.clone(), "observe.ready").named("queue"))
        .probe(Probe::rabbitmq_queue(broker, "observe.missing").named("missing queue"))
        .probe(Probe::rabbitmq(closed).named("closed port"));
    let url = serve(app(&observability)).await;

    let (status, body) = get_json(&url, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    for passing in ["postgres", "rabbitmq", "queue"] {
        assert_eq!(dependency(&body, passing)["ok"], json!(true), "{body}");
    }
    for failing in ["missing queue", "closed port"] {
        let entry = dependency(&body, failing);
        assert_eq!(entry["ok"], json!(false), "{body}");
        assert!(
            entry["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    assert_eq!(
        body["error"]["message"],
        json!("not ready: missing queue, closed port failed")
    );
}
