//! Catching a socket up: from Redis history, and past it from the archive.
//!
//! A client that reconnects with the last `(offset, epoch)` it saw is sent
//! everything after it before the live feed (see [`Hub::recover`]):
//!
//! 1. Redis history, page by page, while it reaches back far enough.
//! 2. When it does not ([`Recovery::Incomplete`]: trimmed, or the room's
//!    epoch changed), the bridge's [`ArchiveSource`] (for instance
//!    [`PgArchive`](crate::archive::PgArchive)) serves the missing offsets:
//!    the rest of the client's old epoch, then the current epoch up to the
//!    oldest message Redis still holds. The archive lags the room by the
//!    relay's and archiver's delay, so a page that stops short is read again
//!    until [`archive_wait`](super::WsBridge::archive_wait) runs out.
//! 3. Only what neither holds is reported: an `incomplete` frame with the
//!    offset from which the client is whole again.
//!
//! Worked trace: history keeps offsets 901..=1000 of epoch `e1`; a client
//! resumes after 120 of `e1`. Redis answers `Incomplete { from: 901 }`; the
//! archive sends 121..=900 in pages of 500; Redis then sends 901..=1000;
//! `live` follows. The client saw every offset once, in order.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::SinkExt;
use futures::stream::SplitSink;
use serde_json::Value;

use super::frames::Frame;
use crate::envelope::Position;
use crate::hub::Hub;
use crate::recovery::Recovery;

/// Messages per page read from history or the archive.
const PAGE: usize = 500;
/// Pause between two reads of an archive that has not caught up yet.
const ARCHIVE_RETRY: Duration = Duration::from_millis(100);

/// Future of one archive page.
pub type PageFuture<'a> =
    Pin<Box<dyn Future<Output = crate::Result<Vec<(u64, Value)>>> + Send + 'a>>;

/// Where a socket reads what Redis history no longer holds.
pub trait ArchiveSource: Send + Sync + 'static {
    /// Up to `limit` archived messages of `room`'s `epoch` after offset
    /// `after`, in offset order, as `(offset, payload)`.
    fn page<'a>(
        &'a self,
        room: &'a str,
        epoch: &'a str,
        after: u64,
        limit: usize,
    ) -> PageFuture<'a>;
}

#[cfg(feature = "kafka")]
impl ArchiveSource for crate::archive::PgArchive {
    fn page<'a>(
        &'a self,
        room: &'a str,
        epoch: &'a str,
        after: u64,
        limit: usize,
    ) -> PageFuture<'a> {
        Box::pin(async move {
            let page = self.read(room, epoch, after, limit).await?;
            page.messages
                .into_iter()
                .map(|message| {
                    let payload = serde_json::from_str(&message.payload).map_err(|error| {
                        crate::Error::Codec {
                            room: room.to_string(),
                            reason: format!("archived offset {}: {error}", message.offset),
                        }
                    })?;
                    Ok((message.offset, payload))
                })
                .collect()
        })
    }
}

/// Why catching up stopped early.
pub(crate) enum Stop {
    /// The client went away.
    Gone,
    /// Redis or the archive failed.
    Unavailable(crate::Error),
}

/// The socket's sending half.
pub(crate) type Out = SplitSink<WebSocket, Message>;

/// The catch-up of one socket.
pub(crate) struct CatchUp<'b> {
    pub(crate) hub: &'b Hub,
    pub(crate) archive: Option<&'b dyn ArchiveSource>,
    pub(crate) archive_wait: Duration,
    pub(crate) room: &'b str,
}

impl CatchUp<'_> {
    /// Sends everything after `since` and returns the position reached.
    pub(crate) async fn run(&self, since: Position, out: &mut Out) -> Result<Position, Stop> {
        let mut at = since;
        loop {
            let recovery = self
                .hub
                .recover::<Value>(self.room, at.offset, &at.epoch, PAGE);
            match recovery.await.map_err(Stop::Unavailable)? {
                Recovery::Page {
                    messages,
                    more,
                    head,
                } => {
                    for message in &messages {
                        emit(out, message.offset, &message.epoch, &message.payload).await?;
                    }
                    at.offset = messages.last().map_or(at.offset, |m| m.offset);
                    at.epoch = head.epoch;
                    if !more {
                        return Ok(at);
                    }
                }
                Recovery::Incomplete { from, epoch } => {
                    let whole = self.fill_from_archive(&mut at, from, &epoch, out).await?;
                    if !whole
                        && out
                            .send(
                                Frame::Incomplete {
                                    from,
                                    epoch: &epoch,
                                }
                                .text(),
                            )
                            .await
                            .is_err()
                    {
                        return Err(Stop::Gone);
                    }
                    if epoch.is_empty() {
                        return Ok(at);
                    }
                    at = Position {
                        offset: from - 1,
                        epoch,
                    };
                }
            }
        }
    }

    /// Fills what Redis lacks from the archive: the rest of the client's
    /// old epoch, then `epoch` up to `from - 1`. Returns whether nothing is
    /// missing.
    async fn fill_from_archive(
        &self,
        at: &mut Position,
        from: u64,
        epoch: &str,
        out: &mut Out,
    ) -> Result<bool, Stop> {
        let Some(archive) = self.archive else {
            return Ok(false);
        };
        if !at.epoch.is_empty() && at.epoch != epoch {
            // Another epoch: its archive is complete, read to its end.
            let old = at.epoch.clone();
            self.pages(archive, &old, at.offset, u64::MAX, out).await?;
            *at = Position {
                offset: 0,
                epoch: epoch.to_string(),
            };
        }
        if epoch.is_empty() || from <= 1 {
            return Ok(true);
        }
        at.epoch = epoch.to_string();
        let deadline = tokio::time::Instant::now() + self.archive_wait;
        loop {
            at.offset = self.pages(archive, epoch, at.offset, from - 1, out).await?;
            if at.offset >= from - 1 {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(ARCHIVE_RETRY).await;
        }
    }

    /// Sends the archived messages of `epoch` after `after`, consecutive
    /// offsets only, up to `last`; returns the last offset sent.
    async fn pages(
        &self,
        archive: &dyn ArchiveSource,
        epoch: &str,
        mut after: u64,
        last: u64,
        out: &mut Out,
    ) -> Result<u64, Stop> {
        while after < last {
            let want = usize::try_from(last - after).unwrap_or(PAGE).min(PAGE);
            let page = archive.page(self.room, epoch, after, want).await;
            let page = page.map_err(Stop::Unavailable)?;
            let full = page.len() == want;
            for (offset, payload) in page {
                if offset != after + 1 {
                    return Ok(after); // a hole: not archived (yet)
                }
                emit(out, offset, epoch, &payload).await?;
                after = offset;
            }
            if !full {
                break;
            }
        }
        Ok(after)
    }
}

async fn emit(out: &mut Out, offset: u64, epoch: &str, payload: &Value) -> Result<(), Stop> {
    let frame = Frame::Message {
        offset,
        epoch,
        payload,
    };
    out.send(frame.text()).await.map_err(|_| Stop::Gone)
}
