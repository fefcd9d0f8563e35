"""Seed flow 1 for Locust: log in once, keep the bearer token, then browse the dashboard, the
project list and the profile (weights 3:2:1) with 1-3 s pauses. Same request names as
examples/scenarios/login-dashboard.yml, so both engines report the same endpoints."""
import os

from locust import HttpUser, between, task


class DashboardUser(HttpUser):
    wait_time = between(1, 3)

    def on_start(self):
        credentials = {
            "email": os.getenv("APP_USERNAME", "test.user@example.com"),
            "password": os.getenv("APP_PASSWORD", "ChangeMe123!"),
            "remember_me": True,
        }
        with self.client.post("/api/v1/auth/login", json=credentials,
                              name="POST /api/v1/auth/login", catch_response=True) as resp:
            if resp.status_code != 200 or "token" not in resp.text:
                resp.failure(f"HTTP {resp.status_code} (expected 200)")
                return
            self.client.headers["Authorization"] = f"Bearer {resp.json()['token']}"
            self.client.headers["Content-Type"] = "application/json"

    @task(3)
    def dashboard(self):
        self.client.get("/dashboard", name="GET /dashboard")

    @task(2)
    def projects(self):
        self.client.get("/api/v1/projects?per_page=20&page=1", name="GET /api/v1/projects")

    @task(1)
    def profile(self):
        self.client.get("/api/v1/account/profile", name="GET /api/v1/account/profile")
