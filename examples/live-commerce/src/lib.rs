//! # live-commerce
//!
//! A live-commerce backend (flash sales, orders, catalog) assembled from this
//! workspace's crates, and the tools that measure it. One binary plays every
//! role (`live-commerce serve --role …`; each its own process behind the
//! gateway, or all in one), runs the flash-sale experiment
//! (`live-commerce flash-sale`) and checks the services (`live-commerce
//! doctor`).
//!
//! | module | what it is |
//! |---|---|
//! | [`gateway`] | the entry point: TLS, routing to healthy instances |
//! | [`web`] | the web front end the gateway serves (pages in `web/`, embedded) |
//! | [`auth`] | accounts, login, the session every service shares |
//! | [`http`] | what every service does to every request: ids, spans, cross-site refusal |
//! | [`observe`] | `/healthz`, `/readyz`, `/metrics` |
//! | [`catalog`] | items (cache-aside) and stock, its live feed to the sale page |
//! | [`chat`] | live chat across instances, its archive and presence, the notification feed's socket |
//! | [`orders`] | order entry, payment, expiry through a delayed message |
//! | [`dead_letters`] | the admin's dead letters: list, replay, discard |
//! | [`ranking`] | most viewed items, most searched keywords, over sliding windows |
//! | [`mail`] | the welcome mail: off, in process (`@Async`) or through RabbitMQ |
//! | [`notifications`] | events a user should know: stored once, pushed live once, listed |
//! | [`scheduler`] | scheduled jobs run once per tick across instances: daily statistics |
//! | [`after_commit`] | work that runs only once a transaction committed |
//! | [`strategy`] | the six ways of taking stock, one file each |
//! | [`worker`] | persists `lua-mq` orders from RabbitMQ, exactly once |
//! | [`server`] | state, routes per role, start-up |
//! | [`flash_sale`] | the load tool and its report |
//! | [`experiments`] | the original projects' experiments, one command each |
//!
//! Configuration comes from the environment (`REDIS_URL`, `AMQP_URL`,
//! `KAFKA_BROKERS`, `DATABASE_URL`, `RABBITMQ_MANAGEMENT_URL`, `SMTP_URL`) with the
//! defaults printed by `scripts/dev-services env`.

pub mod after_commit;
pub mod api;
pub mod auth;
pub mod catalog;
pub mod chat;
pub mod config;
pub mod db;
pub mod dead_letters;
pub mod doctor;
pub mod experiments;
pub mod flash_sale;
pub mod gateway;
pub mod http;
pub mod mail;
pub mod notifications;
pub mod observe;
pub mod orders;
pub mod ranking;
pub mod scheduler;
pub mod server;
pub mod stock;
pub mod strategy;
pub mod web;
pub mod worker;
