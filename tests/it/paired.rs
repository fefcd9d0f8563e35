//! Paired runs (`--compare-host`, issue 33): the same users against two real servers in one
//! run, taking turns in balanced slices, each side with its own connections and cookies.

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use loadforge_gate::{
    sample_app::Knobs,
    stats::{Side, SliceOrder},
};

use crate::harness::{example, sample_app, slow_app, Gate};

fn paired_gate(scenario: &str, host: &str, base: &str, run_time: &str) -> Gate {
    Gate::new().write("s.yml", scenario).args([
        "run",
        "--scenario",
        "s.yml",
        "--host",
        host,
        "--compare-host",
        base,
        "--run-time",
        run_time,
        "--progress",
        "0",
        "--baseline",
        "none",
    ])
}

const PLAIN: &str = "tasks: [{request: {name: GET /, method: GET, path: /}}]\n";

fn slices(results: &serde_json::Value) -> &Vec<serde_json::Value> {
    results["paired"]["slices"].as_array().expect("slices")
}

/// The base answers in 30 ms, the change in 5 ms: results.json holds both sides whole and per
/// slice, and in every slice pair the base's latencies are above the change's.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 14 s of load")]
fn both_sides_are_measured_and_the_slower_is_slower_in_every_pair() {
    let _quiet = crate::harness::quiet();
    let (change, base) = (slow_app(5), slow_app(30));
    let out = paired_gate(PLAIN, &change.url(), &base.url(), "14s")
        .args(["--users", "4", "--spawn-rate", "100"])
        .run()
        .expect_exit(0);
    let r = out.results();
    let errors: Vec<String> = crate::schema::schema()
        .iter_errors(&r)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // `report` reads it back (capped, scrubbed) and writes it again whole.
    let again = Gate::new()
        .write("results.json", &out.file("results.json"))
        .args(["report", "results.json", "--out", "again"])
        .run()
        .expect_exit(0);
    let reread = crate::harness::json(
        &std::fs::read_to_string(again.dir.path().join("again/results.json")).unwrap(),
    );
    assert_eq!(reread["paired"], r["paired"]);
    let paired = &r["paired"];
    assert_eq!(paired["base_target"], format!("{}/", base.url()));
    assert_eq!(r["run"]["load"]["compare_target"], base.url());
    // The change's side is the run's own rows; the base's its own section.
    let p50 = |row: &serde_json::Value| row["latency_ms"]["p50"].as_f64().unwrap();
    assert!(p50(&r["aggregate"]) < 20.0, "{}", r["aggregate"]);
    assert!(p50(&paired["base_aggregate"]) >= 30.0, "{paired}");
    assert_eq!(paired["base_endpoints"][0]["name"], "GET /");
    // Seven pairs of 1 s slices, each side in 250 ms turns; the last pair is not settled.
    let change_s = r["run"]["duration_s"].as_f64().unwrap();
    assert!(
        (5.5..=8.5).contains(&change_s),
        "about half the run each: {change_s}"
    );
    let slices = slices(&r);
    assert_eq!(slices.len(), 12, "{slices:?}");
    let mut pairs = 0;
    for pair in slices.chunks(2) {
        let p50_of = |side: &str| {
            let s = pair
                .iter()
                .find(|s| s["side"] == side)
                .expect("one of each side");
            assert!(s["aggregate"]["requests"].as_u64().unwrap() > 10, "{s}");
            s["endpoints"][0]["p50_ms"].as_f64().unwrap()
        };
        for s in pair {
            assert_eq!(s["starved"], false, "the healthy stand-in: {s}");
            assert!(s["stall_ms"].as_f64().is_some(), "{s}");
        }
        let (b, c) = (p50_of("base"), p50_of("change"));
        assert!(b > c + 10.0, "base {b} ms, change {c} ms: {pair:?}");
        pairs += 1;
    }
    assert_eq!(pairs, 6);
}

