"""Escape suite: each test tries one way out of the bubblewrap sandbox and asserts the block.

The job code prints what happened ("BLOCKED <how>" / "OPEN <what>") so a failure shows
exactly which wall gave way.
"""

from __future__ import annotations

import os
import socket
import subprocess
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from apps.labs.sandbox.cgroups import PARENT_GROUP, JobCgroups
from apps.labs.sandbox.workdirs import work_dir_release

from .conftest import HOST_JOB_UID, JOB_UID, job_uid_pids, make_spec, run_job

pytestmark = pytest.mark.sandbox


@pytest.fixture(params=["cold", "pooled"])
def bwrap_backend(request, bwrap_backend):
    """Every escape attempt runs in a cold sandbox and in a pooled (warm) one."""
    return bwrap_backend if request.param == "cold" else request.getfixturevalue("pooled_bwrap_backend")


def job(code: str) -> str:
    return textwrap.dedent(code).lstrip()


def test_runs_as_nobody_without_privileges(bwrap_backend, work_dir):
    code = job("""
        import ctypes, os
        status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())
        print('ids', os.getuid(), os.geteuid(), os.getgid(), os.getgroups())
        for key in ('CapEff', 'CapPrm', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp'):
            print(key, status[key].strip())
        try:
            os.setuid(0)
            print('OPEN setuid')
        except PermissionError:
            print('BLOCKED setuid')
    """)
    run = run_job(bwrap_backend, work_dir, code)
    assert run.status.reason == "succeeded", run.text
    lines = run.lines
    assert f"ids {JOB_UID} {JOB_UID} {JOB_UID} []" in lines
    for cap in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        assert f"{cap} 0000000000000000" in lines
    assert "NoNewPrivs 1" in lines and "Seccomp 2" in lines
    assert "BLOCKED setuid" in lines


def test_cannot_reach_a_host_tcp_port(bwrap_backend, work_dir):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    try:
        code = job(f"""
            import socket
            for host in ('127.0.0.1', 'localhost', '10.0.0.1'):
                try:
                    socket.create_connection((host, {port}), timeout=1)
                    print('OPEN', host)
                except OSError as exc:
                    print('BLOCKED', host, exc.errno)
        """)
        run = run_job(bwrap_backend, work_dir, code)
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody ever connected
    finally:
        listener.close()
    assert run.status.reason == "succeeded", run.text
    assert not [line for line in run.lines if line.startswith("OPEN")]
    assert "BLOCKED 127.0.0.1 13" in run.lines  # EACCES from the seccomp filter


def test_only_unix_sockets_can_be_created(bwrap_backend, work_dir):
    code = job("""
        import socket
        families = {'AF_INET': socket.AF_INET, 'AF_INET6': socket.AF_INET6, 'AF_NETLINK': socket.AF_NETLINK,
                    'AF_PACKET': socket.AF_PACKET, 'AF_UNIX': socket.AF_UNIX}
        for name, family in families.items():
            kind = socket.SOCK_RAW if name in ('AF_NETLINK', 'AF_PACKET') else socket.SOCK_STREAM
            try:
                socket.socket(family, kind).close()
                print('OPEN', name)
            except OSError as exc:
                print('BLOCKED', name, exc.errno)
    """)
    run = run_job(bwrap_backend, work_dir, code)
    assert run.status.reason == "succeeded", run.text
    for name in ("AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"):
        assert f"BLOCKED {name} 13" in run.lines
    assert "OPEN AF_UNIX" in run.lines


def test_dangerous_syscalls_are_denied(bwrap_backend, work_dir):
    code = job("""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        def attempt(name, fn):
            ret = fn()
            print(name, 'OPEN' if ret == 0 else f'BLOCKED {ctypes.get_errno()}')
        attempt('unshare-user', lambda: libc.unshare(0x10000000))
        attempt('unshare-net', lambda: libc.unshare(0x40000000))
        attempt('mount', lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))
        attempt('ptrace', lambda: libc.ptrace(0, 0, None, None))
        attempt('bpf', lambda: libc.syscall(321, 0, None, 0))
        attempt('keyctl', lambda: libc.syscall(250, 0, 0, 0, 0, 0))
        attempt('io_uring_setup', lambda: libc.syscall(425, 1, None))
        attempt('perf_event_open', lambda: libc.syscall(298, None, 0, -1, -1, 0))
    """)
    run = run_job(bwrap_backend, work_dir, code)
    assert run.status.reason == "succeeded", run.text
    for name in (
        "unshare-user",
        "unshare-net",
        "mount",
        "ptrace",
        "bpf",
        "keyctl",
        "io_uring_setup",
        "perf_event_open",
    ):
        assert f"{name} BLOCKED 1" in run.lines, run.text


