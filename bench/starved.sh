#!/bin/bash
# A real starved-generator run (docs/generator-health.md): the sample app on core 0, the
# gate on core 1 with a strict `p99 +10%` rule. Six quiet default-branch runs make the history;
# then three merge-request runs of the unchanged app with two busy loops beside the gate (expect
# exit 5 or 0, never 1), and two quiet runs of a slower app (expect exit 1). Needs two cores and
# a release build (`cargo build --release`); prints each run's exit code, logs in $W/*.log.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release/loadforge-gate
W=${W:-$(mktemp -d)}; echo "runs in $W"; cd "$W"
run() { # name, "VAR=value …" for env, then extra gate flags
  local name=$1 vars=$2; shift 2
  env CI=true CI_PROJECT_ID=1 CI_DEFAULT_BRANCH=main $vars taskset -c 1 $BIN run --scenario $ROOT/examples/scenarios/shop-cart.yml \
    --host http://127.0.0.1:18181 --users 200 --spawn-rate 1000 --run-time 10s --threads 1 --progress 0 \
    --regression 'p99 +10%' --out $W/$name "$@" > $W/$name.log 2>&1
  echo "$name exit $?"
}
start_app() { taskset -c 0 $BIN sample-app --listen 127.0.0.1:18181 --latency-ms $1 --jitter-ms $2 > /dev/null 2>&1 & APP=$!; sleep 1; }
start_app 10 5
prev=none
for i in 1 2 3 4 5 6; do
  run main$i "CI_COMMIT_BRANCH=main CI_PIPELINE_ID=10$i CI_COMMIT_SHA=aaaa00$i" --baseline $prev || true
  prev=$W/main$i/results.json
done
# MR runs, unchanged app, two busy neighbours on the gate's core
for k in 1 2; do (taskset -c 1 sh -c 'while :; do :; done' &) ; done
sleep 0.5
for i in 1 2 3; do
  run mr_starved$i "CI_MERGE_REQUEST_IID=7 CI_PIPELINE_ID=20$i CI_COMMIT_SHA=bbbb00$i" --baseline $prev || true
done
pkill -f "while :; do :; done"
# quiet, app 25 % slower
kill $APP; sleep 0.5; start_app 13 6
for i in 1 2; do
  run mr_slow$i "CI_MERGE_REQUEST_IID=8 CI_PIPELINE_ID=30$i CI_COMMIT_SHA=cccc00$i" --baseline $prev || true
done
kill $APP
