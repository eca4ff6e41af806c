//! What happens to a subscriber that reads slower than its room is written.
//!
//! Every local subscriber has its own bounded buffer. The hub never waits for
//! a subscriber: when a buffer is full, the subscription's policy decides.
//!
//! | policy | when the buffer is full | use it for |
//! |---|---|---|
//! | [`SlowConsumer::Disconnect`] (default) | the subscription is closed with [`CloseReason::SlowConsumer`] once its buffer is drained; the client resumes by offset ([`Hub::recover`](crate::Hub::recover)) | chat: nothing is skipped silently |
//! | [`SlowConsumer::DropOldest`] | the oldest buffered message is dropped (the subscriber sees the offset jump) | typing indicators, presence, live counters |
//! | [`SlowConsumer::Block`] | the subscriber is detached from the live feed and reads the room's history at its own pace, then rejoins the live feed; closed with [`CloseReason::HistoryLost`] only if it falls further behind than the history | internal consumers that must see everything |
//!
//! In every case the other subscribers of the room, and every other room,
//! go on at full speed: a slow subscriber costs only itself.

/// The slow-consumer policy of one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowConsumer {
    /// Close the subscription (with [`CloseReason::SlowConsumer`]).
    #[default]
    Disconnect,
    /// Drop the oldest buffered message to make room.
    DropOldest,
    /// Never skip a message: catch up from the room's history.
    Block,
}

/// Options of one subscription ([`Hub::subscribe_with`](crate::Hub::subscribe_with)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeOptions {
    pub(crate) policy: SlowConsumer,
    pub(crate) capacity: usize,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        Self {
            policy: SlowConsumer::Disconnect,
            capacity: 1024,
        }
    }
}

impl SubscribeOptions {
    /// Defaults: [`SlowConsumer::Disconnect`], a buffer of 1,024 messages.
    pub fn new() -> Self {
        Self::default()
    }

    /// The slow-consumer policy.
    pub fn policy(mut self, policy: SlowConsumer) -> Self {
        self.policy = policy;
        self
    }

    /// How many messages may wait for the subscriber (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }
}

/// Why a subscription ended (its stream returned `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// A [`SlowConsumer::Disconnect`] subscriber fell `capacity` messages
    /// behind. Everything up to `last_offset` was delivered; resume with
    /// [`Hub::recover`](crate::Hub::recover) from there.
    SlowConsumer {
        /// The last offset delivered.
        last_offset: u64,
    },
    /// The room's history no longer holds messages this subscriber has not
    /// seen (trimmed, or the epoch changed because Redis lost the room).
    /// Messages from `missing_from` on may be missing: read them from the
    /// archive, then recover or subscribe again.
    HistoryLost {
        /// The first offset that could not be delivered.
        missing_from: u64,
        /// The epoch it belonged to.
        epoch: String,
    },
    /// A message could not be decoded as the subscription's type.
    Undecodable {
        /// The offset of the message.
        offset: u64,
        /// serde_json's complaint.
        reason: String,
    },
    /// The hub was dropped.
    HubStopped,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::SlowConsumer { last_offset } => {
                write!(f, "slow consumer (last offset {last_offset})")
            }
            CloseReason::HistoryLost {
                missing_from,
                epoch,
            } => write!(
                f,
                "history lost from offset {missing_from} of epoch {epoch}"
            ),
            CloseReason::Undecodable { offset, reason } => {
                write!(f, "message {offset} undecodable: {reason}")
            }
            CloseReason::HubStopped => write!(f, "hub stopped"),
        }
    }
}
