"""Runner events and the parser that turns a runner's output into them.

A runner writes one JSON object per line to stdout (see ``gpu_workers/runners/
protocol.py``). The runner is untrusted code, so the parser accepts anything: a line
that is not a well-formed event is kept as a log line, lines are bounded in length,
total log output is bounded, and sequence numbers are the parser's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

EVENT_TYPES = frozenset({"progress", "log", "metric", "artifact", "result"})

#: Longest line kept whole in memory; longer lines are cut (a log line keeps its head).
MAX_LINE_BYTES = 64 * 1024
#: Longest log line text passed on.
MAX_LOG_LINE_CHARS = 2000


@dataclass
class RunnerEvent:
    """One event from a running job. ``seq`` increases by one per event of the job."""

    seq: int
    type: str
    payload: dict

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "payload": self.payload}


class _StreamBuffer:
    """Line assembly for one stream, never holding more than ``MAX_LINE_BYTES``."""

    __slots__ = ("overflow", "overflow_bytes", "pending")

    def __init__(self) -> None:
        self.pending = bytearray()
        # While a too-long line is being skipped: its head (already emitted) and size.
        self.overflow = False
        self.overflow_bytes = 0


class EventParser:
    """Turn raw stdout/stderr bytes into :class:`RunnerEvent` objects.

    Feed it chunks as they arrive (``feed("stdout", data)``); call :meth:`close` at the
    end to flush unterminated lines. Not thread-safe: one reader per job.
    """

    def __init__(self, max_log_bytes: int, *, max_line_bytes: int = MAX_LINE_BYTES):
        self.max_log_bytes = max_log_bytes
        self.max_line_bytes = max_line_bytes
        self.seq = 0
        self.log_bytes = 0  # log output seen, kept or dropped
        self.truncated = False
        self.raw_bytes = 0  # everything read, structured events included
        self._buffers = {"stdout": _StreamBuffer(), "stderr": _StreamBuffer()}

    # -- public -----------------------------------------------------------------------

    def feed(self, stream: str, data: bytes) -> list[RunnerEvent]:
        """Consume a chunk of ``stream`` ("stdout" or "stderr"); return complete events."""
        self.raw_bytes += len(data)
        buf = self._buffers[stream]
        out: list[RunnerEvent] = []
        start = 0
        while True:
            newline = data.find(b"\n", start)
            if newline < 0:
                break
            self._append(stream, buf, data[start:newline], out)
            self._end_line(stream, buf, out)
            start = newline + 1
        if start < len(data):
            self._append(stream, buf, data[start:], out)
        return out

    def close(self) -> list[RunnerEvent]:
        """Flush lines left without a final newline."""
        out: list[RunnerEvent] = []
        for stream, buf in self._buffers.items():
            if buf.pending or buf.overflow:
                self._end_line(stream, buf, out)
        return out

    def notice(self, text: str) -> RunnerEvent:
        """A log event from the sandbox itself (stream "sandbox"), never dropped."""
        return self._event("log", {"stream": "sandbox", "line": text})

    # -- internals ----------------------------------------------------------------------

    def _event(self, type_: str, payload: dict) -> RunnerEvent:
        self.seq += 1
        return RunnerEvent(seq=self.seq, type=type_, payload=payload)

    def _append(self, stream: str, buf: _StreamBuffer, piece: bytes, out: list[RunnerEvent]) -> None:
        if buf.overflow:
            buf.overflow_bytes += len(piece)
            return
        buf.pending += piece
        if len(buf.pending) > self.max_line_bytes:
            # Too long to be an event: keep the head as a log line, skip the rest of the line.
            head = bytes(buf.pending)
            buf.pending.clear()
            buf.overflow = True
            buf.overflow_bytes = 0
            self._log(stream, head, len(head), out)

    def _end_line(self, stream: str, buf: _StreamBuffer, out: list[RunnerEvent]) -> None:
        if buf.overflow:
            # The head was counted when emitted; count the skipped tail now.
            self.log_bytes += buf.overflow_bytes + 1
            buf.overflow = False
            buf.overflow_bytes = 0
            self._check_log_limit(out)
            return
        line = bytes(buf.pending)
        buf.pending.clear()
        if stream == "stdout":
            event = self._structured(line)
            if event is not None:
                type_, payload = event
                if type_ == "log":
                    self._structured_log(payload, len(line) + 1, out)
                else:
                    out.append(self._event(type_, payload))
                return
        self._log(stream, line, len(line) + 1, out)

    def _structured(self, line: bytes) -> tuple[str, dict] | None:
        stripped = line.strip()
        if not stripped.startswith(b"{"):
            return None
        try:
            obj = json.loads(stripped)
        except (ValueError, RecursionError):
            return None
        if not isinstance(obj, dict):
            return None
        seq, type_, payload = obj.get("seq"), obj.get("type"), obj.get("payload")
        if isinstance(seq, bool) or not isinstance(seq, int):
            return None
        if type_ not in EVENT_TYPES or not isinstance(payload, dict):
            return None
        if seq != self.seq + 1:
            # Keep the runner's number for debugging only when it disagrees with ours.
            payload = {**payload, "runner_seq": seq}
        return type_, payload

    def _structured_log(self, payload: dict, size: int, out: list[RunnerEvent]) -> None:
        if not self._count_log(size, out):
            return
        line = payload.get("line", "")
        payload = {
            **payload,
            "stream": str(payload.get("stream", "stdout"))[:32],
            "line": (line if isinstance(line, str) else str(line))[:MAX_LOG_LINE_CHARS],
        }
        out.append(self._event("log", payload))

    def _log(self, stream: str, line: bytes, size: int, out: list[RunnerEvent]) -> None:
        if not self._count_log(size, out):
            return
        # Decoding at most 4 bytes per char of the kept text keeps huge lines cheap.
        text = line[: MAX_LOG_LINE_CHARS * 4].decode("utf-8", errors="replace")
        text = text.rstrip("\r")[:MAX_LOG_LINE_CHARS]
        out.append(self._event("log", {"stream": stream, "line": text}))

    def _count_log(self, size: int, out: list[RunnerEvent]) -> bool:
        """Account ``size`` log bytes; return whether the line may still be emitted."""
        if self.truncated:
            self.log_bytes += size
            return False
        if self.log_bytes + size > self.max_log_bytes:
            self.log_bytes += size
            self._check_log_limit(out)
            return False
        self.log_bytes += size
        return True

    def _check_log_limit(self, out: list[RunnerEvent]) -> None:
        if not self.truncated and self.log_bytes > self.max_log_bytes:
            self.truncated = True
            out.append(
                self._event(
                    "log",
                    {
                        "stream": "sandbox",
                        "line": f"Output truncated at {self.max_log_bytes} bytes: further log lines are not shown.",
                        "truncated": True,
                        "limit_bytes": self.max_log_bytes,
                    },
                )
            )
