//! Retrying HTTP calls, once for every client (GitLab, LoadForge): a [`Policy`] (backoff that
//! doubles up to a cap, a number of attempts, a total time budget), the server's `Retry-After`
//! (seconds or an HTTP date), and which failures are worth another try (429, 5xx, a connection
//! that failed or timed out; never another 4xx, which a retry would not change).
//!
//! [`call`] runs the loop; the client says what one attempt came to and how to wait, so a stop
//! signal can cut a wait short. A leaf: it imports nothing of the crate.

use std::time::{Duration, Instant, SystemTime};

/// When and how often a failed call is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// The wait before the first retry; each further retry waits twice as long.
    pub(crate) first_backoff: Duration,
    /// No backoff is longer than this (a server's `Retry-After` may be).
    pub(crate) max_backoff: Duration,
    /// Tries in all, the first included: 1 never retries.
    pub(crate) max_attempts: u32,
    /// How long the whole call may take, waits included: a wait that would end beyond it is
    /// not made, and the call fails with what the last attempt got.
    pub(crate) budget: Duration,
}

impl Policy {
    /// For a CI job's calls to GitLab: a few seconds of backoff of its own, but room for the
    /// wait GitLab itself asks for. GitLab's rate limits count over windows of up to 60 s, so
    /// a 429's `Retry-After` reaches 60 s; the budget holds that wait, the request before it
    /// and the one after it (each up to the client's 30 s timeout), so one such wait is always
    /// honoured before the call gives up.
    pub(crate) const DEFAULT: Policy = Policy {
        first_backoff: Duration::from_millis(500),
        max_backoff: Duration::from_secs(8),
        max_attempts: 4,
        budget: Duration::from_secs(150),
    };

    /// The backoff before retry `n` (0 for the first): `first_backoff * 2^n`, at most
    /// `max_backoff`.
    pub(crate) fn backoff(&self, n: u32) -> Duration {
        self.first_backoff
            .saturating_mul(2u32.saturating_pow(n))
            .min(self.max_backoff)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::DEFAULT
    }
}

/// Whether an HTTP status is worth another try: 429 (rate limited) and every 5xx (the server
/// may recover); any other status will not change by asking again.
pub(crate) fn is_transient_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// Whether a failed request is worth another try: the connection could not be made, broke, or
/// timed out. A request that could not be built, or a redirect refused, is not.
pub(crate) fn is_transient_error(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request()
}

/// The wait a `Retry-After` header value asks for, at most `cap`: delay-seconds (`120`) or an
/// HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`, a date already past meaning no wait). `None`
/// when the value is neither, so the policy's own backoff applies.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime, cap: Duration) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still a (very long) number of seconds.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(cap));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default().min(cap))
}

/// The wait an answer's `Retry-After` header asks for, capped by the policy's budget (see
/// [`parse_retry_after`]).
pub(crate) fn retry_after(headers: &http::HeaderMap, policy: &Policy) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now(), policy.budget)
}

/// Why a call was not tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// Every attempt the policy allows was made.
    Attempts,
    /// The next backoff would end beyond the time budget.
    Budget,
    /// The server asked (`Retry-After`) for a wait that would end beyond the time budget; the
    /// wait it asked for, at most the budget.
    RetryAfter(Duration),
    /// The wait was cut short: the run is being stopped.
    Stopped,
}

/// The retries of one call under a [`Policy`]: retries granted and time spent.
#[derive(Debug, Clone)]
struct Schedule {
    policy: Policy,
    started: Instant,
    retries: u32,
}

impl Schedule {
    /// A call whose first attempt starts now.
    fn start(policy: Policy) -> Schedule {
        Schedule::starting_at(policy, Instant::now())
    }

    fn starting_at(policy: Policy, started: Instant) -> Schedule {
        Schedule {
            policy,
            started,
            retries: 0,
        }
    }

    /// The wait before the next attempt, or why there is none; `asked` is the server's
    /// `Retry-After`, which replaces the backoff.
    fn next_wait(&mut self, asked: Option<Duration>) -> Result<Duration, GiveUp> {
        self.next_wait_at(asked, Instant::now())
    }

