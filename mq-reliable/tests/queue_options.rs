//! Work-queue options against a real RabbitMQ: a length limit that refuses
//! publishes instead of dropping messages, and a single active consumer.

mod common;

use std::sync::{Arc, Mutex};

use common::{Order, PROMPTLY, broker, spawn_consumer};
use mq_reliable::{Error, Message, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_the_publish_and_keeps_what_it_has() {
    let (_vhost, mq) = broker().await;
    let _declared = mq.consumer("bounded").max_length(2).build().await.unwrap();
    let publisher = mq.publisher().build().await.unwrap();
    publisher
        .publish("", "bounded", &Order::new(1))
        .await
        .unwrap();
    publisher
        .publish("", "bounded", &Order::new(2))
        .await
        .unwrap();
    let third = publisher.publish("", "bounded", &Order::new(3)).await;
    assert!(matches!(third, Err(Error::Nacked)), "{third:?}");
    // The two first are still there: nothing was dropped to make room.
    let queue = mq.dead_letters("bounded");
    assert_eq!(queue.count().await.unwrap(), 2);
    let kept: Vec<u64> = queue
        .list(10)
        .await
        .unwrap()
        .iter()
        .map(|letter| letter.payload::<Order>().unwrap().id)
        .collect();
    assert_eq!(kept, [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_active_consumer_at_a_time_and_the_other_takes_over() {
    let (_vhost, mq) = broker().await;
    let seen = Arc::new(Mutex::new(Vec::<(&'static str, u64)>::new()));
    let mut consumers = Vec::new();
    for name in ["first", "second"] {
        let consumer = mq
            .consumer("singles")
            .single_active_consumer(true)
            .concurrency(1)
            .build()
            .await
            .unwrap();
        let seen = seen.clone();
        let (consumer, task) = spawn_consumer(consumer, move |msg: Message<Order>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push((name, msg.payload().id));
                Ok::<(), Outcome>(())
            }
        });
        consumers.push((name, consumer, task));
    }
    let publisher = mq.publisher().build().await.unwrap();
    for id in 1..=10 {
        publisher
            .publish("", "singles", &Order::new(id))
            .await
            .unwrap();
    }
    testkit::wait::until(PROMPTLY, "ten messages handled", || async {
        seen.lock().unwrap().len() == 10
    })
    .await;
    let active = seen.lock().unwrap()[0].0;
    assert!(
        seen.lock().unwrap().iter().all(|(name, _)| *name == active),
        "one consumer handled them all: {:?}",
        seen.lock().unwrap()
    );
    let ids: Vec<u64> = seen.lock().unwrap().iter().map(|(_, id)| *id).collect();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>(), "in queue order");

    // The active one stops; the one standing by takes over.
    let (_, stopping, task) = consumers.iter().find(|(name, ..)| *name == active).unwrap();
    stopping.shutdown_handle().shutdown();
    testkit::wait::until(PROMPTLY, "the active consumer to stop", || async {
        task.is_finished()
    })
    .await;
    for id in 11..=15 {
        publisher
            .publish("", "singles", &Order::new(id))
            .await
            .unwrap();
    }
    testkit::wait::until(PROMPTLY, "the other consumer to take over", || async {
        seen.lock().unwrap().len() == 15
    })
    .await;
    let after: Vec<&str> = seen.lock().unwrap()[10..]
        .iter()
        .map(|(name, _)| *name)
        .collect();
    assert!(after.iter().all(|name| *name != active), "{after:?}");
}
