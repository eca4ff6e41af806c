//! The welcome mail through a `kill -9`: sent by a spawned task (`@Async`)
//! the mails being composed die with the process; sent through RabbitMQ
//! with manual ack they all arrive after the restart, each once. Counted at
//! a real SMTP server (aiosmtpd) per test, by Message-ID.

mod support;

use std::path::Path;
use std::time::Duration;

use live_commerce::experiments::async_vs_mq::{self, AsyncVsMq, trial::Trial};
use live_commerce::mail::queue::{EXCHANGE, SIGNED_UP_ROUTE};
use live_commerce::mail::sink::SmtpSink;
use live_commerce::mail::{self, Mode, WelcomeMail};
use live_commerce::server::{self, Role, Settings};
use live_commerce::strategy::Strategy;
use mq_reliable::amqp::Broker;
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
        page: live_commerce::experiments::page::PageOut { out: "none".into() },
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

/// An auth service in `mq` mode mailing to its own sink.
struct QueuedAuth {
    _services: Services,
    sink: SmtpSink,
    running: server::Running,
    config: live_commerce::config::Config,
    base: String,
}

impl QueuedAuth {
    async fn start() -> Self {
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
        Self {
            _services: services,
            sink,
            running,
            config,
            base,
        }
    }

    /// Signs `email` up; the account id.
    async fn sign_up(&self, email: &str) -> Uuid {
        let response = reqwest::Client::new()
            .post(format!("{}/api/auth/signup", self.base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.unwrap();
        body["data"]["userId"].as_str().unwrap().parse().unwrap()
    }

    /// Waits until the mail worker has acknowledged `count` jobs: each
    /// mail was accepted by the SMTP server (or found sent) before its ack.
    async fn wait_for_acks(&self, count: u64) {
        let stats = self
            .running
            .consumer_stats("welcome_mail")
            .expect("mq mode");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while stats.snapshot().acked < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not {count} acks: {:?}",
                stats.snapshot()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_sign_up_mails_its_account_once_with_its_message_id() {
    let auth = QueuedAuth::start().await;
    let user_id = auth.sign_up("Ann.Welcome@Buyers.Example").await;
    auth.wait_for_acks(1).await;
    let mails = auth.sink.received().await.unwrap();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(
        mails[0].message_id.as_deref(),
        Some(mail::message_id(user_id).as_str())
    );
    assert_eq!(mails[0].to.as_deref(), Some("ann.welcome@buyers.example"));
    auth.running.shutdown().await;
}

/// A relay killed between RabbitMQ's confirm and marking its row sent
/// publishes the job again, with the same message id: the worker finds it
/// in `mail_sent` and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_copy_of_a_mail_job_sends_nothing() {
    let auth = QueuedAuth::start().await;
    let user_id = auth.sign_up("bob.twice@buyers.example").await;
    auth.wait_for_acks(1).await;
    let job = WelcomeMail {
        user_id,
        email: "bob.twice@buyers.example".to_string(),
    };
    let broker = Broker::connect(auth.config.amqp_url.clone()).await.unwrap();
    let publisher = broker.publisher().build().await.unwrap();
    publisher
        .publish_with_id(EXCHANGE, SIGNED_UP_ROUTE, &job, &user_id.to_string())
        .await
        .unwrap();
    auth.wait_for_acks(2).await;
    let mails = auth.sink.received().await.unwrap();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(
        mails[0].message_id.as_deref(),
        Some(mail::message_id(user_id).as_str())
    );
    auth.running.shutdown().await;
}
