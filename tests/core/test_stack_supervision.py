"""Issue 14, findings 8, 9, 10 and 12, on the real `make run` launcher with its own
embedded Postgres and Redis: private services, `manage` while it runs, supervision of a
crashed worker, Ctrl-C that requeues the running lab job, and nothing left after kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.embedded import free_port
from tests.core.test_stack import ROOT, Launch, _get

pytestmark = pytest.mark.stack

LONG_JOB = (
    "import time\\nfrom gpu_workers.runners import protocol\\n"
    "for i in range(1, 121):\\n    print(f'tick {i}', flush=True)\\n"
    "    protocol.metric('loss', 1.0 / i, step=i)\\n    time.sleep(0.1)\\n"
)
SUBMIT = f"""
import time
from apps.core.models import User
from apps.labs.models import LabJobEvent
from apps.labs.services import lab_job_submit
job = lab_job_submit(user=User.objects.get(username="learner"), lab="custom-script", params={{"code": "{LONG_JOB}"}})
for _ in range(120):
    job.refresh_from_db()
    if job.status == "running" and LabJobEvent.objects.filter(job_id=job.pk).count() >= 3:
        break
    time.sleep(0.5)
print("JOB", job.pk, job.status)
"""


def _env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "TEST_DATABASE_URL", "DATABASE_URL", "REDIS_URL", "LABS_MODEL_DIR"}
    }
    env.update(
        {
            "PLATFORM_DATA_DIR": str(home / "data"),
            "REDIS_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
            "XDG_RUNTIME_DIR": str(home / "data" / "run"),
            # Small numbers so a requeued job runs again within seconds of the restart.
            "LABS_HEARTBEAT_STALE_SECONDS": "3",
            "LABS_REAPER_INTERVAL_SECONDS": "2",
            "EMBEDDING_WARM_UP": "0",
            "LABS_REGISTRY_BUILD": "0",  # training the labs' model would compete for the CPU
        }
    )
    return env


def _manage(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "config.stack", "manage", *args],
        cwd=ROOT,
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _job(env: dict[str, str], job_id: str) -> tuple[str, int]:
    code = (
        f"from apps.labs.models import LabJob; j = LabJob.objects.get(pk='{job_id}'); "
        "print('STATE', j.status, j.attempts)"
    )
    out = _manage(env, "shell", "-c", code)
    line = next(line for line in out.stdout.splitlines() if line.startswith("STATE"))
    return line.split()[1], int(line.split()[2])


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(predicate, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.5)


def _health(base: str) -> tuple[int, dict]:
    status, body, _ = _get(base + "/healthz")
    return status, json.loads(body)


@pytest.fixture
def home() -> Iterator[Path]:
    # Not pytest's tmp_path: every pytest session re-chmods /tmp/pytest-of-<user> to 0700,
    # which would lock the embedded Postgres (its own system user when we are root) out.
    folder = Path(tempfile.mkdtemp(prefix="genai-stack-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_embedded_services_are_private_supervised_and_stop_cleanly(home, tmp_path):
    if not shutil.which("bwrap"):
        pytest.fail("bubblewrap is needed for the lab job of this test (apt-get install -y bubblewrap)")
    env = _env(home)
    data = home / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first = Launch(env, port, tmp_path / "first.log")
    try:
        first.wait_serving(300)
        # Finding 8: no other local user gets into the data dir, the Postgres socket or Redis.
        assert stat.S_IMODE(data.stat().st_mode) & 0o007 == 0
        record = json.loads((data / "run" / "stack.json").read_text())
        assert stat.S_IMODE((data / "run" / "stack.json").stat().st_mode) == 0o600
        assert record["pid"] == first.proc.pid
        socket_dir = record["DATABASE_URL"].split("host=")[1].split("&")[0]
        redis_port = int(env["REDIS_PORT"])
        probe = (
            "import socket\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            f"try:\n    s.connect('{socket_dir}/.s.PGSQL.5432'); print('postgres: open')\n"
            "except OSError as e:\n    print('postgres:', e.strerror)\n"
            f"r = socket.create_connection(('127.0.0.1', {redis_port})); r.sendall(b'KEYS *\\r\\n')\n"
            "print('redis:', r.recv(100))\n"
        )
        nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "/usr/bin/python3", "-c", probe]
        out = subprocess.run(nobody, capture_output=True, text=True, timeout=30).stdout
        assert "postgres: Permission denied" in out and "NOAUTH" in out, out

        # Finding 2: a product's pages, not Django's debug ones.
        status, body, _ = _get(base + "/no-such-page/")
        assert status == 404 and b"We could not find that page" in body and b"URLconf" not in body

        # Finding 9: the README's command works while `make run` is up.
        made = _manage(
            env,
            "createsuperuser",
            "--noinput",
            "--username",
            "root2",
            "--email",
            "r@example.com",
            DJANGO_SUPERUSER_PASSWORD="a-long-pass-phrase-9",
        )
        assert made.returncode == 0, made.stdout + made.stderr
        assert "already in use" not in made.stderr

        # Finding 12: kill -9 the Celery main process; the site stays up and says degraded.
        _wait(lambda: _health(base)[0] == 200, 60, "the worker never answered")
        worker = next(
            p
            for p in _descendants(first.proc.pid)
            if b"celery" in Path(f"/proc/{p}/cmdline").read_bytes()
            and b"worker" in Path(f"/proc/{p}/cmdline").read_bytes()
            and _alive(p)
            and os.getpgid(p) == p
        )
        pool = _descendants(worker)
        assert pool, "the worker has pool processes"
        os.kill(worker, signal.SIGKILL)
        _wait(lambda: "worker exited with SIGKILL" in first.output(), 10, first.output())
        assert _get(base + "/")[0] == 200
        status, report = _health(base)
        if status == 200:  # the restarted worker may already answer; then it must have been down
            assert "restarted worker" in first.output()
        else:
            assert status == 503 and report["status"] == "degraded" and "celery" in report["degraded"], report
        _wait(lambda: not any(_alive(p) for p in pool), 10, f"orphaned pool processes: {pool}")
        _wait(lambda: "restarted worker" in first.output(), 30, first.output())
        _wait(lambda: _health(base)[0] == 200, 60, "the restarted worker never answered")

        # Finding 10: Ctrl-C while a lab job runs: one line per service, the job requeued.
        submitted = _manage(env, "shell", "-c", SUBMIT)
        line = next((ln for ln in submitted.stdout.splitlines() if ln.startswith("JOB")), "")
        assert line.endswith("running"), submitted.stdout + submitted.stderr
        job_id = line.split()[1]
    finally:
        code = first.stop()
    out = first.output()
    assert code == 0, out
    tail = out[out.index("Stopping...") :]
    for expected in ("stopped web", "stopped worker (1 lab job requeued", "stopped redis", "stopped postgres"):
        assert expected in tail, tail
    assert "Traceback" not in out and "WorkerLostError" not in out and "Cold shutdown" not in out, out
    assert not (data / "run" / "stack.json").exists()

    second = Launch(env, port, tmp_path / "second.log")
    try:
        second.wait_serving(120)
        _wait(lambda: _job(env, job_id)[0] == "succeeded", 120, "the requeued job never ran again")
        assert _job(env, job_id)[1] == 2  # the interrupted attempt, then the one that finished
        started = _descendants(second.proc.pid)
        postmaster = int((data / "postgres" / "postmaster.pid").read_text().split()[0])
        started.add(postmaster)
        # No process may outlive the launcher, even one killed without any cleanup.
        second.proc.kill()  # SIGKILL to the launcher alone: no handler, no cleanup runs
        second.proc.wait(10)
        _wait(
            lambda: not any(_alive(p) for p in started),
            30,
            f"left running: {[Path(f'/proc/{p}/cmdline').read_bytes()[:80] for p in started if _alive(p)]}",
        )
    finally:
        if second.proc.poll() is None:
            second.stop()
