//! The store against a real Redis, below the HTTP layer: schema, lifetimes,
//! merging, the per-user index, id cycling, revocation events, outages.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use serde_json::{Value, json};
use session_store::{Error, Reason, RedisStore, RevocationEvent};
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::{Session, SessionStore};

fn store_on(server: &testkit::RedisServer) -> session_store::RedisStoreBuilder {
    RedisStore::builder(server.client()).user_key("user_id")
}

fn record(pairs: &[(&str, Value)]) -> Record {
    Record {
        id: Id::default(),
        data: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
    }
}

async fn hash(server: &testkit::RedisServer, key: &str) -> HashMap<String, String> {
    server.connection().await.hgetall(key).await.unwrap()
}

#[tokio::test]
async fn a_session_is_one_readable_hash() {
    let server = testkit::redis().await;
    let store = store_on(&server).build().unwrap();
    let mut created = record(&[
        ("user_id", json!("alice")),
        ("cart", json!({"items": [1, 2]})),
    ]);
    store.create(&mut created).await.unwrap();

    let stored = hash(&server, &format!("session:{}", created.id)).await;
    assert_eq!(stored["version"], "1");
    assert_eq!(stored["user_id"], "alice");
    assert_eq!(stored["data:user_id"], "\"alice\"");
    assert_eq!(stored["data:cart"], r#"{"items":[1,2]}"#);
    let created_at: i64 = stored["created_at"].parse().unwrap();
    let expires_at: i64 = stored["expires_at"].parse().unwrap();
    let absolute: i64 = stored["absolute_expires_at"].parse().unwrap();
    assert_eq!(
        absolute - created_at,
        24 * 3600 * 1000,
        "default absolute lifetime"
    );
    assert!(
        expires_at - created_at <= 30 * 60 * 1000,
        "the idle timeout (30 min) caps the hour the layer asked for"
    );
    assert_eq!(
        stored["requested_expires_at"],
        (created.expiry_date.unix_timestamp_nanos() / 1_000_000).to_string(),
        "the hour the layer asked for is kept"
    );
    let mut fields: Vec<&str> = stored.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "absolute_expires_at",
            "created_at",
            "data:cart",
            "data:user_id",
            "expires_at",
            "requested_expires_at",
            "user_id",
            "version"
        ],
        "the schema's fields and nothing else"
    );
    let pttl: i64 = server
        .connection()
        .await
        .pttl(format!("session:{}", created.id))
        .await
        .unwrap();
    assert!(pttl > 29 * 60 * 1000 && pttl <= 30 * 60 * 1000, "{pttl}");

    let loaded = store.load(&created.id).await.unwrap().expect("live");
    assert_eq!(loaded.data, created.data);
    assert_eq!(loaded.expiry_date.unix_timestamp(), expires_at / 1000);

    store.delete(&created.id).await.unwrap();
    assert_eq!(store.load(&created.id).await.unwrap(), None);
    assert!(store.sessions_of("alice").await.unwrap().is_empty());
}

#[tokio::test]
async fn create_never_overwrites_an_existing_session() {
    let server = testkit::redis().await;
    let store = store_on(&server).build().unwrap();
    let mut first = record(&[("who", json!("first"))]);
    store.create(&mut first).await.unwrap();

    let mut second = record(&[("who", json!("second"))]);
    second.id = first.id;
    store.create(&mut second).await.unwrap();

    assert_ne!(second.id, first.id, "a colliding id is redrawn");
    let kept = store.load(&first.id).await.unwrap().unwrap();
    assert_eq!(kept.data["who"], json!("first"));
    let new = store.load(&second.id).await.unwrap().unwrap();
    assert_eq!(new.data["who"], json!("second"));
    assert_eq!(store.stats().id_collisions, 1);
}

