"""The backend contract, run against every backend that can run on this machine."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from apps.labs.sandbox import (
    BACKENDS,
    JobSpec,
    SandboxBackend,
    SandboxError,
    SandboxLimits,
    SandboxUnavailable,
    get_backend,
    resolve_artifact_path,
)
from apps.labs.sandbox.bubblewrap import BubblewrapBackend
from apps.labs.sandbox.docker import DockerBackend

from .conftest import make_spec, run_job

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="session")
def real_docker_backend() -> DockerBackend:
    """The docker backend against the real engine (DOCKER_HOST or the local socket)."""
    docker = DockerBackend()
    try:
        docker.check_available()
    except SandboxUnavailable as exc:
        pytest.skip(f"no Docker engine ({docker.base_url})" if "No Docker engine" in exc.message else exc.message)
    return docker


@pytest.fixture(params=["bubblewrap", "bubblewrap-pooled", "docker"])
def backend(request) -> SandboxBackend:
    if request.param == "bubblewrap":
        return request.getfixturevalue("bwrap_backend")
    if request.param == "bubblewrap-pooled":
        return request.getfixturevalue("pooled_bwrap_backend")
    return request.getfixturevalue("real_docker_backend")


# -- get_backend ---------------------------------------------------------------------------


def test_names_map_to_sandboxed_backends_only():
    assert set(BACKENDS) == {"bubblewrap", "docker", "kubernetes"}
    assert isinstance(get_backend("bubblewrap"), BubblewrapBackend)
    assert isinstance(get_backend("docker", base_url="unix:///nonexistent.sock"), DockerBackend)
    assert isinstance(get_backend("apps.labs.sandbox.bubblewrap.BubblewrapBackend"), BubblewrapBackend)
    for name in ("local", "local-unsafe-for-tests-only", "none", "subprocess"):
        with pytest.raises(SandboxUnavailable):
            get_backend(name)
    with pytest.raises(SandboxUnavailable):
        get_backend("pathlib.Path")  # importable, but not a backend


def test_settings_are_read_lazily(monkeypatch):
    fake = SimpleNamespace(LABS_SANDBOX_BACKEND="docker", LABS_SANDBOX_OPTIONS={"image": "x:1", "cpus": 1})
    monkeypatch.setattr("django.conf.settings", fake)
    backend = get_backend(cpus=3)
    assert isinstance(backend, DockerBackend)
    assert backend.options["image"] == "x:1" and backend.options["cpus"] == 3
    monkeypatch.setattr("django.conf.settings", SimpleNamespace(LABS_SANDBOX_BACKEND=""))
    with pytest.raises(SandboxUnavailable, match="LABS_SANDBOX_BACKEND"):
        get_backend()


def test_unknown_options_are_refused():
    with pytest.raises(SandboxError, match="Unknown option"):
        BubblewrapBackend(memory_limit=1)


def test_missing_bwrap_says_how_to_install_it(tmp_path):
    backend = BubblewrapBackend(bwrap=str(tmp_path / "no-bwrap"))
    with pytest.raises(SandboxUnavailable, match=r"apt-get install -y bubblewrap"):
        backend.check_available()


def test_input_file_names_cannot_escape(bwrap_backend, work_dir):
    for bad in ("../evil.py", "/etc/cron.d/x", "a/../../b", "spec.json"):
        spec = make_spec(work_dir, files={bad: b"x"})
        with pytest.raises(SandboxError):
            bwrap_backend.start(spec)


def test_artifact_paths_refuse_symlinks_and_escapes(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    (work / "ok.json").write_text("{}")
    (work / "link").symlink_to("/etc/passwd")
    (work / "dir").symlink_to("/etc")
    assert resolve_artifact_path(work, "ok.json") == (work / "ok.json").resolve()
    for bad in ("link", "dir/passwd", "../w/ok.json", "/etc/passwd", "missing"):
        with pytest.raises(SandboxError):
            resolve_artifact_path(work, bad)


# -- behaviour every backend must have -----------------------------------------------------


def test_success_streams_ordered_events_and_writes_spec(backend, work_dir):
    code = (
        "import json, pathlib\n"
        "from gpu_workers.runners import protocol\n"
        "spec = json.loads(pathlib.Path('/work/spec.json').read_text())\n"
        "print('hello from', spec['runner'], spec['params']['n'])\n"
        "import sys; sys.stdout.buffer.write(b'bytes ok\\n')\n"
        "protocol.metric('answer', 42, step=1)\n"
        "pathlib.Path('out.txt').write_text('artifact')\n"
        "protocol.artifact('out.txt', 'text')\n"
    )
    run = run_job(backend, work_dir, code, params={"n": 7})
    assert run.status.reason == "succeeded" and run.status.exit_code == 0
    seqs = [e.seq for e in run.events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert "hello from script 7" in run.lines and "bytes ok" in run.lines
    assert run.metrics("answer")[0].payload == {"name": "answer", "value": 42, "step": 1}
    artifact = run.of_type("artifact")[0].payload
    assert artifact["size"] == 8 and len(artifact["sha256"]) == 64
    assert resolve_artifact_path(work_dir, artifact["path"]).read_text() == "artifact"
    assert run.result == {"status": "ok", "metrics": {}}


def test_nonzero_exit_is_failed_with_code(backend, work_dir):
    run = run_job(backend, work_dir, "import sys\nprint('bye')\nsys.exit(3)\n")
    assert (run.status.reason, run.status.exit_code) == ("failed", 3)
    assert run.result["status"] == "error"


def test_uncaught_exception_reports_error_result_and_traceback(backend, work_dir):
    run = run_job(backend, work_dir, "raise ValueError('bad learning rate')\n")
    assert run.status.reason == "failed" and run.status.exit_code == 1
    assert run.result["status"] == "error" and "ValueError: bad learning rate" in run.result["error"]
    stderr = [e.payload["line"] for e in run.of_type("log") if e.payload["stream"] == "stderr"]
    assert any("Traceback" in line for line in stderr)


def test_wall_time_limit(backend, work_dir):
    run = run_job(backend, work_dir, "import time\nwhile True: time.sleep(0.1)\n", wall_seconds=2)
    assert run.status.reason == "timed_out"
    assert "2 s time limit" in run.status.detail
    assert 2 <= run.seconds < 6


def test_cancel_through_should_cancel(backend, work_dir):
    spec = make_spec(work_dir, files={"main.py": b"import time\nprint('started', flush=True)\ntime.sleep(60)\n"})
    seen = []
    started = time.monotonic()
    status = backend.run(spec, seen.append, should_cancel=lambda: any("started" in str(e.payload) for e in seen))
    assert status.reason == "cancelled"
    assert time.monotonic() - started < 5


def test_poll_is_none_while_running_and_stop_is_idempotent(backend, work_dir):
    handle = backend.start(make_spec(work_dir, files={"main.py": b"import time\ntime.sleep(60)\n"}))
    time.sleep(0.3)
    assert backend.poll(handle) is None
    stoppers = [threading.Thread(target=backend.stop, args=(handle,)) for _ in range(3)]
    for t in stoppers:
        t.start()
    for t in stoppers:
        t.join()
    backend.stop(handle, "timed_out")  # later reasons do not override the first
    status = backend.wait(handle, timeout=10)
    assert status.reason == "cancelled"
    backend.stop(handle)
    assert backend.poll(handle) is status


def test_run_propagates_errors_from_on_event_and_kills_the_job(backend, work_dir, no_leftovers):
    spec = make_spec(work_dir, files={"main.py": b"import time\nprint('x', flush=True)\ntime.sleep(60)\n"})

    def boom(event):
        raise RuntimeError("database went away")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="database went away"):
        backend.run(spec, boom)
    assert time.monotonic() - started < 10


def test_limits_reach_the_runner(backend, work_dir):
    code = "import json\nprint(json.load(open('/work/spec.json'))['limits']['max_processes'])\n"
    run = run_job(backend, work_dir, code, max_processes=48)
    assert "48" in run.lines


def test_spec_defaults_match_the_contract():
    limits = SandboxLimits()
    assert (
        limits.wall_seconds,
        limits.cpu_seconds,
        limits.memory_mb,
        limits.max_processes,
        limits.max_file_mb,
        limits.max_log_bytes,
        limits.gpu_count,
    ) == (600, 600, 2048, 64, 256, 1_000_000, 0)
    spec = JobSpec("id", "script", {}, limits, Path("/x"))
    assert spec.files == {} and spec.to_runner_json()["work_dir"] == "/work"
