"""Finding 6: a job's work dir is its own size-limited filesystem, released whatever it holds.

The writer runs in a real bubblewrap sandbox; the quota is small (8 MB) so the test writes
little. Before the fix, the same job wrote its 64 MB onto the host disk and succeeded.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from apps.labs.sandbox.workdirs import is_mount, work_dir_mount, work_dir_release, work_dirs_sweep

from .conftest import run_job

pytestmark = pytest.mark.sandbox

MiB = 1024 * 1024


def host_free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def tree_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def test_a_big_writer_is_stopped_by_the_quota_and_the_host_disk_is_untouched(bwrap_backend, work_dir, tmp_path):
    code = textwrap.dedent("""
        chunk = b'x' * (1024 * 1024)
        written = 0
        for n in range(4):  # 4 files x 16 MB = 64 MB, each under the 64 MB file size limit
            with open(f'/work/part{n}.bin', 'wb') as fh:
                for _ in range(16):
                    fh.write(chunk)
                    fh.flush()
                    written += len(chunk)
                    print('wrote', written // (1024 * 1024), 'MB', flush=True)
    """)
    free_before = host_free(tmp_path)
    run = run_job(bwrap_backend, work_dir, code, disk_mb=8, max_file_mb=64, memory_mb=256)
    free_after = host_free(tmp_path)

    assert run.status.reason == "disk_quota", (run.status, run.text[-2000:])
    assert "8 MB" in run.status.detail
    assert "No space left on device" in run.text
    assert "wrote 9 MB" not in run.lines  # stopped at the quota, not at the file size limit
    # What it wrote is in its own filesystem (not the host's), and at most the quota.
    assert is_mount(work_dir) and os.stat(work_dir).st_dev != os.stat(tmp_path).st_dev
    assert tree_bytes(work_dir) <= 8 * MiB
    # The host disk did not take the 64 MB (margin for whatever else runs on this machine).
    assert free_before - free_after < 32 * MiB, (free_before, free_after)

    work_dir_release(work_dir)
    assert not os.path.lexists(work_dir)


def test_a_job_that_fits_its_quota_succeeds(bwrap_backend, work_dir):
    code = "open('/work/model.bin', 'wb').write(b'x' * (2 * 1024 * 1024))\nprint('ok')\n"
    run = run_job(bwrap_backend, work_dir, code, disk_mb=8)
    assert run.status.reason == "succeeded", run.text
    assert (work_dir / "model.bin").stat().st_size == 2 * MiB  # still readable for artifacts


def test_a_3000_deep_tree_from_a_job_is_released(bwrap_backend, work_dir):
    code = textwrap.dedent("""
        import os
        os.chdir('/work')
        for _ in range(3000):
            os.mkdir('d')
            os.chdir('d')
        open('leaf', 'w').write('x')
        print('deep')
    """)
    run = run_job(bwrap_backend, work_dir, code, disk_mb=16)
    assert run.status.reason == "succeeded", run.text
    assert "deep" in run.lines
    bwrap_backend.release_work_dir(work_dir)
    assert not os.path.lexists(work_dir)


def _deep_chain(root: Path, depth: int) -> None:
    """A chain of ``depth`` directories (paths past PATH_MAX), built fd-relative."""
    root.mkdir(parents=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def test_release_of_an_unmounted_3000_deep_tree(tmp_path):
    # The old cleanup: shutil.rmtree recurses once per level and gives up on such a tree.
    old = tmp_path / "old"
    _deep_chain(old, 3000)
    try:
        shutil.rmtree(old)
        old_failed = False
    except (RecursionError, OSError):
        old_failed = True
    assert old_failed and old.exists()
    new = tmp_path / "new"
    _deep_chain(new, 3000)
    work_dir_release(new)
    assert not os.path.lexists(new)
    work_dir_release(old)
    assert not os.path.lexists(old)


def test_release_unmounts_nested_and_stacked_mounts(tmp_path):
    job = tmp_path / "job"
    work_dir_mount(job, disk_mb=1, uid=os.getuid(), gid=os.getgid())
    (job / "inner").mkdir()
    work_dir_mount(job / "inner", disk_mb=1, uid=os.getuid(), gid=os.getgid())
    (job / "inner" / "f").write_text("x")
    work_dir_release(job)
    assert not os.path.lexists(job)
    assert str(job) not in Path("/proc/self/mountinfo").read_text()


def test_sweep_removes_abandoned_work_dirs_only(tmp_path):
    root = tmp_path / "labs"
    root.mkdir()
    crashed = root / "101"  # a crashed worker's job, still mounted
    work_dir_mount(crashed, disk_mb=1, uid=os.getuid(), gid=os.getgid())
    (crashed / "out.bin").write_bytes(b"x" * 1000)
    unmounted = root / "102"  # e.g. after a reboot: a plain dir, deep
    _deep_chain(unmounted, 3000)
    running = root / "103"
    work_dir_mount(running, disk_mb=1, uid=os.getuid(), gid=os.getgid())
    not_ours = root / "README.txt"
    not_ours.write_text("operator notes")
    try:
        assert work_dirs_sweep(root, keep={"103"}, min_age=3600) == 0  # all too fresh: spared
        assert work_dirs_sweep(root, keep={"103"}, min_age=0) == 2
        assert not os.path.lexists(crashed) and not os.path.lexists(unmounted)
        assert is_mount(running) and not_ours.exists()
        assert work_dirs_sweep(tmp_path / "missing", keep=set()) == 0
    finally:
        work_dir_release(running)


def test_the_sweep_task_keeps_active_jobs_and_removes_the_rest(labs, learner, no_celery, tmp_path, settings):
    from apps.labs.services import lab_job_submit
    from apps.labs.tasks import lab_work_dirs_sweep_task

    settings.LABS_WORK_ROOT = tmp_path / "labs"
    settings.LABS_KEEP_WORK_DIRS = False
    active = lab_job_submit(user=learner, lab="spam-classifier", params={})  # queued
    finished = lab_job_submit(user=learner, lab="spam-classifier", params={})
    finished.status = "failed"
    finished.save(update_fields=["status"])
    dirs = {job.pk: settings.LABS_WORK_ROOT / str(job.pk) for job in (active, finished)}
    try:
        for path in dirs.values():
            work_dir_mount(path, disk_mb=1, uid=os.getuid(), gid=os.getgid())
            os.utime(path, (1, 1))  # left long ago by a crashed worker
        assert lab_work_dirs_sweep_task() == 1
        assert is_mount(dirs[active.pk]) and not os.path.lexists(dirs[finished.pk])
    finally:
        for path in dirs.values():
            work_dir_release(path)


@pytest.mark.django_db(transaction=True)  # the job's event writer has its own connection
def test_a_learners_disk_filler_fails_with_the_quota_reason(
    bwrap_backend, labs, learner, no_celery, settings, tmp_path
):
    """The worker's path (lab_job_execute, real bubblewrap): reason, words, nothing left."""
    from apps.labs.services import lab_job_claim, lab_job_execute, lab_job_submit

    settings.LABS_SANDBOX_BACKEND = "bubblewrap"
    settings.LABS_SANDBOX_OPTIONS = {}
    settings.LABS_WORK_ROOT = tmp_path / "labs"
    settings.LABS_KEEP_WORK_DIRS = False
    lab = labs["custom-script"]
    lab.limits = {**(lab.limits or {}), "disk_mb": 8}
    lab.save(update_fields=["limits"])
    code = "chunk = b'x' * 2**20\nfor n in range(4):\n    with open(f'part{n}.bin', 'wb') as fh:\n"
    code += "        for _ in range(16):\n            fh.write(chunk)\n"
    job = lab_job_submit(user=learner, lab="custom-script", params={"code": code})
    job = lab_job_claim(job.pk, worker="w@test", task_id="t")
    done = lab_job_execute(job)
    assert done.exit_reason == "disk_quota", (done.exit_reason, done.reason)
    assert done.status == "failed"
    assert done.reason.startswith("Disk quota exceeded: the job wrote more than 8 MB in its work directory.")
    work_dir = settings.LABS_WORK_ROOT / str(job.pk)
    assert not os.path.lexists(work_dir)
    assert str(settings.LABS_WORK_ROOT) not in Path("/proc/self/mountinfo").read_text()
