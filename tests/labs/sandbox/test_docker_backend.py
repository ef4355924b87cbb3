"""The docker backend against a fake Engine API (no Docker engine runs here)."""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path

import pytest

from apps.labs.sandbox import SandboxUnavailable, seccomp
from apps.labs.sandbox.docker import DockerBackend
from apps.labs.sandbox.seccomp_allowlist import ALLOWED_SYSCALLS

from .conftest import make_spec
from .fake_docker_engine import FakeProgram, frame

pytestmark = pytest.mark.sandbox

MiB = 1024 * 1024


def event(seq: int, type_: str, payload: dict) -> bytes:
    return json.dumps({"seq": seq, "type": type_, "payload": payload}).encode() + b"\n"


def run(backend, spec):
    events = []
    status = backend.run(spec, events.append)
    return status, events


def test_create_payload_is_hardened(fake_engine, work_dir):
    backend = DockerBackend(base_url=fake_engine.base_url, image="genai-labs-runner:latest", cpus=1.5)
    spec = make_spec(
        work_dir, "char_gpt", {"steps": 5}, memory_mb=1024, max_processes=32, max_file_mb=64, cpu_seconds=120
    )
    status, _ = run(backend, spec)
    assert status.reason == "succeeded"
    payload = fake_engine.created[0]
    host = payload["HostConfig"]
    assert payload["Image"] == "genai-labs-runner:latest"
    assert payload["User"] == "65534:65534"
    assert payload["Cmd"] == ["python", "-B", "-m", "gpu_workers.runners", "char_gpt", "/work/spec.json"]
    assert payload["NetworkDisabled"] is True
    labels = payload["Labels"]
    assert labels["genai-labs.job-id"] == spec.job_id and labels["genai-labs.runner"] == "char_gpt"
    # the worker that watches it: at worker start, containers of dead workers are removed
    assert labels["genai-labs.worker-host"] == socket.gethostname()
    assert labels["genai-labs.worker-pid"] == str(os.getpid()) and labels["genai-labs.worker-started"]
    env = dict(item.split("=", 1) for item in payload["Env"])
    assert env["HF_HUB_OFFLINE"] == "1" and "DATABASE_URL" not in env and "PATH" not in env
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and "CapAdd" not in host
    assert host.get("Privileged") in (None, False)
    assert host["SecurityOpt"][0] == "no-new-privileges:true"
    assert host["SecurityOpt"][1].startswith("seccomp=")
    assert_docker_default_plus_denials(json.loads(host["SecurityOpt"][1][len("seccomp=") :]))
    assert host["Memory"] == host["MemorySwap"] == 1024 * MiB
    assert host["NanoCpus"] == 1_500_000_000
    assert host["PidsLimit"] == 32
    assert host["Tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=512m"}
    assert host["Mounts"] == [{"Target": "/work", "Source": str(work_dir.resolve()), "Type": "bind", "ReadOnly": False}]
    assert "Binds" not in host or not host["Binds"]
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in host["Ulimits"]}
    assert ulimits == {"fsize": (64 * MiB, 64 * MiB), "nofile": (1024, 1024), "core": (0, 0), "cpu": (120, 125)}
    assert host["Init"] is True
    assert host["IpcMode"] == "private"
    assert "DeviceRequests" not in host or not host["DeviceRequests"]
    assert "Runtime" not in host
    # the job's inputs were written for the container uid
    assert json.loads((work_dir / "spec.json").read_text())["params"] == {"steps": 5}
    assert (work_dir / "spec.json").stat().st_uid == 65534


