"""Per-job cgroups for the bubblewrap backend: v1 (per-controller hierarchies) or v2.

Each job gets its own group: ``pids`` bounds processes and threads for any uid (root
ignores RLIMIT_NPROC), ``memory`` bounds the whole job (rlimits are per process) with no
escape into swap, ``cpu`` caps its CPU share, and the group lets a kill catch every
process at once, even one that is forking. The job enters the group before it execs (see
the launcher in ``bubblewrap.py``), so no child can be born outside it.

* v1 (:class:`JobCgroups`): a child of the worker's own group in each mounted controller
  (``pids``, ``memory``, ``cpu``, ``cpuacct``, ``freezer``).
* v2 (:class:`JobCgroupsV2`): the worker's own group must be delegated to it (systemd
  ``Delegate=yes``, or a container with a private cgroup namespace); jobs live in
  ``<own>/genai-labs/<job>``. Because of v2's "no processes in inner groups" rule, the
  worker's own processes move to the leaf ``<own>/genai-labs-worker`` before controllers
  are enabled for children (what container runtimes do with their init process).

:func:`create_job_cgroups` picks the one the host has; :func:`cgroups_unavailable_reason`
says why neither can bound pids and memory, and then the backend refuses to run jobs.
"""

from __future__ import annotations

import contextlib
import errno
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
        return sum(_rmdir_stale(own / PARENT_GROUP, min_age) for own in _own_paths(cgroup_root).values())

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


# -- cgroup v2 ---------------------------------------------------------------------------

V2_CONTROLLERS = ("pids", "memory", "cpu")
V2_REQUIRED = ("pids", "memory")
WORKER_LEAF = "genai-labs-worker"


def _read_proc_self_cgroup() -> str:
    # A function so tests can point the v2 code at a fake cgroupfs tree.
    return Path("/proc/self/cgroup").read_text()


def cgroup_version(cgroup_root: Path) -> int | None:
    """2 for a unified (v2-only) mount at ``cgroup_root``, 1 for v1 controllers, else None.

    A hybrid host (v1 controllers plus an empty v2 at ``unified/``) counts as v1: its v2
    hierarchy has no controllers to limit anything with.
    """
    if (cgroup_root / "cgroup.controllers").is_file():
        return 2
    if any((cgroup_root / name).is_dir() and (cgroup_root / name / "cgroup.procs").exists() for name in CONTROLLERS):
        return 1
    return None


def _v2_own_path(cgroup_root: Path) -> Path | None:
    try:
        text = _read_proc_self_cgroup()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("0::"):
            return cgroup_root / line[3:].strip().lstrip("/")
    return None


def _tokens(path: Path) -> set[str]:
    try:
        return {t.lstrip("+") for t in path.read_text().split()}
    except OSError:
        return set()


def _v2_enable(group: Path, wanted: list[str]) -> None:
    """Enable ``wanted`` controllers for ``group``'s children (raises OSError)."""
    if not wanted or set(wanted) <= _tokens(group / "cgroup.subtree_control"):
        return
    (group / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))


def v2_job_parent(cgroup_root: Path) -> tuple[Path, list[str]]:
    """The delegated group job groups are created in, with the controllers it passes on.

    Raises :class:`OSError` (with a message saying what to change) when the worker's group
    is not delegated or lacks the pids/memory controllers.
    """
    own = _v2_own_path(cgroup_root)
    if own is None or not own.is_dir():
        raise OSError(f"cannot find this worker's cgroup v2 group under {cgroup_root} (/proc/self/cgroup)")
    available = _tokens(own / "cgroup.controllers")
    missing = [c for c in V2_REQUIRED if c not in available]
    if missing:
        raise OSError(
            f"the controllers {', '.join(missing)} are not delegated to this worker's cgroup {own} "
            "(run the worker under systemd with Delegate=yes, or in a container with its own cgroup namespace)"
        )
    wanted = [c for c in V2_CONTROLLERS if c in available]
    try:
        _v2_enable(own, wanted)
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
        # v2 refuses controllers for children while the group itself has processes:
        # move ours (the worker and its pool) into a leaf first.
        leaf = own / WORKER_LEAF
        leaf.mkdir(exist_ok=True)
        for pid in (own / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError, OSError):
                (leaf / "cgroup.procs").write_text(pid)
        _v2_enable(own, wanted)
    parent = own / PARENT_GROUP
    parent.mkdir(exist_ok=True)
    _v2_enable(parent, wanted)
    return parent, wanted


