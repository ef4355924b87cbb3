"""A small fake Kubernetes API server on 127.0.0.1 that really runs each Job's container.

It speaks the handful of endpoints the official ``kubernetes`` client calls for the
kubernetes sandbox backend: create / list / read / delete Jobs (``batch/v1``), list pods by
label selector, read or delete a pod, and read a pod's log with ``follow=true`` (a
streamed body that ends when the container exits; ``timestamps`` and ``sinceSeconds`` too).
Every request and every created Job body is recorded.

"Running a container" here means what a kubelet would do with the Job's pod template, on
this machine's filesystem as the image: the container's exact ``command`` and ``args``, its
``env`` (plus what the sandbox image's ``ENV`` sets: ``PATH``, ``PYTHONPATH``), its
``workingDir``, the uid of its ``securityContext``, a read-only root, the work claim's
``subPath`` bound read-write at its ``mountPath``, memory ``emptyDir`` volumes as tmpfs, and
no network: all through bubblewrap (``--unshare-all``; the uid is the one a user namespace
shows, mapped to this process's uid on the host, see ``_own``). stdout and stderr are merged into
one log, as the kubelet does. Deleting the Job kills the container's whole process tree.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

REPO = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent  # <repo>/.venv/bin when run from the project venv
APP = "/opt/app"  # where the fake "image" has the repository (gpu_workers, the venv)


@dataclass
class FakePod:
    name: str
    job_name: str
    labels: dict
    spec: dict
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    process: subprocess.Popen | None = None
    log: list[tuple[int, bytes]] = field(default_factory=list)  # (time in ns, one line)
    log_streams: int = 0
    log_done: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)
    exit_code: int | None = None
    reason: str | None = None
    waiting_reason: str | None = None
    deleted: bool = False

    def to_json(self, namespace: str) -> dict:
        container = self.spec["containers"][0]
        if self.waiting_reason:
            state, phase = {"waiting": {"reason": self.waiting_reason, "message": "fake"}}, "Pending"
        elif self.exit_code is None:
            state, phase = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}, "Running"
        else:
            state = {"terminated": {"exitCode": self.exit_code, "reason": self.reason}}
            phase = "Succeeded" if self.exit_code == 0 else "Failed"
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "namespace": namespace, "labels": self.labels, "uid": self.uid},
            "spec": self.spec,
            "status": {
                "phase": phase,
                "containerStatuses": [
                    {
                        "name": container["name"],
                        "image": container["image"],
                        "imageID": "",
                        "ready": phase == "Running",
                        "restartCount": 0,
                        "state": state,
                    }
                ],
            },
        }


class FakeKubernetesAPI:
    """``with FakeKubernetesAPI(claims={"labs-work": root}) as api: api.url``"""

    def __init__(self, claims: dict[str, Path], namespace: str = "genai-labs"):
        self.claims = {k: Path(v) for k, v in claims.items()}
        self.namespace = namespace
        self.jobs: dict[str, dict] = {}
        self.pods: dict[str, FakePod] = {}
        self.created: list[dict] = []
        self.deletes: list[tuple[str, dict]] = []
        self.pod_deletes: list[tuple[str, dict]] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.extra_pods: dict[str, dict] = {}  # other pods that exist (worker pods)
        self.waiting_reason: str | None = None  # e.g. "ErrImagePull": pods never start
        self.oom_kill: bool = False  # report the next container's end as OOMKilled
        self.drop_log_after: int | None = None  # close each pod's first log stream after N lines
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.api = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._spawns: queue.Queue = queue.Queue()
        self._spawner_thread = threading.Thread(target=self._spawner, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def running_pods(self) -> list[str]:
        """Pods whose container process still runs."""
        return [p.name for p in list(self.pods.values()) if p.process is not None and p.process.poll() is None]

    def __enter__(self) -> FakeKubernetesAPI:
        self._thread.start()
        self._spawner_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for pod in list(self.pods.values()):
            self._kill(pod)
        self._server.shutdown()
        self._server.server_close()
        self._spawns.put(None)

    # -- the "kubelet" ----------------------------------------------------------------------

    def add_job(self, body: dict, *, run: bool = True) -> dict:
        name = body["metadata"]["name"]
        body = json.loads(json.dumps(body))
        body["metadata"].setdefault("namespace", self.namespace)
        body["metadata"]["uid"] = str(uuid.uuid4())
        body["status"] = {}
        template = body["spec"]["template"]
        labels = {**template["metadata"].get("labels", {}), "job-name": name, "batch.kubernetes.io/job-name": name}
        pod = FakePod(name=f"{name}-{uuid.uuid4().hex[:5]}", job_name=name, labels=labels, spec=template["spec"])
        with self.lock:
            self.jobs[name] = body
            self.pods[pod.name] = pod
        if self.waiting_reason:
            pod.waiting_reason = self.waiting_reason
        elif run:
            self._run(pod)
        return body

    def bwrap_argv(self, spec: dict) -> list[str]:
        """The container of a pod spec as a bubblewrap command line (see the module doc)."""
        container = spec["containers"][0]
        security = {**spec.get("securityContext", {}), **container.get("securityContext", {})}
        assert security.get("readOnlyRootFilesystem") is True
        argv = [
            "bwrap",
            "--ro-bind",
            "/",
            "/",
            "--tmpfs",
            "/opt",
            "--ro-bind",
            str(REPO),
            APP,
            "--dev",
            "/dev",
            "--proc",
            "/proc",
        ]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            target = mount["mountPath"]
            if "persistentVolumeClaim" in volume:
                source = self.claims[volume["persistentVolumeClaim"]["claimName"]] / mount.get("subPath", "")
                readonly = mount.get("readOnly") or volume["persistentVolumeClaim"].get("readOnly")
                if not readonly:
                    _own(source)
                argv += ["--ro-bind" if readonly else "--bind", str(source), target]
            elif "emptyDir" in volume:
                size = _bytes(volume["emptyDir"].get("sizeLimit", "64Mi"))
                argv += ["--size", str(size), "--tmpfs", target]
            elif "hostPath" in volume:
                assert mount.get("readOnly") is True
                argv += ["--ro-bind", volume["hostPath"]["path"], target]
        uid = security.get("runAsUser", 0)
        gid = security.get("runAsGroup", uid)
        argv += ["--unshare-all", "--die-with-parent", "--new-session", "--uid", str(uid), "--gid", str(gid)]
        argv += ["--hostname", spec.get("hostname", "pod"), "--chdir", container.get("workingDir", "/")]
        argv += ["--clearenv"]
        # What the sandbox image's ENV sets (docker/sandbox-*.Dockerfile), then the container's env.
        image_env = {"PATH": f"{APP}/.venv/bin:/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": APP}
        for key, value in {**image_env, **{e["name"]: e["value"] for e in container.get("env", [])}}.items():
            argv += ["--setenv", key, value]
        command = [*container.get("command", []), *container.get("args", [])]
        return [*argv, "--", *command]

    def _run(self, pod: FakePod) -> None:
        # Started from the one long-lived spawner thread: bwrap's --die-with-parent is the
        # parent *thread's* death signal, and request threads end with their connection.
        done: queue.Queue = queue.Queue()
        self._spawns.put((pod, done))
        error = done.get()
        if error is not None:
            raise error
        threading.Thread(target=self._pump, args=(pod,), daemon=True).start()

    def _spawner(self) -> None:
        while (item := self._spawns.get()) is not None:
            pod, done = item
            try:
                pod.process = subprocess.Popen(
                    self.bwrap_argv(pod.spec), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
                )
            except Exception as exc:
                done.put(exc)
            else:
                done.put(None)

    def _pump(self, pod: FakePod) -> None:
        """The container runtime's log: each line with the time it was written."""
        assert pod.process is not None and pod.process.stdout is not None
        pending = b""
        while chunk := pod.process.stdout.read1(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            with pod.changed:
                pod.log += [(time.time_ns(), line + b"\n") for line in lines]
                pod.changed.notify_all()
        code = pod.process.wait()
        with pod.changed:
            if pending:
                pod.log.append((time.time_ns(), pending))
            if self.oom_kill:
                pod.exit_code, pod.reason = 137, "OOMKilled"
            else:
                pod.exit_code = 128 - code if code < 0 else code
                pod.reason = "Completed" if pod.exit_code == 0 else "Error"
            pod.log_done.set()
            pod.changed.notify_all()

    def _kill(self, pod: FakePod) -> None:
        pod.deleted = True
        if pod.process is not None and pod.process.poll() is None:
            try:
                os.killpg(pod.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        with pod.changed:
            pod.log_done.set()
            pod.changed.notify_all()

    def delete_job(self, name: str) -> bool:
        with self.lock:
            job = self.jobs.pop(name, None)
            pods = [p for p in self.pods.values() if p.job_name == name]
            for pod in pods:
                del self.pods[pod.name]
        for pod in pods:
            self._kill(pod)
        return job is not None


def _rfc3339(ns: int) -> bytes:
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return (text + (f".{digits}" if digits else "") + "Z").encode()


def _own(path: Path) -> None:
    """This node's uid mapping: the container runs as ``runAsUser`` inside a user namespace
    that maps it to this process's uid, so a volume the worker gave to uid 65534 is handed
    to the host side of that mapping on mount (what fsGroup ownership does on a real node)."""
    uid, gid = os.getuid(), os.getgid()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)
    os.chown(path, uid, gid)


def _bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}[unit]


