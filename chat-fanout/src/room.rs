//! One room on one hub: puts its messages in offset order and hands them to
//! the room's local subscribers.
//!
//! The worker remembers the last offset it delivered. A message from the
//! router is
//!
//! - delivered if it is the next offset;
//! - dropped if it was already delivered (it came from history first);
//! - preceded by the missing messages, read from the room's history, if the
//!   offset jumped (a message was lost on the wire, the router could not
//!   hand it over, or the connection was re-established).
//!
//! After a reconnection, and after the router had to drop a message it could
//! not hand over, the worker also reads history up to the room's head at
//! once: nothing may be published after the lost message, so no jump would
//! reveal the loss.
//!
//! If history cannot fill a gap (trimmed, or a new epoch), strict
//! subscribers (`Disconnect`, `Block`) are closed with
//! [`CloseReason::HistoryLost`] so they can turn to the archive; `DropOldest`
//! subscribers, which accept gaps, go on.
//!
//! A `Block` subscriber whose buffer is full is taken off the live feed; a
//! catch-up task feeds it from history at its own pace and hands it back to
//! the live feed when it has caught up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::envelope::{Position, RawEnvelope};
use crate::policy::{CloseReason, SlowConsumer};
use crate::recovery::{RawRecovery, recover_raw};
use crate::shared::Shared;
use crate::stats::{add, bump};
use crate::subscription::{Mailbox, Offer};

const RETRY_DELAY: Duration = Duration::from_millis(100);

/// Messages to a room worker from the router, subscribers and catch-up tasks.
pub(crate) enum Control {
    /// Attach a subscriber; answer with the position it starts after.
    Attach(Arc<Mailbox>, oneshot::Sender<Position>),
    /// The room's channel is subscribed (first time).
    Subscribed,
    /// The connection was re-established: catch up from history.
    Resubscribed,
    /// The router could not hand over a message: catch up from history.
    CatchUp,
    /// A `Block` subscriber has caught up to `last`.
    CaughtUp { id: u64, last: u64 },
    /// The last local subscriber left.
    Stop,
}

struct Member {
    mailbox: Arc<Mailbox>,
    live: bool,
}

pub(crate) struct RoomWorker {
    shared: Arc<Shared>,
    room: String,
    report: mpsc::UnboundedSender<Control>,
    overflowed: Arc<AtomicBool>,
    last: u64,
    epoch: Arc<str>,
    initialized: bool,
    members: Vec<Member>,
    pending: Vec<(Arc<Mailbox>, oneshot::Sender<Position>)>,
}

impl RoomWorker {
    pub(crate) fn new(
        shared: Arc<Shared>,
        room: String,
        report: mpsc::UnboundedSender<Control>,
        overflowed: Arc<AtomicBool>,
    ) -> Self {
        Self {
            shared,
            room,
            report,
            overflowed,
            last: 0,
            epoch: Arc::from(""),
            initialized: false,
            members: Vec::new(),
            pending: Vec::new(),
        }
    }

    pub(crate) async fn run(
        self,
        input: mpsc::Receiver<Arc<RawEnvelope>>,
        control: mpsc::UnboundedReceiver<Control>,
    ) {
        let span = tracing::debug_span!("room", room = %self.room);
        self.work(input, control).instrument(span).await
    }

