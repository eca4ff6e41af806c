//! Failed logins, limited per account and per client address.
//!
//! A guesser either tries many passwords on one account (stopped by the
//! account's limit) or one password on many accounts (stopped by its
//! address's limit). Each failure counts once against both, in fixed
//! windows that start at the first failure; past a limit, logins answer
//! `429 TOO_MANY_ATTEMPTS` with `Retry-After` until the window ends,
//! without checking the password (so a locked-out guesser costs no hash).
//! A successful login clears its account's counter, not its address's.
//!
//! The counters live in Redis, not in the process: every instance of the
//! auth service shares them, so adding instances does not multiply the
//! guesses allowed. (`governor` and `tower-governor` count in memory, per
//! process, which is why this is two short scripts instead.)
//!
//! The account limit also lets anyone lock a known account out for a
//! window by failing on purpose; that is the usual trade, and why the
//! window is minutes, not hours.

use std::net::IpAddr;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use crate::api::ApiError;

/// One limit: at most `failures` failed logins per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Failures allowed in a window.
    pub failures: u32,
    /// How long a window lasts from its first failure.
    pub window: Duration,
}

/// Both limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures per account. Defaults to 5 per 15 minutes.
    pub per_account: Limit,
    /// Failures per client address. Defaults to 20 per 15 minutes.
    pub per_address: Limit,
}

impl Default for LoginLimits {
    fn default() -> Self {
        let window = Duration::from_secs(15 * 60);
        Self {
            per_account: Limit {
                failures: 5,
                window,
            },
            per_address: Limit {
                failures: 20,
                window,
            },
        }
    }
}

/// The limiter: counters in Redis, shared by every auth instance.
#[derive(Clone)]
pub struct LoginLimiter {
    redis: ConnectionManager,
    limits: LoginLimits,
    check: Script,
    fail: Script,
}

impl LoginLimiter {
    /// A limiter on `redis` with `limits`.
    pub fn new(redis: ConnectionManager, limits: LoginLimits) -> Self {
        Self {
            redis,
            limits,
            check: Script::new(include_str!("login_limit.lua")),
            fail: Script::new(include_str!("login_failure.lua")),
        }
    }

    /// `Ok` when `email` may try to log in from `address`; `429` with
    /// `Retry-After` when either is at its limit.
    pub async fn check(&self, email: &str, address: IpAddr) -> Result<(), ApiError> {
        let [account, client] = keys(email, address);
        let wait_ms: u64 = self
            .check
            .key(account)
            .key(client)
            .arg(self.limits.per_account.failures)
            .arg(self.limits.per_address.failures)
            .invoke_async(&mut self.redis.clone())
            .await?;
        if wait_ms == 0 {
            return Ok(());
        }
        let seconds = wait_ms.div_ceil(1000);
        Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_ATTEMPTS",
            format!("too many failed logins; try again in {seconds} s"),
        )
        .retry_after(seconds))
    }

    /// Counts a failed login of `email` from `address`.
    pub async fn record_failure(&self, email: &str, address: IpAddr) -> Result<(), ApiError> {
        let [account, client] = keys(email, address);
        let millis = |limit: Limit| limit.window.as_millis() as u64;
        let _: Vec<u64> = self
            .fail
            .key(account)
            .key(client)
            .arg(millis(self.limits.per_account))
            .arg(millis(self.limits.per_address))
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(())
    }

    /// Forgets `email`'s failures (after a successful login).
    pub async fn clear(&self, email: &str) -> Result<(), ApiError> {
        let [account, _] = keys(email, IpAddr::from([0, 0, 0, 0]));
        let _: u64 = redis::cmd("DEL")
            .arg(account)
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(())
    }
}

fn keys(email: &str, address: IpAddr) -> [String; 2] {
    [
        format!("login-failures:account:{email}"),
        format!("login-failures:address:{address}"),
    ]
}
