//! Every store operation runs in its own `session.*` span, and no span or
//! event carries a session id (a logged-in user's bearer credential).

use std::io::Write;
use std::sync::{Arc, Mutex};

use session_store::RedisStore;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tracing_subscriber::fmt::format::FmtSpan;

/// Collects everything the fmt subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_operation_has_its_span_and_no_session_id_is_logged() {
    let server = testkit::redis().await;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::NEW)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let store = RedisStore::builder(server.client())
        .user_key("user_id")
        .build()
        .unwrap();
    let mut record = Record {
        id: Id::default(),
        data: [("user_id".to_string(), serde_json::json!("ann"))].into(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::minutes(30),
    };
    store.create(&mut record).await.unwrap();
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    store.save(&loaded).await.unwrap();
    store.touch(&record.id).await.unwrap();
    store.user_of(&record.id).await.unwrap();
    store.bind_user(&record.id, "ann").await.unwrap();
    store.sessions_of("ann").await.unwrap();
    store.revoke_all("ann").await.unwrap();
    store.delete(&record.id).await.unwrap();

    let text = captured.text();
    for span in [
        "session.create",
        "session.load",
        "session.save",
        "session.touch",
        "session.user_of",
        "session.bind",
        "session.list",
        "session.revoke",
        "session.delete",
    ] {
        assert!(text.contains(span), "no {span} span in:\n{text}");
    }
    assert!(
        text.contains("user_id=\"ann\"") || text.contains("user_id=ann"),
        "{text}"
    );
    assert!(
        !text.contains(&record.id.to_string()),
        "a session id was logged:\n{text}"
    );
}
