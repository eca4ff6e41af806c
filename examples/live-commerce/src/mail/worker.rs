//! The mail worker: consumes `mail.welcome`, sends each account's welcome
//! mail, and acknowledges only after the SMTP server accepted it.
//!
//! At least once is the queue's promise; the `mail_sent` inbox (keyed by
//! the message id, i.e. the account) takes it close to exactly once:
//!
//! ```text
//!  1. sent before?  SELECT in mail_sent           yes → ack, nothing sent
//!  2. compose       (the slow step, no transaction held)
//!  3. BEGIN; INSERT message id INTO mail_sent     conflict → ack (another copy won)
//!  4. SMTP          server answers 250            failure → rollback, retry later
//!  5. COMMIT; ack
//! ```
//!
//! A kill -9 before 4 loses nothing (the message is unacknowledged, the
//! row uncommitted: the broker delivers it again). Two copies delivered at
//! once (a relay's re-publish) meet at 3: the second insert waits on the
//! first transaction's row lock and then finds the id.
//!
//! **The window that remains**: between the server's `250` at 4 and the
//! commit at 5 (a few milliseconds), a crash, or a database that fails the
//! commit, leaves a mail sent but unrecorded, and the redelivery sends it a
//! second time. SMTP has no transaction to join; closing that window would
//! take the receiving side deduplicating by Message-ID, which is why every
//! copy carries the same one.

use mq_reliable::inbox::PgInbox;
use mq_reliable::{Message, Outcome};
use sqlx::PgPool;

use super::WelcomeMail;
use super::smtp::Mailer;

/// What the worker needs.
#[derive(Clone)]
pub struct MailWorker {
    /// The database holding `mail_sent`.
    pub pool: PgPool,
    /// The `mail_sent` inbox.
    pub sent: PgInbox,
    /// The SMTP side.
    pub mailer: Mailer,
}

impl MailWorker {
    /// Sends one welcome mail (see the module docs for the steps).
    #[tracing::instrument(skip_all, fields(user_id = %message.payload().user_id))]
    pub async fn handle(&self, message: Message<WelcomeMail>) -> Result<(), Outcome> {
        let id = message
            .id()
            .ok_or_else(|| Outcome::reject(anyhow::anyhow!("a mail job without a message id")))?;
        if self
            .sent
            .contains(&self.pool, id)
            .await
            .map_err(Outcome::retry)?
        {
            return Ok(());
        }
        let mail = self
            .mailer
            .compose(message.payload())
            .await
            .map_err(Outcome::reject)?;
        let mut tx = self.pool.begin().await.map_err(Outcome::retry)?;
        if !self
            .sent
            .record(&mut tx, &message)
            .await
            .map_err(Outcome::retry)?
        {
            return Ok(());
        }
        self.mailer.deliver(mail).await.map_err(Outcome::retry)?;
        tx.commit().await.map_err(Outcome::retry)?;
        Ok(())
    }
}
