"""End to end: a real Celery worker process, real Postgres and Redis, real bubblewrap sandboxes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from apps.labs.models import Artifact, LabJobEvent
from apps.labs.services import lab_job_cancel, lab_job_submit, lab_jobs_reap
from tests.labs.conftest import job_final, job_state, start_worker, stop_worker, wait_for

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(120)]


def _sandbox_pids(job_id) -> set[int]:
    """Host pids of the job's sandbox: the bwrap whose command line names the job's work dir,
    and every descendant of it."""
    parents: dict[int, int] = {}
    roots = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            continue  # zombies are gone already, only not reaped
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        if b"bwrap" in cmdline and str(job_id).encode() in cmdline:
            roots.add(int(entry.name))
    found = set(roots)
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return found


SLEEPER = """
import subprocess, time
from gpu_workers.runners import protocol
child = subprocess.Popen(["sleep", "300"])   # a grandchild that must die too
print("ready", flush=True)
for i in range(600):
    protocol.progress(i / 600, f"tick {i}")
    time.sleep(0.1)
"""

TICKER = """
import time
from gpu_workers.runners import protocol
for i in range(1, 31):
    print(f"tick {i}", flush=True)
    protocol.metric("loss", 1.0 / i, step=i)
    time.sleep(0.1)
"""


def test_spam_classifier_succeeds_graded_with_events_in_order(
    bubblewrap_available, purged_queues, labs, learner, celery_worker_process
):
    job = lab_job_submit(user=learner, lab="spam-classifier", params={})
    job = job_final(job.pk, 60)
    assert job.status == "succeeded", job.reason
    assert job.metrics["accuracy"] >= 0.95 and {"precision", "recall", "f1"} <= job.metrics.keys()
    assert job.grade["passed"] is True and job.grade["targets"][0]["metric"] == "accuracy"
    assert job.sandbox_backend == "bubblewrap" and job.worker.startswith("test-") and job.attempts == 1
    assert job.started_at >= job.queued_at and job.finished_at >= job.started_at
    events = list(LabJobEvent.objects.filter(job=job).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, job.last_event_seq + 1))
    types = [e.type for e in events]
    assert types[0] == "log" and "sandbox" in events[0].payload["stream"]
    assert types.index("progress") < types.index("metric") < types.index("artifact") < types.index("result")
    fractions = [e.payload["fraction"] for e in events if e.type == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    artifact = Artifact.objects.get(job=job)
    assert artifact.name == "model_summary.json" and b'"vocabulary_size"' in artifact.file.read()
    # The worker removes the work dir right after recording the final state.
    wait_for(
        lambda: not (Path(os.environ["LABS_WORK_ROOT"]) / str(job.pk)).exists(),
        10,
        message="the job's work dir was left behind",
    )


def test_cancelling_a_running_script_really_stops_its_processes(
    bubblewrap_available, purged_queues, labs, learner, celery_worker_process
):
    job = lab_job_submit(user=learner, lab="custom-script", params={"code": SLEEPER})
    wait_for(
        lambda: LabJobEvent.objects.filter(job_id=job.pk, payload__line="ready").exists(),
        40,
        message="the script never started",
    )
    pids = _sandbox_pids(job.pk)
    assert len(pids) >= 3, pids  # bwrap, the runner, its `sleep` child (at least)
    lab_job_cancel(job=job.pk, user=learner)
    job = job_final(job.pk, 15)  # the script sleeps far longer: only a real cancel ends it in time
    assert job.status == "cancelled" and job.reason == "Cancelled by you."
    wait_for(
        lambda: (
            not (pids & _sandbox_pids(job.pk)) and all(not Path(f"/proc/{p}").exists() or _is_zombie(p) for p in pids)
        ),
        10,
        message="sandbox processes survived the cancel",
    )


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_job_whose_worker_is_killed_ends_in_a_final_state(
    bubblewrap_available, purged_queues, labs, learner, celery_worker_process, settings
):
    """SIGKILL the whole worker mid-job: the sandbox dies with it (--die-with-parent), the
    reaper sees the stale heartbeat and requeues once, a fresh worker finishes the job."""
    job = lab_job_submit(user=learner, lab="custom-script", params={"code": TICKER})
    wait_for(
        lambda: LabJobEvent.objects.filter(job_id=job.pk, type="metric").count() >= 3,
        40,
        message="the job never got going",
    )
    pids = _sandbox_pids(job.pk)
    assert pids
    os.killpg(celery_worker_process.pid, signal.SIGKILL)
    celery_worker_process.wait(10)
    wait_for(
        lambda: all(not Path(f"/proc/{p}").exists() or _is_zombie(p) for p in pids),
        10,
        message="the sandbox outlived its worker",
    )
    assert job_state(job.pk).status == "running"  # nobody has told the database yet

    time.sleep(1.5)
    counts = lab_jobs_reap(stale_after=1)
    assert counts["requeued"] == 1, counts
    requeued = job_state(job.pk)
    assert requeued.status == "queued" and requeued.attempts == 1

    worker = start_worker(f"second-{os.getpid()}-{time.monotonic_ns()}@localhost")
    try:
        job = job_final(job.pk, 60)
    finally:
        stop_worker(worker)
    assert job.status == "succeeded", job.reason
    assert job.attempts == 2 and job.metrics["loss"] == pytest.approx(1 / 30)
    events = list(LabJobEvent.objects.filter(job=job).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # continuous across attempts
    assert any("put back in the queue" in e.payload.get("line", "") for e in events)
