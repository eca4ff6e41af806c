//! Rankings against a real Redis and PostgreSQL: views counted once per
//! user and minute, only after their transaction commits (a rolled-back
//! view never reaches the ranking); windows that slide; search keywords
//! normalized and counted; bad queries refused without a count.

mod support;

use live_commerce::after_commit::Transaction;
use live_commerce::catalog::{self, ItemKind, NewItem};
use live_commerce::ranking::window::Window;
use live_commerce::ranking::{KEYWORDS, Ranking, VIEWS, views};
use live_commerce::server::{Role, Running};
use live_commerce::strategy::Strategy;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use support::Services;
use support::shop::{assert_error, send};

struct Catalog {
    catalog: Running,
    http: reqwest::Client,
}

impl Catalog {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", support::base_url(&self.catalog))
    }

    async fn item(&self, name: &str) -> i64 {
        let item = NewItem {
            name: name.into(),
            kind: ItemKind::General,
            price: 100,
            stock: 10,
            start_at: None,
        };
        catalog::create_item(self.catalog.pool(), self.catalog.redis(), &item)
            .await
            .unwrap()
    }

    async fn view(&self, cookie: Option<&str>, item: i64) -> (u16, Value) {
        let mut request = self
            .http
            .post(self.url(&format!("/api/items/{item}/views")));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        send(request).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        send(self.http.get(self.url(path))).await
    }

    async fn view_count(&self, item: i64) -> i64 {
        sqlx::query_scalar("SELECT view_count FROM items WHERE id = $1")
            .bind(item)
            .fetch_one(self.catalog.pool())
            .await
            .unwrap()
    }

    fn views(&self) -> Ranking {
        Ranking::new(VIEWS, self.catalog.redis().clone())
    }
}

/// `(itemId, views)` of `GET /api/ranking/items…`.
fn ranked(answer: &(u16, Value)) -> Vec<(i64, u64)> {
    assert_eq!(answer.0, 200, "{answer:?}");
    answer.1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["itemId"].as_i64().unwrap(), e["views"].as_u64().unwrap()))
        .collect()
}

