//! RabbitMQ fixtures: a private vhost per test on the shared broker, forced
//! connection closes, and a private node that can be stopped, killed and restarted.

use std::time::Duration;

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

async fn connect(url: &str) -> Connection {
    Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

async fn declare_durable(channel: &Channel, queue: &str) {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
}

async fn publish_persistent(channel: &Channel, queue: &str, body: &[u8]) {
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap();
    confirm.await.expect("broker confirms the publish");
}

#[tokio::test]
async fn vhosts_isolate_tests_from_each_other() {
    let first = testkit::rabbitmq().await;
    let second = testkit::rabbitmq().await;
    assert_ne!(first.name(), second.name());

    let channel = connect(&first.url()).await.create_channel().await.unwrap();
    declare_durable(&channel, "orders").await;

    let other = connect(&second.url()).await.create_channel().await.unwrap();
    let passive = other
        .queue_declare(
            "orders".into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    assert!(
        passive.is_err(),
        "a queue of one vhost is invisible in another"
    );
}

#[tokio::test]
async fn close_connections_closes_this_vhosts_connections_only() {
    let mine = testkit::rabbitmq().await;
    let bystander = testkit::rabbitmq().await;
    let connection = connect(&mine.url()).await;
    let other = connect(&bystander.url()).await;

    mine.close_connections().await.unwrap();
    testkit::wait::until(
        Duration::from_secs(10),
        "the connection to be closed by the broker",
        || async { !connection.status().connected() },
    )
    .await;
    assert!(
        other.status().connected(),
        "another vhost's connection is untouched"
    );
    assert!(other.create_channel().await.is_ok());
}

#[tokio::test]
async fn a_private_node_keeps_durable_messages_across_restart_and_crash() {
    let node = testkit::rabbitmq_node().await;
    let channel = connect(&node.url()).await.create_channel().await.unwrap();
    declare_durable(&channel, "jobs").await;
    publish_persistent(&channel, "jobs", b"first").await;
    publish_persistent(&channel, "jobs", b"second").await;

    // A clean restart: the client connection is closed by the broker.
    let connection = connect(&node.url()).await;
    node.restart().await.unwrap();
    assert!(!connection.status().connected());

    // A crash (SIGKILL), then a start on the same port.
    node.kill().await.unwrap();
    let refused = Connection::connect(&node.url(), ConnectionProperties::default()).await;
    assert!(refused.is_err(), "a killed node refuses connections");
    node.start().await.unwrap();

    let channel = connect(&node.url()).await.create_channel().await.unwrap();
    let mut bodies = Vec::new();
    while let Some(message) = channel
        .basic_get("jobs".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        bodies.push(String::from_utf8(message.delivery.data.clone()).unwrap());
    }
    assert_eq!(
        bodies,
        ["first", "second"],
        "confirmed persistent messages survive"
    );
}

#[tokio::test]
async fn a_private_node_closes_its_connections_on_request() {
    let node = testkit::rabbitmq_node().await;
    let connection = connect(&node.url()).await;
    node.close_connections().await.unwrap();
    testkit::wait::until(
        Duration::from_secs(10),
        "the connection to be closed",
        || async { !connection.status().connected() },
    )
    .await;
}
