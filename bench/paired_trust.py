#!/usr/bin/env python3
"""Real-run trust bench for paired runs (`--compare-host`): does the paired judgement raise no
false alarm on a noisy runner, and does it catch a +10 % change in a 60-second job, where the
history judgement (each run against the runs before it) raises false alarms?

Prints figures; it is not a test and asserts nothing. Usage (from the repository root, one
batch of runs under the bench lock, since it measures speed):

    flock /tmp/bench.lock python3 bench/paired_trust.py                 # 20 A/A + 10 A/B, the gate's defaults
    flock /tmp/bench.lock python3 bench/paired_trust.py --slice 2 --turn 2s --slice-warmup 500ms  # whole slices
    flock /tmp/bench.lock python3 bench/paired_trust.py --also-whole --aa 6 --ab 6  # both designs, run by run
    python3 bench/paired_trust.py --judge-only bench/.paired/5s         # judge stored runs again

What it does: builds loadforge-gate in release mode (or takes --lfg); starts three sample apps
(`loadforge-gate sample-app`) pinned to core 0: the base and its twin (the same settings: the
A/A pair, two deployments of one build) and a slower build, whose added latency, jitter and CPU
burn per request are all 1.1 times the base's, so every latency percentile is +10 % (checked
first: --calibrate seconds of unpaired runs against each, median of three, with no busy
processes). Then,
with busy processes switched on and off on both cores (each core its own, on for a random 1 to
6 s, off for a random 1 to 6 s; --busy 0 for a quiet machine), it runs the gate pinned to core 1,
A/A and A/B interleaved: `run --engine native --compare-host BASE --host TWIN-or-SLOW
--regression 'p95 +5%'` for --run-time (60 s) with a simple GET scenario (`GET /`, open model:
--rate iterations a second over --users users). Each A/A run is a default-branch run
(CI_COMMIT_BRANCH = CI_DEFAULT_BRANCH) with the previous A/A run as its --baseline, so its
results.json carries the history of the A/A runs before it, as a gate on the default branch
builds it.

The table, per row (A/A, A/B): the paired verdict of the rule (regression, below the margin,
within noise, too noisy, not judged: starved), the estimates and intervals, how many slice
pairs had a slice the per-slice starved rule flags, and which pairs the paired judgement left
unjudged. Then the history-only judgement of the same noisy A/A runs: each run's change side
(its `paired` section dropped, so it reads as an unpaired run) judged by `compare` against the
previous run and the history it carries, as the gate judges a merge request's run against the
default branch's; once as the gate would (runs whose generator starved or whose host was busy
stay out of the band) and once with those flags cleared (every earlier run in the band), since
on a noisy runner the first leaves little to judge by.

Verdicts are read with `compare` (the stored results.json, judged by the binary given), so
--judge-only re-judges stored runs with a newer build.
"""

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: its build and fd-limit helpers)

ROOT = bench.ROOT
RULE = "p95 +5%"
SCENARIO = "tasks: [{request: {method: GET, path: /}}]\n"
PORTS = {"base": 18301, "twin": 18302, "slow": 18303}
# The verdict words of a paired regression check, in the order the table shows them.
WORDS = ["regression", "below the margin", "within noise", "improvement", "passed", "too noisy", "starved",
         "other"]


def apps(lfg, args):
    """The three sample apps on core 0; the slow one's every cost 1.1 times the base's."""
    def start(port, factor):
        cmd = ["taskset", "-c", "0", lfg, "sample-app", "--listen", f"127.0.0.1:{port}",
               "--latency-ms", str(round(args.latency_ms * factor)),
               "--jitter-ms", str(round(args.jitter_ms * factor)),
               "--cpu-us", str(round(args.cpu_us * factor))]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [start(PORTS["base"], 1.0), start(PORTS["twin"], 1.0), start(PORTS["slow"], 1.1)]
    time.sleep(1.0)
    return procs


