//! What the sign-up handler calls for the welcome mail, whichever the mode:
//! [`enqueue`](WelcomeMails::enqueue) inside the account's transaction,
//! [`after_commit`](WelcomeMails::after_commit) once it committed.

use mq_reliable::outbox::Outbox;
use sqlx::PgConnection;

use super::smtp::Mailer;
use super::{WelcomeMail, in_process, queue};
use crate::auth::accounts::Account;

/// The sign-up's side of the welcome mail.
#[derive(Clone, Default)]
pub enum WelcomeMails {
    /// No mail.
    #[default]
    Off,
    /// Spawn a task after the commit.
    InProcess(Mailer),
    /// An outbox row in the account's transaction.
    Queued(Outbox),
}

impl WelcomeMails {
    /// Queued mode: enqueues the mail on `tx`, the transaction creating
    /// `account`. The other modes do nothing here.
    pub async fn enqueue(
        &self,
        tx: &mut PgConnection,
        account: &Account,
    ) -> mq_reliable::Result<()> {
        match self {
            WelcomeMails::Queued(outbox) => queue::enqueue(outbox, tx, &job(account)).await,
            _ => Ok(()),
        }
    }

    /// In-process mode: spawns the sending, once the account is committed.
    /// The other modes do nothing here.
    pub fn after_commit(&self, account: &Account) {
        if let WelcomeMails::InProcess(mailer) = self {
            in_process::spawn(mailer.clone(), job(account));
        }
    }
}

fn job(account: &Account) -> WelcomeMail {
    WelcomeMail {
        user_id: account.user_id,
        email: account.email.clone(),
    }
}
