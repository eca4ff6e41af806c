//! The per-test Redis server: isolation, kill, pause, restart, and the error
//! a developer sees when Redis is not installed.

use std::time::Duration;

use redis::AsyncCommands;
use testkit::{RedisServer, TestkitError};

const SHORT: Duration = Duration::from_millis(300);

#[tokio::test]
async fn each_fixture_is_a_separate_server() {
    let first = testkit::redis().await;
    let second = testkit::redis().await;
    assert_ne!(first.port(), second.port());

    let mut a = first.connection().await;
    let mut b = second.connection().await;
    let _: () = a.set("only-in-first", 1).await.unwrap();
    let seen: Option<i32> = b.get("only-in-first").await.unwrap();
    assert_eq!(
        seen, None,
        "a key written to one server must not appear in the other"
    );
}

#[tokio::test]
async fn redis_servers_starts_independent_servers() {
    let servers = testkit::redis_servers(5).await;
    let mut ports: Vec<u16> = servers.iter().map(RedisServer::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 5);
    for server in &servers {
        testkit::ping_url(&server.url(), Duration::from_secs(2))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn kill_drops_the_server_and_restart_brings_it_back_empty() {
    let mut server = testkit::redis().await;
    let mut conn = server.connection().await;
    let _: () = conn.set("k", "v").await.unwrap();

    server.kill().await;
    let refused = testkit::ping_url(&server.url(), Duration::from_secs(2)).await;
    assert!(refused.is_err(), "a killed server must not answer");

    let port_before = server.port();
    server.restart().await;
    assert_eq!(server.port(), port_before, "restart keeps the port");
    let mut conn = server.connection().await;
    let value: Option<String> = conn.get("k").await.unwrap();
    assert_eq!(value, None, "without persistence a restart loses the data");
}

#[tokio::test]
async fn append_only_servers_keep_data_across_a_crash() {
    let mut server = RedisServer::options()
        .append_only(true)
        .start()
        .await
        .unwrap();
    let mut conn = server.connection().await;
    let _: () = conn.set("survivor", "yes").await.unwrap();

    server.restart().await;
    let mut conn = server.connection().await;
    let value: Option<String> = conn.get("survivor").await.unwrap();
    assert_eq!(value.as_deref(), Some("yes"));
}

#[tokio::test]
async fn pause_freezes_the_server_until_resume() {
    let mut server = testkit::redis().await;
    let mut conn = server.connection().await;

    server.pause().await;
    let frozen =
        tokio::time::timeout(SHORT, redis::cmd("PING").query_async::<String>(&mut conn)).await;
    assert!(frozen.is_err(), "a paused server must not answer");

    // The command sent while paused is answered once the server resumes.
    let pending = tokio::spawn({
        let mut conn = conn.clone();
        async move {
            redis::cmd("INCR")
                .arg("after-pause")
                .query_async::<i64>(&mut conn)
                .await
        }
    });
    server.resume().await;
    let answer = tokio::time::timeout(Duration::from_secs(5), pending).await;
    let count = answer.expect("answered after resume").unwrap().unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn a_missing_binary_fails_with_the_install_command() {
    let error = RedisServer::options()
        .backend(testkit::Backend::Process)
        .binary("/nonexistent/redis-server")
        .start()
        .await
        .expect_err("there is no redis-server at that path");
    assert!(
        matches!(error, TestkitError::MissingBinary { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("apt-get install redis-server"),
        "{message}"
    );
    assert!(message.contains("scripts/dev-services up"), "{message}");
}

#[tokio::test]
async fn a_cluster_has_three_masters_covering_every_slot() {
    let cluster = testkit::redis_cluster().await;
    assert_eq!(cluster.urls().len(), 3);
    let mut conn = cluster.nodes()[0].connection().await;
    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(info.contains("cluster_state:ok"), "{info}");
    assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
    assert!(info.contains("cluster_size:3"), "{info}");

    // A key owned by another master is redirected, as cluster-aware clients expect.
    let mut redirected = 0;
    for key in ["a", "b", "c", "d", "e", "f"] {
        let result: redis::RedisResult<()> = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .query_async(&mut conn)
            .await;
        if let Err(error) = result {
            assert_eq!(error.code(), Some("MOVED"), "{error}");
            redirected += 1;
        }
    }
    assert!(
        redirected > 0,
        "with three masters some of six keys live elsewhere"
    );
}
