//! The cost of a session round trip (load, change one key, save), with its
//! baselines in the same run on the same Redis.
//!
//! `cargo bench -p session-store --bench round_trip`
//!
//! - `session-store`: this crate's `load` + `save` (Lua scripts: sliding
//!   expiry, versioned field-level save, per-user index).
//! - raw: `HGETALL` + `HSET` of the changed field on one connection, the
//!   floor for a hash-per-session layout.
//! - `tower-sessions-redis-store`: the fred-based store (one MessagePack blob
//!   per session, `GET` + `SET`).
//!
//! Criterion measures each; then the three are alternated operation by
//! operation (so machine noise hits all alike) and the medians compared.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use criterion::Criterion;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde_json::{Value, json};
use session_store::RedisStore;
use time::OffsetDateTime;
use tower_sessions_core::SessionStore;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core_014 as peer_core;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};

const PAIRS: usize = 5_000;

/// A typical logged-in session: a user, a cart, a few preferences.
fn session_data() -> HashMap<String, Value> {
    HashMap::from([
        ("user_id".to_string(), json!("user-4711")),
        (
            "cart".to_string(),
            json!({"items": [{"id": 17, "qty": 2}, {"id": 99, "qty": 1}]}),
        ),
        ("locale".to_string(), json!("ko-KR")),
        ("theme".to_string(), json!("dark")),
        (
            "csrf".to_string(),
            json!("0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
        ),
        ("visits".to_string(), json!(0)),
    ])
}

fn expiry() -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::minutes(30)
}

struct Contenders {
    ours: RedisStore,
    ours_id: Id,
    raw: ConnectionManager,
    raw_key: String,
    peer: tower_sessions_redis_store::RedisStore<Pool>,
    peer_id: peer_core::session::Id,
}

impl Contenders {
    async fn new(server: &testkit::RedisServer) -> Self {
        let ours = RedisStore::builder(server.client())
            .user_key("user_id")
            .build()
            .unwrap();
        let mut record = Record {
            id: Id::default(),
            data: session_data(),
            expiry_date: expiry(),
        };
        ours.create(&mut record).await.unwrap();

        let mut raw = server.client().get_connection_manager().await.unwrap();
        let raw_key = "raw:session".to_string();
        let fields: Vec<(String, String)> = session_data()
            .into_iter()
            .map(|(k, v)| (format!("data:{k}"), v.to_string()))
            .collect();
        let _: () = raw.hset_multiple(&raw_key, &fields).await.unwrap();

        let pool = Pool::new(
            Config::from_url(&server.url()).unwrap(),
            None,
            None,
            None,
            1,
        )
        .unwrap();
        let _connection_task = pool.connect();
        pool.wait_for_connect().await.unwrap();
        let peer = tower_sessions_redis_store::RedisStore::new(pool);
        let mut peer_record = peer_core::session::Record {
            id: peer_core::session::Id::default(),
            data: session_data(),
            expiry_date: expiry(),
        };
        peer_core::SessionStore::create(&peer, &mut peer_record)
            .await
            .unwrap();

        Self {
            ours,
            ours_id: record.id,
            raw,
            raw_key,
            peer,
            peer_id: peer_record.id,
        }
    }

    async fn ours(&self) {
        self.ours_timed().await;
    }

    /// The load and the save, timed apart.
    async fn ours_timed(&self) -> (Duration, Duration) {
        let started = Instant::now();
        let mut record = self.ours.load(&self.ours_id).await.unwrap().unwrap();
        let loaded = started.elapsed();
        let visits = record.data["visits"].as_u64().unwrap() + 1;
        record.data.insert("visits".into(), json!(visits));
        record.expiry_date = expiry();
        let started = Instant::now();
        self.ours.save(&record).await.unwrap();
        (loaded, started.elapsed())
    }

    async fn raw(&self) {
        self.raw_timed().await;
    }

    /// The `HGETALL` and the `HSET`, timed apart.
    async fn raw_timed(&self) -> (Duration, Duration) {
        let mut conn = self.raw.clone();
        let started = Instant::now();
        let fields: HashMap<String, String> = conn.hgetall(&self.raw_key).await.unwrap();
        let loaded = started.elapsed();
        let visits: u64 = fields["data:visits"].parse().unwrap();
        let started = Instant::now();
        let _: () = conn
            .hset(&self.raw_key, "data:visits", (visits + 1).to_string())
            .await
            .unwrap();
        (loaded, started.elapsed())
    }

