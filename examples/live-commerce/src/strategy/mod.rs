//! How an order takes its stock: the strategies of the flash-sale
//! experiment, one file each.
//!
//! | strategy | stock taken by | order recorded |
//! |---|---|---|
//! | `none` | read, then write the difference (no lock: races) | at once |
//! | `db-pessimistic` | `SELECT … FOR UPDATE`, decrement, in one transaction | same transaction |
//! | `db-optimistic` | version compare-and-set, bounded retry | same transaction |
//! | `redis-lock` | redlock around the database decrement | inside the lock |
//! | `lua` | atomic multi-unit decrement in Redis, then the database | at once (released on failure) |
//! | `lua-mq` | atomic decrement in Redis, `OrderPlaced` published, `202` | by the worker |

mod db_optimistic;
mod db_pessimistic;
mod lua;
mod lua_mq;
mod none;
mod redis_lock;
mod row;

use crate::api::ApiError;
use crate::orders::{OrderStatus, Purchase};
use crate::server::AppState;

pub use lua_mq::{ORDER_PLACED_ROUTE, ORDERS_EXCHANGE, OrderPlaced};

/// A way of taking stock for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Strategy {
    /// Read the stock, then write it back decremented, without any lock.
    None,
    /// `SELECT … FOR UPDATE` in a database transaction.
    DbPessimistic,
    /// A version column compared-and-set, retried a bounded number of times.
    DbOptimistic,
    /// A Redis distributed lock (redlock) around the database decrement.
    RedisLock,
    /// An atomic Lua decrement in Redis, then the database insert.
    Lua,
    /// An atomic Lua decrement, then `OrderPlaced` through RabbitMQ; a worker
    /// persists the order.
    LuaMq,
}

impl Strategy {
    /// Every strategy, in the order the experiment runs them.
    pub const ALL: [Strategy; 6] = [
        Strategy::None,
        Strategy::DbPessimistic,
        Strategy::DbOptimistic,
        Strategy::RedisLock,
        Strategy::Lua,
        Strategy::LuaMq,
    ];

    /// The command-line spelling (`db-pessimistic`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::None => "none",
            Strategy::DbPessimistic => "db-pessimistic",
            Strategy::DbOptimistic => "db-optimistic",
            Strategy::RedisLock => "redis-lock",
            Strategy::Lua => "lua",
            Strategy::LuaMq => "lua-mq",
        }
    }

    /// Parses `all` or a comma-separated list of strategy names.
    pub fn parse_list(text: &str) -> Result<Vec<Strategy>, String> {
        if text.trim() == "all" {
            return Ok(Strategy::ALL.to_vec());
        }
        text.split(',')
            .map(|name| {
                <Strategy as clap::ValueEnum>::from_str(name.trim(), true).map_err(|_| {
                    format!(
                        "unknown strategy `{}` (all, {})",
                        name.trim(),
                        Self::names()
                    )
                })
            })
            .collect()
    }

    fn names() -> String {
        Strategy::ALL.map(Strategy::name).join(", ")
    }

    /// Whether orders are persisted later, by the worker.
    pub fn is_asynchronous(self) -> bool {
        self == Strategy::LuaMq
    }

    /// Whether orders take stock from the Redis counter (the Lua
    /// strategies); the others take it from the database row.
    pub fn sells_from_redis(self) -> bool {
        matches!(self, Strategy::Lua | Strategy::LuaMq)
    }

    /// Takes the stock for `purchase` and records it. Returns the order's
    /// status, or `409` when the stock cannot cover it.
    pub async fn place(
        self,
        state: &AppState,
        purchase: &Purchase,
    ) -> Result<OrderStatus, ApiError> {
        match self {
            Strategy::None => none::place(state, purchase).await,
            Strategy::DbPessimistic => db_pessimistic::place(state, purchase).await,
            Strategy::DbOptimistic => db_optimistic::place(state, purchase).await,
            Strategy::RedisLock => redis_lock::place(state, purchase).await,
            Strategy::Lua => lua::place(state, purchase).await,
            Strategy::LuaMq => lua_mq::place(state, purchase).await,
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