def test_no_secrets_no_host_files(bwrap_backend, work_dir, monkeypatch):
    secret = f"s3cret-{uuid.uuid4().hex}"
    monkeypatch.setenv("LABS_TEST_SECRET", secret)
    monkeypatch.setenv("DATABASE_URL", f"postgres://admin:{secret}@db/x")
    code = job("""
        import os, glob
        print('ENV', sorted(os.environ))
        print('VALUES', ' '.join(os.environ.values()))
        for path in ('/root', '/home', '/work/main', '/etc/shadow', '/var/run/docker.sock', '/sys/fs/cgroup'):
            print('EXISTS' if os.path.exists(path) else 'MISSING', path)
        for path in sorted(glob.glob('/proc/[0-9]*/environ')):
            try:
                data = open(path, 'rb').read()
                print('READ', path, data.decode(errors='replace').replace(chr(0), ' '))
            except OSError as exc:
                print('BLOCKED', path, exc.errno)
    """)
    run = run_job(bwrap_backend, work_dir, code)
    assert run.status.reason == "succeeded", run.text
    everything = repr([e.payload for e in run.events])
    assert secret not in everything
    assert "LABS_TEST_SECRET" not in everything and "DATABASE_URL" not in everything
    for path in ("/root", "/home", "/work/main", "/etc/shadow", "/var/run/docker.sock", "/sys/fs/cgroup"):
        assert f"MISSING {path}" in run.lines
    # Only the job's own pid namespace is visible; its init (bwrap, root) is unreadable.
    assert "BLOCKED /proc/1/environ 13" in run.lines


def test_writes_only_inside_work_and_private_tmp(bwrap_backend, work_dir):
    marker = f"labs-escape-{uuid.uuid4().hex}"
    code = job(f"""
        import os
        for path in ('/usr/x', '/opt/site/x', '/opt/python/x', '/opt/app/gpu_workers/x', '/etc/x', '/x',
                     '/proc/sys/kernel/hostname', '/dev/x'):
            try:
                with open(path, 'w') as fh:
                    fh.write('x')
                print('OPEN', path)
            except OSError as exc:
                print('BLOCKED', path, exc.errno)
        open('/tmp/{marker}', 'w').write('private')
        open('/work/result.txt', 'w').write('ok')
        print('TMP', os.listdir('/tmp'))
    """)
    run = run_job(bwrap_backend, work_dir, code)
    assert run.status.reason == "succeeded", run.text
    assert not [line for line in run.lines if line.startswith("OPEN")], run.text
    assert f"TMP ['{marker}']" in run.lines  # /tmp is private and starts empty
    assert not Path("/tmp", marker).exists()
    assert (work_dir / "result.txt").read_text() == "ok"
    assert (work_dir / "result.txt").stat().st_uid == HOST_JOB_UID


def test_fork_bomb_is_capped_and_cleaned_up(bwrap_backend, work_dir, no_leftovers):
    # A bounded probe first: how many processes can the job make?
    code = job("""
        import os, time
        made = 0
        try:
            for _ in range(500):
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                made += 1
        except OSError as exc:
            print('STOPPED', made, exc.errno)
    """)
    run = run_job(bwrap_backend, work_dir / "count", code, max_processes=24)
    assert run.status.reason == "succeeded", run.text
    stopped = [line for line in run.lines if line.startswith("STOPPED")]
    assert stopped and int(stopped[0].split()[1]) < 24
    assert run.seconds < 10  # the sleeping children died with the job

    # Then the real thing: every process forks forever.
    code = job("""
        import os
        print('go', flush=True)
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """)
    bomb = run_job(bwrap_backend, work_dir / "bomb", code, max_processes=24, wall_seconds=2)
    assert bomb.status.reason == "timed_out"
    assert bomb.seconds < 8
    assert subprocess.run(["true"], check=False).returncode == 0  # the worker can still fork


