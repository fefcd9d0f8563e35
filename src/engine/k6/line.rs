//! One line of k6's JSON output (`k6 run --out json=FILE`): a `Metric` definition or a
//! `Point`, one JSON object per line, e.g.
//! `{"metric":"http_req_duration","type":"Point","data":{"time":"…","value":14.27,"tags":{…}}}`
//! (k6 `output/json/json.go`, whose `sampleEnvelope` writes `metric` first; the format is
//! described at grafana.com/docs/k6/latest/results-output/real-time/json/). The line comes
//! from a child process and is read as hostile: a line that is not what k6 writes is skipped
//! and counted, never a panic.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer};

use crate::stats::Protocol;

/// The metrics the gate reads; every other metric's point is skipped before it is parsed.
const REQUEST_METRIC: &str = "http_req_duration";
const CHECK_METRIC: &str = "checks";
const VUS_METRIC: &str = "vus";
/// Iterations k6 did not start: an arrival-rate executor's iteration due while every VU was
/// busy, or iterations left when a scenario's duration ran out (k6 `lib/executor`).
const DROPPED_METRIC: &str = "dropped_iterations";

/// What a line says that the gate uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Line {
    /// One HTTP request, finished.
    Request(Request),
    /// One `check()` evaluated.
    Check {
        /// The check's name, as in the script.
        name: String,
        /// Whether it held.
        passed: bool,
        /// The virtual user that made it (`vu` tag), which ties it to that user's last request.
        vu: Option<u64>,
        /// When.
        at: SystemTime,
    },
    /// The number of running virtual users at a moment (k6 writes it about once a second).
    Vus {
        /// How many.
        value: u32,
        /// When.
        at: SystemTime,
    },
    /// Iterations k6 dropped: load asked for and not applied.
    Dropped {
        /// How many (k6 writes 1 per iteration due, or the number left at a scenario's end).
        count: u64,
        /// When.
        at: SystemTime,
    },
    /// A metric definition or a point of a metric the gate does not read.
    Ignored,
}

/// An HTTP request's figures and tags.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    /// k6's `name` tag (the URL, or the script's grouping of it).
    pub(crate) name: String,
    /// The HTTP method.
    pub(crate) method: String,
    /// `http_req_duration` in microseconds: sending, waiting and receiving.
    pub(crate) micros: u64,
    /// When it finished.
    pub(crate) at: SystemTime,
    /// Why it failed, or `None` when k6 counted its response as expected.
    pub(crate) failure: Option<String>,
    /// The virtual user that made it.
    pub(crate) vu: Option<u64>,
    /// The HTTP version it went over (k6's `proto` tag), when k6 says.
    pub(crate) protocol: Option<Protocol>,
}

/// Why a line was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bad {
    /// Not JSON, or not the shape k6 writes.
    Malformed,
    /// A point of a metric the gate reads, without a usable value or time.
    BadValue,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: String,
    metric: String,
    #[serde(default)]
    data: Option<RawData>,
}

#[derive(Deserialize)]
struct RawData {
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    tags: Option<Tags>,
    /// Where k6 1.x puts the `vu` system tag (sample metadata, which costs k6 no time series).
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize, Default)]
struct Metadata {
    vu: Option<String>,
}

/// The tags the gate reads (k6's default system tags, plus `vu`, which the gate asks for).
#[derive(Deserialize, Default)]
struct Tags {
    name: Option<String>,
    url: Option<String>,
    method: Option<String>,
    status: Option<String>,
    expected_response: Option<String>,
    error_code: Option<String>,
    check: Option<String>,
    vu: Option<String>,
    /// `HTTP/1.1` or `HTTP/2.0`; read without a string of its own per request.
    #[serde(default, deserialize_with = "proto")]
    proto: Option<Protocol>,
}

/// k6's `proto` tag (Go's `Response.Proto`) as a protocol: `HTTP/2.0` is h2, `HTTP/1.1` and
/// `HTTP/1.0` are HTTP/1.1; anything else (empty when no response came, or a script's own
/// value) says nothing. Matched on the borrowed text, so the tag costs no allocation.
fn proto<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Protocol>, D::Error> {
    struct Word;
    impl serde::de::Visitor<'_> for Word {
        type Value = Option<Protocol>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("k6's proto tag")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(match v {
                "HTTP/2.0" => Some(Protocol::H2),
                "HTTP/1.1" | "HTTP/1.0" => Some(Protocol::Http1),
                _ => None,
            })
        }
    }
    d.deserialize_str(Word)
}

