//! Latency histograms: the one representation every engine, shard and baseline shares, so that
//! merging is exact (counts add) and percentiles come from data rather than from averages of
//! averages. Values are microseconds.

use base64::Engine as _;
use hdrhistogram::{
    serialization::{Deserializer, Serializer, V2DeflateSerializer},
    Histogram,
};
use serde::{Deserialize, Serialize};

/// 1 µs to one hour at three significant digits: enough resolution for a 2 % accuracy target at
/// any latency, with memory fixed up front (no growth with the number of requests).
pub(crate) const MAX_MICROS: u64 = 3_600_000_000;
const SIGFIG: u8 = 3;

/// Request latencies in microseconds, from 1 µs to one hour. In results.json it is an
/// HdrHistogram (V2, deflated, base64) with its unit and encoding named beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyHistogram(Histogram<u64>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram at full resolution (three significant digits).
    pub fn new() -> Self {
        Self::with_sigfig(SIGFIG)
    }

    /// A coarser histogram, for per-second time-series buckets where memory matters more.
    pub(crate) fn with_sigfig(sigfig: u8) -> Self {
        Self(Histogram::new_with_bounds(1, MAX_MICROS, sigfig).expect("static bounds are valid"))
    }

    /// Records one latency, clamped into the histogram's range rather than dropped.
    pub(crate) fn record_micros(&mut self, micros: u64) {
        self.0.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// Adds every value of `other`: how endpoints, seconds and shards combine exactly.
    pub fn add(&mut self, other: &LatencyHistogram) {
        // Both sides share the same bounds, so `add` cannot fail; saturating keeps it infallible
        // even for a histogram decoded from a foreign file with other bounds.
        if self.0.add(&other.0).is_err() {
            for v in other.0.iter_recorded() {
                self.0
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Percentile in milliseconds (`q` in 0..=100), `None` when nothing was recorded.
    pub fn percentile_ms(&self, q: f64) -> Option<f64> {
        (!self.is_empty()).then(|| self.0.value_at_percentile(q) as f64 / 1000.0)
    }

    pub(crate) fn min_ms(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.0.min() as f64 / 1000.0)
    }

    pub(crate) fn max_ms(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.0.max() as f64 / 1000.0)
    }

    pub(crate) fn mean_ms(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.0.mean() / 1000.0)
    }

    pub(crate) fn encode(&self) -> String {
        let mut buf = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.0, &mut buf)
            .expect("serializing into a Vec cannot fail");
        base64::engine::general_purpose::STANDARD.encode(buf)
    }

    pub(crate) fn decode(text: &str) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("histogram is not base64: {e}"))?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("histogram does not decode: {e:?}"))?;
        Ok(Self(h))
    }
}

/// On disk a histogram is `{"unit": "us", "encoding": "hdr-v2-deflate-base64", "data": "..."}`:
/// self-describing, so a later reader knows how to merge it.
#[derive(Serialize, Deserialize)]
struct Wire {
    unit: String,
    encoding: String,
    data: String,
}

const ENCODING: &str = "hdr-v2-deflate-base64";

impl Serialize for LatencyHistogram {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            unit: "us".into(),
            encoding: ENCODING.into(),
            data: self.encode(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        if w.encoding != ENCODING || w.unit != "us" {
            return Err(serde::de::Error::custom(format!(
                "unsupported histogram encoding `{}` in unit `{}`",
                w.encoding, w.unit
            )));
        }
        LatencyHistogram::decode(&w.data).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_survive_a_round_trip_through_json() {
        let mut h = LatencyHistogram::new();
        for v in 1..=10_000u64 {
            h.record_micros(v * 10);
        }
        let json = serde_json::to_string(&h).unwrap();
        let back: LatencyHistogram = serde_json::from_str(&json).unwrap();
        assert_eq!(back.count(), 10_000);
        assert_eq!(back.percentile_ms(99.0), h.percentile_ms(99.0));
        let p50 = back.percentile_ms(50.0).unwrap();
        assert!((p50 - 50.0).abs() / 50.0 < 0.01, "p50 {p50}");
    }

    #[test]
    fn merging_adds_counts_exactly() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        a.record_micros(1_000);
        b.record_micros(3_000);
        b.record_micros(3_000);
        a.add(&b);
        assert_eq!(a.count(), 3);
        let max = a.max_ms().unwrap();
        assert!((max - 3.0).abs() < 0.01, "max {max}");
    }

    #[test]
    fn empty_histogram_has_no_percentiles() {
        assert_eq!(LatencyHistogram::new().percentile_ms(95.0), None);
    }

    #[test]
    fn a_foreign_encoding_is_refused() {
        let err =
            serde_json::from_str::<LatencyHistogram>(r#"{"unit":"ms","encoding":"csv","data":""}"#)
                .unwrap_err();
        assert!(err.to_string().contains("unsupported histogram encoding"));
    }
}
