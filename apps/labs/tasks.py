"""Celery tasks for labs: thin wrappers that take ids and call services."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from celery import current_app, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_process_shutdown, worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection

from apps.labs import kinds
from apps.labs.models import Lab, LabJob
from apps.labs.sandbox import SandboxError, SandboxLimits, get_backend, work_dirs_sweep
from apps.labs.sandbox import pool as warm_pool
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
    # Warm sandboxes' dirs (LABS_WORK_ROOT/.pool) of worker processes that are gone.
    removed += warm_pool.pool_dirs_sweep(warm_pool_root())
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


# --- the warm sandbox pool (apps/labs/sandbox/pool.py) ----------------------------------------


def warm_pool_root() -> Path:
    return Path(settings.LABS_WORK_ROOT) / ".pool"


def _consumed_queues() -> list[str]:
    queues = current_app.amqp.queues
    return sorted(queues.consume_from or queues)


def _limits_for(slug: str) -> SandboxLimits:
    """The limits this kind's jobs run with: its Lab row's (what an admin may have tuned),
    else the kind's own. Same rule as ``services._limits``."""
    lab = Lab.objects.filter(kind=slug).order_by("pk").values("limits").first()
    raw = (lab["limits"] or {}) if lab else kinds.get_kind(slug).limits
    known = SandboxLimits.__dataclass_fields__
    return SandboxLimits(**{k: int(v) for k, v in raw.items() if k in known})


def warm_pool_start(queues: list[str] | None = None) -> warm_pool.SandboxPool | None:
    """Start this process's warm sandbox pool from ``LABS_WARM_POOL`` (None when off)."""
    config = settings.LABS_WARM_POOL or {}
    try:
        targets = warm_pool.targets_from_settings(
            config, queues if queues is not None else _consumed_queues(),
            {k.slug: k for k in kinds.all_kinds()}, _limits_for,
        )
    finally:
        connection.close()  # this thread's own connection
    if not targets:
        return None
    try:
        backend = get_backend()
        if not hasattr(backend, "start_warm"):
            logger.info("labs: the %s sandbox backend keeps no warm sandboxes; jobs start cold", backend.name)
            return None
        backend.check_available()
        pool = warm_pool.SandboxPool(
            backend, targets, warm_pool_root(), max_idle_seconds=settings.LABS_WARM_POOL_MAX_IDLE_SECONDS
        )
    except SandboxError as exc:
        # Jobs say why themselves; without a pool they simply start cold.
        logger.warning("labs: no warm sandbox pool: %s", exc.message)
        return None
    return warm_pool.activate(pool)


def _warm_pool_start_in_background() -> None:
    # Off the signal handler: Celery gives a new pool process a few seconds to report in,
    # and the backend check runs a sandbox. The pool's own refill thread starts the sandboxes.
    def start() -> None:
        try:
            warm_pool_start()
        except Exception:
            logger.exception("labs: the warm sandbox pool could not start")

    threading.Thread(target=start, name="labs-warm-pool-start", daemon=True).start()


@worker_process_init.connect
def _labs_warm_pool_in_pool_process(**kwargs: object) -> None:
    """Prefork: tasks run in the pool processes, so each keeps its own warm sandboxes."""
    _warm_pool_start_in_background()


@worker_ready.connect
def _labs_warm_pool_in_worker(sender: object = None, **kwargs: object) -> None:
    """solo/threads pools run tasks in the worker process itself."""
    from celery.concurrency.prefork import TaskPool

    pool_cls = getattr(getattr(sender, "controller", None), "pool_cls", None)
    if isinstance(pool_cls, type) and not issubclass(pool_cls, TaskPool):
        _warm_pool_start_in_background()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _labs_warm_pool_drain(**kwargs: object) -> None:
    """Destroy the idle warm sandboxes (they would die with the process anyway, but their
    work dirs and cgroups are removed now rather than by the next sweep)."""
    try:
        warm_pool.deactivate(wait=True, timeout=5)
    except Exception:
        logger.exception("labs: draining the warm sandbox pool failed")
