//! Cookies the native engine's jars dropped. A dropped cookie is not a failed request (the
//! request that brought it succeeded), so it is counted once per run, by the cap that refused
//! it, and the run's notes say so; a request that later missed the cookie fails on its own.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How many cookies the virtual users' jars refused, by the cap that refused each: the
/// `run.cookies_dropped` object of results.json, absent when none was (and from engines that
/// keep no jar of their own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct CookiesDropped {
    /// Name and value together larger than a browser keeps (4096 bytes, the engine's cap).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub too_large: u64,
    /// New cookies for a domain that already had its most (50) in the user's jar.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub domain_full: u64,
    /// New cookies for a jar that already held `defaults.max_cookies`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_cookies: u64,
    /// Cookies that would have taken the jar past `defaults.max_cookies_kib`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_cookies_kib: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CookiesDropped {
    /// Every dropped cookie.
    pub fn total(&self) -> u64 {
        self.too_large
            .saturating_add(self.domain_full)
            .saturating_add(self.max_cookies)
            .saturating_add(self.max_cookies_kib)
    }

    /// Nothing was dropped (the field is then left out of results.json).
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// Adds `other`'s counts (another worker's, another shard's: the latter read from a file,
    /// so the sums saturate rather than overflow).
    pub(crate) fn add(&mut self, other: &CookiesDropped) {
        self.too_large = self.too_large.saturating_add(other.too_large);
        self.domain_full = self.domain_full.saturating_add(other.domain_full);
        self.max_cookies = self.max_cookies.saturating_add(other.max_cookies);
        self.max_cookies_kib = self.max_cookies_kib.saturating_add(other.max_cookies_kib);
    }

    /// The run's note when cookies were dropped: how many, by which cap, and what it means.
    pub(crate) fn note(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let parts: Vec<String> = [
            (self.too_large, "too large for a browser"),
            (self.domain_full, "past the most one domain may set"),
            (self.max_cookies, "past `defaults.max_cookies`"),
            (self.max_cookies_kib, "past `defaults.max_cookies_kib`"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, why)| format!("{n} {why}"))
        .collect();
        Some(format!(
            "The target set more cookies than a virtual user's jar keeps: {} were dropped, as a browser drops them ({}). A request that needed one of them may have failed.",
            self.total(),
            parts.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::CookiesDropped;

    #[test]
    fn nothing_dropped_is_no_note_and_no_field() {
        let none = CookiesDropped::default();
        assert!(none.is_empty());
        assert_eq!(none.note(), None);
        assert_eq!(serde_json::to_string(&none).unwrap(), "{}");
    }

    #[test]
    fn the_note_names_each_cap_that_dropped_and_sums_saturate() {
        let mut d = CookiesDropped {
            domain_full: 120,
            max_cookies_kib: 3,
            ..CookiesDropped::default()
        };
        let note = d.note().unwrap();
        assert!(note.contains("123 were dropped"), "{note}");
        assert!(
            note.contains("120 past the most one domain may set"),
            "{note}"
        );
        assert!(note.contains("3 past `defaults.max_cookies_kib`"), "{note}");
        assert!(!note.contains("max_cookies`"), "{note}");
        d.add(&CookiesDropped {
            domain_full: u64::MAX,
            ..CookiesDropped::default()
        });
        assert_eq!(d.total(), u64::MAX);
        let read: CookiesDropped = serde_json::from_str(r#"{"too_large": 2}"#).unwrap();
        assert_eq!(read.too_large, 2);
    }
}
