//! The welcome mail through a `kill -9`: sent by a spawned task (`@Async`)
//! the mails being composed die with the process; sent through RabbitMQ
//! with manual ack they all arrive after the restart, each once. Counted at
//! a real SMTP server (aiosmtpd) per test, by Message-ID.

mod support;

use std::path::Path;
use std::time::Duration;

use live_commerce::experiments::async_vs_mq::{self, AsyncVsMq, trial::Trial};
use live_commerce::mail::sink::SmtpSink;
use live_commerce::mail::{self, Mode};
use live_commerce::server::{self, Role, Settings};
use live_commerce::strategy::Strategy;
use serde_json::json;
use support::{PASSWORD, Services};
use uuid::Uuid;

/// Sign-ups per trial.
const SIGNUPS: usize = 6;
/// Composing a mail: long enough that none is sent before the kill right
/// after the last sign-up, short enough for a quick test.
const DELAY: Duration = Duration::from_secs(2);
/// How long a test waits for something that should happen in seconds.
const PATIENCE: Duration = Duration::from_secs(60);

/// Runs the experiment's trial of `mode` against fresh services.
async fn trial(mode: Mode) -> Trial {
    let services = Services::start().await;
    let options = AsyncVsMq {
        signups: SIGNUPS,
        delay: DELAY,
        modes: vec![mode],
        json: false,
    };
    let binary = Path::new(env!("CARGO_BIN_EXE_live-commerce"));
    let report = async_vs_mq::measure(&services.config(), binary, &options)
        .await
        .unwrap_or_else(|error| panic!("async-vs-mq {}: {error:#}", mode.name()));
    println!("{}", report.table());
    report.modes.into_iter().next().expect("one trial")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_mails_die_with_a_killed_process() {
    let trial = trial(Mode::InProcess).await;
    assert_eq!(trial.signups, SIGNUPS);
    assert!(trial.count.lost > 0, "{trial:?}");
    assert_eq!(trial.count.received + trial.count.lost, SIGNUPS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_mails_survive_a_killed_process_and_arrive_once_each() {
    let trial = trial(Mode::Mq).await;
    assert_eq!(trial.signups, SIGNUPS);
    assert_eq!(trial.count.lost, 0, "{trial:?}");
    assert_eq!(trial.count.duplicated, 0, "{trial:?}");
    assert_eq!(trial.count.received, SIGNUPS, "{trial:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_sign_up_mails_its_account_once_with_its_message_id() {
    let services = Services::start().await;
    let sink = SmtpSink::start().await.unwrap();
    let mut config = services.config();
    config.smtp_url = sink.url();
    let settings = Settings {
        welcome_mail: Mode::Mq,
        welcome_mail_delay: Duration::from_millis(100),
        ..support::settings(Role::Auth, Strategy::Lua)
    };
    let running = server::start(&config, &settings, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let base = support::base_url(&running);
    let email = "Ann.Welcome@Buyers.Example";
    let response = reqwest::Client::new()
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    let user_id: Uuid = body["data"]["userId"].as_str().unwrap().parse().unwrap();

    // Done when the worker acknowledged the job: the mail was accepted
    // before the ack, and nothing is left to send a second copy.
    let stats = running.consumer_stats("welcome_mail").expect("mq mode");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while stats.snapshot().acked == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ack: {:?}",
            stats.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mails = sink.received().await.unwrap();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(
        mails[0].message_id.as_deref(),
        Some(mail::message_id(user_id).as_str())
    );
    assert_eq!(mails[0].to.as_deref(), Some("ann.welcome@buyers.example"));
    assert_eq!(stats.snapshot().consumed, 1);
    running.shutdown().await;
}