#[tokio::test]
async fn concurrent_saves_of_different_keys_both_survive() {
    let server = testkit::redis().await;
    // Two instances of a service, each with its own store and connection.
    let instance_a = store_on(&server).build().unwrap();
    let instance_b = store_on(&server).build().unwrap();
    let mut created = record(&[("user_id", json!("alice")), ("theme", json!("light"))]);
    instance_a.create(&mut created).await.unwrap();

    // Two concurrent requests load the same version...
    let mut request_a = instance_a.load(&created.id).await.unwrap().unwrap();
    let mut request_b = instance_b.load(&created.id).await.unwrap().unwrap();
    // ...and change different keys (and one key both).
    request_a.data.insert("cart".into(), json!([42]));
    request_a.data.insert("theme".into(), json!("dark"));
    request_b.data.insert("locale".into(), json!("ko-KR"));
    request_b.data.insert("theme".into(), json!("sepia"));
    request_b.data.remove("user_id");
    request_b.data.insert("user_id".into(), json!("alice"));

    instance_a.save(&request_a).await.unwrap();
    instance_b.save(&request_b).await.unwrap();

    let merged = instance_a.load(&created.id).await.unwrap().unwrap();
    assert_eq!(
        merged.data["cart"],
        json!([42]),
        "A's key survived B's save"
    );
    assert_eq!(merged.data["locale"], json!("ko-KR"), "B's key saved");
    assert_eq!(
        merged.data["theme"],
        json!("sepia"),
        "both changed it: the later save wins"
    );
    assert_eq!(instance_a.stats().merged_saves, 0);
    assert_eq!(
        instance_b.stats().merged_saves,
        1,
        "B saw A's version and merged"
    );
    let stored = hash(&server, &format!("session:{}", created.id)).await;
    assert_eq!(stored["version"], "3");
}

#[tokio::test]
async fn a_removed_key_is_removed_and_a_cleared_session_keeps_only_new_keys() {
    let server = testkit::redis().await;
    let store = store_on(&server).build().unwrap();
    let mut created = record(&[("a", json!(1)), ("b", json!(2))]);
    store.create(&mut created).await.unwrap();

    let mut loaded = store.load(&created.id).await.unwrap().unwrap();
    loaded.data.remove("a");
    store.save(&loaded).await.unwrap();
    let after_remove = store.load(&created.id).await.unwrap().unwrap();
    assert_eq!(after_remove.data, HashMap::from([("b".into(), json!(2))]));

    // `Session::clear`: every key the request loaded is removed.
    let mut cleared = after_remove.clone();
    cleared.data.clear();
    cleared.data.insert("c".into(), json!(3));
    store.save(&cleared).await.unwrap();
    let replaced = store.load(&created.id).await.unwrap().unwrap();
    assert_eq!(replaced.data, HashMap::from([("c".into(), json!(3))]));
}

#[tokio::test]
async fn a_revoked_session_is_not_resurrected_by_a_late_save() {
    let server = testkit::redis().await;
    let store = store_on(&server).build().unwrap();
    let mut created = record(&[("user_id", json!("alice"))]);
    store.create(&mut created).await.unwrap();
    let mut in_flight = store.load(&created.id).await.unwrap().unwrap();

    assert_eq!(store.revoke_all("alice").await.unwrap(), 1);
    in_flight.data.insert("cart".into(), json!([1]));
    store.save(&in_flight).await.unwrap();

    assert_eq!(store.load(&created.id).await.unwrap(), None);
    assert_eq!(store.stats().saves_of_gone_sessions, 1);
}

