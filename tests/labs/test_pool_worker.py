"""The warm pool in a real Celery worker: LABS_WARM_POOL -> each pool process keeps a warm
sandbox, a submitted job runs in it (through services and the worker signals), the next job
gets a new one, and stopping the worker leaves no sandbox behind."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.labs.models import LabJobEvent
from apps.labs.services import lab_job_submit
from tests import conftest
from tests.labs.conftest import job_final, wait_for
from tests.labs.sandbox.conftest import job_uid_pids
from tests.labs.test_pool import alive, descendants

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(180)]

CODE = "import os\nprint('job in', sorted(os.listdir('/work')))\nopen('/work/mine.txt', 'w').write('x')\n"


def _waiting_zygotes(worker: int) -> set[int]:
    """Host pids of ``worker``'s warm sandboxes blocked reading their job from stdin (ready)."""
    found = set()
    mine = descendants(worker)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) not in mine:
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
            if b"gpu_workers.runners.zygote" not in cmdline or b"bwrap" in cmdline or b"prlimit" in cmdline:
                continue
            if b"setpriv" in cmdline.split(b"\0")[0]:
                continue
            if Path(entry.path, "syscall").read_text().startswith("0 0x0 "):  # read(0, ...)
                found.add(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def pooled_worker(transactional_db, bubblewrap_available, purged_queues, labs) -> Iterator[int]:
    proc = conftest.start_worker(
        concurrency=1, env={"LABS_WARM_POOL": json.dumps({"cpu": {"custom-script": 1}, "gpu": {"custom-script": 1}})}
    )
    try:
        yield proc.pid
    finally:
        sandboxes = descendants(proc.pid) & job_uid_pids()
        conftest.stop_process(proc)
    deadline = time.monotonic() + 15
    while alive(sandboxes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(sandboxes), "warm sandboxes outlived their worker"


def test_jobs_run_in_warm_sandboxes_one_each(pooled_worker, learner):
    def waiting() -> set[int]:
        return _waiting_zygotes(pooled_worker)

    seen = []
    for _ in range(2):
        ready = wait_for(waiting, 60, message="no warm sandbox became ready")
        job = job_final(lab_job_submit(user=learner, lab="custom-script", params={"code": CODE}).pk, 60)
        assert job.status == "succeeded", job.reason
        lines = [e.payload.get("line", "") for e in LabJobEvent.objects.filter(job=job, type="log").order_by("seq")]
        assert any("Ran in a warm sandbox" in line for line in lines), lines
        # It saw only its own inputs: no file of the previous job.
        assert "job in ['main.py', 'spec.json']" in lines, lines
        # The sandbox that was ready is gone (it ran this job); a new one replaces it.
        wait_for(lambda ready=ready: not (ready & waiting()) and waiting(), 60,
                 message="the used warm sandbox was not replaced by a new one")
        seen.append(ready)
    assert not (seen[0] & seen[1])


def test_the_workers_pool_uses_the_limits_its_jobs_get(transactional_db, bubblewrap_available, labs, settings):
    """The pool matches jobs by limits: it must read them where services does (the Lab row,
    which an admin may have tuned), or every job would start cold."""
    from apps.labs.sandbox import pool as warm_pool
    from apps.labs.services import _limits
    from apps.labs.tasks import warm_pool_start

    lab = labs["custom-script"]
    lab.limits = {**lab.limits, "memory_mb": 768, "max_processes": 40}
    lab.save()
    settings.LABS_WARM_POOL = {"cpu": {"custom-script": 2}, "gpu": {"char-gpt": 1}}
    pool = warm_pool_start(["cpu"])
    try:
        assert pool is not None and warm_pool.active_pool() is pool
        (slot,) = pool._slots.values()
        assert slot.target.runner == "script" and slot.target.size == 2
        assert slot.target.limits == _limits(lab)
    finally:
        warm_pool.deactivate()
    settings.LABS_WARM_POOL = {}
    assert warm_pool_start(["cpu"]) is None and warm_pool.active_pool() is None


def test_the_work_dir_sweep_removes_dead_workers_pool_dirs_only(db, settings, tmp_path):
    from apps.labs.tasks import lab_work_dirs_sweep_task, warm_pool_root

    settings.LABS_WORK_ROOT = tmp_path
    settings.LABS_KEEP_WORK_DIRS = False
    dead = next(pid for pid in range(4_000_000, 4_100_000) if not Path(f"/proc/{pid}").exists())
    own_start = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]
    gone = warm_pool_root() / f"p{dead}-12345-aaaa"
    live = warm_pool_root() / f"p{os.getpid()}-{own_start}-bbbb"
    for path in (gone, live):
        path.mkdir(parents=True)
    assert lab_work_dirs_sweep_task() == 1
    assert not gone.exists() and live.exists()