def _matches(labels: dict, selector: str | None) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    @property
    def api(self) -> FakeKubernetesAPI:
        return self.server.api  # type: ignore[attr-defined]

    def _json(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self, what: str) -> None:
        self._json(
            404,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "NotFound",
                "message": f"{what} not found",
                "code": 404,
            },
        )

    def _handle(self, method: str) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        self.api.requests.append((method, url.path, query))
        api = self.api
        m = re.fullmatch(r"/apis/batch/v1/namespaces/([^/]+)/jobs(?:/([^/]+))?", url.path)
        if m:
            name = m.group(2)
            if method == "GET" and name is None:
                items = [
                    j
                    for j in list(api.jobs.values())
                    if _matches(j["metadata"].get("labels", {}), query.get("labelSelector"))
                ]
                self._json(200, {"apiVersion": "batch/v1", "kind": "JobList", "metadata": {}, "items": items})
            elif method == "POST" and name is None:
                if body["metadata"]["name"] in api.jobs:
                    self._json(
                        409,
                        {
                            "kind": "Status",
                            "apiVersion": "v1",
                            "status": "Failure",
                            "reason": "AlreadyExists",
                            "code": 409,
                        },
                    )
                    return
                api.created.append(body)
                self._json(201, api.add_job(body))
            elif method == "GET":
                job = api.jobs.get(name)
                self._json(200, job) if job else self._not_found(f"job {name}")
            elif method == "DELETE":
                api.deletes.append((name, body))
                if api.delete_job(name):
                    self._json(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})
                else:
                    self._not_found(f"job {name}")
            return
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)", url.path)
        if m and method == "DELETE":
            api.pod_deletes.append((m.group(2), {**query, **body}))
            pod = api.pods.pop(m.group(2), None)
            if pod is None:
                self._not_found(f"pod {m.group(2)}")
                return
            api._kill(pod)
            self._json(200, pod.to_json(api.namespace))
            return
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods(?:/([^/]+))?(/log)?", url.path)
        if m and method == "GET":
            name, log = m.group(2), m.group(3)
            if name is None:
                items = [
                    p.to_json(api.namespace)
                    for p in list(api.pods.values())
                    if _matches(p.labels, query.get("labelSelector"))
                ]
                self._json(200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items})
                return
            pod = api.pods.get(name)
            if pod is None:
                if name in api.extra_pods and not log:
                    self._json(200, api.extra_pods[name])
                else:
                    self._not_found(f"pod {name}")
                return
            if not log:
                self._json(200, pod.to_json(api.namespace))
                return
            self._stream_log(pod, query)
            return
        self._not_found(f"{method} {url.path}")

    def _stream_log(self, pod: FakePod, query: dict) -> None:
        """``follow``, ``timestamps`` (RFC 3339, trailing zeros trimmed, like Go's RFC3339Nano)
        and ``sinceSeconds``; ``drop_log_after`` closes the first stream early, as an API
        server restart would."""
        follow = query.get("follow") == "true"
        stamps = query.get("timestamps") == "true"
        since = int(query.get("sinceSeconds", 0))
        drop_after = self.api.drop_log_after if pod.log_streams == 0 else None
        pod.log_streams += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        index = 0
        if since:
            cutoff = time.time_ns() - since * 1_000_000_000
            index = next((i for i, (ts, _) in enumerate(pod.log) if ts >= cutoff), len(pod.log))
        sent = 0
        try:
            while True:
                with pod.changed:
                    while follow and index >= len(pod.log) and not pod.log_done.is_set():
                        pod.changed.wait(0.5)
                    entries = pod.log[index:]
                    done = pod.log_done.is_set() or not follow
                if drop_after is not None:
                    entries = entries[: max(0, drop_after - sent)]
                index += len(entries)
                data = b"".join((_rfc3339(ts) + b" " if stamps else b"") + line for ts, line in entries)
                sent += len(entries)
                if data:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                if (done and index >= len(pod.log)) or (drop_after is not None and sent >= drop_after):
                    break
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _serve(self, method: str) -> None:
        try:
            self._handle(method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (a cancelled stream): fine

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")
