"""What does the platform add on top of the sandbox? Measured side by side, medians.

1. Submit to running: ``lab_job_submit()`` until the worker has claimed the job (status
   ``running``) and until the runner's first event is stored, vs starting the same
   sandbox directly (``get_backend().run()`` until the same first event). Platform and
   direct runs are interleaved (ABAB...) so machine load hits both alike.
2. Event push: a line the runner prints, stamped with ``time.time()`` inside the sandbox,
   until the job page's websocket receives it (runner -> worker batch -> Postgres ->
   Channels group -> uvicorn -> client), vs a raw Redis PUBLISH -> SUBSCRIBE round trip.
   Sparse output (a line every 200 ms, the leading-edge flush) and a burst (batched).

Starts what ``make run`` starts, on a throwaway data dir: embedded PostgreSQL and Redis,
a Celery worker (cpu,gpu) and uvicorn. Needs root and bubblewrap like the lab worker.
Writes ``bench/labs/results-platform.json``.

    .venv/bin/python bench/labs/platform_latency.py [--runs 10] [--lines 40]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from config.embedded import EmbeddedPostgres, EmbeddedRedis, free_port, wait_for_tcp  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results-platform.json"
QUICK = 'print("hi")\n'
LINE_RE = re.compile(r'<li class="stream-stdout" data-seq="\d+">t=([\d.]+)</li>')


def stamped(lines: int, gap: float) -> str:
    # The first second lets the bench's websocket connect: lines before it would arrive in
    # the replay and measure the connect, not the push.
    return (
        f"import time\ntime.sleep(1.0)\nfor i in range({lines}):\n"
        f"    print(f't={{time.time():.6f}}', flush=True)\n    time.sleep({gap})\n"
    )


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2)


def p90_ms(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000, 2)


class Platform:
    """Embedded services + migrated DB + a Celery worker + uvicorn, like `make run`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bench-labs-"))
        self.children: list[subprocess.Popen] = []
        self.postgres = EmbeddedPostgres(self.root / "postgres")
        self.redis = EmbeddedRedis(self.root / "redis", port=free_port())

    def start(self) -> None:
        self.postgres.start()
        os.environ.update(
            {
                "DATABASE_URL": self.postgres.create_database("bench_labs"),
                "REDIS_URL": self.redis.start(),
                "PLATFORM_DATA_DIR": str(self.root / "data"),
                "LABS_WORK_ROOT": str(self.root / "labs"),
                "DJANGO_SETTINGS_MODULE": "config.settings.local",
                "DJANGO_DEBUG": "0",
                "LABS_QUOTA_CPU_MINUTES_PER_DAY": "1000000",
                "LABS_MAX_ACTIVE_JOBS_PER_USER": "1000",
                "LABS_WARM_POOL": "{}",  # as measured before the pool; warm_pool.py measures it
            }
        )
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
        )
        import django

        django.setup()
        self.port = free_port()
        self.spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                "cpu,gpu",
                "-c",
                "2",
                "--loglevel",
                "warning",
                "-n",
                f"bench-{os.getpid()}@localhost",
                "--without-gossip",
                "--without-mingle",
            ]
        )
        self.spawn(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--lifespan",
                "off",
            ]
        )
        from config.celery import app

        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline:
                raise RuntimeError("the Celery worker did not start")
        if not wait_for_tcp("127.0.0.1", self.port, 60):
            raise RuntimeError("uvicorn did not start")

    def spawn(self, argv: list[str]) -> None:
        self.children.append(subprocess.Popen(argv, cwd=ROOT, start_new_session=True))

    def stop(self) -> None:
        for proc in self.children:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.children:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.redis.stop()
        self.postgres.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def wait_final(job_id, timeout: float = 60):
    from apps.labs.models import LabJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = LabJob.objects.get(pk=job_id)
        if job.is_final:
            return job
        time.sleep(0.02)
    raise RuntimeError(f"job {job_id} did not finish")


def platform_run(user) -> tuple[float, float]:
    """Seconds from submit to running and to the runner's first stored event."""
    from apps.labs.models import LabJob, LabJobEvent
    from apps.labs.services import lab_job_submit

    t0 = time.time()
    job = lab_job_submit(user=user, lab="custom-script", params={"code": QUICK})
    running = first = None
    deadline = time.monotonic() + 60
    while (running is None or first is None) and time.monotonic() < deadline:
        if running is None:
            started = LabJob.objects.filter(pk=job.pk).values_list("started_at", flat=True).first()
            if started:
                running = started.timestamp() - t0
        if first is None:
            # seq 1 is the worker's own "Starting in the sandbox" notice; 2 is the runner's first event.
            event = LabJobEvent.objects.filter(job_id=job.pk, seq=2).values_list("created_at", flat=True).first()
            if event:
                first = event.timestamp() - t0
        time.sleep(0.002)
    wait_final(job.pk)
    if running is None or first is None:
        raise RuntimeError("a platform run did not start")
    return running, first


