//! Changing a session's id at login, without a window where the user has
//! no session.
//!
//! Session fixation is prevented by giving the session a new id when its
//! privileges change (login). tower-sessions' `Session::cycle_id` deletes
//! the old session first and writes the new one when the response is sent:
//! if that write fails, the user has lost their session. [`cycle_id`] defers
//! the deletion instead: the store's `create` of the new id deletes the old
//! session in the same script, after writing the new one. If the new
//! session is never written (the handler failed, Redis is down), the old
//! one is still there, unchanged.

use tower_sessions_core::Session;
use tower_sessions_core::session::{Error, Id};

tokio::task_local! {
    /// The session id whose deletion the current `cycle_id` defers.
    static DEFERRED: Id;
}

/// Gives `session` a new id (call it on login), deleting the old session
/// only once the new one is saved. Use it instead of `session.cycle_id()`
/// with a [`RedisStore`](crate::RedisStore).
///
/// To also drop what the old session held, call `session.clear()` *after*
/// this, not before: the old session is deleted by its successor's save,
/// which knows it from the record `cycle_id` loads. A `clear()` on a session
/// not yet loaded starts a fresh record instead, and the old session would
/// outlive the login.
///
/// ```no_run
/// # async fn login(session: tower_sessions_core::Session) -> Result<(), tower_sessions_core::session::Error> {
/// session_store::cycle_id(&session).await?;
/// session.insert("user_id", "alice").await?;
/// # Ok(()) }
/// ```
pub async fn cycle_id(session: &Session) -> Result<(), Error> {
    match session.id() {
        Some(old) => DEFERRED.scope(old, session.cycle_id()).await,
        None => session.cycle_id().await,
    }
}

/// Whether the store should skip deleting `id` now (a [`cycle_id`] is in
/// progress on this task).
pub(crate) fn is_deferred(id: &Id) -> bool {
    DEFERRED
        .try_with(|deferred| deferred == id)
        .unwrap_or(false)
}