#[tokio::test]
async fn idle_timeout_expires_an_unused_session_and_reads_extend_it() {
    let server = testkit::redis().await;
    let store = store_on(&server)
        .idle_timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    let mut used = record(&[("n", json!(1))]);
    store.create(&mut used).await.unwrap();
    let mut unused = record(&[("n", json!(2))]);
    store.create(&mut unused).await.unwrap();

    // Reading `used` every 200 ms keeps it alive well past its idle timeout.
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_millis(2000) {
        assert!(
            store.load(&used.id).await.unwrap().is_some(),
            "used session expired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        store.load(&unused.id).await.unwrap(),
        None,
        "idle session survived"
    );
}

#[tokio::test]
async fn the_absolute_lifetime_ends_even_an_active_session() {
    let server = testkit::redis().await;
    let store = store_on(&server)
        .idle_timeout(Duration::from_millis(600))
        .absolute_timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let mut created = record(&[("n", json!(1))]);
    store.create(&mut created).await.unwrap();

    testkit::wait::until(Duration::from_secs(5), "the absolute deadline", || async {
        let touched = store.touch(&created.id).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        touched.is_none()
    })
    .await;
    let lived = OffsetDateTime::now_utc() - (created.expiry_date - time::Duration::hours(1));
    assert!(
        lived >= time::Duration::milliseconds(1400),
        "ended after {lived}"
    );
}

#[tokio::test]
async fn touch_extends_without_rewriting_data() {
    let server = testkit::redis().await;
    let store = store_on(&server)
        .idle_timeout(Duration::from_secs(60))
        .extend_on_read(false)
        .build()
        .unwrap();
    let mut created = record(&[("n", json!(1))]);
    store.create(&mut created).await.unwrap();
    let key = format!("session:{}", created.id);
    let before = hash(&server, &key).await;
    let created_deadline: i64 = before["expires_at"].parse().unwrap();

    // The layer asked for an hour: touch moves the idle deadline (60 s).
    let deadline = testkit::wait::until_ok(Duration::from_secs(2), || async {
        let deadline = store.touch(&created.id).await.unwrap().expect("live");
        let moved = deadline.unix_timestamp_nanos() / 1_000_000 > i128::from(created_deadline);
        if moved { Ok(deadline) } else { Err(deadline) }
    })
    .await
    .expect("touch moves the deadline once a millisecond has passed");
    let after = hash(&server, &key).await;
    assert!(deadline > OffsetDateTime::now_utc() + time::Duration::seconds(55));
    assert_eq!(after["version"], before["version"], "touch is not a save");
    assert_eq!(after["data:n"], before["data:n"]);
    let pttl: i64 = server.connection().await.pttl(&key).await.unwrap();
    assert!(pttl > 55_000, "{pttl}");
    assert_eq!(store.touch(&Id::default()).await.unwrap(), None);
}

#[tokio::test]
async fn reads_and_touch_never_extend_past_the_deadline_the_application_asked_for() {
    let server = testkit::redis().await;
    // The default idle timeout (30 min) is far longer than what the
    // application asks for: only the application's deadline may end it.
    let store = store_on(&server).build().unwrap();
    let mut created = record(&[("n", json!(1))]);
    created.expiry_date = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let asked_for = created.expiry_date;
    store.create(&mut created).await.unwrap();
    let key = format!("session:{}", created.id);

    let loaded = store.load(&created.id).await.unwrap().expect("live");
    assert!(
        loaded.expiry_date <= asked_for,
        "a read moved the deadline to {}, past the {asked_for} asked for",
        loaded.expiry_date
    );
    let touched = store.touch(&created.id).await.unwrap().expect("live");
    assert!(
        touched <= asked_for,
        "touch moved the deadline to {touched}, past the {asked_for} asked for"
    );
    let pttl: i64 = server.connection().await.pttl(&key).await.unwrap();
    assert!(pttl <= 1000, "the key outlives the deadline: {pttl} ms");

    // Read it until it is gone: it ends at the deadline asked for, whatever
    // the reads in between.
    testkit::wait::until(Duration::from_secs(3), "the session to expire", || async {
        store.load(&created.id).await.unwrap().is_none()
    })
    .await;
    assert!(OffsetDateTime::now_utc() >= asked_for - time::Duration::milliseconds(5));
    assert_eq!(store.touch(&created.id).await.unwrap(), None);
}

#[tokio::test]
async fn loaded_data_is_exactly_what_the_application_stored() {
    let server = testkit::redis().await;
    let store = Arc::new(store_on(&server).build().unwrap());
    let data = HashMap::from([
        ("user_id".to_string(), json!("alice")),
        ("cart".to_string(), json!({"items": [1, 2]})),
    ]);
    let mut created = record(&[]);
    created.data = data.clone();
    store.create(&mut created).await.unwrap();
    assert_eq!(created.data, data, "create added bookkeeping to the record");

    let loaded = store.load(&created.id).await.unwrap().expect("live");
    assert_eq!(loaded.data, data, "a load added bookkeeping to the data");

    // As a handler sees it, through tower-sessions' `Session`.
    let session = Session::new(Some(created.id), store.clone(), None);
    assert_eq!(
        session.get_value("__session_store").await.unwrap(),
        None,
        "the store's reserved key is visible to the application"
    );
    assert_eq!(
        session.get_value("cart").await.unwrap(),
        Some(data["cart"].clone())
    );
}

#[tokio::test]
async fn interleaved_requests_on_one_instance_merge_against_what_each_loaded() {
    let server = testkit::redis().await;
    let store = store_on(&server).build().unwrap();
    let mut created = record(&[("a", json!(1)), ("b", json!(1))]);
    store.create(&mut created).await.unwrap();

    // Three requests of one user on one instance: A and B load version 1,
    // A saves, C loads version 2, then B and C save.
    let mut request_a = store.load(&created.id).await.unwrap().unwrap();
    let mut request_b = store.load(&created.id).await.unwrap().unwrap();
    request_a.data.insert("a".into(), json!(2));
    store.save(&request_a).await.unwrap();
    let mut request_c = store.load(&created.id).await.unwrap().unwrap();
    request_b.data.insert("b".into(), json!(2));
    store.save(&request_b).await.unwrap();
    request_c.data.insert("c".into(), json!(3));
    store.save(&request_c).await.unwrap();

    let merged = store.load(&created.id).await.unwrap().unwrap();
    assert_eq!(
        merged.data["a"],
        json!(2),
        "B, loaded before A's save, kept A's change"
    );
    assert_eq!(
        merged.data["b"],
        json!(2),
        "C, loaded before B's save, kept B's change"
    );
    assert_eq!(merged.data["c"], json!(3));
}

#[tokio::test]
async fn a_save_the_store_no_longer_remembers_the_load_of_replaces_every_value() {
    let server = testkit::redis().await;
    // A zero merge window forgets every load at once: the fallback a request
    // that outlives the window meets.
    let forgetful = store_on(&server)
        .merge_window(Duration::ZERO)
        .build()
        .unwrap();
    let other = store_on(&server).build().unwrap();
    let mut created = record(&[("a", json!(1))]);
    other.create(&mut created).await.unwrap();

    let mut late = forgetful.load(&created.id).await.unwrap().unwrap();
    let mut meanwhile = other.load(&created.id).await.unwrap().unwrap();
    meanwhile.data.insert("b".into(), json!(2));
    other.save(&meanwhile).await.unwrap();
    late.data.insert("a".into(), json!(10));
    forgetful.save(&late).await.unwrap();

    let stored = other.load(&created.id).await.unwrap().unwrap();
    assert_eq!(
        stored.data,
        HashMap::from([("a".into(), json!(10))]),
        "last writer wins, whole record"
    );
    assert_eq!(forgetful.stats().replacing_saves, 1);
    assert_eq!(other.stats().replacing_saves, 0);
}

#[tokio::test]
async fn the_user_index_lists_revokes_and_limits_sessions() {
    let server = testkit::redis().await;
    let store = store_on(&server).build().unwrap();
    let mut ids = Vec::new();
    for device in 0..3 {
        let mut login = record(&[("user_id", json!("alice")), ("device", json!(device))]);
        store.create(&mut login).await.unwrap();
        ids.push(login.id);
    }
    let mut bob = record(&[("user_id", json!(7))]);
    store.create(&mut bob).await.unwrap();

    let listed: Vec<Id> = store
        .sessions_of("alice")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed.len(), 3);
    assert!(ids.iter().all(|id| listed.contains(id)));
    assert_eq!(
        store.sessions_of("7").await.unwrap()[0].id,
        bob.id,
        "numeric ids work"
    );

    assert_eq!(store.revoke_others("alice", &ids[0]).await.unwrap(), 2);
    assert!(store.load(&ids[0]).await.unwrap().is_some());
    assert!(store.load(&ids[1]).await.unwrap().is_none());
    assert_eq!(store.revoke_all("alice").await.unwrap(), 1);
    assert!(store.load(&ids[0]).await.unwrap().is_none());
    assert!(
        store.load(&bob.id).await.unwrap().is_some(),
        "other users untouched"
    );
    assert_eq!(store.stats().revoked, 3);
}

