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


# --- comparing two runs and running one again ----------------------------------------------------
# The helpers below are the compare flow any lab's browser test can reuse: launch from the
# form, wait for the live page to say it ended, then compare from the job page.

COMPARE_SHOTS = Path("/tmp/compare")


def launch_from_form(page, base: str, lab: str, fields: dict[str, str]) -> str:
    """Fill the lab's launch form (unlisted fields keep their value), launch, return the job id."""
    if f"/labs/{lab}/" not in page.url:
        page.goto(f"{base}/labs/{lab}/")
    for name, value in fields.items():
        if page.locator(f"select#id_{name}").count():
            page.select_option(f"#id_{name}", value)
        else:
            page.fill(f"#id_{name}", value)
    page.click("button:has-text('Launch run')")
    page.wait_for_url("**/labs/jobs/**")
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def wait_until_ended(page, timeout_ms: int = 90_000) -> str:
    """Wait on the live job page (websocket) for a final status; return the status line."""
    page.wait_for_function(
        "() => /Succeeded|Failed|Cancelled|Timed out/.test(document.getElementById('labjob-status').innerText)",
        timeout=timeout_ms,
    )
    return page.locator("#labjob-status").inner_text()


def compare_from_job_page(page, other_id: str) -> None:
    """On a job page, pick ``other_id`` in "Compare this run with" and open the comparison,
    with the keyboard only; waits until every chart is drawn."""
    page.focus("#compare-a")
    page.select_option("#compare-a", other_id)
    page.keyboard.press("Tab")  # to the Compare button
    assert page.evaluate("document.activeElement.textContent") == "Compare"
    page.keyboard.press("Enter")
    page.wait_for_url("**/labs/jobs/compare/**")
    charts = page.locator(".compare-chart").count()
    page.wait_for_function(f"() => document.querySelectorAll('.compare-chart .uplot').length === {charts}")


def compare_shots(page, name: str) -> None:
    """Desktop and 390 px screenshots under /tmp/compare/; at 390 px nothing may widen the page."""
    COMPARE_SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(COMPARE_SHOTS / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)  # the charts resize on the window's resize event
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(COMPARE_SHOTS / f"{name}-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.mark.timeout(300)
def test_compare_two_runs_and_run_one_again(learner_page):
    page, base = learner_page
    tiny = {"steps": "20", "block_size": "16", "n_layer": "1", "n_embd": "32"}
    a_id = launch_from_form(page, base, "char-gpt", tiny)
    assert "Succeeded" in wait_until_ended(page)
    assert page.locator("text=This is your only run of this lab so far.").is_visible()

    # Run B: the same settings but the learning rate, from the prefilled form.
    page.click("text=Change settings and run")
    assert page.input_value("#id_steps") == "20"
    b_id = launch_from_form(page, base, "char-gpt", {"lr": "0.01"})
    assert "Succeeded" in wait_until_ended(page)

    # Run again: the button arrived over the websocket when B ended (no reload), so htmx posts it.
    page.click("#labjob-rerun")
    page.wait_for_url(lambda url: "/labs/jobs/" in url and b_id not in url and "compare" not in url)
    c_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert "Started again with the same settings and seed." in page.locator(".messages").inner_text()
    assert "Succeeded" in wait_until_ended(page)
    b, c = job_state(b_id), job_state(c_id)
    assert c.params == b.params and c.params["seed"] == b.params["seed"]
    # Same settings and seed on the same machine: the same numbers.
    assert c.metrics["val_loss"] == b.metrics["val_loss"] and c.metrics["final_loss"] == b.metrics["final_loss"]

    # C against A, picked on C's page: one setting differs, both curves drawn per metric.
    page.reload()
    compare_shots(page, "job-page")
    compare_from_job_page(page, a_id)
    assert "1 setting differs: Learning rate." in page.locator(".compare-summary").inner_text()
    changed = page.locator("#compare-params tr.is-changed")
    assert changed.count() == 1 and "Learning rate" in changed.inner_text() and "0.01" in changed.inner_text()
    assert "val_loss" in page.locator("#compare-metrics").inner_text()
    assert page.locator(".compare-chart .uplot").count() == 2  # loss and val_loss
    legend = page.locator(".compare-chart").first.locator(".u-legend").inner_text()
    assert "run A" in legend and "run B" in legend
    compare_shots(page, "compare-lr")

    # B against C from the lab's history, by ticking two boxes: nothing differs.
    page.goto(f"{base}/labs/jobs/?lab=char-gpt")
    page.check(f"#run-{b_id}")
    page.check(f"#run-{c_id}")
    compare_shots(page, "history")
    page.click("text=Compare the two ticked runs")
    page.wait_for_url("**/labs/jobs/compare/**")
    assert "Same settings and seed." in page.locator(".compare-summary").inner_text()
    assert "0 (no change)" in page.locator("#compare-metrics").inner_text()
    compare_shots(page, "compare-same")

    # The lab's own picker lists the three runs with their key metrics.
    page.goto(f"{base}/labs/jobs/compare/?lab=char-gpt")
    assert page.locator(".compare-pick-list input[type=checkbox]").count() == 3
    assert "val_loss" in page.locator(".compare-pick-list").inner_text()
    compare_shots(page, "picker")
