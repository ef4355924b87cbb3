"""Warm vs cold: how soon a PyTorch lab (char-gpt) shows its first progress after submit.

Side by side, interleaved round by round (cold, warm, direct cold, direct warm, ...), medians:

- **platform cold**: ``lab_job_submit()`` -> a Celery worker with no pool (``LABS_WARM_POOL={}``)
  -> a fresh sandbox that imports PyTorch itself (today's path);
- **platform warm**: the same submit -> a worker whose pool keeps one warm char-gpt sandbox
  (``LABS_WARM_POOL={"gpu": {"char-gpt": 1}}``); the job waits until it is ready, as a job
  does that comes after a quiet spell, and the pool refills while the job runs;
- **platform today** (``--baseline REV``, e.g. the commit before the pool): the same submit
  -> a worker running that revision's code (extracted with ``git archive``), to show the
  cold path is no slower than before;
- **direct cold / direct warm**: the same runner, params and limits started by calling the
  backend directly (``backend.run()``; warm: from a pool in this process), no Celery, no
  database: what the sandbox itself costs.

For each: submit (or call) -> the runner's first event, -> first progress event of any kind
(char-gpt's "loading PyTorch", sent before its import), -> first *real* progress (fraction > 0:
the model is built, PyTorch loaded) and -> the first training step's loss. Platform times are
the stored events' ``created_at`` (what the job page receives right after) minus the submit.

Starts embedded PostgreSQL and Redis and two Celery workers (cold on queue ``cpu``, warm on
``gpu``; the bench points the char-gpt lab at one or the other per run). Needs root and
bubblewrap like the lab worker. Writes ``bench/labs/results-warm-pool.json``.

    .venv/bin/python bench/labs/warm_pool.py [--runs 7] [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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

from config.embedded import EmbeddedPostgres, EmbeddedRedis, free_port  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results-warm-pool.json"
MARKS = ("worker_notice", "first_event", "first_progress", "first_real_progress", "first_step")


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def waiting_zygotes(ancestor: int | None = None) -> set[int]:
    """Host pids of warm sandboxes that are ready (blocked reading their job from stdin),
    only those below ``ancestor`` if given (other stacks on the host have their own)."""
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
            if b"gpu_workers.runners.zygote" not in argv or not argv[0].startswith(b"/opt/python/"):
                continue
            if not Path(entry.path, "syscall").read_text().startswith("0 0x0 "):  # read(0, ...)
                continue
        except OSError:
            continue
        pid = int(entry.name)
        if ancestor is not None:
            up = pid
            while up > 1 and up != ancestor:
                up = _parent(up)
            if up != ancestor:
                continue
        found.add(pid)
    return found


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


class Stack:
    """Embedded services, a migrated database, the lab catalogue and two workers."""

    def __init__(self, baseline: str | None = None) -> None:
        self.baseline = baseline
        self.root = Path(tempfile.mkdtemp(prefix="bench-warm-"))
        self.children: list[subprocess.Popen] = []
        self.pids: dict[str, int] = {}
        self.postgres = EmbeddedPostgres(self.root / "postgres")
        self.redis = EmbeddedRedis(self.root / "redis", port=free_port())

    def start(self) -> None:
        self.postgres.start()
        os.environ.update(
            {
                "DATABASE_URL": self.postgres.create_database("bench_warm"),
                "REDIS_URL": self.redis.start(),
                "PLATFORM_DATA_DIR": str(self.root / "data"),
                "LABS_WORK_ROOT": str(self.root / "labs"),
                "DJANGO_SETTINGS_MODULE": "config.settings.local",
                "DJANGO_DEBUG": "0",
                "LABS_QUOTA_CPU_MINUTES_PER_DAY": "1000000",
                "LABS_QUOTA_GPU_MINUTES_PER_DAY": "1000000",
                "LABS_MAX_ACTIVE_JOBS_PER_USER": "1000",
                "LABS_WARM_POOL": "{}",  # this process: pools only where the bench makes one
            }
        )
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
        )
        import django

        django.setup()
        from apps.labs.services import lab_catalog_sync

        lab_catalog_sync()  # before the workers: the warm one reads the lab's limits at start
        self.worker("cold", "cpu", {})
        self.worker("warm", "gpu", {"gpu": {"char-gpt": 1}})
        names = ["cold", "warm"]
        if self.baseline:
            tree = self.root / "baseline"
            tree.mkdir()
            archive = subprocess.run(["git", "archive", self.baseline], cwd=ROOT, check=True, capture_output=True)
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
            self.worker("today", "today", {}, cwd=tree)
            names.append("today")
        from config.celery import app

        for name in names:
            wait_until(lambda name=name: app.control.ping([f"bench-{name}-{os.getpid()}@localhost"], timeout=0.5),
                       60, f"the {name} worker")

    def worker(self, name: str, queue: str, pool: dict, cwd: Path = ROOT) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-c", "1", "--loglevel",
                "warning", "-n", f"bench-{name}-{os.getpid()}@localhost", "--without-gossip", "--without-mingle"]
        env = {**os.environ, "LABS_WARM_POOL": json.dumps(pool)}
        self.children.append(subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True))
        self.pids[name] = self.children[-1].pid

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


def marks_from(events: list[tuple[float, str, dict]]) -> dict[str, float]:
    """(seconds after t0, type, payload) in order -> the four marks."""
    out: dict[str, float] = {}
    for at, type_, payload in events:
        out.setdefault("first_event", at)
        if type_ == "progress":
            out.setdefault("first_progress", at)
            if (payload.get("fraction") or 0) > 0:
                out.setdefault("first_real_progress", at)
        if type_ == "metric" and payload.get("name") == "loss":
            out.setdefault("first_step", at)
    return out


def platform_run(user, queue: str, steps: int) -> dict[str, float]:
    from apps.labs.models import Lab, LabJob, LabJobEvent
    from apps.labs.services import lab_job_submit

    Lab.objects.filter(slug="char-gpt").update(queue=queue)  # cpu: the cold worker; gpu: the warm one
    t0 = time.time()
    job = lab_job_submit(user=user, lab="char-gpt", params={"steps": steps})
    deadline = time.monotonic() + 120
    while not LabJob.objects.get(pk=job.pk).is_final:
        if time.monotonic() > deadline:
            raise RuntimeError("a platform run did not finish")
        time.sleep(0.05)
    job = LabJob.objects.get(pk=job.pk)
    if job.status != "succeeded":
        raise RuntimeError(f"a platform run ended {job.status}: {job.reason}")
    rows = list(LabJobEvent.objects.filter(job_id=job.pk).order_by("seq"))
    # seq 1 is the worker's own "Starting in the ... sandbox" notice: claimed, about to start it.
    events = [(e.created_at.timestamp() - t0, e.type, e.payload) for e in rows[1:]]
    marks = {"worker_notice": rows[0].created_at.timestamp() - t0, **marks_from(events)}
    lines = [p.get("line", "") for _, t, p in events if t == "log"]
    marks["warm"] = float(any("Ran in a warm sandbox" in line for line in lines))
    return marks


def direct_run(lab, steps: int, warm: bool) -> dict[str, float]:
    from apps.labs import kinds
    from apps.labs.sandbox import JobSpec, get_backend
    from apps.labs.sandbox import pool as warm_pool
    from apps.labs.services import _limits

    backend = get_backend()
    backend.check_available()
    runner_params, files = kinds.input_files(lab.param_schema, kinds.params_clean(lab.param_schema, {"steps": steps}))
    work_root = Path(os.environ["LABS_WORK_ROOT"])
    work_dir = work_root / f"direct-{uuid.uuid4().hex[:8]}"
    spec = JobSpec(job_id=work_dir.name, runner="char_gpt", params=runner_params, limits=_limits(lab),
                   work_dir=work_dir, files=files)
    if warm:
        target = warm_pool.WarmTarget("char_gpt", spec.limits, 1, kinds.get_kind("char-gpt").warm_imports)
        pool = warm_pool.activate(warm_pool.SandboxPool(backend, [target], work_root / ".pool-direct",
                                                        refill_delay=3600))
        if not pool.wait_ready(120):
            raise RuntimeError(f"the direct warm sandbox did not start: {pool.stats.last_error}")
        time.sleep(0.5)
    events: list[tuple[float, str, dict]] = []
    t0 = time.time()
    try:
        status = backend.run(spec, lambda e: events.append((time.time() - t0, e.type, e.payload)))
    finally:
        if warm:
            warm_pool.deactivate(wait=True)
    backend.release_work_dir(work_dir)
    if not status.ok:
        raise RuntimeError(f"a direct run ended {status.reason}: {status.detail}")
    marks = marks_from(events)
    marks["warm"] = float(any("Ran in a warm sandbox" in str(p.get("line", "")) for _, _, p in events))
    return marks


def summary(runs: list[dict[str, float]]) -> dict[str, object]:
    out: dict[str, object] = {"n": len(runs), "ran_warm": int(sum(r.get("warm", 0) for r in runs))}
    for mark in MARKS:
        values = sorted(r[mark] for r in runs if mark in r)
        if values:
            out[f"{mark}_ms"] = {
                "median": round(statistics.median(values) * 1000),
                "min": round(values[0] * 1000),
                "max": round(values[-1] * 1000),
                "all": [round(v * 1000) for v in values],
            }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--baseline", help="a git revision whose worker measures today's cold path")
    options = parser.parse_args(argv)
    if os.geteuid() != 0 or not shutil.which("bwrap"):
        print("bench/labs warm pool: skipped, needs root and bubblewrap (as the lab worker runs)")
        return {}

    stack = Stack(options.baseline)
    variants = ["platform_cold", "platform_warm", "direct_cold", "direct_warm"]
    if options.baseline:
        variants.insert(0, "platform_today")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    try:
        stack.start()
        from apps.core.models import User
        from apps.labs.models import Lab

        user = User.objects.create_user("bench", password=uuid.uuid4().hex)
        lab = Lab.objects.get(slug="char-gpt")

        def quiet() -> None:
            # Every measurement starts on a quiet machine with the warm worker's pool full.
            wait_until(lambda: waiting_zygotes(stack.pids["warm"]), 180, "the warm worker's sandbox")
            time.sleep(1.0)

        calls = {
            "platform_today": lambda: platform_run(user, "today", options.steps),
            "platform_cold": lambda: platform_run(user, "cpu", options.steps),
            "platform_warm": lambda: platform_run(user, "gpu", options.steps),
            "direct_cold": lambda: direct_run(lab, options.steps, warm=False),
            "direct_warm": lambda: direct_run(lab, options.steps, warm=True),
        }
        for name in variants:  # each worker's first job (Django, the sandbox probe): not counted
            if name.startswith("platform"):
                quiet()
                calls[name]()
        for n in range(options.runs):
            for name in variants:
                call = calls[name]
                quiet()
                result = call()
                runs[name].append(result)
                print(f"run {n + 1} {name}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.items()
                                                          if k != "warm") + (" (warm)" if result["warm"] else ""),
                      flush=True)
    finally:
        stack.stop()

    results = {
        "what": "char-gpt lab: submit (or backend.run) -> first event / first progress / first real progress "
        "(fraction > 0) / first training step; cold vs warm sandbox, through the platform and directly; "
        "medians of interleaved runs",
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "steps": options.steps,
        "baseline": options.baseline,
        "results": {name: summary(values) for name, values in runs.items()},
        # Same round, same load: per-round ratios of first real progress, then their median.
        "paired_first_real_progress_ratio": {
            f"{a}/{b}": round(statistics.median(x["first_real_progress"] / y["first_real_progress"]
                                                for x, y in zip(runs[a], runs[b], strict=True)), 3)
            for a, b in (("platform_cold", "platform_today"), ("platform_warm", "platform_cold"),
                         ("direct_warm", "direct_cold"), ("platform_cold", "direct_cold"))
            if runs.get(a) and runs.get(b)
        },
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: {m: v.get(f"{m}_ms", {}).get("median") for m in MARKS} | {"n": v["n"], "warm": v["ran_warm"]}
                      for k, v in results["results"].items()}, indent=2))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
