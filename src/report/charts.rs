//! The report's charts, drawn by plotters into SVG strings that are inlined into report.html
//! (no script, no network). Each function returns `None` when there is nothing to draw.

use plotters::{coord::types::RangedCoordf64, prelude::*};

use crate::stats::{LatencyHistogram, SecondPoint, Side, Slice};

const W: u32 = 720;
const H: u32 = 320;
const CURRENT: RGBColor = RGBColor(0x1f, 0x6f, 0xeb);
const P95: RGBColor = RGBColor(0xe0, 0x7b, 0x00);
const P99: RGBColor = RGBColor(0xb3, 0x1d, 0x8f);
const FAIL: RGBColor = RGBColor(0xcf, 0x22, 0x2e);
const BASE: RGBColor = RGBColor(0x8c, 0x95, 0x9f);

fn max_of(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, f64::max).max(1e-9)
}

/// Draws with `draw` into an SVG string; plotters errors become `None` (a missing chart is
/// better than a missing report).
fn svg(
    draw: impl FnOnce(
        DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    ) -> Result<(), Box<dyn std::error::Error>>,
) -> Option<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (W, H)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        draw(root).ok()?;
    }
    // Scale to the page: the fixed size becomes a viewBox.
    Some(out.replacen(
        &format!("width=\"{W}\" height=\"{H}\""),
        &format!("viewBox=\"0 0 {W} {H}\" role=\"img\""),
        1,
    ))
}

fn legend(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The frame every chart shares: caption, margins, axes with light grid lines.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    caption: &str,
    (x_max, y_max): (f64, f64),
    x_desc: Option<&str>,
    y_desc: &str,
) -> Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    let mut c = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    if let Some(x) = x_desc {
        c.configure_mesh()
            .x_desc(x)
            .y_desc(y_desc)
            .light_line_style(WHITE)
            .draw()?;
    }
    Ok(c)
}

/// Draws the legend box and writes the chart out.
fn finish<'a, 'b: 'a>(
    c: &mut Chart<'a, 'b>,
    root: &DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
) -> Result<(), Box<dyn std::error::Error>> {
    c.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BASE)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Requests and failures per second, with the baseline's requests dashed behind.
pub(crate) fn throughput(series: &[SecondPoint], baseline: &[SecondPoint]) -> Option<String> {
    if series.is_empty() {
        return None;
    }
    let x_max = series
        .iter()
        .chain(baseline)
        .map(|p| p.t)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let y_max = max_of(series.iter().chain(baseline).map(|p| p.requests as f64)) * 1.1;
    svg(|root| {
        let mut c = frame(
            &root,
            "Requests and failures per second",
            (x_max, y_max),
            Some("seconds"),
            "per second",
        )?;
        if !baseline.is_empty() {
            c.draw_series(DashedLineSeries::new(
                baseline.iter().map(|p| (p.t as f64, p.requests as f64)),
                6,
                4,
                BASE.stroke_width(2),
            ))?
            .label("baseline requests")
            .legend(legend(BASE));
        }
        c.draw_series(LineSeries::new(
            series.iter().map(|p| (p.t as f64, p.requests as f64)),
            CURRENT.stroke_width(2),
        ))?
        .label("requests")
        .legend(legend(CURRENT));
        c.draw_series(LineSeries::new(
            series.iter().map(|p| (p.t as f64, p.failures as f64)),
            FAIL.stroke_width(2),
        ))?
        .label("failures")
        .legend(legend(FAIL));
        finish(&mut c, &root)
    })
}

