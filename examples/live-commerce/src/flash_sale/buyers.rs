//! The buyers: accounts signed up and logged in through the gateway before
//! the sale, each keeping its session cookie.
//!
//! A login is an argon2id verification (tens of milliseconds of one core,
//! by design) and a sign-up one more hash, and the auth service computes
//! only as many at once as it has cores. So the buyers sign up a few at a
//! time ([`SIGN_UP_CONCURRENCY`] per core): more in flight would only queue
//! at the auth service's semaphore and hold a connection each while they
//! wait. That is also why it happens once per run and not per strategy: the
//! sessions live in Redis, which every strategy's order service reads.
//!
//! The accounts are `buyer-<n>@flash-sale.example` with one password, so a
//! second run on the same database finds them (`409 EMAIL_TAKEN`, which is
//! fine) and only logs in.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;

use crate::auth::client::sign_up_and_log_in;
use crate::flash_sale::stack::Front;

/// Sign-ups and logins in flight per core of this machine.
pub const SIGN_UP_CONCURRENCY: usize = 2;

/// The password every buyer account has.
const PASSWORD: &str = "flash sale shopper, 2026";

/// Logged-in buyers: the `Cookie` header value of each, in buyer order.
#[derive(Debug, Clone)]
pub struct Buyers {
    cookies: Vec<String>,
    /// How long signing them all up and logging them in took.
    pub took: Duration,
}

impl Buyers {
    /// Signs up and logs in `count` buyers through `front`.
    pub(crate) async fn sign_up(
        front: &Front,
        count: usize,
        progress: &ProgressBar,
    ) -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let concurrency = cores * SIGN_UP_CONCURRENCY;
        let http = front.client(concurrency)?;
        let base = front.url("");
        let started = Instant::now();
        let cookies = futures::stream::iter(0..count)
            .map(|buyer| {
                let (http, base) = (&http, &base);
                async move {
                    let email = format!("buyer-{buyer}@flash-sale.example");
                    let cookie = sign_up_and_log_in(http, base, &email, PASSWORD).await;
                    progress.inc(1);
                    cookie
                }
            })
            .buffered(concurrency)
            .try_collect()
            .await?;
        Ok(Self {
            cookies,
            took: started.elapsed(),
        })
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.cookies.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// Buyer `n`'s `Cookie` header value (`session=<id>`).
    pub fn cookie(&self, n: usize) -> &str {
        &self.cookies[n]
    }
}
