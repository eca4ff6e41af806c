//! What the gateway itself counted: the orders it forwarded, read from its
//! Prometheus endpoint (`GET /metrics`), so the report can show that every
//! buyer's order went through it.
//!
//! The counter is `http_requests_total{role,method,route,status}`; the
//! orders are the samples with `method="POST"` and `route="/api/orders"`
//! (summed over `status`). Samples of another role are left out, in case
//! the servers of one process share a registry. The count is read before
//! and after a sale and the difference reported, so it holds whether the
//! registry is the gateway's own or the process's.

use crate::flash_sale::stack::Front;

/// The counter read.
const COUNTER: &str = "http_requests_total";

/// `POST /api/orders` requests the gateway has counted so far; `None` when
/// it serves no `/metrics`.
pub(crate) async fn orders_counted(
    http: &reqwest::Client,
    front: &Front,
) -> anyhow::Result<Option<u64>> {
    let response = http.get(front.url("/metrics")).send().await?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let text = response.error_for_status()?.text().await?;
    Ok(Some(order_posts(&text)))
}

/// Sums the gateway's `POST /api/orders` samples of [`COUNTER`] in a
/// Prometheus text exposition.
pub fn order_posts(exposition: &str) -> u64 {
    exposition
        .lines()
        .filter_map(sample)
        .filter(|(labels, _)| {
            let label = |name: &str| labels.iter().find(|(n, _)| n == name).map(|(_, v)| v);
            label("route").is_some_and(|route| route == "/api/orders")
                && label("method").is_none_or(|method| method == "POST")
                && label("role").is_none_or(|role| role == "gateway")
        })
        .map(|(_, value)| value)
        .sum()
}

/// One sample line of [`COUNTER`]: its labels and its value.
fn sample(line: &str) -> Option<(Vec<(String, String)>, u64)> {
    let rest = line.strip_prefix(COUNTER)?;
    let rest = rest.strip_prefix('{')?;
    let (labels, rest) = labels(rest)?;
    let value: f64 = rest.split_whitespace().next()?.parse().ok()?;
    Some((labels, value as u64))
}

/// Parses `name="value",…}` (values may hold `\"`, `\\` and `\n`); returns
/// the pairs and what follows the closing brace.
fn labels(mut rest: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut pairs = Vec::new();
    loop {
        rest = rest.trim_start_matches(',');
        if let Some(after) = rest.strip_prefix('}') {
            return Some((pairs, after));
        }
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        pairs.push((name.trim().to_string(), value));
        rest = &after[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::order_posts;

    #[test]
    fn sums_the_gateways_order_posts_over_statuses() {
        let text = r#"# HELP http_requests_total Requests answered.
# TYPE http_requests_total counter
http_requests_total{role="gateway",method="POST",route="/api/orders",status="202"} 100
http_requests_total{role="gateway",method="POST",route="/api/orders",status="409"} 900
http_requests_total{role="gateway",method="GET",route="/api/orders",status="200"} 7
http_requests_total{role="gateway",method="GET",route="/api/items/{*rest}",status="200"} 1000
http_requests_total{role="order",method="POST",route="/api/orders",status="202"} 100
http_requests_total_created{role="gateway",method="POST",route="/api/orders",status="202"} 1.7e9
"#;
        assert_eq!(order_posts(text), 1000);
    }

    #[test]
    fn reads_escaped_values_and_missing_labels() {
        let text = "http_requests_total{note=\"a \\\"quoted\\\" ,} value\",route=\"/api/orders\"} 3 1700000000\n";
        assert_eq!(order_posts(text), 3);
        assert_eq!(order_posts("http_requests_total 5\n"), 0);
        assert_eq!(order_posts(""), 0);
    }
}
