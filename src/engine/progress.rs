//! Live progress in the job log: one plain line every few seconds when stderr is not a terminal
//! (GitLab's log), a single redrawn bar when it is; GitLab collapsible sections around the load
//! phase so the log stays readable.

use std::{
    io::{IsTerminal, Write},
    time::{Duration, SystemTime},
};

pub(crate) struct Progress {
    tty: bool,
    gitlab: bool,
    total: Duration,
    drawn: bool,
}

/// The counters a progress line shows.
pub(crate) struct Snapshot {
    pub(crate) elapsed: Duration,
    pub(crate) users: u32,
    pub(crate) max_users: u32,
    pub(crate) rps: f64,
    pub(crate) failures: u64,
    pub(crate) p95_ms: Option<f64>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Progress {
    pub(crate) fn new(total: Duration) -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            gitlab: std::env::var("GITLAB_CI").is_ok_and(|v| v == "true"),
            total,
            drawn: false,
        }
    }

    /// Opens a collapsible section in GitLab's job log (a no-op elsewhere).
    pub(crate) fn section_start(&self, name: &str, title: &str) {
        if self.gitlab {
            eprintln!(
                "\x1b[0Ksection_start:{}:{name}[collapsed=false]\r\x1b[0K{title}",
                unix_now()
            );
        } else {
            eprintln!("{title}");
        }
    }

    pub(crate) fn section_end(&mut self, name: &str) {
        self.finish_bar();
        if self.gitlab {
            eprintln!("\x1b[0Ksection_end:{}:{name}\r\x1b[0K", unix_now());
        }
    }

    pub(crate) fn line(&mut self, s: &Snapshot) -> String {
        format!(
            "[{:>5.0}s] users {:>5}/{} · {:>9.1} req/s · {} failed · p95 {}",
            s.elapsed.as_secs_f64(),
            s.users,
            s.max_users,
            s.rps,
            s.failures,
            s.p95_ms
                .map(|v| format!("{v:.1} ms"))
                .unwrap_or_else(|| "-".into())
        )
    }

    pub(crate) fn report(&mut self, s: &Snapshot) {
        let line = self.line(s);
        if self.tty {
            let width = 24usize;
            let done =
                (s.elapsed.as_secs_f64() / self.total.as_secs_f64().max(1e-9)).clamp(0.0, 1.0);
            let filled = (done * width as f64).round() as usize;
            let bar: String = "#".repeat(filled) + &"-".repeat(width - filled);
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K[{bar}] {line}");
            let _ = err.flush();
            self.drawn = true;
        } else {
            eprintln!("{line}");
        }
    }

    fn finish_bar(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

/// Runs `load` inside the collapsible section GitLab's job log shows for the load phase, as the
/// native engine's own loop does: an engine that runs another program (k6, Locust) prints its
/// progress lines inside it too.
pub(crate) fn in_load_section<T>(what: &str, total: Duration, load: impl FnOnce() -> T) -> T {
    let mut progress = Progress::new(total);
    progress.section_start(
        "loadforge_gate_load",
        &format!("loadforge-gate: load phase ({what})"),
    );
    let out = load();
    progress.section_end("loadforge_gate_load");
    out
}

/// A periodic deadline for a polling loop: due once per period, never when there is no period.
#[derive(Debug)]
pub(crate) struct Every {
    period: Option<Duration>,
    next: std::time::Instant,
}

impl Every {
    /// First due one period after `start`.
    pub(crate) fn new(start: std::time::Instant, period: Option<Duration>) -> Every {
        Every {
            next: start + period.unwrap_or_default(),
            period: period.filter(|p| !p.is_zero()),
        }
    }

    /// True once per period, from the first call at or after the deadline.
    pub(crate) fn due(&mut self, now: std::time::Instant) -> bool {
        match self.period {
            Some(p) if now >= self.next => {
                self.next += p;
                true
            }
            _ => false,
        }
    }
}
