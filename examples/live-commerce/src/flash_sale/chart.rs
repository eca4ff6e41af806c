//! The report's chart (SVG): throughput and latency per strategy.

use std::path::Path;

use plotters::prelude::*;

use crate::flash_sale::Report;

/// Draws throughput (left) and p50 / p99 latency (right) per strategy.
pub(crate) fn draw(report: &Report, path: &Path) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1100, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(550);
    let names: Vec<String> = report
        .results
        .iter()
        .map(|r| r.strategy.to_string())
        .collect();
    let n = names.len() as u32;
    let label = |value: &SegmentValue<u32>| match value {
        SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };

    let max_rps = report
        .results
        .iter()
        .map(|r| r.requests_per_second)
        .fold(1.0, f64::max);
    let mut throughput = ChartBuilder::on(&left)
        .caption(
            "throughput (buyers answered per second)",
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((0..n).into_segmented(), 0.0..max_rps * 1.15)?;
    throughput
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&label)
        .y_desc("requests/s")
        .draw()?;
    throughput.draw_series(
        Histogram::vertical(&throughput)
            .style(RGBColor(52, 101, 164).filled())
            .margin(12)
            .data(
                report
                    .results
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i as u32, r.requests_per_second)),
            ),
    )?;

    let max_ms = report
        .results
        .iter()
        .map(|r| r.p99.as_secs_f64() * 1000.0)
        .fold(1.0, f64::max);
    let mut latency = ChartBuilder::on(&right)
        .caption(
            "latency per buyer: p99 (light), p50 (dark)",
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((0..n).into_segmented(), 0.0..max_ms * 1.15)?;
    latency
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&label)
        .y_desc("ms")
        .draw()?;
    latency.draw_series(
        Histogram::vertical(&latency)
            .style(RGBColor(245, 166, 35).filled())
            .margin(12)
            .data(
                report
                    .results
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i as u32, r.p99.as_secs_f64() * 1000.0)),
            ),
    )?;
    latency.draw_series(
        Histogram::vertical(&latency)
            .style(RGBColor(194, 54, 22).filled())
            .margin(30)
            .data(
                report
                    .results
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i as u32, r.p50.as_secs_f64() * 1000.0)),
            ),
    )?;
    root.present()?;
    Ok(())
}
