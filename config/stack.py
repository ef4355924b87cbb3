"""`make run`: start the whole platform on one machine, nothing installed by hand.

Starts an embedded PostgreSQL+pgvector (unless DATABASE_URL is set) and an embedded Redis
(unless REDIS_URL is set), migrates, loads the shipped content, ensures the demo accounts,
then runs the ASGI server (HTTP + websockets) and a Celery worker for the ``cpu`` and
``gpu`` queues. Ctrl-C stops everything it started; data stays under ``.data/``.

    python -m config.stack run [--host 127.0.0.1] [--port 8000]
    python -m config.stack manage <manage.py arguments>   # with the same services
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from config.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    ServiceError,
    die_with_parent,
    port_is_free,
    wait_for_tcp,
)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def say(message: str) -> None:
    print(message, flush=True)


class Stack:
    def __init__(self) -> None:
        self.data_dir = Path(os.environ.get("PLATFORM_DATA_DIR") or ROOT / ".data")
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.children: list[subprocess.Popen] = []

    # --- services -------------------------------------------------------------------
    def start_services(self) -> None:
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir / "run"))
        os.environ["PLATFORM_DATA_DIR"] = str(self.data_dir)
        if os.environ.get("DATABASE_URL"):
            check_database_url(os.environ["DATABASE_URL"])
        else:
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
            os.environ["DATABASE_URL"] = self.postgres.start()
            os.environ["DATABASE_URL"] = self.postgres.create_database("genai_platform")
        if os.environ.get("REDIS_URL"):
            check_redis_url(os.environ["REDIS_URL"])
        else:
            self.redis = EmbeddedRedis(self.data_dir / "redis", port=int(os.environ.get("REDIS_PORT", "6399")))
            os.environ["REDIS_URL"] = self.redis.start()

    def manage(self, *args: str, quiet: bool = False) -> None:
        result = subprocess.run(
            [PYTHON, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL if quiet else None,
        )
        if result.returncode != 0:
            fail(f"`manage.py {' '.join(args)}` failed (exit {result.returncode}); see the output above.")

    def spawn(self, *args: str) -> subprocess.Popen:
        # Own session: a terminal's Ctrl-C reaches only us, and we stop the children in order.
        proc = subprocess.Popen(list(args), cwd=ROOT, start_new_session=True, preexec_fn=die_with_parent)
        self.children.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.children:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.children:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if self.redis:
            self.redis.stop()
        if self.postgres:
            self.postgres.stop()


def check_database_url(url: str) -> None:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql", "pgsql"}:
        fail(f"DATABASE_URL must start with postgres:// (got {parsed.scheme or 'nothing'}://).")
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        fail(f"cannot connect to DATABASE_URL ({first}); fix the URL or unset it to use the embedded PostgreSQL.")


def check_redis_url(url: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.ping()
        client.close()
    except (redis.RedisError, ValueError) as exc:
        fail(f"cannot reach REDIS_URL ({exc}); fix the URL or unset it to use the embedded Redis.")


def sandbox_hint() -> str | None:
    """The local lab backend needs bubblewrap; install it when we can, else say how."""
    if os.environ.get("LABS_SANDBOX_BACKEND", "bubblewrap") != "bubblewrap" or shutil.which("bwrap"):
        return None
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("Installing bubblewrap for the lab sandbox (apt-get)...")
        subprocess.run(["apt-get", "install", "-y", "-qq", "bubblewrap"], stdout=subprocess.DEVNULL)
        if shutil.which("bwrap"):
            return None
    return "labs are disabled until bubblewrap is installed: `sudo apt-get install -y bubblewrap`"


def run(host: str, port: int, workers: int) -> None:
    if not port_is_free(port, host):
        fail(f"port {port} on {host} is already in use: stop what uses it or run `make run PORT=<other>`.")
    stack = Stack()

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    # Explicitly: a launcher started in the background by a script inherits SIGINT ignored.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    try:
        stack.start_services()
        say("Migrating the database...")
        stack.manage("migrate", "--noinput", quiet=True)
        stack.manage("collectstatic", "--noinput", quiet=True)
        say("Loading the shipped content...")
        stack.manage("load_content")
        say("Demo accounts (passwords are shown only when an account is created):")
        stack.manage("create_demo_accounts")
        hint = sandbox_hint()
        stack.spawn(
            PYTHON, "-m", "celery", "-A", "config", "--quiet", "worker", "-Q", "cpu,gpu", "-c", str(workers),
            "--loglevel", "warning", "-n", f"worker.{os.getpid()}@%h",
            # Embedded beat runs the periodic jobs (e.g. the lab reaper) on one machine.
            "--beat", "--schedule", str(stack.data_dir / "celerybeat-schedule"),
        )
        stack.spawn(
            PYTHON, "-m", "uvicorn", "config.asgi:application", "--host", host, "--port", str(port),
            "--log-level", "warning", "--no-access-log", "--lifespan", "off",
        )
        if not wait_for_tcp(host, port, 60):
            fail("the web server did not start within 60 s; see the output above.")
        say(f"\nServing at http://{host}:{port}/  (started in {time.monotonic() - started:.1f} s)")
        say(f"  admin http://{host}:{port}/admin/   API docs http://{host}:{port}/api/docs/   health http://{host}:{port}/healthz")
        if hint:
            say(f"  note: {hint}")
        say("Press Ctrl-C to stop everything.")
        while all(proc.poll() is None for proc in stack.children):
            time.sleep(0.5)
        dead = next(proc for proc in stack.children if proc.poll() is not None)
        fail(f"`{' '.join(dead.args[2:4])}` exited with {dead.returncode}; stopping everything.")
    except KeyboardInterrupt:
        say("\nStopping...")
    except ServiceError as exc:
        fail(str(exc))
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    parser = argparse.ArgumentParser(prog="python -m config.stack")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start the platform")
    run_parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    run_parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    run_parser.add_argument("--workers", type=int, default=int(os.environ.get("CELERY_CONCURRENCY", "2")))
    manage_parser = sub.add_parser("manage", help="run a manage.py command with the embedded services")
    manage_parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    if options.command == "run":
        run(options.host, options.port, options.workers)
        return
    stack = Stack()
    try:
        stack.start_services()
        result = subprocess.run([PYTHON, str(ROOT / "manage.py"), *options.args], cwd=ROOT)
        raise SystemExit(result.returncode)
    except ServiceError as exc:
        fail(str(exc))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
