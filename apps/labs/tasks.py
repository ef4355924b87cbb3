"""Celery tasks for labs: thin wrappers that take ids and call services."""

from __future__ import annotations

import logging
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.conf import settings

from apps.labs.models import LabJob
from apps.labs.sandbox import SandboxError, get_backend, work_dirs_sweep
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
    except SystemExit:
        # The worker is shutting down (Ctrl-C on `make run`: a cold shutdown cancels running
        # tasks with SIGTERM). The job did not fail: it stays "running", its sandbox is gone,
        # and the reaper requeues it once the heartbeat is stale.
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


@shared_task(name="labs.lab_work_dirs_sweep", ignore_result=True)
def lab_work_dirs_sweep_task() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE["labs-work-dirs-sweep"]) and at worker start: unmount and
    remove work dirs left on this host by a crashed worker (any job not queued or running)."""
    if settings.LABS_KEEP_WORK_DIRS:
        return 0  # kept on purpose (debugging)
    active = {str(pk) for pk in LabJob.objects.filter(status__in=LabJob.ACTIVE).values_list("pk", flat=True)}
    removed = work_dirs_sweep(Path(settings.LABS_WORK_ROOT), keep=active)
    if removed:
        logger.info("labs: removed %d abandoned work dir(s) under %s", removed, settings.LABS_WORK_ROOT)
    return removed


@worker_ready.connect
def _labs_cleanup_at_worker_start(**kwargs: object) -> None:
    """What a crashed worker of this host left: work dirs, job containers/cgroups."""
    try:
        lab_work_dirs_sweep_task()
    except Exception:
        logger.exception("labs: work-dir sweep at worker start failed")
    try:
        removed = get_backend().reap_stale()
    except SandboxError:
        return  # no usable backend: each job reports that itself
    except Exception:
        logger.exception("labs: sandbox cleanup at worker start failed")
        return
    if removed:
        logger.info("labs: removed %d leftover(s) of dead workers' jobs", removed)