def test_memory_hog_is_out_of_memory(bwrap_backend, work_dir, no_leftovers):
    code = job("""
        hog = []
        for i in range(64):
            hog.append(bytearray(b'x' * (32 * 1024 * 1024)))
            print('allocated', (i + 1) * 32, 'MB', flush=True)
    """)
    run = run_job(bwrap_backend, work_dir, code, memory_mb=128)
    assert run.status.reason == "out_of_memory", (run.status, run.text)
    assert "128 MB" in run.status.detail
    assert "allocated 2048 MB" not in run.lines


def test_disk_filler_hits_the_file_size_limit(bwrap_backend, work_dir):
    code = job("""
        chunk = b'x' * (1024 * 1024)
        with open('/work/big.bin', 'wb') as fh:
            for i in range(100):
                fh.write(chunk)
                fh.flush()
    """)
    run = run_job(bwrap_backend, work_dir, code, max_file_mb=8)
    assert run.status.reason == "failed"
    assert "8 MB file size limit" in run.status.detail
    assert (work_dir / "big.bin").stat().st_size <= 8 * 1024 * 1024


def test_cpu_spinner_is_stopped_at_wall_time(bwrap_backend, work_dir, no_leftovers):
    run = run_job(bwrap_backend, work_dir, "while True:\n    pass\n", wall_seconds=2)
    assert run.status.reason == "timed_out"
    assert run.seconds < 2 + 4, run.seconds
    # the job's own accounting (cgroups): up to 2 s of CPU (less on a busy machine), memory
    assert 0 < run.status.usage["cpu_seconds"] < 5, run.status.usage
    assert run.status.usage["peak_memory_mb"] > 1, run.status.usage


def test_cpu_time_limit(bwrap_backend, work_dir):
    run = run_job(bwrap_backend, work_dir, "while True:\n    pass\n", cpu_seconds=1, wall_seconds=20)
    assert run.status.reason == "timed_out"
    assert "CPU time limit" in run.status.detail
    assert run.seconds < 8


def _job_cgroups() -> set[Path]:
    own = Path("/proc/self/cgroup").read_text()
    pids_group = next(line.split(":", 2)[2] for line in own.splitlines() if ":pids:" in line)
    parent = Path("/sys/fs/cgroup/pids") / pids_group.lstrip("/") / PARENT_GROUP
    return {p for p in parent.iterdir() if p.is_dir()} if parent.exists() else set()


def test_orphaned_background_processes_do_not_survive(bwrap_backend, work_dir, no_leftovers):
    before, groups_before = job_uid_pids(), _job_cgroups()
    code = job("""
        import os, subprocess, time
        subprocess.Popen(['sleep', '300'], start_new_session=True)
        if os.fork() == 0:          # classic daemon: double fork + setsid
            os.setsid()
            if os.fork() == 0:
                time.sleep(300)
            os._exit(0)
        time.sleep(0.3)
        print('leaving', flush=True)
    """)
    run = run_job(bwrap_backend, work_dir, code)
    assert run.status.reason == "succeeded", run.text
    assert run.seconds < 10
    assert not (job_uid_pids() - before)
    assert not (_job_cgroups() - groups_before), "the job's cgroups were not removed"


def test_a_gigabyte_of_output_is_cut_off(bwrap_backend, work_dir, no_leftovers):
    code = job("""
        import os
        line = ('y' * 1023 + '\\n').encode()
        block = line * 1024
        for _ in range(1024):          # 1 GiB in 1 MiB writes, straight to the stdout pipe
            os.write(1, block)
    """)
    run = run_job(bwrap_backend, work_dir, code, max_log_bytes=100_000)
    assert run.status.reason == "output_limit"
    notices = [e for e in run.of_type("log") if e.payload.get("truncated")]
    assert len(notices) == 1
    kept = [e for e in run.of_type("log") if e.payload["stream"] == "stdout"]
    assert sum(len(e.payload["line"]) + 1 for e in kept) <= 100_000
    assert run.seconds < 20


