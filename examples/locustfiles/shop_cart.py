"""Seed flow 3 for Locust: a shop session (token + cart id), then search, product pages and cart
writes (weights 3:2:1) with random terms, products and quantities and 1-4 s pauses. Mirrors
examples/scenarios/shop-cart.yml."""
import os
import random

from locust import HttpUser, between, task

PRODUCT_IDS = [1012, 1044, 1098, 1121, 1203]
SEARCH_TERMS = ["office chair", "standing desk", "monitor arm", "desk lamp"]


class Shopper(HttpUser):
    wait_time = between(1, 4)
    cart_id = None

    def on_start(self):
        credentials = {
            "email": os.getenv("APP_USERNAME", "buyer@example.com"),
            "password": os.getenv("APP_PASSWORD", "SecurePass123!"),
        }
        with self.client.post("/api/auth/session", json=credentials,
                              name="POST /api/auth/session", catch_response=True) as resp:
            data = resp.json() if resp.status_code == 200 else {}
            if not data.get("access_token"):
                resp.failure("JSON path $.access_token matched nothing")
                return
            self.client.headers["Authorization"] = f"Bearer {data['access_token']}"
            self.client.headers["Content-Type"] = "application/json"
            self.cart_id = data.get("cart_id")

    @task(3)
    def search(self):
        term = random.choice(SEARCH_TERMS)
        self.client.get(f"/api/catalog/search?q={term}&sort=relevance&page=1",
                        name="GET /api/catalog/search")

    @task(2)
    def product(self):
        self.client.get(f"/api/catalog/products/{random.choice(PRODUCT_IDS)}",
                        name="GET /api/catalog/products/:id")

    @task(1)
    def add_to_cart(self):
        if self.cart_id is None:
            return
        item = {"product_id": random.choice(PRODUCT_IDS), "quantity": random.randint(1, 3)}
        with self.client.post(f"/api/carts/{self.cart_id}/items", json=item,
                              name="POST /api/carts/:id/items", catch_response=True) as resp:
            if resp.status_code != 201:
                resp.failure(f"HTTP {resp.status_code} (expected 201)")
