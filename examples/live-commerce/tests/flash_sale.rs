//! The flash-sale experiment's promises: 1,000 buyers, stock 100, every
//! strategy but `none` sells exactly 100 and the database holds exactly 100
//! orders; mixed quantities never oversell.

mod support;

use live_commerce::auth::password::HashCost;
use live_commerce::flash_sale::{self, FlashSaleOptions, Quantities, StrategyResult};
use live_commerce::strategy::Strategy;
use support::Services;

/// One sale at a time in this process: the services' metrics go to one
/// process-wide registry, so two gateways selling at once would count each
/// other's orders. (Under nextest each test is its own process anyway.)
static ONE_SALE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run(strategy: Strategy, buyers: usize, stock: i32, quantities: &str) -> StrategyResult {
    let _turn = ONE_SALE_AT_A_TIME.lock().await;
    let services = Services::start().await;
    let options = FlashSaleOptions {
        buyers,
        stock,
        strategies: vec![strategy],
        quantities: quantities.parse::<Quantities>().unwrap(),
        out: None,
        progress: false,
        password_cost: HashCost::Minimal,
    };
    flash_sale::run_strategy(&services.config(), &options, strategy)
        .await
        .unwrap()
}

fn assert_exactly_the_stock(result: &StrategyResult) {
    assert!(result.is_correct(), "{result:#?}");
    assert_eq!(result.db.sold_units, 100, "{result:#?}");
    assert_eq!(result.db.order_rows, 100, "{result:#?}");
    assert_eq!(result.accepted, 100);
    assert_eq!(result.rejected, 900);
    assert_eq!(result.db.stock_left, 0);
    // The gateway's own /metrics counted every order of the sale.
    assert_eq!(result.orders_through_gateway, Some(1000), "{result:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_pessimistic_sells_exactly_the_stock() {
    assert_exactly_the_stock(&run(Strategy::DbPessimistic, 1000, 100, "1").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_optimistic_sells_exactly_the_stock() {
    assert_exactly_the_stock(&run(Strategy::DbOptimistic, 1000, 100, "1").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lock_sells_exactly_the_stock() {
    assert_exactly_the_stock(&run(Strategy::RedisLock, 1000, 100, "1").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lua_sells_exactly_the_stock() {
    let result = run(Strategy::Lua, 1000, 100, "1").await;
    assert_exactly_the_stock(&result);
    assert_eq!(result.db.redis_left, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lua_mq_sells_exactly_the_stock_once_the_worker_drains() {
    let result = run(Strategy::LuaMq, 1000, 100, "1").await;
    assert_exactly_the_stock(&result);
    assert_eq!(result.db.redis_left, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_shows_the_race_and_reports_it_as_it_is() {
    // No lock: hundreds of buyers read the stock at once, so some read the
    // same figure and both sell from it. The race must show, as units sold
    // beyond the stock or as decrements one buyer's write overwrote.
    let result = run(Strategy::None, 600, 100, "1").await;
    assert!(
        result.oversold() > 0 || result.lost_updates() > 0,
        "600 unlocked buyers and not one lost update: {result:#?}"
    );
    assert!(!result.is_correct(), "{result:#?}");
    // What the report says is what the database holds.
    assert_eq!(result.db.order_rows, result.accepted as i64, "{result:#?}");
    assert_eq!(result.db.sold_units, result.accepted_units, "{result:#?}");
    assert_eq!(result.failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_quantities_never_oversell() {
    for strategy in [Strategy::Lua, Strategy::DbPessimistic] {
        let result = run(strategy, 400, 100, "1..3").await;
        assert_eq!(result.oversold(), 0, "{result:#?}");
        assert_eq!(result.undersold(), 0, "{result:#?}");
        assert_eq!(result.db.sold_units, result.accepted_units, "{result:#?}");
        assert_eq!(
            result.db.stock_left,
            100 - result.db.sold_units,
            "{result:#?}"
        );
        assert!(
            result.db.stock_left < 3,
            "only a purchase larger than what is left may fail"
        );
    }
}
