"""What does the bubblewrap sandbox cost? Bare runs vs sandboxed runs, side by side.

Three measurements, each the median of several runs, bare and sandboxed interleaved
(ABAB...) so that load from anything else on the machine hits both sides alike:

1. start-up: ``python -c pass`` bare vs inside the sandbox (launcher, prlimit, bwrap,
   seccomp, setpriv, cgroup setup and teardown included);
2. a lab end to end: the char_gpt runner for N steps (``python -m gpu_workers.runners
   char_gpt spec.json``) bare vs through ``BubblewrapBackend.run`` with the same spec;
3. the same lab's training loop alone (the ``seconds`` the runner reports), which is
   pure CPU work: a ratio near 1.0 means the sandbox does not slow computation.

Writes ``bench/labs/results-sandbox.json``. Needs root and bubblewrap (as the worker).
Usage: ``python bench/labs/sandbox_overhead.py [--runs 7] [--steps 150]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from apps.labs.sandbox import JobSpec, SandboxLimits  # noqa: E402 - after the path setup
from apps.labs.sandbox.bubblewrap import BubblewrapBackend  # noqa: E402

RESULTS = Path(__file__).with_name("results-sandbox.json")
LIMITS = SandboxLimits(wall_seconds=300, cpu_seconds=300, memory_mb=4096, max_processes=64)
BARE_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/tmp",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OMP_NUM_THREADS": "2",
    "MALLOC_ARENA_MAX": "2",
    "HF_HUB_OFFLINE": "1",
}


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def startup_bare() -> float:
    seconds, _ = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], env=BARE_ENV, check=True))
    return seconds


def startup_sandboxed(backend: BubblewrapBackend, scratch: Path) -> float:
    spec = JobSpec(str(uuid.uuid4()), "startup", {}, LIMITS, scratch / uuid.uuid4().hex)

    def go():
        # _launch with a custom command line: the same sandbox as a job, running `-c pass`.
        handle = backend._launch(spec, [f"/opt/python/bin/{backend.python_name}", "-c", "pass"])
        for _ in backend.stream(handle):
            pass
        return backend.wait(handle)

    seconds, status = timed(go)
    assert status.reason == "succeeded", status
    return seconds


def lab_bare(params: dict, scratch: Path) -> tuple[float, float]:
    work = scratch / uuid.uuid4().hex
    work.mkdir()
    (work / "spec.json").write_text(json.dumps({"job_id": "bench", "runner": "char_gpt", "params": params}))
    seconds, proc = timed(
        lambda: subprocess.run(
            [sys.executable, "-B", "-m", "gpu_workers.runners", "char_gpt", str(work / "spec.json")],
            cwd=ROOT,
            env={**BARE_ENV, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])["payload"]
    return seconds, result["seconds"]


def lab_sandboxed(backend: BubblewrapBackend, params: dict, scratch: Path) -> tuple[float, float]:
    spec = JobSpec(str(uuid.uuid4()), "char_gpt", params, LIMITS, scratch / uuid.uuid4().hex)
    events = []
    seconds, status = timed(lambda: backend.run(spec, events.append))
    assert status.reason == "succeeded", status
    result = next(e.payload for e in events if e.type == "result")
    return seconds, result["seconds"]


def summary(bare: list[float], sandboxed: list[float]) -> dict:
    b, s = statistics.median(bare), statistics.median(sandboxed)
    return {
        "bare_median_s": round(b, 4),
        "sandboxed_median_s": round(s, 4),
        "ratio": round(s / b, 3),
        "overhead_s": round(s - b, 4),
        "bare_runs_s": [round(x, 4) for x in bare],
        "sandboxed_runs_s": [round(x, 4) for x in sandboxed],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per side for the lab (start-up: 3x)")
    parser.add_argument("--steps", type=int, default=150, help="char_gpt training steps")
    args = parser.parse_args(argv)

    backend = BubblewrapBackend()
    backend.check_available()
    params = {"steps": args.steps, "seed": 1, "sample_chars": 100}

    with tempfile.TemporaryDirectory(prefix="labs-bench-") as tmp:
        scratch = Path(tmp)
        # Warm-up: page cache for torch and the interpreter, on both sides.
        startup_bare()
        startup_sandboxed(backend, scratch)
        lab_bare({**params, "steps": 5}, scratch)
        lab_sandboxed(backend, {**params, "steps": 5}, scratch)

        start_bare, start_sbx = [], []
        for _ in range(args.runs * 3):
            start_bare.append(startup_bare())
            start_sbx.append(startup_sandboxed(backend, scratch))

        lab_b, lab_s, loop_b, loop_s = [], [], [], []
        for _ in range(args.runs):
            total, loop = lab_bare(params, scratch)
            lab_b.append(total)
            loop_b.append(loop)
            total, loop = lab_sandboxed(backend, params, scratch)
            lab_s.append(total)
            loop_s.append(loop)

    load = os.getloadavg()
    results = {
        "what": "bubblewrap sandbox overhead: bare vs sandboxed, medians, interleaved runs",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "load_average_after": [round(x, 2) for x in load],
        },
        "sandbox": {"cpus_quota": backend.cpus, "cgroups": backend.root_mode, "limits": LIMITS.__dict__},
        "startup_python_c_pass": summary(start_bare, start_sbx),
        "char_gpt_end_to_end": {"steps": args.steps, **summary(lab_b, lab_s)},
        "char_gpt_training_loop": {"steps": args.steps, **summary(loop_b, loop_s)},
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for name in ("startup_python_c_pass", "char_gpt_end_to_end", "char_gpt_training_loop"):
        r = results[name]
        print(
            f"{name:24s} bare {r['bare_median_s']:.3f} s  sandboxed {r['sandboxed_median_s']:.3f} s  "
            f"ratio {r['ratio']:.3f}  ({r['overhead_s'] * 1000:+.0f} ms)"
        )
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return results


if __name__ == "__main__":
    main()
