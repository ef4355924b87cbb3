"""The reaper: repair what a vanished worker left behind (``labs.lab_jobs_reap``, periodic).

Built from the verbs in :mod:`apps.labs.services` (close, dispatch, send); it goes through
the same conditional updates, so it is safe next to live workers and a second reaper.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.labs.job_events import lab_job_events_record
from apps.labs.models import LabJob
from apps.labs.services import (
    WORKER_LOST,
    _job_close,
    _lock_owner,
    _push_state_after_commit,
    _send_run_task,
    lab_job_dispatch,
)

logger = logging.getLogger(__name__)

Status = LabJob.Status


def lab_jobs_reap(*, stale_after: float | None = None, redispatch_after: float | None = None) -> dict[str, int]:
    """Repair what a vanished worker left behind; safe to run anywhere, any time, twice.

    - ``running`` with no heartbeat for ``stale_after`` seconds: the worker is gone (its
      sandbox died with it: bwrap --die-with-parent). Requeued once (attempts < LABS_MAX_ATTEMPTS),
      otherwise failed with reason "worker lost". A requested cancel ends it ``cancelled``.
    - ``queued`` and handed to Celery more than ``redispatch_after`` seconds ago: the message
      is sent again (a lost message; the claim makes a duplicate harmless).
    - ``queued`` and never handed over while its learner and its queue have a free slot:
      dispatched.
    """
    stale_after = settings.LABS_HEARTBEAT_STALE_SECONDS if stale_after is None else stale_after
    redispatch_after = settings.LABS_REDISPATCH_AFTER_SECONDS if redispatch_after is None else redispatch_after
    now = timezone.now()
    counts = {"requeued": 0, "failed": 0, "cancelled": 0, "redispatched": 0, "dispatched": 0}

    stale = LabJob.objects.filter(status=Status.RUNNING, heartbeat_at__lt=now - timedelta(seconds=stale_after))
    for job in stale.select_related("lab"):
        outcome = _reap_one(job, stale_before=now - timedelta(seconds=stale_after))
        if outcome:
            counts[outcome] += 1

    stuck = LabJob.objects.filter(
        status=Status.QUEUED, dispatched_at__lt=now - timedelta(seconds=redispatch_after)
    ).values_list("pk", "queue")
    for job_id, queue in stuck:
        task_id = str(uuid.uuid4())
        with transaction.atomic():
            if LabJob.objects.filter(pk=job_id, status=Status.QUEUED,
                                     dispatched_at__lt=now - timedelta(seconds=redispatch_after)).update(
                dispatched_at=timezone.now(), celery_task_id=task_id
            ):
                transaction.on_commit(lambda j=job_id, q=queue, t=task_id: _send_run_task(j, q, t))
                counts["redispatched"] += 1

    waiting = LabJob.objects.filter(status=Status.QUEUED, dispatched_at__isnull=True).values_list("queue", flat=True)
    for queue in set(waiting.distinct()):
        counts["dispatched"] += len(lab_job_dispatch(queue=queue))
    if any(counts.values()):
        logger.info("labs reaper: %s", counts)
    return counts


def _reap_one(job: LabJob, *, stale_before: Any) -> str | None:
    with transaction.atomic():
        _lock_owner(job.owner_id)
        row = (
            LabJob.objects.select_for_update(skip_locked=True)
            .filter(pk=job.pk, status=Status.RUNNING, heartbeat_at__lt=stale_before)
            .first()
        )
        if row is None:
            return None  # it came back to life, or another reaper got it
        lost = (
            f"{WORKER_LOST.capitalize()}: the machine running this job ({row.worker or 'unknown'}) stopped "
            "responding"
        )
        if row.cancel_requested:
            _job_close(row, status=Status.CANCELLED, reason="Cancelled.", exit_reason="cancelled",
                       attempt=row.attempts)
            return "cancelled"
        if row.attempts < settings.LABS_MAX_ATTEMPTS:
            LabJob.objects.filter(pk=row.pk).update(
                status=Status.QUEUED, dispatched_at=None, started_at=None, heartbeat_at=None, worker="",
                progress=None, progress_message="",
            )
            lab_job_events_record(row, [("log", {
                "stream": "sandbox",
                "line": f"{lost}; the job was put back in the queue (attempt {row.attempts + 1} of "
                        f"{settings.LABS_MAX_ATTEMPTS} next).",
            })])
            lab_job_dispatch(owner_id=row.owner_id, queue=row.queue, locked=True)
            _push_state_after_commit(row)
            return "requeued"
        _job_close(row, status=Status.FAILED, exit_reason="worker_lost", attempt=row.attempts,
                   reason=f"{lost} and it had already been retried, so it was stopped ({WORKER_LOST}). "
                          "Please start it again.")
        return "failed"
