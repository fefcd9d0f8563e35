"""Seed flow 2 for Locust: an OAuth client-credentials token, then open orders, order metrics
and order drafts (weights 4:2:1) with 0.5-2 s pauses. Mirrors examples/scenarios/oauth-api.yml."""
import os

from locust import HttpUser, between, task

DRAFT = {
    "customer_id": "cust_10482",
    "currency": "USD",
    "items": [
        {"sku": "SKU-CHAIR-BLK", "quantity": 2, "unit_price": 149.99},
        {"sku": "SKU-DESK-OAK", "quantity": 1, "unit_price": 399.00},
    ],
    "source": "web",
    "notes": "Created by automated performance test",
}


class OrdersApiClient(HttpUser):
    wait_time = between(0.5, 2)

    def on_start(self):
        body = {
            "grant_type": "client_credentials",
            "client_id": os.getenv("API_CLIENT_ID", "web-frontend"),
            "client_secret": os.getenv("API_CLIENT_SECRET", "super-secret-value"),
            "audience": "https://api.example.internal",
        }
        with self.client.post("/oauth/token", json=body, name="POST /oauth/token",
                              catch_response=True) as resp:
            token = resp.json().get("access_token") if resp.status_code == 200 else None
            if not token:
                resp.failure("JSON path $.access_token matched nothing")
                return
            self.client.headers["Authorization"] = f"Bearer {token}"
            self.client.headers["Content-Type"] = "application/json"

    @task(4)
    def orders(self):
        self.client.get("/api/v2/orders?status=open&limit=50", name="GET /api/v2/orders")

    @task(2)
    def metrics(self):
        self.client.get("/api/v2/metrics/orders?window=24h", name="GET /api/v2/metrics/orders")

    @task(1)
    def draft(self):
        with self.client.post("/api/v2/orders/drafts", json=DRAFT,
                              name="POST /api/v2/orders/drafts", catch_response=True) as resp:
            if resp.status_code != 201:
                resp.failure(f"HTTP {resp.status_code} (expected 201)")
