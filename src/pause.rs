//! One interruptible sleep for every wait a stop signal must cut short: polling a cloud run,
//! waiting to retry a call, supervising a child process, waiting for a common start time. A
//! leaf: it imports nothing of the crate.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// How soon a cancellation is noticed.
const STEP: Duration = Duration::from_millis(20);

/// Sleeps for `duration` unless `stop` is cancelled first. Returns `true` when the whole
/// duration passed, `false` when `stop` was cancelled (at once if it already was).
pub(crate) fn pause(duration: Duration, stop: &CancellationToken) -> bool {
    // A duration too long for the clock is a wait that only a cancellation ends.
    let until = Instant::now().checked_add(duration);
    loop {
        if stop.is_cancelled() {
            return false;
        }
        let left = match until {
            Some(until) => until.saturating_duration_since(Instant::now()),
            None => STEP,
        };
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(STEP));
    }
}

/// Runs `work` (a blocking network call) on its own thread and waits for it unless `stop` is
/// cancelled first: a server that never answers must not keep the gate from honouring a signal.
/// `None` when interrupted (the thread is left to end with the process) or when `work` panicked.
pub(crate) fn interruptible<T: Send + 'static>(
    stop: &CancellationToken,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("network".into())
        .spawn(move || {
            let _ = tx.send(work());
        });
    if spawned.is_err() {
        return None;
    }
    loop {
        if stop.is_cancelled() {
            return None;
        }
        match rx.recv_timeout(STEP) {
            Ok(value) => return Some(value),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uninterrupted_pause_lasts_its_whole_duration() {
        let start = Instant::now();
        assert!(pause(Duration::from_millis(120), &CancellationToken::new()));
        assert!(start.elapsed() >= Duration::from_millis(120));
        assert!(pause(Duration::ZERO, &CancellationToken::new()));
    }

    #[test]
    fn a_cancelled_token_ends_the_pause_at_once() {
        let stop = CancellationToken::new();
        stop.cancel();
        let start = Instant::now();
        assert!(!pause(Duration::from_secs(3600), &stop));
        assert!(!pause(Duration::ZERO, &stop), "nothing waits once stopped");
        assert!(start.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn a_cancellation_during_the_pause_ends_it_early() {
        let stop = CancellationToken::new();
        let canceller = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                stop.cancel();
            })
        };
        let start = Instant::now();
        assert!(!pause(Duration::MAX, &stop));
        let took = start.elapsed();
        canceller.join().unwrap();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}
