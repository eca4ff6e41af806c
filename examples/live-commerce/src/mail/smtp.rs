//! Sending a welcome mail over SMTP with lettre.
//!
//! A send is two steps: [`compose`](Mailer::compose), the slow one (a
//! template service, a few seconds here by `--welcome-mail-delay`), and
//! [`deliver`](Mailer::deliver), the SMTP exchange, done when the server
//! answered `250` to the message. The worker keeps them apart so it holds a
//! database transaction only around the exchange.
//!
//! `SMTP_URL` is lettre's URL form: `smtp://host:port` (plain, for a relay
//! on this machine), `smtp://host:587?tls=required` (STARTTLS) or
//! `smtps://host:465`, optionally with `user:password@`.

use std::time::Duration;

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{MAIL_DOMAIN, WelcomeMail, message_id};

/// How long one SMTP exchange may take before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Composes and sends welcome mails; cheap to clone (one connection pool).
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    delay: Duration,
}

impl Mailer {
    /// A mailer sending through `smtp_url`, taking `delay` to compose each
    /// mail. Connects lazily, at the first send.
    pub fn new(smtp_url: &str, delay: Duration) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .with_context(|| format!("SMTP_URL {}", crate::config::redact(smtp_url)))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = format!("live-commerce <welcome@{MAIL_DOMAIN}>").parse()?;
        Ok(Self {
            transport,
            from,
            delay,
        })
    }

    /// The slow step: waits the configured delay, then builds the mail.
    /// Fails only for an address the SMTP world cannot take (permanent).
    pub async fn compose(&self, mail: &WelcomeMail) -> anyhow::Result<Message> {
        tokio::time::sleep(self.delay).await;
        let to: Mailbox = mail
            .email
            .parse()
            .with_context(|| format!("the address {:?}", mail.email))?;
        Ok(Message::builder()
            .message_id(Some(message_id(mail.user_id)))
            .from(self.from.clone())
            .to(to)
            .subject("Welcome to live-commerce")
            .header(ContentType::TEXT_PLAIN)
            .body(format!(
                "Welcome! Your account {} is ready.\n",
                mail.user_id
            ))?)
    }

    /// Hands `message` to the SMTP server; `Ok` once it accepted it.
    pub async fn deliver(&self, message: Message) -> anyhow::Result<()> {
        self.transport
            .send(message)
            .await
            .context("the SMTP server did not accept the mail")?;
        Ok(())
    }

    /// [`compose`](Self::compose), then [`deliver`](Self::deliver).
    #[tracing::instrument(skip_all, fields(user_id = %mail.user_id))]
    pub async fn send(&self, mail: &WelcomeMail) -> anyhow::Result<()> {
        let message = self.compose(mail).await?;
        self.deliver(message).await
    }
}
