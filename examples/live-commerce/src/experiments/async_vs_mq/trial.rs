//! One mode's trial: sign up, kill -9 while the mails are being composed,
//! restart, wait until the mails stop arriving, count.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::time::Instant;
use uuid::Uuid;

use super::count::Count;
use super::serve::Serve;
use crate::config::Config;
use crate::mail::sink::SmtpSink;
use crate::mail::{self, Mode};

/// The password of every sign-up (long and uncommon, as the auth service
/// demands).
const PASSWORD: &str = "correct horse battery staple";
/// After the restart, how long past the compose delay the trial waits for
/// a first or a further mail before it calls the sink quiet.
const QUIET_SLACK: Duration = Duration::from_secs(10);
/// Once every mail arrived, how long past the compose delay it still waits
/// for duplicates.
const DUPLICATE_SLACK: Duration = Duration::from_secs(2);
/// The longest wait after the restart, whatever happens.
const DRAIN_DEADLINE: Duration = Duration::from_secs(180);

/// What one mode did.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// The mode.
    pub mode: Mode,
    /// Accounts created (each owed one mail).
    pub signups: usize,
    /// Sign-ups per second, all sent at once.
    pub signups_per_second: f64,
    /// Mails at the sink when the process had been killed.
    pub mailed_before_kill: usize,
    /// The final count.
    #[serde(flatten)]
    pub count: Count,
    /// Seconds from the restarted process's readiness to the last mail
    /// (`None` when none came after it).
    pub drain_seconds: Option<f64>,
}

/// Runs `mode` with `signups` sign-ups, each mail taking `delay` to
/// compose, against `config`'s services, with `binary` as `serve`.
pub async fn run(
    config: &Config,
    binary: &Path,
    mode: Mode,
    signups: usize,
    delay: Duration,
) -> anyhow::Result<Trial> {
    let sink = SmtpSink::start().await?;
    let args: Vec<String> = [
        "--role",
        "auth",
        "--welcome-mail",
        mode.name(),
        "--welcome-mail-delay",
        &humantime::format_duration(delay).to_string(),
    ]
    .map(String::from)
    .into();
    let serve = Serve::spawn(binary, config, &sink.url(), &args).await?;
    let started = Instant::now();
    let users = sign_up(&serve.url, mode, signups).await?;
    let signups_per_second = signups as f64 / started.elapsed().as_secs_f64();
    // Right after the last sign-up answered: its mail is still being composed.
    serve.kill().await?;
    let expected: HashSet<String> = users.into_iter().map(mail::message_id).collect();
    let mailed_before_kill = Count::of(&expected, &sink.received().await?).delivered();
    let restarted = Serve::spawn(binary, config, &sink.url(), &args).await?;
    let drain = wait_until_quiet(&sink, &expected, mailed_before_kill, delay).await?;
    restarted.kill().await?;
    Ok(Trial {
        mode,
        signups,
        signups_per_second,
        mailed_before_kill,
        count: Count::of(&expected, &sink.received().await?),
        drain_seconds: drain.map(|drain| drain.as_secs_f64()),
    })
}

/// Signs `count` new accounts up at once; their ids.
async fn sign_up(base: &str, mode: Mode, count: usize) -> anyhow::Result<Vec<Uuid>> {
    let http = reqwest::Client::new();
    let run = Uuid::new_v4().simple().to_string();
    let requests = (0..count).map(|n| {
        let email = format!("{}-{n}-{}@signups.example", mode.name(), &run[..12]);
        sign_up_one(&http, base, email)
    });
    futures::future::try_join_all(requests).await
}

async fn sign_up_one(http: &reqwest::Client, base: &str, email: String) -> anyhow::Result<Uuid> {
    let response = http
        .post(format!("{base}/api/auth/signup"))
        .json(&serde_json::json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .with_context(|| format!("signing {email} up"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    anyhow::ensure!(
        status == 201,
        "sign-up of {email} answered {status}: {body}"
    );
    let id = body["data"]["userId"]
        .as_str()
        .with_context(|| format!("no userId in {body}"))?;
    Ok(id.parse()?)
}

/// Polls the sink until no mail has come for a while: `delay` plus
/// [`DUPLICATE_SLACK`] once every expected mail arrived, plus
/// [`QUIET_SLACK`] before. Returns when the last mail came, after `from`.
async fn wait_until_quiet(
    sink: &SmtpSink,
    expected: &HashSet<String>,
    mailed_before: usize,
    delay: Duration,
) -> anyhow::Result<Option<Duration>> {
    let from = Instant::now();
    let (mut seen, mut last_change) = (mailed_before, from);
    let mut last_mail = None;
    loop {
        let count = Count::of(expected, &sink.received().await?);
        let now = Instant::now();
        if count.delivered() != seen {
            (seen, last_change, last_mail) = (count.delivered(), now, Some(now - from));
        }
        let quiet = delay
            + if count.lost == 0 {
                DUPLICATE_SLACK
            } else {
                QUIET_SLACK
            };
        if now - last_change >= quiet || now - from >= DRAIN_DEADLINE {
            return Ok(last_mail);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