/// Reads one line. Points of metrics the gate does not read are recognised by their first
/// bytes and skipped unparsed: k6 writes about fifteen points per request, one of which counts.
pub(crate) fn parse(line: &[u8]) -> Result<Line, Bad> {
    if let Some(rest) = line.strip_prefix(br#"{"metric":""#) {
        let end = rest.iter().position(|&b| b == b'"').ok_or(Bad::Malformed)?;
        let metric = &rest[..end];
        if ![REQUEST_METRIC, CHECK_METRIC, VUS_METRIC, DROPPED_METRIC]
            .iter()
            .any(|m| m.as_bytes() == metric)
        {
            return Ok(Line::Ignored);
        }
    }
    let raw: Raw = serde_json::from_slice(line).map_err(|_| Bad::Malformed)?;
    if raw.kind != "Point" {
        return Ok(Line::Ignored);
    }
    let data = raw.data.ok_or(Bad::Malformed)?;
    let value = data.value.filter(|v| v.is_finite()).ok_or(Bad::BadValue)?;
    let at = data
        .time
        .as_deref()
        .and_then(parse_time)
        .ok_or(Bad::BadValue)?;
    let tags = data.tags.unwrap_or_default();
    let metadata = data.metadata.unwrap_or_default();
    let vu = (tags.vu.as_deref())
        .or(metadata.vu.as_deref())
        .and_then(|v| v.parse().ok());
    match raw.metric.as_str() {
        REQUEST_METRIC => request(value, at, tags, vu),
        CHECK_METRIC => Ok(Line::Check {
            name: clip(tags.check.unwrap_or_default()),
            passed: value > 0.0,
            vu,
            at,
        }),
        VUS_METRIC if value >= 0.0 => Ok(Line::Vus {
            value: value.min(u32::MAX as f64) as u32,
            at,
        }),
        VUS_METRIC => Err(Bad::BadValue),
        DROPPED_METRIC if value >= 0.0 => Ok(Line::Dropped {
            count: value.round().min(u32::MAX as f64) as u64,
            at,
        }),
        DROPPED_METRIC => Err(Bad::BadValue),
        _ => Ok(Line::Ignored),
    }
}

fn request(value: f64, at: SystemTime, tags: Tags, vu: Option<u64>) -> Result<Line, Bad> {
    if value < 0.0 {
        return Err(Bad::BadValue);
    }
    let status = tags.status.unwrap_or_default();
    // Without `expected_response` (a script that turned the tag off), k6's own default rule:
    // a status from 200 to 399 is expected.
    let expected = match tags.expected_response.as_deref() {
        Some(e) => e == "true",
        None => status.parse::<u16>().is_ok_and(|s| (200..400).contains(&s)),
    };
    let failure = (!expected).then(|| reason(&status, tags.error_code.as_deref()));
    Ok(Line::Request(Request {
        name: clip(tags.name.or(tags.url).unwrap_or_default()),
        method: clip(tags.method.unwrap_or_default()),
        micros: (value * 1000.0).round().min(u64::MAX as f64) as u64,
        at,
        failure,
        vu,
        protocol: tags.proto,
    }))
}

/// The longest tag value kept: a name or check beyond it is cut (k6 puts whole URLs in `name`).
const MAX_TAG_CHARS: usize = 512;