/// The web login's session cookie: each side logs in on its own server and keeps its own
/// session. Cookies ignore ports, so one jar shared by both sides would send the base's
/// session to the change (and the other way), which answers 401 to a session it never made.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 6 s of load")]
fn each_side_keeps_its_own_session_cookie() {
    let (change, base) = (sample_app(Knobs::default()), sample_app(Knobs::default()));
    let scenario = std::fs::read_to_string(example("web-login.yml"))
        .unwrap()
        .replace("wait: {between: [1, 3]}", "wait: {between: [0.05, 0.1]}");
    // 6 s of 1 s slices settles two pairs (the last pair's answers are cut off by the end):
    // too few for the paired judgement of the built-in rules, which are then not judged
    // (exit 5), never passed.
    let out = paired_gate(&scenario, &change.url(), &base.url(), "6s")
        .args(["--users", "3", "--spawn-rate", "100"])
        .run()
        .expect_exit(5);
    assert!(
        out.stdout
            .contains("too noisy to judge: 2 slice pairs, at least 3 needed"),
        "{}",
        out.stdout
    );
    let r = out.results();
    let failures = |rows: &serde_json::Value| -> u64 {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|e| e["failures"].as_u64().unwrap())
            .sum()
    };
    let paired = &r["paired"];
    assert_eq!(failures(&r["endpoints"]), 0, "{}", r["endpoints"]);
    assert_eq!(failures(&paired["base_endpoints"]), 0, "{paired}");
    let requests = |row: &serde_json::Value| row["requests"].as_u64().unwrap();
    assert!(requests(&r["aggregate"]) > 20, "{}", r["aggregate"]);
    assert!(requests(&paired["base_aggregate"]) > 20, "{paired}");
    let logins = |rows: &serde_json::Value| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "POST /login")
            .map_or(0, requests)
    };
    assert_eq!(logins(&r["endpoints"]), 3, "one login a user on the change");
    assert_eq!(logins(&paired["base_endpoints"]), 3, "and one on the base");
}

