//! The heap one call takes on the calling thread, for the tests that hold memory to a cap:
//! `allocation-counter`'s allocator counts each thread's allocations apart, so tests running
//! beside one another do not disturb the figure. Test builds only.

/// What a call allocated on this thread.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heap {
    /// The most bytes it held at once.
    pub(crate) peak: u64,
    /// The bytes it still held when it returned (what it kept, in what it returned or
    /// changed).
    pub(crate) kept: i64,
}

impl Heap {
    /// The peak in MiB, for the figures tests print.
    pub(crate) fn peak_mib(&self) -> f64 {
        self.peak as f64 / (1024.0 * 1024.0)
    }
}

thread_local! {
    /// The largest peak a helper thread reported for this thread's work (see [`elsewhere`]).
    static ELSEWHERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Adds the peak of a helper thread that worked for this one while it waited (the YAML
/// parser's thread): [`measure`] counts it on top of this thread's own peak.
pub(crate) fn elsewhere(peak: u64) {
    ELSEWHERE.set(ELSEWHERE.get().max(peak));
}

/// Runs `f`, measuring the heap it uses on this thread, and on the helper threads it waited
/// for (an upper bound: their peaks are added to this thread's).
pub(crate) fn measure<T>(f: impl FnOnce() -> T) -> (T, Heap) {
    let mut out = None;
    let outer = ELSEWHERE.replace(0);
    let info = allocation_counter::measure(|| out = Some(f()));
    let helpers = ELSEWHERE.replace(outer);
    elsewhere(helpers);
    let heap = Heap {
        peak: info.bytes_max + helpers,
        kept: info.bytes_current,
    };
    (out.expect("the measured call returned"), heap)
}