/// p50, p95 and p99 per second, with the baseline's p95 dashed behind.
pub(crate) fn latency_over_time(
    series: &[SecondPoint],
    baseline: &[SecondPoint],
) -> Option<String> {
    if series.iter().all(|p| p.p95_ms.is_none()) {
        return None;
    }
    let x_max = series
        .iter()
        .chain(baseline)
        .map(|p| p.t)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let y_max = max_of(
        series
            .iter()
            .chain(baseline)
            .filter_map(|p| p.p99_ms.or(p.p95_ms)),
    ) * 1.1;
    let line = |f: fn(&SecondPoint) -> Option<f64>, s: &[SecondPoint]| -> Vec<(f64, f64)> {
        s.iter()
            .filter_map(|p| f(p).map(|v| (p.t as f64, v)))
            .collect()
    };
    svg(|root| {
        let mut c = frame(
            &root,
            "Latency percentiles per second (ms)",
            (x_max, y_max),
            Some("seconds"),
            "ms",
        )?;
        if baseline.iter().any(|p| p.p95_ms.is_some()) {
            c.draw_series(DashedLineSeries::new(
                line(|p| p.p95_ms, baseline),
                6,
                4,
                BASE.stroke_width(2),
            ))?
            .label("baseline p95")
            .legend(legend(BASE));
        }
        for (name, f, color) in [
            (
                "p50",
                (|p: &SecondPoint| p.p50_ms) as fn(&SecondPoint) -> Option<f64>,
                CURRENT,
            ),
            ("p95", |p: &SecondPoint| p.p95_ms, P95),
            ("p99", |p: &SecondPoint| p.p99_ms, P99),
        ] {
            c.draw_series(LineSeries::new(line(f, series), color.stroke_width(2)))?
                .label(name)
                .legend(legend(color));
        }
        finish(&mut c, &root)
    })
}

/// A paired run's slices over time: the p95 of all requests per slice, the base's and the
/// change's as two series at each slice's start, so a reviewer sees that a drift hit both.
/// Slices during which the load generator was starved are ringed in red.
pub(crate) fn paired_slices(slices: &[Slice], slice_s: f64) -> Option<String> {
    let side = |side: Side| -> Vec<(f64, f64)> {
        (slices.iter())
            .filter(|s| s.side == side)
            .filter_map(|s| Some((s.start_s, s.aggregate.p95_ms?)))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect()
    };
    let (base, change) = (side(Side::Base), side(Side::Change));
    if base.is_empty() && change.is_empty() {
        return None;
    }
    let starved: Vec<(f64, f64)> = (slices.iter())
        .filter(|s| s.starved)
        .filter_map(|s| Some((s.start_s, s.aggregate.p95_ms?)))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    // To the end of the last slice, so its point is not on the frame.
    let last = max_of(base.iter().chain(&change).map(|p| p.0));
    let x_max = last
        + if slice_s.is_finite() && slice_s > 0.0 {
            slice_s
        } else {
            last * 0.05
        };
    let y_max = max_of(base.iter().chain(&change).map(|p| p.1)) * 1.1;
    svg(|root| {
        let mut c = frame(
            &root,
            "p95 per slice, base and change (ms)",
            (x_max, y_max),
            Some("slice start, seconds"),
            "ms",
        )?;
        for (name, points, color) in [("base p95", &base, BASE), ("change p95", &change, CURRENT)] {
            c.draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(legend(color));
            c.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
        }
        if !starved.is_empty() {
            c.draw_series(
                starved
                    .iter()
                    .map(|p| Circle::new(*p, 6, FAIL.stroke_width(2))),
            )?
            .label("load generator starved")
            .legend(legend(FAIL));
        }
        finish(&mut c, &root)
    })
}

/// Percentile on a log scale: x = -log10(1 - q), so 90 % is 1, 99 % is 2, 99.9 % is 3.
fn nines(q: f64) -> f64 {
    -(1.0 - q.min(0.99999)).log10()
}

fn curve(h: &LatencyHistogram) -> Vec<(f64, f64)> {
    let mut pts = Vec::new();
    let mut x = 0.0;
    while x <= 4.0 {
        let q = 1.0 - 10f64.powf(-x);
        if let Some(v) = h.percentile_ms(q * 100.0) {
            pts.push((x, v));
        }
        x += 0.05;
    }
    pts
}

