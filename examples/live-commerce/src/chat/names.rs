//! The name a chat message shows for its author.
//!
//! A socket knows its user by account id (the session holds nothing
//! else); a message should say "ann", not a UUID. The name is the local
//! part of the account's email, read once at the handshake and kept here
//! (a bounded in-memory cache), so publishing a message reads no database.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

/// Account id → display name, for this instance's sockets.
#[derive(Clone)]
pub struct DisplayNames {
    pool: PgPool,
    names: moka::sync::Cache<String, String>,
}

impl DisplayNames {
    /// An empty cache over the accounts in `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            names: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        }
    }

    /// Reads `user`'s name unless known; a failed read leaves it unknown.
    pub async fn learn(&self, user: &str) {
        if self.names.contains_key(user) {
            return;
        }
        let Ok(id) = Uuid::parse_str(user) else {
            return;
        };
        match crate::auth::accounts::find(&self.pool, id).await {
            Ok(Some(account)) => self
                .names
                .insert(user.to_string(), local_part(&account.email)),
            Ok(None) => {}
            Err(error) => tracing::debug!(%error, "reading a display name failed"),
        }
    }

    /// `user`'s name, or `"someone"` when it could not be read.
    pub fn of(&self, user: &str) -> String {
        self.names
            .get(user)
            .unwrap_or_else(|| "someone".to_string())
    }
}

fn local_part(email: &str) -> String {
    email.split('@').next().unwrap_or(email).to_string()
}