#[tokio::test]
async fn max_sessions_per_user_evicts_the_oldest_login() {
    let server = testkit::redis().await;
    let store = store_on(&server).max_sessions_per_user(2).build().unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut login = record(&[("user_id", json!("alice"))]);
        store.create(&mut login).await.unwrap();
        ids.push(login.id);
        tokio::time::sleep(Duration::from_millis(5)).await; // distinct creation times
    }
    assert!(
        store.load(&ids[0]).await.unwrap().is_none(),
        "oldest evicted"
    );
    assert!(store.load(&ids[1]).await.unwrap().is_some());
    assert!(store.load(&ids[2]).await.unwrap().is_some());
    assert_eq!(store.sessions_of("alice").await.unwrap().len(), 2);
    assert_eq!(store.stats().evicted, 1);
}

#[tokio::test]
async fn bind_user_indexes_a_session_without_touching_its_data() {
    let server = testkit::redis().await;
    let store = RedisStore::builder(server.client())
        .bind_users_explicitly() // no user key
        .build()
        .unwrap();
    let mut created = record(&[("cart", json!([1]))]);
    store.create(&mut created).await.unwrap();
    assert!(store.bind_user(&created.id, "carol").await.unwrap());
    assert_eq!(store.sessions_of("carol").await.unwrap()[0].id, created.id);
    assert_eq!(
        store.user_of(&created.id).await.unwrap().as_deref(),
        Some("carol")
    );
    assert!(!store.bind_user(&Id::default(), "carol").await.unwrap());

    // A save keeps the binding (the data has no user key to say otherwise).
    let mut loaded = store.load(&created.id).await.unwrap().unwrap();
    loaded.data.insert("cart".into(), json!([1, 2]));
    store.save(&loaded).await.unwrap();
    assert_eq!(
        store.user_of(&created.id).await.unwrap().as_deref(),
        Some("carol")
    );
}

