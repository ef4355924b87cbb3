"""The sandbox contract: what a lab job asks for and what every backend must do.

A backend runs one lab runner (``gpu_workers/runners/<name>.py``) in isolation: no
network, no secrets, no view of the host, one writable work directory, hard limits on
time, memory, processes, file size and output. The worker task builds a :class:`JobSpec`
and calls :meth:`SandboxBackend.run`; everything else in this package is an
implementation detail of one backend or another.

Nothing here imports Django: the module must import in a bare interpreter (the bench,
the runners' tests) and only :func:`get_backend` with no argument reads settings.
"""

from __future__ import annotations

import importlib
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .events import RunnerEvent

__all__ = [
    "BACKENDS",
    "ExitStatus",
    "JobSpec",
    "SandboxBackend",
    "SandboxError",
    "SandboxHandle",
    "SandboxLimits",
    "SandboxUnavailable",
    "classify_exit",
    "get_backend",
    "resolve_artifact_path",
]

#: Short names accepted by :func:`get_backend`. There is deliberately no unsandboxed
#: backend: a lab job always runs isolated or not at all.
BACKENDS: dict[str, str] = {
    "bubblewrap": "apps.labs.sandbox.bubblewrap.BubblewrapBackend",
    "docker": "apps.labs.sandbox.docker.DockerBackend",
}

#: The reasons :class:`ExitStatus` may carry.
EXIT_REASONS = frozenset(
    {"succeeded", "failed", "timed_out", "out_of_memory", "cancelled", "killed", "output_limit", "disk_quota"}
)


@dataclass(frozen=True)
class SandboxLimits:
    """Hard limits for one job. Backends enforce every field they can.

    ``wall_seconds``: elapsed time from start to kill (``timed_out``).
    ``cpu_seconds``: CPU time per process (RLIMIT_CPU).
    ``memory_mb``: memory of the whole job (cgroup / container limit, swap included).
    ``max_processes``: processes + threads of the whole job (pids cgroup / pids_limit).
    ``max_file_mb``: largest file the job may write (RLIMIT_FSIZE).
    ``disk_mb``: everything the job may keep in its work dir (its own size-limited
    filesystem, see :mod:`.workdirs`; ``disk_quota`` when it fills up). A tmpfs: it is
    charged to the job's memory, so keep it at or below ``memory_mb``.
    ``max_log_bytes``: log output kept; past it log lines are dropped (one notice says so).
    ``gpu_count``: GPUs to expose; 0 means none.
    """

    wall_seconds: int = 600
    cpu_seconds: int = 600
    memory_mb: int = 2048
    max_processes: int = 64
    max_file_mb: int = 256
    disk_mb: int = 512
    max_log_bytes: int = 1_000_000
    gpu_count: int = 0


@dataclass(frozen=True)
class JobSpec:
    """One lab job as the sandbox sees it.

    ``files`` are extra inputs written into ``work_dir`` before start (relative POSIX
    paths, e.g. ``{"main.py": b"..."}``); ``params`` must be JSON-serializable.
    """

    job_id: str
    runner: str
    params: dict
    limits: SandboxLimits
    work_dir: Path
    files: dict[str, bytes] = field(default_factory=dict)

    def to_runner_json(self) -> dict[str, Any]:
        """The ``spec.json`` the runner reads inside the sandbox (paths as it sees them)."""
        return {
            "job_id": self.job_id,
            "runner": self.runner,
            "params": self.params,
            "limits": asdict(self.limits),
            "work_dir": "/work",
            "files": sorted(self.files),
        }


class SandboxError(Exception):
    """A sandbox failure with a message a person can read.

    ``permanent`` says whether retrying the same job can help (a missing image on a
    fresh node can be transient; an invalid spec never fixes itself).
    """

    def __init__(self, message: str, *, permanent: bool = True):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class SandboxUnavailable(SandboxError):
    """The backend cannot run on this host; the message says what to install or change."""


@dataclass
class ExitStatus:
    """How a job ended.

    ``exit_code`` is the runner's exit code when it had one; ``reason`` is one of
    :data:`EXIT_REASONS`; ``detail`` is a plain sentence for the learner; ``usage`` is
    optional accounting.
    """

    exit_code: int | None
    reason: str
    detail: str
    #: What the job used, where the backend can measure it: ``cpu_seconds``,
    #: ``peak_memory_mb`` (bubblewrap reads them from the job's cgroups). May be empty.
    usage: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reason == "succeeded"


