//! The run's end as one worker's users see it, and how long they may take to leave.
//!
//! When the run time is up, users stop *starting* work: no new request, step or iteration, and
//! a think time, an open-model arrival or a paired run's turn being waited for is cut short.
//! A request already sent runs to its end (its answer, its failure or its own timeout) and is
//! recorded as any other, as k6's `gracefulStop` lets iterations finish. Dropping the requests
//! in flight instead would drop the slow ones most often (a request in flight at a given
//! instant is picked in proportion to its length): a regression that makes some requests
//! slower than what is left of the run would lose exactly those from the whole-run figures.
//!
//! The signal is worker-local (a flag and a [`Notify`] on the worker's thread), not the run's
//! cross-thread token: a user checks it before every step, and the token's check takes a lock.

use std::{cell::Cell, time::Duration, time::Instant};

use tokio::sync::Notify;

use crate::scenario::Scenario;

/// What the drain may take beyond the longest request timeout: a request timed out at its
/// deadline is recorded at once, so this only covers the timer's and the scheduler's slack.
pub(crate) const DRAIN_MARGIN: Duration = Duration::from_secs(1);

/// The run's end, for the users of one worker.
#[derive(Debug, Default)]
pub(crate) struct EndSignal {
    ended: Cell<bool>,
    changed: Notify,
}

impl EndSignal {
    pub(crate) fn new() -> EndSignal {
        EndSignal::default()
    }

    /// Ends the run for these users: each stops at its next step or wait.
    pub(crate) fn end(&self) {
        self.ended.set(true);
        self.changed.notify_waiters();
    }

    pub(crate) fn has_ended(&self) -> bool {
        self.ended.get()
    }

    /// Sleeps until `at`, or less if the run ends first; whether the run is still on.
    pub(crate) async fn sleep_until(&self, at: Instant) -> bool {
        self.cut_short(tokio::time::sleep_until(tokio::time::Instant::from_std(at)))
            .await
    }

    /// Sleeps for `d` (tokio's sleep: a duration past any instant is a very long sleep, not
    /// an overflow), or less if the run ends first; whether the run is still on.
    pub(crate) async fn sleep(&self, d: Duration) -> bool {
        self.cut_short(tokio::time::sleep(d)).await
    }

    async fn cut_short(&self, sleep: tokio::time::Sleep) -> bool {
        if self.has_ended() {
            return false;
        }
        // Created before the first poll, so an `end` from here on is seen (`notify_waiters`
        // wakes every `Notified` that exists); the sleep first, so a wait already over (an
        // arrival due in the past) never registers with the notifier.
        let ended = self.changed.notified();
        tokio::select! {
            biased;
            () = sleep => {}
            () = ended => {}
        }
        !self.has_ended()
    }
}

/// How long the users may take, after the run's end, to finish the requests they have in
/// flight: the scenario's longest request timeout and a margin. Every exchange has that
/// deadline, so a request sent before the end is recorded within it; what still runs then (a
/// redirect chain, whose every hop has its own timeout) is aborted, so a run never hangs.
pub(crate) fn drain_bound(scenario: &Scenario) -> Duration {
    let longest = (scenario.requests().iter())
        .filter_map(|r| r.timeout)
        .fold(scenario.timeout, Duration::max);
    longest.saturating_add(DRAIN_MARGIN)
}

#[cfg(test)]
mod tests {
    use std::{rc::Rc, time::Duration, time::Instant};

    use super::EndSignal;

    fn local<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    /// A user in an hour-long think time leaves as soon as the run ends; the timeout below
    /// only turns a hang into a failure.
    #[test]
    fn the_end_cuts_a_wait_short_and_says_the_run_is_over() {
        local(async {
            let end = Rc::new(EndSignal::new());
            let waiting = {
                let end = end.clone();
                tokio::task::spawn_local(async move {
                    end.sleep_until(Instant::now() + Duration::from_secs(3600))
                        .await
                })
            };
            tokio::task::yield_now().await;
            end.end();
            let on = tokio::time::timeout(Duration::from_secs(60), waiting).await;
            assert!(!on.expect("the wait ended with the run").unwrap());
            assert!(
                !end.sleep_until(Instant::now()).await,
                "nothing waits after"
            );
        });
    }

    #[test]
    fn a_wait_that_runs_its_course_says_the_run_is_still_on() {
        local(async {
            let end = EndSignal::new();
            assert!(end.sleep_until(Instant::now()).await);
            let soon = Instant::now() + Duration::from_millis(5);
            assert!(end.sleep_until(soon).await);
            assert!(!end.has_ended());
        });
    }

    /// The bound is the longest timeout any request may have: a request's own, or the
    /// scenario's when it is longer.
    #[test]
    fn the_drain_is_bounded_by_the_longest_request_timeout_and_a_margin() {
        let parse = |text: &str| {
            crate::scenario::Scenario::parse(text, std::path::Path::new("s.yml"), &|_| None)
                .unwrap()
        };
        let own = parse(
            "defaults: {timeout: 2s}\ntasks:\n  - request: {name: a, path: /a, timeout: 7s}\n  - request: {name: b, path: /b}\n",
        );
        assert_eq!(super::drain_bound(&own), Duration::from_secs(8));
        let default = parse(
            "defaults: {timeout: 5s}\ntasks:\n  - request: {name: a, path: /a, timeout: 1s}\n",
        );
        assert_eq!(super::drain_bound(&default), Duration::from_secs(6));
    }
}
