//! One interruptible sleep for every wait a stop signal must cut short: polling a cloud run,
//! waiting to retry a call, supervising a child process, waiting for a common start time; and
//! one helper thread for a blocking call a signal must not wait for, whose crash is told
//! apart from an interruption. A leaf: it imports nothing of the crate.

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

/// Why a helper thread gave no answer although nobody stopped it: never to be read as an
/// interruption, since the answer it owed (a baseline, say) is missing for another reason.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ThreadError {
    /// The thread could not be started.
    #[error("cannot start the {name} thread")]
    Spawn {
        /// The thread's name.
        name: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The work panicked; its message comes along.
    #[error("the {name} thread crashed: {message}")]
    Panicked {
        /// The thread's name.
        name: &'static str,
        /// The panic's message.
        message: String,
    },
}

/// What became of the work [`interruptible`] ran: each case apart, so that a crash is never
/// taken for an interruption.
#[derive(Debug)]
pub(crate) enum Waited<T> {
    /// The work finished with this.
    Done(T),
    /// `stop` was cancelled first; the thread is left to end with the process.
    Interrupted,
    /// The thread could not start, or the work panicked.
    Failed(ThreadError),
}

/// The name of the threads [`interruptible`] starts.
const THREAD: &str = "network";

/// Runs `work` (a blocking network call) on its own thread and waits for it unless `stop` is
/// cancelled first: a server that never answers must not keep the gate from honouring a signal.
pub(crate) fn interruptible<T: Send + 'static>(
    stop: &CancellationToken,
    work: impl FnOnce() -> T + Send + 'static,
) -> Waited<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(THREAD.into())
        .spawn(move || {
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            let _ = tx.send(done.map_err(panic_message));
        });
    if let Err(source) = spawned {
        return Waited::Failed(ThreadError::Spawn {
            name: THREAD,
            source,
        });
    }
    loop {
        if stop.is_cancelled() {
            return Waited::Interrupted;
        }
        match rx.recv_timeout(STEP) {
            Ok(Ok(value)) => return Waited::Done(value),
            Ok(Err(message)) => {
                return Waited::Failed(ThreadError::Panicked {
                    name: THREAD,
                    message,
                })
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Waited::Failed(ThreadError::Panicked {
                    name: THREAD,
                    message: "it ended without an answer".into(),
                })
            }
        }
    }
}

/// The text of a panic payload (a `String` or a `&str`; anything else is unnamed).
pub(crate) fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
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

    /// The audit's case: a panic in the baseline look-up's thread read as "the lookup was
    /// interrupted". It is a failure with its cause; only a cancelled `stop` is an
    /// interruption.
    #[test]
    fn a_panic_in_the_helper_thread_is_an_error_with_its_cause_not_an_interruption() {
        let stop = CancellationToken::new();
        let waited = interruptible(&stop, || -> u32 {
            panic!("byte index 8 is not a char boundary")
        });
        match waited {
            Waited::Failed(e) => assert_eq!(
                e.to_string(),
                "the network thread crashed: byte index 8 is not a char boundary"
            ),
            other => panic!("{other:?}"),
        }
        let formatted = interruptible(&stop, || -> u32 { panic!("{} went wrong", "the lookup") });
        assert!(
            matches!(&formatted, Waited::Failed(ThreadError::Panicked { message, .. }) if message == "the lookup went wrong"),
            "{formatted:?}"
        );
        assert!(matches!(interruptible(&stop, || 7), Waited::Done(7)));
        let never = CancellationToken::new();
        never.cancel();
        let waited = interruptible(&never, || std::thread::sleep(Duration::from_secs(5)));
        assert!(matches!(waited, Waited::Interrupted), "{waited:?}");
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
