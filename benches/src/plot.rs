//! `--plot PATH`: the throughput group's calls/s against calls in flight, for hardlight, tonic and
//! raw ws, as an SVG (log scales on both axes).

use std::path::Path;

use plotters::prelude::*;

use crate::report::{Column, IN_FLIGHT, Report};
use crate::systems::System;
use crate::{BoxError, error};

/// The systems plotted, and their colours.
pub const PLOTTED: [(System, RGBColor); 3] = [
    (System::Hardlight, RGBColor(0xd6, 0x27, 0x28)),
    (System::Tonic, RGBColor(0x1f, 0x77, 0xb4)),
    (System::RawWs, RGBColor(0x2c, 0xa0, 0x2c)),
];

/// One plotted system: its colour and its points.
type Series = (System, RGBColor, Vec<(f64, f64)>);

/// The points of `system`: (calls in flight, calls/s) for each throughput column measured.
fn points(report: &Report, system: System) -> Vec<(f64, f64)> {
    IN_FLIGHT
        .into_iter()
        .enumerate()
        .filter_map(|(i, in_flight)| {
            let calls = report.value(system, Column::Throughput(i))?;
            Some((in_flight as f64, calls))
        })
        .collect()
}

/// The plot of `report`'s throughput figures, as an SVG document.
///
/// # Errors
/// If the report has no throughput figure of the plotted systems, or drawing fails.
pub fn throughput_svg(report: &Report) -> Result<String, BoxError> {
    let series: Vec<Series> = PLOTTED
        .into_iter()
        .map(|(system, color)| (system, color, points(report, system)))
        .filter(|(_, _, points)| !points.is_empty())
        .collect();
    let values = series
        .iter()
        .flat_map(|(_, _, points)| points.iter().map(|(_, calls)| *calls));
    let (low, high) = values.fold((f64::INFINITY, 0.0f64), |(low, high), v| {
        (low.min(v), high.max(v))
    });
    if series.is_empty() || low <= 0.0 {
        return Err(error(
            "--plot: no throughput figure of hardlight, tonic or raw_ws was measured",
        ));
    }
    let draw = |e: &dyn std::fmt::Display| error(format!("--plot: drawing: {e}"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw(&e))?;
        let max_in_flight = IN_FLIGHT[IN_FLIGHT.len() - 1] as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "64 B echo on one connection: calls/s against calls in flight",
                ("sans-serif", 20),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(
                (0.8..max_in_flight * 1.25).log_scale(),
                (low / 1.5..high * 1.5).log_scale(),
            )
            .map_err(|e| draw(&e))?;
        chart
            .configure_mesh()
            .x_desc("calls in flight")
            .y_desc("calls/s")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(|e| draw(&e))?;
        for (system, color, points) in &series {
            let color = *color;
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| draw(&e))?
                .label(system.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&point| Circle::new(point, 4, color.filled())),
                )
                .map_err(|e| draw(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| draw(&e))?;
        root.present().map_err(|e| draw(&e))?;
    }
    Ok(svg)
}

/// Writes [`throughput_svg`] of `report` to `path`.
///
/// # Errors
/// As [`throughput_svg`], or if the file cannot be written.
pub fn write(report: &Report, path: &Path) -> Result<(), BoxError> {
    let svg = throughput_svg(report)?;
    std::fs::write(path, svg).map_err(|e| error(format!("--plot: writing {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Figure;

    #[test]
    fn renders_an_svg_with_the_three_systems() {
        let mut report = Report::new(vec!["# header".into()], 1000);
        for (system, calls) in [
            (System::Hardlight, [20_000.0, 90_000.0, 150_000.0]),
            (System::Tonic, [8_000.0, 30_000.0, 40_000.0]),
            (System::RawWs, [25_000.0, 200_000.0, 400_000.0]),
        ] {
            for (i, calls) in calls.into_iter().enumerate() {
                report.set(system, Column::Throughput(i), Figure::Value(calls));
            }
        }
        let svg = throughput_svg(&report).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        for name in ["hardlight", "tonic", "raw_ws", "calls in flight", "calls/s"] {
            assert!(svg.contains(name), "{name} is not in the plot");
        }
        // A report without throughput figures has nothing to plot.
        assert!(throughput_svg(&Report::new(Vec::new(), 1000)).is_err());
    }
}
