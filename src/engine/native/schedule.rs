//! Open-model arrivals for one virtual user: the k-th iteration is due at a fixed time,
//! whatever happened to the previous ones. The rate may ramp up linearly from zero.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    start: Instant,
    /// Iterations per second for this user once ramped up.
    rate: f64,
    ramp: f64,
    /// Fraction of a period this user is shifted by, so users' arrivals interleave.
    phase: f64,
    next: u64,
}

impl Schedule {
    pub(crate) fn new(start: Instant, rate: f64, ramp: Duration, phase: f64) -> Schedule {
        Schedule {
            start,
            rate: rate.max(1e-9),
            ramp: ramp.as_secs_f64(),
            phase,
            next: 0,
        }
    }

    /// Seconds after the start at which arrival `k` is due. During the ramp the cumulative
    /// number of arrivals is `rate * t^2 / (2 * ramp)`; after it, `rate` per second.
    pub(crate) fn offset(&self, k: u64) -> f64 {
        let k = k as f64 + self.phase;
        let in_ramp = self.rate * self.ramp / 2.0;
        if self.ramp > 0.0 && k < in_ramp {
            (2.0 * k * self.ramp / self.rate).sqrt()
        } else {
            self.ramp + (k - in_ramp.min(k)) / self.rate
        }
    }

    /// This user's arrivals dealt round-robin to `lanes` lanes (`defaults.streams_per_user`):
    /// lane `l` takes arrivals `l`, `l + lanes`, ... at the times this schedule has them due,
    /// so the user's arrivals stay as they were, only spread over its lanes.
    pub(crate) fn lanes(&self, lanes: u32) -> Vec<Schedule> {
        let m = f64::from(lanes.max(1));
        (0..lanes.max(1))
            .map(|l| Schedule {
                rate: self.rate / m,
                phase: (f64::from(l) + self.phase) / m,
                ..self.clone()
            })
            .collect()
    }

    /// The intended start of the next iteration.
    pub(crate) fn next_due(&mut self) -> Instant {
        let at = self.start + Duration::from_secs_f64(self.offset(self.next));
        self.next += 1;
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user's arrivals, split over lanes, are the same instants, ramp included.
    #[test]
    fn lanes_take_the_users_arrivals_in_turn() {
        let user = Schedule::new(Instant::now(), 30.0, Duration::from_secs(2), 0.25);
        let lanes = user.lanes(3);
        for k in 0..200u64 {
            let lane = &lanes[(k % 3) as usize];
            let mine = lane.offset(k / 3);
            assert!((mine - user.offset(k)).abs() < 1e-9, "arrival {k}");
        }
    }

    #[test]
    fn a_constant_rate_is_evenly_spaced() {
        let s = Schedule::new(Instant::now(), 10.0, Duration::ZERO, 0.5);
        assert!((s.offset(0) - 0.05).abs() < 1e-9);
        assert!((s.offset(10) - 1.05).abs() < 1e-9);
    }

    #[test]
    fn a_ramp_delivers_half_the_arrivals_of_its_duration_then_the_full_rate() {
        let s = Schedule::new(Instant::now(), 100.0, Duration::from_secs(10), 0.0);
        // 100/s ramped over 10 s: 500 arrivals during the ramp, the 500th at 10 s.
        assert!((s.offset(500) - 10.0).abs() < 1e-6);
        assert!(
            (s.offset(125) - 5.0).abs() < 1e-6,
            "a quarter of the ramp's arrivals by half time"
        );
        assert!((s.offset(600) - 11.0).abs() < 1e-6);
        let offsets: Vec<f64> = (0..1000).map(|k| s.offset(k)).collect();
        assert!(
            offsets.windows(2).all(|w| w[1] > w[0]),
            "strictly increasing"
        );
    }
}
