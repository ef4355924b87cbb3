"""Per-job cgroup v1 groups (pids, memory, cpu, cpuacct, freezer) for the bubblewrap backend.

Each job gets a child group of the worker's own group in every controller that is
mounted and writable: ``pids.max`` bounds processes and threads for any uid (root
ignores RLIMIT_NPROC), ``memory.limit_in_bytes`` bounds the whole job (rlimits are per
process), ``cpu.cfs_quota_us`` caps CPU share, ``cpuacct`` measures the job's CPU time,
and ``freezer`` lets a kill catch every process at once, even one that is forking. The
job enters the groups before it execs (see the launcher in ``bubblewrap.py``), so no
child can be born outside them.

cgroup v2-only hosts are not handled here: the backend then relies on rlimits
(RLIMIT_NPROC applies because the job's uid is not root) and says so in its notes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

CONTROLLERS = ("pids", "memory", "cpu", "cpuacct", "freezer")
PARENT_GROUP = "genai-labs"


def _own_paths(cgroup_root: Path) -> dict[str, Path]:
    """Mount directory + the worker's own group path, per v1 controller."""
    paths: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _hier, _, rest = line.partition(":")
        names, _, group = rest.partition(":")
        for name in names.split(","):
            if name in CONTROLLERS and (cgroup_root / name).is_dir():
                paths[name] = cgroup_root / name / group.lstrip("/")
    return paths


class JobCgroups:
    """The groups of one job. Create with :meth:`create`; always :meth:`remove` at the end."""

    def __init__(self, dirs: dict[str, Path], notes: list[str]):
        self.dirs = dirs
        self.notes = notes

    @classmethod
    def create(cls, cgroup_root: Path, name: str) -> JobCgroups:
        """Make ``<own group>/genai-labs/<name>`` in each writable controller."""
        dirs: dict[str, Path] = {}
        notes: list[str] = []
        own_paths = _own_paths(cgroup_root)
        for controller, own in own_paths.items():
            target = own / PARENT_GROUP / name
            try:
                target.mkdir(parents=True)
            except OSError as exc:
                notes.append(f"cgroup {controller} not available ({exc.strerror})")
                continue
            dirs[controller] = target
        missing = [c for c in CONTROLLERS if c not in own_paths]
        if missing:
            notes.append(f"cgroup controllers not mounted (v1): {', '.join(missing)}")
        return cls(dirs, notes)

    @staticmethod
    def reap_stale(cgroup_root: Path, min_age: float = 600.0) -> int:
        """Remove empty job groups older than ``min_age`` seconds; return how many.

        A worker killed hard (kill -9, node OOM) cannot remove its job's groups; its
        processes died with it (--die-with-parent), so the groups are empty and rmdir
        works. The age guard leaves alone a group another worker has just created and
        not yet entered.
        """
        removed = 0
        now = time.time()
        for own in _own_paths(cgroup_root).values():
            parent = own / PARENT_GROUP
            if not parent.is_dir():
                continue
            for child in parent.iterdir():
                try:
                    if not child.is_dir() or now - child.stat().st_mtime < min_age:
                        continue
                    if (child / "cgroup.procs").read_text().strip():
                        continue
                    child.rmdir()
                    removed += 1
                except OSError:
                    continue
        return removed

    # -- limits ---------------------------------------------------------------------

    def _write(self, controller: str, filename: str, value: str) -> bool:
        path = self.dirs.get(controller)
        if path is None:
            return False
        try:
            (path / filename).write_text(value)
        except OSError as exc:
            self.notes.append(f"could not set {controller}/{filename}: {exc.strerror}")
            return False
        return True

    def set_limits(self, *, max_processes: int, memory_bytes: int, cpus: float | None) -> None:
        self._write("pids", "pids.max", str(max_processes))
        if self._write("memory", "memory.limit_in_bytes", str(memory_bytes)):
            # memsw = mem: the job cannot escape the limit into swap (file exists only
            # when swap accounting is on).
            if (self.dirs["memory"] / "memory.memsw.limit_in_bytes").exists():
                self._write("memory", "memory.memsw.limit_in_bytes", str(memory_bytes))
            self._write("memory", "memory.swappiness", "0")
        if cpus:
            period = 100_000
            self._write("cpu", "cpu.cfs_period_us", str(period))
            self._write("cpu", "cpu.cfs_quota_us", str(max(1000, int(cpus * period))))

    @property
    def procs_files(self) -> list[Path]:
        """The ``cgroup.procs`` files the launcher writes its pid into."""
        return [d / "cgroup.procs" for d in self.dirs.values()]

    @property
    def limits_processes(self) -> bool:
        return "pids" in self.dirs

    @property
    def limits_memory(self) -> bool:
        return "memory" in self.dirs

    # -- state ----------------------------------------------------------------------

    def pids(self) -> list[int]:
        """Every process still in the job's groups."""
        found: set[int] = set()
        for path in self.dirs.values():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (path / "cgroup.procs").read_text().split())
        return sorted(found)

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer killed something in the job's memory group."""
        path = self.dirs.get("memory")
        if path is None:
            return False
        try:
            fields = dict(
                line.split() for line in (path / "memory.oom_control").read_text().splitlines() if " " in line
            )
        except (OSError, ValueError):
            return False
        return int(fields.get("oom_kill", "0")) > 0

    def usage(self) -> dict[str, float]:
        """CPU seconds (cpuacct) and peak memory in MB (memory) of the whole job."""
        found: dict[str, float] = {}
        with contextlib.suppress(KeyError, OSError, ValueError):
            ns = int((self.dirs["cpuacct"] / "cpuacct.usage").read_text())
            found["cpu_seconds"] = round(ns / 1e9, 3)
        with contextlib.suppress(KeyError, OSError, ValueError):
            peak = int((self.dirs["memory"] / "memory.max_usage_in_bytes").read_text())
            found["peak_memory_mb"] = round(peak / (1024 * 1024), 1)
        return found

    # -- teardown -------------------------------------------------------------------

    def kill_all(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process in the groups; return True once they are empty.

        With the freezer, the group is frozen for the first sweep so a fork bomb cannot
        outrun it, then thawed so the killed tasks can die (a frozen task does not act on
        SIGKILL). Later sweeps, if any, catch what was mid-fork; pids.max bounds them.
        """
        end = time.monotonic() + timeout
        frozen = self._freeze(until=time.monotonic() + 0.5)
        try:
            self._kill(self.pids())
        finally:
            if frozen:
                self._write("freezer", "freezer.state", "THAWED")
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > end:
                return False
            self._kill(pids)
            time.sleep(0.01)

    def _freeze(self, until: float) -> bool:
        if not self._write("freezer", "freezer.state", "FROZEN"):
            return False
        state = self.dirs["freezer"] / "freezer.state"
        while time.monotonic() < until:
            with contextlib.suppress(OSError):
                if state.read_text().strip() == "FROZEN":
                    break
            time.sleep(0.002)
        return True

    @staticmethod
    def _kill(pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def remove(self, timeout: float = 5.0) -> None:
        """Remove the job's groups (after :meth:`kill_all`); retries while tasks exit."""
        end = time.monotonic() + timeout
        for path in self.dirs.values():
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > end:
                        self.notes.append(f"could not remove {path}")
                        break
                    self.kill_all(timeout=0.5)
                    time.sleep(0.02)
