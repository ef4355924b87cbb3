"""The bubblewrap backend: real isolation on one host without a container engine.

How a job is launched (worker running as root, the CI and single-host case)::

    sh -c '<enter the job cgroups>; exec "$@"'   # so no process is ever born outside them
      prlimit --as --cpu --fsize --nofile --core=0 --nproc
        bwrap --unshare-{pid,net,ipc,uts,cgroup} --die-with-parent --new-session
              --cap-drop ALL (+SETUID/SETGID/SETPCAP for setpriv only) --clearenv
              read-only /usr, interpreter at /opt/python, venv site-packages at /opt/site,
              gpu_workers at /opt/app; /work = the job dir (rw); private /tmp, /proc, /dev
              --seccomp FD (deny by default: the allow-list of .seccomp_allowlist)
          setpriv --reuid 65534 --regid 65534 --clear-groups --no-new-privs
                  --inh-caps=-all --bounding-set=-all
            /opt/python/bin/python3.X -m gpu_workers.runners <runner> /work/spec.json

Why not ``bwrap --unshare-user --uid 65534`` as root: that maps the job's uid 65534 to
host uid 0, so host files owned by root would be "its own" and the chowned work dir
would not be writable. Dropping to a real host uid 65534 with setpriv inside the mount
namespace keeps the job an ordinary unprivileged user on the host (no capabilities,
no-new-privs), which also makes RLIMIT_NPROC bind. The interpreter lives under
``/root`` (mode 700), which is why bwrap itself must start as root (see MACHINE-NOTES).

A worker that is not root runs bwrap with ``--unshare-user --uid 65534`` instead: the job
is then the worker's own uid on the host, as unprivileged as the worker itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import seccomp
from .base import (
    ExitStatus,
    JobSpec,
    SandboxBackend,
    SandboxError,
    SandboxHandle,
    SandboxLimits,
    SandboxUnavailable,
    classify_exit,
    write_inputs,
)
from .cgroups import AnyJobCgroups, cgroups_unavailable_reason, create_job_cgroups, reap_stale_cgroups
from .events import EventParser, RunnerEvent
from .models_mount import MODELS_MOUNT, model_dir_option, model_dir_problem, model_dir_to_bind
from .workdirs import quota_unavailable_reason, work_dir_full

MiB = 1024 * 1024
# Paths inside the sandbox: private tmpfs mounts, not the host's shared /tmp.
SANDBOX_TMP = "/tmp"  # noqa: S108
SANDBOX_SHM = "/dev/shm"  # noqa: S108

# Runs as the first process of the job: moves itself into the job's cgroups, then
# execs prlimit -> bwrap. A failed write aborts: running without the limits is worse
# than not running.
_LAUNCHER = 'for f in $LABS_CGROUP_PROCS; do echo $$ > "$f" || exit 125; done; exec "$@"'
_LAUNCHER_FAILED = 125

# /etc/passwd and /etc/group of the sandbox (names for ids; no secrets in them).
_PASSWD = "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nnobody:x:{uid}:{gid}:lab job:/work:/usr/sbin/nologin\n"  # noqa: S105
_GROUP = "root:x:0:\nnogroup:x:{gid}:\n"
_HOSTS = "127.0.0.1 localhost sandbox\n::1 localhost\n"
_NSSWITCH = "passwd: files\ngroup: files\nhosts: files\n"


def _default_site_packages() -> str | None:
    # Only a venv needs its own site-packages bound; a system interpreter has them
    # under its prefix already.
    if sys.prefix == sys.base_prefix:
        return None
    return sysconfig.get_paths()["purelib"]


def _default_runners_dir() -> str:
    return str(Path(__file__).resolve().parents[3] / "gpu_workers")


@dataclass
class BubblewrapHandle(SandboxHandle):
    """State of one bubblewrap job."""

    process: subprocess.Popen | None = None
    cgroups: AnyJobCgroups | None = None
    stderr_tail: bytearray = field(default_factory=bytearray)
    notes: list[str] = field(default_factory=list)
    finished: bool = False
    streaming: bool = False
    stream_done: threading.Event = field(default_factory=threading.Event)
    #: A warm (pooled) sandbox: started ahead of its job by :meth:`BubblewrapBackend.start_warm`.
    warm: bool = False
    #: When the warm sandbox reported its imports done (monotonic), and when a job took it.
    ready_at: float | None = None
    taken_at: float | None = None
    warm_imports: tuple[str, ...] = ()
    #: stdout read while waiting for "ready" that belongs to the job (normally empty).
    pending_stdout: bytes = b""


class BubblewrapBackend(SandboxBackend):
    """Runs jobs under bubblewrap + seccomp + rlimits + cgroup (v1 or v2) limits, each in
    its own size-limited work dir (:mod:`.workdirs`).

    Options (``LABS_SANDBOX_OPTIONS``):

    ``bwrap``, ``prlimit``, ``setpriv``: executables (default: found on PATH).
    ``python_home``: base interpreter prefix bound at /opt/python (default: this one's).
    ``site_packages``: venv site-packages bound at /opt/site (default: this venv's).
    ``runners_dir``: the ``gpu_workers`` package bound at /opt/app/gpu_workers.
    ``uid``/``gid``: the job's identity (65534 = nobody).
    ``cpus``: CPU quota via cpu.cfs_quota_us (default: min(2, CPUs)); also sets thread counts.
    ``cgroup_root``: where cgroupfs is mounted (v1 controllers below it, or the v2
       unified hierarchy itself). Without pids and memory limits there, the backend is
       unavailable: it never runs jobs with rlimits only.
    ``address_space_headroom_mb``: RLIMIT_AS = memory_mb + this (None: no RLIMIT_AS).
       PyTorch alone reserves ~1.3 GB of address space, so RLIMIT_AS cannot equal the
       memory limit; the memory cgroup is the real limit, RLIMIT_AS a backstop. It is
       never set for GPU jobs (CUDA reserves huge address ranges).
    ``nofile``: open-file limit. ``output_limit_bytes``: total output after which the job
       is killed (``output_limit``); default max(16 x max_log_bytes, 64 MiB).
    ``extra_ro_binds``: ``{host_path: sandbox_path}`` read-only extras (datasets, models).
    ``model_dir``: the registry folder bound read-only at /models when it exists ("auto":
       ``settings.LABS_MODEL_DIR``; None: no /models). See :mod:`.models_mount`.
    ``seccomp_mode``: ``"allowlist"`` (deny by default: only :mod:`.seccomp_allowlist`)
       or ``"denylist"`` (allow by default, minus the denials); see :mod:`.seccomp`.
    ``warm_nice``: how much nicer than the worker a warm sandbox imports (``nice -n``), so
       refilling the pool does not slow down the jobs that run meanwhile; a job that takes it
       gets the worker's own priority back, as a cold job has (root workers only: raising a
       priority needs CAP_SYS_NICE).
    """

    name = "bubblewrap"
    option_defaults: dict[str, Any] = {
        "bwrap": None,
        "prlimit": None,
        "setpriv": None,
        "python_home": None,
        "site_packages": "auto",
        "runners_dir": None,
        "uid": 65534,
        "gid": 65534,
        "cpus": None,
        "cgroup_root": "/sys/fs/cgroup",
        "address_space_headroom_mb": 1536,
        "nofile": 1024,
        "output_limit_bytes": None,
        "extra_ro_binds": None,
        "model_dir": "auto",
        "probe_timeout": 30,
        "seccomp_mode": "allowlist",
        "warm_nice": 10,
    }

    # check_available() runs one trivial sandbox per distinct configuration per process
    # (until one succeeds).
    _probe_ok: set[str] = set()
    _probe_lock = threading.Lock()

    def __init__(self, **options: Any):
        super().__init__(**options)
        o = self.options
        self.bwrap = o["bwrap"] or shutil.which("bwrap") or "/usr/bin/bwrap"
        self.prlimit = o["prlimit"] or shutil.which("prlimit") or "/usr/bin/prlimit"
        self.setpriv = o["setpriv"] or shutil.which("setpriv") or "/usr/bin/setpriv"
        self.python_home = Path(o["python_home"] or sys.base_prefix)
        site = o["site_packages"]
        self.site_packages = (
            Path(site)
            if site and site != "auto"
            else (Path(p) if (p := _default_site_packages()) and site == "auto" else None)
        )
        self.runners_dir = Path(o["runners_dir"] or _default_runners_dir())
        self.uid, self.gid = int(o["uid"]), int(o["gid"])
        self.cpus = float(o["cpus"]) if o["cpus"] else float(min(2, os.cpu_count() or 1))
        self.root_mode = os.geteuid() == 0
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        self.python_name = f"python{version}"

    # -- availability -------------------------------------------------------------------

    def check_available(self) -> None:
        """Raise :class:`SandboxUnavailable` with the fix if bwrap cannot isolate jobs here."""
        tools = [(self.bwrap, "bubblewrap"), (self.prlimit, "util-linux")]
        if self.root_mode:
            tools.append((self.setpriv, "util-linux"))
        for tool, package in tools:
            if not (os.path.isfile(tool) and os.access(tool, os.X_OK)):
                name = os.path.basename(tool)
                raise SandboxUnavailable(
                    f"{name} is not installed: run `apt-get install -y {package}` (as root), "
                    "or choose LABS_SANDBOX_BACKEND='docker'."
                )
        interpreter = self.python_home / "bin" / self.python_name
        if not interpreter.is_file():
            raise SandboxUnavailable(
                f"No interpreter at {interpreter}: set LABS_SANDBOX_OPTIONS['python_home'] to the base "
                "prefix of the Python that has the runners' packages."
            )
        if not (self.runners_dir / "runners" / "__init__.py").is_file():
            raise SandboxUnavailable(f"The runners package is missing at {self.runners_dir}/runners.")
        problem = model_dir_problem(model_dir_option(self.options["model_dir"]))
        if problem:
            raise SandboxUnavailable(problem)
        if self.options["seccomp_mode"] not in seccomp.SECCOMP_MODES:
            raise SandboxUnavailable(
                f"Unknown LABS_SANDBOX_OPTIONS['seccomp_mode'] {self.options['seccomp_mode']!r}: "
                f"choose one of {', '.join(seccomp.SECCOMP_MODES)}."
            )
        try:
            os.close(seccomp.build_bpf(self.options["seccomp_mode"]))
        except (ImportError, OSError) as exc:
            raise SandboxUnavailable(
                f"Cannot build the seccomp filter ({exc}): run `pip install pyseccomp` in the worker's "
                "environment and `apt-get install -y libseccomp2`."
            ) from exc
        key = hashlib.sha256(repr(sorted(self.options.items())).encode()).hexdigest()
        with self._probe_lock:
            if key in self._probe_ok:
                return
            error = cgroups_unavailable_reason(Path(self.options["cgroup_root"]))
            if error:
                raise SandboxUnavailable(f"bubblewrap cannot limit jobs here: {error}")
            error = quota_unavailable_reason()
            if error:
                raise SandboxUnavailable(f"bubblewrap cannot limit jobs' disk here: {error}")
            error = self._probe()
            if error:
                # Not cached: the next check tries again (the host may have been fixed).
                raise SandboxUnavailable(error)
            self._probe_ok.add(key)

    def _probe(self) -> str | None:
        """Run ``print('sandbox-ok')`` in a sandbox; return an error message or None."""
        with tempfile.TemporaryDirectory(prefix="labs-probe-") as tmp:
            spec = JobSpec(
                job_id=f"probe-{uuid.uuid4().hex[:8]}",
                runner="probe",
                params={},
                limits=SandboxLimits(wall_seconds=int(self.options["probe_timeout"]), max_log_bytes=10_000),
                work_dir=Path(tmp) / "work",
            )
            inner = [f"/opt/python/bin/{self.python_name}", "-c", "print('sandbox-ok')"]
            try:
                handle = self._launch(spec, inner)
            except SandboxError as exc:
                return f"bubblewrap could not start a sandbox: {exc.message}"
            try:
                lines = [e.payload.get("line", "") for e in self.stream(handle) if e.type == "log"]
                status = self.wait(handle)
            finally:
                self.release_work_dir(spec.work_dir)
        if status.ok and "sandbox-ok" in lines:
            return None
        hint = (
            "Is the worker allowed to create namespaces? bwrap needs root, or unprivileged user "
            "namespaces (sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces > 0)."
        )
        tail = " | ".join(line for line in lines if line)[-800:]
        return f"bubblewrap could not run a trivial sandbox ({status.detail} Output: {tail or 'none'}). {hint}"

    # -- launch -------------------------------------------------------------------------

    def start(self, spec: JobSpec) -> BubblewrapHandle:
        """Write the inputs, then launch ``python -m gpu_workers.runners <runner>`` sandboxed.

        Call it from a thread that outlives the job (the worker's main thread, or the
        thread that calls :meth:`run`): ``--die-with-parent`` is the kernel's parent-death
        signal, which fires when the *thread* that started the sandbox exits.
        """
        if not spec.runner.isidentifier():
            raise SandboxError(f"Invalid runner name {spec.runner!r}.")
        from .pool import take_warm  # a warm sandbox of this process's pool, if one fits

        warm = take_warm(self, spec)
        if warm is not None:
            try:
                return self.assign_warm(warm, spec)
            except (SandboxError, OSError):
                # Never half-used: destroy it and start the job cold as if the pool were empty.
                self.destroy_warm(warm)
        inner = [
            f"/opt/python/bin/{self.python_name}",
            "-B",
            "-m",
            "gpu_workers.runners",
            spec.runner,
            "/work/spec.json",
        ]
        return self._launch(spec, inner)

    # -- warm sandboxes (see .pool) -------------------------------------------------------

    def config_key(self) -> str:
        """Two backends with the same key start identical sandboxes (a pool serves both)."""
        return f"{type(self).__module__}.{type(self).__qualname__}:{sorted(self.options.items())!r}"

    def start_warm(
        self, *, runner: str, limits: SandboxLimits, work_dir: Path, warm_imports: tuple[str, ...] = ()
    ) -> BubblewrapHandle:
        """Start a sandbox for a job that does not exist yet.

        Exactly what :meth:`start` launches for a job of ``runner`` with ``limits`` (same
        namespaces, seccomp filter, cgroup and rlimits, a fresh quota work dir at
        ``work_dir``, cleared environment), except that the process is the zygote
        (:mod:`gpu_workers.runners.zygote`): it imports ``warm_imports`` and then waits on
        stdin for one job. Call :meth:`wait_warm`, then :meth:`assign_warm` (once) or
        :meth:`destroy_warm`. Call it from a thread that outlives the sandbox (see
        :meth:`start`).
        """
        if not runner.isidentifier():
            raise SandboxError(f"Invalid runner name {runner!r}.")
        for name in warm_imports:
            if not all(part.isidentifier() for part in name.split(".")):
                raise SandboxError(f"Invalid module name {name!r} to import ahead.")
        spec = JobSpec(job_id=f"warm-{uuid.uuid4().hex[:12]}", runner=runner, params={}, limits=limits,
                       work_dir=work_dir)
        inner = [f"/opt/python/bin/{self.python_name}", "-B", "-m", "gpu_workers.runners.zygote", runner,
                 *warm_imports]
        handle = self._launch(spec, inner, warm=True)
        handle.warm_imports = tuple(warm_imports)
        return handle

    def wait_warm(self, handle: BubblewrapHandle, timeout: float = 120.0) -> str | None:
        """Block until the warm sandbox has done its imports. None when ready, else why not
        (it exited, or ``timeout`` passed; the caller destroys it)."""
        from gpu_workers.runners.zygote import READY

        proc = handle.process
        assert proc is not None and proc.stdout is not None and proc.stderr is not None
        marker = READY.encode() + b"\n"
        out = b""
        end = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            for pipe in (proc.stdout, proc.stderr):
                os.set_blocking(pipe.fileno(), False)
                selector.register(pipe.fileno(), selectors.EVENT_READ)
            while selector.get_map():
                left = end - time.monotonic()
                if left <= 0:
                    return f"its imports took more than {timeout:g} s"
                for key, _ in selector.select(min(left, 0.5)):
                    try:
                        data = os.read(key.fd, 65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        selector.unregister(key.fd)
                    elif key.fd == proc.stderr.fileno():
                        # Import-time warnings: not the job's output; kept for the error message.
                        handle.stderr_tail += data
                        del handle.stderr_tail[:-8192]
                    else:
                        out += data
                if marker in out:
                    handle.pending_stdout = out.split(marker, 1)[1]
                    handle.ready_at = time.monotonic()
                    return None
                if proc.poll() is not None and not selector.select(0):
                    break
        tail = bytes(handle.stderr_tail).decode("utf-8", "replace").strip().splitlines()[-3:]
        return f"it exited before it was ready ({' | '.join(tail) or 'no output'})"

    def assign_warm(self, handle: BubblewrapHandle, spec: JobSpec) -> BubblewrapHandle:
        """Hand one job to a ready warm sandbox; returns the handle to stream/stop/poll.

        The sandbox's work dir becomes ``spec.work_dir`` (same filesystem, see
        :func:`.workdirs.work_dir_rebind`), the job's inputs are written into it, and only
        then is the sandbox told to run. The wall-time limit counts from here.
        """
        from .workdirs import work_dir_rebind

        proc = handle.process
        assert proc is not None and proc.stdin is not None
        if not handle.warm or handle.taken_at is not None:
            raise SandboxError("This sandbox was already used: a warm sandbox runs exactly one job.")
        if handle.ready_at is None or proc.poll() is not None:
            raise SandboxError("The warm sandbox is not ready.", permanent=False)
        if spec.runner != handle.spec.runner:
            raise SandboxError(f"This sandbox was warmed for {handle.spec.runner!r}, not {spec.runner!r}.")
        try:
            with contextlib.suppress(FileNotFoundError):
                spec.work_dir.rmdir()  # an empty leftover dir; a mount or files there make rebind fail
            work_dir_rebind(handle.spec.work_dir, spec.work_dir)
        except OSError as exc:
            # Still untaken: destroy_warm releases its own work dir.
            raise SandboxError(f"Cannot give the warm sandbox its job's work dir: {exc}", permanent=False) from exc
        handle.taken_at = time.monotonic()
        handle.spec = spec  # from here on its work dir is the job's (released like a cold job's)
        write_inputs(spec)
        self._prepare_work_dir(spec.work_dir)
        # It warmed up at a lower priority; its job runs at the worker's own, as a cold one
        # does (a cold sandbox inherits it, e.g. `make run`'s WORKER_NICE).
        self._renice(handle, os.getpriority(os.PRIO_PROCESS, 0))
        handle.stderr_tail.clear()
        handle.started_at = time.monotonic()
        try:
            proc.stdin.write(json.dumps({"runner": spec.runner, "spec": "/work/spec.json"}).encode() + b"\n")
            proc.stdin.close()
        except OSError as exc:
            raise SandboxError(f"The warm sandbox did not take its job: {exc}", permanent=False) from exc
        return handle

    def _renice(self, handle: BubblewrapHandle, nice: int) -> None:
        if not (self.root_mode and self.options["warm_nice"] and handle.cgroups):
            return
        for pid in handle.cgroups.pids():
            with contextlib.suppress(OSError):
                for tid in os.listdir(f"/proc/{pid}/task"):
                    with contextlib.suppress(OSError):
                        os.setpriority(os.PRIO_PROCESS, int(tid), nice)

    def destroy_warm(self, handle: BubblewrapHandle) -> None:
        """Kill a warm sandbox that will run no job (or whose job is over) and remove its
        cgroups and pool work dir. Idempotent."""
        from .workdirs import work_dir_release

        with handle.lock:
            if handle.stop_reason is None and not handle.finished:
                handle.stop_reason = "killed"
        self._kill_tree(handle)
        if handle.process is not None:
            if handle.process.stdin is not None:
                with contextlib.suppress(OSError):
                    handle.process.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                handle.process.wait(timeout=10)
        self._finish(handle)
        if handle.taken_at is None:
            with contextlib.suppress(OSError):
                work_dir_release(handle.spec.work_dir)

    def _launch(self, spec: JobSpec, inner: list[str], *, warm: bool = False) -> BubblewrapHandle:
        limits = spec.limits
        if not os.path.exists(self.bwrap):
            raise SandboxUnavailable("bubblewrap is not installed: run `apt-get install -y bubblewrap` (as root).")
        job_ids = (self.uid, self.gid) if self.root_mode else (os.getuid(), os.getgid())
        work_dir = self.prepare_work_dir(spec, *job_ids)
        if not warm:  # a warm sandbox gets its job's inputs when a job takes it
            write_inputs(spec)
        self._prepare_work_dir(work_dir)

        handle = BubblewrapHandle(spec=spec, warm=warm)
        self._maybe_reap()
        fds: list[int] = []
        try:
            cg_name = f"{'' if warm else 'job-'}{_safe_name(spec.job_id)}-{uuid.uuid4().hex[:6]}"
            handle.cgroups = create_job_cgroups(Path(self.options["cgroup_root"]), cg_name)
            if handle.cgroups is not None:
                handle.cgroups.set_limits(
                    max_processes=limits.max_processes,
                    memory_bytes=limits.memory_mb * MiB,
                    cpus=self.cpus,
                )
                handle.notes.extend(handle.cgroups.notes)
            if handle.cgroups is None or not (handle.cgroups.limits_processes and handle.cgroups.limits_memory):
                # Never weaker than promised: rlimits alone do not bound a whole job.
                raise SandboxUnavailable(
                    "bubblewrap could not give this job its cgroup pids and memory limits ("
                    + ("; ".join(handle.notes) or "no cgroup hierarchy")
                    + ").",
                    permanent=False,
                )
            seccomp_fd = seccomp.build_bpf(self.options["seccomp_mode"])
            fds.append(seccomp_fd)
            argv = self._prlimit_args(limits, handle) + self._bwrap_args(spec, work_dir, seccomp_fd, fds)
            argv += self._identity_args() + inner
            if warm and self.root_mode and self.options["warm_nice"]:
                argv = ["/usr/bin/nice", "-n", str(int(self.options["warm_nice"])), *argv]
            launcher = ["/bin/sh", "-c", _LAUNCHER, "labs-sandbox", *argv]
            env = {
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                "LABS_CGROUP_PROCS": " ".join(str(p) for p in (handle.cgroups.procs_files if handle.cgroups else [])),
            }
            handle.started_at = time.monotonic()
            handle.process = subprocess.Popen(
                launcher,
                # A warm sandbox reads its one job from stdin (see gpu_workers.runners.zygote).
                stdin=subprocess.PIPE if warm else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                pass_fds=fds,
                cwd="/",
                # Our own process group: stop() can signal the launcher chain even
                # without cgroups. (bwrap --new-session moves the job to another session.)
                start_new_session=True,
            )
        except BaseException:
            if handle.cgroups:
                handle.cgroups.remove(timeout=1)
            raise
        finally:
            for fd in fds:
                os.close(fd)
        return handle

    _last_reap = 0.0

    def reap_stale(self) -> int:
        """At worker start: remove empty job cgroups left by a dead worker."""
        return reap_stale_cgroups(Path(self.options["cgroup_root"]), min_age=60.0)

    def _maybe_reap(self) -> None:
        # Groups of jobs whose worker died hard are removed here, at most every 10 min.
        now = time.monotonic()
        if now - BubblewrapBackend._last_reap > 600:
            BubblewrapBackend._last_reap = now
            reap_stale_cgroups(Path(self.options["cgroup_root"]))

    def _prepare_work_dir(self, work_dir: Path) -> None:
        if not self.root_mode:
            work_dir.chmod(0o700)
            return
        # The job runs as a real host uid, so it must own the one writable place.
        for dirpath, dirnames, filenames in os.walk(work_dir):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), self.uid, self.gid)
        os.chown(work_dir, self.uid, self.gid)
        work_dir.chmod(0o700)

    def _prlimit_args(self, limits: SandboxLimits, handle: BubblewrapHandle) -> list[str]:
        args = [
            self.prlimit,
            f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 5}",
            f"--fsize={limits.max_file_mb * MiB}",
            f"--nofile={self.options['nofile']}",
            "--core=0",
        ]
        headroom = self.options["address_space_headroom_mb"]
        if headroom is not None and limits.gpu_count == 0:
            args.append(f"--as={(limits.memory_mb + int(headroom)) * MiB}")
        # RLIMIT_NPROC counts every process of the uid on the host, other jobs' too, so
        # with a pids cgroup (the exact per-job limit) it is only a loose backstop.
        if handle.cgroups and handle.cgroups.limits_processes:
            nproc = max(limits.max_processes * 8, 512)
        else:
            nproc = limits.max_processes + (0 if self.root_mode else _count_tasks(os.getuid()))
            handle.notes.append("no pids cgroup: processes limited by RLIMIT_NPROC only")
        args.append(f"--nproc={nproc}")
        args.append("--")
        return args

    def _bwrap_args(self, spec: JobSpec, work_dir: Path, seccomp_fd: int, fds: list[int]) -> list[str]:
        limits = spec.limits
        threads = str(max(1, int(self.cpus)))
        args = [self.bwrap]
        if self.root_mode:
            # No user namespace: see the module docstring; setpriv drops to the job uid.
            args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
            args += ["--cap-drop", "ALL"]
            for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"):
                args += ["--cap-add", cap]
        else:
            args += ["--unshare-all", "--uid", str(self.uid), "--gid", str(self.gid), "--cap-drop", "ALL"]
        args += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]

        # Filesystem: an empty root with read-only system dirs, one writable /work.
        args += ["--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
        args += ["--dir", "/etc"]
        if os.path.exists("/etc/ld.so.cache"):
            args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
        for dest, text in (
            ("/etc/passwd", _PASSWD.format(uid=self.uid, gid=self.gid)),
            ("/etc/group", _GROUP.format(gid=self.gid)),
            ("/etc/hosts", _HOSTS),
            ("/etc/hostname", "sandbox\n"),
            ("/etc/nsswitch.conf", _NSSWITCH),
        ):
            fd = _data_fd(text)
            fds.append(fd)
            args += ["--perms", "0644", "--ro-bind-data", str(fd), dest]
        # bwrap creates missing parents as 0700 root dirs: make /opt traversable.
        args += ["--dir", "/opt", "--ro-bind", str(self.python_home), "/opt/python"]
        pythonpath = ["/opt/app"]
        if self.site_packages:
            args += ["--ro-bind", str(self.site_packages), "/opt/site"]
            pythonpath.append("/opt/site")
            # Hide the base interpreter's own site-packages, as the venv does for the
            # worker: the job sees exactly the venv's packages (and skips the base's
            # .pth files, which cost ~40 ms of start-up here).
            if (self.python_home / "lib" / self.python_name / "site-packages").is_dir():
                base_site = f"/opt/python/lib/{self.python_name}/site-packages"
                args += ["--size", str(MiB), "--tmpfs", base_site]
        args += ["--dir", "/opt/app", "--ro-bind", str(self.runners_dir), "/opt/app/gpu_workers"]
        for host_path, dest in (self.options["extra_ro_binds"] or {}).items():
            args += ["--ro-bind", str(host_path), str(dest)]
        # The model/dataset registry, read-only (looked up per sandbox: it may appear later).
        model_dir = model_dir_to_bind(self.options["model_dir"])
        if model_dir is not None:
            args += ["--ro-bind", str(model_dir), MODELS_MOUNT]
        args += ["--proc", "/proc", "--dev", "/dev"]
        # POSIX semaphores and shared memory (joblib, torch DataLoader workers) need a
        # writable /dev/shm; it is private to the job and counts against its memory.
        args += ["--perms", "1777", "--size", str(max(64, limits.memory_mb // 4) * MiB), "--tmpfs", SANDBOX_SHM]
        if limits.gpu_count:
            args += self._gpu_args(limits.gpu_count)
        # A private /tmp; tmpfs pages count against the memory cgroup anyway.
        tmp_mb = max(64, min(limits.memory_mb, 1024))
        args += ["--perms", "1777", "--size", str(tmp_mb * MiB), "--tmpfs", SANDBOX_TMP]
        # No --chdir: bwrap runs it before setpriv, as a root without CAP_DAC_OVERRIDE that
        # may not enter the 0700 work dir; the runner chdirs itself.
        args += ["--bind", str(work_dir), "/work"]
        args += ["--remount-ro", "/"]

        # Environment: nothing from the worker (no secrets), only what Python needs.
        args += ["--clearenv"]
        env = {
            "PATH": "/opt/python/bin:/usr/bin:/bin",
            "HOME": "/work",
            "USER": "nobody",
            "LANG": "C.UTF-8",
            "PYTHONPATH": ":".join(pythonpath),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "LD_LIBRARY_PATH": "/opt/python/lib",
            "TMPDIR": SANDBOX_TMP,
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "TORCH_NUM_THREADS": threads,
            "MALLOC_ARENA_MAX": "2",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "HF_HOME": "/work/.cache/huggingface",
            "MPLCONFIGDIR": f"{SANDBOX_TMP}/matplotlib",
            "LABS_SPEC": "/work/spec.json",
        }
        if limits.gpu_count:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(limits.gpu_count))
        for key, value in env.items():
            args += ["--setenv", key, value]
        args += ["--seccomp", str(seccomp_fd), "--"]
        return args

    def _identity_args(self) -> list[str]:
        if not self.root_mode:
            return []
        return [
            self.setpriv,
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ]

    def _gpu_args(self, count: int) -> list[str]:
        devices = sorted(Path("/dev").glob("nvidia[0-9]*"))
        if len(devices) < count:
            raise SandboxError(f"This job needs {count} GPU(s) but this host has {len(devices)}.", permanent=False)
        args: list[str] = []
        for dev in devices[:count]:
            args += ["--dev-bind", str(dev), str(dev)]
        for extra in ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"):
            args += ["--dev-bind-try", f"/dev/{extra}", f"/dev/{extra}"]
        return args

    # -- running --------------------------------------------------------------------------

    def stream(self, handle: SandboxHandle) -> Iterator[RunnerEvent]:
        """Yield events until the job exits; enforce wall time and output limits."""
        assert isinstance(handle, BubblewrapHandle) and handle.process is not None
        proc = handle.process
        handle.streaming = True
        limits = handle.spec.limits
        parser = EventParser(limits.max_log_bytes)
        output_limit = self.options["output_limit_bytes"] or max(16 * limits.max_log_bytes, 64 * MiB)
        selector = selectors.DefaultSelector()
        streams = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr"}  # type: ignore[union-attr]
        for fd in streams:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        exited_at: float | None = None
        try:
            if handle.pending_stdout:
                yield from parser.feed("stdout", handle.pending_stdout)
                handle.pending_stdout = b""
            while selector.get_map():
                now = time.monotonic()
                if now >= handle.deadline and handle.stop_reason is None and proc.poll() is None:
                    self.stop(handle, "timed_out")
                    yield parser.notice(f"Stopped: the {limits.wall_seconds} s time limit was reached.")
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if exited_at is not None and now - exited_at > 2.0:
                    # The job's init has exited, yet something still holds the pipes:
                    # nothing legitimate does, so sweep the cgroup and stop reading.
                    self._kill_tree(handle)
                    break
                timeout = max(0.0, min(0.5, handle.deadline - now)) if handle.stop_reason is None else 0.2
                for key, _ in selector.select(timeout):
                    fd = key.fd
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        selector.unregister(fd)
                        continue
                    if streams[fd] == "stderr":
                        handle.stderr_tail += data
                        del handle.stderr_tail[:-8192]
                    yield from parser.feed(streams[fd], data)
                    if parser.raw_bytes > output_limit and handle.stop_reason is None:
                        self.stop(handle, "output_limit")
                        yield parser.notice(f"Stopped: the job wrote more than {output_limit} bytes of output.")
            yield from parser.close()
            if handle.warm:
                # Last, so the runner's own events keep their sequence numbers.
                yield parser.notice(
                    "Ran in a warm sandbox: started before this job"
                    + (f" with {', '.join(handle.warm_imports)} already imported" if handle.warm_imports else "")
                    + ", used for this job only and then destroyed."
                )
            if handle.stop_reason is None and proc.poll() is None:
                # Output closed but the launcher lingers: give it a moment, then kill.
                try:
                    proc.wait(timeout=max(0.1, min(5.0, handle.deadline - time.monotonic())))
                except subprocess.TimeoutExpired:
                    self.stop(handle, "timed_out" if time.monotonic() >= handle.deadline else "killed")
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        finally:
            selector.close()
            if proc.poll() is None:
                # The consumer walked away (generator closed) or an error: never leave a job.
                self.stop(handle, "killed")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
            handle.stream_done.set()
            self._finish(handle)

    def stop(self, handle: SandboxHandle, reason: str = "cancelled") -> None:
        """Kill the job's whole tree (cgroup sweep + launcher group). Idempotent."""
        assert isinstance(handle, BubblewrapHandle)
        with handle.lock:
            if handle.stop_reason is None and not handle.finished:
                handle.stop_reason = reason
        self._kill_tree(handle)

    def _kill_tree(self, handle: BubblewrapHandle) -> None:
        proc = handle.process
        if proc is not None and proc.poll() is None:
            # The launcher chain (sh -> prlimit -> bwrap) is our process group; killing
            # bwrap tears down the job's pid namespace (--die-with-parent on its init).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if handle.cgroups:
            handle.cgroups.kill_all()

    def poll(self, handle: SandboxHandle) -> ExitStatus | None:
        """The final status once the launcher has exited, else None (enforces wall time)."""
        assert isinstance(handle, BubblewrapHandle) and handle.process is not None
        if handle.status is not None:
            return handle.status
        if handle.process.poll() is None:
            if time.monotonic() >= handle.deadline:
                self.stop(handle, "timed_out")
            return None
        if handle.streaming and not handle.stream_done.is_set():
            # Output may still be buffered: the stream finishes the job once drained.
            return None
        self._finish(handle)
        return handle.status

    def _finish(self, handle: BubblewrapHandle) -> None:
        """Compute the status and clean up, exactly once.

        The status is published only after the cleanup, so a caller that sees it (poll,
        wait, run) knows no process and no cgroup of the job is left.
        """
        with handle.lock:
            if handle.finished:
                return
            proc = handle.process
            assert proc is not None
            if proc.poll() is None:
                return
            handle.finished = True
        oom = bool(handle.cgroups and handle.cgroups.oom_killed())
        code = proc.returncode
        if code < 0:
            # The launcher itself was signalled (our stop): report it like a shell would.
            code = 128 - code
        status = classify_exit(
            handle.spec.limits,
            code,
            stop_reason=handle.stop_reason,
            oom_killed=oom,
            stderr_tail=bytes(handle.stderr_tail).decode("utf-8", errors="replace"),
            launcher_failed=code == _LAUNCHER_FAILED and not handle.stderr_tail.strip(),
            disk_full=work_dir_full(handle.spec.work_dir),
        )
        if handle.cgroups:
            status.usage = handle.cgroups.usage()
            handle.cgroups.kill_all()
            handle.cgroups.remove()
            handle.notes.extend(n for n in handle.cgroups.notes if n not in handle.notes)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        with handle.lock:
            handle.status = status


def _safe_name(job_id: str) -> str:
    return "".join(c for c in job_id if c.isalnum() or c in "-_")[:40] or "job"


def _data_fd(text: str) -> int:
    fd = os.memfd_create("labs-etc", 0)
    os.write(fd, text.encode())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _count_tasks(uid: int) -> int:
    """Threads owned by ``uid`` right now (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if entry.stat().st_uid == uid:
                count += len(os.listdir(f"/proc/{entry.name}/task"))
    return count
