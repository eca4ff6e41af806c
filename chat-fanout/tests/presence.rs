//! Presence: members across hubs, join/leave events, expiry by heartbeat.

use std::time::Duration;

use chat_fanout::{Hub, PresenceEvent};
use futures::StreamExt;

const PROMPTLY: Duration = Duration::from_secs(30);

async fn hub(server: &testkit::RedisServer) -> Hub {
    Hub::builder(server.client())
        .presence_ttl(Duration::from_millis(600))
        .build()
        .await
        .unwrap()
}

async fn next_event(events: &mut chat_fanout::Subscription<PresenceEvent>) -> PresenceEvent {
    tokio::time::timeout(PROMPTLY, events.next())
        .await
        .expect("a presence event")
        .expect("open")
        .payload
}

#[tokio::test]
async fn members_join_leave_and_expire() {
    let server = testkit::redis().await;
    let (a, b) = (hub(&server).await, hub(&server).await);
    let mut events = a.presence("room:1").events().await.unwrap();

    let ann = a.presence("room:1").join("ann").await.unwrap();
    let bob = b.presence("room:1").join("bob").await.unwrap();
    assert_eq!(
        a.presence("room:1").members().await.unwrap(),
        ["ann", "bob"]
    );
    assert_eq!(
        next_event(&mut events).await,
        PresenceEvent::Joined { user: "ann".into() }
    );
    assert_eq!(
        next_event(&mut events).await,
        PresenceEvent::Joined { user: "bob".into() }
    );

    // Heartbeats keep a member present well past its ttl.
    let kept = ann.heartbeat_interval() * 6;
    tokio::time::sleep(kept).await; // the duration under test: heartbeats must outlive the ttl
    assert_eq!(
        b.presence("room:1").members().await.unwrap(),
        ["ann", "bob"]
    );

    assert!(ann.leave().await.unwrap());
    assert_eq!(
        next_event(&mut events).await,
        PresenceEvent::Left {
            user: "ann".into(),
            expired: false
        }
    );

    // A member whose process stops heart-beating expires, announced once.
    drop(bob);
    testkit::wait::until(PROMPTLY, "bob to expire", || async {
        a.presence("room:1").members().await.unwrap().is_empty()
    })
    .await;
    assert_eq!(
        next_event(&mut events).await,
        PresenceEvent::Left {
            user: "bob".into(),
            expired: true
        }
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), events.next())
            .await
            .is_err(),
        "no duplicate announcement"
    );
    assert!(!a.presence("room:1").leave("bob").await.unwrap());
}
