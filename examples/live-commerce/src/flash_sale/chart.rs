//! The report's chart (SVG): throughput and latency per strategy.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::flash_sale::Report;

/// One set of bars: a value per strategy, a colour, and the gap on each side
/// of a bar (a wider gap draws a narrower bar on top of a wider one).
struct Bars {
    values: Vec<f64>,
    color: RGBColor,
    margin: u32,
}

/// Draws throughput (left) and p50 / p99 latency (right) per strategy.
pub(crate) fn draw(report: &Report, path: &Path) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1300, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(650);
    let names: Vec<String> = report
        .results
        .iter()
        .map(|r| r.strategy.to_string())
        .collect();
    let per_strategy = |f: &dyn Fn(&crate::flash_sale::StrategyResult) -> f64| {
        report.results.iter().map(f).collect::<Vec<f64>>()
    };
    panel(
        &left,
        &names,
        "throughput (buyers answered per second)",
        "requests/s",
        &[Bars {
            values: per_strategy(&|r| r.requests_per_second),
            color: RGBColor(52, 101, 164),
            margin: 12,
        }],
    )?;
    panel(
        &right,
        &names,
        "latency per buyer: p99 (light), p50 (dark)",
        "ms",
        &[
            Bars {
                values: per_strategy(&|r| r.p99.as_secs_f64() * 1000.0),
                color: RGBColor(245, 166, 35),
                margin: 12,
            },
            Bars {
                values: per_strategy(&|r| r.p50.as_secs_f64() * 1000.0),
                color: RGBColor(194, 54, 22),
                margin: 30,
            },
        ],
    )?;
    root.present()?;
    Ok(())
}

/// A bar chart with one slot per strategy.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    names: &[String],
    caption: &str,
    unit: &str,
    bars: &[Bars],
) -> anyhow::Result<()> {
    let top = bars
        .iter()
        .flat_map(|set| set.values.iter().copied())
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        // A segmented `0..last` has a slot for each of `0..=last`.
        .build_cartesian_2d(
            (0..(names.len() as u32).saturating_sub(1)).into_segmented(),
            0.0..top * 1.15,
        )?;
    let label = |value: &SegmentValue<u32>| match value {
        SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_label_style(("sans-serif", 12))
        .x_label_formatter(&label)
        .y_desc(unit)
        .draw()?;
    for set in bars {
        chart.draw_series(
            Histogram::vertical(&chart)
                .style(set.color.filled())
                .margin(set.margin)
                .data(set.values.iter().enumerate().map(|(i, v)| (i as u32, *v))),
        )?;
    }
    Ok(())
}
