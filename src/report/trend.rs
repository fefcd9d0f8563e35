//! The run history as reports show it: per endpoint, a metric over the earlier runs of the same
//! engine and load (oldest first) and this run last, for the comment's sparklines, the HTML trend chart
//! and `compare`'s text.

use super::Document;
use crate::{
    gate::{judgement, metric_value, Metric},
    stats::{EndpointStats, HistoryEntry, RunResult},
};

/// The earlier runs and this one.
pub(crate) struct Trend<'a> {
    /// Oldest first; never this run.
    pub(crate) earlier: Vec<&'a HistoryEntry>,
    current: &'a RunResult,
}

impl<'a> Trend<'a> {
    /// The history a document carries, without this run when a default-branch run put itself
    /// at its head.
    pub(crate) fn of(doc: &'a Document) -> Trend<'a> {
        Trend::new(&doc.history, &doc.run)
    }

    /// `history` (newest first, as results.json holds it) and the run `run`.
    pub(crate) fn new(history: &'a [HistoryEntry], run: &'a RunResult) -> Trend<'a> {
        let is_this_run = |h: &HistoryEntry| {
            h.started_at == run.run.started_at
                && h.pipeline == run.ci.as_ref().and_then(|c| c.pipeline_id.clone())
        };
        let mut earlier: Vec<&HistoryEntry> = history
            .iter()
            .skip_while(|h| is_this_run(h))
            // The band's runs: clean, the same engine, and the same load where both know it.
            .filter(|h| h.in_band(&run.run))
            .collect();
        earlier.reverse();
        Trend {
            earlier,
            current: run,
        }
    }

    /// Runs in the trend, this one included.
    pub(crate) fn len(&self) -> usize {
        self.earlier.len() + 1
    }

    /// `metric` of `endpoint` (`None`: every request) per run, oldest first, this run last;
    /// `None` where a run did not measure it.
    pub(crate) fn series(&self, endpoint: Option<&str>, metric: Metric) -> Vec<Option<f64>> {
        let value = |s: Option<&EndpointStats>| s.and_then(|s| metric_value(s, metric));
        let current = match endpoint {
            None => Some(&self.current.aggregate),
            Some(n) => self.current.endpoint(n),
        };
        self.earlier
            .iter()
            .map(|h| value(h.endpoint(endpoint)))
            .chain(std::iter::once(value(current)))
            .collect()
    }
}

/// Endpoints `compare` prints a trend for, the busiest first, besides every request together.
const TEXT_ENDPOINTS: usize = 20;

/// The trend as `compare` prints it: p95 per run as a sparkline, first and last value.
pub(crate) fn render_text(trend: &Trend<'_>) -> String {
    if trend.len() < 3 {
        return String::new();
    }
    let mut endpoints: Vec<&EndpointStats> = trend.current.endpoints.iter().collect();
    endpoints.sort_by_key(|e| std::cmp::Reverse(e.requests));
    let names = std::iter::once(None).chain(
        endpoints
            .iter()
            .take(TEXT_ENDPOINTS)
            .map(|e| Some(e.name.as_str())),
    );
    let mut out = format!("p95 over the last {} runs (oldest first):\n", trend.len());
    for name in names {
        let series = trend.series(name, Metric::Percentile(95.0));
        let ends = |v: Option<&Option<f64>>| {
            v.copied()
                .flatten()
                .map_or("–".to_string(), |v| format!("{v:.1}"))
        };
        let line = sparkline(&series);
        out.push_str(&format!(
            "  {:<40} {} {:<6} {} → {} ms\n",
            name.unwrap_or(crate::stats::ALL_REQUESTS),
            line.bars,
            line.scale(),
            ends(series.first()),
            ends(series.last())
        ));
    }
    out
}

/// Eight heights of block, lowest to highest.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A run less than this many of the history's spreads above the lowest run draws the lowest
/// bar: an unchanged build's runs lie within about ±2.5 spreads of the centre (the
/// judgement's noise), so they draw one flat line.
const NOISE_SPREADS: f64 = 6.0;

/// ...and so does a run less than this share of the history's centre above it: a history too
/// quiet to have a spread does not draw its last digit's wobble.
const MIN_ZONE: f64 = 0.0125;

/// The full height of a sparkline is at least this share of the history's centre (±5 %), so
/// a small real step does not fill it.
const MIN_HEIGHT: f64 = 0.10;

