//! The welcome mail a sign-up sends, three ways: not at all, in process
//! (Spring's `@Async`), or through RabbitMQ.
//!
//! Composing the mail is slow (`--welcome-mail-delay`, 3 s in the original
//! experiment), so the sign-up answers first and the mail follows. Where
//! the mail waits during those seconds decides what a crash does to it:
//!
//! ```text
//!  in-process:  POST /signup ─ commit ─ 201 ─► tokio::spawn(compose 3 s ─► SMTP)
//!               kill -9 during the 3 s: the task dies with the process. Lost.
//!
//!  mq:          POST /signup ─ INSERT account + outbox row, one commit ─ 201
//!               relay ─► RabbitMQ mail.welcome ─► worker: compose 3 s,
//!               record in mail_sent, SMTP accepted, commit, ack
//!               kill -9 anywhere: the row (not yet published) or the
//!               message (not yet acknowledged) is still there; after the
//!               restart the mail is sent.
//! ```
//!
//! Every welcome mail carries a Message-ID derived from the account
//! ([`message_id`]), so whoever receives it can tell a duplicate from a new
//! mail; `live-commerce experiment async-vs-mq` counts lost and duplicated
//! mails that way.
//!
//! | file | what it is |
//! |---|---|
//! | [`smtp`] | the [`Mailer`](smtp::Mailer): compose (the slow step), deliver over SMTP |
//! | [`in_process`] | the `@Async` way: a spawned task after the commit |
//! | [`queue`] | the RabbitMQ way: topology, the outbox row, the relay |
//! | [`worker`] | consumes `mail.welcome`, sends once per account where it can |
//! | [`signup`] | what the sign-up handler calls, whichever the mode |
//! | [`service`] | what a process serving auth starts for its mode |
//! | [`sink`] | a local SMTP server that keeps every mail, for the experiment and tests |

pub mod in_process;
pub mod queue;
pub mod service;
pub mod signup;
pub mod sink;
pub mod smtp;
pub mod worker;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How long composing a welcome mail takes unless `--welcome-mail-delay`
/// says otherwise (the original experiment's 3 s).
pub const DEFAULT_DELAY: Duration = Duration::from_secs(3);

/// The domain of the welcome mails' sender and Message-IDs.
pub const MAIL_DOMAIN: &str = "live-commerce.example";

/// How a sign-up's welcome mail is sent (`serve --welcome-mail`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// No welcome mail (the default: load tests sign thousands up).
    #[default]
    Off,
    /// A tokio task spawned after the account is created (`@Async`).
    InProcess,
    /// An outbox row in the sign-up's transaction, relayed to RabbitMQ and
    /// sent by the mail worker, acknowledged after the SMTP server took it.
    Mq,
}

impl Mode {
    /// The mode as `--welcome-mail` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::InProcess => "in-process",
            Mode::Mq => "mq",
        }
    }
}

/// The job: welcome this account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WelcomeMail {
    /// The new account.
    pub user_id: Uuid,
    /// Where the mail goes.
    pub email: String,
}

/// The Message-ID of `user_id`'s welcome mail: the same for every attempt,
/// so a second copy is recognisable as one.
///
/// ```
/// let id = uuid::Uuid::nil();
/// assert_eq!(
///     live_commerce::mail::message_id(id),
///     "<welcome.00000000-0000-0000-0000-000000000000@live-commerce.example>"
/// );
/// ```
pub fn message_id(user_id: Uuid) -> String {
    format!("<welcome.{user_id}@{MAIL_DOMAIN}>")
}
