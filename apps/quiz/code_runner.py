"""Run a coding answer against its hidden tests in the labs sandbox.

The labs' ``script`` runner executes ``main.py`` in the configured sandbox backend (no
network, no secrets, hard limits). Our ``main.py`` is a small harness: it executes the
learner's ``solution.py`` into a namespace, then runs each hidden test (Python with
asserts) in a copy of it, each under its own time limit, with printed output captured and
capped, and reports the per-test outcome as the runner's ``result`` event.

The tests travel into the sandbox (the runner has to read them), so a learner who wants to
can read them there: grading is for the learner's own practice, not an exam.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.labs.sandbox import JobSpec, SandboxError, SandboxLimits, get_backend

HARNESS = r'''
import contextlib, io, json, signal, sys, traceback
from gpu_workers.runners import protocol

OUTPUT_CAP = 2000
PER_TEST_SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
# Loading the answer may import a heavy library (PyTorch: seconds): it gets its own budget.
LOAD_SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0


class Capped(io.TextIOBase):
    def __init__(self):
        self.parts, self.size, self.cut = [], 0, False
    def writable(self):
        return True
    def write(self, text):
        if self.size < OUTPUT_CAP:
            self.parts.append(text[: OUTPUT_CAP - self.size])
            self.size += len(self.parts[-1])
        if self.size >= OUTPUT_CAP and len(text):
            self.cut = True
        return len(text)
    def value(self):
        return "".join(self.parts) + ("\n... (output cut)" if self.cut else "")


class TestTimeout(BaseException):
    pass


def _alarm(signum, frame):
    raise TestTimeout()


def _error(exc, seconds=None):
    if isinstance(exc, TestTimeout):
        return f"Timed out after {seconds or PER_TEST_SECONDS:g} s (an endless loop?)"
    if isinstance(exc, AssertionError):
        return "AssertionError" + (f": {exc}" if str(exc) else "")
    # Frames of this harness say nothing about the learner's code: leave them out.
    lines = [line for line in traceback.format_exception(type(exc), exc, exc.__traceback__)
             if f'File "{__file__}"' not in line and not line.startswith("Traceback")]
    return "".join(lines[-3:])[-1500:]


signal.signal(signal.SIGALRM, _alarm)
tests = json.load(open("tests.json"))
source = open("solution.py").read()
namespace = {"__name__": "solution"}
load_error = None
load_out = Capped()
try:
    signal.setitimer(signal.ITIMER_REAL, LOAD_SECONDS)
    with contextlib.redirect_stdout(load_out):
        exec(compile(source, "solution.py", "exec"), namespace)
except BaseException as exc:
    load_error = "Your code did not load: " + _error(exc, LOAD_SECONDS)
finally:
    signal.setitimer(signal.ITIMER_REAL, 0)

results = []
for test in tests:
    out = Capped()
    if load_error:
        results.append({"name": test["name"], "passed": False, "error": load_error, "output": load_out.value()})
        continue
    try:
        signal.setitimer(signal.ITIMER_REAL, PER_TEST_SECONDS)
        with contextlib.redirect_stdout(out):
            exec(compile(test["code"], "hidden test " + test["name"], "exec"), dict(namespace))
        results.append({"name": test["name"], "passed": True, "error": "", "output": ""})
    except BaseException as exc:
        results.append({"name": test["name"], "passed": False, "error": _error(exc), "output": out.value()})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)

passed = sum(r["passed"] for r in results)
protocol.result({"passed": passed, "total": len(results)}, quiz_tests=results)
'''


def _limits() -> SandboxLimits:
    return SandboxLimits(
        wall_seconds=settings.QUIZ_CODE_WALL_SECONDS,
        cpu_seconds=settings.QUIZ_CODE_WALL_SECONDS,
        memory_mb=settings.QUIZ_CODE_MEMORY_MB,
        max_processes=32,
        max_file_mb=16,
        disk_mb=64,
        max_log_bytes=64_000,
    )


def run_tests(code: str, tests: list[dict[str, str]], *, job_id: str | None = None) -> dict[str, Any]:
    """Run ``code`` against ``tests`` in the sandbox. Returns
    ``{"tests": [{name, passed, error, output}], "passed", "total", "exit": {reason, detail},
    "log": [last lines]}``. Raises ``SandboxError`` when the sandbox cannot run at all."""
    job_id = job_id or f"quiz-{uuid.uuid4()}"
    work_dir = Path(settings.LABS_WORK_ROOT) / job_id
    backend = get_backend()
    backend.check_available()
    spec = JobSpec(
        job_id=job_id,
        runner="script",
        params={"entrypoint": "main.py",
                "args": [str(settings.QUIZ_CODE_TEST_SECONDS), str(settings.QUIZ_CODE_LOAD_SECONDS)]},
        limits=_limits(),
        work_dir=work_dir,
        files={
            "main.py": HARNESS.encode(),
            "solution.py": code.encode(),
            "tests.json": json.dumps(tests).encode(),
        },
    )
    outcome: dict[str, Any] | None = None
    log: list[str] = []

    def on_event(event) -> None:
        nonlocal outcome
        if event.type == "result" and "quiz_tests" in event.payload:
            outcome = event.payload
        elif event.type == "log":
            line = str(event.payload.get("line", ""))
            if len(log) < 40:
                log.append(line[:500])

    try:
        status = backend.run(spec, on_event)
    finally:
        with contextlib.suppress(OSError, SandboxError):
            backend.release_work_dir(work_dir)
    exit_info = {"reason": status.reason, "detail": status.detail}
    if outcome is None:
        # The harness never reported: the whole run hit a sandbox limit (time, memory, output).
        reason = {
            "timed_out": f"Your code ran past the sandbox's {settings.QUIZ_CODE_WALL_SECONDS} s limit.",
            "out_of_memory": f"Your code used more than {settings.QUIZ_CODE_MEMORY_MB} MB of memory.",
            "output_limit": "Your code printed more output than the sandbox keeps.",
        }.get(status.reason, f"The sandbox stopped your code: {status.detail}")
        results = [{"name": t["name"], "passed": False, "error": reason, "output": ""} for t in tests]
        return {"tests": results, "passed": 0, "total": len(tests), "exit": exit_info, "log": log[-20:]}
    results = outcome["quiz_tests"]
    return {"tests": results, "passed": sum(1 for r in results if r.get("passed")), "total": len(results),
            "exit": exit_info, "log": log[-20:]}
