"""The benchmark's Locust side: FastHttpUser (Locust's fastest client), one GET, no wait."""
from locust import FastHttpUser, task


class Plain(FastHttpUser):
    @task
    def get(self):
        self.client.get("/")