class Busy:
    """Busy processes on `core`, switched on and off at random (1 to 6 s each way)."""

    def __init__(self, core, count, niceness):
        self.core, self.count, self.niceness, self.stop = core, count, niceness, threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.on_s = 0.0

    def loop(self):
        rng = random.Random()
        while not self.stop.is_set():
            procs = [subprocess.Popen(["nice", "-n", str(self.niceness), "taskset", "-c", self.core,
                                       "sh", "-c", "while :; do :; done"])
                     for _ in range(self.count)]
            on = rng.uniform(1, 6)
            self.stop.wait(on)
            self.on_s += on
            for p in procs:
                p.kill()
                p.wait()
            self.stop.wait(rng.uniform(1, 6))

    def __enter__(self):
        if self.count > 0:
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


def gate_run(lfg, args, out, host, base, baseline, history):
    """One gate run pinned to core 1; `base` None for an unpaired run."""
    cmd = ["taskset", "-c", "1", lfg, "run", "--engine", "native", "--scenario", str(args.scenario),
           "--host", f"http://127.0.0.1:{host}", "--users", str(args.users), "--rate", str(args.rate),
           "--spawn-rate", "1000",
           "--run-time", f"{args.run_time}s", "--regression", RULE, "--out", str(out),
           "--baseline", str(baseline) if baseline else "none"]
    if base:
        cmd += ["--compare-host", f"http://127.0.0.1:{base}", "--paired-slice", f"{args.slice}s",
                "--paired-turn", args.turn, "--paired-warmup", args.slice_warmup]
    env = dict(os.environ)
    for k in [k for k in env if k.startswith(("CI_", "GITLAB_", "LOADFORGE_GATE_"))]:
        del env[k]
    if history:
        env.update({"CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"})
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    (out / "gate.log").write_text(done.stdout)
    return done.returncode


def calibrate(lfg, args, work):
    """p95 of the base and of the slow app, unpaired and quiet, alternated twice each."""
    p95 = {"base": [], "slow": []}
    for i in range(3):
        for side in p95:
            out = work / f"calibrate-{side}-{i}"
            saved = args.run_time
            args.run_time = args.calibrate
            gate_run(lfg, args, out, PORTS[side], None, None, False)
            args.run_time = saved
            p95[side].append(json.loads((out / "results.json").read_text())["aggregate"]["latency_ms"]["p95"])
    b, s = statistics.median(p95["base"]), statistics.median(p95["slow"])
    print(f"calibration (unpaired, no busy processes, {args.calibrate} s each, median of 3): p95 base {b:.1f} ms, "
          f"slow {s:.1f} ms: {100 * (s / b - 1):+.1f} %  (runs: {p95})", flush=True)


def measure(lfg, args, work):
    order = []
    for i in range(max(args.aa, args.ab)):
        if i < args.aa:
            order.append(("aa", i))
        if i < args.ab:
            order.append(("ab", i))
    for kind, i in order:
        out = work / f"{kind}-{i:02d}"
        if (out / "results.json").exists():
            continue
        baseline = work / f"aa-{i - 1:02d}" / "results.json" if kind == "aa" and i > 0 else None
        host = PORTS["twin"] if kind == "aa" else PORTS["slow"]
        started = time.time()
        rc = gate_run(lfg, args, out, host, PORTS["base"], baseline, kind == "aa")
        load = os.getloadavg()[0]
        (out / "bench.json").write_text(json.dumps({"rc": rc, "load1": load}))
        print(f"{kind}-{i:02d}: exit {rc}, {time.time() - started:.0f} s, load {load:.2f}", flush=True)
        if args.also_whole:
            # The same pair of targets right after, in whole 2 s slices (the design before
            # turns): the two designs then meet the same runner, run by run.
            whole = argparse.Namespace(**{**vars(args), "slice": 2, "turn": "2s", "slice_warmup": "500ms"})
            out = work / f"whole-{kind}-{i:02d}"
            rc = gate_run(lfg, whole, out, host, PORTS["base"], None, False)
            load = os.getloadavg()[0]
            (out / "bench.json").write_text(json.dumps({"rc": rc, "load1": load}))
            print(f"whole-{kind}-{i:02d}: exit {rc}, load {load:.2f}", flush=True)


