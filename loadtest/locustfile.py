"""The old service's mixed workload, for users who run locust:

    pip install locust
    locust -f loadtest/locustfile.py --host http://localhost   # through nginx
    # or split: --host http://localhost:8081 and REDIRECT_HOST=http://localhost:8080

Most simulated users follow links (redirects); some manage users and links
and read events and stats, as the old service's clients did. Set
ADMIN_API_KEY to the admin API's key (it is closed by default).
"""

import os
import random
import string

from locust import HttpUser, between, task

REDIRECT_HOST = os.environ.get("REDIRECT_HOST")
API_KEY = os.environ.get("ADMIN_API_KEY")
HEADERS = {"X-API-Key": API_KEY} if API_KEY else {}


def unique(prefix):
    return prefix + "".join(random.choices(string.ascii_lowercase + string.digits, k=10))


class Visitor(HttpUser):
    """Someone clicking short links: the bulk of the traffic."""

    weight = 9
    wait_time = between(0.05, 0.2)
    codes = []

    def on_start(self):
        if not Visitor.codes:
            response = self.client.get("/urls?per_page=1000&is_active=true", headers=HEADERS, name="/urls")
            if response.ok:
                Visitor.codes = [link["short_code"] for link in response.json()]

    @task(20)
    def follow_a_link(self):
        if not Visitor.codes:
            return
        code = random.choice(Visitor.codes)
        base = REDIRECT_HOST or ""
        self.client.get(f"{base}/{code}", allow_redirects=False, name="/{code}")

    @task(1)
    def follow_an_unknown_link(self):
        base = REDIRECT_HOST or ""
        with self.client.get(f"{base}/{unique('zz')}", allow_redirects=False, name="/{unknown}",
                             catch_response=True) as response:
            # Every simulated user shares one network: past the redirector's
            # REDIRECTOR_NOT_FOUND_RATE its unknown codes are answered 429.
            if response.status_code in (404, 429):
                response.success()


class Manager(HttpUser):
    """Someone managing users and links, and reading events and stats."""

    weight = 1
    wait_time = between(0.5, 2)

    def on_start(self):
        response = self.client.post("/users", json={"username": unique("user"), "email": f"{unique('u')}@example.com"},
                                    headers=HEADERS, name="/users")
        self.user_id = response.json()["id"] if response.ok else None
        self.links = []

    @task(3)
    def create_link(self):
        if self.user_id is None:
            return
        response = self.client.post("/urls", json={"user_id": self.user_id,
                                                   "original_url": f"https://example.com/{unique('p')}",
                                                   "title": "load test"}, headers=HEADERS, name="/urls")
        if response.ok:
            self.links.append(response.json())

    @task(2)
    def update_link(self):
        if self.links:
            link = random.choice(self.links)
            self.client.put(f"/urls/{link['id']}", json={"title": unique("t")}, headers=HEADERS, name="/urls/{id}")

    @task(3)
    def read_stats(self):
        if self.links:
            link = random.choice(self.links)
            self.client.get(f"/urls/{link['short_code']}/stats", headers=HEADERS, name="/urls/{code}/stats")

    @task(3)
    def list_events(self):
        if self.links:
            link = random.choice(self.links)
            self.client.get(f"/events?url_id={link['id']}", headers=HEADERS, name="/events?url_id")

    @task(1)
    def list_users(self):
        self.client.get("/users?per_page=100", headers=HEADERS, name="/users?per_page")

    @task(1)
    def delete_link(self):
        if len(self.links) > 5:
            link = self.links.pop(0)
            self.client.delete(f"/urls/{link['id']}", headers=HEADERS, name="/urls/{id}")
