"""A learner runs the RAG evaluation lab in a real browser: launch from the form, watch the run
live over the websocket, read the per-question table, run it again with another retriever and
compare the two runs.

Real uvicorn (HTTP + websockets), a real Celery worker, real bubblewrap sandboxes, and the
registry fixture (MiniLM + rag-curriculum, bound read-only at /models in the sandbox)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.labs.templatetags.labs_tags import metric
from tests.conftest import browser_login
from tests.labs.conftest import job_state
from tests.labs.test_browser import compare_from_job_page, launch_from_form, wait_until_ended
from tests.registry import fixtures as registry_fixtures

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.timeout(300)]

registry_files = registry_fixtures.registry_files
registry_ready = registry_fixtures.registry_ready

SHOTS = Path("/tmp/ragbrowser")
# Small: four questions of a seeded subset; paragraph-sized chunks, so the scores are not all 0
# (a chunk much longer than its reference passage never counts as that passage).
SMALL = {"chunk_size": "500", "chunk_overlap": "0", "top_k": "3", "max_questions": "4", "retriever": "hybrid",
         "seed": "7"}

# Installed on the job page before the run starts: a sample of what the page shows on every DOM
# change, so the test can tell afterwards what was on screen while the status said "Running".
WATCH = """() => {
  window.__samples = [];
  const sample = () => {
    const bar = document.getElementById('labjob-progressbar');
    const empty = document.getElementById('labjob-chart-empty');
    const legend = Array.from(document.querySelectorAll('#labjob-chart .u-legend .u-series'))
      .map((row) => row.innerText.replace(/\\s+/g, ' ').trim());
    window.__samples.push({
      status: document.getElementById('labjob-status').innerText,
      progress: bar ? bar.value : null,
      chartEmpty: empty ? empty.textContent.trim() : '',
      legend: legend.join(' | '),
    });
  };
  sample();
  new MutationObserver(sample).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                       characterData: true});
}"""


def shots(page, name: str) -> None:
    """Desktop and 390 px screenshots under /tmp/ragbrowser/; at 390 px nothing may widen the page."""
    SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(SHOTS / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)  # the charts resize on the window's resize event
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
    page.screenshot(path=str(SHOTS / f"{name}-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.fixture
def rag_page(bubblewrap_available, registry_ready, labs, learner, purged_queues, request, page):
    base = request.getfixturevalue("live_asgi_server")
    request.getfixturevalue("celery_worker_process")
    browser_login(page, base, "lena")
    return page, base


def test_launch_the_rag_lab_watch_it_live_and_compare_two_retrievers(rag_page):
    page, base = rag_page
    page.goto(f"{base}/labs/rag-eval/")
    assert page.locator("#id_retriever").input_value() == "hybrid"
    assert page.locator("#id_dataset option[value='rag-curriculum']").count() == 1
    shots(page, "lab-page")

    a_id = launch_from_form(page, base, "rag-eval", SMALL)
    page.evaluate(WATCH)
    page.evaluate("window.__noReload = true")  # survives only if updates arrive without a reload

    # While it runs, the bar moves over the websocket (embedding the chunks takes seconds on a CPU).
    page.wait_for_function(
        "() => { const p = document.getElementById('labjob-progressbar');"
        " return p && p.value > 5 && p.value < 95"
        " && document.getElementById('labjob-status').innerText.startsWith('Running'); }",
        timeout=120_000,
    )
    shots(page, "job-running")
    assert "Succeeded" in wait_until_ended(page, 180_000)
    assert page.evaluate("window.__noReload") is True

    samples = page.evaluate("window.__samples")
    running = [s for s in samples if s["status"].startswith("Running")]
    assert any(0 < s["progress"] < 100 for s in running), samples[:5]
    # The running means reached the chart before the run ended: its "fills in" note was
    # cleared and the legend showed a context_recall value while the status still said Running.
    with_points = [s for s in running if not s["chartEmpty"] and "context_recall" in s["legend"]]
    assert with_points, running[-5:]
    assert any(any(ch.isdigit() for ch in s["legend"].split("context_recall", 1)[1][:12]) for s in with_points)
    assert page.locator("#labjob-progressbar").get_attribute("aria-valuenow") == "100"

    # The result: both scores and the per-question table, one row per scored question.
    result = page.locator("#labjob-result")
    assert result.is_visible()
    text = result.inner_text()
    assert "context_precision" in text and "context_recall" in text
    assert page.locator("#rag-questions-h").inner_text() == "Question by question"
    rows = page.locator("table.rag-questions tbody tr")
    assert rows.count() == 4
    a = job_state(a_id)
    assert a.status == "succeeded" and a.sandbox_backend == "bubblewrap" and a.params["retriever"] == "hybrid"
    first = a.result["questions"][0]
    assert first["question"] in rows.first.inner_text() and first["retrieved"][0] in rows.first.inner_text()
    assert "This is your only run of this lab so far." in page.locator(".labjob-compare").inner_text()
    shots(page, "job-result")

    # Run B: the same settings but the retriever, from the prefilled form.
    page.click("text=Change settings and run")
    assert page.input_value("#id_chunk_size") == "500" and page.input_value("#id_max_questions") == "4"
    b_id = launch_from_form(page, base, "rag-eval", {"retriever": "bm25"})
    assert "Succeeded" in wait_until_ended(page, 180_000)
    b = job_state(b_id)
    assert b.status == "succeeded" and b.params == {**a.params, "retriever": "bm25"}
    assert page.locator("table.rag-questions tbody tr").count() == 4

    # B against A, picked on B's page: the retriever is the one setting that differs.
    page.reload()
    compare_from_job_page(page, a_id)
    assert "1 setting differs: Retriever." in page.locator(".compare-summary").inner_text()
    changed = page.locator("#compare-params tr.is-changed")
    assert changed.count() == 1
    assert changed.locator("th").inner_text() == "Retriever"
    assert [c.inner_text() for c in changed.locator("td").all()][:2] == ["hybrid", "bm25"]
    metrics = page.locator("#compare-metrics tbody tr")
    for name in ("context_precision", "context_recall"):
        row = metrics.filter(has=page.locator(f"th:text-matches('^{name}')"))
        assert row.count() == 1, name
        cells = [c.inner_text() for c in row.locator("td").all()]
        assert cells[:2] == [metric(a.metrics[name]), metric(b.metrics[name])], (name, cells)
    assert page.locator(".compare-chart .uplot").count() == 2  # context_recall and context_precision
    shots(page, "compare-retriever")
