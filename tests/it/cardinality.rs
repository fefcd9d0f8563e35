//! The cardinality guard: past `--max-endpoints` names the least busy share one row, the run
//! says so once with the fix, a rule on a folded endpoint fails, shards fold and merge.

use loadforge_gate::sample_app::Knobs;

use crate::{
    harness::{sample_app, Gate, Output},
    locust::locust_bin,
};

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
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn the_least_busy_names_are_folded_and_the_run_says_how_to_fix_it() {
    let app = sample_app(Knobs::default());
    let out = run(&app.url(), &[]).expect_exit(0);
    let r = out.results();
    let names = endpoint_names(&r);
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
        Some(rows_requests(&r)),
        "nothing lost in the fold"
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_rule_on_a_folded_endpoint_fails_as_not_measured() {
    let app = sample_app(Knobs::default());
    let out = run(&app.url(), &["--threshold", "GET /rare/3: p95<10s"]).expect_exit(1);
    let check = out.results()["verdict"]["checks"][0].clone();
    assert_eq!(check["state"], "failed", "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("not measured (folded into `(other endpoints)`"),
        "{check}"
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
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

/// A scenario of four names, declared in this order: past `--max-endpoints 3` the native
/// engine folds the last one.
fn four_names(order: [&str; 4]) -> String {
    let mut s = String::from("tasks:\n");
    for name in order {
        s.push_str(&format!(
            "  - {{weight: 1, request: {{name: {name}, path: /health}}}}\n"
        ));
    }
    s
}

fn endpoint_requests(doc: &serde_json::Value, name: &str) -> u64 {
    doc["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == name)
        .map(|e| e["requests"].as_u64().unwrap())
        .sum()
}

/// Two real shard files of one run: shard 1 keeps `GET /x` and folds `GET /y`, shard 2 the
/// other way round (the same scenario file name, as the shards of one run).
fn shards_folding_differently(host: &str) -> Vec<serde_json::Value> {
    let orders = [
        ["GET /k/0", "GET /x", "GET /k/1", "GET /y"],
        ["GET /k/0", "GET /y", "GET /k/1", "GET /x"],
    ];
    orders
        .iter()
        .zip(["1/2", "2/2"])
        .map(|(order, shard)| {
            let out = Gate::new()
                .write("s.yml", &four_names(*order))
                .args(["run", "--scenario", "s.yml", "--host", host])
                .args(["--users", "4", "--run-time", "2s", "--progress", "0"])
                .args(["--baseline", "none", "--max-endpoints", "3"])
                .args(["--shard", shard, "--run-id", "r1"])
                .run()
                .expect_exit(0);
            let name = format!("shard-{}-of-2.json", &shard[..1]);
            let text = std::fs::read_to_string(out.out_dir().join("shards").join(name)).unwrap();
            serde_json::from_str(&text).unwrap()
        })
        .collect::<Vec<serde_json::Value>>()
        .into_iter()
        .scan(None, |load, mut doc| {
            // Two scenario files stand in for one whose shards fold differently: the shards
            // of one run record one load, which `merge` insists on.
            let first = load.get_or_insert_with(|| doc["run"]["load"].clone());
            doc["run"]["load"] = first.clone();
            Some(doc)
        })
        .collect()
}

/// `merge` of the given shard documents, with a rule on each name.
fn merge_with_rules(shards: &[serde_json::Value]) -> Output {
    let mut merge = Gate::new();
    for (i, doc) in shards.iter().enumerate() {
        merge = merge.write(&format!("shard-{i}.json"), &doc.to_string());
    }
    merge
        .args([
            "merge",
            "shard-0.json",
            "shard-1.json",
            "--baseline",
            "none",
        ])
        .args(["--max-endpoints", "3"])
        .args(["--threshold", "GET /x: p95<10s"])
        .args(["--threshold", "GET /y: p95<10s"])
        .args(["--threshold", "GET /k/0: p95<10s"])
        .run()
        .expect_exit(1)
}

/// The merged rows are the kept names and one other row; the rules on x and y are not
/// measured, the one on a kept name is judged.
fn assert_folded_in_the_merge(merged: &serde_json::Value) {
    let names: Vec<&str> = merged["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["GET /k/0", "GET /k/1", "(other endpoints)"]);
    let checks = merged["verdict"]["checks"].as_array().unwrap();
    for check in &checks[..2] {
        assert_eq!(check["state"], "failed", "{check}");
        assert!(
            check["detail"]
                .as_str()
                .unwrap()
                .contains("not measured (folded into `(other endpoints)`"),
            "{check}"
        );
    }
    assert_eq!(checks[2]["state"], "passed", "{}", checks[2]);
}

/// Shard 1 keeps `GET /x` and folds `GET /y`; shard 2 the other way round. Merged, neither is
/// a row of one shard's counts: both are in `(other endpoints)`, every request once, and a
/// rule on either is not measured.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_name_folded_in_one_shard_and_kept_in_another_is_folded_in_the_merge() {
    let app = sample_app(Knobs::default());
    let shards = shards_folding_differently(&app.url());
    let validator = crate::schema::schema();
    for (doc, folded) in shards.iter().zip(["GET /y", "GET /x"]) {
        assert_eq!(
            doc["run"]["shard"]["folded_names"],
            serde_json::json!([folded])
        );
        let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
    // Everything either shard folded, or that another shard folded: x and y in both.
    let folded_anywhere: u64 = shards
        .iter()
        .map(|d| {
            ["(other endpoints)", "GET /x", "GET /y"]
                .iter()
                .map(|n| endpoint_requests(d, n))
                .sum::<u64>()
        })
        .sum();
    let total: u64 = shards
        .iter()
        .map(|d| d["aggregate"]["requests"].as_u64().unwrap())
        .sum();
    let out = merge_with_rules(&shards);
    let merged = out.results();
    assert_folded_in_the_merge(&merged);
    assert_eq!(merged["run"]["folded"]["names"], 2);
    assert_eq!(
        endpoint_requests(&merged, "(other endpoints)"),
        folded_anywhere
    );
    assert_eq!(merged["aggregate"]["requests"].as_u64(), Some(total));
    assert!(
        !out.file("results.json").contains("folded_names"),
        "only shard files list folded names"
    );
}

/// A shard file is another job's artifact: a list of folded names far past the cap is read up
/// to it, and since that shard can then not say which names it folded, every name it did not
/// keep is folded, with a note; nothing panics and nothing is judged on partial counts.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_hostile_list_of_folded_names_is_read_up_to_its_cap() {
    let app = sample_app(Knobs::default());
    let mut shards = shards_folding_differently(&app.url());
    let names: Vec<String> = (0..200_000).map(|i| format!("GET /junk/{i}")).collect();
    shards[1]["run"]["shard"]["folded_names"] = serde_json::json!(names);
    let out = merge_with_rules(&shards);
    assert_folded_in_the_merge(&out.results());
    let note = "shard-1.json folded 1 endpoint names but lists 100000 (a list is read up to 100000 names; older shard files list none)";
    assert!(out.stderr.contains(note), "{}", out.stderr);
    assert!(out.file("summary.md").contains(note));
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

/// A locustfile as teams write one by mistake: one busy name, and an id in most requests' URL
/// (no `name=`), so Locust writes an entry for nearly every request.
const ID_PER_REQUEST: &str = r#"
import itertools
from locust import HttpUser, task, constant

ids = itertools.count()

class Ids(HttpUser):
    wait_time = constant(0)

    @task(1)
    def busy(self):
        self.client.get("/health")

    @task(3)
    def one_id(self):
        # The sample app has no such route: a 404, counted as a failure, as good as any.
        self.client.get(f"/e/{next(ids)}")
"#;

/// Locust's thousands of entries are folded as they are read: the gate's own memory stays
/// far below a histogram per entry (about 50 KB each), the warning is said once, and a rule on
/// a folded name fails as not measured.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn locust_entries_past_the_cap_fold_while_read_and_memory_stays_bounded() {
    let app = sample_app(Knobs::default());
    let (out, peak_mib) = Gate::new()
        .write("ids.py", ID_PER_REQUEST)
        .args(["run", "--engine", "locust", "--locustfile", "ids.py"])
        .args(["--host", &app.url(), "--locust-bin", &locust_bin()])
        .args(["--users", "4", "--spawn-rate", "50", "--run-time", "5s"])
        .args([
            "--progress",
            "0",
            "--baseline",
            "none",
            "--max-endpoints",
            "1",
        ])
        .args(["--threshold", "GET /e/0: p95<10s"])
        .args(["--threshold", "GET /health: p95<10s"])
        .run_measuring_memory();
    let out = out.expect_exit(1);
    let r = out.results();
    let names = endpoint_names(&r);
    assert_eq!(names, ["GET /health", "(other endpoints)"]);
    let folded = r["run"]["folded"]["names"].as_u64().unwrap();
    // Enough entries that a histogram each would cost far more than the bound below.
    assert!(
        folded >= 1000,
        "only {folded} names folded: too few to measure"
    );
    // A few KiB per entry (Locust's JSON text, its parsed entries, the folded names) over a
    // fixed base; a histogram per entry cost about 32 KiB each (98 MiB for 2,759 entries).
    let bound = 24.0 + folded as f64 * 10.0 / 1024.0;
    assert!(
        peak_mib < bound,
        "the gate peaked at {peak_mib:.1} MiB for {folded} Locust entries (bound {bound:.1} MiB)"
    );
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("past --max-endpoints 1 "))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(out.file("summary.md").contains("past --max-endpoints 1 "));
    let checks = r["verdict"]["checks"].as_array().unwrap();
    assert_eq!(checks[0]["state"], "failed", "{}", checks[0]);
    assert!(
        checks[0]["detail"]
            .as_str()
            .unwrap()
            .contains("not measured (folded into `(other endpoints)`"),
        "{}",
        checks[0]
    );
    assert_eq!(checks[1]["state"], "passed", "{}", checks[1]);
    assert_eq!(
        r["aggregate"]["requests"].as_u64(),
        Some(rows_requests(&r)),
        "nothing lost in the fold"
    );
}

/// The endpoint rows' names, in order.
fn endpoint_names(r: &serde_json::Value) -> Vec<&str> {
    r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

/// The endpoint rows' requests added up (the aggregate must equal it: nothing lost in a fold).
fn rows_requests(r: &serde_json::Value) -> u64 {
    r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["requests"].as_u64().unwrap())
        .sum()
}