@dataclass
class SandboxHandle:
    """A started job. Backends subclass it to keep their own state (process, container).

    ``stop_reason`` is set by the first :meth:`SandboxBackend.stop` and wins over what the
    exit code alone would say; ``lock`` guards it because ``stop`` may come from another
    thread.
    """

    spec: JobSpec
    started_at: float = field(default_factory=time.monotonic)
    stop_reason: str | None = None
    status: ExitStatus | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def deadline(self) -> float:
        return self.started_at + self.spec.limits.wall_seconds


class SandboxBackend:
    """Base class of sandbox backends (the JupyterHub Spawner pattern).

    Subclasses implement :meth:`check_available`, :meth:`start`, :meth:`stream`,
    :meth:`stop` and :meth:`poll`; :meth:`run` ties them together and is what the worker
    calls. Options come from ``LABS_SANDBOX_OPTIONS`` as keyword arguments; unknown
    options are an error so a typo in settings does not silently weaken a limit.
    """

    name: str = "base"
    #: Options a subclass accepts, with defaults; ``__init__`` sets them as attributes.
    option_defaults: dict[str, Any] = {}

    def __init__(self, **options: Any):
        unknown = set(options) - set(self.option_defaults)
        if unknown:
            raise SandboxError(
                f"Unknown option(s) for the {self.name} sandbox backend: {', '.join(sorted(unknown))}. "
                f"Known: {', '.join(sorted(self.option_defaults)) or 'none'}."
            )
        self.options = {**self.option_defaults, **options}

    def check_available(self) -> None:
        """Raise :class:`SandboxUnavailable`, naming the exact fix, if jobs cannot run here.

        Cheap after the first call (results may be cached). Never "fixes" anything by
        weakening isolation.
        """
        raise NotImplementedError

    def prepare_work_dir(self, spec: JobSpec, uid: int, gid: int) -> Path:
        """Make ``spec.work_dir`` the job's own filesystem of ``limits.disk_mb`` MB.

        Called by :meth:`start` (callers do not); replaces whatever a previous attempt
        left there. Raises :class:`SandboxUnavailable` when the quota cannot be applied:
        a job never runs without a disk bound.
        """
        from .workdirs import work_dir_mount

        try:
            work_dir_mount(spec.work_dir, disk_mb=spec.limits.disk_mb, uid=uid, gid=gid)
        except OSError as exc:
            raise SandboxUnavailable(
                f"Cannot create the job's disk-quota work dir ({exc.strerror or exc}): run the worker as root "
                "or with CAP_SYS_ADMIN."
            ) from exc
        return spec.work_dir.resolve()

    def release_work_dir(self, path: Path) -> None:
        """Unmount and delete a job's work dir (after its artifacts were read).

        The caller owns this call: the work dir outlives :meth:`run` so the worker can
        collect artifacts. Safe on a missing dir and on any tree a job can build.
        """
        from .workdirs import work_dir_release

        work_dir_release(Path(path))

    def reap_stale(self) -> int:
        """At worker start: remove what a dead worker of this host left (containers,
        cgroups); return how many things were removed. Never touches live jobs."""
        return 0

    def start(self, spec: JobSpec) -> SandboxHandle:
        """Prepare the work dir (:meth:`prepare_work_dir`), write ``spec.json`` and
        ``spec.files`` into it and launch the runner.

        Returns at once with a handle; the job keeps running until it exits, hits a limit
        or is stopped. Raises :class:`SandboxError` when the job cannot be started.
        """
        raise NotImplementedError

    def stream(self, handle: SandboxHandle) -> Iterator[RunnerEvent]:
        """Yield the job's events (parsed from its stdout/stderr) until it exits.

        Enforces ``max_log_bytes`` (one truncation notice, then log lines are dropped) and
        the wall-time limit (the job is stopped with reason ``timed_out``). May block
        while the job is silent; use :meth:`run` to stay responsive to cancellation.
        """
        raise NotImplementedError

    def stop(self, handle: SandboxHandle, reason: str = "cancelled") -> None:
        """Kill the job's whole process tree. Idempotent; safe to call from another thread.

        The first reason given is the one :meth:`poll` reports.
        """
        raise NotImplementedError

    def poll(self, handle: SandboxHandle) -> ExitStatus | None:
        """Return the final :class:`ExitStatus`, or ``None`` while the job still runs."""
        raise NotImplementedError

    def wait(self, handle: SandboxHandle, timeout: float = 30.0) -> ExitStatus:
        """Poll until the job has ended (it was already stopped or has closed its output)."""
        end = time.monotonic() + timeout
        while True:
            status = self.poll(handle)
            if status is not None:
                return status
            if time.monotonic() > end:
                self.stop(handle, "killed")
                end = time.monotonic() + timeout
            time.sleep(0.02)

    def run(
        self,
        spec: JobSpec,
        on_event: Callable[[RunnerEvent], None],
        should_cancel: Callable[[], bool] = lambda: False,
    ) -> ExitStatus:
        """Run a job to the end: start, deliver each event to ``on_event``, return the status.

        ``on_event`` and ``should_cancel`` are called in the caller's thread (so they may
        use the caller's database connection). ``should_cancel`` is checked between
        events and at least every 0.5 s; when it returns true the job is stopped and ends
        ``cancelled``. If ``on_event`` raises, the job is killed and the error propagates.
        """
        handle = self.start(spec)
        # The stream may block while the job is silent, so a helper thread drains it into
        # a queue that this (the caller's) thread polls. Unbounded: output is already
        # bounded by the log limits.
        events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

        def pump() -> None:
            try:
                for event in self.stream(handle):
                    events.put(("event", event))
            except BaseException as exc:
                events.put(("error", exc))
            else:
                events.put(("done", None))

        pump_thread = threading.Thread(target=pump, name=f"sandbox-stream-{spec.job_id}", daemon=True)
        pump_thread.start()
        cancelled = False
        try:
            while True:
                # Called every round even after a cancel: callers use it as their tick
                # (heartbeats, flushing event batches).
                if should_cancel() and not cancelled:
                    cancelled = True
                    self.stop(handle, "cancelled")
                try:
                    kind, item = events.get(timeout=0.5)
                except queue.Empty:
                    continue
                if kind == "event":
                    on_event(item)
                elif kind == "error":
                    raise item
                else:
                    break
        except BaseException:
            self.stop(handle, "killed")
            pump_thread.join(timeout=10)
            raise
        pump_thread.join()
        return self.wait(handle)


