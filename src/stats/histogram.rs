//! Latency histograms: the one representation every engine, shard and baseline shares, so that
//! merging is exact (counts add) and percentiles come from data rather than from averages of
//! averages. Values are microseconds.

use base64::Engine as _;
use hdrhistogram::{
    serialization::{Deserializer, Serializer, V2DeflateSerializer},
    Histogram,
};
use serde::{Deserialize, Serialize};

/// 1 µs to one hour, memory fixed up front (no growth with the number of requests).
pub(crate) const MAX_MICROS: u64 = 3_600_000_000;
/// Two significant digits: every recorded value is kept within 1 % of itself (HdrHistogram's
/// guarantee), inside the project's 2 % accuracy target, and a histogram over the full range
/// takes about 26 KB (3,200 `u64` counts) where three digits took about 190 KB. Each worker
/// thread keeps one per endpoint, so this is what decides how many endpoints a small runner
/// survives: 1,000 endpoints went from 553 KB to about 50 KB each (issue 17; measured with
/// `/usr/bin/time -v`, 20 users, 2 worker threads). The test
/// `percentiles_stay_within_one_percent_of_the_exact_value` measures the error on a skewed
/// distribution. Files written with three digits (older results.json) still read and merge.
const SIGFIG: u8 = 2;

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
    /// An empty histogram at full resolution ([`SIGFIG`] significant digits).
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

    /// Records `n` requests of one latency at once: how another tool's buckets (Locust's) are
    /// read without a loop per request.
    pub(crate) fn record_micros_n(&mut self, micros: u64, n: u64) {
        self.0.saturating_record_n(micros.clamp(1, MAX_MICROS), n);
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

    /// The standard deviation in milliseconds: with the count, the sampling error of the mean.
    pub(crate) fn stdev_ms(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.0.stdev() / 1000.0)
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

    /// Decodes a histogram from a results file. The file comes from outside (a previous
    /// pipeline's artifact), so the blob is checked before the decoder trusts the sizes inside
    /// it: a few bytes could otherwise declare gigabytes of counts.
    pub(crate) fn decode(text: &str) -> Result<Self, String> {
        if text.len() > MAX_ENCODED_CHARS {
            return Err(format!(
                "histogram is {} characters long; at most {MAX_ENCODED_CHARS} are accepted",
                text.len()
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("histogram is not base64: {e}"))?;
        let (digits, low, high) = check_encoded(&bytes)?;
        charge_budget(counts_bytes(digits, low, high))?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("histogram does not decode: {e:?}"))?;
        Ok(Self(h))
    }
}

/// The memory the decoded histograms of one results file may take together. One blob is
/// checked alone, but a 48-character blob declares a full-range, three-digit histogram of
/// 188 KB; 40,000 of them in a 6.7 MB file would take 7.5 GB. A file this tool writes holds
/// at most `--max-endpoints` + 2 histograms at two digits (27 KB each): 27 MB at the default
/// 1,000 names, and the budget admits some 4,800 names.
pub const HISTOGRAM_BUDGET_BYTES: u64 = 128 << 20;

thread_local! {
    /// What is left of the budget of the file being read on this thread; `None` outside
    /// [`within_budget`].
    static BUDGET_LEFT: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
    /// Set when a decode was refused for the budget, so the reader can say so.
    static BUDGET_SPENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `read` (the parse of one results file) with a fresh [`HISTOGRAM_BUDGET_BYTES`] for
/// the histograms it decodes; the flag tells whether a histogram was refused for the budget.
pub(crate) fn within_budget<T>(read: impl FnOnce() -> T) -> (T, bool) {
    let outer = BUDGET_LEFT.replace(Some(HISTOGRAM_BUDGET_BYTES));
    let outer_spent = BUDGET_SPENT.replace(false);
    let value = read();
    let spent = BUDGET_SPENT.replace(outer_spent);
    BUDGET_LEFT.set(outer);
    (value, spent)
}

/// Takes `bytes` from the budget of the file being read, if one is being read.
fn charge_budget(bytes: u64) -> Result<(), String> {
    match BUDGET_LEFT.get() {
        None => Ok(()),
        Some(left) if left >= bytes => {
            BUDGET_LEFT.set(Some(left - bytes));
            Ok(())
        }
        Some(_) => {
            BUDGET_SPENT.set(true);
            Err(format!(
                "its histograms need more than {} MiB decoded",
                HISTOGRAM_BUDGET_BYTES >> 20
            ))
        }
    }
}

/// The bytes of counts HdrHistogram allocates for a histogram of `digits` significant digits
/// from `low` to `high` (its own sizing rule: sub-buckets for the precision, one bucket per
/// doubling up to `high`, eight-byte counts).
fn counts_bytes(digits: u32, low: u64, high: u64) -> u64 {
    let largest_single_unit = 2 * 10u64.pow(digits);
    let sub_bucket_count = largest_single_unit.next_power_of_two();
    let unit_magnitude = 63 - u64::from(low.max(1).leading_zeros());
    let mut smallest_untrackable = sub_bucket_count << unit_magnitude;
    let mut buckets = 1u64;
    while smallest_untrackable <= high {
        if smallest_untrackable > u64::MAX / 2 {
            buckets += 1;
            break;
        }
        smallest_untrackable <<= 1;
        buckets += 1;
    }
    (buckets + 1) * (sub_bucket_count / 2) * 8
}

/// A full-range histogram at three significant digits encodes to a few kilobytes; anything
/// far beyond is not one of ours.
const MAX_ENCODED_CHARS: usize = 1024 * 1024;
/// The most bytes a histogram may inflate to: every count of a full-range, three-digit
/// histogram at the longest varint is under 250 KB.
const MAX_INFLATED: u64 = 4 * 1024 * 1024;
/// HdrHistogram's V2 cookies, deflated envelope and inner payload.
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
const V2_COOKIE: u32 = 0x1c84_9313;
/// The inner V2 header: cookie, payload length, normalizing offset, significant digits, lowest
/// and highest trackable value, integer-to-double ratio.
const V2_HEADER: usize = 4 + 4 + 4 + 4 + 8 + 8 + 8;

/// Checks an encoded histogram's envelope and header against what this tool writes (deflated
/// V2, 1 µs to one hour, at most three significant digits) and that it inflates to a bounded
/// size whose declared payload is really there, before any allocation sized by the blob.
fn check_encoded(bytes: &[u8]) -> Result<(u32, u64, u64), String> {
    use std::io::Read;
    let bad = |why: &str| Err(format!("histogram refused: {why}"));
    let word = |b: &[u8], at: usize| {
        b.get(at..at + 4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    };
    let long = |b: &[u8], at: usize| {
        b.get(at..at + 8).map(|w| {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            u64::from_be_bytes(a)
        })
    };
    if word(bytes, 0) != Some(V2_DEFLATE_COOKIE) {
        return bad("not a deflated HdrHistogram V2 blob");
    }
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(bytes.get(8..).unwrap_or_default())
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| format!("histogram refused: it does not inflate ({e})"))?;
    if inflated.len() as u64 > MAX_INFLATED {
        return bad("it inflates past 4 MiB");
    }
    let (Some(V2_COOKIE), Some(payload), Some(digits), Some(low), Some(high)) = (
        word(&inflated, 0),
        word(&inflated, 4),
        word(&inflated, 12),
        long(&inflated, 16),
        long(&inflated, 24),
    ) else {
        return bad("its header is incomplete");
    };
    if payload as usize > inflated.len().saturating_sub(V2_HEADER) {
        return bad("it declares more counts than it holds");
    }
    if !(1..=3).contains(&digits) || low < 1 || high > MAX_MICROS || low > high {
        return bad("its range or precision is not 1 µs to 1 h at up to 3 digits");
    }
    Ok((digits, low, high))
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

/// The written form, [`Wire`], with the one unit and encoding this version writes and reads.
impl schemars::JsonSchema for LatencyHistogram {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "LatencyHistogram".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Every latency of the run, in microseconds: an HdrHistogram (V2, deflated, base64) with its unit and encoding named beside it, so a later reader knows how to merge it.",
            "type": "object",
            "properties": {
                "unit": {"const": "us"},
                "encoding": {"const": ENCODING},
                "data": {"type": "string", "contentEncoding": "base64"},
            },
            "required": ["unit", "encoding", "data"],
            "additionalProperties": false,
        })
    }
}

