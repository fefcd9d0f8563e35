//! Human durations as CI users write them: `30s`, `5m`, `1h30m`, `500ms`, `1.5s`.

use std::time::Duration;

/// Parses a duration; a bare number means seconds (Locust's `-t 30` and the LoadForge API both
/// count in seconds).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration (write e.g. 30s, 5m or 1h30m)".into());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return seconds(secs, t);
    }
    let mut total = 0.0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_end);
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("`{t}` is not a duration (write e.g. 30s, 5m or 1h30m)"))?;
        let scale = match unit.trim() {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "" => {
                return Err(format!(
                    "`{t}` is missing a unit after {num} (ms, s, m or h)"
                ))
            }
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{t}` (use ms, s, m or h)"
                ))
            }
        };
        total += n * scale;
        rest = next;
    }
    seconds(total, t)
}

/// The longest duration accepted anywhere: nothing a gate waits for takes a year, and every
/// deadline computed from a duration then stays far inside what the clock can represent.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// A number of seconds as a duration, refusing what is negative, not a number, or longer than
/// [`MAX_DURATION`]; `text` is what the user wrote, for the message.
pub fn seconds(secs: f64, text: &str) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{text}` is not a valid duration"));
    }
    if secs > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "`{text}` is longer than a year; give a shorter duration"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats like the input grammar, so messages echo what users would write.
pub(crate) fn format_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) && !d.is_zero() {
        // Milliseconds, with as many decimals as the value has (0.4ms stays 0.4ms, not 0s).
        let text = format!("{:.6}", d.as_secs_f64() * 1000.0);
        return format!("{}ms", text.trim_end_matches('0').trim_end_matches('.'));
    }
    if d.subsec_nanos() != 0 {
        // Three decimals, as many as a millisecond needs, and none past the last digit
        // that is not 0 (250ms as 0.25s, not rounded to a 0.2s that is another setting).
        let text = format!("{:.3}", d.as_secs_f64());
        return format!("{}s", text.trim_end_matches('0').trim_end_matches('.'));
    }
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "5x", "-3s", "1h30", "1e20", "9000000h", "1e308s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_back() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_micros(400)), "0.4ms");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(format_duration(Duration::from_millis(1250)), "1.25s");
    }
}
