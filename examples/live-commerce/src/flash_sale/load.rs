//! The sale itself: every buyer at the start line, released at once, one
//! order each, through the gateway over TLS.
//!
//! Each buyer first opens its connection (TCP and the TLS handshake) with
//! a look at the item, as a shopper waiting on the sale page already has
//! one; then all wait at a barrier; then each posts its order with its own
//! session cookie. So what is measured, from the first order sent to the
//! last answer, is the orders and not a thousand handshakes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::sync::Barrier;

use crate::flash_sale::FlashSaleOptions;
use crate::flash_sale::buyers::Buyers;
use crate::flash_sale::stack::Front;

/// How one buyer's request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// `202`: the order was taken.
    Accepted,
    /// `409`: sold out, not enough left, or too contended.
    Rejected,
    /// Anything else (a failure the buyer would see as an error).
    Failed,
}

/// One buyer's order: how it ended (and, when it failed, why), when it was
/// sent, how long the answer took, and how many units it asked for.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) answer: Answer,
    /// For [`Answer::Failed`]: the status and error code, or the transport
    /// error (`"502 UPSTREAM_FAILED"`, `"request: connection reset"`).
    pub(crate) failure: Option<String>,
    pub(crate) sent: Instant,
    pub(crate) latency: Duration,
    pub(crate) units: i32,
}

/// Every buyer's attempt.
pub(crate) struct BuyOutcome {
    pub(crate) attempts: Vec<Attempt>,
}

impl BuyOutcome {
    pub(crate) fn accepted(&self) -> usize {
        self.count(Answer::Accepted)
    }

    pub(crate) fn count(&self, answer: Answer) -> usize {
        self.attempts.iter().filter(|a| a.answer == answer).count()
    }

    /// Why the failed orders failed: each reason and how many buyers got it.
    pub(crate) fn failures(&self) -> BTreeMap<String, usize> {
        let mut reasons = BTreeMap::new();
        for reason in self.attempts.iter().filter_map(|a| a.failure.clone()) {
            *reasons.entry(reason).or_insert(0) += 1;
        }
        reasons
    }

    /// The smallest purchase that was turned away, if any.
    pub(crate) fn smallest_refused(&self) -> Option<i32> {
        self.attempts
            .iter()
            .filter(|a| a.answer != Answer::Accepted)
            .map(|a| a.units)
            .min()
    }

    /// Units the accepted orders asked for.
    pub(crate) fn accepted_units(&self) -> i64 {
        self.attempts
            .iter()
            .filter(|a| a.answer == Answer::Accepted)
            .map(|a| i64::from(a.units))
            .sum()
    }

    /// From the first order sent to the last answer.
    pub(crate) fn elapsed(&self) -> Duration {
        let first = self.attempts.iter().map(|a| a.sent).min();
        let last = self.attempts.iter().map(|a| a.sent + a.latency).max();
        match (first, last) {
            (Some(first), Some(last)) => last - first,
            _ => Duration::ZERO,
        }
    }
}

/// Lets one process hold a connection per buyer (and the server's end of
/// each): raises the soft open-file limit to the hard one.
pub(crate) fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// What every buyer shares.
#[derive(Clone)]
struct StartLine {
    http: reqwest::Client,
    item_url: String,
    orders_url: String,
    item_id: i64,
    barrier: Arc<Barrier>,
    progress: ProgressBar,
}

/// Releases `options.buyers` buyers at once through `front`; each places
/// one order with its session.
pub(crate) async fn buy(
    front: &Front,
    item_id: i64,
    options: &FlashSaleOptions,
    buyers: &Buyers,
    progress: ProgressBar,
) -> anyhow::Result<BuyOutcome> {
    anyhow::ensure!(
        buyers.len() >= options.buyers,
        "{} buyers are logged in; the sale needs {}",
        buyers.len(),
        options.buyers
    );
    let start_line = StartLine {
        http: front.client(options.buyers)?,
        item_url: front.url(&format!("/api/items/{item_id}")),
        orders_url: front.url("/api/orders"),
        item_id,
        barrier: Arc::new(Barrier::new(options.buyers)),
        progress,
    };
    let tasks: Vec<_> = (0..options.buyers)
        .map(|buyer| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(buyer as u64);
            let units = rng.random_range(options.quantities.min..=options.quantities.max);
            let cookie = buyers.cookie(buyer).to_string();
            tokio::spawn(one_buyer(start_line.clone(), cookie, units))
        })
        .collect();
    let mut attempts = Vec::with_capacity(options.buyers);
    for task in tasks {
        attempts.push(task.await?);
    }
    start_line.progress.finish_with_message("done");
    Ok(BuyOutcome { attempts })
}

/// One buyer: connect, wait for the others, order `units`.
async fn one_buyer(line: StartLine, cookie: String, units: i32) -> Attempt {
    // The connection the order will reuse (a failure here shows in the
    // order's answer).
    if let Ok(response) = line.http.get(&line.item_url).send().await {
        let _ = response.bytes().await;
    }
    line.barrier.wait().await;
    let sent = Instant::now();
    let response = line
        .http
        .post(&line.orders_url)
        .header(reqwest::header::COOKIE, cookie)
        .json(&json!({"itemId": line.item_id, "count": units}))
        .send()
        .await;
    let latency = sent.elapsed();
    let (answer, failure) = match response {
        Ok(response) => match response.status().as_u16() {
            202 => (Answer::Accepted, None),
            409 => (Answer::Rejected, None),
            status => (
                Answer::Failed,
                Some(unexpected_answer(status, response).await),
            ),
        },
        Err(error) => (
            Answer::Failed,
            // `{:#}`: the error and its causes on one line; reqwest's own
            // message rarely says what went wrong underneath.
            Some(format!("request: {:#}", anyhow::Error::new(error))),
        ),
    };
    if let Some(reason) = &failure {
        tracing::warn!(reason, "a buyer's order failed");
    }
    line.progress.inc(1);
    Attempt {
        answer,
        failure,
        sent,
        latency,
        units,
    }
}

/// `"<status> <error code>"` for an answer that was neither `202` nor `409`
/// (the code from the API's error body, when it has one).
async fn unexpected_answer(status: u16, response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    match body["error"]["code"].as_str() {
        Some(code) => format!("{status} {code}"),
        None => status.to_string(),
    }
}
