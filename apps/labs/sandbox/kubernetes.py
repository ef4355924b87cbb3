"""The Kubernetes backend: each lab job is one Kubernetes Job (official ``kubernetes`` client).

For workers that run in a cluster (``LABS_SANDBOX_BACKEND=kubernetes``). Each job becomes a
``batch/v1`` Job with one pod and one container from the sandbox image, hardened like the
docker backend's container:

- no service account token (``automountServiceAccountToken: false``), no service links,
  no host network / PID / IPC, no privilege, no privilege escalation;
- ``runAsNonRoot`` as uid 65534, read-only root filesystem, every capability dropped,
  seccomp ``RuntimeDefault``; a RuntimeClass (gVisor ``runsc``) when configured;
- no egress at all: the pod carries the ``app.kubernetes.io/component: lab-sandbox`` label
  that the ``labs-sandbox-deny-all`` NetworkPolicy (``k8s/base/networkpolicies.yaml``)
  selects, with no ingress or egress rule;
- CPU / memory (/ ``nvidia.com/gpu`` for GPU jobs, on the GPU pool by node selector and
  tolerations) requests == limits, ephemeral storage limited, ``/tmp`` and ``/dev/shm``
  as size-limited memory volumes, ``activeDeadlineSeconds``, ``backoffLimit: 0`` and a
  TTL so nothing lingers; rlimits (file size, open files, core, CPU time) and a umask are
  applied by a small launcher (:data:`LAUNCHER`, passed inline in the Job spec) which
  also tags each output line with its stream: Kubernetes merges stdout and stderr in a
  pod's log, the contract keeps them apart.
- the only volumes: the job's work dir (a ``subPath`` of the shared work-volume claim,
  which the worker mounts at ``work_root``), the optional read-only model directory
  (a read-only claim, or a read-only ``hostPath``: the one host path allowed), and the
  memory volumes above.

Logs are followed with ``read_namespaced_pod_log(follow=True)`` and parsed by the same
:class:`~.events.EventParser` as every backend. Cancel deletes the Job (propagation
``Background``) and its pod with grace 0, so the job dies at once. Each Job names its worker pod as owner
(``ownerReferences``, from ``POD_NAME`` / ``POD_UID`` set by the Downward API), so the
cluster's garbage collector deletes the Jobs of a deleted worker pod; and at worker start
:meth:`KubernetesBackend.reap_stale` deletes the Jobs whose worker process or pod is
gone (a worker container that restarted in the same pod). A retry deletes whatever an
earlier attempt of the same job left before creating its Job.

Differences from the docker backend, said plainly: a pod has no pids limit of its own
(the kubelet's ``podPidsLimit`` applies node-wide), and the work dir lives on the shared
work volume, so its size bound is the storage's (a per-directory quota on the volume, or
the volume's size), not a per-job tmpfs.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

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
from .docker import LABEL_HOST, LABEL_JOB, worker_alive, worker_labels
from .events import RunnerEvent
from .log_follow import follow_log_queue, put_until_abandoned

MiB = 1024 * 1024
COMPONENT_LABEL = "app.kubernetes.io/component"
COMPONENT = "lab-sandbox"
APP_LABELS = {
    "app.kubernetes.io/name": "genai-labs",
    "app.kubernetes.io/part-of": "genai-labs",
    COMPONENT_LABEL: COMPONENT,
}
LABEL_RUNNER = "genai-labs.runner"
#: Container waiting reasons that never fix themselves while the job waits.
HOPELESS_WAITING = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError"}

#: Runs inside the sandbox container as its main process (``python -c LAUNCHER runner spec``):
#: applies the rlimits in ``$LABS_RLIMITS`` and umask 007 to the runner, forwards SIGTERM,
#: and writes every output chunk as ``o|...`` (stdout) or ``e|...`` (stderr); a chunk that
#: did not end a line is tagged ``O|`` / ``E|`` and gets a newline only for the log.
#: Chunks stay under the container runtime's 16 KiB log-line split.
LAUNCHER = r"""
import os, resource, signal, subprocess, sys, threading
R = {"fsize": resource.RLIMIT_FSIZE, "nofile": resource.RLIMIT_NOFILE,
     "core": resource.RLIMIT_CORE, "cpu": resource.RLIMIT_CPU}