    async fn work(
        mut self,
        mut input: mpsc::Receiver<Arc<RawEnvelope>>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let stop = self.shared.stop.clone();
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => {
                    for member in &self.members {
                        member.mailbox.close(CloseReason::HubStopped);
                    }
                    return;
                }
                command = control.recv() => match command {
                    None | Some(Control::Stop) => return,
                    Some(Control::Subscribed) => {
                        if !self.initialized && !self.init().await {
                            return;
                        }
                    }
                    Some(Control::Resubscribed) => {
                        if !self.initialized {
                            if !self.init().await {
                                return;
                            }
                        } else if !self.fill(u64::MAX).await {
                            return;
                        }
                    }
                    Some(Control::CatchUp) => {
                        // Cleared first: an overflow during the fill asks again.
                        self.overflowed.store(false, Ordering::SeqCst);
                        if self.initialized && !self.fill(u64::MAX).await {
                            return;
                        }
                    }
                    Some(Control::Attach(mailbox, reply)) => {
                        if self.initialized {
                            self.attach(mailbox, reply);
                        } else {
                            self.pending.push((mailbox, reply));
                        }
                    }
                    Some(Control::CaughtUp { id, last }) => self.caught_up(id, last),
                },
                message = input.recv(), if self.initialized => match message {
                    Some(message) => {
                        if !self.handle(message).await {
                            return;
                        }
                    }
                    None => return,
                },
            }
        }
    }

    /// Reads the room's position; `false` if the hub stopped meanwhile.
    async fn init(&mut self) -> bool {
        loop {
            match crate::recovery::read_head(&self.shared, &self.room).await {
                Ok(head) => {
                    self.epoch = Arc::from(head.epoch.as_str());
                    self.last = head.offset;
                    self.initialized = true;
                    for (mailbox, reply) in std::mem::take(&mut self.pending) {
                        self.attach(mailbox, reply);
                    }
                    return true;
                }
                Err(error) => {
                    tracing::warn!(%error, "reading the room's position failed; retrying");
                    if !self.pause().await {
                        return false;
                    }
                }
            }
        }
    }

    async fn pause(&self) -> bool {
        tokio::select! {
            _ = self.shared.stop.cancelled() => false,
            _ = tokio::time::sleep(RETRY_DELAY) => true,
        }
    }

    fn attach(&mut self, mailbox: Arc<Mailbox>, reply: oneshot::Sender<Position>) {
        mailbox.set_last_offset(self.last);
        let position = Position {
            offset: self.last,
            epoch: self.epoch.to_string(),
        };
        if reply.send(position).is_ok() {
            self.members.push(Member {
                mailbox,
                live: true,
            });
        }
    }

    /// Handles one message from the router; `false` if the hub stopped.
    async fn handle(&mut self, message: Arc<RawEnvelope>) -> bool {
        if !self.epoch.is_empty() && message.epoch != self.epoch {
            // A new epoch: the room's old history is gone.
            tracing::warn!(old = %self.epoch, new = %message.epoch, "the room's epoch changed");
            bump(&self.shared.counters.history_lost);
            self.history_lost(self.last + 1);
            self.epoch = message.epoch.clone();
            self.last = 0;
        }
        if self.epoch.is_empty() {
            self.epoch = message.epoch.clone();
        }
        if message.offset <= self.last {
            return true;
        }
        if message.offset > self.last + 1 {
            if !self.fill(message.offset - 1).await {
                return false;
            }
            if message.offset <= self.last || message.epoch != self.epoch {
                return true;
            }
        }
        self.deliver(&message);
        true
    }

    /// Reads history until `target` (or the head) is delivered; `false` if
    /// the hub stopped.
    async fn fill(&mut self, target: u64) -> bool {
        loop {
            if self.last >= target {
                return true;
            }
            let page = self.shared.page_size;
            match recover_raw(&self.shared, &self.room, self.last, &self.epoch, page).await {
                Err(error) => {
                    tracing::warn!(%error, "reading the room's history failed; retrying");
                    if !self.pause().await {
                        return false;
                    }
                }
                Ok(RawRecovery::Page {
                    messages,
                    more,
                    head,
                }) => {
                    if self.epoch.is_empty() {
                        self.epoch = Arc::from(head.epoch.as_str());
                    }
                    let empty = messages.is_empty();
                    for message in messages {
                        if message.offset > self.last {
                            bump(&self.shared.counters.gaps_filled);
                            self.deliver(&message);
                        }
                    }
                    if !more || empty {
                        return true;
                    }
                }
                Ok(RawRecovery::Incomplete { from, epoch }) => {
                    tracing::warn!(
                        missing_from = self.last + 1,
                        from,
                        "history cannot fill the gap"
                    );
                    bump(&self.shared.counters.history_lost);
                    self.history_lost(self.last + 1);
                    self.epoch = Arc::from(epoch.as_str());
                    if epoch.is_empty() {
                        self.last = 0;
                        return true;
                    }
                    self.last = from - 1;
                }
            }
        }
    }

    /// Closes strict subscribers: messages from `missing_from` are lost.
    fn history_lost(&mut self, missing_from: u64) {
        let epoch = self.epoch.to_string();
        self.members.retain(|member| {
            if member.mailbox.policy == SlowConsumer::DropOldest {
                return true;
            }
            member.mailbox.close(CloseReason::HistoryLost {
                missing_from,
                epoch: epoch.clone(),
            });
            false
        });
    }

    fn deliver(&mut self, message: &Arc<RawEnvelope>) {
        let counters = &self.shared.counters;
        let mut delivered = 0;
        let mut catch_up = Vec::new();
        self.members.retain_mut(|member| {
            if !member.live {
                return member.mailbox.is_open();
            }
            if message.offset <= member.mailbox.last_offset() {
                return true;
            }
            match member.mailbox.offer(message) {
                Offer::Queued => {
                    delivered += 1;
                    true
                }
                Offer::DroppedOldest => {
                    delivered += 1;
                    bump(&counters.dropped);
                    true
                }
                Offer::Full => {
                    member.live = false;
                    bump(&counters.catch_ups);
                    catch_up.push(member.mailbox.clone());
                    true
                }
                Offer::Disconnected => {
                    bump(&counters.disconnected_slow);
                    false
                }
                Offer::Closed => false,
            }
        });
        add(&counters.delivered, delivered);
        self.last = message.offset;
        for mailbox in catch_up {
            self.spawn_catch_up(mailbox);
        }
    }

    fn spawn_catch_up(&self, mailbox: Arc<Mailbox>) {
        let span = tracing::debug_span!("catch_up", room = %self.room);
        tokio::spawn(
            catch_up(
                self.shared.clone(),
                self.room.clone(),
                self.epoch.to_string(),
                mailbox,
                self.report.clone(),
            )
            .instrument(span),
        );
    }

    fn caught_up(&mut self, id: u64, last: u64) {
        let Some(index) = self.members.iter().position(|m| m.mailbox.id == id) else {
            return;
        };
        let mailbox = self.members[index].mailbox.clone();
        if !mailbox.is_open() {
            self.members.swap_remove(index);
        } else if last >= self.last {
            self.members[index].live = true;
        } else {
            self.spawn_catch_up(mailbox);
        }
    }
}

