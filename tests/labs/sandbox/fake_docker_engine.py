"""A small fake Docker Engine API on a unix socket, for testing the docker backend here.

It speaks just enough of API v1.43 for ``DockerBackend``: ping, image inspect, container
create / inspect / start / logs (8-byte multiplexed frames, follow) / wait / kill /
delete. Each created container "runs" a scripted :class:`FakeProgram`: it writes the
scripted frames to the log stream and exits with the scripted code, or hangs until
killed. Every request and every create payload is recorded for assertions.
"""

from __future__ import annotations

import json
import re
import socketserver
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse


@dataclass
class FakeProgram:
    """What a container does once started."""

    frames: list[tuple[str, bytes]] = field(default_factory=list)  # ("stdout"|"stderr", data)
    exit_code: int = 0
    oom_killed: bool = False
    hang: bool = False  # keep running (and the log stream open) until killed
    frame_delay: float = 0.0


@dataclass
class FakeContainer:
    id: str
    name: str
    payload: dict
    program: FakeProgram
    started: bool = False
    finished: threading.Event = field(default_factory=threading.Event)
    exit_code: int | None = None
    oom_killed: bool = False
    killed: bool = False
    removed: bool = False


def frame(stream: str, data: bytes) -> bytes:
    """One multiplexed log frame: stream id, 3 zero bytes, big-endian length, payload."""
    return struct.pack(">BxxxL", 1 if stream == "stdout" else 2, len(data)) + data


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    engine: FakeDockerEngine


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    # -- plumbing -------------------------------------------------------------------

    def _route(self, method: str) -> None:
        engine = self.server.engine
        url = urlparse(self.path)
        path = re.sub(r"^/v[0-9.]+", "", url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        engine.requests.append((method, path, query))
        handler = engine.route(method, path)
        if handler is None:
            self._json(404, {"message": f"page not found: {method} {path}"})
            return
        handler(self, path, query, body)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _json(self, status: int, obj: object) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", "1.43")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _empty(self, status: int = 204) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class FakeDockerEngine:
    """Start with ``with FakeDockerEngine(tmp_path / "docker.sock") as engine:``."""

    def __init__(self, socket_path: Path, images: tuple[str, ...] = ("genai-labs-runner:latest",)):
        self.socket_path = Path(socket_path)
        self.images = set(images)
        self.program = FakeProgram()
        self.requests: list[tuple[str, str, dict]] = []
        self.created: list[dict] = []
        self.containers: dict[str, FakeContainer] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket_path}"

    def __enter__(self) -> FakeDockerEngine:
        self._server = _Server(str(self.socket_path), _Handler)
        self._server.engine = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for container in self.containers.values():
            container.killed = True
            container.finished.set()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self.socket_path.unlink(missing_ok=True)

    # -- routing --------------------------------------------------------------------

    def route(self, method: str, path: str):
        table = [
            ("GET", r"/_ping", self._ping),
            ("GET", r"/containers/json", self._list),
            ("GET", r"/images/(?P<name>.+)/json", self._image),
            ("POST", r"/containers/create", self._create),
            ("GET", r"/containers/(?P<id>[^/]+)/json", self._inspect),
            ("POST", r"/containers/(?P<id>[^/]+)/start", self._start),
            ("GET", r"/containers/(?P<id>[^/]+)/logs", self._logs),
            ("POST", r"/containers/(?P<id>[^/]+)/wait", self._wait),
            ("POST", r"/containers/(?P<id>[^/]+)/kill", self._kill),
            ("DELETE", r"/containers/(?P<id>[^/]+)", self._delete),
        ]
        for verb, pattern, fn in table:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                return lambda h, p, q, b, fn=fn, m=match: fn(h, m.groupdict(), q, b)
        return None

    def _container(self, h: _Handler, ident: str) -> FakeContainer | None:
        container = self.containers.get(ident) or next((c for c in self.containers.values() if c.name == ident), None)
        if container is None or container.removed:
            h._json(404, {"message": f"No such container: {ident}"})
            return None
        return container

    def _ping(self, h: _Handler, m: dict, q: dict, body: bytes) -> None:
        data = b"OK"
        h.send_response(200)
        h.send_header("Api-Version", "1.43")
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _image(self, h: _Handler, m: dict, q: dict, body: bytes) -> None:
        if m["name"] in self.images:
            h._json(200, {"Id": "sha256:" + "0" * 64, "RepoTags": [m["name"]]})
        else:
            h._json(404, {"message": f"No such image: {m['name']}"})

    def _create(self, h: _Handler, m: dict, q: dict, body: bytes) -> None:
        payload = json.loads(body or b"{}")
        self.created.append(payload)
        if payload.get("Image") not in self.images:
            h._json(404, {"message": f"No such image: {payload.get('Image')}"})
            return
        name = q.get("name", "")
        if name and any(c.name == name and not c.removed for c in self.containers.values()):
            # What the real engine answers when a name is taken (e.g. by a crashed attempt).
            h._json(409, {"message": f'Conflict. The container name "/{name}" is already in use.'})
            return
        ident = uuid.uuid4().hex + uuid.uuid4().hex
        self.containers[ident] = FakeContainer(ident, q.get("name", ""), payload, self.program)
        h._json(201, {"Id": ident, "Warnings": []})

    def add_container(self, name: str, labels: dict[str, str], *, running: bool = True) -> FakeContainer:
        """A container someone else made (a crashed worker's job), running until killed."""
        ident = uuid.uuid4().hex + uuid.uuid4().hex
        c = FakeContainer(ident, name, {"Image": "genai-labs-runner:latest", "Labels": labels}, FakeProgram(hang=True))
        c.started = running
        if not running:
            c.finished.set()
        self.containers[ident] = c
        return c

    def _list(self, h: _Handler, m: dict, q: dict, body: bytes) -> None:
        """GET /containers/json: only ``all`` and ``label`` filters (k or k=v) are supported."""
        wanted = json.loads(q.get("filters") or "{}").get("label", [])
        found = []
        for c in self.containers.values():
            running = c.started and not c.finished.is_set()
            if c.removed or not (running or q.get("all") in ("1", "true", "True")):
                continue
            labels = c.payload.get("Labels") or {}
            ok = True
            for item in wanted:
                key, sep, value = item.partition("=")
                ok = ok and key in labels and (not sep or labels[key] == value)
            if ok:
                found.append(
                    {"Id": c.id, "Names": ["/" + c.name], "Labels": labels, "State": "running" if running else "exited"}
                )
        h._json(200, found)

    def _inspect(self, h: _Handler, m: dict, q: dict, body: bytes) -> None:
        c = self._container(h, m["id"])
        if c is None:
            return
        running = c.started and not c.finished.is_set()
        h._json(
            200,
            {
                "Id": c.id,
                "Name": "/" + c.name,
                "Config": {"Image": c.payload.get("Image"), "Labels": c.payload.get("Labels", {})},
                "HostConfig": c.payload.get("HostConfig", {}),
                "State": {
                    "Status": "running" if running else ("exited" if c.finished.is_set() else "created"),
                    "Running": running,
                    "ExitCode": c.exit_code if c.exit_code is not None else 0,
                    "OOMKilled": c.oom_killed,
                },
            },
        )

    def _start(self, h: _Handler, m: dict, q: dict, body: bytes) -> None:
        c = self._container(h, m["id"])
        if c is None:
            return
        c.started = True
        if not c.program.hang and not c.program.frames:
            self._exit(c)
        h._empty(204)

    def _exit(self, c: FakeContainer) -> None:
        if c.finished.is_set():
            return
        if c.killed:
            c.exit_code = 137
        else:
            c.exit_code = c.program.exit_code
            c.oom_killed = c.program.oom_killed
        c.finished.set()

    def _logs(self, h: _Handler, m: dict, q: dict, body: bytes) -> None:
        c = self._container(h, m["id"])
        if c is None:
            return
        h.send_response(200)
        h.send_header("Content-Type", "application/vnd.docker.multiplexed-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        try:
            for stream, data in c.program.frames:
                if c.killed:
                    break
                h.wfile.write(frame(stream, data))
                h.wfile.flush()
                if c.program.frame_delay:
                    time.sleep(c.program.frame_delay)
            if c.program.hang:
                while not c.killed:
                    time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self._exit(c)

    def _wait(self, h: _Handler, m: dict, q: dict, body: bytes) -> None:
        c = self._container(h, m["id"])
        if c is None:
            return
        c.finished.wait(timeout=30)
        h._json(200, {"StatusCode": c.exit_code if c.exit_code is not None else -1, "Error": None})

    def _kill(self, h: _Handler, m: dict, q: dict, body: bytes) -> None:
        c = self._container(h, m["id"])
        if c is None:
            return
        if c.finished.is_set():
            h._json(409, {"message": f"Container {c.id} is not running"})
            return
        c.killed = True
        c.exit_code = 137
        c.finished.set()
        h._empty(204)

    def _delete(self, h: _Handler, m: dict, q: dict, body: bytes) -> None:
        c = self._container(h, m["id"])
        if c is None:
            return
        c.removed = True
        h._empty(204)
