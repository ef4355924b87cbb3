"""`make run`: start the whole platform on one machine, nothing installed by hand.

Starts an embedded PostgreSQL+pgvector (unless DATABASE_URL is set) and an embedded Redis
(unless REDIS_URL is set), migrates, loads the shipped content, ensures the demo accounts,
then runs the ASGI server (HTTP + websockets) and a Celery worker for the ``cpu`` and
``gpu`` queues, and keeps them running: a process that dies is restarted with backoff
while the rest stays up. Ctrl-C stops everything it started, one line per service; data
stays under ``.data/`` (mode 0700).

While it runs it records its services in ``.data/run/stack.json`` (0600), so
``python -m config.stack manage ...`` uses the running Postgres and Redis instead of
starting its own.

    python -m config.stack run [--host 127.0.0.1] [--port 8000]
    python -m config.stack manage <manage.py arguments>   # with the same services
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from config.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    ServiceError,
    die_with_parent,
    port_is_free,
    private_dir,
    secret_file,
    wait_for_tcp,
)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# Restarts wait 1, 2, 4 ... seconds, at most BACKOFF_MAX; a process that stayed up for
# STABLE_AFTER seconds starts again from 1 s.
BACKOFF_MAX = float(os.environ.get("STACK_BACKOFF_MAX", "30"))
STABLE_AFTER = float(os.environ.get("STACK_STABLE_AFTER", "60"))


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Service:
    """A child process the launcher keeps running."""

    name: str
    argv: list[str]
    stop_signal: int = signal.SIGTERM
    # What the kernel sends it if the launcher dies without cleaning up (kill -9).
    death_signal: int = signal.SIGTERM
    # Celery's shutdown chatter ("worker: Cold shutdown ...") goes to stdout; its logs
    # (warnings, errors) go to stderr and stay visible.
    quiet_stdout: bool = False
    env: dict[str, str] | None = None  # on top of the launcher's environment
    # Scheduling niceness (0-19): lab work (the worker and the sandboxes it starts inherit it)
    # yields the CPU to the web processes, so pages stay fast while a class trains models.
    nice: int = 0
    # Runs once to the end (e.g. the registry build): not restarted when it exits.
    oneshot: bool = False
    finished: bool = False
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0  # consecutive quick exits: the backoff exponent
    restart_at: float | None = None

    def start(self) -> None:
        # Own session: a terminal's Ctrl-C reaches only the launcher, which stops us in order.
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=functools.partial(_child_setup, self.death_signal, self.nice),
            stdout=subprocess.DEVNULL if self.quiet_stdout else None,
            env={**os.environ, **self.env} if self.env else None,
        )
        self.started_at = time.monotonic()
        self.restart_at = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _child_setup(death_signal: int, nice: int) -> None:
    die_with_parent(death_signal)
    if nice:
        os.nice(nice)


class Stack:
    def __init__(self) -> None:
        self.data_dir = Path(os.environ.get("PLATFORM_DATA_DIR") or ROOT / ".data")
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.services: list[Service] = []
        self.guard: subprocess.Popen | None = None
        self._guard_pipe: int | None = None

    @property
    def record(self) -> Path:
        return self.data_dir / "run" / "stack.json"

    # --- services -------------------------------------------------------------------
    def start_services(self) -> None:
        # 0700: the Postgres socket (trust auth), Redis' password, the secret key and the
        # learners' files live below; no other local user may even look in.
        private_dir(self.data_dir)
        private_dir(self.data_dir / "run")
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir / "run"))
        os.environ["PLATFORM_DATA_DIR"] = str(self.data_dir)
        if not os.environ.get("DJANGO_SECRET_KEY") and not os.environ.get("DJANGO_SECRET_KEY_FILE"):
            # A known key lets anyone forge sessions: one random key per data dir, kept.
            secret_file(self.data_dir / "secret_key", 50)
            os.environ["DJANGO_SECRET_KEY_FILE"] = str(self.data_dir / "secret_key")
        if os.environ.get("DATABASE_URL"):
            check_database_url(os.environ["DATABASE_URL"])
        else:
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
            os.environ["DATABASE_URL"] = self.postgres.start()
            os.environ["DATABASE_URL"] = self.postgres.create_database("genai_platform")
            self._start_guard(self.postgres.pid)
        if os.environ.get("REDIS_URL"):
            check_redis_url(os.environ["REDIS_URL"])
        else:
            self.redis = EmbeddedRedis(self.data_dir / "redis", port=int(os.environ.get("REDIS_PORT", "6399")))
            os.environ["REDIS_URL"] = self.redis.start()

    def _start_guard(self, postmaster: int | None) -> None:
        """pg_ctl daemonizes PostgreSQL: it would outlive a launcher killed with SIGKILL.

        A small guard process holds the read end of a pipe only we can write to; when we
        die, however we die, it reads EOF and asks the postmaster for a fast shutdown.
        """
        if not postmaster:
            return
        read_end, self._guard_pipe = os.pipe()
        code = (
            "import os, sys, signal\n"
            "sys.stdin.buffer.read()\n"
            "pid = int(sys.argv[1])\n"
            "try:\n"
            "    cmd = open(f'/proc/{pid}/cmdline', 'rb').read()\n"
            "except OSError:\n"
            "    cmd = b''\n"
            "if b'postgres' in cmd and sys.argv[2] == '1':\n"
            "    os.kill(pid, signal.SIGINT)\n"
        )
        self.guard = subprocess.Popen(
            [PYTHON, "-c", code, str(postmaster), "1"],
            stdin=read_end,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(read_end)

    def write_record(self) -> None:
        data = {
            "pid": os.getpid(),
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "REDIS_URL": os.environ["REDIS_URL"],
            "DJANGO_SECRET_KEY_FILE": os.environ.get("DJANGO_SECRET_KEY_FILE", ""),
        }
        tmp = self.record.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        tmp.replace(self.record)

    def running_record(self) -> dict[str, str] | None:
        """The services of a launcher that is up now, or None."""
        try:
            data = json.loads(self.record.read_text())
            pid = int(data["pid"])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            return None
        # The pid may have been reused since: it must still be a launcher.
        if b"config.stack" not in cmdline or pid == os.getpid():
            return None
        return data

    def manage(self, *args: str, quiet: bool = False) -> None:
        result = subprocess.run(
            [PYTHON, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL if quiet else None,
        )
        if result.returncode != 0:
            fail(f"`manage.py {' '.join(args)}` failed (exit {result.returncode}); see the output above.")

    def add(self, service: Service) -> Service:
        service.start()
        self.services.append(service)
        return service

    def supervise(self, on_restart: dict[str, object] | None = None) -> None:
        """Restart what exits, with exponential backoff; return never (Ctrl-C raises)."""
        while True:
            now = time.monotonic()
            for service in self.services:
                if service.oneshot and service.proc is not None and service.proc.poll() is not None:
                    if not service.finished and service.proc.returncode != 0:
                        say(f"{service.name} failed ({describe_exit(service.proc.returncode)}); see the output above")
                    service.finished = True
                    continue
                if service.restart_at is not None:
                    if now >= service.restart_at:
                        service.start()
                        say(f"restarted {service.name}")
                    continue
                if service.alive():
                    if service.failures and now - service.started_at >= STABLE_AFTER:
                        service.failures = 0
                    continue
                code = service.proc.returncode if service.proc else None
                if now - service.started_at >= STABLE_AFTER:
                    service.failures = 0
                delay = min(BACKOFF_MAX, 2.0**service.failures)
                service.failures += 1
                service.restart_at = now + delay
                reap_group(service)
                say(f"{service.name} exited with {describe_exit(code)}; restarting it in {delay:g} s")
            time.sleep(0.2)

    def stop(self) -> None:
        # The web server first (no new work comes in), then the worker, then the data.
        for service in self.services:
            if service.name == "worker":
                continue
            stop_service(service)
            say(f"stopped {service.name}")
        for service in self.services:
            if service.name == "worker":
                say(f"stopped worker ({stop_worker(service)})")
        if self.services:  # we wrote it just before starting them
            self.record.unlink(missing_ok=True)
        if self.redis:
            self.redis.stop()
            say("stopped redis")
        if self.postgres:
            self.postgres.stop()
            say("stopped postgres")
        if self._guard_pipe is not None:
            os.close(self._guard_pipe)  # the guard reads EOF and finds nothing to stop
            self._guard_pipe = None
        if self.guard is not None:
            self.guard.wait(10)


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            pass
    return f"exit code {code}"


def reap_group(service: Service) -> None:
    """A dead main process may leave children in its group (Celery's pool): end them."""
    if service.proc is None:
        return
    try:
        os.killpg(service.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_service(service: Service, grace: float = 10) -> None:
    if not service.alive():
        reap_group(service)
        return
    assert service.proc is not None
    os.kill(service.proc.pid, service.stop_signal)
    try:
        service.proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    reap_group(service)
    service.proc.wait()


def stop_worker(service: Service) -> str:
    """Cold-shut the Celery worker: running tasks go back to the queue, no tracebacks.

    SIGQUIT to the main process only (a SIGTERM to the whole group, as before, killed the
    pool processes under a live main process: WorkerLostError). Its running tasks are
    acks_late + reject_on_worker_lost, so Celery cancels them and hands their messages
    back; the lab reaper runs an interrupted lab job again at the next start.
    Returns what was requeued, in words.
    """
    if not service.alive():
        reap_group(service)
        return "nothing running"
    names: list[str] = []
    try:
        from config.celery import app

        node = service.argv[service.argv.index("-n") + 1]
        replies = app.control.inspect(destination=[node], timeout=1.0).active()
        names = [task.get("name", "") for tasks in (replies or {}).values() for task in tasks]
    except Exception as exc:  # a count for the message only; stopping matters more
        say(f"  (could not ask the worker for its running tasks: {exc.__class__.__name__})")
    stop_service(service, grace=30)
    jobs = sum(1 for name in names if name == "labs.lab_job_run")
    others = len(names) - jobs
    words = f"{jobs} lab job{'' if jobs == 1 else 's'} requeued"
    if others:
        words += f", {others} other task{'' if others == 1 else 's'} requeued"
    return words


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


def allowed_hosts(host: str) -> str:
    """DJANGO_ALLOWED_HOSTS for serving on ``host`` (DEBUG is off, so Django checks Host)."""
    names = ["localhost", "127.0.0.1", "[::1]"]
    if host in {"0.0.0.0", "::", ""}:  # every interface: the names and addresses people will use
        candidates = [socket.gethostname(), socket.getfqdn()]
        try:
            candidates += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)]
        except OSError:
            pass
        try:  # the address of the default route (UDP connect sends nothing)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect(("192.0.2.1", 9))
                candidates.append(probe.getsockname()[0])
        except OSError:
            pass
    else:
        candidates = [host]
    for name in candidates:
        name = f"[{name}]" if ":" in name and not name.startswith("[") else name
        if name and name not in names:
            names.append(name)
    return ",".join(names)


