//! An order service, the auth service its buyers log in at, and (when a
//! test needs it) a worker, all in this process; and the requests tests
//! send to them.

use std::time::Duration;

use chrono::{Duration as Days, Utc};
use live_commerce::catalog::{self, ItemKind, NewItem};
use live_commerce::server::{Role, Running, Settings};
use live_commerce::strategy::Strategy;
use reqwest::header::COOKIE;
use serde_json::{Value, json};

use super::Services;

/// An order service and the auth service its buyers log in at.
pub struct Shop {
    pub orders: Running,
    pub auth: Running,
    pub worker: Option<Running>,
    pub http: reqwest::Client,
}

impl Shop {
    pub async fn start(services: &Services, strategy: Strategy) -> Self {
        Self::start_with(services, strategy, Duration::from_secs(600), false).await
    }

    /// With a payment window of `window`, and a worker (`lua-mq` orders,
    /// expiries) when `worker`.
    pub async fn start_with(
        services: &Services,
        strategy: Strategy,
        window: Duration,
        worker: bool,
    ) -> Self {
        let settings = |role| Settings {
            payment_window: window,
            ..super::settings(role, strategy)
        };
        let (order_settings, auth_settings) = (settings(Role::Order), settings(Role::Auth));
        let (orders, auth) = tokio::join!(
            super::start_with(services, &order_settings),
            super::start_with(services, &auth_settings),
        );
        let worker = if worker {
            Some(super::start_with(services, &settings(Role::Worker)).await)
        } else {
            None
        };
        Self {
            orders,
            auth,
            worker,
            http: reqwest::Client::new(),
        }
    }

    /// Signs `name` up and logs in; the `Cookie` value of their session.
    pub async fn buyer(&self, name: &str) -> String {
        super::buyer(&self.http, &super::base_url(&self.auth), name).await
    }

    /// `count` buyers signed up and logged in; their `Cookie` values.
    pub async fn buyers(&self, count: usize) -> Vec<String> {
        super::buyers(&self.http, &super::base_url(&self.auth), count).await
    }

    /// The account id the session `cookie` belongs to.
    pub async fn user_id(&self, cookie: &str) -> String {
        let me = self
            .http
            .get(format!("{}/api/auth/me", super::base_url(&self.auth)))
            .header(COOKIE, cookie);
        let (status, me) = send(me).await;
        assert_eq!(status, 200, "{me}");
        me["data"]["userId"].as_str().unwrap().to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", super::base_url(&self.orders))
    }

    /// `POST /api/orders` with a JSON `body`, as `buyer` (a `Cookie` value) or
    /// without a session.
    pub fn post_order(&self, buyer: Option<&str>, body: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .post(self.url("/api/orders"))
            .header("content-type", "application/json")
            .body(body.to_string());
        match buyer {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        }
    }

    /// `POST /api/orders` as `buyer`.
    pub async fn order(&self, buyer: &str, body: &str) -> (u16, Value) {
        send(self.post_order(Some(buyer), body)).await
    }

    /// `POST /api/orders` without a session.
    pub async fn order_without_session(&self, body: &str) -> (u16, Value) {
        send(self.post_order(None, body)).await
    }

    /// `GET path` without a session (the catalog's reads).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.http.get(self.url(path))).await
    }

    /// `GET path` as `buyer`.
    pub async fn get_as(&self, buyer: &str, path: &str) -> (u16, Value) {
        send(self.http.get(self.url(path)).header(COOKIE, buyer)).await
    }

    pub async fn orders_of_item(&self, item: i64) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE item_id = $1")
            .bind(item)
            .fetch_one(self.orders.pool())
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        if let Some(worker) = self.worker {
            worker.shutdown().await;
        }
        tokio::join!(self.orders.shutdown(), self.auth.shutdown());
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn item(shop: &Shop, stock: i32, kind: ItemKind, opens_in_days: Option<i64>) -> i64 {
    catalog::create_item(
        shop.orders.pool(),
        shop.orders.redis(),
        &NewItem {
            name: "lamp".into(),
            kind,
            price: 1_000,
            stock,
            start_at: opens_in_days.map(|days| Utc::now() + Days::days(days)),
        },
    )
    .await
    .unwrap()
}

pub fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{answer:?}");
    assert_eq!(answer.1["success"], json!(false), "{answer:?}");
    assert_eq!(answer.1["error"]["code"], json!(code), "{answer:?}");
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{answer:?}"
    );
}
