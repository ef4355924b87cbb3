"""The "your own script" lab: runs the learner's ``main.py`` from the work dir.

The script runs in this process (``runpy``) as ``__main__``, with the work dir as its
directory. What it prints becomes log lines (so printed text can never pose as an
event); to report metrics it can use the protocol directly::

    from gpu_workers.runners import protocol
    protocol.metric("accuracy", 0.93)

params: ``entrypoint`` (default ``main.py``), ``args`` (list of strings for sys.argv).
"""

from __future__ import annotations

import codecs
import io
import runpy
import sys
from pathlib import Path

from gpu_workers.runners.protocol import Emitter

MAX_LINE_CHARS = 4000


class _LogWriter(io.TextIOBase):
    """A text stream that turns each written line into a log event."""

    def __init__(self, emitter: Emitter, stream: str):
        self._emitter = emitter
        self._stream = stream
        self._pending = ""

    @property
    def buffer(self) -> _BinaryLogWriter:
        """``sys.stdout.buffer`` for scripts that write bytes."""
        return _BinaryLogWriter(self)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self._emitter.log(line[:MAX_LINE_CHARS], self._stream)
        if len(self._pending) > MAX_LINE_CHARS:
            self._emitter.log(self._pending[:MAX_LINE_CHARS], self._stream)
            self._pending = ""
        return len(text)

    def flush(self) -> None:
        pass

    def close_pending(self) -> None:
        if self._pending:
            self._emitter.log(self._pending[:MAX_LINE_CHARS], self._stream)
            self._pending = ""


class _BinaryLogWriter(io.RawIOBase):
    """Bytes written here are decoded (UTF-8, invalid bytes replaced) into the text writer."""

    def __init__(self, text: _LogWriter):
        self._text = text
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._text.write(self._decoder.decode(bytes(data)))
        return len(data)


def run(spec: dict, emitter: Emitter) -> None:
    params = spec.get("params", {})
    work_dir = Path(spec["work_dir"])
    entry = str(params.get("entrypoint", "main.py"))
    script = (work_dir / entry).resolve()
    if not script.is_relative_to(work_dir.resolve()) or not script.is_file():
        raise FileNotFoundError(f"{entry} was not found in the work directory")
    args = [str(a) for a in params.get("args", [])]

    emitter.progress(0.0, f"running {entry}")
    writer = _LogWriter(emitter, "stdout")
    saved = sys.stdout, sys.argv[:], sys.path[:]
    sys.stdout = writer
    sys.argv = [entry, *args]
    sys.path.insert(0, str(script.parent))
    exit_code = 0
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        if exc.code is None:
            exit_code = 0
        elif isinstance(exc.code, int):
            exit_code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            exit_code = 1
    finally:
        writer.close_pending()
        sys.stdout, sys.argv, sys.path[:] = saved[0], saved[1], saved[2]
    if exit_code:
        emitter.result({}, status="error", error=f"{entry} exited with code {exit_code}", exit_code=exit_code)
        sys.exit(exit_code)
    emitter.progress(1.0, "done")
    if not emitter.result_sent:
        emitter.result({})
