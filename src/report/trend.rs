//! The run history as reports show it: per endpoint, a metric over the earlier runs of the same
//! engine and load (oldest first) and this run last, for the comment's sparklines, the HTML trend chart
//! and `compare`'s text.

use super::Document;
use crate::{
    gate::{metric_value, Metric},
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
        out.push_str(&format!(
            "  {:<40} {}  {} → {} ms\n",
            name.unwrap_or("all requests"),
            sparkline(&series),
            ends(series.first()),
            ends(series.last())
        ));
    }
    out
}

/// Eight heights of block, lowest to highest.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A sparkline (`▁▂▂▃▅`) of `values` between their own lowest and highest; a run without a
/// value is a space. Flat when every value is equal.
pub(crate) fn sparkline(values: &[Option<f64>]) -> String {
    let known = values.iter().flatten().copied();
    let (lo, hi) = known.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    values
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(_) if hi - lo <= f64::EPSILON * hi.abs().max(1.0) => BARS[0],
            Some(v) => {
                let step = ((v - lo) / (hi - lo) * (BARS.len() - 1) as f64).round();
                BARS[(step as usize).min(BARS.len() - 1)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_between_their_own_extremes() {
        assert_eq!(sparkline(&[Some(1.0), Some(2.0), Some(8.0)]), "▁▂█");
        assert_eq!(sparkline(&[Some(5.0), None, Some(5.0)]), "▁ ▁");
        assert_eq!(sparkline(&[]), "");
        assert_eq!(sparkline(&[None]), " ");
    }
}