def test_output_over_the_log_limit_is_truncated_but_the_job_finishes(bwrap_backend, work_dir):
    code = job("""
        from gpu_workers.runners import protocol
        for i in range(20000):
            print('line', i, 'x' * 90)
        protocol.metric('after_truncation', 1.0)
    """)
    run = run_job(bwrap_backend, work_dir, code, max_log_bytes=50_000)
    assert run.status.reason == "succeeded"
    assert len([e for e in run.of_type("log") if e.payload.get("truncated")]) == 1
    assert run.metrics("after_truncation")
    assert run.result["status"] == "ok"


def test_garbage_stdout_does_not_confuse_the_worker(bwrap_backend, work_dir):
    code = job("""
        import os, random
        from gpu_workers.runners import protocol
        rnd = random.Random(7)
        out = 1  # the real stdout, bypassing the script runner's line capture
        os.write(out, bytes(rnd.randrange(256) for _ in range(20000)))
        os.write(out, b'\\n{"seq": 1, "type": "progress"\\n')
        os.write(out, b'{"seq": 999, "type": "nonsense", "payload": {}}\\n')
        os.write(out, b'{"seq": 5, "type": "metric", "payload": "no"}\\n')
        os.write(out, b'\\xff\\xfe\\x00\\x01 half a line without end')
        os.write(out, b'z' * 300000 + b'\\n')
        protocol.metric('still_parsed', 3.0, step=2)
    """)
    run = run_job(bwrap_backend, work_dir, code)
    assert run.status.reason == "succeeded", run.status
    seqs = [e.seq for e in run.events]
    assert seqs == sorted(set(seqs))
    assert run.metrics("still_parsed")[0].payload["value"] == 3.0
    assert all(len(e.payload.get("line", "")) <= 2000 for e in run.of_type("log"))
    assert run.result["status"] == "ok"


def test_cancel_from_another_thread_kills_the_tree(bwrap_backend, work_dir, no_leftovers):
    code = job("""
        import subprocess, time
        for _ in range(3):
            subprocess.Popen(['sleep', '300'])
        print('ready', flush=True)
        time.sleep(300)
    """)
    handle = bwrap_backend.start(make_spec(work_dir, files={"main.py": code.encode()}))
    events = []
    stopper = None
    started = time.monotonic()
    for event in bwrap_backend.stream(handle):
        events.append(event)
        if "ready" in str(event.payload) and stopper is None:
            stopper = threading.Thread(target=bwrap_backend.stop, args=(handle,))
            stopper.start()
    stopper.join()
    status = bwrap_backend.wait(handle)
    assert status.reason == "cancelled"
    assert time.monotonic() - started < 10
    assert handle.process.poll() is not None
    assert not handle.cgroups or not any(d.exists() for d in handle.cgroups.dirs.values())


def test_killing_the_worker_kills_the_sandbox(bwrap_backend, tmp_path, no_leftovers):
    """--die-with-parent: a worker that dies hard (kill -9) does not leave its job running."""
    work = tmp_path / "w"
    script = tmp_path / "worker.py"
    code = job(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[3])!r})
        from apps.labs.sandbox.bubblewrap import BubblewrapBackend
        from tests.labs.sandbox.conftest import make_spec
        spec = make_spec(__import__('pathlib').Path({str(work)!r}),
                         files={{'main.py': b'import time\\nprint(1, flush=True)\\ntime.sleep(300)\\n'}})
        handle = BubblewrapBackend().start(spec)
        print('started', flush=True)
        time.sleep(300)
    """)
    script.write_text(code)
    before = job_uid_pids()
    worker = subprocess.Popen([os.sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 10
        while not (job_uid_pids() - before) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job_uid_pids() - before, "the job never started"
    finally:
        worker.kill()
        worker.wait()
    deadline = time.monotonic() + 5
    while (job_uid_pids() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (job_uid_pids() - before)
    # Nobody was left to remove the dead worker's (now empty) cgroups: the reaper does.
    JobCgroups.reap_stale(Path("/sys/fs/cgroup"), min_age=0)
    # ... and its quota-mounted work dir: the sweep (work_dirs_sweep) or the next attempt does.
    work_dir_release(work)
