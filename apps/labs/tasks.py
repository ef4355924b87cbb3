"""Celery tasks for labs: thin wrappers that take ids and call services."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from apps.labs.services import lab_job_abort, lab_job_claim, lab_job_execute, lab_jobs_reap

logger = logging.getLogger(__name__)


@shared_task(name="labs.lab_job_run", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def lab_job_run(self, job_id: str) -> str:
    """Claim the job (a second delivery does nothing), run it sandboxed, always end it.

    The queue (cpu/gpu) is chosen by the sender (``services.lab_job_dispatch``).
    """
    job = lab_job_claim(job_id, worker=self.request.hostname or "", task_id=self.request.id or "")
    if job is None:
        return "not claimed"
    try:
        lab_job_execute(job)
    except SoftTimeLimitExceeded:
        lab_job_abort(job, reason="Time limit reached: the worker's own time limit stopped this job.")
        raise
    except BaseException as exc:
        # Whatever went wrong, the job must not stay "running" (the reaper would requeue it
        # and the same bug would run twice). Conditional: a no-op if it already ended.
        lab_job_abort(job, reason=f"The platform hit an internal error while running this job ({type(exc).__name__}). "
                                  "It has been logged; please try again.")
        raise
    return "done"


@shared_task(name="labs.lab_jobs_reap", ignore_result=True)
def lab_jobs_reap_task() -> dict[str, int]:
    """Periodic (CELERY_BEAT_SCHEDULE["labs-reaper"]): requeue/fail jobs whose worker vanished."""
    return lab_jobs_reap()
