# Written by loadforge-gate next to Locust's output and loaded with the team's locustfile.
# Locust rewrites its _failures.csv only once a second, so a run's last failures (or all of
# them, on a short run or a busy runner) can be missing from it. At quit, when the statistics
# are final, this writes every failure by endpoint and error, as the CSV would list them.
import json
import os

from locust import events
from locust.runners import WorkerRunner
from locust.stats import StatsError

_environment = None


@events.init.add_listener
def _keep(environment, **_kwargs):
    global _environment
    _environment = environment


@events.quit.add_listener
def _write(**_kwargs):
    env = _environment
    if env is None or env.runner is None or isinstance(env.runner, WorkerRunner):
        return
    rows = [
        [e.method, e.name, StatsError.parse_error(e.error), e.occurrences]
        for e in env.runner.stats.errors.values()
    ]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locust_failures_final.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(rows, f)
