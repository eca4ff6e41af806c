//! Publishing with a correlation id, a priority, a per-message TTL and
//! headers, without lapin types, against a real RabbitMQ.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Order, PROMPTLY, broker, spawn_consumer};
use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use mq_reliable::amqp::PublishOptions;
use mq_reliable::{Error, Message, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_sees_the_ids_and_headers_the_publisher_set() {
    let (_vhost, mq) = broker().await;
    let consumer = mq.consumer("requests").build().await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (_consumer, _task) = spawn_consumer(consumer, {
        let seen = seen.clone();
        move |msg: Message<Order>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push((
                    msg.id().map(str::to_string),
                    msg.correlation_id().map(str::to_string),
                    msg.header("tenant").map(str::to_string),
                ));
                Ok::<(), Outcome>(())
            }
        }
    });
    let publisher = mq.publisher().build().await.unwrap();
    let options = PublishOptions::new()
        .message_id("m-1")
        .correlation_id("request-9")
        .header("tenant", "acme");
    publisher
        .publish_with("", "requests", &Order::new(1), &options)
        .await
        .unwrap();
    testkit::wait::until(PROMPTLY, "the message to be handled", || async {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    let expected = (
        Some("m-1".to_string()),
        Some("request-9".to_string()),
        Some("acme".to_string()),
    );
    assert_eq!(seen.lock().unwrap()[0], expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_and_ttl_reach_the_wire_and_reserved_headers_are_refused() {
    let (vhost, mq) = broker().await;
    let connection = lapin::Connection::connect(&vhost.url(), Default::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut arguments = FieldTable::default();
    arguments.insert("x-max-priority".into(), AMQPValue::ShortShortUInt(9));
    channel
        .queue_declare("raw".into(), QueueDeclareOptions::default(), arguments)
        .await
        .unwrap();
    let publisher = mq.publisher().build().await.unwrap();
    let options = PublishOptions::new()
        .priority(7)
        .ttl(Duration::from_secs(60));
    publisher
        .publish_with("", "raw", &Order::new(2), &options)
        .await
        .unwrap();
    let got = channel
        .basic_get("raw".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("the message is in the queue");
    let properties = &got.delivery.properties;
    assert_eq!(*properties.priority(), Some(7));
    assert_eq!(
        properties.expiration().as_ref().map(|e| e.as_str()),
        Some("60000")
    );
    assert!(
        properties.message_id().is_some(),
        "a new id when none is given"
    );

    let forged = PublishOptions::new().header("x-attempt", "1");
    let refused = publisher
        .publish_with("", "raw", &Order::new(3), &forged)
        .await;
    assert!(matches!(refused, Err(Error::Config(_))), "{refused:?}");
}
