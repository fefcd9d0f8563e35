"""Seed flow 4 for Locust: an admin logs in (JWT), queries audit logs and requests a usage
report, accepted with 202 and polled two seconds later (weights 2:1), with 2-5 s pauses. Mirrors
examples/scenarios/admin-reports.yml."""
import os

import gevent
from locust import HttpUser, between, task

REPORT = {
    "report_type": "usage_summary",
    "date_range": {"from": "2026-03-01", "to": "2026-03-31"},
    "format": "csv",
    "filters": {"region": ["us-east-1", "eu-west-1"], "plan": ["team", "enterprise"]},
}


class Administrator(HttpUser):
    wait_time = between(2, 5)

    def on_start(self):
        body = {
            "username": os.getenv("APP_USERNAME", "admin@example.com"),
            "password": os.getenv("APP_PASSWORD", "AdminPass123!"),
        }
        with self.client.post("/api/admin/login", json=body, name="POST /api/admin/login",
                              catch_response=True) as resp:
            jwt = resp.json().get("jwt") if resp.status_code == 200 else None
            if not jwt:
                resp.failure("JSON path $.jwt matched nothing")
                return
            self.client.headers["Authorization"] = f"Bearer {jwt}"
            self.client.headers["Content-Type"] = "application/json"

    @task(2)
    def audit_logs(self):
        self.client.get(
            "/api/admin/audit-logs?actor_type=user&from=2026-04-01&to=2026-04-06&page=1&page_size=100",
            name="GET /api/admin/audit-logs")

    @task(1)
    def usage_report(self):
        with self.client.post("/api/admin/reports", json=REPORT, name="POST /api/admin/reports",
                              catch_response=True) as resp:
            report_id = resp.json().get("report_id") if resp.status_code == 202 else None
            if not report_id:
                resp.failure(f"HTTP {resp.status_code} (expected 202)")
                return
        # Cooperative sleep: time.sleep would block every user of this process.
        gevent.sleep(2)
        self.client.get(f"/api/admin/reports/{report_id}/status",
                        name="GET /api/admin/reports/:id/status")
