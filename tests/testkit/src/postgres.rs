//! A fresh PostgreSQL database per test on the shared server.
//!
//! Environment: `DATABASE_URL` (default
//! `postgres://postgres:postgres@127.0.0.1:5432/postgres`), used as the
//! administrative connection that creates and drops test databases.

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
// The database name is generated here (testkit_ + hex), never user input.
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, PgConnection};

use crate::backend::env_url;
use crate::cleanup::block_on_detached;
use crate::error::{Result, TestkitError};

const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";

/// A database named `testkit_<uuid>`; dropped (with its connections) on drop.
#[derive(Debug)]
pub struct PgDatabase {
    admin: PgConnectOptions,
    name: String,
    url: String,
}

impl PgDatabase {
    /// Creates an empty database.
    pub async fn create() -> Result<Self> {
        let admin_url = env_url("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        let admin: PgConnectOptions = admin_url
            .parse()
            .map_err(|e| TestkitError::setup(format!("parsing DATABASE_URL {admin_url}"), e))?;
        let mut conn =
            PgConnection::connect_with(&admin)
                .await
                .map_err(|e| TestkitError::ServiceDown {
                    service: "postgres",
                    url: admin_url.clone(),
                    env_var: "DATABASE_URL",
                    reason: e.to_string(),
                })?;
        let name = format!("testkit_{}", uuid::Uuid::new_v4().simple());
        conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE DATABASE {name}"
        ))))
        .await
        .map_err(|e| TestkitError::setup(format!("creating database {name}"), e))?;
        let _ = conn.close().await;
        let url = admin.clone().database(&name).to_url_lossy().to_string();
        Ok(Self { admin, name, url })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL that connects to this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A small connection pool on this database.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(10)
            .connect_with(self.admin.clone().database(&self.name))
            .await
            .unwrap_or_else(|e| panic!("connecting to test database {}: {e}", self.name))
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        block_on_detached("dropping a test database", async move {
            let mut conn = PgConnection::connect_with(&admin)
                .await
                .map_err(|e| e.to_string())?;
            let drop_database = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            conn.execute(sqlx::raw_sql(AssertSqlSafe(drop_database)))
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        });
    }
}
