"""The Docker backend: production isolation through the Docker Engine API (docker SDK).

Each job is one container from the runner image with a hardened HostConfig: no network,
read-only root filesystem, uid 65534, every capability dropped, no-new-privileges, the
shared seccomp policy (:mod:`.seccomp`, as JSON text), memory == memory+swap, a CPU and
pids quota, rlimits for file size / open files / core dumps / CPU time, a private
``/tmp`` tmpfs and the job's work dir bind-mounted at ``/work``. GPUs are requested with
``device_requests`` (the NVIDIA container toolkit must be installed on the node).

Logs are read from ``GET /containers/{id}/logs?follow=1`` (8-byte multiplexed frames,
demultiplexed here) and parsed with the same :class:`~.events.EventParser` as every
backend. The container is removed once its status has been read.

The work dir is the job's own size-limited mount (:mod:`.workdirs`, made by the worker
like for bubblewrap) bound at ``/work``. With ``path_map`` (a worker in a container), the
work root must be a shared mount (``rshared``) so the engine sees the per-job mounts.

Containers carry the worker's identity (host, pid, process start time) in labels: at
worker start :meth:`DockerBackend.reap_stale` removes the containers of a dead worker of
this host (a container does not die with its worker), and a retry first removes whatever
an earlier attempt of the same job left, so names never collide.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import threading
import time
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
    SandboxUnavailable,
    classify_exit,
    write_inputs,
)
from .events import RunnerEvent
from .log_follow import follow_log_queue, put_until_abandoned
from .models_mount import MODELS_MOUNT, model_dir_option, model_dir_problem, model_dir_to_bind
from .workdirs import quota_unavailable_reason, work_dir_full

MiB = 1024 * 1024
SANDBOX_TMP = "/tmp"  # noqa: S108 - the container's private tmpfs
API_VERSION = "1.43"
STREAMS = {1: "stdout", 2: "stderr"}
LABEL_JOB = "genai-labs.job-id"
LABEL_HOST = "genai-labs.worker-host"
LABEL_PID = "genai-labs.worker-pid"
LABEL_STARTED = "genai-labs.worker-started"


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its ")".
    return stat.rpartition(")")[2].split()[19]


def worker_labels() -> dict[str, str]:
    """Labels naming this worker process (the one that starts and watches the container)."""
    pid = os.getpid()
    return {LABEL_HOST: socket.gethostname(), LABEL_PID: str(pid), LABEL_STARTED: _process_start(pid) or ""}


def worker_alive(labels: dict[str, str]) -> bool:
    """Whether the worker process named by ``labels`` (of this host) still runs."""
    try:
        pid = int(labels.get(LABEL_PID, ""))
    except ValueError:
        return False
    started = _process_start(pid)
    return started is not None and started == labels.get(LABEL_STARTED)


@dataclass
class DockerHandle(SandboxHandle):
    """State of one container job."""

    container_id: str = ""
    stderr_tail: bytearray = field(default_factory=bytearray)
    streaming: bool = False
    stream_done: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    exit_code: int | None = None


class DockerBackend(SandboxBackend):
    """Runs jobs as hardened containers.

    Options (``LABS_SANDBOX_OPTIONS``):

    ``image``: the runner image (contains ``gpu_workers`` and its Python deps).
    ``base_url``: engine address (default ``$DOCKER_HOST`` or the local unix socket).
    ``cpus``: CPU quota (nano_cpus). ``runtime``: e.g. ``"runsc"`` for gVisor.
    ``path_map``: ``{worker_prefix: host_prefix}`` when the worker runs in a container
       and sees the work dirs at another path than the engine does.
    ``uid``/``gid``: the job's identity. ``tmp_mb``: size of the /tmp tmpfs.
    ``keep_containers``: leave finished containers for debugging (default False).
    ``timeout``: seconds for ordinary engine calls. ``output_limit_bytes``: as bubblewrap.
    ``model_dir``: the registry folder mounted read-only at /models (as bubblewrap's option).
    """

    name = "docker"
    option_defaults: dict[str, Any] = {
        "image": "genai-labs-runner:latest",
        "base_url": None,
        "cpus": 2.0,
        "runtime": None,
        "path_map": None,
        "uid": 65534,
        "gid": 65534,
        "tmp_mb": 512,
        "keep_containers": False,
        "timeout": 30,
        "output_limit_bytes": None,
        "model_dir": "auto",
        "command": ["python", "-B", "-m", "gpu_workers.runners"],
    }

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.base_url = self.options["base_url"] or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        self._client: Any = None
        self._client_lock = threading.Lock()

    # -- engine ---------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                try:
                    import docker
                except ImportError as exc:
                    raise SandboxUnavailable("The docker SDK is missing: `pip install docker==7.2.0`.") from exc
                # A pinned API version: the client does not call /version on creation.
                self._client = docker.DockerClient(
                    base_url=self.base_url, version=API_VERSION, timeout=self.options["timeout"]
                )
            return self._client

    def check_available(self) -> None:
        """Ping the engine and look up the runner image."""
        import docker.errors
        import requests

        try:
            self.client.ping()
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise SandboxUnavailable(
                f"No Docker engine answers at {self.base_url} ({exc}). Start dockerd, or point "
                "LABS_SANDBOX_OPTIONS['base_url'] / DOCKER_HOST at a running engine."
            ) from exc
        image = self.options["image"]
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound as exc:
            raise SandboxUnavailable(
                f"The runner image {image!r} is not on this engine: build it with "
                f"`docker build -f docker/sandbox-cpu.Dockerfile -t {image} .` from the repository root "
                "(docker/sandbox-gpu.Dockerfile on a GPU worker) or pull it."
            ) from exc
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise SandboxUnavailable(f"Docker engine error while looking up {image!r}: {exc}") from exc
        error = quota_unavailable_reason()
        if error:
            raise SandboxUnavailable(f"The docker backend cannot limit jobs' disk here: {error}")
        error = model_dir_problem(model_dir_option(self.options["model_dir"]))
        if error:
            raise SandboxUnavailable(error)

    # -- launch -----------------------------------------------------------------------------

    def job_identity(self) -> tuple[int, int]:
        """uid:gid of the job. A non-root worker cannot hand the work dir to another uid,
        so its jobs run as the worker's own (unprivileged) uid instead."""
        if os.geteuid() == 0:
            return int(self.options["uid"]), int(self.options["gid"])
        return os.getuid(), os.getgid()

    def host_path(self, path: Path) -> str:
        """The work dir as the engine sees it (see the ``path_map`` option)."""
        text = str(path)
        for prefix, host_prefix in (self.options["path_map"] or {}).items():
            if text == prefix or text.startswith(prefix.rstrip("/") + "/"):
                return host_prefix.rstrip("/") + text[len(prefix.rstrip("/")) :]
        return text

    def container_kwargs(self, spec: JobSpec) -> dict[str, Any]:
        """Everything passed to ``containers.create`` (tests assert on the result)."""
        from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

        limits = spec.limits
        threads = str(max(1, int(self.options["cpus"])))
        memory = limits.memory_mb * MiB
        kwargs: dict[str, Any] = {
            "image": self.options["image"],
            "command": [*self.options["command"], spec.runner, "/work/spec.json"],
            "name": f"labjob-{spec.job_id}",
            "user": "{}:{}".format(*self.job_identity()),
            "working_dir": "/work",
            "hostname": "sandbox",
            "environment": {
                "HOME": "/work",
                "LABS_SPEC": "/work/spec.json",
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1",
                "OMP_NUM_THREADS": threads,
                "MKL_NUM_THREADS": threads,
                "OPENBLAS_NUM_THREADS": threads,
                "MALLOC_ARENA_MAX": "2",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "HF_DATASETS_OFFLINE": "1",
                "TMPDIR": SANDBOX_TMP,
            },
            "labels": {
                LABEL_JOB: spec.job_id,
                "genai-labs.runner": spec.runner,
                **worker_labels(),
            },
            "detach": True,
            "tty": False,
            "stdin_open": False,
            # HostConfig: the isolation.
            "network_mode": "none",
            "network_disabled": True,
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true", f"seccomp={seccomp.docker_profile()}"],
            "mem_limit": memory,
            "memswap_limit": memory,
            "nano_cpus": int(float(self.options["cpus"]) * 1e9),
            "pids_limit": limits.max_processes,
            "tmpfs": {SANDBOX_TMP: f"rw,nosuid,nodev,size={int(self.options['tmp_mb'])}m"},
            "shm_size": max(64, limits.memory_mb // 4) * MiB,
            "mounts": [Mount(target="/work", source=self.host_path(spec.work_dir.resolve()), type="bind")],
            "ulimits": [
                Ulimit(name="fsize", soft=limits.max_file_mb * MiB, hard=limits.max_file_mb * MiB),
                Ulimit(name="nofile", soft=1024, hard=1024),
                Ulimit(name="core", soft=0, hard=0),
                Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds + 5),
            ],
            "ipc_mode": "private",
            "init": True,  # reaps orphans and forwards signals
            "oom_score_adj": 500,  # the job dies before anything else on the node
            # Bounded on-disk logs: the engine keeps at most this much of a chatty job.
            "log_config": LogConfig(
                type="json-file", config={"max-size": f"{max(1, limits.max_log_bytes * 4 // MiB)}m", "max-file": "1"}
            ),
        }
        if limits.gpu_count > 0:
            kwargs["device_requests"] = [DeviceRequest(count=limits.gpu_count, capabilities=[["gpu"]])]
            kwargs["environment"]["NVIDIA_VISIBLE_DEVICES"] = "all"
        if self.options["runtime"]:
            kwargs["runtime"] = self.options["runtime"]
        model_dir = model_dir_to_bind(self.options["model_dir"])
        if model_dir is not None:
            kwargs["mounts"].append(Mount(target=MODELS_MOUNT, source=self.host_path(model_dir.resolve()), type="bind",
                                          read_only=True))
        return kwargs

    def start(self, spec: JobSpec) -> DockerHandle:
        """Write the inputs, create the hardened container and start it."""
        import docker.errors
        import requests

        if not spec.runner.isidentifier():
            raise SandboxError(f"Invalid runner name {spec.runner!r}.")
        uid, gid = self.job_identity()
        self.prepare_work_dir(spec, uid, gid)
        write_inputs(spec)
        _give_work_dir_to(spec.work_dir, uid, gid)
        handle = DockerHandle(spec=spec)
        try:
            # An earlier attempt of this job (its worker died) may still run or hold the
            # name: only one attempt may ever run, so it goes first.
            self._remove_containers({LABEL_JOB: spec.job_id})
            container = self.client.containers.create(**self.container_kwargs(spec))
            handle.container_id = container.id
            handle.started_at = time.monotonic()
            container.start()
        except docker.errors.ImageNotFound as exc:
            raise SandboxError(
                f"The runner image {self.options['image']!r} is missing on this node.", permanent=False
            ) from exc
        except (docker.errors.DockerException, requests.RequestException) as exc:
            if handle.container_id:
                self._remove(handle)
            raise SandboxError(f"Docker could not start the job: {exc}", permanent=False) from exc
        return handle

    # -- running ----------------------------------------------------------------------------

    def _read_logs(self, handle: DockerHandle, out: queue.Queue) -> None:
        """Thread: follow the container's logs, demultiplex frames, queue the chunks."""

        def put(item: tuple[str, str, Any]) -> None:
            put_until_abandoned(out, item, handle.stream_done)

        api = self.client.api
        try:
            # The SDK's logs() drops the stream id (stdout vs stderr), so this reads the
            # endpoint itself and demultiplexes the 8-byte frame headers.
            response = api._get(
                api._url("/containers/{0}/logs", handle.container_id),
                params={"follow": 1, "stdout": 1, "stderr": 1, "timestamps": 0},
                stream=True,
                timeout=None,  # a job may be silent for minutes
            )
            api._raise_for_status(response)
            raw = response.raw
            while True:
                header = _read_exact(raw, 8)
                if len(header) < 8:
                    break
                stream_id = header[0]
                size = int.from_bytes(header[4:8], "big")
                remaining = size
                while remaining:
                    chunk = raw.read(min(remaining, 65536))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                    put(("data", STREAMS.get(stream_id, "stdout"), chunk))
                if remaining:
                    break
            response.close()
        except Exception as exc:
            put(("error", "", exc))
        put(("eof", "", b""))

    def stream(self, handle: SandboxHandle) -> Iterator[RunnerEvent]:
        """Yield events from the container's log stream until it ends."""
        assert isinstance(handle, DockerHandle)
        try:
            yield from follow_log_queue(self, handle, self._read_logs, thread_name=f"docker-logs-{handle.spec.job_id}")
            self._wait_exit(handle)
        finally:
            if handle.exit_code is None and not handle.finished and handle.stop_reason is None:
                self.stop(handle, "killed")
            handle.stream_done.set()
            self._finish(handle)

    def _wait_exit(self, handle: DockerHandle) -> None:
        remaining = handle.deadline - time.monotonic()
        try:
            result = self.client.api.wait(handle.container_id, timeout=max(5.0, min(60.0, remaining + 5)))
            handle.exit_code = int(result.get("StatusCode", -1))
        except Exception:
            self.stop(handle, "timed_out" if time.monotonic() >= handle.deadline else "killed")

    def stop(self, handle: SandboxHandle, reason: str = "cancelled") -> None:
        """Kill the container (its whole process tree). Idempotent, thread-safe."""
        assert isinstance(handle, DockerHandle)
        with handle.lock:
            if handle.stop_reason is None and not handle.finished:
                handle.stop_reason = reason
            if handle.finished:
                return
        with contextlib.suppress(Exception):  # already gone or not running: nothing to kill
            self.client.api.kill(handle.container_id, signal="SIGKILL")
        if not handle.streaming:
            # Nobody reads its logs: record the status and remove the container now.
            self._finish(handle)

    def poll(self, handle: SandboxHandle) -> ExitStatus | None:
        """Final status, or None while the container runs (enforces wall time)."""
        assert isinstance(handle, DockerHandle)
        if handle.status is not None:
            return handle.status
        if handle.streaming and not handle.stream_done.is_set():
            if time.monotonic() >= handle.deadline:
                self.stop(handle, "timed_out")
            return None
        state = self._inspect(handle).get("State", {})
        if state.get("Running"):
            if time.monotonic() >= handle.deadline:
                self.stop(handle, "timed_out")
            return None
        self._finish(handle)
        return handle.status

    def _inspect(self, handle: DockerHandle) -> dict:
        try:
            return self.client.api.inspect_container(handle.container_id)
        except Exception:
            return {}

    def _finish(self, handle: DockerHandle) -> None:
        with handle.lock:
            if handle.finished:
                return
            state = self._inspect(handle).get("State", {})
            if state.get("Running"):
                return
            handle.finished = True
            code = handle.exit_code if handle.exit_code is not None else state.get("ExitCode")
            handle.status = classify_exit(
                handle.spec.limits,
                code,
                stop_reason=handle.stop_reason,
                oom_killed=bool(state.get("OOMKilled")),
                stderr_tail=bytes(handle.stderr_tail).decode("utf-8", errors="replace"),
                disk_full=work_dir_full(handle.spec.work_dir),
            )
        if not self.options["keep_containers"]:
            self._remove(handle)

    def _remove_containers(self, labels: dict[str, str], *, unless_alive: bool = False) -> int:
        """Force-remove (kill) containers carrying ``labels``; return how many."""
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        removed = 0
        for info in self.client.api.containers(all=True, filters=filters):
            if unless_alive and worker_alive(info.get("Labels") or {}):
                continue
            with contextlib.suppress(Exception):  # gone meanwhile: fine
                self.client.api.remove_container(info["Id"], force=True, v=True)
                removed += 1
        return removed

    def reap_stale(self) -> int:
        """At worker start: remove the containers of dead workers of this host."""
        import docker.errors
        import requests

        try:
            return self._remove_containers({LABEL_HOST: socket.gethostname()}, unless_alive=True)
        except (docker.errors.DockerException, requests.RequestException, OSError):
            return 0  # no engine yet: jobs will report it; nothing to clean either

    def _remove(self, handle: DockerHandle) -> None:
        with contextlib.suppress(Exception):
            self.client.api.remove_container(handle.container_id, force=True, v=True)


def _read_exact(raw: Any, size: int) -> bytes:
    buf = b""
    while len(buf) < size:
        chunk = raw.read(size - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def _give_work_dir_to(work_dir: Path, uid: int, gid: int) -> None:
    """Make the job's uid the owner of its one writable place."""
    if (os.geteuid(), os.getegid()) != (uid, gid):
        for dirpath, dirnames, filenames in os.walk(work_dir):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), uid, gid)
        os.chown(work_dir, uid, gid)
    work_dir.chmod(0o700)