def get_backend(name_or_path: str | None = None, **options: Any) -> SandboxBackend:
    """Return a configured backend instance.

    ``name_or_path`` is a short name from :data:`BACKENDS` or a dotted path to a
    :class:`SandboxBackend` subclass. With ``None``, Django's
    ``settings.LABS_SANDBOX_BACKEND`` and ``settings.LABS_SANDBOX_OPTIONS`` are used
    (explicit ``options`` override the latter).
    """
    if name_or_path is None:
        from django.conf import settings  # lazily: the package must import without Django

        name_or_path = getattr(settings, "LABS_SANDBOX_BACKEND", None)
        if not name_or_path:
            raise SandboxUnavailable(
                "LABS_SANDBOX_BACKEND is not set: set it to 'bubblewrap' or 'docker' "
                f"(or a dotted path); known names: {', '.join(sorted(BACKENDS))}."
            )
        options = {**(getattr(settings, "LABS_SANDBOX_OPTIONS", None) or {}), **options}
    dotted = BACKENDS.get(name_or_path, name_or_path)
    if "." not in dotted:
        raise SandboxUnavailable(
            f"Unknown sandbox backend {name_or_path!r}: use one of {', '.join(sorted(BACKENDS))} "
            "or a dotted path to a SandboxBackend subclass."
        )
    module_name, _, class_name = dotted.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise SandboxUnavailable(f"Cannot import sandbox backend {dotted!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, SandboxBackend)):
        raise SandboxUnavailable(f"{dotted!r} is not a SandboxBackend subclass.")
    return cls(**options)


_OOM_MARKERS = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "DefaultCPUAllocator: can't allocate")


