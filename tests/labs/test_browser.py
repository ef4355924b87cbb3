"""A learner in a real browser: launch from the form, watch it live over the websocket, cancel.

Real uvicorn (HTTP + websockets), a real Celery worker, real bubblewrap sandboxes."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.labs.models import LabJob, LabJobEvent
from tests.conftest import ROOT, browser_login
from tests.labs.conftest import job_state, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.timeout(150)]

SHOTS = ROOT / "screenshots"


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"labs-{name}.png"), full_page=True)


@pytest.fixture
def learner_page(labs, learner, purged_queues, request, page):
    base = request.getfixturevalue("live_asgi_server")
    request.getfixturevalue("celery_worker_process")
    browser_login(page, base, "lena")
    return page, base


def test_launch_from_the_form_and_watch_it_live(learner_page):
    page, base = learner_page
    page.goto(f"{base}/labs/")
    shot(page, "catalogue")
    page.click("text=Open lab: Train a tiny GPT")
    assert page.locator("text=Estimated time:").is_visible() and page.locator("text=Your quota:").is_visible()
    page.fill("#id_steps", "250")
    shot(page, "launch")
    page.click("button:has-text('Launch run')")
    page.wait_for_url("**/labs/jobs/**")
    page.evaluate("window.__noReload = true")  # survives only if updates arrive without a reload

    # Progress and log move while it runs, over the websocket.
    page.wait_for_function(
        "() => { const p = document.getElementById('labjob-progressbar');"
        " return p && p.value > 5 && p.value < 95 && p.getAttribute('aria-valuenow') == String(p.value); }",
        timeout=60_000,
    )
    value_mid = page.evaluate("document.getElementById('labjob-progressbar').value")
    assert page.locator("#labjob-status").inner_text().startswith("Running")
    # Drop the connection mid-run: htmx's ws extension opens a new one, the page sends the
    # last seq it has, and the server resumes there (checked at the end: nothing twice or lost).
    page.evaluate("document.body.addEventListener('htmx:wsOpen',"
                  " () => { window.__opens = (window.__opens || 0) + 1; })")
    page.evaluate("document.getElementById('labjob-live')['htmx-internal-data']"
                  ".webSocket.publicInterface.reconnect()")
    page.wait_for_function("() => window.__opens === 1", timeout=10_000)
    page.wait_for_function("() => document.querySelectorAll('#labjob-chart .uplot').length === 1", timeout=20_000)
    # Progress moves the bar only (no log lines), so the bar is what keeps moving after it.
    page.wait_for_function(f"() => document.getElementById('labjob-progressbar').value > {value_mid}",
                           timeout=20_000)
    clock = page.locator("#labjob-clock time").inner_text()
    assert clock.startswith("00:")
    shot(page, "job-running")

    page.wait_for_function("() => document.getElementById('labjob-status').innerText.includes('Succeeded')",
                           timeout=90_000)
    result = page.locator("#labjob-result")
    assert result.is_visible()
    text = result.inner_text()
    assert "val_loss" in text and "Target met" in text and "checkpoint.pt" in text
    assert page.evaluate("window.__noReload") is True
    assert page.locator("#labjob-progressbar").get_attribute("aria-valuenow") == "100"
    assert page.locator("#labjob-cancel").count() == 0
    shot(page, "job-succeeded")

    job = LabJob.objects.get()
    assert job.status == "succeeded" and job.grade["passed"] is True
    # What the page shows is every event, once: the last seq it holds is the job's.
    assert page.evaluate("document.getElementById('labjob-live').dataset.lastSeq") == str(job.last_event_seq)
    seqs = page.eval_on_selector_all("#labjob-log li", "els => els.map(e => +e.dataset.seq)")
    # Progress moves the bar and stepped metrics the chart: neither is a log line.
    expected = list(LabJobEvent.objects.filter(job=job).exclude(type="progress")
                    .exclude(type="metric", payload__has_key="step").order_by("seq").values_list("seq", flat=True))
    assert seqs == expected  # every log-worthy event exactly once, in order, across the reconnect

    page.goto(f"{base}/labs/jobs/")
    shot(page, "history")
    assert "Succeeded" in page.locator("table").inner_text()


SLEEPER = """import time
from gpu_workers.runners import protocol
print("ready", flush=True)
for i in range(1200):
    protocol.progress(i / 1200, f"waiting {i}")
    time.sleep(0.1)
"""


def test_cancel_a_running_job_from_the_page(learner_page):
    page, base = learner_page
    page.goto(f"{base}/labs/custom-script/")
    page.fill("#id_code", SLEEPER)
    page.click("button:has-text('Launch run')")
    page.wait_for_url("**/labs/jobs/**")
    page.wait_for_selector("#labjob-log li:has-text('ready')", timeout=60_000)
    job_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert job_state(job_id).status == "running"

    page.click("#labjob-cancel")
    dialog = page.locator("#labjob-cancel-dialog")
    assert dialog.is_visible()
    shot(page, "cancel-dialog")
    page.click("text=Keep it running")
    assert not dialog.is_visible() and job_state(job_id).status == "running"

    page.click("#labjob-cancel")
    page.click("#labjob-cancel-confirm")
    page.wait_for_function("() => document.getElementById('labjob-status').innerText.includes('Cancelled')",
                           timeout=20_000)
    assert "This run was cancelled." in page.locator("#labjob-result").inner_text()
    shot(page, "job-cancelled")
    job = wait_for(lambda: (j := job_state(job_id)).is_final and j, 10)
    assert job.status == "cancelled" and job.reason == "Cancelled by you."


def test_screenshots_folder_is_ignored_by_git():
    assert "/screenshots/" in Path(ROOT / ".gitignore").read_text()


def test_a_lost_final_push_is_recovered_without_a_reload(labs, learner, no_celery, live_asgi_server, page):
    """The page asks the server to replay from the database when a running job goes quiet."""
    from django.utils import timezone

    from apps.labs.services import lab_job_claim, lab_job_submit

    job = lab_job_submit(user=learner, lab="spam-classifier", params={})
    assert lab_job_claim(job.pk, "test-worker@localhost") is not None
    browser_login(page, live_asgi_server, "lena")
    page.goto(f"{live_asgi_server}/labs/jobs/{job.pk}/")
    page.wait_for_function("() => document.getElementById('labjob-conn').innerText.includes('live')")
    assert page.locator("#labjob-status").inner_text().startswith("Running")
    page.evaluate("window.__noReload = true; window.__closes = 0;"
                  "document.body.addEventListener('htmx:wsClose', () => { window.__closes++; });")
    # An idle socket stays open past the channel layer's 5 s blocking read (it once was cut there).
    page.wait_for_timeout(7_000)
    assert page.evaluate("window.__closes") == 0
    page.evaluate("document.getElementById('labjob-live').dataset.resyncMs = '1500'")

    # The job ends, but the push never reaches the page: written straight to the database.
    LabJobEvent.objects.create(job=job, seq=1, type="log", payload={"stream": "stdout", "line": "written quietly"})
    LabJob.objects.filter(pk=job.pk).update(status="succeeded", last_event_seq=1, finished_at=timezone.now(),
                                            reason="Finished.")

    page.wait_for_function("() => document.getElementById('labjob-status').innerText.includes('Succeeded')",
                           timeout=20_000)
    assert page.locator("#labjob-log").inner_text().count("written quietly") == 1
    assert page.evaluate("window.__noReload") is True
    assert page.evaluate("window.__closes") <= 1  # at most the server's close once the job ended