fn clip(mut s: String) -> String {
    if s.len() > MAX_TAG_CHARS {
        let mut end = MAX_TAG_CHARS;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// A failed request's reason in the native engine's words where they mean the same: the
/// status, or for a request that got none, k6's error code (grafana.com/docs/k6/latest/
/// javascript-api/error-codes/: 1050 request timeout, 1211 dial timeout, 1212 connection
/// refused, 1220 connection reset by peer).
fn reason(status: &str, error_code: Option<&str>) -> String {
    match (status, error_code) {
        ("" | "0", Some("1050" | "1211")) => "timeout".into(),
        ("" | "0", Some("1212")) => "connection refused".into(),
        ("" | "0", Some("1220")) => "connection reset".into(),
        ("" | "0", Some(code)) => format!("k6 error {}", clip(code.to_string())),
        ("" | "0", None) => "no response".into(),
        (status, _) => format!("HTTP {}", clip(status.to_string())),
    }
}

/// RFC 3339 as Go's `time.Time` writes it: `2024-05-01T10:00:00.123456789Z`, or with an
/// offset (`+02:00`) when k6 runs in another time zone.
fn parse_time(text: &str) -> Option<SystemTime> {
    if text.ends_with('Z') {
        return humantime::parse_rfc3339_weak(text.trim_end_matches('Z')).ok();
    }
    let split = text.len().checked_sub(6)?;
    let (local, offset) = (text.get(..split)?, text.get(split..)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1i64,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = offset.get(1..)?.split_once(':')?;
    let secs = (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60) * sign;
    let t = humantime::parse_rfc3339_weak(local).ok()?;
    let shift = Duration::from_secs(secs.unsigned_abs());
    // Local time minus its offset is UTC.
    if secs >= 0 {
        t.checked_sub(shift)
    } else {
        t.checked_add(shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = r#"{"metric":"http_req_duration","type":"Point","data":{"time":"2026-12-07T05:11:59.347988409Z","value":14.276113,"tags":{"error_code":"1401","expected_response":"false","group":"","method":"GET","name":"/dashboard","proto":"HTTP/1.1","scenario":"default","status":"401","url":"/dashboard"},"metadata":{"vu":"3"}}}"#;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn a_request_point_as_k6_writes_it() {
        let Ok(Line::Request(r)) = parse(REQ.as_bytes()) else {
            panic!("{:?}", parse(REQ.as_bytes()));
        };
        assert_eq!(r.name, "/dashboard");
        assert_eq!(r.method, "GET");
        assert_eq!(r.micros, 14_276);
        assert_eq!(r.failure.as_deref(), Some("HTTP 401"));
        assert_eq!(r.vu, Some(3));
        assert_eq!(r.at, at("2026-12-07T05:11:59.347988409Z"));
        assert_eq!(r.protocol, Some(Protocol::Http1));
    }

    /// k6's `proto` tag: `HTTP/2.0` is h2; no tag, an empty one (no response) or a script's
    /// own word says nothing, and never skips the request.
    #[test]
    fn the_proto_tag_names_the_protocol_or_nothing() {
        for (tag, protocol) in [
            (r#""proto":"HTTP/2.0","#, Some(Protocol::H2)),
            (r#""proto":"HTTP/1.0","#, Some(Protocol::Http1)),
            (r#""proto":"","#, None),
            (r#""proto":"h3\u001b","#, None),
            ("", None),
        ] {
            let line = REQ.replace(r#""proto":"HTTP/1.1","#, tag);
            let Ok(Line::Request(r)) = parse(line.as_bytes()) else {
                panic!("{tag}: {:?}", parse(line.as_bytes()));
            };
            assert_eq!(r.protocol, protocol, "{tag}");
        }
    }

    #[test]
    fn checks_vus_and_other_metrics() {
        let check = r#"{"metric":"checks","type":"Point","data":{"time":"2026-12-07T05:11:59Z","value":0,"tags":{"check":"status is 200","vu":"1"}}}"#;
        assert!(matches!(
            parse(check.as_bytes()),
            Ok(Line::Check { ref name, passed: false, vu: Some(1), .. }) if name == "status is 200"
        ));
        let vus = r#"{"metric":"vus","type":"Point","data":{"time":"2026-12-07T05:11:59Z","value":7,"tags":{}}}"#;
        assert!(matches!(
            parse(vus.as_bytes()),
            Ok(Line::Vus { value: 7, .. })
        ));
        let dropped = r#"{"metric":"dropped_iterations","type":"Point","data":{"time":"2026-12-07T05:11:59Z","value":1,"tags":{"scenario":"open_model"}}}"#;
        assert!(matches!(
            parse(dropped.as_bytes()),
            Ok(Line::Dropped { count: 1, .. })
        ));
        let negative = dropped.replace(r#""value":1"#, r#""value":-3"#);
        assert_eq!(parse(negative.as_bytes()), Err(Bad::BadValue));
        let huge = dropped.replace(r#""value":1"#, r#""value":1e300"#);
        assert!(matches!(
            parse(huge.as_bytes()),
            Ok(Line::Dropped { count, .. }) if count == u64::from(u32::MAX)
        ));
        let other = r#"{"metric":"http_req_blocked","type":"Point","data":{"time":"x","value":"not even a number"}}"#;
        assert_eq!(parse(other.as_bytes()), Ok(Line::Ignored));
        let def = r#"{"type":"Metric","data":{"name":"http_req_duration","type":"trend","contains":"time","thresholds":["p(95)<500"],"submetrics":null},"metric":"http_req_duration"}"#;
        assert_eq!(parse(def.as_bytes()), Ok(Line::Ignored));
    }

    #[test]
    fn reasons_for_requests_without_a_status() {
        assert_eq!(reason("0", Some("1212")), "connection refused");
        assert_eq!(reason("0", Some("1050")), "timeout");
        assert_eq!(reason("0", Some("1100")), "k6 error 1100");
        assert_eq!(reason("", None), "no response");
        assert_eq!(reason("503", Some("1503")), "HTTP 503");
        // Without expected_response, k6's default rule decides.
        let line = REQ.replace(r#""expected_response":"false","#, "");
        let Ok(Line::Request(r)) = parse(line.as_bytes()) else {
            panic!()
        };
        assert_eq!(r.failure.as_deref(), Some("HTTP 401"));
        let ok = line.replace(r#""status":"401""#, r#""status":"302""#);
        let Ok(Line::Request(r)) = parse(ok.as_bytes()) else {
            panic!()
        };
        assert_eq!(r.failure, None);
    }

    #[test]
    fn times_with_an_offset_are_read_as_utc() {
        assert_eq!(
            parse_time("2026-12-07T07:11:59.5+02:00"),
            Some(at("2026-12-07T05:11:59.5Z"))
        );
        assert_eq!(
            parse_time("2026-12-07T03:11:59-02:00"),
            Some(at("2026-12-07T05:11:59Z"))
        );
        for bad in ["", "Z", "yesterday", "2026-12-07T07:11:59*02:00", "+02:00"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    /// What a misbehaving k6 (or another program writing to the FIFO) could send: each line is
    /// skipped with its reason, and nothing panics.
    #[test]
    fn hostile_lines_are_skipped() {
        let nan = REQ.replace("14.276113", "NaN");
        let negative = REQ.replace("14.276113", "-1");
        let text_value = REQ.replace("14.276113", r#""14""#);
        let no_time = REQ.replace(r#""time":"2026-12-07T05:11:59.347988409Z","#, "");
        let huge_name = REQ.replace("/dashboard", &"x".repeat(100_000));
        let cases: [(&str, Result<(), Bad>); 10] = [
            ("", Err(Bad::Malformed)),
            ("{", Err(Bad::Malformed)),
            (r#"{"metric":"http_req_duration"#, Err(Bad::Malformed)),
            ("[1,2,3]", Err(Bad::Malformed)),
            (&nan, Err(Bad::Malformed)),
            (&negative, Err(Bad::BadValue)),
            (&text_value, Err(Bad::Malformed)),
            (&no_time, Err(Bad::BadValue)),
            (
                r#"{"metric":"http_req_duration","type":"Point"}"#,
                Err(Bad::Malformed),
            ),
            (r#"{"type":"Future","metric":"x","data":{}}"#, Ok(())),
        ];
        for (line, want) in cases {
            let got = parse(line.as_bytes()).map(|_| ());
            assert_eq!(got, want, "{}", &line[..line.len().min(80)]);
        }
        let huge = REQ.replace("14.276113", "1e308");
        assert!(matches!(parse(huge.as_bytes()), Ok(Line::Request(r)) if r.micros == u64::MAX));
        let Ok(Line::Request(r)) = parse(huge_name.as_bytes()) else {
            panic!()
        };
        assert_eq!(r.name.len(), MAX_TAG_CHARS);
        let bytes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        assert!(parse(&bytes).is_err());
    }
}