async fn start() -> (Services, Running, Catalog) {
    let services = Services::start().await;
    let (auth, catalog) = tokio::join!(
        support::start_role(&services, Role::Auth, Strategy::Lua),
        support::start_role(&services, Role::Catalog, Strategy::Lua),
    );
    let http = reqwest::Client::new();
    (services, auth, Catalog { catalog, http })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_rank_items_once_per_viewer_and_only_after_their_commit() {
    let (_services, auth, shop) = start().await;
    let (lamp, desk, chair) = (
        shop.item("lamp").await,
        shop.item("desk").await,
        shop.item("chair").await,
    );
    let viewers = support::buyers(&shop.http, &support::base_url(&auth), 3).await;
    for (item, count) in [(lamp, 3), (desk, 2), (chair, 1)] {
        for viewer in &viewers[..count] {
            let (status, viewed) = shop.view(Some(viewer), item).await;
            assert_eq!(status, 200, "{viewed}");
            assert_eq!(viewed["data"]["counted"], json!(true));
        }
    }
    // The same viewer again within the minute, an unknown item, no session.
    let (_, again) = shop.view(Some(&viewers[0]), lamp).await;
    assert_eq!(again["data"]["counted"], json!(false));
    assert_error(
        &shop.view(Some(&viewers[0]), 999_999).await,
        404,
        "ITEM_NOT_FOUND",
    );
    assert_error(&shop.view(None, lamp).await, 401, "NOT_AUTHENTICATED");

    let expected = vec![(lamp, 3), (desk, 2), (chair, 1)];
    assert_eq!(
        ranked(&shop.get("/api/ranking/items?window=1h").await),
        expected
    );
    assert_eq!(
        ranked(&shop.get("/api/ranking/items?window=1d&limit=2").await),
        expected[..2]
    );
    let (_, top) = shop.get("/api/ranking/items").await;
    assert_eq!(top["data"][0]["item"]["name"], json!("lamp"));
    assert_eq!(shop.view_count(lamp).await, 3, "the durable count agrees");

    // A view whose transaction rolls back is in neither the row nor the ranking.
    let ranking = shop.views();
    let mut tx = Transaction::begin(shop.catalog.pool()).await.unwrap();
    assert_eq!(
        views::record_view(&mut tx, &ranking, chair).await.unwrap(),
        Some(2)
    );
    tx.rollback().await.unwrap();
    let mut dropped = Transaction::begin(shop.catalog.pool()).await.unwrap();
    views::record_view(&mut dropped, &ranking, chair)
        .await
        .unwrap();
    drop(dropped);
    assert_eq!(shop.view_count(chair).await, 1);
    assert_eq!(
        ranked(&shop.get("/api/ranking/items").await),
        expected,
        "no rolled-back view"
    );
    // Committed, it counts.
    let mut tx = Transaction::begin(shop.catalog.pool()).await.unwrap();
    views::record_view(&mut tx, &ranking, chair).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        ranking.top(Window::Hour, 3).await.unwrap()[2],
        (chair.to_string(), 2.0)
    );

    for bad in [
        "?window=7d",
        "?limit=0",
        "?limit=51",
        "?limit=x",
        "?sort=views",
    ] {
        let answer = shop.get(&format!("/api/ranking/items{bad}")).await;
        assert_error(&answer, 400, "INVALID_QUERY");
    }
    tokio::join!(shop.catalog.shutdown(), auth.shutdown());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_slide_the_hour_by_minute_and_the_day_by_hour() {
    let (_services, auth, shop) = start().await;
    let ranking = shop.views();
    let now = chrono::Utc::now().timestamp();
    ranking.record_at("now", now).await.unwrap();
    ranking
        .record_at("half-an-hour-ago", now - 30 * 60)
        .await
        .unwrap();
    ranking
        .record_at("half-an-hour-ago", now - 30 * 60)
        .await
        .unwrap();
    ranking
        .record_at("two-hours-ago", now - 2 * 3600)
        .await
        .unwrap();
    ranking
        .record_at("two-hours-ago", now - 2 * 3600)
        .await
        .unwrap();
    ranking
        .record_at("two-hours-ago", now - 2 * 3600)
        .await
        .unwrap();
    ranking
        .record_at("two-days-ago", now - 48 * 3600)
        .await
        .unwrap();
    let hour = ranking.top_at(Window::Hour, 10, now).await.unwrap();
    assert_eq!(
        hour,
        vec![
            ("half-an-hour-ago".to_string(), 2.0),
            ("now".to_string(), 1.0)
        ]
    );
    let day = ranking.top_at(Window::Day, 10, now).await.unwrap();
    let members: Vec<&str> = day.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(members, vec!["two-hours-ago", "half-an-hour-ago", "now"]);
    // An hour and a minute later, the half-hour-old views have left the hour.
    let later = ranking
        .top_at(Window::Hour, 10, now + 61 * 60)
        .await
        .unwrap();
    assert_eq!(later, Vec::<(String, f64)>::new());
    tokio::join!(shop.catalog.shutdown(), auth.shutdown());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_find_by_name_and_rank_their_normalized_keywords() {
    let (_services, auth, shop) = start().await;
    shop.item("Desk Lamp").await;
    shop.item("Floor lamp").await;
    shop.item("Chair").await;
    shop.item("50% off sofa").await;
    let names = |answer: &(u16, Value)| -> Vec<String> {
        assert_eq!(answer.0, 200, "{answer:?}");
        answer.1["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&shop.get("/api/search?q=LAMP").await),
        vec!["Floor lamp", "Desk Lamp"]
    );
    assert_eq!(
        names(&shop.get("/api/search?q=%20%20lamp%20").await).len(),
        2
    );
    assert_eq!(names(&shop.get("/api/search?q=chair").await), vec!["Chair"]);
    assert_eq!(
        names(&shop.get("/api/search?q=0%25").await),
        vec!["50% off sofa"],
        "% is literal"
    );
    assert_eq!(
        names(&shop.get("/api/search?q=lamp&limit=1").await),
        vec!["Floor lamp"]
    );
    let long = "x".repeat(65);
    for bad in [
        "/api/search".to_string(),
        "/api/search?q=".to_string(),
        "/api/search?q=%20%20".to_string(),
        format!("/api/search?q={long}"),
        "/api/search?q=lamp&limit=0".to_string(),
        "/api/search?q=lamp&page=2".to_string(),
    ] {
        assert_error(&shop.get(&bad).await, 400, "INVALID_QUERY");
    }
    let (status, top) = shop.get("/api/ranking/keywords?window=1h").await;
    assert_eq!(status, 200, "{top}");
    assert_eq!(
        top["data"],
        json!([
            {"keyword": "lamp", "searches": 3},
            {"keyword": "0%", "searches": 1},
            {"keyword": "chair", "searches": 1},
        ]),
        "refused searches counted nothing"
    );
    let keywords = Ranking::new(KEYWORDS, shop.catalog.redis().clone());
    assert_eq!(
        keywords.top(Window::Day, 1).await.unwrap(),
        vec![("lamp".to_string(), 3.0)]
    );
    tokio::join!(shop.catalog.shutdown(), auth.shutdown());
}
