//! Work that must happen only if a database transaction commits.
//!
//! The bug this prevents (the seed projects had it): a handler bumps a
//! Redis counter inside a transaction that later rolls back, and Redis
//! keeps a count the database never had. Redis cannot join the
//! transaction, so the Redis write waits for the commit instead: register
//! it with [`Transaction::after_commit`], and it runs after a successful
//! [`commit`](Transaction::commit), and never after a rollback or a drop
//! (Spring's `TransactionSynchronization.afterCommit`).
//!
//! The cost is the other failure: a crash between the commit and the
//! Redis write loses that one count. For a ranking that is the right side
//! to err on; for effects that must not be lost, use the outbox.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;

use sqlx::{PgPool, Postgres};

type Deferred = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A PostgreSQL transaction with actions to run once it has committed.
pub struct Transaction {
    tx: sqlx::Transaction<'static, Postgres>,
    after: Vec<Deferred>,
}

impl Transaction {
    /// Begins a transaction on `pool`.
    pub async fn begin(pool: &PgPool) -> Result<Self, sqlx::Error> {
        Ok(Self {
            tx: pool.begin().await?,
            after: Vec::new(),
        })
    }

    /// Runs `action` after the commit, in registration order.
    pub fn after_commit(&mut self, action: impl Future<Output = ()> + Send + 'static) {
        self.after.push(Box::pin(action));
    }

    /// Commits, then runs the registered actions.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        for action in self.after {
            action.await;
        }
        Ok(())
    }

    /// Rolls back; the registered actions never run.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl Deref for Transaction {
    type Target = sqlx::PgConnection;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl DerefMut for Transaction {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}
