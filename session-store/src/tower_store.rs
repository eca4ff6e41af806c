//! [`RedisStore`] as a tower-sessions [`SessionStore`].

use async_trait::async_trait;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{self, SessionStore};

use crate::cycle;
use crate::store::RedisStore;

#[async_trait]
impl SessionStore for RedisStore {
    /// Creates the session with `NX` semantics: on an id collision a new id
    /// is drawn, never an existing session overwritten.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        Ok(self.create_record(record).await?)
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        Ok(self.save_record(record).await?)
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        Ok(self.load_record(session_id).await?)
    }

    /// Deletes the session, except inside [`crate::cycle_id`], where the old
    /// session is deleted by the `create` of its successor instead.
    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        if cycle::is_deferred(session_id) {
            return Ok(());
        }
        self.delete_session(session_id).await?;
        Ok(())
    }
}