#[tokio::test]
async fn without_a_user_index_the_calls_that_need_one_say_so() {
    let server = testkit::redis().await;
    let store = RedisStore::builder(server.client()).build().unwrap();
    let mut created = record(&[("user_id", json!("dora"))]);
    store.create(&mut created).await.unwrap();
    for result in [
        store.sessions_of("dora").await.map(|_| ()),
        store.revoke_all("dora").await.map(|_| ()),
        store.revoke_others("dora", &created.id).await.map(|_| ()),
        store.bind_user(&created.id, "dora").await.map(|_| ()),
    ] {
        match result {
            Err(Error::Config(message)) => assert!(message.contains("user index"), "{message}"),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }
    assert!(
        store.load(&created.id).await.unwrap().is_some(),
        "sessions still work"
    );
    match RedisStore::builder(server.client())
        .max_sessions_per_user(3)
        .build()
    {
        Err(Error::Config(message)) => assert!(message.contains("user_key"), "{message}"),
        other => panic!("a session limit needs the index: {other:?}"),
    }
}

#[tokio::test]
async fn expired_index_entries_are_pruned_and_the_index_expires_with_its_sessions() {
    let server = testkit::redis().await;
    let store = store_on(&server)
        .idle_timeout(Duration::from_millis(300))
        .extend_on_read(false)
        .build()
        .unwrap();
    let mut short = record(&[("user_id", json!("dave"))]);
    store.create(&mut short).await.unwrap();
    let index_ttl: i64 = server
        .connection()
        .await
        .pttl("session:user:dave")
        .await
        .unwrap();
    assert!(
        index_ttl > 0 && index_ttl <= 300,
        "index lives as long as its longest session: {index_ttl}"
    );

    testkit::wait::until(Duration::from_secs(3), "the index to expire", || async {
        let exists: bool = server
            .connection()
            .await
            .exists("session:user:dave")
            .await
            .unwrap();
        !exists
    })
    .await;
    assert!(store.sessions_of("dave").await.unwrap().is_empty());
}

#[tokio::test]
async fn cycle_id_deletes_the_old_session_only_once_the_new_one_is_saved() {
    let server = testkit::redis().await;
    let store = Arc::new(store_on(&server).build().unwrap());
    let mut anonymous = record(&[("cart", json!([5]))]);
    store.create(&mut anonymous).await.unwrap();
    let old_id = anonymous.id;
    let old_created_at = hash(&server, &format!("session:{old_id}")).await["created_at"].clone();

    // Login: cycle the id, then bind the user.
    let session = Session::new(Some(old_id), store.clone(), None);
    session_store::cycle_id(&session).await.unwrap();
    session.insert("user_id", "erin").await.unwrap();
    assert!(
        store.load(&old_id).await.unwrap().is_some(),
        "the old session is still there until the new one is saved"
    );

    session.save().await.unwrap();
    let new_id = session.id().expect("saved");
    assert_ne!(new_id, old_id);
    assert!(
        store.load(&old_id).await.unwrap().is_none(),
        "old id dead after the save"
    );
    let new = store.load(&new_id).await.unwrap().unwrap();
    assert_eq!(new.data["cart"], json!([5]), "data carried over");
    assert_eq!(new.data["user_id"], json!("erin"));
    let stored = hash(&server, &format!("session:{new_id}")).await;
    assert_eq!(
        stored["created_at"], old_created_at,
        "absolute lifetime is not reset by a cycle"
    );
    let listed = store.sessions_of("erin").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, new_id);
}

