//! A paired run (`--compare-host`): the base's address, validated as `--host` is, and the
//! slices it is measured in, each refused with its flag and the fix.

use std::time::Duration;

use url::Url;

use super::{
    invalid,
    values::{duration, parse_http_url},
    EngineSettings, Layer, SettingsError,
};
use crate::{defaults, modes::EngineKind, stats::MAX_PAIRED_SLICES};

/// The shortest slice: a whole second of the time series. A slice's turns pool into one p95,
/// so it must hold enough requests for one (100 at 100 requests a second); the turns, not the
/// slice, follow a runner whose speed changes every few seconds.
const MIN_SLICE: Duration = Duration::from_secs(1);

/// The shortest turn: a few round trips of a fast service, and long enough that the
/// scheduling of the turns costs the generator nothing worth measuring.
const MIN_TURN: Duration = Duration::from_millis(50);

/// What a paired run needs beyond an unpaired one.
#[derive(Debug, Clone)]
pub struct PairedSettings {
    /// The base's address (`--compare-host`).
    pub(crate) compare_host: Url,
    /// One slice: each side's time per pair (whole seconds, so a slice is a whole number of
    /// the time series' seconds).
    pub(crate) slice: Duration,
    /// Each side's turn inside a pair (a slice is a whole number of them).
    pub(crate) turn: Duration,
    /// The start of each turn left out of its figures.
    pub(crate) warmup: Duration,
    /// The most slices the run may have.
    pub(crate) max_slices: u32,
    /// Stop as soon as every paired rule is decided (`--until-decisive`, whose limit is the
    /// run time).
    pub(crate) until_decisive: bool,
}

/// The paired run the layer asks for, if any: `--compare-host` set (not blank), the native
/// engine, one job, and a run time that holds at least one pair of slices and at most
/// `--paired-max-slices` slices. The slice settings are checked even without a base, so a
/// config file's mistake shows before the day someone sets one.
pub(super) fn from_layer(
    l: &Layer,
    engine: &EngineSettings,
    run_time: Duration,
    sharded: bool,
) -> Result<Option<PairedSettings>, SettingsError> {
    let (slice, turn, warmup) = timing(l)?;
    let max_slices = match l.load.paired_max_slices {
        Some(n) if !(2..=MAX_PAIRED_SLICES).contains(&n) => {
            return Err(invalid(
                "--paired-max-slices",
                format!("{n} must be 2 to {MAX_PAIRED_SLICES}"),
            ))
        }
        n => n.unwrap_or(defaults::PAIRED_MAX_SLICES),
    };
    let until_decisive = (l.load.until_decisive.as_deref()).is_some_and(|t| !t.trim().is_empty());
    let Some(text) = (l.load.compare_host.as_deref()).filter(|t| !t.trim().is_empty()) else {
        return match until_decisive {
            true => Err(invalid(
                "--until-decisive",
                "decides a paired run, and there is no base; give --compare-host or drop --until-decisive",
            )),
            false => Ok(None),
        };
    };
    let compare_host = parse_compare_host(text)?;
    if engine.kind() != EngineKind::Native {
        return Err(invalid(
            "--compare-host",
            "paired runs need the native engine for now; drop --compare-host or use --engine native",
        ));
    }
    if sharded {
        return Err(invalid(
            "--compare-host",
            "a paired run runs in one job; drop --shard (or --compare-host)",
        ));
    }
    // A pair counts once the pair after it has ended (its last answers had their time), so a
    // run keeps one pair fewer than it holds: it must hold two.
    let slices = run_time.as_secs_f64() / slice.as_secs_f64();
    if slices < 4.0 {
        return Err(invalid(
            "--paired-slice",
            format!(
                "a run of {} holds less than two pairs of {} slices (a run keeps one pair fewer than it holds); give a longer --run-time or a shorter --paired-slice",
                crate::duration::format_duration(run_time),
                crate::duration::format_duration(slice)
            ),
        ));
    }
    // Whole pairs: a run that begins a pair has both its slices.
    let made = 2.0 * (slices / 2.0).ceil();
    if made > f64::from(max_slices) {
        return Err(invalid(
            "--paired-max-slices",
            format!(
                "the run time makes {made} slices, more than {max_slices}; give a longer --paired-slice or raise --paired-max-slices"
            ),
        ));
    }
    Ok(Some(PairedSettings {
        compare_host,
        slice,
        turn,
        warmup,
        max_slices,
        until_decisive,
    }))
}

/// `--paired-slice`, `--paired-turn` and `--paired-warmup`: a slice of whole turns, each
/// turn longer than its warm-up.
fn timing(l: &Layer) -> Result<(Duration, Duration, Duration), SettingsError> {
    let slice = slice(l)?;
    let turn = duration(&l.load.paired_turn, "--paired-turn")?.unwrap_or(defaults::PAIRED_TURN);
    if turn < MIN_TURN || turn > slice || slice.as_nanos() % turn.as_nanos() != 0 {
        return Err(invalid(
            "--paired-turn",
            format!(
                "`{}` must divide a slice ({}) into whole turns of at least {} ms; give e.g. 250ms, 500ms or {}",
                crate::duration::format_duration(turn),
                crate::duration::format_duration(slice),
                MIN_TURN.as_millis(),
                crate::duration::format_duration(slice),
            ),
        ));
    }
    let warmup =
        duration(&l.load.paired_warmup, "--paired-warmup")?.unwrap_or(defaults::PAIRED_WARMUP);
    if warmup > turn / 2 {
        return Err(invalid(
            "--paired-warmup",
            format!(
                "`{}` must be at most half a turn ({}), or the turn measures next to nothing; give a shorter warm-up or a longer --paired-turn",
                crate::duration::format_duration(warmup),
                crate::duration::format_duration(turn)
            ),
        ));
    }
    Ok((slice, turn, warmup))
}

/// `--paired-slice`: whole seconds, at least [`MIN_SLICE`].
fn slice(l: &Layer) -> Result<Duration, SettingsError> {
    let slice = duration(&l.load.paired_slice, "--paired-slice")?.unwrap_or(defaults::PAIRED_SLICE);
    if slice.subsec_nanos() != 0 || slice < MIN_SLICE {
        return Err(invalid(
            "--paired-slice",
            format!(
                "`{}` must be a whole number of seconds, at least {}s",
                crate::duration::format_duration(slice),
                MIN_SLICE.as_secs()
            ),
        ));
    }
    Ok(slice)
}

/// The base's address, held to `--host`'s rules: an absolute http(s) URL with a host and no
/// credentials; every message shows it redacted.
pub(crate) fn parse_compare_host(text: &str) -> Result<Url, SettingsError> {
    parse_http_url(
        text,
        "--compare-host",
        "https://review-main.example.com",
        "which would not be sent and would show in every report; send them as a header from a variable instead (in the scenario: `headers: {Authorization: \"Basic ${env.TARGET_AUTH}\"}`)",
    )
}
