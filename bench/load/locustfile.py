"""Learners reading the platform: the locust side of bench/load (started by run.py).

Each simulated learner has a signed-in session (cookie made by run.py, no login form so the
lockout never trips), clicks through home, roadmap, a phase, a topic, an article, a search,
the topics API and the labs page in a random order, and reads for ``READING_SECONDS`` (±20 %)
between clicks. A few of them (run.py's ``lab_submitters``) also run spam-classifier lab jobs,
one at a time like a learner would, so lab work runs while pages are served.
"""

from __future__ import annotations

import json
import os
import random

from locust import HttpUser, between, events, task

PLAN = json.loads(open(os.environ["LOAD_PLAN"]).read())
READING = float(os.environ.get("READING_SECONDS", "5"))
_sessions = iter(PLAN["sessions"] * 10)


class Learner(HttpUser):
    wait_time = between(READING * 0.8, READING * 1.2) if READING > 0 else between(0, 0)

    def on_start(self) -> None:
        session = next(_sessions)
        self.client.cookies.set("sessionid", session["sessionid"])
        self.client.cookies.set("csrftoken", session["csrftoken"])
        self.csrftoken = session["csrftoken"]
        self.submits_labs = session["lab_submitter"]
        self.job_id = None

    @task(2)
    def home(self) -> None:
        self.client.get("/", name="home")

    @task(3)
    def roadmap(self) -> None:
        self.client.get("/learn/", name="roadmap")

    @task(1)
    def phase(self) -> None:
        self.client.get(f"/learn/phases/{random.choice(PLAN['phases'])}/", name="phase")

    @task(3)
    def topic(self) -> None:
        self.client.get(f"/learn/topics/{random.choice(PLAN['topics'])}/", name="topic")

    @task(3)
    def article(self) -> None:
        self.client.get(f"/learn/articles/{random.choice(PLAN['articles'])}/", name="article")

    @task(2)
    def search(self) -> None:
        self.client.get("/search/", params={"q": random.choice(PLAN["queries"])}, name="search")

    @task(1)
    def topics_api(self) -> None:
        self.client.get("/api/v1/curriculum/topics/", params={"page_size": 100}, name="api topics")

    @task(1)
    def labs(self) -> None:
        self.client.get("/labs/", name="labs")

    @task(1)
    def lab_job(self) -> None:
        # Like a learner: one job at a time, a new one only after the last has finished.
        if not self.submits_labs:
            return
        if self.job_id:
            status = self.client.get(f"/api/v1/labs/jobs/{self.job_id}/", name="lab job status")
            if status.ok and status.json().get("status") in ("queued", "running"):
                return
        response = self.client.post(
            "/api/v1/labs/jobs/",
            json={"lab": "spam-classifier", "params": {}},
            headers={"X-CSRFToken": self.csrftoken, "Referer": self.host + "/labs/"},
            name="submit lab job",
        )
        if response.status_code == 201:
            self.job_id = response.json()["id"]


@events.quitting.add_listener
def _exit_code(environment, **kwargs) -> None:
    environment.process_exit_code = 0  # failures are reported in the CSV, judged by run.py
