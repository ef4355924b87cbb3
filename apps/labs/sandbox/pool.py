"""Warm sandbox pool: sandboxes started ahead of demand, each used for one job, then destroyed.

A lab whose runner spends seconds importing (PyTorch: ~2 s of a 2-core machine, the whole
wait before its first progress) gets sandboxes started before any job asks: the same
bubblewrap sandbox a cold job gets (namespaces, seccomp, cgroup limits, rlimits, a fresh
tmpfs work dir, no network, cleared environment), whose process is the zygote
(:mod:`gpu_workers.runners.zygote`): it imports the kind's ``warm_imports`` and waits.
When a job of that runner starts (:meth:`.bubblewrap.BubblewrapBackend.start`), it takes a
ready sandbox whose limits match, the sandbox's work dir becomes the job's, the job's
inputs are written into it, and the zygote runs the runner in-process exactly as the cold
path does. The sandbox exits with its job and is never handed out again; a background
thread starts a replacement. No sandbox fits (pool empty, still warming, other limits): the
job starts cold, as before.

Per process: each Celery pool process keeps its own (the sandboxes are its children; they
die with it: ``bwrap --die-with-parent`` fires when the refill thread, which starts them and
lives as long as the process, is gone). Sizes come from ``LABS_WARM_POOL`` per queue
(:func:`targets_from_settings`); :func:`activate` installs the process's pool,
:func:`deactivate` drains it. Sandboxes idle longer than ``max_idle_seconds`` are replaced.
A pool's limits are read when it starts (the lab's row, as services reads them): after an
admin changes a pooled lab's limits, its jobs start cold until the worker restarts. (The pool
does not follow the jobs' limits on its own: another user of the same runner with other
limits - the quiz runs learners' code with the ``script`` runner - would make it thrash.)

Nothing here imports Django.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

from .base import JobSpec, SandboxBackend, SandboxError, SandboxLimits

logger = logging.getLogger(__name__)

__all__ = [
    "SandboxPool",
    "WarmTarget",
    "activate",
    "active_pool",
    "deactivate",
    "pool_dirs_sweep",
    "start_key",
    "take_warm",
    "targets_from_settings",
]

#: Limits a sandbox gets when it starts (cgroup, rlimits, work-dir size, GPUs). A warm
#: sandbox serves only jobs with the same values; ``wall_seconds`` and ``max_log_bytes``
#: are enforced by the worker from the moment a job takes it, so any value fits.
START_LIMITS = ("cpu_seconds", "memory_mb", "max_processes", "max_file_mb", "disk_mb", "gpu_count")


def start_key(runner: str, limits: SandboxLimits) -> tuple[Any, ...]:
    return (runner, *(getattr(limits, name) for name in START_LIMITS))


@dataclass(frozen=True)
class WarmTarget:
    """Keep ``size`` sandboxes of ``runner`` with ``limits`` warm, importing ``warm_imports``."""

    runner: str
    limits: SandboxLimits
    size: int
    warm_imports: tuple[str, ...] = ()
    label: str = ""

    @property
    def key(self) -> tuple[Any, ...]:
        return start_key(self.runner, self.limits)


@dataclass
class PoolStats:
    started: int = 0
    ready: int = 0
    taken: int = 0
    misses: int = 0
    failed: int = 0
    recycled: int = 0
    last_error: str = ""


@dataclass
class _Slot:
    target: WarmTarget
    failures: int = 0
    retry_at: float = 0.0
    ready: list[Any] = field(default_factory=list)  # BubblewrapHandle, oldest first


class SandboxPool:
    """Warm sandboxes for one process, refilled by one long-lived background thread.

    ``backend`` must support warm starts (``start_warm``/``wait_warm``/``assign_warm``/
    ``destroy_warm``: the bubblewrap backend). ``root`` holds the warm sandboxes' work dirs
    until a job takes them (then they move to the job's own path).
    """

    def __init__(
        self,
        backend: SandboxBackend,
        targets: Iterable[WarmTarget],
        root: Path,
        *,
        max_idle_seconds: float = 1800.0,
        ready_timeout: float = 120.0,
        refill_delay: float = 0.0,
    ):
        for method in ("start_warm", "wait_warm", "assign_warm", "destroy_warm"):
            if not hasattr(backend, method):
                raise SandboxError(f"The {backend.name} sandbox backend cannot keep warm sandboxes.")
        self.backend = backend
        self.config_key = backend.config_key()  # type: ignore[attr-defined]
        self.root = Path(root)
        self.max_idle_seconds = float(max_idle_seconds)
        self.ready_timeout = float(ready_timeout)
        self.refill_delay = float(refill_delay)
        self.stats = PoolStats()
        self._slots: dict[tuple[Any, ...], _Slot] = {}
        for target in targets:
            if target.size <= 0:
                continue
            slot = self._slots.setdefault(target.key, _Slot(target))
            if slot.target.size < target.size:
                slot.target = target
        self._lock = threading.Condition()
        self._closing = False
        self._taken: list[Any] = []
        self._thread: threading.Thread | None = None
        self._take_at = float("-inf")
        #: Per process, so two workers of one host never sweep each other's sandboxes.
        self._tag = f"p{os.getpid()}-{_start_time(os.getpid())}"

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> SandboxPool:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        pool_dirs_sweep(self.root)
        if self._slots:
            self._thread = threading.Thread(target=self._refill_loop, name="labs-warm-pool", daemon=True)
            self._thread.start()
        return self

    def close(self, *, wait: bool = True, timeout: float = 30.0) -> None:
        """Destroy every idle sandbox and stop refilling. With ``wait``, also wait (up to
        ``timeout``) for jobs running in taken sandboxes: they die with the refill thread."""
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        if self._thread is not None and wait:
            self._thread.join(timeout)
        elif self._thread is None:
            self._destroy_idle()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- taking -------------------------------------------------------------------------------

    def serves(self, backend: SandboxBackend) -> bool:
        key = getattr(backend, "config_key", None)
        return key is not None and key() == self.config_key and not self._closing

    def take(self, spec: JobSpec) -> Any | None:
        """A ready sandbox for ``spec`` (removed from the pool for good), or None."""
        key = start_key(spec.runner, spec.limits)
        with self._lock:
            slot = self._slots.get(key)
            handle = None
            while slot is not None and slot.ready:
                candidate = slot.ready.pop(0)
                if candidate.process.poll() is None:
                    handle = candidate
                    break
                self._retire(candidate)  # died while idle (e.g. its host process was killed)
            if handle is None:
                self.stats.misses += 1
                self._lock.notify_all()
                return None
            self.stats.taken += 1
            self._taken.append(handle)
            self._take_at = time.monotonic()
            self._lock.notify_all()
        return handle

    def ready_count(self, runner: str | None = None) -> int:
        with self._lock:
            return sum(len(s.ready) for s in self._slots.values() if runner in (None, s.target.runner))

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Block until every target is full (tests, the bench, warm-up at start)."""
        end = time.monotonic() + timeout
        with self._lock:
            while not all(len(s.ready) >= s.target.size for s in self._slots.values()):
                left = end - time.monotonic()
                if left <= 0 or self._closing:
                    return False
                self._lock.wait(min(left, 0.2))
            return True

    # -- the refill thread ----------------------------------------------------------------

    def _refill_loop(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._closing:
                        break
                    now = time.monotonic()
                    self._recycle_idle(now)
                    slot = self._next_to_fill(now)
                    if slot is None:
                        waits = [s.retry_at - now for s in self._slots.values() if s.retry_at > now]
                        if self.max_idle_seconds:
                            waits += [
                                (h.ready_at or now) + self.max_idle_seconds - now + 0.01
                                for s in self._slots.values()
                                for h in s.ready
                            ]
                        self._lock.wait(max(0.01, min([5.0, *waits])))
                        continue
                    delay = self._take_at + self.refill_delay - now
                    if delay > 0:
                        # Let the job that just took a sandbox get going before the next
                        # sandbox's imports compete with it for the CPU.
                        self._lock.wait(delay)
                        continue
                self._warm_one(slot)
        except Exception:
            logger.exception("labs: the warm sandbox pool stopped refilling")
        finally:
            self._destroy_idle()
            self._wait_taken()

    def _next_to_fill(self, now: float) -> _Slot | None:
        for slot in self._slots.values():
            if len(slot.ready) < slot.target.size and slot.retry_at <= now:
                return slot
        return None

    def _warm_one(self, slot: _Slot) -> None:
        target = slot.target
        work_dir = self.root / f"{self._tag}-{uuid.uuid4().hex[:12]}"
        handle = None
        error: str | None
        try:
            handle = self.backend.start_warm(  # type: ignore[attr-defined]
                runner=target.runner, limits=target.limits, work_dir=work_dir, warm_imports=target.warm_imports
            )
            self.stats.started += 1
            error = self.backend.wait_warm(handle, timeout=self.ready_timeout)  # type: ignore[attr-defined]
        except (SandboxError, OSError) as exc:
            error = getattr(exc, "message", None) or str(exc)
        with self._lock:
            if error is None and not self._closing and self._slots.get(target.key) is slot:
                slot.ready.append(handle)
                slot.failures = 0
                self.stats.ready += 1
                self._lock.notify_all()
                return
            if error is not None:
                slot.failures += 1
                self.stats.failed += 1
                self.stats.last_error = error
                # Back off (2 s, 4 s, ... 5 min): a sandbox that cannot warm up must not
                # keep a core busy; jobs run cold meanwhile.
                slot.retry_at = time.monotonic() + min(300.0, 2.0**slot.failures)
        if error is not None:
            logger.warning("labs: a warm %s sandbox could not start: %s", target.label or target.runner, error)
        if handle is not None:
            self.backend.destroy_warm(handle)  # type: ignore[attr-defined]
        else:
            with contextlib.suppress(OSError):
                from .workdirs import work_dir_release

                work_dir_release(work_dir)

    def _recycle_idle(self, now: float) -> None:
        for slot in self._slots.values():
            keep = []
            for handle in slot.ready:
                too_old = self.max_idle_seconds and now - (handle.ready_at or now) > self.max_idle_seconds
                if too_old or handle.process.poll() is not None:
                    self.stats.recycled += 1
                    self._retire(handle)
                else:
                    keep.append(handle)
            slot.ready = keep

    def _retire(self, handle: Any) -> None:
        # Called with the lock held; destroying takes a few ms (kill, cgroup and mount removal).
        self.backend.destroy_warm(handle)  # type: ignore[attr-defined]

    def _destroy_idle(self) -> None:
        with self._lock:
            handles = [h for s in self._slots.values() for h in s.ready]
            for slot in self._slots.values():
                slot.ready = []
        for handle in handles:
            with contextlib.suppress(Exception):
                self.backend.destroy_warm(handle)  # type: ignore[attr-defined]

    def _wait_taken(self) -> None:
        # Taken sandboxes are children of this thread: keep it alive while their jobs run
        # (at most until their own wall-time limit) so --die-with-parent does not fire.
        while True:
            with self._lock:
                self._taken = [h for h in self._taken if h.process.poll() is None]
                running = list(self._taken)
            if not running:
                return
            if all(time.monotonic() > h.deadline + 5 for h in running):
                return
            time.sleep(0.2)


# -- the process's pool ------------------------------------------------------------------------

_active: SandboxPool | None = None
_active_lock = threading.Lock()


def activate(pool: SandboxPool) -> SandboxPool:
    """Install ``pool`` as this process's pool (started), draining any previous one."""
    global _active
    with _active_lock:
        previous, _active = _active, pool.start()
    if previous is not None:
        previous.close(wait=False)
    return pool


def deactivate(*, wait: bool = True, timeout: float = 30.0) -> None:
    global _active
    with _active_lock:
        pool, _active = _active, None
    if pool is not None:
        pool.close(wait=wait, timeout=timeout)


def active_pool() -> SandboxPool | None:
    return _active


def take_warm(backend: SandboxBackend, spec: JobSpec) -> Any | None:
    """What :meth:`BubblewrapBackend.start` calls: a ready sandbox of this process's pool
    that was started by an identically configured backend for this runner and limits."""
    pool = _active
    if pool is None or not pool.serves(backend):
        return None
    return pool.take(spec)


# -- configuration -----------------------------------------------------------------------------


def targets_from_settings(
    config: Mapping[str, Mapping[str, int]] | None,
    queues: Iterable[str],
    kinds: Mapping[str, Any],
    limits_for: Any,
) -> list[WarmTarget]:
    """``LABS_WARM_POOL`` (``{queue: {kind slug: size}}``) -> targets for a worker that
    consumes ``queues``. ``kinds`` maps slugs to lab kinds (``runner``, ``warm_imports``);
    ``limits_for(slug)`` gives the limits its jobs run with. Size 0 (or a missing queue)
    keeps none; unknown slugs are an error (a typo must not silently disable the pool)."""
    targets: dict[tuple[Any, ...], WarmTarget] = {}
    for queue in queues:
        for slug, size in ((config or {}).get(queue) or {}).items():
            if slug not in kinds:
                raise SandboxError(f"LABS_WARM_POOL[{queue!r}] names an unknown lab kind {slug!r}.")
            if int(size) <= 0:
                continue
            kind = kinds[slug]
            target = WarmTarget(
                runner=kind.runner,
                limits=limits_for(slug),
                size=int(size),
                warm_imports=tuple(getattr(kind, "warm_imports", ()) or ()),
                label=slug,
            )
            # One process serves all its queues: the larger size wins for the same sandbox.
            if target.key not in targets or targets[target.key].size < target.size:
                targets[target.key] = target
    return list(targets.values())


def limits_equal(a: SandboxLimits, b: SandboxLimits) -> bool:
    return astuple(a) == astuple(b)


# -- leftovers ---------------------------------------------------------------------------------


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ('' if gone): with the pid, an
    identity that pid reuse cannot fake."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def pool_dirs_sweep(root: Path) -> int:
    """Release warm sandboxes' work dirs whose process (``p<pid>-<start>-...``) is gone.

    A worker killed hard leaves its pool's quota mounts behind (the sandboxes themselves
    die with it). Dirs of live processes are never touched. Returns how many were removed.
    """
    from .workdirs import work_dir_release

    removed = 0
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return 0
    for entry in entries:
        parts = entry.name.split("-")
        if len(parts) != 3 or not parts[0].startswith("p") or not parts[0][1:].isdigit():
            continue
        if _start_time(int(parts[0][1:])) == parts[1]:
            continue  # its process still runs
        try:
            work_dir_release(Path(entry.path))
        except OSError:
            continue
        removed += 1
    return removed