/// The latency distribution as a percentile curve (HdrHistogram style), current against the
/// baseline. Without a histogram, the known percentiles are drawn as points.
pub(crate) fn distribution(
    current: Option<&LatencyHistogram>,
    known: &[(f64, f64)],
    baseline: Option<&LatencyHistogram>,
) -> Option<String> {
    let cur: Vec<(f64, f64)> = match current {
        Some(h) if !h.is_empty() => curve(h),
        _ => known.iter().map(|(q, v)| (nines(q / 100.0), *v)).collect(),
    };
    if cur.is_empty() {
        return None;
    }
    let base: Vec<(f64, f64)> = baseline
        .filter(|h| !h.is_empty())
        .map(curve)
        .unwrap_or_default();
    let y_max = max_of(cur.iter().chain(&base).map(|p| p.1)) * 1.1;
    svg(|root| {
        let mut c = frame(
            &root,
            "Latency by percentile (ms)",
            (4.0, y_max),
            None,
            "ms",
        )?;
        c.configure_mesh()
            .x_labels(5)
            .x_label_formatter(&|x| match x.round() as i32 {
                0 => "0%".into(),
                1 => "90%".into(),
                2 => "99%".into(),
                3 => "99.9%".into(),
                _ => "99.99%".into(),
            })
            .y_desc("ms")
            .light_line_style(WHITE)
            .draw()?;
        if !base.is_empty() {
            c.draw_series(DashedLineSeries::new(
                base.clone(),
                6,
                4,
                BASE.stroke_width(2),
            ))?
            .label("baseline")
            .legend(legend(BASE));
        }
        c.draw_series(LineSeries::new(cur.clone(), CURRENT.stroke_width(2)))?
            .label("this run")
            .legend(legend(CURRENT));
        c.draw_series(cur.iter().map(|p| Circle::new(*p, 2, CURRENT.filled())))?;
        finish(&mut c, &root)
    })
}

/// One bar per endpoint: p95 now, the baseline's p95 as a thin grey bar, the threshold as a red
/// tick.
pub(crate) struct Bar {
    pub(crate) label: String,
    pub(crate) value: Option<f64>,
    pub(crate) baseline: Option<f64>,
    pub(crate) limit: Option<f64>,
}

pub(crate) fn p95_bars(bars: &[Bar]) -> Option<String> {
    if bars.iter().all(|b| b.value.is_none()) {
        return None;
    }
    let n = bars.len();
    let x_max = max_of(
        bars.iter()
            .flat_map(|b| [b.value, b.baseline, b.limit])
            .flatten(),
    ) * 1.15;
    let height = (70 + 44 * n as u32).max(160);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (W, height)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let draw = || -> Result<(), Box<dyn std::error::Error>> {
            let mut c = ChartBuilder::on(&root)
                .caption(
                    "p95 per endpoint (ms): blue = this run, grey = baseline, red = limit",
                    ("sans-serif", 15),
                )
                .margin(12)
                .x_label_area_size(28)
                .y_label_area_size(8)
                .build_cartesian_2d(0f64..x_max, 0f64..n as f64)?;
            c.configure_mesh()
                .disable_y_mesh()
                .y_labels(0)
                .light_line_style(WHITE)
                .draw()?;
            let font = ("sans-serif", 13).into_font().color(&BLACK);
            for (i, b) in bars.iter().enumerate() {
                let top = n as f64 - i as f64;
                // The name above its bar: long names are cut, the table has them whole.
                let mut label: String = b.label.chars().take(60).collect();
                if b.label.chars().count() > 60 {
                    label.push('…');
                }
                if let Some(v) = b.value {
                    label.push_str(&format!("  {v:.1}"));
                }
                c.draw_series(std::iter::once(Text::new(
                    label,
                    (0.0, top - 0.08),
                    font.clone(),
                )))?;
                if let Some(v) = b.value {
                    c.draw_series(std::iter::once(Rectangle::new(
                        [(0.0, top - 0.78), (v, top - 0.42)],
                        CURRENT.filled(),
                    )))?;
                }
                if let Some(v) = b.baseline {
                    c.draw_series(std::iter::once(Rectangle::new(
                        [(0.0, top - 0.92), (v, top - 0.82)],
                        BASE.filled(),
                    )))?;
                }
                if let Some(l) = b.limit {
                    c.draw_series(std::iter::once(PathElement::new(
                        vec![(l, top - 0.95), (l, top - 0.35)],
                        FAIL.stroke_width(3),
                    )))?;
                }
            }
            root.present()?;
            Ok(())
        };
        draw().ok()?;
    }
    Some(out.replacen(
        &format!("width=\"{W}\" height=\"{height}\""),
        &format!("viewBox=\"0 0 {W} {height}\" role=\"img\""),
        1,
    ))
}