def direct_run(lab) -> float:
    """Seconds from calling the backend to the runner's first event, same runner and limits."""
    from apps.labs import kinds
    from apps.labs.sandbox import JobSpec, get_backend
    from apps.labs.services import _limits

    backend = get_backend()
    backend.check_available()
    runner_params, files = kinds.input_files(lab.param_schema, kinds.params_clean(lab.param_schema, {"code": QUICK}))
    work_dir = Path(os.environ["LABS_WORK_ROOT"]) / f"direct-{uuid.uuid4().hex[:8]}"
    spec = JobSpec(
        job_id=work_dir.name, runner="script", params=runner_params, limits=_limits(lab), work_dir=work_dir, files=files
    )
    first: list[float] = []
    t0 = time.time()
    backend.run(spec, lambda event: first or first.append(time.time() - t0))
    backend.release_work_dir(work_dir)  # unmounts the job's quota work dir
    return first[0]


def session_cookie(user) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "apps.core.auth_backends.CachedPermissionsModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"sessionid={session.session_key}"


def push_latencies(plat: Platform, user, lines: int, gap: float) -> tuple[list[float], list[float]]:
    """Runner print -> websocket frame received, per line (same host clock on both ends),
    and the part of it until the event row was written (runner -> worker -> Postgres)."""
    from websockets.sync.client import connect

    from apps.labs.models import LabJobEvent
    from apps.labs.services import lab_job_submit

    job = lab_job_submit(user=user, lab="custom-script", params={"code": stamped(lines, gap)})
    latencies: list[float] = []
    url = f"ws://127.0.0.1:{plat.port}/ws/labs/jobs/{job.pk}/"
    headers = {"Cookie": session_cookie(user), "Origin": f"http://127.0.0.1:{plat.port}"}
    with connect(url, additional_headers=headers, open_timeout=10) as ws:
        ws.send(json.dumps({"after": 0}))
        while len(latencies) < lines:
            try:
                frame = ws.recv(timeout=60)
            except TimeoutError:
                break
            received = time.time()
            latencies.extend(received - float(t) for t in LINE_RE.findall(frame))
    wait_final(job.pk)
    if len(latencies) < lines:
        raise RuntimeError(f"only {len(latencies)} of {lines} lines arrived")
    written = [
        event.created_at.timestamp() - float(event.payload["line"][2:])
        for event in LabJobEvent.objects.filter(job_id=job.pk, type="log", payload__line__startswith="t=")
    ]
    return latencies, written


def redis_roundtrips(count: int) -> list[float]:
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    pubsub = client.pubsub()
    pubsub.subscribe("bench-labs")
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    out: list[float] = []
    for _ in range(count):
        sent = time.time()
        client.publish("bench-labs", str(sent))
        message = None
        while message is None or message["type"] != "message":
            message = pubsub.get_message(timeout=1)
        out.append(time.time() - float(message["data"]))
        time.sleep(0.005)
    pubsub.close()
    client.close()
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--lines", type=int, default=40)
    options = parser.parse_args(argv)
    if os.geteuid() != 0 or not shutil.which("bwrap"):
        print("bench/labs platform: skipped, needs root and bubblewrap (as the lab worker runs)")
        return {}

    plat = Platform()
    try:
        plat.start()
        from apps.core.models import User
        from apps.labs.models import Lab
        from apps.labs.services import lab_catalog_sync

        lab_catalog_sync()
        user = User.objects.create_user("bench", password=uuid.uuid4().hex)
        lab = Lab.objects.get(slug="custom-script")
        platform_run(user)  # warm: the worker's children import Django and probe the sandbox once
        direct_run(lab)
        to_running, to_first, direct = [], [], []
        for _ in range(options.runs):
            running, first = platform_run(user)
            to_running.append(running)
            to_first.append(first)
            direct.append(direct_run(lab))
        sparse, sparse_written = push_latencies(plat, user, options.lines, 0.2)
        burst, burst_written = push_latencies(plat, user, 200, 0.002)
        raw = redis_roundtrips(200)
    finally:
        plat.stop()

    results = {
        "what": "lab platform latency: submit -> running vs the sandbox alone; runner print -> websocket vs Redis "
        "pub/sub; medians",
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "runs": options.runs,
        "submit_to_running": {
            "platform_submit_to_running_ms": median_ms(to_running),
            "platform_submit_to_first_event_ms": median_ms(to_first),
            "direct_sandbox_to_first_event_ms": median_ms(direct),
            "ratio_first_event_platform_vs_direct": round(statistics.median(to_first) / statistics.median(direct), 2),
            "platform_overhead_ms": round(median_ms(to_first) - median_ms(direct), 2),
            "p90_ms": {
                "submit_to_running": p90_ms(to_running),
                "submit_to_first_event": p90_ms(to_first),
                "direct": p90_ms(direct),
            },
        },
        "event_push": {
            "sparse_lines": len(sparse),
            "sparse_gap_s": 0.2,
            "runner_print_to_websocket_sparse_ms": median_ms(sparse),
            "runner_print_to_websocket_sparse_p90_ms": p90_ms(sparse),
            "of_which_runner_print_to_row_written_sparse_ms": median_ms(sparse_written),
            "burst_lines": len(burst),
            "burst_gap_s": 0.002,
            "runner_print_to_websocket_burst_ms": median_ms(burst),
            "runner_print_to_websocket_burst_p90_ms": p90_ms(burst),
            "of_which_runner_print_to_row_written_burst_ms": median_ms(burst_written),
            "redis_pubsub_roundtrip_ms": median_ms(raw),
            "ratio_sparse_vs_redis": round(statistics.median(sparse) / statistics.median(raw), 1),
        },
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