def limits():
    os.umask(0o007)
    for item in filter(None, os.environ.get("LABS_RLIMITS", "").split(",")):
        name, _, value = item.partition("=")
        soft, _, hard = value.partition(":")
        resource.setrlimit(R[name], (int(soft), int(hard or soft)))
child = subprocess.Popen([sys.executable, "-B", "-m", "gpu_workers.runners", *sys.argv[1:]],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limits)
for signum in (signal.SIGTERM, signal.SIGINT):
    signal.signal(signum, lambda n, f: child.send_signal(n))
out, lock = sys.stdout.buffer, threading.Lock()
def pump(src, tag):
    while True:
        chunk = src.readline(8192)
        if not chunk:
            return
        whole = chunk.endswith(b"\n")
        with lock:
            out.write((tag if whole else tag.upper()) + b"|" + chunk + (b"" if whole else b"\n"))
            out.flush()
threads = [threading.Thread(target=pump, args=(child.stdout, b"o")),
           threading.Thread(target=pump, args=(child.stderr, b"e"))]
for t in threads:
    t.start()
for t in threads:
    t.join()
code = child.wait()
sys.exit(128 - code if code < 0 else code)
"""

_TAGS = {b"o": ("stdout", True), b"e": ("stderr", True), b"O": ("stdout", False), b"E": ("stderr", False)}


def job_name(job_id: str) -> str:
    """A DNS-1123 name for the job's Kubernetes Job (``labjob-<id>``, at most 63 chars)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", str(job_id).lower()).strip("-")[:48].strip("-")
    if not slug:
        raise SandboxError(f"Invalid job id {job_id!r}.")
    return f"labjob-{slug}"


