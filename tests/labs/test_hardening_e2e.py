"""Issue #14 end to end: a real Celery worker, real bubblewrap sandboxes, the real ASGI server.

- finding 1: learner-made HTML/SVG never renders on the site's origin;
- finding 3: a job printing 200,000 progress events is stopped at the cap;
- finding 11: a lone surrogate or NUL in a runner's JSON is cleaned, never an internal error.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.test import Client

from apps.labs.models import LabJobEvent
from apps.labs.services import lab_job_submit
from tests.conftest import start_worker, stop_process
from tests.labs.conftest import job_final

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(180)]


def _session_cookie(user) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


EVIL = r"""
from pathlib import Path
from gpu_workers.runners import protocol

Path("evil.html").write_text("<script>fetch('/api/v1/auth/token/')</script><h1>hi</h1>")
Path("evil.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
Path("fake.png").write_text("<html><script>alert(document.cookie)</script></html>")
Path("plot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
for name in ("evil.html", "evil.svg", "fake.png", "plot.png"):
    protocol.artifact(name, "file")
"""


def test_learner_html_never_runs_on_the_sites_origin(
    bubblewrap_available, purged_queues, labs, learner, other_learner, celery_worker_process, live_asgi_server
):
    job = lab_job_submit(user=learner, lab="custom-script", params={"code": EVIL})
    job = job_final(job.pk, 60)
    assert job.status == "succeeded", job.reason
    artifacts = {a.name: a for a in job.artifacts.all()}
    assert set(artifacts) == {"evil.html", "evil.svg", "fake.png", "plot.png"}

    # Nothing of it under MEDIA_ROOT, and the URL the attack used answers 404 to everyone.
    media = Path(settings.MEDIA_ROOT)
    assert not any(media.rglob("evil.*")) if media.exists() else True
    owner, other = _session_cookie(learner), _session_cookie(other_learner)
    for cookies in ({}, owner, other):
        for name in artifacts:
            url = f"{live_asgi_server}/media/labs/artifacts/{job.pk}/{name}"
            response = requests.get(url, cookies=cookies, timeout=10, allow_redirects=False)
            assert response.status_code == 404, (url, response.status_code)
            assert b"<script>" not in response.content

    for artifact in artifacts.values():
        for url in (
            f"{live_asgi_server}/labs/jobs/{job.pk}/artifacts/{artifact.pk}/",
            f"{live_asgi_server}/api/v1/labs/jobs/{job.pk}/artifacts/{artifact.pk}/",
        ):
            response = requests.get(url, cookies=owner, timeout=10, allow_redirects=False)
            assert response.status_code == 200, (url, response.status_code)
            assert response.headers["Content-Disposition"].startswith("attachment")
            assert response.headers["Content-Type"] == "application/octet-stream"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Content-Security-Policy"] == "sandbox"
            # Other learners get 404; anonymous callers get no file either (login or 401/404).
            assert requests.get(url, cookies=other, timeout=10, allow_redirects=False).status_code == 404
            anonymous = requests.get(url, timeout=10, allow_redirects=False)
            assert anonymous.status_code in (302, 401, 403, 404) and b"<script>" not in anonymous.content

    # Inline only for an image checked from its bytes: a .png full of HTML stays an attachment.
    inline = f"{live_asgi_server}/labs/jobs/{job.pk}/artifacts/{{}}/?inline=1"
    plot = requests.get(inline.format(artifacts["plot.png"].pk), cookies=owner, timeout=10)
    assert plot.headers["Content-Type"] == "image/png" and plot.headers["Content-Disposition"].startswith("inline")
    assert plot.headers["Content-Security-Policy"] == "sandbox"
    for name in ("fake.png", "evil.svg", "evil.html"):
        response = requests.get(inline.format(artifacts[name].pk), cookies=owner, timeout=10)
        assert response.headers["Content-Type"] == "application/octet-stream", name
        assert response.headers["Content-Disposition"].startswith("attachment"), name
    assert {name: a.image_type for name, a in artifacts.items()} == {
        "evil.html": "",
        "evil.svg": "",
        "fake.png": "",
        "plot.png": "image/png",
    }
    page = requests.get(f"{live_asgi_server}/labs/jobs/{job.pk}/", cookies=owner, timeout=10).text
    assert page.count('class="artifact-image"') == 1 and f"{artifacts['plot.png'].pk}/?inline=1" in page


FLOOD = """
from gpu_workers.runners import protocol
for i in range(200_000):
    protocol.progress(i / 200_000, "flooding")
print("the flood finished")
"""


def test_a_job_sending_200000_progress_events_is_stopped_at_the_cap(bubblewrap_available, purged_queues, labs, learner):
    cap = 2_000  # the default (20,000) is checked in test_hardening; a small cap keeps this quick
    worker = start_worker(
        f"cap-{os.getpid()}-{time.monotonic_ns()}@localhost", concurrency=1, env={"LABS_MAX_EVENTS_PER_JOB": str(cap)}
    )
    try:
        job = lab_job_submit(user=learner, lab="custom-script", params={"code": FLOOD})
        job = job_final(job.pk, 90)
    finally:
        stop_process(worker)
    assert job.status == "failed" and job.exit_reason == "event_limit", (job.status, job.reason)
    assert job.reason.startswith("Event limit reached: the job sent more than 2,000 events")
    stored = LabJobEvent.objects.filter(job=job).count()
    assert stored <= cap + 10, stored  # coalesced progress: far fewer rows than events sent
    assert not LabJobEvent.objects.filter(job=job, payload__line="the flood finished").exists()


SURROGATE = r"""
import sys
from gpu_workers.runners import protocol
protocol.progress(0.5, "half \ud800 way \x00 there")
protocol.metric("loss\udfff", 0.25)
protocol.emit("log", {"stream": "stdout", "line": "lone \ud800 surrogate", "extra\x00key": "\udc00"})
print("printed \ud800 too")
protocol.result({"accuracy": 1.0}, note="done \ud800")
"""


def test_lone_surrogates_and_nul_in_runner_json_are_cleaned(
    bubblewrap_available, purged_queues, labs, learner, celery_worker_process
):
    job = lab_job_submit(user=learner, lab="custom-script", params={"code": SURROGATE})
    job = job_final(job.pk, 60)
    assert job.status == "succeeded", job.reason
    messages = [e.payload.get("message") for e in LabJobEvent.objects.filter(job=job, type="progress")]
    assert "half \ufffd way \ufffd there" in messages
    assert job.metrics["loss\ufffd"] == 0.25
    lines = [e.payload.get("line", "") for e in LabJobEvent.objects.filter(job=job, type="log")]
    assert "lone \ufffd surrogate" in lines
    assert any(line.startswith("printed ") and "\ud800" not in line for line in lines)
    assert job.result.get("note") == "done \ufffd"
