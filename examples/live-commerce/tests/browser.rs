//! The web front end in a real browser (scenario 11): Debian's chromium,
//! driven by Playwright (`browser/tests/*.test.mjs`), against the whole
//! system run as a deployment would run it: every role its own process,
//! two chat instances, and a gateway in front of each (so two users in two
//! browsers sit on different chat instances).
//!
//! This test starts the services and the processes, makes an admin and a
//! dead letter for the admin page, then runs `node --test` in `browser/`
//! with the addresses in its environment; each browser test drives the
//! pages the way a person does and writes its screenshots to `docs/ui/`.
//! `scripts/test` installs chromium, node and the npm packages (from the
//! lockfile) first.

mod support;

use std::path::{Path, PathBuf};

use mq_reliable::amqp::Broker;
use support::{PASSWORD, Services, buyer, spawn_serve};

/// How long a buyer has to pay, in seconds: long enough to click "Pay" on
/// a busy machine, short enough to watch an unpaid order expire.
const PAYMENT_WINDOW_SECS: u64 = 12;

/// The admin the admin-page test logs in as.
const ADMIN: &str = "admin";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// `docs/ui/` at the workspace root, where the screenshots go.
fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/ui")
}

/// The chromium the tests drive: `$CHROMIUM`, else Debian's.
fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string())
}

/// Fails with the install step when the browser or the npm packages are
/// missing (never skips: a front end nobody tested is not tested).
fn check_installed() {
    let chromium = chromium();
    assert!(
        Path::new(&chromium).exists(),
        "no chromium at {chromium}: run scripts/test, or apt-get install chromium"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "the browser tests' npm packages are missing: run scripts/test, or `npm ci` in {}",
        browser_dir().display()
    );
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_use_the_shop_in_a_real_browser_across_instances() {
    check_installed();
    let services = Services::start().await;
    let serve = |args: &'static [&'static str]| spawn_serve(&services, args);
    let window = format!("{PAYMENT_WINDOW_SECS}s");
    let order_args = ["--role", "order", "--payment-window", &window];
    let (auth, catalog, order, worker, chat_a, chat_b) = tokio::join!(
        serve(&["--role", "auth"]),
        serve(&["--role", "catalog"]),
        spawn_serve(&services, &order_args),
        serve(&["--role", "worker"]),
        serve(&["--role", "chat"]),
        serve(&["--role", "chat"]),
    );
    let gateway_to = |chat: &str| {
        let upstreams = [
            format!("auth={}", auth.url),
            format!("catalog={}", catalog.url),
            format!("order={}", order.url),
            format!("chat={chat}"),
        ];
        let mut args = vec!["--role".to_string(), "gateway".into(), "--no-tls".into()];
        for upstream in upstreams {
            args.extend(["--upstream".to_string(), upstream]);
        }
        args
    };
    let (args_a, args_b) = (gateway_to(&chat_a.url), gateway_to(&chat_b.url));
    let (args_a, args_b) = (as_strs(&args_a), as_strs(&args_b));
    let (gateway_a, gateway_b) = tokio::join!(
        spawn_serve(&services, &args_a),
        spawn_serve(&services, &args_b),
    );

    let http = reqwest::Client::new();
    buyer(&http, &auth.url, ADMIN).await;
    let pool = sqlx::PgPool::connect(services.postgres.url())
        .await
        .unwrap();
    let admin_email = format!("{ADMIN}@buyers.example");
    assert!(
        live_commerce::auth::accounts::grant_admin(&pool, &admin_email)
            .await
            .unwrap()
    );
    // A dead letter for the admin page to show, replay and discard.
    let broker = Broker::connect(services.rabbit.url()).await.unwrap();
    support::poison_the_order_queue(&broker, "poison-from-the-browser-test").await;

    let output = tokio::process::Command::new("node")
        .args(["--test", "--test-concurrency=1", "tests/"])
        .current_dir(browser_dir())
        .env("GATEWAY_A", &gateway_a.url)
        .env("GATEWAY_B", &gateway_b.url)
        .env("ADMIN_EMAIL", &admin_email)
        .env("PASSWORD", PASSWORD)
        .env(
            "PAYMENT_WINDOW_MS",
            (PAYMENT_WINDOW_SECS * 1000).to_string(),
        )
        .env("CHROMIUM", chromium())
        .env("SCREENSHOTS", screenshots_dir())
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs (scripts/test installs it)");
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "browser tests failed:\n{report}");
    drop((
        auth, catalog, order, worker, chat_a, chat_b, gateway_a, gateway_b,
    ));
}
