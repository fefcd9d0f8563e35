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

/// Runs `f`, measuring the heap it uses on this thread.
pub(crate) fn measure<T>(f: impl FnOnce() -> T) -> (T, Heap) {
    let mut out = None;
    let info = allocation_counter::measure(|| out = Some(f()));
    let heap = Heap {
        peak: info.bytes_max,
        kept: info.bytes_current,
    };
    (out.expect("the measured call returned"), heap)
}
