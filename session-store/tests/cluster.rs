//! The store on a three-master Redis Cluster: each prefix becomes a hash tag,
//! so a session and its user's index share a slot and every script runs on
//! the master owning it, whichever master that is.

use std::sync::Arc;

use redis::AsyncCommands;
use serde_json::json;
use session_store::{Reason, RedisStore, RevocationEvent};
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::{Session, SessionStore};

/// Enough prefixes that their slots fall on every master of the cluster.
const PREFIXES: [&str; 6] = ["session", "shop", "chat", "admin", "api", "web"];

fn record(user: &str) -> Record {
    Record {
        id: Id::default(),
        data: [
            ("user_id".to_string(), json!(user)),
            ("cart".to_string(), json!([1])),
        ]
        .into(),
        expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
    }
}

/// The index (in `cluster.urls()`) of the master that serves `key`, as the
/// cluster itself says (`CLUSTER KEYSLOT`, then `CLUSTER SLOTS`).
async fn owner(cluster: &testkit::RedisCluster, key: &str) -> usize {
    let mut conn = cluster.nodes()[0].connection().await;
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let ranges: Vec<(i64, i64, i64)> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async::<Vec<redis::Value>>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|range| {
            // [from, to, [host, port, id, ...], replicas...]
            let redis::Value::Array(mut parts) = range else {
                panic!("a slot range is an array");
            };
            parts.truncate(3);
            let Some(redis::Value::Array(master)) = parts.pop() else {
                panic!("a slot range names its master");
            };
            let port = redis::from_redis_value(master[1].clone()).unwrap();
            let (from, to) = redis::from_redis_value(redis::Value::Array(parts)).unwrap();
            (from, to, port)
        })
        .collect();
    let (_, _, port) = ranges
        .iter()
        .find(|(from, to, _)| (*from..=*to).contains(&slot))
        .expect("every slot is assigned");
    cluster
        .urls()
        .iter()
        .position(|url| url.ends_with(&format!(":{port}")))
        .expect("the owner is one of the cluster's nodes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_share_sessions_on_every_master_of_a_cluster() {
    let cluster = testkit::redis_cluster().await;
    let mut masters_used = std::collections::BTreeSet::new();
    for prefix in PREFIXES {
        // Two services, each with its own store on the cluster.
        let a = Arc::new(
            RedisStore::cluster_builder(cluster.urls())
                .prefix(prefix)
                .user_key("user_id")
                .build()
                .unwrap(),
        );
        let b = RedisStore::cluster_builder(cluster.urls())
            .prefix(prefix)
            .user_key("user_id")
            .build()
            .unwrap();
        let mut revocations = b.revocations().await.unwrap();

        // Log in on A; B reads the same session, keyed under the hash tag.
        let mut login = record("alice");
        a.create(&mut login).await.unwrap();
        let key = format!("{{{prefix}}}:{}", login.id);
        masters_used.insert(owner(&cluster, &key).await);
        let read = b
            .load(&login.id)
            .await
            .unwrap()
            .expect("B sees A's session");
        assert_eq!(read.data["user_id"], json!("alice"));

        // Concurrent saves of different keys from A and B both survive.
        let mut on_a = a.load(&login.id).await.unwrap().unwrap();
        let mut on_b = b.load(&login.id).await.unwrap().unwrap();
        on_a.data.insert("theme".into(), json!("dark"));
        on_b.data.insert("locale".into(), json!("fr"));
        a.save(&on_a).await.unwrap();
        b.save(&on_b).await.unwrap();
        let merged = a.load(&login.id).await.unwrap().unwrap();
        assert_eq!(merged.data["theme"], json!("dark"), "{prefix}");
        assert_eq!(merged.data["locale"], json!("fr"), "{prefix}");
        assert_eq!(b.stats().merged_saves, 1);

        // A login on a second device, then an id cycle on it: the index and
        // both sessions are updated in one script each, on one master.
        let mut phone = record("alice");
        a.create(&mut phone).await.unwrap();
        let session = Session::new(Some(phone.id), a.clone(), None);
        session_store::cycle_id(&session).await.unwrap();
        session.insert("device", "phone").await.unwrap();
        session.save().await.unwrap();
        let phone_id = session.id().unwrap();
        assert!(a.load(&phone.id).await.unwrap().is_none(), "old id gone");
        let listed: Vec<Id> = b
            .sessions_of("alice")
            .await
            .unwrap()
            .into_iter()
            .map(|info| info.id)
            .collect();
        assert_eq!(listed.len(), 2);
        assert!(listed.contains(&login.id) && listed.contains(&phone_id));

        // Revoke everywhere from A; B hears it and sees nothing left.
        assert_eq!(a.revoke_all("alice").await.unwrap(), 2);
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), revocations.recv())
            .await
            .expect("the revocation is heard through the cluster")
            .unwrap();
        let RevocationEvent::Revoked(revoked) = event else {
            panic!("unexpected {event:?}");
        };
        assert_eq!(revoked.user_id, "alice");
        assert_eq!(revoked.reason, Reason::Revoked);
        assert_eq!(revoked.session_ids.len(), 2);
        assert!(b.load(&login.id).await.unwrap().is_none());
        assert!(b.load(&phone_id).await.unwrap().is_none());

        // Nothing of the store lives outside its hash tag.
        let index = format!("{{{prefix}}}:user:alice");
        let mut node = cluster.nodes()[owner(&cluster, &index).await]
            .connection()
            .await;
        let stray: Vec<String> = node.keys(format!("{prefix}:*")).await.unwrap();
        assert!(stray.is_empty(), "{stray:?}");
    }
    assert_eq!(
        masters_used.len(),
        3,
        "the prefixes' slots fall on every master"
    );
}

#[tokio::test]
async fn a_cluster_store_needs_a_node() {
    let error = RedisStore::cluster_builder(Vec::<String>::new())
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("node"), "{error}");
}
