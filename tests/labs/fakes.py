"""A scripted sandbox backend: a real SandboxBackend subclass chosen by settings in tests
that exercise the worker side (batching, cancel, grading) without starting processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from apps.labs.sandbox import ExitStatus, JobSpec, RunnerEvent, SandboxBackend, SandboxUnavailable
from apps.labs.sandbox.base import write_inputs


class ScriptedBackend(SandboxBackend):
    name = "scripted"
    option_defaults: dict[str, Any] = {
        "events": [],  # [(type, payload), ...] delivered in order
        "exit": ("succeeded", 0, "Finished successfully."),
        "unavailable": "",  # a message: check_available() raises it
        "files": {},  # written into the work dir before the events (artifacts)
        "wait_for_cancel": 0.0,  # seconds to poll should_cancel after the events
    }
    runs: list[JobSpec] = []

    def check_available(self) -> None:
        if self.options["unavailable"]:
            raise SandboxUnavailable(self.options["unavailable"])

    def run(self, spec: JobSpec, on_event: Callable[[RunnerEvent], None],
            should_cancel: Callable[[], bool] = lambda: False) -> ExitStatus:
        ScriptedBackend.runs.append(spec)
        write_inputs(spec)
        for name, data in self.options["files"].items():
            (spec.work_dir / name).write_bytes(data)
        for seq, (type_, payload) in enumerate(self.options["events"], 1):
            on_event(RunnerEvent(seq=seq, type=type_, payload=dict(payload)))
            should_cancel()
        deadline = time.monotonic() + float(self.options["wait_for_cancel"])
        while time.monotonic() < deadline:
            if should_cancel():
                return ExitStatus(None, "cancelled", "Cancelled.")
            time.sleep(0.05)
        reason, code, detail = self.options["exit"]
        return ExitStatus(code, reason, detail)
