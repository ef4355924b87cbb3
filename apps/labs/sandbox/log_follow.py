"""Following a job's output that arrives on a reader thread: the container and pod backends.

Their engines hand over the log as a blocking HTTP stream, so a thread reads it
(``backend._read_logs(handle, chunks)``) into a bounded queue of ``(kind, stream, data)``
items: ``("data", "stdout" | "stderr", bytes)``, then ``("eof", "", None)``, or
``("error", "", exc)`` when the stream broke. :func:`follow_log_queue` turns that queue into
runner events while enforcing the wall time and the output limit, the same way for both.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .base import SandboxError
from .events import EventParser, RunnerEvent

MiB = 1024 * 1024
#: Items the reader may run ahead of the consumer before the engine is slowed down.
QUEUE_ITEMS = 256
#: Bytes of stderr kept for the failure reason.
STDERR_TAIL_BYTES = 8192


def put_until_abandoned(out: queue.Queue, item: tuple[str, str, Any], abandoned: threading.Event) -> None:
    """Queue ``item``, waiting while the queue is full: a slow consumer slows the engine down
    instead of buffering a flood in memory. Gives up once the stream has been abandoned."""
    while not abandoned.is_set():
        try:
            out.put(item, timeout=0.5)
            return
        except queue.Full:
            continue


def follow_log_queue(
    backend: Any,
    handle: Any,
    read_logs: Callable[[Any, queue.Queue], None],
    *,
    thread_name: str,
) -> Iterator[RunnerEvent]:
    """Start ``read_logs`` on a thread and yield the job's events until its log ends.

    Stops the job (``backend.stop``) at its deadline ("timed_out") or when it writes more
    than the output limit ("output_limit"), telling the learner why in a notice. Raises a
    retryable :class:`SandboxError` if the log stream broke while the job was not being
    stopped. Waiting for the exit status and cleaning up stay with the caller.
    """
    handle.streaming = True
    limits = handle.spec.limits
    parser = EventParser(limits.max_log_bytes)
    output_limit = backend.options["output_limit_bytes"] or max(16 * limits.max_log_bytes, 64 * MiB)
    chunks: queue.Queue = queue.Queue(maxsize=QUEUE_ITEMS)
    threading.Thread(target=read_logs, args=(handle, chunks), name=thread_name, daemon=True).start()
    error: Exception | None = None
    while True:
        now = time.monotonic()
        if now >= handle.deadline and handle.stop_reason is None:
            backend.stop(handle, "timed_out")
            yield parser.notice(f"Stopped: the {limits.wall_seconds} s time limit was reached.")
        try:
            kind, stream_name, data = chunks.get(timeout=max(0.05, min(0.5, handle.deadline - now)))
        except queue.Empty:
            continue
        if kind == "eof":
            break
        if kind == "error":
            error = data
            continue
        if stream_name == "stderr":
            handle.stderr_tail += data
            del handle.stderr_tail[:-STDERR_TAIL_BYTES]
        yield from parser.feed(stream_name, data)
        if parser.raw_bytes > output_limit and handle.stop_reason is None:
            backend.stop(handle, "output_limit")
            yield parser.notice(f"Stopped: the job wrote more than {output_limit} bytes of output.")
    yield from parser.close()
    if error is not None and handle.stop_reason is None:
        backend.stop(handle, "killed")
        raise SandboxError(f"Lost the job's log stream: {error}", permanent=False) from error
