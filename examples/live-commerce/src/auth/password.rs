//! Passwords: what is accepted, and how it is hashed and checked.
//!
//! Hashes are argon2id with the `argon2` crate's defaults, which are OWASP's
//! recommended minimum (19 MiB of memory, 2 passes, 1 lane), stored as PHC
//! strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) so the
//! parameters can be raised later without breaking old hashes.
//!
//! A hash takes tens of milliseconds of one core and 19 MiB, by design. Two
//! consequences shape [`Passwords`]:
//! - the work runs on tokio's blocking pool, never on a runtime thread
//!   (which would stall every other request on that thread);
//! - at most a few hashes run at once (a semaphore sized to the cores): a
//!   thousand simultaneous logins queue instead of asking for 19 GiB.
//!
//! A login for an unknown email is checked against a fixed dummy hash, so
//! it costs what a wrong password costs and the answer time does not tell
//! which emails have accounts.
//!
//! [`HashCost::Minimal`] exists for test suites that create thousands of
//! accounts (as Django's docs advise a fast hasher for tests): the least work
//! argon2 allows. Every hash carries its parameters, so one database can hold
//! both and each verifies with its own.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::api::ApiError;

/// Fewest characters a password may have (NIST SP 800-63B asks for 8; more
/// is cheap for a person and expensive for a guesser).
pub const MIN_LENGTH: usize = 10;
/// Most characters a password may have: long passphrases fit, and the hash
/// input stays bounded.
pub const MAX_LENGTH: usize = 128;

/// Passwords seen most often in breach corpora; refused whatever their
/// length rule says (a short list: the length rule does most of the work).
const COMMON: &[&str] = &[
    "1234567890",
    "12345678910",
    "0123456789",
    "1q2w3e4r5t",
    "qwertyuiop",
    "password123",
    "password1234",
    "passwordpassword",
    "iloveyou123",
    "abcdefghij",
    "letmein123",
    "welcome123",
    "administrator",
];

/// Refuses a password a person should not use: `400 WEAK_PASSWORD` with the
/// reason.
pub fn check_strength(password: &str, email: &str) -> Result<(), ApiError> {
    let weak = |why: &str| Err(ApiError::bad_request("WEAK_PASSWORD", why.to_string()));
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return weak(&format!(
            "the password needs at least {MIN_LENGTH} characters"
        ));
    }
    if length > MAX_LENGTH {
        return weak(&format!(
            "the password may have at most {MAX_LENGTH} characters"
        ));
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) {
        return weak("this password is among the most common ones");
    }
    let mut chars = lower.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return weak("the password repeats one character");
    }
    let local_part = email.split('@').next().unwrap_or_default();
    if local_part.len() >= 3 && lower.contains(local_part) {
        return weak("the password contains the email address");
    }
    Ok(())
}

/// How much work one new hash costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HashCost {
    /// OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
    #[default]
    Standard,
    /// The least argon2 allows (8 KiB, 1 pass): microseconds, and no
    /// protection worth the name. Only for test suites that sign up
    /// thousands of accounts.
    Minimal,
}

impl HashCost {
    fn params(self) -> Params {
        match self {
            Self::Standard => Params::default(),
            Self::Minimal => Params::new(Params::MIN_M_COST, Params::MIN_T_COST, 1, None)
                .expect("argon2's own minimums are valid parameters"),
        }
    }
}

/// Hashes and checks passwords off the runtime, a bounded number at a time.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    cost: HashCost,
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// At most `concurrency` hashes at once (at least one), new ones at
    /// `cost`.
    pub fn new(concurrency: usize, cost: HashCost) -> anyhow::Result<Self> {
        let dummy_hash = hash_now("not a password of anyone", cost)?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            cost,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The argon2id PHC string of `password`, with a fresh random salt.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        let cost = self.cost;
        tokio::task::spawn_blocking(move || hash_now(&password, cost)).await?
    }

    /// Whether `password` matches `stored` (a PHC string). With no stored
    /// hash (unknown account) the dummy hash is checked, so both cases cost
    /// the same, and `false` is returned.
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&stored)
                .map(|hash| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &hash)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await?;
        Ok(known && matches)
    }
}

fn hash_now(password: &str, cost: HashCost) -> anyhow::Result<String> {
    // 16 random bytes from the OS-seeded thread RNG (a CSPRNG in `rand`).
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|error| anyhow::anyhow!("encoding a salt: {error}"))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, cost.params())
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| anyhow::anyhow!("hashing a password: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strength_rules_refuse_what_they_say() {
        let email = "ann.lee@example.com";
        assert!(check_strength("correct horse battery", email).is_ok());
        for weak in [
            "",
            "short",
            "123456789",
            "1234567890",
            "PASSWORD123",
            "aaaaaaaaaaaa",
            "my-ann.lee-secret",
        ] {
            let refused = check_strength(weak, email).unwrap_err();
            assert_eq!(refused.code, "WEAK_PASSWORD", "{weak:?}");
        }
        assert!(check_strength(&"x1".repeat(65), email).is_err());
        assert!(check_strength(&"x1".repeat(64), email).is_ok());
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::new(2, HashCost::Standard).unwrap();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let check =
            |password: &str, stored: Option<String>| passwords.verify(password.to_string(), stored);
        assert!(check("correct horse", Some(hash.clone())).await.unwrap());
        assert!(!check("correct horsE", Some(hash.clone())).await.unwrap());
        assert!(!check("correct horse", None).await.unwrap());
        assert!(!check("x", Some("not a phc string".into())).await.unwrap());
    }

    #[tokio::test]
    async fn a_minimal_hash_says_so_and_both_costs_verify_side_by_side() {
        let minimal = Passwords::new(1, HashCost::Minimal).unwrap();
        let standard = Passwords::new(1, HashCost::Standard).unwrap();
        let cheap = minimal.hash("correct horse".into()).await.unwrap();
        assert!(cheap.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{cheap}");
        let dear = standard.hash("correct horse".into()).await.unwrap();
        // Each hash verifies with its own parameters, whoever checks it.
        for stored in [&cheap, &dear] {
            assert!(
                standard
                    .verify("correct horse".into(), Some(stored.clone()))
                    .await
                    .unwrap()
            );
            assert!(
                minimal
                    .verify("correct horse".into(), Some(stored.clone()))
                    .await
                    .unwrap()
            );
            assert!(
                !minimal
                    .verify("wrong horse".into(), Some(stored.clone()))
                    .await
                    .unwrap()
            );
        }
    }
}
