//! A real SMTP server on this machine that keeps every mail it accepts, to
//! count them: aiosmtpd (Debian's `python3-aiosmtpd`) with its `Mailbox`
//! handler, writing one file per mail into a Maildir.
//!
//! Each [`SmtpSink`] is its own server process on a free port with its own
//! Maildir in a temporary directory, so tests running in parallel never see
//! each other's mails. `scripts/dev-services up smtp` runs the same server
//! for `serve` on `SMTP_URL`'s port 2525.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sink = live_commerce::mail::sink::SmtpSink::start().await?;
//! // … point SMTP_URL at sink.url() and send …
//! for mail in sink.received().await? {
//!     println!("{:?} to {:?}", mail.message_id, mail.to);
//! }
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;

/// The Python that Debian's `python3-aiosmtpd` installs into.
const DEBIAN_PYTHON: &str = "/usr/bin/python3";
/// How long the server may take to listen.
const START_PATIENCE: Duration = Duration::from_secs(30);
/// What to run when the server is missing.
pub const INSTALL_HINT: &str = "apt-get install python3-aiosmtpd (scripts/dev-services up smtp)";

/// A running SMTP server that records what it receives; stopped (killed)
/// when dropped, its Maildir removed.
pub struct SmtpSink {
    child: tokio::process::Child,
    port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

/// One mail as the sink stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The `Message-ID` header.
    pub message_id: Option<String>,
    /// The `To` header.
    pub to: Option<String>,
    /// The `Subject` header.
    pub subject: Option<String>,
}

impl SmtpSink {
    /// Starts a server on a free port of 127.0.0.1 (a few tries, should a
    /// port be taken between choosing and binding it).
    pub async fn start() -> anyhow::Result<Self> {
        let mut last_error = None;
        for _ in 0..3 {
            match Self::try_start().await {
                Ok(sink) => return Ok(sink),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("tried at least once"))
    }

    async fn try_start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("smtp-sink-").tempdir()?;
        let maildir = dir.path().join("maildir");
        let log = dir.path().join("aiosmtpd.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let python = if Path::new(DEBIAN_PYTHON).exists() {
            DEBIAN_PYTHON
        } else {
            "python3"
        };
        let mut command = tokio::process::Command::new(python);
        command
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("starting {python} -m aiosmtpd ({INSTALL_HINT})"))?;
        let mut sink = Self {
            child,
            port,
            maildir,
            _dir: dir,
        };
        sink.wait_until_listening(&log).await?;
        Ok(sink)
    }

    async fn wait_until_listening(&mut self, log: &Path) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + START_PATIENCE;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            let exited = self.child.try_wait()?;
            if exited.is_some() || tokio::time::Instant::now() >= deadline {
                let output = tokio::fs::read_to_string(log).await.unwrap_or_default();
                anyhow::bail!(
                    "the SMTP sink (aiosmtpd) did not listen on 127.0.0.1:{} ({}); \
                     its output: {output}; install it with: {INSTALL_HINT}",
                    self.port,
                    exited.map_or("still starting".to_string(), |status| status.to_string()),
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `smtp://127.0.0.1:<port>`, for `SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail accepted so far (each written whole before it is listed:
    /// the Maildir moves a finished file into `new/`).
    pub async fn received(&self) -> anyhow::Result<Vec<ReceivedMail>> {
        let maildir = self.maildir.clone();
        tokio::task::spawn_blocking(move || read_maildir(&maildir)).await?
    }
}

fn read_maildir(maildir: &Path) -> anyhow::Result<Vec<ReceivedMail>> {
    let mut mails = Vec::new();
    for folder in ["new", "cur"] {
        let entries = match std::fs::read_dir(maildir.join(folder)) {
            Ok(entries) => entries,
            // No mail yet: aiosmtpd makes the Maildir at the first one.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error.into()),
        };
        for entry in entries {
            let bytes = std::fs::read(entry?.path())?;
            mails.push(parse_headers(&String::from_utf8_lossy(&bytes)));
        }
    }
    Ok(mails)
}

/// The headers of a stored mail that the counting needs (names compared
/// without case, folded lines unfolded, up to the blank line).
pub fn parse_headers(text: &str) -> ReceivedMail {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.clone())
    };
    ReceivedMail {
        message_id: field("message-id"),
        to: field("to"),
        subject: field("subject"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_without_case_and_unfolded() {
        let mail = parse_headers(
            "message-ID: <a@b>\r\nTo: ann@example.com\r\nSubject: Hello\r\n  again\r\n\r\n\
             Message-ID: <not-a-header@body>\r\n",
        );
        assert_eq!(mail.message_id.as_deref(), Some("<a@b>"));
        assert_eq!(mail.to.as_deref(), Some("ann@example.com"));
        assert_eq!(mail.subject.as_deref(), Some("Hello again"));
        assert_eq!(parse_headers("\r\nTo: x@y.z\r\n").to, None);
    }
}
