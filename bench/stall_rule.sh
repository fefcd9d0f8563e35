#!/bin/bash
# The stall rule on real runs (docs/generator-health.md): is a failed latency check's change
# within what the generator's own stall could add? Two cases, each on the gate's own core:
#   cpu    the sample app on the gate's core; a baseline at --cpu-us $CPU_BASE, two runs more of
#          it, then two of a build whose requests cost 15x the CPU ($CPU_CUR), judged by
#          'p95 +20% +10ms' (expect exit 0, then 1: never 5)
#   noisy  the app (10 ms, jitter 5 ms) on $APPCORE, a baseline and a quiet run, then three runs
#          with two busy loops on the gate's core, judged by 'p99 +10%' (expect 0 or 5, never 1)
# Prints each run's exit, p95/p99, the meters, the run-queue delay and the check's words.
# BIN is the gate (default: the debug build, as the tests run it), APPBIN the sample app's
# binary (an older gate has no --cpu-us), U users, T run time, GATE and APPCORE cores.
# Usage: bench/stall_rule.sh cpu|noisy
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/debug/loadforge-gate}; APPBIN=${APPBIN:-$BIN}
GATE=${GATE:-0}; APPCORE=${APPCORE:-1}; PORT=${PORT:-18391}
W=${W:-$(mktemp -d)}; echo "runs in $W"; cd "$W"
printf 'tasks: [{request: {path: /health}}]\n' > s.yml
start_app() { # core, flags
  taskset -c "$1" "$APPBIN" sample-app --listen 127.0.0.1:$PORT "${@:2}" > app.log 2>&1 & APP=$!
  for _ in $(seq 50); do grep -q listening app.log && break; sleep 0.1; done
}
stop_app() { kill $APP; wait $APP 2>/dev/null; }
run() { # name, rule, baseline
  env -u LOADFORGE_GATE_TEST_HICCUP_MS CI_DEFAULT_BRANCH=main CI_COMMIT_BRANCH=main \
    taskset -c "$GATE" "$BIN" run --scenario s.yml --host http://127.0.0.1:$PORT --users "$U" \
    --spawn-rate 1000 --run-time "$T" --progress 0 --out "$W/$1" --baseline "$3" \
    --regression "$2" > "$W/$1.log" 2>&1
  local rc=$?
  python3 - "$W/$1/results.json" "$1" "$rc" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); g = d['run'].get('generator', {}); a = d['aggregate']
rt = (g.get('runtime_hiccup') or {}).get('p99_ms'); th = g['thread_hiccup']['p99_ms']
rq = g.get('run_queue_per_request_ms')
print(f"{sys.argv[2]:8s} exit {sys.argv[3]} requests {a.get('requests')} p95 {a['latency_ms']['p95']:.1f} "
      f"p99 {a['latency_ms']['p99']:.1f} | hiccups p99 runtime {rt} thread {th} | run queue "
      f"{'-' if rq is None else f'{rq:.2f}'} ms/request | neighbours {g['neighbour_cpu_pct']:.0f} %")
for c in (d.get('verdict') or {}).get('checks', []):
    if c['kind'] == 'regression':
        print('   ', c['detail'][:200])
PY
}
case ${1:-} in
cpu)
  U=${U:-32}; T=${T:-4s}
  start_app "$GATE" --cpu-us "${CPU_BASE:-500}"
  run base 'p95 +20% +10ms' none
  for i in 1 2; do run same$i 'p95 +20% +10ms' "$W/base/results.json"; done
  stop_app; start_app "$GATE" --cpu-us "${CPU_CUR:-7500}"
  for i in 1 2; do run costly$i 'p95 +20% +10ms' "$W/base/results.json"; done
  stop_app;;
noisy)
  U=${U:-8}; T=${T:-3s}
  start_app "$APPCORE" --latency-ms 10 --jitter-ms 5
  run base 'p99 +10%' none
  run quiet 'p99 +10%' "$W/base/results.json"
  taskset -c "$GATE" sh -c 'while :; do :; done' & B1=$!
  taskset -c "$GATE" sh -c 'while :; do :; done' & B2=$!
  for i in 1 2 3; do run busy$i 'p99 +10%' "$W/base/results.json"; done
  kill $B1 $B2
  stop_app;;
*) echo "usage: $0 cpu|noisy" >&2; exit 2;;
esac
