//! `live-commerce doctor`: is every backing service reachable, which version is
//! it, and how long does a round trip take?
//!
//! Each check runs concurrently under its own timeout, so one service that
//! hangs (a black-holed port) cannot hide the others. The round trip is the
//! median of several cheap requests on an open connection, so it measures the
//! link and server, not the connection set-up.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sqlx::Connection;

use crate::config::{Config, redact};

const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
const ROUND_TRIPS: usize = 5;

/// What one check found.
#[derive(Debug)]
pub struct Report {
    /// Service name as the user knows it.
    pub service: &'static str,
    /// Where it was looked for (passwords redacted).
    pub endpoint: String,
    /// Version and median round trip, or why it is down.
    pub outcome: Result<Healthy, String>,
}

/// A service that answered.
#[derive(Debug)]
pub struct Healthy {
    /// The server's version (or what is known of it).
    pub version: String,
    /// Median round trip of a trivial request.
    pub round_trip: Duration,
}

/// Checks every service, prints a table and returns whether all are up.
pub async fn run(config: &Config) -> bool {
    let reports = futures::join!(
        check("redis", redact(&config.redis_url), redis(config)),
        check("rabbitmq", redact(&config.amqp_url), rabbitmq(config)),
        check("kafka", config.kafka_brokers.clone(), kafka(config)),
        check("postgres", redact(&config.database_url), postgres(config)),
    );
    let reports = [reports.0, reports.1, reports.2, reports.3];
    print_table(&reports);
    let down: Vec<&Report> = reports
        .iter()
        .filter(|report| report.outcome.is_err())
        .collect();
    if down.is_empty() {
        println!("\nall services are up");
        return true;
    }
    eprintln!();
    for report in &down {
        let reason = report
            .outcome
            .as_ref()
            .err()
            .map(String::as_str)
            .unwrap_or_default();
        eprintln!("DOWN: {} at {}: {reason}", report.service, report.endpoint);
    }
    eprintln!(
        "start them with `scripts/dev-services up`, or point the *_URL variables at running servers"
    );
    false
}

async fn check(
    service: &'static str,
    endpoint: String,
    probe: impl Future<Output = Result<Healthy>>,
) -> Report {
    let outcome = match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(healthy)) => Ok(healthy),
        Ok(Err(error)) => Err(format!("{error:#}")),
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    };
    Report {
        service,
        endpoint,
        outcome,
    }
}

fn print_table(reports: &[Report]) {
    println!(
        "{:<10} {:<48} {:<6} {:<40} {:>10}",
        "service", "endpoint", "status", "version", "round trip"
    );
    for report in reports {
        match &report.outcome {
            Ok(healthy) => println!(
                "{:<10} {:<48} {:<6} {:<40} {:>7.2} ms",
                report.service,
                report.endpoint,
                "up",
                healthy.version,
                healthy.round_trip.as_secs_f64() * 1000.0
            ),
            Err(_) => println!(
                "{:<10} {:<48} {:<6} {:<40} {:>10}",
                report.service, report.endpoint, "DOWN", "-", "-"
            ),
        }
    }
}

/// Times `ROUND_TRIPS` calls of `request` and returns the median.
async fn median_round_trip<F, Fut>(mut request: F) -> Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let started = Instant::now();
        request().await?;
        samples.push(started.elapsed());
    }
    Ok(median(samples))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

async fn redis(config: &Config) -> Result<Healthy> {
    let client = redis::Client::open(config.redis_url.as_str()).context("invalid REDIS_URL")?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await?;
    let version = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .unwrap_or("unknown")
        .trim()
        .to_string();
    let round_trip = median_round_trip(|| {
        let mut conn = conn.clone();
        async move {
            Ok(redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(drop)?)
        }
    })
    .await?;
    Ok(Healthy {
        version,
        round_trip,
    })
}

async fn rabbitmq(config: &Config) -> Result<Healthy> {
    let connection =
        lapin::Connection::connect(&config.amqp_url, lapin::ConnectionProperties::default())
            .await?;
    // Opening and closing a channel is one AMQP round trip each way.
    let round_trip = median_round_trip(|| async {
        let channel = connection.create_channel().await?;
        channel.close(200, "doctor".into()).await?;
        Ok(())
    })
    .await?;
    let _ = connection.close(200, "doctor".into()).await;
    // AMQP does not expose the server version to lapin; the management API does.
    let version = rabbitmq_version(&config.rabbitmq_management_url)
        .await
        .unwrap_or_else(|_| "unknown (no management API)".into());
    Ok(Healthy {
        version,
        round_trip,
    })
}