def public_host(host: str) -> str:
    """The name others reach ``host`` by: this machine's name when serving every interface."""
    if host in {"0.0.0.0", "::", ""}:
        return socket.getfqdn()
    return f"[{host}]" if ":" in host else host


def web_processes() -> int:
    """WEB_CONCURRENCY, else one web process per core: Django runs a process's sync views on
    one thread, so a single process uses one core however many requests wait."""
    return max(1, int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1))


def run(host: str, port: int, workers: int) -> None:
    if not port_is_free(port, host):
        fail(f"port {port} on {host} is already in use: stop what uses it or run `make run PORT=<other>`.")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", allowed_hosts(host))
    # Credentials name the origin that serves their keys; behind a proxy, set the public https one.
    os.environ.setdefault("CREDENTIALS_BASE_URL", f"http://{public_host(host)}:{port}")
    # One machine, one worker: hand Celery no more lab jobs per queue than it can run at once,
    # the rest wait fairly in the database (apps.labs.services.lab_job_dispatch).
    os.environ.setdefault("LABS_MAX_RUNNING_PER_QUEUE", str(workers))
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
        stack.write_record()
        stack.add(
            Service(
                "worker",
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "--quiet",
                    "worker",
                    "-Q",
                    "cpu,gpu",
                    "-c",
                    str(workers),
                    "--loglevel",
                    "warning",
                    "-n",
                    f"worker.{os.getpid()}@{socket.gethostname()}",
                    # Embedded beat runs the periodic jobs (e.g. the lab reaper) on one machine.
                    "--beat",
                    "--schedule",
                    str(stack.data_dir / "celerybeat-schedule"),
                ],
                # SIGQUIT is Celery's cold shutdown: it requeues running tasks instead of
                # waiting for them (a lab job can run for an hour).
                stop_signal=signal.SIGQUIT,
                # If we die uncleanly so do Redis and Postgres: a cold shutdown would hang
                # on the broker. SIGKILL; its pool processes follow (config.celery), and
                # the reaper requeues the lab job they ran.
                death_signal=signal.SIGKILL,
                quiet_stdout=True,
                env={"DB_APPLICATION_NAME": "genai-worker"},
                nice=int(os.environ.get("WORKER_NICE", "10")),
            )
        )
        stack.add(
            Service(
                "web",
                [
                    PYTHON,
                    "-m",
                    "uvicorn",
                    "config.asgi:application",
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                    "--lifespan",
                    "off",
                    "--workers",
                    str(web_processes()),
                    # Longer than a reader pauses between clicks: uvicorn's 5 s default closed
                    # idle connections just as the next click was sent on them (a reset).
                    "--timeout-keep-alive",
                    os.environ.get("WEB_KEEPALIVE_SECONDS", "75"),
                ],
                # Each web process keeps a few PostgreSQL connections open (psycopg_pool);
                # its sync views run on one thread, so a few are plenty.
                env={"DB_POOL_MAX_SIZE": os.environ.get("DB_POOL_MAX_SIZE", "4"), "DB_APPLICATION_NAME": "genai-web"},
            )
        )
        if not wait_for_tcp(host, port, 60):
            fail("the web server did not start within 60 s; see the output above.")
        # The labs' model registry: the first start trains a small model from the curriculum
        # (a few minutes) behind the running site; later starts find it ready and exit at once.
        # LABS_REGISTRY_BUILD=0 leaves it to `make manage ARGS=registry_build` (the stack's own
        # tests, or a node whose models an admin registers by hand).
        if os.environ.get("LABS_REGISTRY_BUILD", "1") != "0":
            stack.add(
                Service(
                    "registry build",
                    [PYTHON, str(ROOT / "manage.py"), "registry_build", "--quiet-if-ready"],
                    oneshot=True,
                    nice=19,
                    env={"DB_APPLICATION_NAME": "genai-registry-build"},
                )
            )
        debug = (
            " (DEBUG on: development only)"
            if os.environ.get("DJANGO_DEBUG", "").lower() in {"1", "true", "yes", "on"}
            else ""
        )
        say(f"\nServing at http://{host}:{port}/  (started in {time.monotonic() - started:.1f} s){debug}")
        say(
            f"  admin http://{host}:{port}/admin/   API docs http://{host}:{port}/api/docs/   health http://{host}:{port}/healthz"
        )
        if hint:
            say(f"  note: {hint}")
        say("Press Ctrl-C to stop everything.")
        stack.supervise()
    except KeyboardInterrupt:
        say("\nStopping...")
    except ServiceError as exc:
        fail(str(exc))
    finally:
        # A second Ctrl-C must not leave half of it running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
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
    running = None if os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL") else stack.running_record()
    if running is not None:
        # `make run` is up: use its services (a second embedded Redis could not bind its port).
        for name in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY_FILE"):
            if running.get(name) and not os.environ.get(name):
                os.environ[name] = running[name]
        os.environ["PLATFORM_DATA_DIR"] = str(stack.data_dir)
        result = subprocess.run([PYTHON, str(ROOT / "manage.py"), *options.args], cwd=ROOT)
        raise SystemExit(result.returncode)
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
