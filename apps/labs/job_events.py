"""A job's event log in the database: the writer, the folding, the worker's event session.

- :func:`lab_job_events_record` - persist a batch of events in one transaction, fold them
  into the job row (last value per metric, progress, result), push them after commit.
- :class:`JobSession` - the worker's side of one running job: buffers the runner's events
  and writes them from a flusher thread (batched during bursts, at once after a quiet
  spell and for the runner's first event), heartbeats, watches for cancel, enforces the
  per-job event caps.

Parsing a runner's raw output into events is the sandbox's job
(:mod:`apps.labs.sandbox.events`); this module starts from :class:`RunnerEvent`.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from apps.labs.groups import cancel_key, group_send, labjob_group
from apps.labs.models import LabJob, LabJobEvent
from apps.labs.sandbox import RunnerEvent

Status = LabJob.Status


class JobLost(Exception):
    """This worker no longer owns the job (reaped, requeued or finished elsewhere): stop quietly."""



MAX_METRICS = 64


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _clean_text(value: str) -> str:
    """jsonb refuses NUL, and a lone surrogate ("\\ud800" in the runner's JSON) cannot even be
    encoded as UTF-8 for the database: both become U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", value)


def clean_json(value: Any, depth: int = 0) -> Any:
    """Make untrusted runner output storable: no NUL or lone surrogates; bound nesting."""
    if depth > 8:
        return None
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, dict):
        return {_clean_text(str(k))[:100]: clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fold(job_state: dict[str, Any], type_: str, payload: dict[str, Any]) -> None:
    """Fold one event into the job's aggregates: last value per metric, progress, result."""
    metrics = job_state["metrics"]
    if type_ == "metric":
        name = payload.get("name")
        if isinstance(name, str) and name and _is_number(payload.get("value")):
            if name in metrics or len(metrics) < MAX_METRICS:
                metrics[name[:64]] = payload["value"]
    elif type_ == "progress":
        fraction = payload.get("fraction")
        if _is_number(fraction):
            job_state["progress"] = max(0.0, min(1.0, float(fraction)))
        message = payload.get("message")
        if isinstance(message, str):
            job_state["progress_message"] = message[:200]
    elif type_ == "result":
        for name, value in (payload.get("metrics") or {}).items() if isinstance(payload.get("metrics"), dict) else ():
            if _is_number(value) and (name in metrics or len(metrics) < MAX_METRICS):
                metrics[str(name)[:64]] = value
        job_state["result"] = {k: v for k, v in payload.items() if k != "metrics"}


def lab_job_events_record(
    job: LabJob, events: Iterable[RunnerEvent | tuple[str, dict[str, Any]]], *, attempt: int | None = None
) -> int:
    """Persist a batch of events in one transaction and push it to ``labjob.<id>`` after commit.

    Sequence numbers are the job's own (``last_event_seq + 1 ...``), continuous across
    attempts, whatever the runner numbered. With ``attempt`` the write only happens while
    this claim still owns the running job (else :class:`JobLost`); it also stamps the
    heartbeat. Returns the last seq written.
    """
    batch = []
    for event in events:
        type_, payload = (event.type, event.payload) if isinstance(event, RunnerEvent) else event
        batch.append((type_, clean_json(payload if isinstance(payload, dict) else {"value": payload})))
    if not batch:
        return job.last_event_seq
    with transaction.atomic():
        rows = LabJob.objects.select_for_update().filter(pk=job.pk)
        if attempt is not None:
            rows = rows.filter(status=Status.RUNNING, attempts=attempt)
        row = rows.values("last_event_seq", "metrics", "progress", "progress_message", "result", "status").first()
        if row is None:
            raise JobLost(f"job {job.pk} is no longer running under attempt {attempt}")
        state = {
            "metrics": dict(row["metrics"] or {}),
            "progress": row["progress"],
            "progress_message": row["progress_message"],
            "result": row["result"],
        }
        seq = row["last_event_seq"]
        objs = []
        for type_, payload in batch:
            seq += 1
            objs.append(LabJobEvent(job_id=job.pk, seq=seq, type=type_, payload=payload))
            _fold(state, type_, payload)
        LabJobEvent.objects.bulk_create(objs)
        fields = {"last_event_seq": seq, **state}
        if attempt is not None:
            fields["heartbeat_at"] = timezone.now()
        LabJob.objects.filter(pk=job.pk).update(**fields)
        for name, value in fields.items():
            setattr(job, name, value)
        message = {
            "type": "labjob.events",
            "events": [{"seq": e.seq, "type": e.type, "payload": e.payload} for e in objs],
            "job": {"status": row["status"], "progress": state["progress"],
                    "progress_message": state["progress_message"], "metrics": state["metrics"],
                    "last_event_seq": seq},
        }
        group = labjob_group(job.pk)
        transaction.on_commit(lambda: group_send(group, message))
    return seq



class JobSession:
    """The worker's view of one running job: writes its events, heartbeats, watches for cancel.

    ``on_event`` and ``should_cancel`` run in the worker's thread (``SandboxBackend.run``
    promises that). Events are written by one flusher thread (its own DB connection), so a
    quiet job's line is never held back waiting for the sandbox loop's next poll:

    - an event that follows a quiet spell (no event for QUIET_SECONDS) is written and
      pushed at once: sparse output (a line a second) costs no batching delay;
    - the runner's first event is written at once too: it is what tells the learner the job
      has started, and in a warm sandbox it follows the worker's own "Starting" notice
      within milliseconds, so by the quiet-spell rule alone it would wait out a batch window
      (bench/labs/README.md, warm pool: ~200 ms of the time to first progress);
    - during a burst: one write per LABS_EVENT_BATCH_SECONDS, or as soon as
      LABS_EVENT_BATCH_SIZE events are waiting (a loss every step = 5 writes a second).

    If a write finds the job no longer ours (:class:`JobLost`) the next callback raises it,
    and ``run`` stops the sandbox.

    Caps (the runner is untrusted): every event it sends counts toward LABS_MAX_EVENTS_PER_JOB
    and its JSON size toward LABS_MAX_EVENT_BYTES_PER_JOB. Passing either sets
    ``limit_reason``, drops what follows and makes ``should_cancel`` true, so the sandbox is
    stopped through the cancel path and the job ends failed with that reason. Consecutive
    progress events waiting for the same write are coalesced into the latest one (a progress
    bar needs no history), so a tight progress loop stores a few rows a second.
    """

    QUIET_SECONDS = 0.05

    def __init__(self, job: LabJob):
        self.job = job
        self.attempt = job.attempts
        self.last_heartbeat = time.monotonic()
        self.last_cancel_check = 0.0
        self.cancelled = False
        self.stderr_tail: deque[str] = deque(maxlen=25)
        self.artifacts: list[dict[str, Any]] = []
        self.batch_size = settings.LABS_EVENT_BATCH_SIZE
        self.batch_seconds = settings.LABS_EVENT_BATCH_SECONDS
        self._buffer: list[tuple[str, dict[str, Any]]] = []
        self._wake = threading.Condition()
        self._closing = False
        self._urgent = False
        self._idle = True  # nothing buffered and nothing being written
        self._last_write = 0.0
        self._last_event_at = 0.0
        self._first_gap = 0.0  # quiet time before the oldest buffered event
        self._error: BaseException | None = None
        self.events_seen = 0  # the runner's events (not the worker's own notices)
        self.event_bytes = 0
        self.limit_reason = ""
        self._thread = threading.Thread(target=self._flusher, name=f"labjob-events-{job.pk}", daemon=True)
        self._thread.start()

    # --- called from the worker's thread ---------------------------------------------------

    def notice(self, text: str) -> None:
        self._append(("log", {"stream": "sandbox", "line": text}))

    def on_event(self, event: RunnerEvent) -> None:
        self._raise_if_failed()
        if self.limit_reason:
            return  # the sandbox is being stopped; nothing more is kept
        payload = clean_json(event.payload if isinstance(event.payload, dict) else {"value": event.payload})
        self.events_seen += 1
        self.event_bytes += len(json.dumps(payload, ensure_ascii=False, default=str)) + len(event.type)
        max_events, max_bytes = settings.LABS_MAX_EVENTS_PER_JOB, settings.LABS_MAX_EVENT_BYTES_PER_JOB
        if self.events_seen > max_events:
            self._limit(f"Event limit reached: the job sent more than {max_events:,} events (progress, metrics, "
                        "log lines), so it was stopped. Report progress and metrics less often, for example "
                        "every 100 steps.")
            return
        if self.event_bytes > max_bytes:
            self._limit(f"Event limit reached: the job sent more than {_size_text(max_bytes)} of events, so it was "
                        "stopped. Send fewer or smaller events (print less, report metrics less often).")
            return
        if event.type == "log" and payload.get("stream") == "stderr":
            self.stderr_tail.append(str(payload.get("line", "")))
        elif event.type == "artifact":
            self.artifacts.append(payload)
        self._append((event.type, payload), coalesce=event.type == "progress", urgent=self.events_seen == 1)

    def _limit(self, reason: str) -> None:
        self.limit_reason = reason
        self.notice(reason)

    def should_cancel(self) -> bool:
        self._raise_if_failed()
        if self.limit_reason:
            return True
        now = time.monotonic()
        if now - self.last_heartbeat >= settings.LABS_HEARTBEAT_SECONDS:
            self._heartbeat(now)
        # The Redis key makes cancellation quick without a database read every half second;
        # the heartbeat re-reads cancel_requested in case the key was lost.
        if not self.cancelled and now - self.last_cancel_check >= 0.25:
            self.last_cancel_check = now
            if cache.get(cancel_key(self.job.pk)):
                self.cancelled = True
        return self.cancelled

    def flush(self) -> None:
        """Wait until everything appended so far is written (raises the flusher's error)."""
        with self._wake:
            self._urgent = True
            self._wake.notify_all()
            while not self._idle and self._error is None:
                self._wake.wait(0.05)
        self._raise_if_failed()

    def close(self) -> None:
        """Write what is left and stop the flusher thread."""
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        self._thread.join()
        self._raise_if_failed()

    def _append(self, item: tuple[str, dict[str, Any]], *, coalesce: bool = False, urgent: bool = False) -> None:
        now = time.monotonic()
        with self._wake:
            if urgent:
                self._urgent = True  # the flusher writes what is buffered without waiting
            if not self._buffer:
                self._first_gap = now - self._last_event_at
            self._last_event_at = now
            if coalesce and self._buffer and self._buffer[-1][0] == item[0]:
                self._buffer[-1] = item  # the newer progress replaces the unwritten older one
                self._wake.notify_all()
                return
            self._buffer.append(item)
            self._idle = False
            self._wake.notify_all()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _heartbeat(self, now: float) -> None:
        alive = LabJob.objects.filter(
            pk=self.job.pk, status=Status.RUNNING, attempts=self.attempt, cancel_requested=False
        ).update(heartbeat_at=timezone.now())
        self.last_heartbeat = now
        if alive:
            return
        row = LabJob.objects.filter(pk=self.job.pk).values("status", "attempts", "cancel_requested").first()
        if row and row["status"] == Status.RUNNING and row["attempts"] == self.attempt and row["cancel_requested"]:
            LabJob.objects.filter(pk=self.job.pk).update(heartbeat_at=timezone.now())
            self.cancelled = True
            return
        raise JobLost(f"job {self.job.pk} was taken from attempt {self.attempt}")

    # --- the flusher thread ---------------------------------------------------------------

    def _flusher(self) -> None:
        try:
            while True:
                with self._wake:
                    while not self._buffer and not self._closing:
                        self._idle = True
                        self._wake.notify_all()
                        self._wake.wait()
                    if not self._buffer:
                        self._idle = True
                        return
                    # After a quiet spell write at once; inside a burst wait out the window.
                    until = 0.0 if self._first_gap >= self.QUIET_SECONDS else self._last_write + self.batch_seconds
                    while len(self._buffer) < self.batch_size and not (self._closing or self._urgent):
                        remaining = until - time.monotonic()
                        if remaining <= 0:
                            break
                        self._wake.wait(remaining)
                    batch, self._buffer = self._buffer, []
                    self._urgent = False
                lab_job_events_record(self.job, batch, attempt=self.attempt)
                self._last_write = time.monotonic()
        except BaseException as exc:
            self._error = exc
            with self._wake:
                self._idle = True
                self._wake.notify_all()
        finally:
            connection.close()  # this thread's own connection


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    return f"{max(1, round(size / 1024))} KB"