    fn next_wait_at(&mut self, asked: Option<Duration>, now: Instant) -> Result<Duration, GiveUp> {
        if self.retries + 1 >= self.policy.max_attempts {
            return Err(GiveUp::Attempts);
        }
        let wait = asked.unwrap_or_else(|| self.policy.backoff(self.retries));
        let spent = now.saturating_duration_since(self.started);
        if spent.saturating_add(wait) > self.policy.budget {
            return Err(match asked {
                Some(asked) => GiveUp::RetryAfter(asked),
                None => GiveUp::Budget,
            });
        }
        self.retries += 1;
        Ok(wait)
    }
}

/// What one attempt came to.
#[derive(Debug)]
pub(crate) enum Attempt<T> {
    /// Final: a success, or a failure another try would not change.
    Done(T),
    /// A transient failure (429, 5xx, a connection error): tried again if the policy allows,
    /// `last` returned if not. `retry_after` is the wait the server asked for, if any.
    Again {
        /// What the call returns when no retry follows.
        last: T,
        /// The server's `Retry-After`, already parsed.
        retry_after: Option<Duration>,
    },
}

/// What a call came to: the last attempt's value and, when that was a transient failure, why
/// it was not tried again.
#[derive(Debug)]
pub(crate) struct Outcome<T> {
    /// The last attempt's value.
    pub(crate) value: T,
    /// Retries made (attempts minus one).
    pub(crate) retries: u32,
    /// `None` when the last attempt was final ([`Attempt::Done`]).
    pub(crate) gave_up: Option<GiveUp>,
}

/// Makes `attempt` until it is done or the policy gives up. Between attempts `wait` is called
/// with the wait; it returns `false` when it was cut short (a stop signal), which ends the call
/// at once with [`GiveUp::Stopped`].
pub(crate) fn call<T>(
    policy: &Policy,
    mut wait: impl FnMut(Duration) -> bool,
    mut attempt: impl FnMut() -> Attempt<T>,
) -> Outcome<T> {
    let mut schedule = Schedule::start(*policy);
    let mut retries = 0;
    loop {
        let (last, asked) = match attempt() {
            Attempt::Done(value) => return outcome(value, retries, None),
            Attempt::Again { last, retry_after } => (last, retry_after),
        };
        match schedule.next_wait(asked) {
            Ok(d) if wait(d) => retries += 1,
            Ok(_) => return outcome(last, retries, Some(GiveUp::Stopped)),
            Err(why) => return outcome(last, retries, Some(why)),
        }
    }
}

