"""The warm sandbox pool (apps/labs/sandbox/pool.py) with real bubblewrap sandboxes.

Isolation of a pooled sandbox against escapes is the escape suite's job (it runs every
attempt on pooled sandboxes too); these tests are about the pool itself: one job per
sandbox, nothing shared between jobs, cold fallback, limits, refill, recycling, draining and
dying with the worker. No database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from apps.labs.sandbox import SandboxError, SandboxLimits, SandboxUnavailable
from apps.labs.sandbox import pool as warm_pool
from apps.labs.sandbox.bubblewrap import BubblewrapBackend
from apps.labs.sandbox.workdirs import is_mount, work_dir_release
from tests.labs.sandbox.conftest import job_uid_pids, make_spec

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"wall_seconds": 30, "cpu_seconds": 30, "memory_mb": 1024, "max_processes": 64, "max_log_bytes": 200_000}


@pytest.fixture(scope="module")
def backend() -> BubblewrapBackend:
    backend = BubblewrapBackend()
    try:
        backend.check_available()
    except SandboxUnavailable as exc:
        pytest.skip(f"bubblewrap sandbox unavailable here: {exc.message}")
    return backend


@pytest.fixture
def dirs(tmp_path: Path) -> Iterator[SimpleNamespace]:
    made: list[Path] = []

    def job_dir() -> Path:
        made.append(tmp_path / uuid.uuid4().hex[:8])
        return made[-1]

    yield SimpleNamespace(pool=tmp_path / ".pool", job=job_dir)
    warm_pool.deactivate(wait=True)
    for path in made:
        work_dir_release(path)


def start_pool(backend, dirs, size=1, *, runner="script", warm_imports=(), **options) -> warm_pool.SandboxPool:
    limits = SandboxLimits(**{**LIMITS, **options.pop("limits", {})})
    pool = warm_pool.SandboxPool(
        backend, [warm_pool.WarmTarget(runner, limits, size, tuple(warm_imports))], dirs.pool, **options
    )
    warm_pool.activate(pool)
    return pool


def run(backend, work_dir: Path, code: str, **limits):
    """Start (from the pool if one fits), stream to the end; return (handle, status, log lines)."""
    spec = make_spec(work_dir, files={"main.py": textwrap.dedent(code).encode()}, **limits)
    handle = backend.start(spec)
    events = list(backend.stream(handle))
    status = backend.wait(handle)
    lines = [e.payload.get("line", "") for e in events if e.type == "log"]
    return handle, status, lines


def test_a_pooled_sandbox_runs_one_job_and_is_never_handed_out_again(backend, dirs):
    pool = start_pool(backend, dirs, refill_delay=3600)  # no refill after the take: the pool stays empty
    assert pool.wait_ready(60), pool.stats.last_error
    handle, status, lines = run(backend, dirs.job(), "print('job one')")
    assert handle.warm and status.reason == "succeeded", lines
    assert "job one" in lines and any("Ran in a warm sandbox" in line for line in lines)
    assert handle.process.poll() is not None  # the sandbox exited with its job
    assert pool.ready_count() == 0 and pool.stats.taken == 1
    # The same sandbox cannot take a second job ...
    with pytest.raises(SandboxError, match="exactly one job"):
        backend.assign_warm(handle, make_spec(dirs.job()))
    # ... and the next job, with the pool empty, starts cold in a process of its own.
    second, status, _ = run(backend, dirs.job(), "print('job two')")
    assert not second.warm and status.ok and second.process.pid != handle.process.pid
    assert pool.stats.misses == 1


def test_the_pool_refills_with_new_processes(backend, dirs):
    pool = start_pool(backend, dirs)
    pids = []
    for n in range(3):
        assert pool.wait_ready(60), pool.stats.last_error
        handle, status, _ = run(backend, dirs.job(), f"print({n})")
        assert handle.warm and status.ok
        pids.append(handle.process.pid)
    assert len(set(pids)) == 3 and pool.stats.taken == 3


def test_a_pooled_job_sees_nothing_of_the_previous_pooled_job(backend, dirs):
    pool = start_pool(backend, dirs, size=2)  # both sandboxes exist while the first job runs
    assert pool.wait_ready(60), pool.stats.last_error
    first, status, lines = run(backend, dirs.job(), """
        import os
        for path in ('/work/secret.txt', '/tmp/secret.txt', '/dev/shm/secret.txt'):
            open(path, 'w').write('learner one')
        os.environ['SECRET'] = 'learner one'
        print('written')
    """)
    assert first.warm and status.ok and "written" in lines, lines
    second, status, lines = run(backend, dirs.job(), """
        import os
        for path in ('/work/secret.txt', '/tmp/secret.txt', '/dev/shm/secret.txt'):
            print(path, 'SEEN' if os.path.exists(path) else 'absent')
        print('env', os.environ.get('SECRET', 'absent'))
        print('work', sorted(os.listdir('/work')))
        print('procs', sorted(p for p in os.listdir('/proc') if p.isdigit()))
    """)
    assert second.warm and status.ok, lines
    assert second.process.pid != first.process.pid
    assert "/work/secret.txt absent" in lines and "/tmp/secret.txt absent" in lines
    assert "/dev/shm/secret.txt absent" in lines and "env absent" in lines
    assert "work ['main.py', 'spec.json']" in lines
    assert "procs ['1', '2']" in lines  # bwrap's init and this job: no other job's processes
    assert first.spec.work_dir != second.spec.work_dir


def test_job_inputs_arrive_after_start_and_land_in_the_jobs_own_work_dir(backend, dirs):
    pool = start_pool(backend, dirs)
    assert pool.wait_ready(60), pool.stats.last_error
    idle = list(dirs.pool.iterdir())
    assert len(idle) == 1 and is_mount(idle[0]) and os.listdir(idle[0]) == []  # nothing before a job
    work = dirs.job()
    handle, status, lines = run(backend, work, """
        import json
        spec = json.load(open('/work/spec.json'))
        print('job', spec['job_id'])
        open('/work/out.txt', 'w').write('from the job')
    """)
    assert handle.warm and status.ok, lines
    assert f"job {handle.spec.job_id}" in lines
    # The sandbox's /work is now the job's work dir (where artifacts are read), and the
    # pool's copy of it is gone.
    assert is_mount(work) and (work / "out.txt").read_text() == "from the job"
    assert not idle[0].exists()


def test_warm_imports_are_done_before_the_job_arrives(backend, dirs):
    probe = "import sys\nprint('preloaded', 'email.mime.text' in sys.modules)\n"
    pool = start_pool(backend, dirs, warm_imports=["email.mime.text"])
    assert pool.wait_ready(60), pool.stats.last_error
    warm, status, lines = run(backend, dirs.job(), probe)
    assert warm.warm and status.ok and "preloaded True" in lines, lines
    warm_pool.deactivate()
    cold, status, lines = run(backend, dirs.job(), probe)
    assert not cold.warm and status.ok and "preloaded False" in lines, lines


def test_a_job_with_other_limits_starts_cold(backend, dirs):
    pool = start_pool(backend, dirs, limits={"memory_mb": 512})
    assert pool.wait_ready(60), pool.stats.last_error
    handle, status, lines = run(backend, dirs.job(), "print('hi')", memory_mb=1024)
    assert not handle.warm and status.ok and "hi" in lines
    assert pool.ready_count() == 1 and pool.stats.misses == 1  # the warm one stays for its own kind
    # The wall-time and log limits are the worker's to enforce, so any value fits.
    handle, status, _ = run(backend, dirs.job(), "print('hi')", memory_mb=512, wall_seconds=7, max_log_bytes=999)
    assert handle.warm and status.ok


def test_wall_time_counts_from_the_job_not_from_the_sandbox_start(backend, dirs):
    pool = start_pool(backend, dirs, limits={"wall_seconds": 2})
    assert pool.wait_ready(60), pool.stats.last_error
    time.sleep(2.5)  # idle longer than the job may run
    handle, status, lines = run(backend, dirs.job(), "import time; time.sleep(0.3); print('done')", wall_seconds=2)
    assert handle.warm and status.reason == "succeeded" and "done" in lines, lines
    assert pool.wait_ready(60)
    handle, status, _ = run(backend, dirs.job(), "import time; time.sleep(30)", wall_seconds=2)
    assert handle.warm and status.reason == "timed_out"


def test_idle_sandboxes_are_replaced(backend, dirs):
    pool = start_pool(backend, dirs, max_idle_seconds=0.5)
    assert pool.wait_ready(60), pool.stats.last_error
    first = pool._slots[next(iter(pool._slots))].ready[0]
    deadline = time.monotonic() + 30
    while (pool.stats.recycled < 1 or not pool.ready_count()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.stats.recycled >= 1
    assert first.process.poll() is not None and not first.spec.work_dir.exists()
    assert pool.wait_ready(30)


def test_a_sandbox_that_cannot_warm_up_backs_off_and_jobs_run_cold(backend, dirs):
    pool = start_pool(backend, dirs, warm_imports=["no_such_module_for_the_pool"])
    deadline = time.monotonic() + 30
    while not pool.stats.failed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.stats.failed >= 1 and "no_such_module_for_the_pool" in pool.stats.last_error
    assert pool.ready_count() == 0 and list(dirs.pool.iterdir()) == []  # cleaned up
    handle, status, _ = run(backend, dirs.job(), "print('still runs')")
    assert not handle.warm and status.ok


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)}


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def descendants(root: int) -> set[int]:
    """Live processes below ``root`` (this test's own, not other sandboxes on the host)."""
    parents = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, changed = {root}, True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return found - {root}


def test_draining_kills_the_idle_sandboxes_and_removes_their_dirs_and_cgroups(backend, dirs):
    pool = start_pool(backend, dirs, size=2)
    assert pool.wait_ready(60), pool.stats.last_error
    handles = [h for slot in pool._slots.values() for h in slot.ready]
    sandbox_pids = {pid for h in handles for pid in h.cgroups.pids()}
    assert len(handles) == 2 and len(sandbox_pids) >= 4 and (job_uid_pids() & sandbox_pids)
    warm_pool.deactivate(wait=True)
    assert not pool.alive
    assert all(h.process.poll() is not None for h in handles)
    assert not alive(sandbox_pids)
    assert list(dirs.pool.iterdir()) == []
    assert all(not d.exists() for h in handles for d in h.cgroups.dirs.values())


def test_a_worker_killed_hard_takes_its_pooled_sandboxes_with_it(backend, tmp_path):
    root = tmp_path / ".pool"
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from apps.labs.sandbox import SandboxLimits
        from apps.labs.sandbox import pool as warm_pool
        from apps.labs.sandbox.bubblewrap import BubblewrapBackend
        pool = warm_pool.activate(warm_pool.SandboxPool(
            BubblewrapBackend(), [warm_pool.WarmTarget('script', SandboxLimits(), 2)], Path({str(root)!r})))
        print('ready' if pool.wait_ready(60) else 'failed', flush=True)
        time.sleep(300)
    """))
    worker = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "ready"
        sandbox = descendants(worker.pid)
        assert len(sandbox & job_uid_pids()) >= 2  # two warm sandboxes' jobs, as the job uid
        assert warm_pool.pool_dirs_sweep(root) == 0  # a live worker's sandboxes are never swept
    finally:
        worker.kill()
        worker.wait()
    deadline = time.monotonic() + 15
    while alive(sandbox) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(sandbox), "pooled sandboxes outlived their worker"
    # Their quota-mounted work dirs stay until the sweep (worker start, beat) removes them.
    assert warm_pool.pool_dirs_sweep(root) == 2 and list(root.iterdir()) == []
    from apps.labs.sandbox.cgroups import reap_stale_cgroups

    reap_stale_cgroups(Path("/sys/fs/cgroup"), min_age=0)


def test_the_pool_serves_only_identically_configured_backends(backend, dirs):
    pool = start_pool(backend, dirs)
    assert pool.wait_ready(60), pool.stats.last_error
    other = BubblewrapBackend(seccomp_mode="denylist")
    handle, status, _ = run(other, dirs.job(), "print('hi')")
    assert not handle.warm and status.ok and pool.ready_count() == 1


def test_targets_from_settings():
    kinds = {
        "char-gpt": SimpleNamespace(runner="char_gpt", warm_imports=("torch",)),
        "spam": SimpleNamespace(runner="spam_classifier", warm_imports=()),
    }

    def limits_for(slug):
        return SandboxLimits(memory_mb=2048 if slug == "char-gpt" else 1024)

    config = {"cpu": {"char-gpt": 1, "spam": 0}, "gpu": {"char-gpt": 3}}
    cpu = warm_pool.targets_from_settings(config, ["cpu"], kinds, limits_for)
    assert [(t.runner, t.size, t.warm_imports, t.limits.memory_mb) for t in cpu] == [("char_gpt", 1, ("torch",), 2048)]
    both = warm_pool.targets_from_settings(config, ["cpu", "gpu"], kinds, limits_for)
    assert [(t.runner, t.size) for t in both] == [("char_gpt", 3)]  # one process: the larger size
    assert warm_pool.targets_from_settings(config, ["other"], kinds, limits_for) == []
    assert warm_pool.targets_from_settings({}, ["cpu"], kinds, limits_for) == []
    with pytest.raises(SandboxError, match="unknown lab kind"):
        warm_pool.targets_from_settings({"cpu": {"char-gtp": 1}}, ["cpu"], kinds, limits_for)


def test_every_pooled_kind_declares_importable_warm_imports():
    """What the shipped kinds import ahead exists in this environment (else their pool only
    logs warm-up failures and every job starts cold)."""
    import importlib.util

    from apps.labs.kinds import all_kinds

    kinds = {kind.slug: kind for kind in all_kinds()}
    assert kinds["char-gpt"].warm_imports[0] == "torch"
    for kind in kinds.values():
        for name in kind.warm_imports:
            assert importlib.util.find_spec(name) is not None, (kind.slug, name)


@pytest.mark.skipif(os.geteuid() != 0, reason="raising a priority back needs a root worker")
def test_warm_up_runs_at_low_priority_and_the_job_at_the_workers_priority(backend, dirs):
    pool = start_pool(backend, dirs, refill_delay=3600)
    assert pool.wait_ready(60), pool.stats.last_error
    idle = pool._slots[next(iter(pool._slots))].ready[0]
    own = os.getpriority(os.PRIO_PROCESS, 0)  # what a cold sandbox inherits
    warm = min(19, own + backend.options["warm_nice"])
    assert own < warm and {os.getpriority(os.PRIO_PROCESS, pid) for pid in idle.cgroups.pids()} == {warm}
    handle, status, lines = run(backend, dirs.job(), "import os\nprint('nice', os.nice(0))\n")
    assert handle is idle and status.ok and f"nice {own}" in lines, lines
    cold, status, lines = run(backend, dirs.job(), "import os\nprint('nice', os.nice(0))\n")
    assert not cold.warm and status.ok and f"nice {own}" in lines, lines


def test_a_warm_sandbox_that_cannot_take_the_job_is_destroyed_and_the_job_runs_cold(backend, dirs):
    pool = start_pool(backend, dirs, refill_delay=3600)
    assert pool.wait_ready(60), pool.stats.last_error
    idle = pool._slots[next(iter(pool._slots))].ready[0]
    work = dirs.job()
    work.mkdir()
    (work / "left-by-an-earlier-attempt").write_text("x")  # the work dir is not free
    handle, status, lines = run(backend, work, "import os\nprint(sorted(os.listdir('/work')))")
    assert not handle.warm and status.ok and "['main.py', 'spec.json']" in lines, lines
    assert idle.process.poll() is not None and list(dirs.pool.iterdir()) == []
