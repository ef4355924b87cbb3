"""Fixtures for the sandbox tests: backends, a job runner helper, the fake Docker engine.

None of these touch the database: the sandbox layer does not know Django exists.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from apps.labs.sandbox import ExitStatus, JobSpec, RunnerEvent, SandboxBackend, SandboxLimits, SandboxUnavailable
from apps.labs.sandbox import pool as warm_pool
from apps.labs.sandbox.bubblewrap import BubblewrapBackend, BubblewrapHandle
from apps.labs.sandbox.workdirs import work_dir_release

from .fake_docker_engine import FakeDockerEngine

JOB_UID = 65534  # the uid inside the sandbox
# ... and on the host: a root worker drops the job to 65534; a non-root worker runs
# bwrap in a user namespace, where the job is the worker's own uid on the host.
HOST_JOB_UID = JOB_UID if os.geteuid() == 0 else os.getuid()


@dataclass
class JobRun:
    """What a finished job produced."""

    status: ExitStatus
    events: list[RunnerEvent]
    work_dir: Path
    seconds: float
    backend: SandboxBackend = field(repr=False)

    def of_type(self, type_: str) -> list[RunnerEvent]:
        return [e for e in self.events if e.type == type_]

    @property
    def lines(self) -> list[str]:
        return [e.payload.get("line", "") for e in self.of_type("log")]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def result(self) -> dict | None:
        results = self.of_type("result")
        return results[-1].payload if results else None

    def metrics(self, name: str) -> list[RunnerEvent]:
        return [e for e in self.of_type("metric") if e.payload.get("name") == name]


def make_spec(
    work_dir: Path,
    runner: str = "script",
    params: dict | None = None,
    files: dict[str, bytes] | None = None,
    **limits: int,
) -> JobSpec:
    base = {"wall_seconds": 30, "cpu_seconds": 30, "memory_mb": 1024, "max_processes": 64, "max_log_bytes": 200_000}
    return JobSpec(
        job_id=str(uuid.uuid4()),
        runner=runner,
        params=params or {},
        limits=SandboxLimits(**{**base, **limits}),
        work_dir=work_dir,
        files=files or {},
    )


def run_job(
    backend: SandboxBackend,
    work_dir: Path,
    code: str | None = None,
    *,
    runner: str = "script",
    params: dict | None = None,
    **limits: int,
) -> JobRun:
    """Run ``code`` as the script runner's main.py (or another runner) to the end."""
    files = {"main.py": code.encode()} if code is not None else {}
    spec = make_spec(work_dir, runner, params, files, **limits)
    events: list[RunnerEvent] = []
    started = time.monotonic()
    status = backend.run(spec, events.append)
    return JobRun(status, events, work_dir, time.monotonic() - started, backend)


def job_uid_pids() -> set[int]:
    """Host processes running as the job uid right now."""
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == HOST_JOB_UID and int(entry.name) != os.getpid():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="session")
def bwrap_backend() -> BubblewrapBackend:
    backend = BubblewrapBackend()
    try:
        backend.check_available()
    except SandboxUnavailable as exc:
        pytest.skip(f"bubblewrap sandbox unavailable here: {exc.message}")
    return backend


class PooledBubblewrapBackend(BubblewrapBackend):
    """Runs every job in a pooled (warm) sandbox, through the production path.

    For each job: a pool whose one target is exactly this job's runner and limits is
    activated and filled (the sandbox starts and waits *before* the job's inputs exist),
    then :meth:`BubblewrapBackend.start` takes it from the pool like a worker does. A job
    that does not end up in a warm sandbox fails the test: it would prove nothing.
    """

    def __init__(self, **options):
        super().__init__(**options)
        self.warm_pids: list[int] = []

    def start(self, spec: JobSpec) -> BubblewrapHandle:
        pool = warm_pool.SandboxPool(
            self, [warm_pool.WarmTarget(spec.runner, spec.limits, 1)], spec.work_dir.parent / ".pool",
            refill_delay=3600,  # one sandbox per job here: no refill after the take
        )
        warm_pool.activate(pool)
        try:
            assert pool.wait_ready(60), f"the warm sandbox did not start: {pool.stats.last_error}"
            handle = super().start(spec)
        finally:
            warm_pool.deactivate(wait=False)  # its thread lives on until the taken job ends
        assert handle.warm and handle.taken_at is not None, "the job did not run in the warm sandbox"
        self.warm_pids.append(handle.process.pid)
        return handle


@pytest.fixture(scope="session")
def pooled_bwrap_backend() -> PooledBubblewrapBackend:
    backend = PooledBubblewrapBackend()
    try:
        backend.check_available()
    except SandboxUnavailable as exc:
        pytest.skip(f"bubblewrap sandbox unavailable here: {exc.message}")
    return backend


@pytest.fixture
def work_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "work"
    yield path
    # The job's quota mount outlives run() (artifacts are read from it): release it.
    work_dir_release(path)


def _foreign(pid: int) -> bool:
    """Whether a job-uid process belongs to someone else's sandbox on this shared host: its
    ancestors reach another live program (a worker, a bench) before this test process. An
    orphan that reached init, or anything below this process, is this test's."""
    me = os.getpid()
    while pid > 1:
        if pid == me:
            return False
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            owner = Path(f"/proc/{pid}").stat().st_uid
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except (OSError, ValueError, IndexError):
            return False
        sandbox_part = owner == HOST_JOB_UID or argv0.endswith((b"bwrap", b"prlimit", b"setpriv", b"nice", b"sh"))
        if not sandbox_part:
            return True
        pid = ppid
    return False


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """Fail if a test leaves processes of the job uid behind (other sandboxes running on
    the host at the same time, e.g. a bench or another checkout's worker, are not counted)."""
    before = job_uid_pids()
    yield
    deadline = time.monotonic() + 3
    while (left := {p for p in job_uid_pids() - before if not _foreign(p)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"sandbox processes left behind: {sorted(left)}"


@pytest.fixture
def fake_engine(tmp_path: Path) -> Iterator[FakeDockerEngine]:
    # Unix socket paths are limited to ~108 bytes: keep it short.
    sock = Path("/tmp") / f"fake-docker-{uuid.uuid4().hex[:8]}.sock"
    with FakeDockerEngine(sock) as engine:
        yield engine