/// A keep-alive server that answers `ok` to every request after the delay `on_request` gives
/// for it, or never when it gives none (reading on until the client closes, as a hung server
/// does).
fn keep_alive_server(on_request: impl Fn() -> Option<Duration> + Clone + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let on_request = on_request.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                let mut line = String::new();
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => {
                            let Some(delay) = on_request() else {
                                continue;
                            };
                            std::thread::sleep(delay);
                            let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                            if out.write_all(ok).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// A keep-alive server that notes when each request arrives, and answers in 2 ms.
fn noting_server(arrivals: Arc<Mutex<Vec<Instant>>>) -> String {
    keep_alive_server(move || {
        arrivals.lock().unwrap().push(Instant::now());
        Some(Duration::from_millis(2))
    })
}

/// A keep-alive server that answers in 5 ms, and from `hang_after` past its first request on
/// answers nothing more.
fn hanging_server(hang_after: Option<Duration>) -> String {
    let first: Arc<std::sync::OnceLock<Instant>> = Arc::default();
    keep_alive_server(move || {
        let first = *first.get_or_init(Instant::now);
        let hung = hang_after.is_some_and(|h| first.elapsed() >= h);
        (!hung).then_some(Duration::from_millis(5))
    })
}

/// The change stops answering 6.5 s into a 10 s run of 1 s slices: in pair 3 (6 to 8 s), the
/// last the run settles. Its requests sent from then on are still unanswered when the run
/// ends, long after pair 4 did: late in their slice, which then has no upper bound on its
/// latency. Dropped, the change's slice of pair 3 would hold only the fast answers from before
/// the hang, and the rule could pass a change that stopped answering.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 10 s of load")]
fn requests_the_run_ends_before_answering_are_late_not_dropped() {
    let change = hanging_server(Some(Duration::from_millis(6500)));
    let base = hanging_server(None);
    let out = paired_gate(PLAIN, &change, &base, "10s")
        .args(["--users", "4", "--spawn-rate", "100"])
        .args(["--regression", "p95 +50%"])
        .run();
    let r = out.results();
    let slices = slices(&r);
    let late = |s: &serde_json::Value| s["aggregate"]["late"].as_u64().unwrap_or(0);
    let sides: Vec<(&str, u64)> = (slices.iter())
        .map(|s| (s["side"].as_str().unwrap(), late(s)))
        .collect();
    assert_eq!(sides.len(), 8, "four settled pairs: {sides:?}");
    let last = slices[6..].iter().find(|s| s["side"] == "change").unwrap();
    assert!(late(last) >= 1, "the hung requests are late: {last}");
    assert!(
        last["aggregate"]["requests"].as_u64() > Some(0),
        "and the answers before the hang counted: {last}"
    );
    let check = r["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "regression" && c["name"].as_str().unwrap().contains("p95"))
        .cloned()
        .expect("the p95 rule's check");
    let detail = check["detail"].as_str().unwrap();
    assert_ne!(check["state"], "passed", "{check}");
    assert!(
        detail.contains("requests outlasted their slice in 1 of 4 slice pairs"),
        "{detail}"
    );
    assert_ne!(out.code, 0, "{}", out.stdout);
}

/// Each server sees requests only in its own side's turns, in the run's order (blocks of base,
/// change, change, base or change, base, base, change, from the key results.json records):
/// counted from the first request either side saw (the run's start), with a tenth of a turn
/// of leeway at each boundary for the requests in flight there. Each pair of 2 s slices holds
/// two 1 s turns of each side, pooled into one slice per side.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 12 s of load")]
fn the_sides_take_turns_in_the_balanced_order() {
    let (base_seen, change_seen) = (Arc::default(), Arc::default());
    let base = noting_server(Arc::clone(&base_seen));
    let change = noting_server(Arc::clone(&change_seen));
    // A generator that stalls 40 ms in every second: every slice says so.
    let out = paired_gate(PLAIN, &change, &base, "12s")
        .args(["--users", "4", "--spawn-rate", "1000"])
        .args(["--paired-slice", "2s", "--paired-turn", "1s"])
        .env("LOADFORGE_GATE_TEST_HICCUP_MS", "40")
        .run();
    // Starved slices, weighed: with a stall far beyond latencies of a few ms, passed only if
    // the built-in rules hold over every value the stall leaves possible, else not judged;
    // never failed for what the generator did.
    assert!(matches!(out.code, 0 | 5), "{}", out.stdout);
    let r = out.results();
    assert!(
        r.to_string().contains("the load generator was starved in"),
        "{r}"
    );
    assert!(
        slices(&r).iter().all(|s| s["starved"] == true),
        "{:?}",
        slices(&r)
    );
    assert_eq!(r["paired"]["turn_s"], 1.0, "{}", r["paired"]);
    let key = r["paired"]["order_key"].as_u64().expect("the order's key");
    let order = SliceOrder::keyed(u32::try_from(key).unwrap());
    let sides: Vec<&str> = slices(&r)
        .iter()
        .map(|s| s["side"].as_str().unwrap())
        .collect();
    assert_eq!(sides.len(), 4, "the last pair is not settled: {sides:?}");
    for pair in sides.chunks(2) {
        assert!(
            pair == ["base", "change"] || pair == ["change", "base"],
            "{sides:?}"
        );
    }
    let base_seen = base_seen.lock().unwrap().clone();
    let change_seen = change_seen.lock().unwrap().clone();
    let first = |seen: &[Instant]| *seen.first().expect("both sides saw requests");
    let t0 = first(&base_seen).min(first(&change_seen));
    let mut wrong = Vec::new();
    let mut seen = [0usize; 2];
    for (side, arrivals) in [(Side::Base, &base_seen), (Side::Change, &change_seen)] {
        for t in arrivals {
            let s = t.saturating_duration_since(t0).as_secs_f64();
            let (j, into) = (s.floor() as u64, s.fract());
            if !(0.1..0.9).contains(&into) || j >= 12 {
                continue;
            }
            seen[usize::from(side == Side::Change)] += 1;
            if order.side(j) != side {
                wrong.push((side, j, into));
            }
        }
    }
    assert!(seen[0] > 100 && seen[1] > 100, "{seen:?}");
    assert!(wrong.is_empty(), "requests out of turn: {wrong:?}");
}

/// The open model: one arrival schedule, each arrival going to the side whose slice it falls
/// in, so each side gets the run's rate over the time it is measured, not the rate over the
/// whole run (arrivals of the other side's slices held back and sent in a burst).
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 8 s of load")]
fn in_the_open_model_each_side_gets_the_arrivals_of_its_own_slices() {
    let (change, base) = (slow_app(2), slow_app(2));
    let r = paired_gate(PLAIN, &change.url(), &base.url(), "6s")
        .args(["--users", "10", "--rate", "50"])
        .run()
        // Two slice pairs: too few to judge the built-in rules on.
        .expect_exit(5)
        .results();
    let rate = |requests: &serde_json::Value, seconds: &serde_json::Value| {
        requests.as_u64().unwrap() as f64 / seconds.as_f64().unwrap()
    };
    let paired = &r["paired"];
    let change_rate = rate(&r["aggregate"]["requests"], &r["run"]["duration_s"]);
    let base_rate = rate(
        &paired["base_aggregate"]["requests"],
        &paired["base_duration_s"],
    );
    for (side, got) in [("change", change_rate), ("base", base_rate)] {
        assert!(
            (got - 50.0).abs() <= 7.5,
            "{side}: {got:.1}/s, asked for 50/s"
        );
    }
    for s in slices(&r) {
        let got = rate(&s["aggregate"]["requests"], &s["measured_s"]);
        assert!((got - 50.0).abs() <= 10.0, "{got:.1}/s in {s}");
    }
}

/// The change answers in 20 ms where the base answers in 10: judged on the slice pairs, with no
/// baseline at all (`--baseline none`), the rule `p95 +20%` fails, its detail naming the base
/// and the interval; the threshold judges the change's own figures as in any run.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 10 s of load")]
fn a_slower_change_fails_its_paired_rule_with_no_baseline() {
    let _quiet = crate::harness::quiet();
    let (change, base) = (slow_app(20), slow_app(10));
    let out = paired_gate(PLAIN, &change.url(), &base.url(), "10s")
        .args(["--users", "4", "--spawn-rate", "100"])
        .args(["--regression", "p95 +20%", "--threshold", "error_rate<1%"])
        .run();
    let check = out.results()["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "regression")
        .cloned()
        .expect("a regression check");
    let detail = check["detail"].as_str().unwrap();
    // A machine busy with other tests may starve the generator in a slice, or make the
    // pairs disagree: then, and only then, the check is not judged (exit 5), never passed.
    if out.code == 5 {
        match check["reason"].as_str() {
            Some("generator_starved") => assert!(
                detail.contains("the load generator was starved in"),
                "{detail}"
            ),
            Some("too_noisy") => assert!(detail.contains("too noisy to judge"), "{detail}"),
            _ => panic!("{check}"),
        }
        return;
    }
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(check["state"], "failed", "{check}");
    assert!(
        detail.contains(&format!("paired with the base {}/", base.url()))
            && detail.contains("regression: +")
            && detail.contains("over 4 slice pairs"),
        "{detail}"
    );
    assert!(out.file("junit.xml").contains("regression: p95 +20%"));
}

/// The reports of a real paired run (issue 33 item 4): summary.md and report.html show the base
/// and the change side by side with the paired finding, report.html draws both sides' slices,
/// and `report` and `compare` reading the results back show the same.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 12 s of load")]
fn the_reports_show_the_base_and_the_change_side_by_side() {
    let _quiet = crate::harness::quiet();
    let (change, base) = (slow_app(20), slow_app(10));
    let out = paired_gate(PLAIN, &change.url(), &base.url(), "12s")
        .args(["--users", "4", "--spawn-rate", "100"])
        .args(["--regression", "p95 +20%"])
        .run();
    assert!(matches!(out.code, 1 | 5), "{}", out.stdout);
    let summary = out.file("summary.md");
    assert!(
        summary.contains("#### Base and change, side by side")
            && summary.contains(&format!("the base {}/ and the change", base.url())),
        "{summary}"
    );
    let all = summary
        .lines()
        .find(|l| l.starts_with("| **all requests** |") && l.contains(" → "))
        .unwrap_or_else(|| panic!("no side-by-side row: {summary}"));
    // The check's own finding: a regression, or not judged when a slice was starved or a
    // busy machine spread three pairs too wide.
    assert!(
        [
            "p95 regression: +",
            "p95 not judged",
            "p95 too noisy to judge"
        ]
        .iter()
        .any(|w| all.contains(w)),
        "{all}"
    );
    assert!(summary.contains("| GET / |"), "{summary}");
    let html = out.file("report.html");
    assert!(html.contains("<h2>Base and change, side by side</h2>"));
    assert!(html.contains("p95 per slice, base and change") && html.contains("base p95"));
    // `report` reads results.json back and shows the same; `compare` prints it.
    let again = Gate::new()
        .write("results.json", &out.file("results.json"))
        .args(["report", "results.json", "--out", "again"])
        .run();
    let reread = std::fs::read_to_string(again.dir.path().join("again/summary.md")).unwrap();
    assert!(reread.contains(all), "{reread}");
    let compared = Gate::new()
        .write("results.json", &out.file("results.json"))
        .args(["compare", "results.json", "results.json"])
        .args(["--regression", "p95 +20%"])
        .run();
    assert!(
        compared.stdout.contains("paired with the base ")
            && compared.stdout.contains("  paired      p95 "),
        "{}",
        compared.stdout
    );
}

/// A real +20 % regression measured by a generator that stalls 40 ms every second, longer
/// than the latencies themselves: the stall could decide the verdict, so the check is not
/// judged (exit 5) with its readings, never passed and never a failure the generator made.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 12 s of load")]
fn a_stall_that_could_decide_the_verdict_leaves_it_not_judged() {
    let (change, base) = (slow_app(24), slow_app(20));
    // The median, which the stall (a few percent of the requests) leaves alone as measured: a
    // clear +20 % over five pairs, whatever the order.
    let out = paired_gate(PLAIN, &change.url(), &base.url(), "12s")
        .args(["--users", "4", "--spawn-rate", "100"])
        .args(["--regression", "p50 +5%"])
        .env("LOADFORGE_GATE_TEST_HICCUP_MS", "40")
        .run()
        .expect_exit(5);
    assert!(
        out.stdout
            .contains("not judged: the load generator was starved in")
            && out
                .stdout
                .contains("its stall could decide the verdict (as measured, "),
        "{}",
        out.stdout
    );
}