def label_value(value: str) -> str:
    """A valid label value (63 chars of ``[A-Za-z0-9._-]``, alphanumeric at both ends)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(value))[:63].strip("-._")


@dataclass
class KubernetesHandle(SandboxHandle):
    """State of one Job."""

    name: str = ""
    pod_name: str = ""
    stderr_tail: bytearray = field(default_factory=bytearray)
    streaming: bool = False
    stream_done: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    terminated: dict = field(default_factory=dict)
    deleted: bool = False


class KubernetesBackend(SandboxBackend):
    """Runs jobs as hardened Kubernetes Jobs.

    Options (``LABS_SANDBOX_OPTIONS``, filled from the ``LABS_KUBERNETES_*`` settings):

    ``api_url``: API server URL (default: in-cluster config, else ``~/.kube/config``).
    ``namespace``: where Jobs are created (the worker's own: the work claim is namespaced).
    ``image`` / ``gpu_image``: sandbox images for CPU and GPU jobs.
    ``runtime_class`` / ``gpu_runtime_class``: RuntimeClass names (e.g. ``gvisor``); GPU
       jobs use ``gpu_runtime_class`` or else ``runtime_class``.
    ``work_claim``: the shared work volume's PersistentVolumeClaim; ``work_root``: where
       the worker mounts it (job dirs must lie under it; the Job mounts its subPath).
    ``model_claim`` / ``model_host_path``: the read-only model directory at ``/models``.
    ``service_account``: the sandbox's service account (no RBAC; its token is not mounted).
    ``cpus``: CPU request == limit. ``tmp_mb``: size of ``/tmp``.
    ``node_selector`` / ``tolerations``: for CPU jobs; ``gpu_node_selector`` /
       ``gpu_tolerations``: for GPU jobs (the GPU pool). ``pending_timeout``: seconds a job
       may wait for a node and its image. ``uid``/``gid``: the job's identity.
    ``ttl_seconds``: finished Jobs are deleted by the cluster after this (backstop).
    ``keep_jobs``: leave finished Jobs for debugging. ``timeout``: seconds per API call.
    ``owner_pod``: ``{"name", "uid"}`` of the worker pod (default ``$POD_NAME``/``$POD_UID``).
    """

    name = "kubernetes"
    option_defaults: dict[str, Any] = {
        "api_url": None,
        "namespace": "genai-labs",
        "image": "genai-labs-sandbox-cpu:latest",
        "gpu_image": "genai-labs-sandbox-gpu:latest",
        "runtime_class": None,
        "gpu_runtime_class": None,
        "work_claim": "labs-work",
        "work_root": "/data/labs",
        "model_claim": None,
        "model_host_path": None,
        "service_account": "labs-sandbox",
        "cpus": 2.0,
        "tmp_mb": 512,
        "node_selector": None,
        "tolerations": None,
        "gpu_node_selector": {"genai-labs/pool": "gpu"},
        "gpu_tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "pending_timeout": 300,
        "uid": 65534,
        "gid": 65534,
        "ttl_seconds": 600,
        "keep_jobs": False,
        "timeout": 30,
        "output_limit_bytes": None,
        "owner_pod": None,
    }

    def __init__(self, **options: Any):
        super().__init__(**options)
        self._api: Any = None
        self._api_lock = threading.Lock()

    # -- API --------------------------------------------------------------------------------

    @property
    def api(self) -> Any:
        """The client's ``ApiClient`` (made on first use; needs no cluster until then)."""
        with self._api_lock:
            if self._api is None:
                try:
                    from kubernetes import client, config
                except ImportError as exc:
                    raise SandboxUnavailable("The kubernetes client is missing: `pip install kubernetes`.") from exc
                configuration = client.Configuration()
                if self.options["api_url"]:
                    configuration.host = self.options["api_url"].rstrip("/")
                else:
                    try:
                        config.load_incluster_config(client_configuration=configuration)
                    except config.ConfigException:
                        try:
                            config.load_kube_config(client_configuration=configuration)
                        except (config.ConfigException, OSError) as exc:
                            raise SandboxUnavailable(
                                "No Kubernetes API configured: run the worker in the cluster (service account "
                                "with the labs-worker Role) or set LABS_KUBERNETES_API_URL / a kubeconfig."
                            ) from exc
                configuration.retries = 1
                self._api = client.ApiClient(configuration)
            return self._api

    @property
    def batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api)

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    @property
    def namespace(self) -> str:
        return self.options["namespace"]

    def check_available(self) -> None:
        """The API answers and lets us list Jobs; the work root is here and writable."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            self.batch.list_namespaced_job(
                self.namespace,
                limit=1,
                label_selector=f"{COMPONENT_LABEL}={COMPONENT}",
                _request_timeout=self.options["timeout"],
            )
        except ApiException as exc:
            raise SandboxUnavailable(
                f"The Kubernetes API refused to list Jobs in {self.namespace!r} ({exc.status} {exc.reason}): "
                "bind the worker's service account to the labs-worker Role (k8s/base/rbac.yaml)."
            ) from exc
        except (HTTPError, OSError) as exc:
            raise SandboxUnavailable(f"No Kubernetes API answers at {self.api.configuration.host} ({exc}).") from exc
        root = Path(self.options["work_root"])
        if not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
            raise SandboxUnavailable(
                f"The work root {root} (the {self.options['work_claim']!r} claim) is not mounted writable "
                "in this worker: mount the claim there or set LABS_KUBERNETES_WORK_ROOT."
            )

    # -- work dir ------------------------------------------------------------------------------

    def sub_path(self, work_dir: Path) -> str:
        """The job dir relative to the work claim's root (the Job mounts only that)."""
        root = Path(self.options["work_root"]).resolve()
        path = Path(work_dir).resolve()
        if not path.is_relative_to(root) or path == root:
            raise SandboxError(f"The job's work dir {work_dir} is not inside the work root {root}.")
        return path.relative_to(root).as_posix()

    def prepare_work_dir(self, spec: JobSpec, uid: int, gid: int) -> Path:
        """A fresh job dir on the shared work volume, writable by the job and the worker.

        A root worker gives it to the job's uid; otherwise it is ``2770`` in the worker's
        group, which the pod gets as a supplemental group (and the launcher's umask 007
        keeps what the job writes removable by the worker).
        """
        self.release_work_dir(spec.work_dir)
        spec.work_dir.mkdir(parents=True, exist_ok=True)
        spec.work_dir.chmod(0o2770)
        return spec.work_dir.resolve()

    def _give_work_dir(self, work_dir: Path) -> None:
        if os.geteuid() != 0:
            return
        uid, gid = int(self.options["uid"]), int(self.options["gid"])
        for dirpath, dirnames, filenames in os.walk(work_dir):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), uid, gid)
        os.chown(work_dir, uid, gid)

    # -- the Job ---------------------------------------------------------------------------

    def owner_pod(self) -> dict[str, str] | None:
        owner = self.options["owner_pod"]
        if owner is None and os.environ.get("POD_NAME") and os.environ.get("POD_UID"):
            owner = {"name": os.environ["POD_NAME"], "uid": os.environ["POD_UID"]}
        return owner or None

    def job_manifest(self, spec: JobSpec) -> dict[str, Any]:
        """The Job sent to the API server (tests assert on it)."""
        limits = spec.limits
        gpu = limits.gpu_count > 0
        o = self.options
        threads = str(max(1, int(o["cpus"])))
        memory = f"{limits.memory_mb}Mi"
        cpu = f"{int(float(o['cpus']) * 1000)}m"
        resources: dict[str, Any] = {
            "cpu": cpu,
            "memory": memory,
            "ephemeral-storage": f"{int(o['tmp_mb']) + 64}Mi",
        }
        if gpu:
            resources["nvidia.com/gpu"] = str(limits.gpu_count)
        labels = {
            **APP_LABELS,
            LABEL_JOB: label_value(spec.job_id),
            LABEL_RUNNER: label_value(spec.runner),
            **{k: label_value(v) for k, v in worker_labels().items()},
        }
        rlimits = ",".join(
            [
                f"fsize={limits.max_file_mb * MiB}:{limits.max_file_mb * MiB}",
                "nofile=1024:1024",
                "core=0:0",
                f"cpu={limits.cpu_seconds}:{limits.cpu_seconds + 5}",
            ]
        )
        env = {
            "HOME": "/work",
            "LABS_SPEC": "/work/spec.json",
            "LABS_RLIMITS": rlimits,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "MALLOC_ARENA_MAX": "2",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            # Hugging Face libraries write caches and locks under HF_HOME: the job's own work
            # dir, never /models (read-only; jobs name registry folders under it instead).
            "HF_HOME": "/work/.cache/huggingface",
            "TMPDIR": "/tmp",  # noqa: S108 - the pod's own memory volume
        }
        volumes: list[dict[str, Any]] = [
            {"name": "work", "persistentVolumeClaim": {"claimName": o["work_claim"]}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": f"{int(o['tmp_mb'])}Mi"}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{max(64, limits.memory_mb // 4)}Mi"}},
        ]
        mounts: list[dict[str, Any]] = [
            {"name": "work", "mountPath": "/work", "subPath": self.sub_path(spec.work_dir)},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
            {"name": "dshm", "mountPath": "/dev/shm"},  # noqa: S108 - the pod's own memory volume
        ]
        if o["model_claim"]:
            volumes.append(
                {"name": "models", "persistentVolumeClaim": {"claimName": o["model_claim"], "readOnly": True}}
            )
        elif o["model_host_path"]:
            volumes.append({"name": "models", "hostPath": {"path": o["model_host_path"], "type": "Directory"}})
        if o["model_claim"] or o["model_host_path"]:
            mounts.append({"name": "models", "mountPath": "/models", "readOnly": True})
        pod_security: dict[str, Any] = {
            "runAsNonRoot": True,
            "runAsUser": int(o["uid"]),
            "runAsGroup": int(o["gid"]),
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        if os.geteuid() != 0:
            pod_security["supplementalGroups"] = [os.getegid()]
        pod_spec: dict[str, Any] = {
            "restartPolicy": "Never",
            "serviceAccountName": o["service_account"],
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "hostNetwork": False,
            "hostPID": False,
            "hostIPC": False,
            "shareProcessNamespace": False,
            "hostname": "sandbox",
            "terminationGracePeriodSeconds": 5,
            "securityContext": pod_security,
            "containers": [
                {
                    "name": "runner",
                    "image": o["gpu_image"] if gpu else o["image"],
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-B", "-c", LAUNCHER],
                    "args": [spec.runner, "/work/spec.json"],
                    "workingDir": "/work",
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                    "resources": {"requests": dict(resources), "limits": dict(resources)},
                    "securityContext": {
                        "privileged": False,
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "runAsNonRoot": True,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "volumeMounts": mounts,
                    "stdin": False,
                    "tty": False,
                }
            ],
            "volumes": volumes,
        }
        runtime = (o["gpu_runtime_class"] or o["runtime_class"]) if gpu else o["runtime_class"]
        if runtime:
            pod_spec["runtimeClassName"] = runtime
        selector = o["gpu_node_selector"] if gpu else o["node_selector"]
        tolerations = o["gpu_tolerations"] if gpu else o["tolerations"]
        if selector:
            pod_spec["nodeSelector"] = dict(selector)
        if tolerations:
            pod_spec["tolerations"] = [dict(t) for t in tolerations]
        metadata: dict[str, Any] = {"name": job_name(spec.job_id), "namespace": self.namespace, "labels": labels}
        owner = self.owner_pod()
        if owner:
            metadata["ownerReferences"] = [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": owner["name"],
                    "uid": owner["uid"],
                    "blockOwnerDeletion": False,
                    "controller": False,
                }
            ]
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": metadata,
            "spec": {
                "backoffLimit": 0,
                "completions": 1,
                "parallelism": 1,
                # A backstop for a Job whose worker died: the worker itself stops it at
                # wall_seconds after its container started.
                "activeDeadlineSeconds": int(limits.wall_seconds + int(o["pending_timeout"]) + 30),
                "ttlSecondsAfterFinished": int(o["ttl_seconds"]),
                "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
            },
        }

    def start(self, spec: JobSpec) -> KubernetesHandle:
        """Write the inputs on the shared volume, create the Job and wait for its pod to run."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        if not spec.runner.isidentifier():
            raise SandboxError(f"Invalid runner name {spec.runner!r}.")
        self.sub_path(spec.work_dir)
        self.prepare_work_dir(spec, int(self.options["uid"]), int(self.options["gid"]))
        write_inputs(spec)
        self._give_work_dir(spec.work_dir)
        manifest = self.job_manifest(spec)
        handle = KubernetesHandle(spec=spec, name=manifest["metadata"]["name"])
        try:
            # Only one attempt of a job may ever run: an earlier one goes first.
            self._delete_jobs(f"{LABEL_JOB}={label_value(spec.job_id)}", wait=True)
            self.batch.create_namespaced_job(self.namespace, manifest, _request_timeout=self.options["timeout"])
        except ApiException as exc:
            raise SandboxError(
                f"Kubernetes refused the job ({exc.status} {exc.reason}): {exc.body}", permanent=exc.status == 422
            ) from exc
        except (HTTPError, OSError) as exc:
            raise SandboxError(f"The Kubernetes API could not be reached: {exc}", permanent=False) from exc
        try:
            self._wait_running(handle)
        except BaseException:
            self.stop(handle, "killed")
            raise
        return handle

    def _job_pod(self, handle: KubernetesHandle) -> Any | None:
        pods = self.core.list_namespaced_pod(
            self.namespace, label_selector=f"job-name={handle.name}", _request_timeout=self.options["timeout"]
        ).items
        return pods[0] if pods else None

    def _wait_running(self, handle: KubernetesHandle) -> None:
        """Until the pod's container has started (or ended): scheduling and image pulls."""
        end = time.monotonic() + float(self.options["pending_timeout"])
        delay = 0.02
        while True:
            pod = self._job_pod(handle)
            if pod is not None:
                handle.pod_name = pod.metadata.name
                state = _container_state(pod)
                if (
                    state.get("running")
                    or state.get("terminated")
                    or (pod.status and pod.status.phase in ("Running", "Succeeded", "Failed"))
                ):
                    handle.started_at = time.monotonic()
                    return
                waiting = state.get("waiting") or {}
                if waiting.get("reason") in HOPELESS_WAITING:
                    raise SandboxError(
                        f"The sandbox image cannot start on the node ({waiting.get('reason')}: "
                        f"{waiting.get('message') or 'no detail'}).",
                        permanent=False,
                    )
            if time.monotonic() > end:
                raise SandboxError(
                    f"No node could start the job within {self.options['pending_timeout']} s "
                    "(no free GPU or CPU in the pool, or the image is still being pulled).",
                    permanent=False,
                )
            time.sleep(delay)
            delay = min(1.0, delay * 2)

    # -- running ----------------------------------------------------------------------------

    def _read_logs(self, handle: KubernetesHandle, out: queue.Queue) -> None:
        """Thread: follow the pod's log, split it back into stdout and stderr chunks.

        Lines come with the kubelet's timestamps. If the stream closes while the container
        still runs (an API server restart, a proxy timeout), it is opened again from a few
        seconds before the last line seen, and the lines already delivered are skipped, so
        each line arrives exactly once.
        """

        def put(item: tuple[str, str, Any]) -> None:
            put_until_abandoned(out, item, handle.stream_done)

        # (timestamp in ns of the last line delivered, lines delivered with that timestamp)
        last: tuple[int, int] | None = None
        reconnects = 0
        caught_up = False
        try:
            while True:
                since: dict[str, int] = {}
                if last is not None:
                    since["since_seconds"] = max(1, int(time.time() - last[0] / 1e9) + 10)
                response = self.core.read_namespaced_pod_log(
                    handle.pod_name,
                    self.namespace,
                    container="runner",
                    follow=True,
                    timestamps=True,
                    _preload_content=False,
                    # A job may be silent for its whole wall time; the deadline is enforced here.
                    _request_timeout=(self.options["timeout"], handle.spec.limits.wall_seconds + 60),
                    **since,
                )
                skip = last  # on a reopened stream: what was delivered already
                pending = b""
                for chunk in response.stream(65536, decode_content=True):
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        last, skip = _deliver(line, last, skip, put)
                if pending:
                    last, skip = _deliver(pending, last, skip, put)
                response.release_conn()
                if handle.stop_reason is not None or handle.stream_done.is_set() or caught_up:
                    break
                # A stream also ends when the container does: then one more read (from the
                # last line on) collects whatever a dropped stream missed, and that is all.
                state = self._state(handle)
                if state is None:
                    break
                if state.get("terminated"):
                    caught_up = True
                    continue
                reconnects += 1
                if reconnects > 10:
                    raise SandboxError("The job's log stream kept closing while it ran.", permanent=False)
                time.sleep(min(2.0, 0.1 * reconnects))
        except Exception as exc:
            put(("error", "", exc))
        put(("eof", "", b""))

    def stream(self, handle: SandboxHandle) -> Iterator[RunnerEvent]:
        """Yield events from the pod's log until it ends."""
        assert isinstance(handle, KubernetesHandle)
        try:
            yield from follow_log_queue(self, handle, self._read_logs, thread_name=f"k8s-logs-{handle.spec.job_id}")
            self._wait_terminated(handle)
        finally:
            if not handle.terminated and handle.stop_reason is None:
                self.stop(handle, "killed")
            handle.stream_done.set()
            self._finish(handle)

    def _wait_terminated(self, handle: KubernetesHandle) -> None:
        """After the log ended: until the container reports its exit (or the Job is gone)."""
        delay = 0.02
        while handle.stop_reason is None:
            state = self._state(handle)
            if state is None or state.get("terminated"):
                handle.terminated = (state or {}).get("terminated") or {}
                return
            if time.monotonic() >= handle.deadline:
                self.stop(handle, "timed_out")
                return
            time.sleep(delay)
            delay = min(0.5, delay * 2)

    def _state(self, handle: KubernetesHandle) -> dict | None:
        """The container's state (``running`` / ``waiting`` / ``terminated``); None if gone."""
        try:
            pod = self.core.read_namespaced_pod(
                handle.pod_name, self.namespace, _request_timeout=self.options["timeout"]
            )
        except Exception:
            return None
        return _container_state(pod)

    def stop(self, handle: SandboxHandle, reason: str = "cancelled") -> None:
        """Delete the Job (its pod is killed at once). Idempotent, thread-safe."""
        assert isinstance(handle, KubernetesHandle)
        with handle.lock:
            if handle.stop_reason is None and not handle.finished:
                handle.stop_reason = reason
            if handle.finished or handle.deleted:
                return
            handle.deleted = True
        self._delete_job(handle.name)
        if handle.pod_name:
            # The garbage collector would stop the pod with its grace period; kill it now.
            with contextlib.suppress(Exception):
                self.core.delete_namespaced_pod(
                    handle.pod_name, self.namespace, grace_period_seconds=0, _request_timeout=self.options["timeout"]
                )
        if not handle.streaming:
            self._finish(handle)

    def poll(self, handle: SandboxHandle) -> ExitStatus | None:
        """Final status, or None while the pod runs (enforces wall time)."""
        assert isinstance(handle, KubernetesHandle)
        if handle.status is not None:
            return handle.status
        if handle.streaming and not handle.stream_done.is_set():
            if time.monotonic() >= handle.deadline:
                self.stop(handle, "timed_out")
            return None
        state = self._state(handle)
        if state is not None and not state.get("terminated") and not handle.deleted:
            if time.monotonic() >= handle.deadline:
                self.stop(handle, "timed_out")
            return None
        if state and state.get("terminated"):
            handle.terminated = state["terminated"]
        self._finish(handle)
        return handle.status

    def _finish(self, handle: KubernetesHandle) -> None:
        with handle.lock:
            if handle.finished:
                return
            handle.finished = True
            term = handle.terminated or {}
            code = term.get("exit_code")
            handle.status = classify_exit(
                handle.spec.limits,
                code if handle.stop_reason is None else None,
                stop_reason=handle.stop_reason,
                oom_killed=term.get("reason") == "OOMKilled",
                stderr_tail=bytes(handle.stderr_tail).decode("utf-8", errors="replace"),
            )
            delete = not handle.deleted and not self.options["keep_jobs"]
            handle.deleted = handle.deleted or delete
        if delete:
            self._delete_job(handle.name)

    def _delete_job(self, name: str) -> None:
        from kubernetes import client

        with contextlib.suppress(Exception):  # already gone: fine
            self.batch.delete_namespaced_job(
                name,
                self.namespace,
                body=client.V1DeleteOptions(propagation_policy="Background", grace_period_seconds=0),
                _request_timeout=self.options["timeout"],
            )

    def _delete_jobs(self, selector: str, *, wait: bool = False, unless_alive: bool = False) -> int:
        """Delete the Jobs matching a label selector; return how many."""
        jobs = self.batch.list_namespaced_job(
            self.namespace, label_selector=selector, _request_timeout=self.options["timeout"]
        ).items
        removed = 0
        for job in jobs:
            if unless_alive and self._worker_alive(job.metadata.labels or {}):
                continue
            self._delete_job(job.metadata.name)
            removed += 1
        if wait and removed:
            # The name is reused by the new attempt: wait until the old Job is gone.
            end = time.monotonic() + float(self.options["timeout"])
            while (
                time.monotonic() < end
                and self.batch.list_namespaced_job(
                    self.namespace, label_selector=selector, _request_timeout=self.options["timeout"]
                ).items
            ):
                time.sleep(0.1)
        return removed

    def _worker_alive(self, labels: dict[str, str]) -> bool:
        """Whether the worker that watches a Job still runs: this pod's process, or another
        pod that still exists (its own worker reaps its Jobs)."""
        host = labels.get(LABEL_HOST, "")
        if host == label_value(socket.gethostname()):
            return worker_alive(labels)
        try:
            self.core.read_namespaced_pod(host, self.namespace, _request_timeout=self.options["timeout"])
        except Exception as exc:
            return getattr(exc, "status", None) != 404
        return True

    def reap_stale(self) -> int:
        """At worker start: delete the Jobs whose worker (process, or pod) is gone."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return self._delete_jobs(f"{COMPONENT_LABEL}={COMPONENT}", unless_alive=True)
        except (ApiException, HTTPError, OSError, SandboxUnavailable):
            return 0  # no API yet: jobs will report it; nothing to clean either


def _container_state(pod: Any) -> dict:
    statuses = (pod.status.container_statuses if pod.status else None) or []
    if not statuses or statuses[0].state is None:
        return {}
    state = statuses[0].state
    out: dict[str, Any] = {}
    for key in ("running", "waiting", "terminated"):
        value = getattr(state, key, None)
        if value is not None:
            out[key] = value.to_dict()
    return out


_TIMESTAMP = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")


def _timestamp_ns(raw: bytes) -> int | None:
    """The kubelet's RFC 3339 timestamp (nanoseconds, trailing zeros trimmed) in ns."""
    match = _TIMESTAMP.fullmatch(raw)
    if match is None:
        return None
    zone = "+00:00" if match[3] == b"Z" else match[3].decode()
    seconds = int(datetime.fromisoformat(match[1].decode() + zone).timestamp())
    return seconds * 1_000_000_000 + int((match[2] or b"0").ljust(9, b"0"))


def _deliver(
    line: bytes, last: tuple[int, int] | None, skip: tuple[int, int] | None, put: Any
) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """Hand on one timestamped log line unless a reopened stream delivered it before."""
    raw_ts, _, rest = line.partition(b" ")
    ts = _timestamp_ns(raw_ts)
    if ts is None:  # no timestamp (not from the kubelet): pass it on as it is
        put(("data", *_untag(line)))
        return last, skip
    if skip is not None:
        if ts < skip[0]:
            return last, skip
        if ts == skip[0] and skip[1] > 0:
            return last, (ts, skip[1] - 1)
        skip = None
    last = (ts, last[1] + 1) if last is not None and last[0] == ts else (ts, 1)
    put(("data", *_untag(rest)))
    return last, skip


def _untag(line: bytes) -> tuple[str, bytes]:
    """One log line of the launcher -> (stream, the bytes the runner wrote)."""
    stream, whole = _TAGS.get(line[:1], (None, True))
    if stream is None or line[1:2] != b"|":
        return "stderr", line + b"\n"  # not from the launcher (the runtime's own message)
    return stream, line[2:] + (b"\n" if whole else b"")
