//! Entry caps for one results file read back. The file's bytes are capped (64 MiB) and its
//! histograms held to a budget, but a byte says little about memory: `"r1": 1` is eight bytes
//! of JSON and some 70 bytes once it is a failure reason in a map, so 64 MiB of short entries
//! would take hundreds of megabytes. Each kind of entry that can repeat without bound is
//! counted while the file is read, and the read stops at its cap.
//!
//! Each cap lies beyond what a file this tool writes can hold within the byte cap (a written
//! endpoint row is some 330 bytes, a time-series point 150 or more, and a run keeps at most
//! 64 failure reasons per endpoint), so only a file made by hand reaches one.

use std::{cell::Cell, collections::BTreeMap, fmt};

use serde::{de, Deserializer};

/// The most endpoint rows one results file may hold, every row counted: the run's endpoints
/// and aggregate, and each history entry's (some 70 MB decoded). A file this tool writes holds
/// `--max-endpoints` + 2 rows and a history of at most `stats::MAX_HISTORY_BYTES`.
pub const MAX_FILE_ENDPOINTS: usize = 100_000;
/// The most failure reasons one results file may hold, all rows together (some 13 MB decoded).
pub const MAX_FILE_FAILURE_REASONS: usize = 200_000;
/// The most time-series points one results file may hold: one a second of a run of 5.8 days,
/// beyond which a written file passes the byte cap anyway (some 85 MB decoded).
pub const MAX_FILE_SERIES_POINTS: usize = 500_000;
/// The most k6 thresholds and checks one results file may hold, together: a file this tool
/// writes holds at most `stats::MAX_K6_THRESHOLDS` + `stats::MAX_K6_CHECKS` (700).
pub const MAX_FILE_K6_RULES: usize = 10_000;

/// A kind of entry a results file may hold many of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entries {
    /// Endpoint rows.
    Endpoints,
    /// Failure reasons (`failures_by_reason`).
    FailureReasons,
    /// Time-series points (`timeseries`).
    SeriesPoints,
    /// k6's thresholds and checks (`run.k6`).
    K6Rules,
}

impl Entries {
    /// The cap on this kind of entry.
    pub fn cap(self) -> usize {
        match self {
            Entries::Endpoints => MAX_FILE_ENDPOINTS,
            Entries::FailureReasons => MAX_FILE_FAILURE_REASONS,
            Entries::SeriesPoints => MAX_FILE_SERIES_POINTS,
            Entries::K6Rules => MAX_FILE_K6_RULES,
        }
    }

    fn index(self) -> usize {
        match self {
            Entries::Endpoints => 0,
            Entries::FailureReasons => 1,
            Entries::SeriesPoints => 2,
            Entries::K6Rules => 3,
        }
    }
}

impl fmt::Display for Entries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entries::Endpoints => "endpoint rows",
            Entries::FailureReasons => "failure reasons",
            Entries::SeriesPoints => "time-series points",
            Entries::K6Rules => "k6 thresholds and checks",
        })
    }
}

thread_local! {
    /// The entries counted so far in the file being read on this thread; `None` outside
    /// [`within_entry_caps`].
    static COUNTED: Cell<Option<[usize; 4]>> = const { Cell::new(None) };
    /// The first cap the file being read went past.
    static OVER: Cell<Option<Entries>> = const { Cell::new(None) };
}

/// Runs `read` (the parse of one results file) with fresh counts; tells which cap, if any,
/// stopped it.
pub(crate) fn within_entry_caps<T>(read: impl FnOnce() -> T) -> (T, Option<Entries>) {
    let outer = COUNTED.replace(Some([0; 4]));
    let outer_over = OVER.replace(None);
    let value = read();
    let over = OVER.replace(outer_over);
    COUNTED.set(outer);
    (value, over)
}

/// Counts one more entry of `kind` in the file being read, if one is being read; an error
/// once past its cap.
pub(crate) fn count(kind: Entries) -> Result<(), String> {
    let Some(mut counted) = COUNTED.get() else {
        return Ok(());
    };
    counted[kind.index()] += 1;
    COUNTED.set(Some(counted));
    if counted[kind.index()] > kind.cap() {
        if OVER.get().is_none() {
            OVER.set(Some(kind));
        }
        return Err(format!("more than {} {kind}", kind.cap()));
    }
    Ok(())
}

/// `failures_by_reason`, each reason counted as it is read.
pub(super) fn reasons<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, u64>, D::Error> {
    struct Counted;
    impl<'de> de::Visitor<'de> for Counted {
        type Value = BTreeMap<String, u64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of failure reasons to counts")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((reason, n)) = map.next_entry::<String, u64>()? {
                count(Entries::FailureReasons).map_err(de::Error::custom)?;
                out.insert(reason, n);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Counted)
}

/// A list of `T`, each counted as one entry of `kind` as it is read.
pub(super) fn counted_seq<'de, D, T>(d: D, kind: Entries) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: de::Deserialize<'de>,
{
    struct Counted<T>(Entries, std::marker::PhantomData<T>);
    impl<'de, T: de::Deserialize<'de>> de::Visitor<'de> for Counted<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of {}", self.0)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<T>()? {
                count(self.0).map_err(de::Error::custom)?;
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Counted(kind, std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_inside_a_read_and_stops_at_the_cap() {
        assert!(
            count(Entries::Endpoints).is_ok(),
            "outside a read: no count"
        );
        let ((), over) = within_entry_caps(|| {
            for _ in 0..MAX_FILE_SERIES_POINTS {
                count(Entries::SeriesPoints).unwrap();
            }
            let e = count(Entries::SeriesPoints).unwrap_err();
            assert_eq!(e, "more than 500000 time-series points");
            // A read inside a read has counts of its own.
            let ((), inner) = within_entry_caps(|| count(Entries::SeriesPoints).unwrap());
            assert_eq!(inner, None);
        });
        assert_eq!(over, Some(Entries::SeriesPoints));
        let ((), over) = within_entry_caps(|| count(Entries::SeriesPoints).unwrap());
        assert_eq!(over, None, "every read starts from zero");
    }
}