def check_line(lfg, baseline, current):
    """`compare`'s line for the rule: (state mark, detail)."""
    done = subprocess.run([lfg, "compare", str(baseline), str(current), "--regression", RULE],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in done.stdout.splitlines():
        if line[:2] in ("✓ ", "✗ ", "? ") and f"regression: {RULE}" in line:
            return line[0], line.split(": ", 2)[-1]
    return "!", done.stdout.strip().splitlines()[-1] if done.stdout.strip() else f"exit {done.returncode}"


def word(mark, detail):
    """The verdict's word: a failed check is a regression, whatever it allowed for."""
    d = detail.lower()
    if mark == "✗":
        return "regression"
    if "too noisy" in d:
        return "too noisy"
    if mark == "?" and ("starved" in d or "load generator" in d):
        return "starved"
    for w in ("below the margin", "within noise", "improvement"):
        if w in d:
            return w
    return "passed" if mark == "✓" else "other"


STALL_FLOOR_MS = 3.0  # src/stats/generator.rs


def excused(base, change):
    """`pair_stall_explains` on the pair's p95 (src/stats/generator.rs), for the counts."""
    if not (base["starved"] or change["starved"]):
        return False
    b, c = base["aggregate"].get("p95_ms"), change["aggregate"].get("p95_ms")
    if b is None or c is None:
        return False
    counted = lambda s: s if (s or 0) >= STALL_FLOOR_MS else 0.0  # noqa: E731
    extra = counted(change.get("stall_ms")) - counted(base.get("stall_ms"))
    d = c - b
    return (0 < d <= extra) or (d < 0 and -d <= -extra)


def slice_figures(doc):
    """Pairs; those with a slice the per-slice rule flags starved; those the pair rule excuses."""
    slices = doc.get("paired", {}).get("slices", [])
    pairs = [(a, b) if a["side"] == "base" else (b, a)
             for a, b in zip(slices, slices[1:]) if a["index"] % 2 == 0 and b["index"] == a["index"] + 1]
    return len(pairs), sum(1 for a, b in pairs if a["starved"] or b["starved"]), \
        sum(1 for a, b in pairs if excused(a, b))


def runner_noise(doc):
    """How much the runner moved the base during the run: the standard deviation of the log of
    the base's slice p95 (in percent), the target unchanged throughout; `None` below 3 slices."""
    values = [s["aggregate"].get("p95_ms") for s in doc.get("paired", {}).get("slices", [])
              if s["side"] == "base"]
    logs = [math.log(v) for v in values if v and v > 0]
    return 100 * statistics.stdev(logs) if len(logs) >= 3 else None


def judge_paired(lfg, work, kind):
    rows = []
    for d in sorted(work.glob(f"{kind}-*")):
        res = d / "results.json"
        if not res.exists():
            continue
        doc = json.loads(res.read_text())
        mark, detail = check_line(lfg, res, res)
        pairs, starved_pairs, excused_pairs = slice_figures(doc)
        rows.append({"run": d.name, "word": word(mark, detail), "detail": detail, "pairs": pairs,
                     "noise": runner_noise(doc),
                     "starved_pairs": starved_pairs, "excused_pairs": excused_pairs,
                     "load1": json.loads((d / "bench.json").read_text())["load1"]})
    return rows


def judge_history(lfg, work, keep_flags):
    """Each A/A run's change side against the previous A/A run and its history."""
    rows = []
    runs = sorted(d for d in work.glob("aa-*") if (d / "results.json").exists())
    tmp = work / "history-judge"
    tmp.mkdir(exist_ok=True)
    for prev, cur in zip(runs, runs[1:]):
        doc = json.loads((cur / "results.json").read_text())
        doc.pop("paired", None)
        doc.pop("verdict", None)
        current = tmp / f"{cur.name}.json"
        current.write_text(json.dumps(doc))
        base = json.loads((prev / "results.json").read_text())
        flagged = sum(1 for h in base.get("history", []) if h.get("flagged"))
        if not keep_flags:
            for h in base.get("history", []):
                h.pop("flagged", None)
            if "run" in base:
                base["run"].pop("host", None)
                base["run"].pop("generator", None)
        baseline = tmp / f"{prev.name}-{'flags' if keep_flags else 'noflags'}.json"
        baseline.write_text(json.dumps(base))
        mark, detail = check_line(lfg, baseline, current)
        rows.append({"run": cur.name, "mark": mark, "word": word(mark, detail), "detail": detail,
                     "history": len(base.get("history", [])), "flagged": flagged})
    return rows


def width(detail):
    """The interval's width in percentage points, from `[-15.2%, +18.1%]`."""
    m = re.search(r"\[([-+][0-9.]+)%, ([-+][0-9.]+)%\]", detail)
    return float(m.group(2)) - float(m.group(1)) if m else None


def counts(rows):
    c = {w: 0 for w in WORDS}
    for r in rows:
        c[r["word"]] += 1
    return ", ".join(f"{w} {n}" for w, n in c.items() if n) or "none"


def report(lfg, work):
    print(f"\nruns in {work}, judged by {lfg}")
    for kind, name in (("aa", "A/A (twin vs base)"), ("ab", "A/B +10 % (slow vs base)"),
                       ("whole-aa", "A/A in whole 2 s slices (--also-whole)"),
                       ("whole-ab", "A/B +10 % in whole 2 s slices (--also-whole)")):
        rows = judge_paired(lfg, work, kind)
        if not rows:
            continue
        pairs = sum(r["pairs"] for r in rows)
        starved = sum(r["starved_pairs"] for r in rows)
        flagged_runs = sum(1 for r in rows if r["starved_pairs"] > 0)
        excused_pairs = sum(r["excused_pairs"] for r in rows)
        excused_runs = sum(1 for r in rows if r["excused_pairs"] > 0)
        loads = [r["load1"] for r in rows]
        widths = sorted(w for w in (width(r["detail"]) for r in rows) if w is not None)
        old = sum(1 for r in rows if r["starved_pairs"] > 0 and r["word"] != "regression")
        noise = sorted(r["noise"] for r in rows if r["noise"] is not None)
        print(f"\n{name}: {len(rows)} runs: {counts(rows)}")
        if noise:
            print(f"  runner noise (sd of the base's slice p95 over a run): median ±{statistics.median(noise):.1f} %, "
                  f"{noise[0]:.1f} to {noise[-1]:.1f} %")
        print(f"  median interval width {statistics.median(widths):.0f} points over {len(widths)} runs with one; "
              f"not judged under the per-slice rule (any pair with a starved slice): {old}"
              if widths else "  no interval")
        print(f"  slice pairs {pairs}, of which {starved} ({100 * starved / max(pairs, 1):.0f} %) hold a slice "
              f"the per-slice rule flags starved; {flagged_runs} of {len(rows)} runs have one "
              f"(all 'not judged' under a rule that excuses any such pair); the pair rule excuses "
              f"{excused_pairs} pairs, in {excused_runs} runs; load average {min(loads):.2f} to {max(loads):.2f}")
        for r in rows:
            spread = f"±{r['noise']:.1f} %" if r["noise"] is not None else "-"
            print(f"  {r['run']}: {r['word']:<16} noise {spread:>8} {r['starved_pairs']:>2} flagged, "
                  f"{r['excused_pairs']} excused of {r['pairs']} pairs · {r['detail']}")
    for keep, name in ((True, "as the gate judges (flagged runs out of the band)"),
                       (False, "flags cleared (every earlier run in the band)")):
        rows = judge_history(lfg, work, keep)
        if rows:
            print(f"\nhistory-only judgement of the A/A runs, {name}: {len(rows)} runs: {counts(rows)}")
            for r in rows:
                print(f"  {r['run']}: {r['word']:<16} history {r['history']} ({r['flagged']} flagged) · {r['detail']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--aa", type=int, default=20, help="A/A runs (default 20)")
    ap.add_argument("--ab", type=int, default=10, help="A/B +10 %% runs (default 10)")
    ap.add_argument("--run-time", type=int, default=60, help="seconds per run (default 60)")
    ap.add_argument("--slice", type=int, default=1, help="--paired-slice, whole seconds (default 1, the gate's)")
    ap.add_argument("--turn", default="250ms", help="--paired-turn (default 250ms, the gate's; the slice for whole slices)")
    ap.add_argument("--slice-warmup", default="0ms", help="--paired-warmup, per turn (default 0ms, the gate's)")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--rate", type=int, default=100, help="iterations a second (open model)")
    ap.add_argument("--latency-ms", type=int, default=20, help="the base's added latency")
    ap.add_argument("--jitter-ms", type=int, default=20, help="the base's random extra latency, up to")
    ap.add_argument("--cpu-us", type=int, default=20, help="the base's CPU burn per request")
    ap.add_argument("--busy", type=int, default=1, help="busy processes per core when on (0: quiet)")
    ap.add_argument("--busy-nice", type=int, default=0,
                    help="their niceness: 0 takes half a core from the gate or the apps, 10 about a tenth")
    ap.add_argument("--also-whole", action="store_true",
                    help="after each run, the same targets in whole 2 s slices with a 500 ms warm-up (the design before turns)")
    ap.add_argument("--calibrate", type=int, default=20, help="seconds per unpaired check (0: skip)")
    ap.add_argument("--out", type=Path, default=None, help="where runs are kept (default bench/.paired/<slice>s)")
    ap.add_argument("--lfg", default=None, help="the loadforge-gate binary (default: build release)")
    ap.add_argument("--judge-only", type=Path, default=None, help="judge the runs stored in this directory")
    args = ap.parse_args()
    # Stopped from outside (a timeout, `kill`), it still stops its apps and busy processes; a
    # background job's inherited "ignore Ctrl-C" is undone for the same reason.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.lfg is None:
        print("building loadforge-gate (release) ...", flush=True)
        bench.sh(["cargo", "build", "--release", "-q"], cwd=ROOT)
        args.lfg = str(ROOT / "target/release/loadforge-gate")
    if args.judge_only:
        report(args.lfg, args.judge_only)
        return
    bench.raise_fd_limit()
    work = args.out or ROOT / "bench" / ".paired" / f"{args.slice}s-{args.turn}"
    work.mkdir(parents=True, exist_ok=True)
    args.scenario = work / "plain.yml"
    args.scenario.write_text(SCENARIO)
    procs = apps(args.lfg, args)
    try:
        if args.calibrate > 0:
            calibrate(args.lfg, args, work)
        print(f"paired runs: {args.run_time} s, {args.slice} s slices in {args.turn} turns, warm-up {args.slice_warmup}, "
              f"rate {args.rate}/s, {args.busy} busy process(es) per core at nice {args.busy_nice} switched "
              f"on and off", flush=True)
        with Busy("0", args.busy, args.busy_nice) as b0, Busy("1", args.busy, args.busy_nice) as b1:
            started = time.time()
            measure(args.lfg, args, work)
            total = time.time() - started
        if total > 0 and args.busy:
            print(f"busy processes on: core 0 {100 * b0.on_s / total:.0f} %, core 1 {100 * b1.on_s / total:.0f} % of the time")
    finally:
        for p in procs:
            p.kill()
            p.wait()
    report(args.lfg, work)


if __name__ == "__main__":
    main()
