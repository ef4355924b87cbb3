"""Finding 13: the deny-by-default allow-list is real, not a guess.

The same allow-list that becomes the Docker profile is compiled into a deny-by-default
BPF and loaded by a real bubblewrap sandbox, where a job that does what lab jobs do
(PyTorch training with threads, a DataLoader worker, fork/exec, a thread pool, files,
polling, local sockets) must succeed, while network sockets, namespaces and any syscall
the list does not name must fail.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from apps.labs.sandbox import SandboxUnavailable, seccomp
from apps.labs.sandbox.bubblewrap import BubblewrapBackend
from apps.labs.sandbox.seccomp_allowlist import ALLOWED_SYSCALLS, GROUPS

from .conftest import run_job

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def allowlist_backend() -> BubblewrapBackend:
    backend = BubblewrapBackend(seccomp_mode="allowlist")
    try:
        backend.check_available()
    except SandboxUnavailable as exc:
        pytest.skip(f"bubblewrap sandbox unavailable here: {exc.message}")
    return backend


WORKLOAD = textwrap.dedent("""
    import concurrent.futures, ctypes, errno, os, select, selectors, socket, subprocess, sys, time

    import numpy as np
    import torch

    status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())
    print('seccomp', status['Seccomp'].strip())

    # PyTorch: a few training steps on 2 threads, a DataLoader with one worker process
    torch.set_num_threads(2)
    torch.manual_seed(0)
    x = torch.randn(256, 16)
    y = (x.sum(dim=1, keepdim=True) > 0).float()
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, num_workers=1)
    losses = []
    for xb, yb in loader:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    print('torch steps', len(losses), 'threads', torch.get_num_threads())
    torch.save(model.state_dict(), '/work/model.pt')
    print('numpy', float(np.linalg.norm(np.arange(12.0).reshape(3, 4) @ np.ones(4))) > 0)

    # Hugging Face tokenizers (Rust, its own thread pool): train a tiny BPE, encode a batch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE(unk_token='[UNK]'))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(['hello world', 'hello sandbox', 'lab jobs run here'] * 50,
                            trainers.BpeTrainer(vocab_size=60, special_tokens=['[UNK]']))
    print('tokenizers', len(tok.encode_batch(['hello world', 'lab jobs'])))

    # processes: fork + wait, and a subprocess (vfork/exec of the interpreter)
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    print('fork', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    out = subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True, text=True, check=True)
    print('subprocess', out.stdout.strip())

    # threads
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        print('threadpool', sum(pool.map(lambda n: n * n, range(10))))

    # files in /work
    with open('/work/a.txt', 'w') as f:
        f.write('hello')
    os.rename('/work/a.txt', '/work/b.txt')
    os.makedirs('/work/d/e', exist_ok=True)
    os.symlink('/work/b.txt', '/work/d/link')
    print('files', open('/work/d/link').read(), sorted(os.listdir('/work/d')))

    # time, select, epoll, AF_UNIX socketpair
    t0, m0 = time.time(), time.monotonic()
    time.sleep(0.01)
    a, b = socket.socketpair()
    a.sendall(b'ping')
    print('select', select.select([b], [], [], 1)[0] == [b])
    ep = select.epoll()
    ep.register(b.fileno(), select.EPOLLIN)
    print('epoll', ep.poll(1) == [(b.fileno(), select.EPOLLIN)], b.recv(4))
    ep.close()
    print('clock', time.monotonic() > m0 and time.time() >= t0, time.process_time() > 0)
    sel = selectors.DefaultSelector()
    r, w = os.pipe()
    sel.register(r, selectors.EVENT_READ)
    os.write(w, b'x')
    print('pipe', len(sel.select(1)))

    # what must fail
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        print('AF_INET OPEN')
    except OSError as exc:
        print('AF_INET BLOCKED', errno.errorcode[exc.errno])
    try:
        socket.socketpair(socket.AF_INET)
        print('socketpair AF_INET OPEN')
    except OSError as exc:
        print('socketpair AF_INET BLOCKED', errno.errorcode[exc.errno])
    libc = ctypes.CDLL(None, use_errno=True)
    ret = libc.unshare(0x10000000)  # CLONE_NEWUSER (os.unshare is Python >= 3.12)
    print('unshare', 'OPEN' if ret == 0 else 'BLOCKED ' + errno.errorcode[ctypes.get_errno()])
    # personality(0xffffffff) only queries; the allow-list does not name it, the
    # deny-list filter lets it through
    ret = libc.personality(0xFFFFFFFF)
    print('personality', 'OPEN' if ret != -1 else 'BLOCKED ' + errno.errorcode[ctypes.get_errno()])
    print('workload done')
""").lstrip()


def test_a_lab_workload_runs_under_the_allow_list_and_the_rest_is_refused(allowlist_backend, work_dir):
    run = run_job(allowlist_backend, work_dir, WORKLOAD, max_processes=64, memory_mb=1536)
    assert run.status.reason == "succeeded", run.text
    lines = run.lines
    expected = [
        "seccomp 2",
        "torch steps 4 threads 2",
        "numpy True",
        "tokenizers 2",
        "fork 7",
        "subprocess 42",
        "threadpool 285",
        "files hello ['e', 'link']",
        "select True",
        "epoll True b'ping'",
        "clock True True",
        "pipe 1",
        # refused: other socket families (EACCES), namespaces (EPERM), anything unlisted (ENOSYS)
        "AF_INET BLOCKED EACCES",
        "socketpair AF_INET BLOCKED EACCES",
        "unshare BLOCKED EPERM",
        "personality BLOCKED ENOSYS",
        "workload done",
    ]
    for line in expected:
        assert line in lines, f"missing {line!r} in:\n{run.text}"
    assert (work_dir / "model.pt").stat().st_size > 0


def test_real_lab_runner_runs_under_the_allow_list(allowlist_backend, work_dir):
    run = run_job(allowlist_backend, work_dir, runner="char_gpt", params={"steps": 20}, memory_mb=1536)
    assert run.status.reason == "succeeded", run.text
    assert run.result and run.result["status"] == "ok"
    assert run.metrics("val_loss")


def test_the_allow_list_never_names_a_denied_or_conditional_syscall():
    never = set(seccomp.DENIED_SYSCALLS) | {"socketcall", "socket", "socketpair", "clone", "clone3"}
    assert not never & set(ALLOWED_SYSCALLS)
    assert set(ALLOWED_SYSCALLS) == {n for names in GROUPS.values() for n in names}
    # the Docker profile and the BPF come from the same list
    profile = json.loads(seccomp.docker_profile())
    assert profile["syscalls"][0]["names"] == list(ALLOWED_SYSCALLS)


def test_unknown_seccomp_mode_is_a_clear_configuration_error():
    with pytest.raises(SandboxUnavailable, match="seccomp_mode"):
        BubblewrapBackend(seccomp_mode="permissive").check_available()