def classify_exit(
    limits: SandboxLimits,
    code: int | None,
    *,
    stop_reason: str | None = None,
    oom_killed: bool = False,
    stderr_tail: str = "",
    launcher_failed: bool = False,
    disk_full: bool = False,
) -> ExitStatus:
    """Turn what a backend saw into an :class:`ExitStatus` a learner can read.

    ``code`` follows the shell convention (128+N = killed by signal N). A stop the worker
    asked for wins; then the OOM killer (or an allocation failure in the tail of stderr);
    then a full work dir (``disk_quota``) for a job that failed; then the exit code,
    with hints for the limits a job typically trips over.
    """
    if stop_reason == "timed_out":
        return ExitStatus(None, "timed_out", f"Stopped after the {limits.wall_seconds} s time limit.")
    if stop_reason == "cancelled":
        return ExitStatus(None, "cancelled", "Cancelled.")
    if stop_reason == "output_limit":
        return ExitStatus(None, "output_limit", "Stopped because the job wrote far more output than allowed.")
    if oom_killed or (code not in (0, None) and any(m in stderr_tail for m in _OOM_MARKERS)):
        return ExitStatus(code, "out_of_memory", f"Ran out of memory (limit {limits.memory_mb} MB).")
    if stop_reason is not None:
        return ExitStatus(None, "killed", "The sandbox was stopped by the worker.")
    if disk_full and code not in (0, None):
        return ExitStatus(
            code, "disk_quota", f"The job wrote more than the {limits.disk_mb} MB allowed in its work directory."
        )
    if code == 0:
        return ExitStatus(0, "succeeded", "Finished successfully.")
    if code is None:
        return ExitStatus(None, "killed", "The job ended without an exit code.")
    if launcher_failed:
        return ExitStatus(code, "failed", "The sandbox could not apply its resource limits.")
    signum = code - 128 if 128 < code < 160 else None
    if signum == signal.SIGXCPU:
        return ExitStatus(code, "timed_out", f"Used up the {limits.cpu_seconds} s CPU time limit.")
    if signum == signal.SIGXFSZ or "File too large" in stderr_tail:
        return ExitStatus(code, "failed", f"A file grew past the {limits.max_file_mb} MB file size limit.")
    if "Resource temporarily unavailable" in stderr_tail and ("fork" in stderr_tail or "thread" in stderr_tail):
        return ExitStatus(
            code, "failed", f"Tried to start more than the {limits.max_processes} processes/threads allowed."
        )
    if signum is not None:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return ExitStatus(code, "killed", f"The program was killed by {name}.")
    return ExitStatus(code, "failed", f"The program exited with code {code}.")


def check_relative_path(name: str) -> PurePosixPath:
    """Validate a path the job gave or will see: relative, no ``..``, no NUL."""
    path = PurePosixPath(name)
    if not name or "\x00" in name or path.is_absolute() or ".." in path.parts or name.startswith("~"):
        raise SandboxError(f"Invalid file name {name!r}: use a relative path inside the work directory.")
    return path


def write_inputs(spec: JobSpec) -> None:
    """Create ``work_dir`` and write ``spec.json`` and ``spec.files`` into it."""
    import errno
    import json

    spec.work_dir.mkdir(parents=True, exist_ok=True)
    try:
        payload = json.dumps(spec.to_runner_json(), indent=2)
    except (TypeError, ValueError) as exc:
        raise SandboxError(f"The job's parameters are not JSON-serializable: {exc}") from exc
    try:
        for name, content in spec.files.items():
            rel = check_relative_path(name)
            if rel.as_posix() == "spec.json":
                raise SandboxError("An input file may not be called spec.json.")
            target = spec.work_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        (spec.work_dir / "spec.json").write_text(payload)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise SandboxError(
                f"The job's input files do not fit in its {spec.limits.disk_mb} MB work directory."
            ) from exc
        raise


def resolve_artifact_path(work_dir: Path, relative: str) -> Path:
    """Map an artifact path a runner reported to a regular file inside ``work_dir``.

    The job controls the work dir, so a reported artifact may be a symlink to a host
    file (``/etc/shadow``) that a root worker would happily read. This refuses anything
    that is not a plain file under ``work_dir`` once every symlink is resolved.
    """
    rel = check_relative_path(relative)
    root = work_dir.resolve()
    candidate = root / rel
    if candidate.is_symlink():
        raise SandboxError(f"Artifact {relative!r} is a symbolic link; only regular files are accepted.")
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root) or not resolved.is_file():
        raise SandboxError(f"Artifact {relative!r} is not a regular file inside the work directory.")
    return resolved