fn outcome<T>(value: T, retries: u32, gave_up: Option<GiveUp>) -> Outcome<T> {
    Outcome {
        value,
        retries,
        gave_up,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy(attempts: u32, budget: Duration) -> Policy {
        Policy {
            first_backoff: ms(500),
            max_backoff: secs(3),
            max_attempts: attempts,
            budget,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy(10, secs(600));
        let waits: Vec<Duration> = (0..6).map(|n| p.backoff(n)).collect();
        assert_eq!(
            waits,
            [ms(500), secs(1), secs(2), secs(3), secs(3), secs(3)]
        );
        // Far beyond any real count, still the cap rather than an overflow.
        assert_eq!(p.backoff(u32::MAX), secs(3));
    }

    #[test]
    fn a_schedule_grants_attempts_minus_one_retries() {
        let t0 = Instant::now();
        let mut s = Schedule::starting_at(policy(4, secs(600)), t0);
        let waits: Vec<_> = (0..5).map(|_| s.next_wait_at(None, t0)).collect();
        assert_eq!(
            waits,
            [
                Ok(ms(500)),
                Ok(secs(1)),
                Ok(secs(2)),
                Err(GiveUp::Attempts),
                Err(GiveUp::Attempts)
            ]
        );
        assert_eq!(s.retries, 3);
        let mut once = Schedule::starting_at(policy(1, secs(600)), t0);
        assert_eq!(once.next_wait_at(None, t0), Err(GiveUp::Attempts));
    }

    #[test]
    fn the_default_policy_honours_a_full_rate_limit_window_after_a_slow_request() {
        // GitLab's longest Retry-After is a whole 60 s window; the 429 itself may come after a
        // request that took up to the 30 s timeout.
        let t0 = Instant::now();
        let mut s = Schedule::starting_at(Policy::DEFAULT, t0);
        assert_eq!(s.next_wait_at(Some(secs(60)), t0 + secs(30)), Ok(secs(60)));
        let asked = parse_retry_after("60", SystemTime::now(), Policy::DEFAULT.budget);
        assert_eq!(asked, Some(secs(60)), "not cut down by the budget");
    }

    #[test]
    fn no_wait_ends_beyond_the_budget() {
        let t0 = Instant::now();
        let mut s = Schedule::starting_at(policy(10, secs(10)), t0);
        assert_eq!(s.next_wait_at(None, t0 + secs(9)), Ok(ms(500)));
        assert_eq!(s.next_wait_at(None, t0 + secs(9)), Ok(secs(1)));
        assert_eq!(s.next_wait_at(None, t0 + ms(9_500)), Err(GiveUp::Budget));
        assert_eq!(s.retries, 2, "a refused wait is no retry");
    }

    #[test]
    fn retry_after_replaces_the_backoff_within_the_budget() {
        let t0 = Instant::now();
        let mut s = Schedule::starting_at(policy(10, secs(60)), t0);
        assert_eq!(
            s.next_wait_at(Some(secs(20)), t0),
            Ok(secs(20)),
            "beyond the cap is fine"
        );
        assert_eq!(
            s.next_wait_at(Some(ms(1)), t0),
            Ok(ms(1)),
            "shorter is fine too"
        );
        assert_eq!(
            s.next_wait_at(Some(secs(45)), t0 + secs(20)),
            Err(GiveUp::RetryAfter(secs(45)))
        );
    }

    #[test]
    fn retry_after_in_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("120", now, secs(600)), Some(secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now, secs(600)), Some(secs(0)));
        assert_eq!(
            parse_retry_after("120", now, secs(60)),
            Some(secs(60)),
            "capped"
        );
    }

    #[test]
    fn retry_after_as_an_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let cap = secs(3600);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now, cap),
            Some(secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now, cap),
            Some(secs(0)),
            "a date already past means no wait"
        );
        assert_eq!(
            parse_retry_after("Thu, 22 Oct 2015 07:28:00 GMT", now, cap),
            Some(cap),
            "a day later is capped"
        );
    }

    #[test]
    fn retry_after_garbage_and_huge_values() {
        let now = SystemTime::now();
        for garbage in ["", "soon", "-5", "1.5", "12s", "0x10", "Wed, 99 Oct 2015"] {
            assert_eq!(
                parse_retry_after(garbage, now, secs(60)),
                None,
                "{garbage:?}"
            );
        }
        let huge = "99999999999999999999999999";
        assert_eq!(parse_retry_after(huge, now, secs(60)), Some(secs(60)));
        assert_eq!(
            parse_retry_after(&u64::MAX.to_string(), now, secs(60)),
            Some(secs(60))
        );
    }

    #[test]
    fn retry_after_from_headers() {
        let p = policy(3, secs(30));
        let mut h = http::HeaderMap::new();
        assert_eq!(retry_after(&h, &p), None);
        h.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("7"),
        );
        assert_eq!(retry_after(&h, &p), Some(secs(7)));
        h.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("3600"),
        );
        assert_eq!(retry_after(&h, &p), Some(secs(30)), "capped by the budget");
    }

    #[test]
    fn which_failures_are_worth_another_try() {
        for s in [429, 500, 502, 503, 504, 599] {
            assert!(is_transient_status(s), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 409, 422, 600] {
            assert!(!is_transient_status(s), "{s}");
        }
    }

    #[test]
    fn call_retries_transient_failures_then_returns_the_last() {
        let mut waits = Vec::new();
        let mut n = 0;
        let out = call(
            &policy(3, secs(600)),
            |d| {
                waits.push(d);
                true
            },
            || {
                n += 1;
                Attempt::Again {
                    last: n,
                    retry_after: (n == 2).then_some(secs(7)),
                }
            },
        );
        assert_eq!(
            (out.value, out.retries, out.gave_up),
            (3, 2, Some(GiveUp::Attempts))
        );
        assert_eq!(waits, [ms(500), secs(7)]);
    }

    #[test]
    fn call_stops_at_a_final_answer_or_a_stop() {
        let out = call(&policy(5, secs(600)), |_| true, || Attempt::Done("ok"));
        assert_eq!((out.value, out.retries, out.gave_up), ("ok", 0, None));
        let mut tries = 0;
        let out = call(
            &policy(5, secs(600)),
            |_| false,
            || {
                tries += 1;
                Attempt::Again {
                    last: "busy",
                    retry_after: None,
                }
            },
        );
        assert_eq!(tries, 1, "no attempt after an interrupted wait");
        assert_eq!(out.gave_up, Some(GiveUp::Stopped));
    }
}