/// A metric per run over the history, this run last and marked, the earlier runs' band (median
/// ± one standard deviation) shaded behind. `None` with fewer than three runs.
pub(crate) fn trend(caption: &str, unit: &str, values: &[Option<f64>]) -> Option<String> {
    let points: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| ((i + 1) as f64, v)))
        .collect();
    let (&last, earlier) = points.split_last()?;
    if earlier.len() < 2 {
        return None;
    }
    let band = band(earlier.iter().map(|p| p.1));
    let x_max = values.len() as f64 + 0.5;
    let y_max = max_of(points.iter().map(|p| p.1).chain([band.1])) * 1.15;
    svg(|root| {
        let mut c = frame(&root, caption, (x_max, y_max), Some("run"), unit)?;
        c.draw_series(std::iter::once(Rectangle::new(
            [(0.5, band.0), (x_max, band.1)],
            BASE.mix(0.2).filled(),
        )))?
        .label("earlier runs: median ± 1 sd")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], BASE.mix(0.3).filled()));
        c.draw_series(LineSeries::new(
            points.iter().copied(),
            BASE.stroke_width(2),
        ))?;
        c.draw_series(earlier.iter().map(|&p| Circle::new(p, 3, BASE.filled())))?;
        c.draw_series(std::iter::once(Circle::new(last, 6, CURRENT.filled())))?
            .label("this run")
            .legend(|(x, y)| Circle::new((x + 8, y), 5, CURRENT.filled()));
        finish(&mut c, &root)
    })
}

/// Median ± one standard deviation of `values`.
fn band(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    let n = v.len().max(1) as f64;
    let median = v.get(v.len() / 2).copied().unwrap_or(0.0);
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    ((median - sd).max(0.0), median + sd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_escaped_text() {
        let series: Vec<SecondPoint> = (0..5)
            .map(|t| SecondPoint {
                t,
                requests: 10 + t as u64,
                failures: 1,
                p50_ms: Some(5.0),
                p95_ms: Some(9.0),
                p99_ms: Some(12.0),
                users: 3,
                generator: None,
            })
            .collect();
        let s = throughput(&series, &[]).unwrap();
        assert!(
            s.starts_with("<svg") && s.contains("viewBox") && s.contains("<polyline"),
            "{s}"
        );
        let bars = p95_bars(&[Bar {
            label: "<script>alert(1)</script>".into(),
            value: Some(5.0),
            baseline: Some(4.0),
            limit: Some(8.0),
        }])
        .unwrap();
        assert!(
            !bars.contains("<script>") && bars.contains("&lt;script&gt;"),
            "{bars}"
        );
        assert!(throughput(&[], &[]).is_none());
    }

    #[test]
    fn a_trend_needs_three_runs_and_marks_this_one() {
        assert!(super::trend("p95", "ms", &[Some(1.0), Some(2.0)]).is_none());
        let svg = super::trend("p95", "ms", &[Some(1.0), None, Some(2.0), Some(3.0)]).unwrap();
        assert!(svg.contains("this run") && svg.contains("median"), "{svg}");
    }

    #[test]
    fn the_slice_chart_draws_both_sides_and_rings_a_starved_slice() {
        let mut slices: Vec<crate::stats::Slice> = (0..8u32)
            .map(|i| crate::stats::slice_fixture(i, 10.0 + f64::from(i)))
            .collect();
        let svg = super::paired_slices(&slices, 5.0).unwrap();
        assert!(
            svg.contains("base p95") && svg.contains("change p95"),
            "{svg}"
        );
        assert!(svg.matches("<circle").count() >= 8, "a point per slice");
        assert!(!svg.contains("starved"), "{svg}");
        slices[3].starved = true;
        let svg = super::paired_slices(&slices, 5.0).unwrap();
        assert!(svg.contains("load generator starved"), "{svg}");
        for s in &mut slices {
            s.aggregate.p95_ms = None;
        }
        assert!(super::paired_slices(&slices, 5.0).is_none());
    }
}
