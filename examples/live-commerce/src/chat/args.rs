//! The chat's command-line settings (`serve --chat-…`).

use chat_fanout::ws::RateLimit;

use super::ChatSettings;

/// `serve`'s chat flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ChatArgs {
    /// Messages each chat room keeps in Redis; older ones are read from
    /// the archive (chat).
    #[arg(long, default_value_t = 10_000)]
    pub chat_history: usize,
    /// Chat messages a user may send per second (chat).
    #[arg(long, default_value_t = 5.0)]
    pub chat_rate: f64,
    /// Chat messages a user may send at once after a quiet spell (chat).
    #[arg(long, default_value_t = 20)]
    pub chat_burst: u32,
    /// The Kafka topic chat messages are archived through (worker, all);
    /// `none` runs no archive.
    #[arg(long, env = "CHAT_ARCHIVE_TOPIC", default_value = "chat-archive")]
    pub chat_archive_topic: String,
}

impl ChatArgs {
    /// The sockets' settings.
    pub fn settings(&self) -> ChatSettings {
        ChatSettings {
            history: self.chat_history,
            rate: RateLimit::new(self.chat_rate, self.chat_burst),
            ..ChatSettings::default()
        }
    }

    /// The archive topic, unless `none`.
    pub fn archive_topic(&self) -> Option<String> {
        (self.chat_archive_topic != "none").then(|| self.chat_archive_topic.clone())
    }
}
