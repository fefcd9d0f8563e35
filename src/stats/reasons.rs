//! Failure reasons per endpoint: one cap for every engine, every merge and every file written.
//! A target that answers each request with a new error text (a request id in its message), a
//! k6 script whose check names vary, or a Locust run with thousands of distinct exceptions
//! must neither grow the gate's memory nor write a results.json the next pipeline refuses to
//! read (its reader allows `MAX_FILE_FAILURE_REASONS` in all): beyond [`MAX_REASONS`] distinct
//! reasons, the rest are counted as [`OTHER_REASONS`], so every failure is still counted.

use std::collections::BTreeMap;

/// Distinct failure reasons kept per endpoint, [`OTHER_REASONS`] included.
pub(crate) const MAX_REASONS: usize = 64;

/// Where the reasons beyond the cap are counted.
pub(crate) const OTHER_REASONS: &str = "other (too many distinct failure reasons)";

/// Counts `n` failures for `reason`, or for [`OTHER_REASONS`] when the endpoint already has
/// its fill of distinct reasons: what an engine calls as it reads.
pub(crate) fn count_reason(reasons: &mut BTreeMap<String, u64>, reason: String, n: u64) {
    let key = if reasons.contains_key(&reason) || reasons.len() < MAX_REASONS - 1 {
        reason
    } else {
        OTHER_REASONS.to_string()
    };
    let slot = reasons.entry(key).or_default();
    *slot = slot.saturating_add(n);
}

/// The same reasons within the cap: the most frequent kept (ties by name, so the choice is
/// the same on every run), the rest added to [`OTHER_REASONS`]. What a merge and a scrub
/// leave, whoever counted the parts.
pub(crate) fn cap_reasons(reasons: &mut BTreeMap<String, u64>) {
    if reasons.len() <= MAX_REASONS {
        return;
    }
    let other = reasons.remove(OTHER_REASONS).unwrap_or(0);
    let mut by_count: Vec<(String, u64)> = std::mem::take(reasons).into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rest: u64 = (by_count.iter().skip(MAX_REASONS - 1))
        .map(|(_, n)| *n)
        .fold(other, u64::saturating_add);
    reasons.extend(by_count.into_iter().take(MAX_REASONS - 1));
    reasons.insert(OTHER_REASONS.to_string(), rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_beyond_the_cap_are_counted_as_other() {
        let mut reasons = BTreeMap::new();
        for i in 0..1000u64 {
            count_reason(&mut reasons, format!("HTTP 500 request {i}"), 2);
        }
        count_reason(&mut reasons, "HTTP 500 request 0".into(), 1);
        assert_eq!(reasons.len(), MAX_REASONS);
        assert_eq!(reasons.values().sum::<u64>(), 2001);
        assert_eq!(reasons["HTTP 500 request 0"], 3);
        assert_eq!(reasons[OTHER_REASONS], 2 * (1000 - 63));
    }

    #[test]
    fn a_cap_keeps_the_most_frequent_and_every_count() {
        let mut reasons: BTreeMap<String, u64> =
            (0..200u64).map(|i| (format!("r{i:03}"), i + 1)).collect();
        reasons.insert(OTHER_REASONS.into(), 5);
        let total: u64 = reasons.values().sum();
        cap_reasons(&mut reasons);
        assert_eq!(reasons.len(), MAX_REASONS);
        assert_eq!(reasons.values().sum::<u64>(), total);
        assert!(reasons.contains_key("r199") && reasons.contains_key("r137"));
        assert!(!reasons.contains_key("r136"));
        let small: BTreeMap<String, u64> = [("HTTP 503".to_string(), 4)].into();
        let mut same = small.clone();
        cap_reasons(&mut same);
        assert_eq!(same, small);
    }
}
