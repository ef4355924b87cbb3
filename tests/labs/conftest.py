"""Fixtures for the labs tests. tests/labs/sandbox/ inherits this file: the one autouse
fixture below skips that folder."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from apps.labs.models import Lab, LabJob
from tests import conftest


def run_async(coro_fn, timeout: float = 60):
    """Run ``coro_fn()`` on a fresh event loop in its own thread (async_to_sync refuses to run in
    a thread where Playwright's loop is marked running)."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coro_fn())
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="test-async")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"async scenario did not finish within {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture
def labs(db) -> dict[str, Lab]:
    """The catalogue as ``load_content`` installs it."""
    from apps.labs.services import lab_catalog_sync

    lab_catalog_sync()
    return {lab.slug: lab for lab in Lab.objects.all()}


@pytest.fixture
def no_celery(monkeypatch) -> list[tuple]:
    """Record Celery sends instead of talking to the broker (for tests without a worker)."""
    sent: list[tuple] = []
    from config.celery import app

    monkeypatch.setattr(
        app,
        "send_task",
        lambda name, args=None, queue=None, task_id=None, **kw: sent.append((name, tuple(args or ()), queue, task_id)),
    )
    monkeypatch.setattr(app.control, "revoke", lambda task_id, **kw: sent.append(("revoke", task_id)))
    return sent


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.1, message: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message or f"condition not met within {timeout} s")


def job_state(job_id) -> LabJob:
    return LabJob.objects.select_related("lab").get(pk=job_id)


def job_final(job_id, timeout: float) -> LabJob:
    """Wait for the job to reach a final state and return it."""
    return wait_for(
        lambda: (j := job_state(job_id)).is_final and j,
        timeout,
        message=f"job did not end within {timeout} s: {job_state(job_id).status}",
    )


@pytest.fixture(scope="module")
def bubblewrap_available() -> None:
    from apps.labs.sandbox import SandboxError, get_backend

    try:
        get_backend("bubblewrap").check_available()
    except SandboxError as exc:
        pytest.skip(f"bubblewrap sandbox unavailable here: {exc.message}")


def start_worker(name: str) -> subprocess.Popen:
    """A second real Celery worker, like the ``celery_worker_process`` fixture's."""
    return conftest.start_worker(name, concurrency=1)


def stop_worker(proc: subprocess.Popen) -> None:
    conftest.stop_process(proc)


@pytest.fixture
def purged_queues(transactional_db) -> Iterator[None]:
    """Drop messages earlier tests left in the broker (their jobs no longer exist)."""
    from config.celery import app

    app.control.purge()
    yield