#[tokio::test]
async fn a_cycle_whose_save_fails_leaves_the_old_session_intact() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let store = Arc::new(
        RedisStore::builder(redis::Client::open(proxy.redis_url()).unwrap())
            .user_key("user_id")
            .response_timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    );
    let mut anonymous = record(&[("cart", json!([5]))]);
    store.create(&mut anonymous).await.unwrap();

    let session = Session::new(Some(anonymous.id), store.clone(), None);
    session_store::cycle_id(&session).await.unwrap();
    session.insert("user_id", "frank").await.unwrap();
    proxy.cut();
    assert!(session.save().await.is_err(), "the save cannot reach Redis");
    proxy.restore();

    // Old and new are written and deleted by one script: the user has
    // exactly one of them, never neither. Here the script never ran.
    let kept = testkit::wait::until_ok(Duration::from_secs(5), || store.load(&anonymous.id))
        .await
        .unwrap()
        .expect("old session kept");
    assert_eq!(kept.data["cart"], json!([5]));
    assert!(store.sessions_of("frank").await.unwrap().is_empty());
}

#[tokio::test]
async fn tower_sessions_own_cycle_id_deletes_first() {
    // Shown for contrast: why `session_store::cycle_id` exists.
    let server = testkit::redis().await;
    let store = Arc::new(store_on(&server).build().unwrap());
    let mut anonymous = record(&[("cart", json!([5]))]);
    store.create(&mut anonymous).await.unwrap();
    let session = Session::new(Some(anonymous.id), store.clone(), None);
    session.cycle_id().await.unwrap();
    assert!(store.load(&anonymous.id).await.unwrap().is_none());
    session.save().await.unwrap();
    let new = store.load(&session.id().unwrap()).await.unwrap().unwrap();
    assert_eq!(new.data["cart"], json!([5]));
}

