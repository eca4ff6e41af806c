//! Live stock (`GET /api/stock/{id}/ws`, the flash-sale page's feed):
//! every watcher gets the units left at once and again after each change,
//! released units included; a page from another site and an unknown item
//! are refused at the handshake.

mod support;

use std::time::Duration;

use live_commerce::catalog::ItemKind;
use live_commerce::strategy::Strategy;
use serde_json::json;
use support::Services;
use support::chat::connect;
use support::shop::{Shop, item};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stock_socket_pushes_every_change_and_refuses_foreign_pages_and_unknown_items() {
    let services = Services::start().await;
    let shop = Shop::start_with(&services, Strategy::Lua, Duration::from_secs(2), true).await;
    let item = item(&shop, 3, ItemKind::General, None).await;
    let base = support::base_url(&shop.orders);
    let path = format!("/api/stock/{item}/ws");
    let own_page = format!("http://{}", base.trim_start_matches("http://"));

    let mut first = connect(&base, &path, None, None).await.unwrap();
    let mut second = connect(&base, &path, None, Some(&own_page)).await.unwrap();
    for socket in [&mut first, &mut second] {
        assert_eq!(
            socket.frame().await,
            json!({"type": "stock", "itemId": item, "left": 3})
        );
    }

    let buyer = shop.buyer("ann").await;
    let (status, accepted) = shop
        .order(&buyer, &json!({"itemId": item, "count": 2}).to_string())
        .await;
    assert!(status == 201 || status == 202, "{accepted}");
    for socket in [&mut first, &mut second] {
        assert_eq!(
            socket.frame().await["left"],
            1,
            "pushed, not polled by the page"
        );
    }
    // Unpaid, the order expires after 2 s and its units come back.
    assert_eq!(
        first.frame().await["left"],
        3,
        "released units are pushed too"
    );

    let foreign = connect(&base, &path, None, Some("https://evil.example")).await;
    assert_eq!(foreign.err(), Some(403));
    let unknown = connect(&base, "/api/stock/987654/ws", None, None).await;
    assert_eq!(unknown.err(), Some(404));
}