def assert_docker_default_plus_denials(profile: dict) -> None:
    """Finding 13: a deny-by-default allow-list (like Docker's default) plus our denials."""
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"  # not allow-by-default
    assert profile["defaultErrnoRet"] == errno.ENOSYS  # unlisted: "not implemented", libraries fall back
    arches = {a["architecture"]: a["subArchitectures"] for a in profile["archMap"]}
    assert arches == {
        "SCMP_ARCH_X86_64": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "SCMP_ARCH_AARCH64": ["SCMP_ARCH_ARM"],
    }
    allowed = {n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    # the ordinary allow-list is there (what Python/PyTorch need) ...
    assert {"read", "openat", "mmap", "futex", "clone", "execve", "epoll_wait", "getrandom"} <= allowed
    # ... with nothing of ours allowed under any condition
    never = set(seccomp.DENIED_SYSCALLS) | {"socketcall"}
    assert {"mount", "ptrace", "bpf", "unshare", "setns", "keyctl", "io_uring_setup", "kexec_load"} <= never
    assert not never & allowed
    denied = {n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ERRNO" and "args" not in r for n in r["names"]}
    assert never <= denied
    assert all(r["errnoRet"] == errno.EPERM for r in profile["syscalls"] if set(r["names"]) & never)
    # sockets: AF_UNIX only (allowed for family 1, EACCES for any other)
    for name in ("socket", "socketpair"):
        rules = [r for r in profile["syscalls"] if name in r["names"]]
        assert [(r["action"], r["args"]) for r in rules] == [
            ("SCMP_ACT_ALLOW", [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]),
            ("SCMP_ACT_ERRNO", [{"index": 0, "value": 1, "op": "SCMP_CMP_NE"}]),
        ]
        assert rules[1]["errnoRet"] == errno.EACCES
        assert all(r["names"] == [name] for r in rules)
    # clone without namespace flags only, clone3 -> ENOSYS so glibc falls back
    clone = [r for r in profile["syscalls"] if "clone" in r["names"]]
    assert len(clone) == 1 and clone[0]["names"] == ["clone"] and clone[0]["action"] == "SCMP_ACT_ALLOW"
    assert clone[0]["args"] == [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]
    assert any(r["names"] == ["clone3"] and r.get("errnoRet") == errno.ENOSYS for r in profile["syscalls"])


def test_seccomp_profile_is_our_allow_list_with_denials():
    built = json.loads(seccomp.docker_profile())
    assert_docker_default_plus_denials(built)
    # the allow rule is exactly the shared allow-list (the one the bubblewrap test runs)
    unconditional = [r for r in built["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and "args" not in r]
    assert [r["names"] for r in unconditional] == [list(ALLOWED_SYSCALLS)]
    # every listed name is a syscall libseccomp knows on at least one mapped architecture
    import pyseccomp as sc

    arches = [sc.Arch.X86_64, sc.Arch.X86, sc.Arch.AARCH64, sc.Arch.ARM]
    unknown = [n for n in ALLOWED_SYSCALLS if all(sc.resolve_syscall(a, n) < 0 for a in arches)]
    assert unknown == []


def test_gpu_jobs_request_devices_and_runtime(fake_engine, work_dir):
    backend = DockerBackend(base_url=fake_engine.base_url, runtime="nvidia")
    status, _ = run(backend, make_spec(work_dir, "char_gpt", gpu_count=2))
    assert status.reason == "succeeded"
    host = fake_engine.created[0]["HostConfig"]
    assert host["DeviceRequests"] == [
        {"Driver": "", "Count": 2, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}
    ]
    assert host["Runtime"] == "nvidia"


def test_events_are_parsed_from_the_multiplexed_log_stream(fake_engine, work_dir):
    metric = event(2, "metric", {"name": "loss", "value": 1.25, "step": 1})
    fake_engine.program = FakeProgram(
        frames=[
            ("stdout", event(1, "progress", {"fraction": 0.1, "message": "start"})),
            ("stderr", b"warning: slow\n"),
            ("stdout", metric[:10]),  # one event split over two frames
            ("stdout", metric[10:] + b"plain print\n"),
            ("stdout", b"\xff\xfe garbage\n"),
            ("stdout", event(3, "result", {"status": "ok", "metrics": {"loss": 1.25}})),
        ]
    )
    backend = DockerBackend(base_url=fake_engine.base_url)
    status, events = run(backend, make_spec(work_dir))
    assert status.reason == "succeeded" and status.exit_code == 0
    assert [(e.seq, e.type) for e in events] == [
        (1, "progress"),
        (2, "log"),
        (3, "metric"),
        (4, "log"),
        (5, "log"),
        (6, "result"),
    ]
    assert events[1].payload == {"stream": "stderr", "line": "warning: slow"}
    assert events[2].payload == {"name": "loss", "value": 1.25, "step": 1, "runner_seq": 2}
    assert events[3].payload == {"stream": "stdout", "line": "plain print"}
    # the container is removed once its status was read
    methods = [(m, p.split("/")[-1]) for m, p, _q in fake_engine.requests]
    assert ("DELETE", next(iter(fake_engine.containers))) in methods
    assert all(c.removed for c in fake_engine.containers.values())


def test_frame_format_matches_the_engine():
    assert frame("stdout", b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    assert frame("stderr", b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"


def test_oom_killed_is_out_of_memory(fake_engine, work_dir):
    fake_engine.program = FakeProgram(frames=[("stdout", b"allocating\n")], exit_code=137, oom_killed=True)
    status, _ = run(DockerBackend(base_url=fake_engine.base_url), make_spec(work_dir, memory_mb=256))
    assert (status.reason, status.exit_code) == ("out_of_memory", 137)
    assert "256 MB" in status.detail


def test_nonzero_exit_is_failed(fake_engine, work_dir):
    fake_engine.program = FakeProgram(frames=[("stderr", b"Traceback...\n")], exit_code=2)
    status, _ = run(DockerBackend(base_url=fake_engine.base_url), make_spec(work_dir))
    assert (status.reason, status.exit_code) == ("failed", 2)


def test_wall_time_kills_the_container(fake_engine, work_dir):
    fake_engine.program = FakeProgram(frames=[("stdout", b"working\n")], hang=True)
    started = time.monotonic()
    status, events = run(DockerBackend(base_url=fake_engine.base_url), make_spec(work_dir, wall_seconds=1))
    assert status.reason == "timed_out"
    assert time.monotonic() - started < 5
    assert any(m == "POST" and p.endswith("/kill") for m, p, _q in fake_engine.requests)
    assert any("time limit" in e.payload.get("line", "") for e in events)


def test_cancel_kills_the_container(fake_engine, work_dir):
    fake_engine.program = FakeProgram(frames=[("stdout", b"ready\n")], hang=True)
    backend = DockerBackend(base_url=fake_engine.base_url)
    seen = []
    status = backend.run(make_spec(work_dir), seen.append, should_cancel=lambda: bool(seen))
    assert status.reason == "cancelled"
    kill = [q for m, p, q in fake_engine.requests if m == "POST" and p.endswith("/kill")]
    assert kill and kill[0].get("signal") == "SIGKILL"


def test_log_flood_is_cut_off(fake_engine, work_dir):
    block = (b"z" * 1023 + b"\n") * 1024
    fake_engine.program = FakeProgram(frames=[("stdout", block)] * 80, hang=True)
    backend = DockerBackend(base_url=fake_engine.base_url, output_limit_bytes=8 * MiB)
    status, events = run(backend, make_spec(work_dir, max_log_bytes=10_000))
    assert status.reason == "output_limit"
    assert len([e for e in events if e.payload.get("truncated")]) == 1


def test_unreachable_engine_is_unavailable(tmp_path):
    backend = DockerBackend(base_url=f"unix://{tmp_path / 'missing.sock'}")
    with pytest.raises(SandboxUnavailable, match="No Docker engine answers"):
        backend.check_available()


def test_missing_image_says_how_to_build_it(fake_engine):
    backend = DockerBackend(base_url=fake_engine.base_url, image="not-built:1")
    with pytest.raises(SandboxUnavailable, match="docker build"):
        backend.check_available()
    DockerBackend(base_url=fake_engine.base_url).check_available()


def test_path_map_translates_work_dirs():
    backend = DockerBackend(path_map={"/data/labs": "/srv/platform/labs"})
    assert backend.host_path(Path("/data/labs/job-1")) == "/srv/platform/labs/job-1"
    assert backend.host_path(Path("/data/labs-other/x")) == "/data/labs-other/x"


def _labels(job_id: str, **worker: str) -> dict[str, str]:
    return {"genai-labs.job-id": job_id, "genai-labs.runner": "script", **worker}


def test_a_retry_does_not_collide_with_the_crashed_attempts_container(fake_engine, work_dir):
    """Finding 13: the first attempt's worker died, its container still runs under the name."""
    spec = make_spec(work_dir, "script", memory_mb=256)
    host = socket.gethostname()
    dead = {"genai-labs.worker-host": host, "genai-labs.worker-pid": str(os.getpid()), "genai-labs.worker-started": "0"}
    old = fake_engine.add_container(f"labjob-{spec.job_id}", _labels(spec.job_id, **dead))
    backend = DockerBackend(base_url=fake_engine.base_url)
    status, _ = run(backend, spec)
    assert status.reason == "succeeded", status
    assert old.removed  # force-removed (the engine kills it first): one attempt runs at a time
    assert len(fake_engine.created) == 1 and fake_engine.created[0]["Labels"]["genai-labs.job-id"] == spec.job_id


def test_worker_start_removes_containers_of_dead_workers_only(fake_engine):
    host = socket.gethostname()
    me = {
        "genai-labs.worker-host": host,
        "genai-labs.worker-pid": str(os.getpid()),
        "genai-labs.worker-started": Path(f"/proc/{os.getpid()}/stat").read_text().rpartition(")")[2].split()[19],
    }
    dead_pid = {**me, "genai-labs.worker-started": "0"}  # same pid, another process (pid reused)
    gone = {**me, "genai-labs.worker-pid": "999999999"}
    other_host = {**dead_pid, "genai-labs.worker-host": host + "-other"}
    live = fake_engine.add_container("labjob-live", _labels("live", **me))
    stale = fake_engine.add_container("labjob-stale", _labels("stale", **dead_pid))
    stale_exited = fake_engine.add_container("labjob-exited", _labels("exited", **gone), running=False)
    remote = fake_engine.add_container("labjob-remote", _labels("remote", **other_host))
    unrelated = fake_engine.add_container("someone-elses", {"app": "db"})
    backend = DockerBackend(base_url=fake_engine.base_url)
    assert backend.reap_stale() == 2
    assert stale.removed and stale_exited.removed
    assert not (live.removed or remote.removed or unrelated.removed)
