//! The cardinality guard: past `--max-endpoints` names the least busy share one row, the run
//! says so once with the fix, a rule on a folded endpoint fails, shards fold and merge.

use loadforge_gate::sample_app::Knobs;

use crate::harness::{sample_app, Gate, Output};

/// Ten busy endpoints (`GET /busy/N`) and twenty rare ones (`GET /rare/N`).
fn scenario() -> String {
    let mut s = String::from("tasks:\n");
    for i in 0..10 {
        s.push_str(&format!(
            "  - {{weight: 200, request: {{name: GET /busy/{i}, path: /health}}}}\n"
        ));
    }
    for i in 0..20 {
        s.push_str(&format!(
            "  - {{weight: 1, request: {{name: GET /rare/{i}, path: /health}}}}\n"
        ));
    }
    s
}

fn run(url: &str, extra: &[&str]) -> Output {
    Gate::new()
        .write("s.yml", &scenario())
        .args(["run", "--scenario", "s.yml", "--host", url])
        .args(["--users", "4", "--run-time", "2s", "--progress", "0"])
        .args(["--baseline", "none", "--max-endpoints", "10"])
        .args(extra)
        .run()
}

#[test]
fn the_least_busy_names_are_folded_and_the_run_says_how_to_fix_it() {
    let app = sample_app(Knobs::default());
    let out = run(&app.url(), &[]).expect_exit(0);
    let r = out.results();
    let names: Vec<&str> = r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 11, "{names:?}");
    assert!(
        names.iter().all(|n| !n.starts_with("GET /rare/")),
        "{names:?}"
    );
    assert_eq!(names.last(), Some(&"(other endpoints)"));
    let other = &r["endpoints"][10];
    let rare_requests = other["requests"].as_u64().unwrap();
    assert!(rare_requests > 0);
    let warning = "loadforge-gate: warning: 20 endpoint names past --max-endpoints 10 were counted as `(other endpoints)` (most common prefixes: `GET /rare/` (20)); give such requests one name (`name:` in a scenario, `name=` in Locust) or raise --max-endpoints";
    assert_eq!(
        out.stderr
            .lines()
            .filter(|l| l.contains("--max-endpoints"))
            .collect::<Vec<_>>(),
        [warning],
        "{}",
        out.stderr
    );
    assert!(out.file("summary.md").contains("past --max-endpoints 10"));
    assert_eq!(r["run"]["folded"]["names"], 20);
    assert_eq!(
        r["aggregate"]["requests"].as_u64(),
        Some(
            r["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["requests"].as_u64().unwrap())
                .sum::<u64>()
        ),
        "nothing lost in the fold"
    );
}

#[test]
fn a_rule_on_a_folded_endpoint_fails_as_not_measured() {
    let app = sample_app(Knobs::default());
    let out = run(&app.url(), &["--threshold", "GET /rare/3: p95<10s"]).expect_exit(1);
    let check = out.results()["verdict"]["checks"][0].clone();
    assert_eq!(check["passed"], false, "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("not measured (folded into `(other endpoints)`"),
        "{check}"
    );
}

#[test]
fn shards_fold_on_their_own_and_merge_adds_their_folded_rows() {
    let app = sample_app(Knobs::default());
    let shards: Vec<String> = ["1/2", "2/2"]
        .iter()
        .map(|s| {
            let out = run(&app.url(), &["--shard", s, "--run-id", "r1"]).expect_exit(0);
            let name = format!("shard-{}-of-2.json", &s[..1]);
            std::fs::read_to_string(out.out_dir().join("shards").join(name)).unwrap()
        })
        .collect();
    let other = |doc: &str| {
        let v: serde_json::Value = serde_json::from_str(doc).unwrap();
        v["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "(other endpoints)")
            .map(|e| e["requests"].as_u64().unwrap())
            .expect("a shard folded nothing")
    };
    let (a, b) = (other(&shards[0]), other(&shards[1]));
    let out = Gate::new()
        .write("a.json", &shards[0])
        .write("b.json", &shards[1])
        .args([
            "merge",
            "a.json",
            "b.json",
            "--baseline",
            "none",
            "--max-endpoints",
            "10",
        ])
        .run()
        .expect_exit(0);
    let merged = out.results();
    let row = merged["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "(other endpoints)")
        .cloned()
        .unwrap();
    assert_eq!(row["requests"].as_u64(), Some(a + b));
    assert_eq!(merged["endpoints"].as_array().unwrap().len(), 11);
}

#[test]
fn zero_is_not_a_cap() {
    let out = run("http://127.0.0.1:9", &["--max-endpoints", "0"]).expect_exit(2);
    assert!(
        out.one_line_error().contains("--max-endpoints"),
        "{}",
        out.stderr
    );
}
