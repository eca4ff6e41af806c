//! The report as text: the table the tool prints, and the Markdown page
//! (`docs/flash-sale.md`) around it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::flash_sale::item_detail;
use crate::flash_sale::report::{ItemDetailThroughput, Report, StrategyResult};
use crate::strategy::Strategy;

fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

impl Report {
    /// The results as a Markdown table, with the sign-up and item-detail
    /// lines under it.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| strategy | sold | oversold | undersold | accepted | rejected | errors | order rows | DB stock left | req/s | p50 ms | p95 ms | p99 ms | gateway counted | verdict |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for result in &self.results {
            out.push_str(&row(result));
        }
        out.push_str(&failure_lines(&self.results));
        let _ = write!(
            out,
            "\n{} buyers signed up and logged in through the gateway in {:.1} s \
             (once, before the first strategy).\n",
            self.buyers,
            self.sign_up_took.as_secs_f64()
        );
        if let Some(detail) = &self.item_detail {
            out.push_str(&item_detail_lines(detail));
        }
        out
    }

    /// The report page (`docs/flash-sale.md`), pointing at the chart.
    pub fn markdown(&self, chart_file: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Flash sale: every strategy, side by side\n");
        let _ = writeln!(
            out,
            "{} buyers arrive at once for an item with stock {} (units per purchase: {}). Each \
             strategy runs against fresh stock, on the same machine and services, one after the \
             other. The buyers are real accounts, signed up and logged in once before the first \
             strategy; each order goes over TLS to the gateway with the buyer's session cookie, \
             and from there to the strategy's order service (one connection per buyer, opened \
             before the start). \"sold\" and \"order rows\" are read from PostgreSQL after the \
             run (for `lua-mq`, after the worker drained the queue).\n",
            self.buyers, self.stock, self.quantities
        );
        let _ = writeln!(
            out,
            "Reproduce (services from `scripts/dev-services up`):\n"
        );
        let _ = writeln!(
            out,
            "```sh\ncargo run --release -p live-commerce -- flash-sale --buyers {} --stock {} --strategy all --quantities {}\n```\n",
            self.buyers, self.stock, self.quantities
        );
        let _ = writeln!(
            out,
            "Generated {} by `{}` on {} (the services ran on the same machine).\n",
            self.generated_at.format("%Y-%m-%d %H:%M UTC"),
            self.command,
            self.machine
        );
        let _ = writeln!(
            out,
            "![throughput and latency per strategy]({chart_file})\n"
        );
        out.push_str(&self.table());
        out.push_str(READING_THE_TABLE);
        out
    }
}

/// One strategy's row.
fn row(r: &StrategyResult) -> String {
    let verdict = if r.is_correct() {
        "correct".to_string()
    } else if r.oversold() > 0 {
        format!("**oversold by {}**", r.oversold())
    } else {
        "**wrong**".to_string()
    };
    let counted = r
        .orders_through_gateway
        .map_or_else(|| "–".to_string(), |count| count.to_string());
    format!(
        "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} |\n",
        r.strategy,
        r.db.sold_units,
        r.oversold(),
        r.undersold(),
        r.accepted,
        r.rejected,
        r.failed,
        r.db.order_rows,
        r.db.stock_left,
        r.requests_per_second,
        ms(r.p50),
        ms(r.p95),
        ms(r.p99),
        counted,
        verdict
    )
}

/// One line per strategy whose buyers got errors, saying which: the count
/// alone does not tell a timeout from a refused connection.
fn failure_lines(results: &[StrategyResult]) -> String {
    results
        .iter()
        .filter_map(|r| failure_line(r.strategy, &r.failures))
        .collect()
}

/// `Errors with `lua`: 2 × 502 UPSTREAM_FAILED; 1 × request: …`, or `None`
/// when there were none.
fn failure_line(strategy: Strategy, failures: &BTreeMap<String, usize>) -> Option<String> {
    if failures.is_empty() {
        return None;
    }
    let reasons: Vec<String> = failures
        .iter()
        .map(|(reason, count)| format!("{count} × {reason}"))
        .collect();
    Some(format!(
        "\nErrors with `{strategy}`: {}.\n",
        reasons.join("; ")
    ))
}

/// The item-detail figures: the cache, and the gateway's cost.
fn item_detail_lines(detail: &ItemDetailThroughput) -> String {
    let figures = |f: &crate::flash_sale::ReadFigures| {
        format!(
            "{:.0} req/s (p50 {} ms, p99 {} ms)",
            f.requests_per_second,
            ms(f.p50),
            ms(f.p99)
        )
    };
    format!(
        "\nItem detail (`GET /api/items/{{id}}`, {} clients, {} s each), directly from the \
         catalog over plain HTTP: uncached {}; cache-aside {}: {:.1}x.\n\
         \nThe same cached reads through the gateway (TLS, one more hop): {}: {:.0} % of the \
         direct throughput, +{} ms at p50.\n",
        item_detail::CLIENTS,
        item_detail::WINDOW.as_secs(),
        figures(&detail.uncached),
        figures(&detail.cached),
        detail.cache_speedup(),
        figures(&detail.cached_through_gateway),
        detail.gateway_throughput_share() * 100.0,
        ms(detail.gateway_added_p50()),
    )
}

const READING_THE_TABLE: &str = "\n## Reading the table\n\n\
- **sold**: units in `PENDING_PAYMENT` and `CONFIRMED` order rows (taken from the sale; nobody pays during the run). **oversold**: sold beyond the stock. \
**undersold**: stock left while a buyer asking for no more than that was turned away.\n\
- **accepted** buyers got `202` (an order id), **rejected** got `409` (sold out, not \
enough left, or `CONTENDED` after the optimistic strategy's retries), **errors** got \
anything else.\n\
- **req/s** and the latencies run from the first order sent to the last answer, through \
the gateway. **gateway counted** is the gateway's own count of `POST /api/orders` during \
the sale (`http_requests_total` on its `/metrics`; `–` when it serves none): every \
buyer's order went through it.\n\
- `none` reads the stock and writes back the difference without a lock: concurrent \
buyers overwrite each other's decrements, so more orders are accepted than there \
were units, and the stock column still shows units left. That is the race the other \
strategies exist to prevent.\n\
- `db-pessimistic` queues every buyer on the item's row lock; `db-optimistic` \
retries losers (each lost race means someone else won); `redis-lock` serialises \
buyers on a redlock per item; `lua` decides in one atomic Redis step and then \
writes the database; `lua-mq` decides in Redis, answers at once and lets the worker \
(its own server) persist through RabbitMQ (exactly once per order: inbox in the same \
transaction).\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_error_is_named_with_its_count() {
        assert_eq!(failure_line(Strategy::Lua, &BTreeMap::new()), None);
        let failures = BTreeMap::from([
            ("502 UPSTREAM_FAILED".to_string(), 2),
            ("request: connection reset".to_string(), 1),
        ]);
        assert_eq!(
            failure_line(Strategy::Lua, &failures).as_deref(),
            Some("\nErrors with `lua`: 2 × 502 UPSTREAM_FAILED; 1 × request: connection reset.\n")
        );
    }
}