    /// The save script's own cost: `EVALSHA` with a save's arguments, on the
    /// raw connection, without any of the store's client-side work.
    async fn save_script_alone(&self) -> Duration {
        let script = redis::Script::new(concat!(
            include_str!("../scripts/common.lua"),
            include_str!("../scripts/save.lua")
        ));
        let mut conn = self.raw.clone();
        let id = self.ours_id.to_string();
        let mut samples = Vec::with_capacity(PAIRS);
        for visits in 0..PAIRS {
            let started = Instant::now();
            let _: redis::Value = script
                .arg("session")
                .arg(&id)
                .arg(OffsetDateTime::now_utc().unix_timestamp() * 1000)
                .arg(expiry().unix_timestamp() * 1000)
                .arg(1_800_000)
                .arg(0) // a stale base: the same path as a save, reported as merged
                .arg("keep")
                .arg("")
                .arg(0)
                .arg(1)
                .arg("data:visits")
                .arg(visits.to_string())
                .arg(0)
                .invoke_async(&mut conn)
                .await
                .unwrap();
            samples.push(started.elapsed());
        }
        median(samples)
    }

    async fn peer(&self) {
        use peer_core::SessionStore as _;
        let mut record = self.peer.load(&self.peer_id).await.unwrap().unwrap();
        let visits = record.data["visits"].as_u64().unwrap() + 1;
        record.data.insert("visits".into(), json!(visits));
        record.expiry_date = expiry();
        self.peer.save(&record).await.unwrap();
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(testkit::redis());
    let contenders = runtime.block_on(Contenders::new(&server));

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("session round trip");
    group.bench_function("session-store load+save", |b| {
        b.to_async(&runtime).iter(|| contenders.ours())
    });
    group.bench_function("raw HGETALL+HSET", |b| {
        b.to_async(&runtime).iter(|| contenders.raw())
    });
    group.bench_function("tower-sessions-redis-store load+save", |b| {
        b.to_async(&runtime).iter(|| contenders.peer())
    });
    group.finish();
    criterion.final_summary();

    let (raw, ours, peer, parts) = runtime.block_on(async {
        let (mut raw, mut ours, mut peer) = (Vec::new(), Vec::new(), Vec::new());
        let mut parts: [Vec<Duration>; 4] = Default::default();
        for _ in 0..PAIRS {
            let started = Instant::now();
            let (get, set) = contenders.raw_timed().await;
            raw.push(started.elapsed());
            parts[0].push(get);
            parts[1].push(set);
            let started = Instant::now();
            let (load, save) = contenders.ours_timed().await;
            ours.push(started.elapsed());
            parts[2].push(load);
            parts[3].push(save);
            let started = Instant::now();
            contenders.peer().await;
            peer.push(started.elapsed());
        }
        (median(raw), median(ours), median(peer), parts.map(median))
    });
    println!(
        "\nload + change one key + save, alternating single round trips, medians of {PAIRS} each:"
    );
    println!("| contender | median (us) | vs raw |");
    println!("|---|---|---|");
    println!("| raw HGETALL + HSET | {:.1} | 1.00 |", micros(raw));
    println!(
        "| session-store | {:.1} | {:.2} |",
        micros(ours),
        ours.as_secs_f64() / raw.as_secs_f64()
    );
    println!(
        "| tower-sessions-redis-store (fred) | {:.1} | {:.2} |",
        micros(peer),
        peer.as_secs_f64() / raw.as_secs_f64()
    );
    let server_side = runtime.block_on(async {
        // Redis's own accounting: microseconds per call inside the server.
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut contenders.raw.clone())
            .await
            .unwrap();
        info.lines()
            .filter(|line| {
                ["cmdstat_evalsha:", "cmdstat_hset:", "cmdstat_hgetall:"]
                    .iter()
                    .any(|name| line.starts_with(name))
            })
            .filter_map(|line| {
                let (name, stats) = line.split_once(':')?;
                let per_call = stats
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("usec_per_call="))?;
                Some(format!(
                    "{} {per_call} us",
                    name.trim_start_matches("cmdstat_")
                ))
            })
            .collect::<Vec<_>>()
            .join(", ")
    });
    let script_alone = runtime.block_on(contenders.save_script_alone());
    println!(
        "the save script alone (EVALSHA, same arguments, no client work): {:.1} us",
        micros(script_alone)
    );
    println!("server-side time per call (INFO commandstats): {server_side}");
    println!(
        "parts (medians, us): raw HGETALL {:.1}, raw HSET {:.1}; session-store load {:.1}, save {:.1}",
        micros(parts[0]),
        micros(parts[1]),
        micros(parts[2]),
        micros(parts[3])
    );
    println!(
        "session-store vs tower-sessions-redis-store: {:.2}x the time",
        ours.as_secs_f64() / peer.as_secs_f64()
    );
}