/// A sparkline and the change its full height stands for.
pub(crate) struct Sparkline {
    /// `▁▁▂▁█`; a run without a value is a space.
    pub(crate) bars: String,
    /// The change from `▁` to `█`, in percent of the history's centre; `None` when the centre
    /// is zero.
    pub(crate) height_pct: Option<f64>,
}

impl Sparkline {
    /// The scale as reports print it beside the bars: `↕10%`; empty without one.
    pub(crate) fn scale(&self) -> String {
        match self.height_pct {
            Some(p) if p >= 10.0 => format!("↕{p:.0}%"),
            Some(p) => format!("↕{p:.1}%"),
            None => String::new(),
        }
    }
}

/// A sparkline of `values` (this run last) scaled to the history's noise, the same centre and
/// spread the judgement takes. The lowest value draws `▁`, and so does every value within the
/// noise above it ([`NOISE_SPREADS`] spreads, at least [`MIN_ZONE`] of the centre): a change
/// within the noise draws flat. The values beyond it fill the other bars up to the highest,
/// on a height of at least [`MIN_HEIGHT`] of the centre, which [`Sparkline::scale`] shows.
pub(crate) fn sparkline(values: &[Option<f64>]) -> Sparkline {
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    let earlier: Vec<f64> = values[..values.len().saturating_sub(1)]
        .iter()
        .flatten()
        .copied()
        .collect();
    let band = if earlier.len() >= 2 { &earlier } else { &known };
    let (centre, spread) = judgement::centre_and_spread(band).unwrap_or((0.0, 0.0));
    let (lo, hi) = (known.iter()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    });
    let zone = (NOISE_SPREADS * spread).max(MIN_ZONE * centre.abs());
    let height = (hi - lo).max(MIN_HEIGHT * centre.abs());
    let above = BARS.len() as f64 - 1.0;
    let line = values
        .iter()
        .map(|v| match v {
            None => ' ',
            // NaN-safe: a value not above the noise draws the lowest bar.
            Some(v) if v - lo > zone && height > zone => {
                let step = 1.0 + ((v - lo - zone) / (height - zone) * above).floor();
                BARS[(step as usize).min(BARS.len() - 1)]
            }
            Some(_) => BARS[0],
        })
        .collect();
    Sparkline {
        bars: line,
        height_pct: (centre != 0.0 && !known.is_empty()).then(|| height / centre.abs() * 100.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(values: &[f64]) -> Sparkline {
        sparkline(&values.iter().map(|&v| Some(v)).collect::<Vec<_>>())
    }

    #[test]
    fn a_wobble_within_the_noise_draws_flat() {
        // p95 of 15.999 to 16.127 ms (0.8 %): not a trend.
        let wobble = line(&[16.0, 16.01, 15.999, 16.07, 16.0, 16.127, 16.12]);
        assert_eq!(wobble.bars, "▁▁▁▁▁▁▁");
        assert_eq!(wobble.scale(), "↕10%");
        // A history with no spread at all: the last digit's wobble still draws flat.
        assert_eq!(line(&[100.0, 100.0, 100.0, 100.5]).bars, "▁▁▁▁");
    }

    #[test]
    fn a_real_step_stands_out_and_fills_the_height() {
        let step = line(&[16.0, 16.05, 16.02, 16.08, 16.03, 18.43]);
        assert_eq!(step.bars, "▁▁▁▁▁█");
        assert_eq!(step.scale(), "↕15%");
        // A change the other way: the earlier runs stand above this one.
        assert_eq!(line(&[16.0, 16.05, 16.02, 13.0]).bars, "███▁");
        // Inside the minimum height, a step is drawn to that scale.
        assert_eq!(line(&[100.0, 100.1, 99.9, 100.0, 105.0]).bars, "▁▁▁▁▅");
    }

    #[test]
    fn runs_without_a_value_are_spaces() {
        assert_eq!(line(&[5.0, 5.0]).bars, "▁▁");
        assert_eq!(sparkline(&[Some(5.0), None, Some(5.0)]).bars, "▁ ▁");
        assert_eq!(sparkline(&[]).bars, "");
        assert_eq!(sparkline(&[None]).bars, " ");
        assert_eq!(sparkline(&[None]).scale(), "");
    }
}
