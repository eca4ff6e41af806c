//! The `@Async` way: the sign-up spawns a task and answers; the task
//! composes and sends the mail.
//!
//! Nothing outside the process knows the task exists. A `kill -9` (an OOM
//! kill, a deploy that does not drain, a crash in another task's code)
//! during the compose step drops it, and no one ever sends that mail: the
//! restarted process has no record that it was owed. A graceful shutdown
//! does not help either unless it waits for every such task, and nothing
//! here tracks them. The experiment `async-vs-mq` shows the loss.

use super::WelcomeMail;
use super::smtp::Mailer;

/// Spawns the sending of `mail` and returns at once. A failed send is
/// logged, and that is all: there is no retry.
pub fn spawn(mailer: Mailer, mail: WelcomeMail) {
    tokio::spawn(async move {
        if let Err(error) = mailer.send(&mail).await {
            tracing::error!(user_id = %mail.user_id, error = format!("{error:#}"),
                "welcome mail not sent (in-process: it will not be retried)");
        }
    });
}
