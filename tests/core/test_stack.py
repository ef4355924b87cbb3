"""`make run`'s launcher, started for real as a subprocess and requested over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest
import yaml

from config.embedded import free_port

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]


def _fresh_database(name: str) -> str:
    """A new, empty database on the suite's Postgres server (not the pytest-django one)."""
    base = os.environ["DATABASE_URL"]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(urlparse(base)._replace(path="/" + name))


def _stack_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # LABS_MODEL_DIR (set by the registry test fixtures) stays out: a launch has its own data dir.
    skip = {"DJANGO_SETTINGS_MODULE", "TEST_DATABASE_URL", "LABS_MODEL_DIR"}
    env = {k: v for k, v in os.environ.items() if k not in skip}
    redis = urlparse(os.environ["REDIS_URL"])._replace(path="/3")  # its own Redis db: no cross-talk
    env.update({"PLATFORM_DATA_DIR": str(tmp_path / "data"), "REDIS_URL": urlunparse(redis), "PYTHONUNBUFFERED": "1",
                # Training the labs' model would only compete with these tests for the CPU.
                "LABS_REGISTRY_BUILD": "0"})
    env.update(extra)
    return env


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - our own loopback server
            return response.status, response.read(), response.geturl()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), url


class Launch:
    def __init__(self, env: dict[str, str], port: int, log: Path):
        self.port = port
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "config.stack", "run", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_serving(self, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if "Serving at" in self.output():
                return time.monotonic() - started
            if self.proc.poll() is not None:
                raise AssertionError(f"launcher exited {self.proc.returncode}:\n{self.output()}")
            time.sleep(0.25)
        raise AssertionError(f"not serving after {timeout} s:\n{self.output()}")

    def stop(self) -> int:
        os.killpg(self.proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise


def _web_connections(database_url: str) -> set[int]:
    """Backend pids of the web processes' PostgreSQL connections (named by `make run`)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'genai-web'").fetchall()
    return {pid for (pid,) in rows}


def _pids_with(needle: bytes) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _niceness(pid: int) -> int:
    # /proc/PID/stat: "pid (comm) state ..."; nice is field 19, counted after the comm's ")".
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_run_command_serves_every_entry_point_and_restarts_with_its_data(tmp_path):
    database_url = _fresh_database("stack_check")
    env = _stack_env(tmp_path, DATABASE_URL=database_url, WEB_CONCURRENCY="2")
    port = free_port()
    first = Launch(env, port, tmp_path / "first.log")
    try:
        first.wait_serving(300)
        base = f"http://127.0.0.1:{port}"
        # Two web processes, each keeping its pooled connections between requests: the same
        # backends answer twenty more requests (without a pool each request opens its own).
        for _ in range(20):
            assert _get(base + "/learn/")[0] == 200
        pooled = _web_connections(database_url)
        assert 1 <= len(pooled) <= 2 * 4, pooled
        for _ in range(20):
            assert _get(base + "/learn/")[0] == 200
        assert _web_connections(database_url) - pooled == set()
        # Lab work yields the CPU to the web: the worker (and what it starts) runs niced.
        workers = _pids_with(f"worker.{first.proc.pid}@".encode())
        assert workers and {_niceness(pid) for pid in workers} == {10}
        status, body, _ = _get(base + "/")
        assert status == 200 and b"From zero to hired" in body
        status, body, _ = _get(base + "/accounts/login/")
        assert status == 200 and b'name="username"' in body
        status, body, final_url = _get(base + "/admin/")
        assert status == 200 and "/admin/login/" in final_url
        status, body, _ = _get(base + "/api/schema/")
        assert status == 200 and yaml.safe_load(body)["openapi"].startswith("3.")
        status, body, _ = _get(base + "/api/docs/")
        assert status == 200 and b"swagger-ui" in body
        asset = next(part.split('"')[0] for part in body.decode().split('src="')[1:] if "sidecar" in part)
        assert _get(base + asset)[0] == 200, asset  # Swagger UI served locally, no CDN
        status, body, _ = _get(base + "/static/vendor/htmx-2.0.11.min.js")
        assert status == 200 and b"htmx" in body
        deadline = time.monotonic() + 60
        while True:  # the worker needs a moment to register
            status, body, _ = _get(base + "/healthz")
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert status == 200, body
        report = yaml.safe_load(body)
        assert all(check["ok"] for check in report["checks"].values())
        out = first.output()
        for account in ("learner", "author", "hiring"):
            assert account in out
    finally:
        assert first.stop() == 0, first.output()
    assert "Stopping" in first.output()
    with socket.socket() as sock:  # every process it started is gone: the port is free again
        assert sock.connect_ex(("127.0.0.1", port)) != 0

    second = Launch(env, port, tmp_path / "second.log")
    try:
        second.wait_serving(120)
        out = second.output()
        assert "unchanged since it was created" in out  # same database, same accounts
        assert _get(f"http://127.0.0.1:{port}/")[0] == 200
    finally:
        second.stop()


def _run_once(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "config.stack", "run", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_port_in_use_is_one_clear_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = _one_line_error(_run_once(_stack_env(tmp_path), "--port", str(port)))
    assert f"port {port}" in line and "already in use" in line


def test_wrong_database_url_is_one_clear_line(tmp_path):
    env = _stack_env(tmp_path, DATABASE_URL="postgresql://nobody:wrong@127.0.0.1:1/none")
    line = _one_line_error(_run_once(env, "--port", str(free_port())))
    assert "DATABASE_URL" in line and "unset it" in line


def test_non_postgres_database_url_is_refused(tmp_path):
    env = _stack_env(tmp_path, DATABASE_URL="sqlite:///db.sqlite3")
    line = _one_line_error(_run_once(env, "--port", str(free_port())))
    assert "postgres://" in line


def test_wrong_redis_url_is_one_clear_line(tmp_path):
    env = _stack_env(tmp_path, DATABASE_URL=_fresh_database("stack_redis_check"), REDIS_URL="redis://127.0.0.1:1/0")
    line = _one_line_error(_run_once(env, "--port", str(free_port())))
    assert "REDIS_URL" in line