#[tokio::test]
async fn revocations_are_announced_to_subscribers() {
    let server = testkit::redis().await;
    let store = store_on(&server).max_sessions_per_user(2).build().unwrap();
    let mut events = store.revocations().await.unwrap();

    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut login = record(&[("user_id", json!("gina"))]);
        store.create(&mut login).await.unwrap();
        ids.push(login.id);
    }
    let mut anonymous = record(&[("cart", json!([]))]);
    store.create(&mut anonymous).await.unwrap();
    store.delete(&anonymous.id).await.unwrap(); // no user: nothing to announce
    store.delete(&ids[0]).await.unwrap();
    let RevocationEvent::Revoked(logout) = events.recv().await.unwrap() else {
        panic!("expected a revocation")
    };
    assert_eq!(logout.user_id, "gina");
    assert_eq!(logout.session_ids, vec![ids[0].to_string()]);
    assert_eq!(logout.reason, Reason::Logout);

    let mut third = record(&[("user_id", json!("gina"))]);
    store.create(&mut third).await.unwrap();
    let mut fourth = record(&[("user_id", json!("gina"))]);
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.create(&mut fourth).await.unwrap();
    let RevocationEvent::Revoked(evicted) = events.recv().await.unwrap() else {
        panic!("expected an eviction")
    };
    assert_eq!(evicted.reason, Reason::Evicted);
    assert_eq!(evicted.session_ids, vec![ids[1].to_string()]);

    store.revoke_all("gina").await.unwrap();
    let RevocationEvent::Revoked(revoked) = events.recv().await.unwrap() else {
        panic!("expected a revocation")
    };
    assert_eq!(revoked.reason, Reason::Revoked);
    let mut expected = vec![third.id.to_string(), fourth.id.to_string()];
    let mut got = revoked.session_ids.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn the_revocation_subscription_survives_a_redis_restart() {
    let mut server = testkit::redis().await;
    let store = store_on(&server).build().unwrap();
    let mut events = store.revocations().await.unwrap();
    server.restart().await;

    let resubscribed = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("resubscribed in time");
    assert_eq!(resubscribed, Some(RevocationEvent::Resubscribed));

    testkit::wait::until_ok(Duration::from_secs(5), || async {
        let mut login = record(&[("user_id", json!("hank"))]);
        store.create(&mut login).await.map(|_| login)
    })
    .await
    .unwrap();
    store.revoke_all("hank").await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("event after the restart");
    assert!(matches!(event, Some(RevocationEvent::Revoked(r)) if r.user_id == "hank"));
}

#[tokio::test]
async fn redis_down_is_a_clear_error_and_recovers() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let store = RedisStore::builder(redis::Client::open(proxy.redis_url()).unwrap())
        .response_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut created = record(&[("n", json!(1))]);
    store.create(&mut created).await.unwrap();

    proxy.cut();
    let error = store.load(&created.id).await.unwrap_err();
    assert!(
        matches!(error, tower_sessions_core::session_store::Error::Backend(ref m) if m.contains("session store unavailable")),
        "{error:?}"
    );
    assert!(store.stats().redis_errors >= 1);

    proxy.restore();
    let back = testkit::wait::until_ok(Duration::from_secs(5), || store.load(&created.id))
        .await
        .unwrap();
    assert!(back.is_some());
}

#[tokio::test]
async fn corrupt_sessions_are_reported_without_their_content() {
    let server = testkit::redis().await;
    let store = store_on(&server).build().unwrap();
    let id = Id::default();
    let _: () = server
        .connection()
        .await
        .hset_multiple(
            format!("session:{id}"),
            &[
                ("version", "1"),
                ("expires_at", "99999999999999"),
                ("data:secret", "{not json"),
            ],
        )
        .await
        .unwrap();
    let error = store.load(&id).await.unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, tower_sessions_core::session_store::Error::Decode(_)),
        "{message}"
    );
    assert!(
        message.contains("secret") && !message.contains("{not json"),
        "{message}"
    );
}