/// Feeds a `Block` subscriber from history until it reaches the head, then
/// reports back to the room worker.
async fn catch_up(
    shared: Arc<Shared>,
    room: String,
    epoch: String,
    mailbox: Arc<Mailbox>,
    report: mpsc::UnboundedSender<Control>,
) {
    let mut last = mailbox.last_offset();
    let done = |last| {
        let _ = report.send(Control::CaughtUp {
            id: mailbox.id,
            last,
        });
    };
    loop {
        match recover_raw(&shared, &room, last, &epoch, shared.page_size).await {
            Ok(RawRecovery::Page { messages, more, .. }) => {
                let empty = messages.is_empty();
                for message in messages {
                    if !mailbox.push_waiting(&message).await {
                        done(last);
                        return;
                    }
                    last = message.offset;
                    bump(&shared.counters.gaps_filled);
                    bump(&shared.counters.delivered);
                }
                if !more || empty {
                    done(last);
                    return;
                }
            }
            Ok(RawRecovery::Incomplete { .. }) => {
                bump(&shared.counters.history_lost);
                mailbox.close(CloseReason::HistoryLost {
                    missing_from: last + 1,
                    epoch,
                });
                done(last);
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "catching up from history failed; retrying");
                tokio::select! {
                    _ = shared.stop.cancelled() => return,
                    _ = tokio::time::sleep(RETRY_DELAY) => {}
                }
            }
        }
    }
}