class JobCgroupsV2:
    """One job's cgroup v2 group; same interface as :class:`JobCgroups`."""

    def __init__(self, path: Path | None, controllers: list[str], notes: list[str]):
        self.path = path
        self.controllers = controllers
        self.notes = notes

    @classmethod
    def create(cls, cgroup_root: Path, name: str) -> JobCgroupsV2:
        notes: list[str] = []
        try:
            parent, controllers = v2_job_parent(cgroup_root)
            path = parent / name
            path.mkdir()
        except OSError as exc:
            notes.append(f"cgroup v2 not usable: {exc.strerror or exc}")
            return cls(None, [], notes)
        if "cpu" not in controllers:
            notes.append("cgroup v2 cpu controller not delegated: no CPU quota")
        return cls(path, controllers, notes)

    @staticmethod
    def reap_stale(cgroup_root: Path, min_age: float = 600.0) -> int:
        own = _v2_own_path(cgroup_root)
        if own is None:
            return 0
        return _rmdir_stale(own / PARENT_GROUP, min_age)

    def _write(self, filename: str, value: str) -> bool:
        if self.path is None:
            return False
        try:
            (self.path / filename).write_text(value)
        except OSError as exc:
            self.notes.append(f"could not set {filename}: {exc.strerror}")
            return False
        return True

    def set_limits(self, *, max_processes: int, memory_bytes: int, cpus: float | None) -> None:
        if not self._write("pids.max", str(max_processes)):
            self.controllers = [c for c in self.controllers if c != "pids"]
        if self._write("memory.max", str(memory_bytes)):
            # No escape into swap; the whole job dies together on OOM (no half-dead job).
            self._write("memory.swap.max", "0")
            self._write("memory.oom.group", "1")
        else:
            self.controllers = [c for c in self.controllers if c != "memory"]
        if cpus and "cpu" in self.controllers:
            period = 100_000
            self._write("cpu.max", f"{max(1000, int(cpus * period))} {period}")

    @property
    def procs_files(self) -> list[Path]:
        return [self.path / "cgroup.procs"] if self.path else []

    @property
    def limits_processes(self) -> bool:
        return self.path is not None and "pids" in self.controllers

    @property
    def limits_memory(self) -> bool:
        return self.path is not None and "memory" in self.controllers

    def pids(self) -> list[int]:
        if self.path is None:
            return []
        with contextlib.suppress(OSError, ValueError):
            return sorted(int(p) for p in (self.path / "cgroup.procs").read_text().split())
        return []

    def _keyed(self, filename: str) -> dict[str, int]:
        assert self.path is not None
        found: dict[str, int] = {}
        for line in (self.path / filename).read_text().splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                found[key] = int(value)
        return found

    def oom_killed(self) -> bool:
        if self.path is None:
            return False
        try:
            return self._keyed("memory.events").get("oom_kill", 0) > 0
        except OSError:
            return False

    def usage(self) -> dict[str, float]:
        found: dict[str, float] = {}
        if self.path is None:
            return found
        with contextlib.suppress(KeyError, OSError):
            found["cpu_seconds"] = round(self._keyed("cpu.stat")["usage_usec"] / 1e6, 3)
        with contextlib.suppress(OSError, ValueError):
            found["peak_memory_mb"] = round(int((self.path / "memory.peak").read_text()) / (1024 * 1024), 1)
        return found

    def kill_all(self, timeout: float = 5.0) -> bool:
        """Kill every process of the job: ``cgroup.kill`` (5.14+), else freeze + SIGKILL."""
        if self.path is None:
            return True
        end = time.monotonic() + timeout
        if (self.path / "cgroup.kill").exists() and self._write("cgroup.kill", "1"):
            pass
        else:
            frozen = self._write("cgroup.freeze", "1")
            try:
                JobCgroups._kill(self.pids())
            finally:
                if frozen:
                    self._write("cgroup.freeze", "0")
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > end:
                return False
            JobCgroups._kill(pids)
            time.sleep(0.01)

    def remove(self, timeout: float = 5.0) -> None:
        if self.path is None:
            return
        end = time.monotonic() + timeout
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if not self.path.joinpath("cgroup.procs").exists() and self.path.is_dir():
                    # A fake tree (tests) holds plain files: nothing for the kernel to free.
                    _rmtree_plain(self.path)
                    return
                if time.monotonic() > end:
                    self.notes.append(f"could not remove {self.path}")
                    return
                self.kill_all(timeout=0.5)
                time.sleep(0.02)


def _rmtree_plain(path: Path) -> None:
    for child in path.iterdir():
        with contextlib.suppress(OSError):
            child.unlink()
    with contextlib.suppress(OSError):
        path.rmdir()


def _rmdir_stale(parent: Path, min_age: float) -> int:
    removed = 0
    if not parent.is_dir():
        return 0
    now = time.time()
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


AnyJobCgroups = JobCgroups | JobCgroupsV2


def create_job_cgroups(cgroup_root: Path, name: str) -> AnyJobCgroups | None:
    """The job's groups in whichever hierarchy the host has (None: no cgroups at all)."""
    version = cgroup_version(cgroup_root)
    if version == 2:
        return JobCgroupsV2.create(cgroup_root, name)
    if version == 1:
        return JobCgroups.create(cgroup_root, name)
    return None


def reap_stale_cgroups(cgroup_root: Path, min_age: float = 600.0) -> int:
    if cgroup_version(cgroup_root) == 2:
        return JobCgroupsV2.reap_stale(cgroup_root, min_age)
    return JobCgroups.reap_stale(cgroup_root, min_age)


def cgroups_unavailable_reason(cgroup_root: Path) -> str | None:
    """Why jobs cannot get a pids and a memory limit here (None when they can).

    Makes and removes a probe group, so it also catches a read-only cgroupfs.
    """
    version = cgroup_version(cgroup_root)
    if version is None:
        return (
            f"no cgroup hierarchy at {cgroup_root} (neither v2 nor v1 pids/memory controllers): jobs would "
            "run with rlimits only. Mount cgroupfs there (or set LABS_SANDBOX_OPTIONS['cgroup_root']), "
            "or use the docker backend."
        )
    probe = create_job_cgroups(cgroup_root, f"probe-{os.getpid()}-{time.monotonic_ns()}")
    assert probe is not None
    try:
        probe.set_limits(max_processes=8, memory_bytes=64 * 1024 * 1024, cpus=None)
        missing = [n for n, ok in (("pids", probe.limits_processes), ("memory", probe.limits_memory)) if not ok]
        if missing:
            notes = "; ".join(probe.notes) or "not writable"
            return f"cgroup v{version} at {cgroup_root} cannot limit {' and '.join(missing)} for jobs ({notes}). " + (
                "Delegate the worker's cgroup (systemd Delegate=yes) with the pids and memory controllers."
                if version == 2
                else "Run the worker as root with the v1 pids and memory controllers mounted and writable."
            )
        return None
    finally:
        probe.remove(timeout=1)
