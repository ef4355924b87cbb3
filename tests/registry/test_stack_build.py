"""`make run`'s background registry build is a one-shot service: it is never restarted."""

from __future__ import annotations

import sys

import pytest

from config import stack as launcher


def test_a_oneshot_service_that_exits_is_not_restarted(monkeypatch, capsys):
    stack = launcher.Stack()
    done = stack.add(launcher.Service("registry build", [sys.executable, "-c", "pass"], oneshot=True))
    failed = stack.add(launcher.Service("other build", [sys.executable, "-c", "raise SystemExit(3)"], oneshot=True))
    done.proc.wait()
    failed.proc.wait()
    ticks = {"n": 0}

    def sleep(_seconds: float) -> None:
        ticks["n"] += 1
        if ticks["n"] > 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(launcher.time, "sleep", sleep)
    with pytest.raises(KeyboardInterrupt):
        stack.supervise()
    assert done.finished and failed.finished
    assert done.restart_at is None and failed.restart_at is None and done.failures == failed.failures == 0
    out = capsys.readouterr().out + capsys.readouterr().err
    assert "other build failed (exit code 3)" in out and "registry build failed" not in out and "restart" not in out
