"""The job page's progress area: named stages, an indeterminate bar until a real fraction
arrives, and progress kept out of the log (it moves the bar only)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.labs import live
from apps.labs.sandbox import ExitStatus
from apps.labs.selectors import lab_job_snapshot
from apps.labs.services import lab_job_claim, lab_job_events_record, lab_job_finish, lab_job_submit

pytestmark = pytest.mark.django_db

BAR = re.compile(r"<progress [^>]*>")
LOG = re.compile(r'<ol id="labjob-log"[^>]*>(.*?)</ol>', re.S)


@pytest.fixture
def logged_in(client, learner):
    client.force_login(learner)
    return client


def _page(client, job) -> str:
    return client.get(reverse("labs:job-detail", args=[job.pk])).content.decode()


def _bar(html: str) -> str:
    bars = BAR.findall(html)
    assert len(bars) == 1, bars
    return bars[0]


def _stages(html: str) -> list[tuple[str, str]]:
    """(state, visible label) of each stage, in order."""
    return [
        (state, label)
        for state, label in re.findall(
            r'<li class="labjob-stage is-(\w+)"[^>]*><span class="visually-hidden">[^<]*</span>([^<]*)</li>', html
        )
    ]


def _running(learner, lab="char-gpt", params=None):
    job = lab_job_submit(user=learner, lab=lab, params=params or {})
    return lab_job_claim(job.pk, "w", "t")


def _progress(job, *events):
    lab_job_events_record(job, [("progress", {"fraction": f, "message": m}) for f, m in events], attempt=job.attempts)


def test_queued_job_shows_the_stages_and_an_indeterminate_bar(logged_in, labs, learner, no_celery):
    job = lab_job_submit(user=learner, lab="spam-classifier", params={})
    html = _page(logged_in, job)
    assert _stages(html) == [
        ("current", "Queued (position 1)"),
        ("todo", "Sandbox ready"),
        ("todo", "Loading libraries"),
        ("todo", "Running"),
    ]
    assert 'aria-current="step"><span class="visually-hidden">Now: </span>Queued (position 1)' in html
    bar = _bar(html)
    # Indeterminate: no value (so no fake 0%), announced in words instead.
    assert "value=" not in bar.replace("aria-valuetext=", "") and "aria-valuenow" not in bar
    assert 'aria-valuetext="Queued (position 1): waiting for a free worker"' in bar
    assert 'class="pct"' not in html
    assert "labs/job.css" in html  # the bar's animation (and its reduced-motion variant)


def test_a_claimed_job_is_in_the_sandbox_stage_until_the_runner_reports(logged_in, labs, learner, no_celery):
    job = _running(learner)
    html = _page(logged_in, job)
    assert [s for s, _ in _stages(html)] == ["done", "current", "todo", "todo"]
    assert 'aria-valuetext="Sandbox ready: starting the runner"' in _bar(html)
    status = html[html.index('id="labjob-status"') : html.index('id="labjob-clock"')]
    assert "Running</span> - sandbox ready" in status


def test_loading_libraries_stays_indeterminate_whatever_fraction_it_guesses(logged_in, labs, learner, no_celery):
    job = _running(learner, lab="spam-classifier")
    _progress(job, (0.05, "loading scikit-learn"))
    html = _page(logged_in, job)
    assert [s for s, _ in _stages(html)] == ["done", "done", "current", "todo"]
    bar = _bar(html)
    assert "aria-valuenow" not in bar and 'aria-valuetext="Loading libraries: loading scikit-learn"' in bar
    assert "Running</span> - loading libraries" in html


def test_a_real_fraction_makes_the_bar_determinate(logged_in, labs, learner, no_celery):
    job = _running(learner)
    _progress(job, (0.0, "loading PyTorch"), (0.4, "step 20/50, loss 2.1"))
    html = _page(logged_in, job)
    assert [s for s, _ in _stages(html)] == ["done", "done", "done", "current"]
    bar = _bar(html)
    assert 'value="40"' in bar and 'aria-valuenow="40"' in bar and 'aria-valuetext="40%, step 20/50, loss 2.1"' in bar
    assert '<span class="pct">40%</span>' in html


def test_running_without_any_fraction_yet_is_indeterminate(labs, learner, no_celery):
    job = _running(learner, lab="custom-script")
    _progress(job, (0.0, "running main.py"))
    view = live.progress_view(lab_job_snapshot(job))
    assert view["stage"] == "running" and view["indeterminate"]
    assert view["valuetext"] == "Running: running main.py, no progress reported yet"


def test_ended_jobs_show_where_they_got_to(logged_in, labs, learner, no_celery):
    done = _running(learner, lab="spam-classifier")
    lab_job_finish(done, ExitStatus(0, "succeeded", "ok"), {"accuracy": 0.97})
    html = _page(logged_in, done)
    assert [s for s, _ in _stages(html)] == ["done"] * 4
    assert 'aria-valuenow="100"' in _bar(html)

    broken = _running(learner)
    _progress(broken, (0.0, "loading PyTorch"))
    lab_job_finish(broken, ExitStatus(1, "failed", "The program exited with code 1."))
    html = _page(logged_in, broken)
    assert _stages(html)[2] == ("stopped", "Loading libraries") and "Stopped at: " in html
    assert "aria-valuenow" in _bar(html)  # nothing left to wait for: no animation


def test_progress_never_becomes_a_log_line(logged_in, labs, learner, no_celery):
    job = _running(learner, lab="custom-script")
    lab_job_events_record(
        job,
        [
            ("log", {"stream": "stdout", "line": "step 1: loss 1.000"}),
            ("progress", {"fraction": 0.01, "message": ""}),
            ("progress", {"fraction": 0.02, "message": "warming up"}),
            ("log", {"stream": "stdout", "line": "step 2: loss 0.500"}),
        ],
        attempt=job.attempts,
    )
    html = _page(logged_in, job)
    log = LOG.search(html).group(1)
    assert "step 1: loss 1.000" in log and "step 2: loss 0.500" in log
    assert "%" not in log and "warming up" not in log and "stream-progress" not in log
    assert "warming up" in html[html.index('id="labjob-progress"') :]  # under the bar instead

    # The websocket's frames: progress updates the bar and adds no line.
    events = [{"seq": 9, "type": "progress", "payload": {"fraction": 0.03, "message": ""}}]
    frame = live.ws_message(
        snapshot=lab_job_snapshot(job), events=events, chart_metrics=("*",), status_changed=False, last_seq=9
    )
    assert 'id="labjob-progress"' in frame and 'id="labjob-log"' not in frame
    assert live.render_log_lines(events) == ""


def test_the_log_tail_is_not_crowded_out_by_progress(logged_in, labs, learner, no_celery):
    job = _running(learner, lab="custom-script")
    lab_job_events_record(
        job,
        [("log", {"stream": "stdout", "line": "the first line"})]
        + [("progress", {"fraction": i / 400, "message": ""}) for i in range(400)],
        attempt=job.attempts,
    )
    assert "the first line" in LOG.search(_page(logged_in, job)).group(1)


def test_the_progress_area_is_resent_only_when_it_changes(labs, learner, no_celery):
    job = _running(learner, lab="custom-script")
    _progress(job, (0.0, "running main.py"))
    snapshot = lab_job_snapshot(job)
    key = live.progress_key(snapshot)
    # A log line leaves it as it is (re-rendering would restart the indeterminate animation).
    assert live.progress_key({**snapshot, "last_event_seq": 99}) == key
    assert live.progress_key({**snapshot, "progress": 0.5}) != key
    frame = live.ws_message(
        snapshot=snapshot, events=[], chart_metrics=(), status_changed=True, last_seq=1, progress_changed=False
    )
    assert 'id="labjob-progress"' not in frame and 'id="labjob-status"' in frame


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_the_socket_announces_stages_and_leaves_the_bar_alone_for_log_lines(labs, learner, no_celery):
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from config.asgi import application
    from tests.labs.conftest import run_async

    job = _running(learner, lab="custom-script")
    client = Client()
    client.force_login(learner)
    comm = WebsocketCommunicator(
        application,
        f"/ws/labs/jobs/{job.pk}/?after=0",
        headers=[
            (b"origin", b"http://testserver"),
            (b"host", b"testserver"),
            (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
        ],
    )

    def record(*events):
        return lab_job_events_record(job, list(events), attempt=job.attempts)

    async def run():
        assert (await comm.connect(timeout=5))[0]
        frames = [await comm.receive_from(timeout=5)]
        for events in (
            [("log", {"stream": "stdout", "line": "hello"})],
            [("progress", {"fraction": 0.0, "message": "loading numpy"})],
            [("progress", {"fraction": 0.5, "message": ""})],
            [("progress", {"fraction": 0.6, "message": ""}), ("log", {"stream": "stdout", "line": "more"})],
        ):
            await database_sync_to_async(record)(*events)
            frames.append(await comm.receive_from(timeout=5))
        await comm.disconnect(timeout=10)  # generous: a loaded CI machine is slow to close
        return frames

    first, log_only, loading, running, later = run_async(run)
    assert "sandbox ready" in first and 'id="labjob-progress"' in first
    assert "hello" in log_only and 'id="labjob-progress"' not in log_only and 'id="labjob-status"' not in log_only
    assert "Running</span> - loading libraries" in loading and 'aria-current="step">' in loading
    assert 'id="labjob-status"' in running and 'aria-valuenow="50"' in running
    # Percent by percent the bar moves, but the live region (the status line) stays quiet.
    assert 'aria-valuenow="60"' in later and 'id="labjob-status"' not in later and "more" in later
    assert "stream-progress" not in "".join((first, log_only, loading, running, later))


def test_a_library_loaded_half_way_through_never_steps_the_stage_back(labs, learner, no_celery):
    job = _running(learner)  # the messages a RAG evaluation sends; the stage rule is every lab's
    seen = []
    for fraction, message in [(0.0, "loading PyTorch"), (0.06, "loading the embedding model"),
                              (0.3, "embedded 200/665 chunks"), (0.65, "loading RAGAS"), (0.9, "scoring")]:
        _progress(job, (fraction, message))
        job.refresh_from_db()
        seen.append(live.job_stage(lab_job_snapshot(job)))
    assert seen == ["loading", "loading", "running", "running", "running"]
    status = live.render_status_inner(lab_job_snapshot(job))
    assert "loading libraries" not in status
