"""The runner side of the lab event protocol (runs inside the sandbox; no Django).

A runner reports by writing one JSON object per line to stdout::

    {"seq": 3, "type": "metric", "payload": {"name": "loss", "value": 2.1, "step": 40}}

``type`` is one of ``progress``, ``log``, ``metric``, ``artifact``, ``result``; ``seq``
increases by one per event. Anything else on stdout, and everything on stderr, reaches
the learner as log lines. The worker re-numbers events and never trusts them for
anything but display and grading input.

Entry point: ``python -m gpu_workers.runners <runner> [/work/spec.json]`` loads the spec
(path from argv, else ``$LABS_SPEC``, else ``/work/spec.json``) and calls
``gpu_workers.runners.<runner>.run(spec, emitter)``. An uncaught exception prints its
traceback to stderr, emits a ``result`` with status ``error`` and exits 1.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, TextIO

DEFAULT_SPEC = "/work/spec.json"
EVENT_TYPES = ("progress", "log", "metric", "artifact", "result")
#: Modules in this package that are not runners.
NOT_RUNNERS = frozenset({"protocol", "__main__", "zygote"})


def _jsonable(value: Any) -> Any:
    """Make floats JSON-safe (NaN/inf are not JSON) and unwrap numpy/torch scalars."""
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class Emitter:
    """Writes events to the real stdout, one flushed line each, thread-safe."""

    def __init__(self, work_dir: str | Path = "/work", out: TextIO | None = None):
        self.work_dir = Path(work_dir)
        # Keep the real stdout: the script runner swaps sys.stdout for a log writer.
        self._out = out or sys.stdout
        self._seq = 0
        self._lock = threading.Lock()
        self.result_sent = False

    def emit(self, type_: str, payload: dict) -> None:
        if type_ not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type_!r}")
        with self._lock:
            self._seq += 1
            line = json.dumps({"seq": self._seq, "type": type_, "payload": _jsonable(payload)}, default=str)
            self._out.write(line + "\n")
            self._out.flush()
            if type_ == "result":
                self.result_sent = True

    def progress(self, fraction: float, message: str = "") -> None:
        self.emit("progress", {"fraction": max(0.0, min(1.0, float(fraction))), "message": message})

    def log(self, line: str, stream: str = "stdout") -> None:
        self.emit("log", {"stream": stream, "line": line})

    def metric(self, name: str, value: float, step: int | None = None) -> None:
        payload: dict[str, Any] = {"name": name, "value": value}
        if step is not None:
            payload["step"] = int(step)
        self.emit("metric", payload)

    def artifact(self, path: str | Path, kind: str, **extra: Any) -> dict:
        """Announce a file written under the work dir (path relative to it)."""
        full = self.work_dir / path
        digest = hashlib.sha256()
        with open(full, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        payload = {
            "path": str(Path(path).as_posix()),
            "kind": kind,
            "size": full.stat().st_size,
            "sha256": digest.hexdigest(),
            **extra,
        }
        self.emit("artifact", payload)
        return payload

    def result(self, metrics: dict, status: str = "ok", **extra: Any) -> None:
        self.emit("result", {"status": status, "metrics": metrics, **extra})


_default: Emitter | None = None


def default_emitter() -> Emitter:
    """The process-wide emitter (the one ``main`` passes to the runner)."""
    global _default
    if _default is None:
        _default = Emitter(os.path.dirname(os.environ.get("LABS_SPEC", DEFAULT_SPEC)))
    return _default


def emit(type_: str, payload: dict) -> None:
    default_emitter().emit(type_, payload)


def progress(fraction: float, message: str = "") -> None:
    default_emitter().progress(fraction, message)


def metric(name: str, value: float, step: int | None = None) -> None:
    default_emitter().metric(name, value, step)


def artifact(path: str | Path, kind: str, **extra: Any) -> dict:
    return default_emitter().artifact(path, kind, **extra)


def result(metrics: dict, status: str = "ok", **extra: Any) -> None:
    default_emitter().result(metrics, status, **extra)


def check_ranges(params: dict, limits: dict, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming the first parameter outside its ``(low, high)`` in ``limits``.

    The platform validated these against the lab's schema already; runners re-check them
    because a spec can also come from a hand-run ``python -m gpu_workers.runners``."""
    for name, (low, high) in limits.items():
        if not low <= params[name] <= high:
            raise error(f"{name} must be between {low} and {high}; got {params[name]}.")


def library_versions(*packages: str) -> dict[str, str]:
    """``{"python": "3.11.9", package: version, ...}`` for the packages installed here; one
    that is not (vllm on a CPU node) is simply not listed. Recorded in every lab's result."""
    import platform
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def load_spec(path: str | Path) -> dict:
    """Read spec.json; ``work_dir`` becomes the directory that holds it (inside or out)."""
    path = Path(path)
    spec = json.loads(path.read_text())
    spec["work_dir"] = str(path.resolve().parent)
    spec.setdefault("params", {})
    return spec


def main(argv: list[str] | None = None) -> int:
    global _default
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print("usage: python -m gpu_workers.runners <runner> [spec.json]", file=sys.stderr)
        return 2
    name = argv[0]
    spec_path = argv[1] if len(argv) > 1 else os.environ.get("LABS_SPEC", DEFAULT_SPEC)
    emitter = _default = Emitter(Path(spec_path).resolve().parent)
    os.environ["LABS_SPEC"] = str(Path(spec_path).resolve())
    try:
        if not name.isidentifier() or name in NOT_RUNNERS:
            raise ValueError(f"unknown runner {name!r}")
        spec = load_spec(spec_path)
        os.chdir(spec["work_dir"])
        module = importlib.import_module(f"gpu_workers.runners.{name}")
        module.run(spec, emitter)
    except KeyboardInterrupt:
        emitter.result({}, status="error", error="interrupted")
        return 130
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        emitter.result({}, status="error", error=f"{type(exc).__name__}: {exc}"[:2000])
        return 1
    if not emitter.result_sent:
        emitter.result({})
    return 0