impl<'de> Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        if w.encoding != ENCODING || w.unit != "us" {
            return Err(serde::de::Error::custom(format!(
                "unsupported histogram encoding `{}` in unit `{}`",
                crate::quote::quote(&w.encoding),
                crate::quote::quote(&w.unit)
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

    /// A skewed latency distribution (log-normal: most requests fast, a long slow tail, from
    /// 0.1 ms to seconds): every reported percentile within 1 % of the exact one.
    #[test]
    fn percentiles_stay_within_one_percent_of_the_exact_value() {
        use rand::Rng;
        let mut rng = crate::rng::Rng64::starting_at(17);
        let mut values: Vec<u64> = (0..200_000)
            .map(|_| {
                // exp(N(ln 20 ms, 1.2)) by Box-Muller.
                let (u, v): (f64, f64) = (rng.random(), rng.random());
                let z = (-2.0 * (1.0 - u).ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
                ((20_000f64.ln() + 1.2 * z).exp() as u64).clamp(100, MAX_MICROS)
            })
            .collect();
        let mut h = LatencyHistogram::new();
        for &v in &values {
            h.record_micros(v);
        }
        values.sort_unstable();
        let mut worst: f64 = 0.0;
        for q in [50.0, 75.0, 90.0, 95.0, 99.0, 99.9] {
            let rank = ((q / 100.0) * values.len() as f64).ceil() as usize;
            let exact = values[rank - 1] as f64 / 1000.0;
            let got = h.percentile_ms(q).unwrap();
            worst = worst.max((got - exact).abs() / exact);
        }
        assert!(worst <= 0.01, "worst relative error {:.3}%", worst * 100.0);
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

    /// A deflated V2 blob with the given header, as a results file would carry it.
    fn blob(digits: u32, low: u64, high: u64, payload_len: u32, payload: &[u8]) -> String {
        use std::io::Write;
        let mut inner = Vec::new();
        inner.extend_from_slice(&V2_COOKIE.to_be_bytes());
        inner.extend_from_slice(&payload_len.to_be_bytes());
        inner.extend_from_slice(&0u32.to_be_bytes());
        inner.extend_from_slice(&digits.to_be_bytes());
        inner.extend_from_slice(&low.to_be_bytes());
        inner.extend_from_slice(&high.to_be_bytes());
        inner.extend_from_slice(&1.0f64.to_be_bytes());
        inner.extend_from_slice(payload);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&inner).unwrap();
        let deflated = z.finish().unwrap();
        let mut outer = V2_DEFLATE_COOKIE.to_be_bytes().to_vec();
        outer.extend_from_slice(&(deflated.len() as u32).to_be_bytes());
        outer.extend_from_slice(&deflated);
        base64::engine::general_purpose::STANDARD.encode(outer)
    }

    /// Each of these would make the decoder allocate gigabytes from a few bytes.
    #[test]
    fn bombs_are_refused_before_decoding() {
        for (what, text) in [
            ("huge range", blob(5, 1, 1 << 62, 0, &[])),
            ("declared payload", blob(3, 1, MAX_MICROS, u32::MAX, &[])),
            (
                "zeros that inflate",
                blob(3, 1, MAX_MICROS, 0, &vec![0u8; 8 << 20]),
            ),
        ] {
            let err = LatencyHistogram::decode(&text).unwrap_err();
            assert!(err.starts_with("histogram refused"), "{what}: {err}");
        }
        assert!(LatencyHistogram::decode(&"A".repeat(MAX_ENCODED_CHARS + 4)).is_err());
    }

    #[test]
    fn what_we_write_passes_the_checks() {
        let mut h = LatencyHistogram::with_sigfig(2);
        h.record_micros(MAX_MICROS);
        h.record_micros(1);
        assert_eq!(LatencyHistogram::decode(&h.encode()).unwrap(), h);
        let full = LatencyHistogram::new();
        assert_eq!(LatencyHistogram::decode(&full.encode()).unwrap(), full);
    }

    #[test]
    fn the_budget_counts_what_hdrhistogram_allocates() {
        for digits in 1..=3u8 {
            for (low, high) in [(1, MAX_MICROS), (1, 1000), (1000, MAX_MICROS)] {
                let h = Histogram::<u64>::new_with_bounds(low, high, digits).unwrap();
                assert_eq!(
                    counts_bytes(u32::from(digits), low, high),
                    h.distinct_values() as u64 * 8,
                    "{digits} digits, {low}..{high}"
                );
            }
        }
    }

    #[test]
    fn many_small_blobs_of_one_file_are_held_to_the_budget() {
        let big = blob(3, 1, MAX_MICROS, 0, &[]);
        let each = counts_bytes(3, 1, MAX_MICROS);
        let fits = (HISTOGRAM_BUDGET_BYTES / each) as usize;
        let (decoded, spent) = within_budget(|| {
            (0..fits + 1)
                .map(|_| LatencyHistogram::decode(&big))
                .filter(Result::is_ok)
                .count()
        });
        assert_eq!((decoded, spent), (fits, true));
        // Another file starts with the whole budget again; outside any file, blobs are
        // checked alone.
        let (again, spent) = within_budget(|| LatencyHistogram::decode(&big).is_ok());
        assert!(again && !spent);
        assert!(LatencyHistogram::decode(&big).is_ok());
    }

    #[test]
    fn a_foreign_encoding_is_refused() {
        let err =
            serde_json::from_str::<LatencyHistogram>(r#"{"unit":"ms","encoding":"csv","data":""}"#)
                .unwrap_err();
        assert!(err.to_string().contains("unsupported histogram encoding"));
    }
}
