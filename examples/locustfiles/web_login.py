"""Seed flow 1, web variant, for Locust: sign in through the login form (the session cookie and
the 302 to the dashboard are handled by HttpUser's session), then browse pages that need the
cookie (weights 3:2:1) with 1-3 s pauses. Same request names as
examples/scenarios/web-login.yml, so both engines report the same endpoints."""
import os

from locust import HttpUser, between, task


class WebUser(HttpUser):
    wait_time = between(1, 3)

    def on_start(self):
        self.client.get("/login", name="GET /login")
        form = {
            "username": os.getenv("APP_USERNAME", "test.user@example.com"),
            "password": os.getenv("APP_PASSWORD", "ChangeMe123!"),
        }
        with self.client.post("/login", data=form, name="POST /login",
                              catch_response=True) as resp:
            if resp.status_code != 200 or "signed in" not in resp.text:
                resp.failure(f"HTTP {resp.status_code} (expected 200)")

    @task(3)
    def dashboard(self):
        self.client.get("/web/dashboard", name="GET /web/dashboard")

    @task(2)
    def projects(self):
        self.client.get("/web/projects", name="GET /web/projects")

    @task(1)
    def profile(self):
        self.client.get("/web/profile", name="GET /web/profile")