async fn rabbitmq_version(management_url: &str) -> Result<String> {
    let url = reqwest::Url::parse(management_url)?;
    let user = if url.username().is_empty() {
        "guest"
    } else {
        url.username()
    }
    .to_string();
    let password = url.password().unwrap_or("guest").to_string();
    let mut overview = url.clone();
    overview.set_username("").ok();
    overview.set_password(None).ok();
    overview.set_path("/api/overview");
    let body: serde_json::Value = reqwest::Client::new()
        .get(overview)
        .basic_auth(user, Some(password))
        .timeout(Duration::from_secs(2))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    body["rabbitmq_version"]
        .as_str()
        .map(|version| format!("RabbitMQ {version}"))
        .ok_or_else(|| anyhow!("no version in /api/overview"))
}

async fn kafka(config: &Config) -> Result<Healthy> {
    let brokers = config.kafka_brokers.clone();
    // The client library's view: can librdkafka talk to it and see brokers?
    // (Its metadata call blocks, so it runs off the runtime threads.)
    let broker_count = tokio::task::spawn_blocking(move || -> Result<usize> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()?;
        Ok(consumer
            .fetch_metadata(None, Duration::from_secs(3))?
            .brokers()
            .len())
    })
    .await??;
    // The round trip: a raw ApiVersions request, which no client cache can answer.
    let first = config
        .kafka_brokers
        .split(',')
        .next()
        .unwrap_or_default()
        .trim();
    let mut stream = tokio::net::TcpStream::connect(first).await?;
    stream.set_nodelay(true)?;
    let mut api_count = 0;
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let started = Instant::now();
        api_count = kafka_api_versions(&mut stream).await?;
        samples.push(started.elapsed());
    }
    let round_trip = median(samples);
    let (_, client_version) = rdkafka::util::get_rdkafka_version();
    Ok(Healthy {
        version: format!("{broker_count} broker(s), {api_count} APIs; librdkafka {client_version}"),
        round_trip,
    })
}

/// Sends `ApiVersions` v0 and returns how many API keys the broker supports.
async fn kafka_api_versions(stream: &mut tokio::net::TcpStream) -> Result<usize> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const API_VERSIONS: i16 = 18;
    let client_id = b"live-commerce-doctor";
    let mut request = Vec::new();
    request.extend_from_slice(&API_VERSIONS.to_be_bytes());
    request.extend_from_slice(&0i16.to_be_bytes()); // request version
    request.extend_from_slice(&7i32.to_be_bytes()); // correlation id
    request.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    request.extend_from_slice(client_id);
    // One write: a separate length prefix would wait on Nagle + delayed ACK (~40 ms).
    let mut frame = (request.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&request);
    stream.write_all(&frame).await?;
    let length = stream.read_i32().await?;
    let mut response = vec![0u8; usize::try_from(length)?];
    stream.read_exact(&mut response).await?;
    // correlation id (4) | error code (2) | array length (4) | entries of 6 bytes
    if response.len() < 10 || response[..4] != 7i32.to_be_bytes() {
        return Err(anyhow!("malformed ApiVersions response"));
    }
    let error_code = i16::from_be_bytes([response[4], response[5]]);
    if error_code != 0 {
        return Err(anyhow!("ApiVersions answered error code {error_code}"));
    }
    let count = i32::from_be_bytes([response[6], response[7], response[8], response[9]]);
    Ok(usize::try_from(count)?)
}

async fn postgres(config: &Config) -> Result<Healthy> {
    let mut conn = sqlx::PgConnection::connect(&config.database_url).await?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await?;
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let started = Instant::now();
        sqlx::query("SELECT 1").execute(&mut conn).await?;
        samples.push(started.elapsed());
    }
    let _ = conn.close().await;
    Ok(Healthy {
        version: format!(
            "PostgreSQL {}",
            version.split_whitespace().next().unwrap_or(&version)
        ),
        round_trip: median(samples),
    })
}
