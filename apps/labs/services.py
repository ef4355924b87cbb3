"""Writes for labs: every action on a lab job, in the order a job lives them.

- :func:`lab_catalog_sync` - Lab rows from the kinds registry (``load_content``).
- :func:`lab_job_submit` - validate, run the kind's preflight, check quota, create ``queued``,
  dispatch on commit.
- :func:`lab_job_dispatch` - fair hand-over of waiting jobs to Celery.
- :func:`lab_job_claim` - the worker's conditional ``queued -> running``.
- :func:`lab_job_execute` - run a claimed job in the sandbox (never unsandboxed).
- :func:`lab_job_events_record` - persist a batch of events, push it after commit
  (:mod:`apps.labs.job_events`, with the worker's event session).
- :func:`lab_job_finish` / :func:`lab_job_abort` - the one way into a final state (files and
  evidence: :mod:`apps.labs.artifacts`).
- :func:`lab_job_cancel` - owner or ``labs.cancel_any_labjob``; queued ends now, running is stopped.
- :func:`lab_jobs_reap` - requeue or fail jobs whose worker vanished; unstick the queue
  (:mod:`apps.labs.reaper`).

Channel group names and the cancel key live in :mod:`apps.labs.groups`.

Concurrency rules. Every state change is a conditional UPDATE (or a row lock) on the job
row, so a second Celery delivery, a late worker or the reaper can never move a job
twice. A claim increments ``attempts``; the worker writes only while
``status = running AND attempts = <its claim>`` and stops its sandbox when that no
longer holds (:class:`JobLost`). Transactions that touch a learner's jobs *and* dispatch
lock the learner's user row first, then job rows, always in that order.
"""

from __future__ import annotations

import contextlib
import logging
import math
import resource
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from apps.core.consumers import user_group
from apps.core.errors import ApplicationError, NotFound, PermissionDenied, Throttled
from apps.labs import kinds
from apps.labs.artifacts import artifacts_delete_files, artifacts_store, evidence_sha256
from apps.labs.groups import cancel_key, group_send, labjob_group, queue_group
from apps.labs.job_events import JobLost, JobSession, lab_job_events_record
from apps.labs.models import Lab, LabJob
from apps.labs.sandbox import (
    ExitStatus,
    JobSpec,
    SandboxError,
    SandboxLimits,
    get_backend,
    work_dir_release,
)
from apps.labs.selectors import (
    lab_job_cancellable_by,
    lab_job_snapshot,
    lab_job_visible_to,
    lab_quota,
    labs_runnable_by,
)
from apps.registry.services import RegistryError, registry_params_resolve

# Re-exported: callers import every labs write (and the group names) from here.
__all__ = [
    "JobLost",
    "cancel_key",
    "lab_catalog_sync",
    "lab_job_abort",
    "lab_job_cancel",
    "lab_job_claim",
    "lab_job_dispatch",
    "lab_job_events_record",
    "lab_job_execute",
    "lab_job_finish",
    "lab_job_params_error_field",
    "lab_job_submit",
    "lab_job_work_dir",
    "lab_jobs_reap",
    "lab_queue_for",
    "labjob_group",
    "queue_group",
]

logger = logging.getLogger(__name__)

Status = LabJob.Status
TASK_RUN = "labs.lab_job_run"
WORKER_LOST = "worker lost"


# --- catalogue ---------------------------------------------------------------------------------


def lab_queue_for(kind_queue: str) -> str:
    """A kind that prefers a GPU runs on the gpu queue only where GPU workers exist."""
    return "gpu" if kind_queue == "gpu" and settings.LABS_USE_GPU_QUEUE else "cpu"


@transaction.atomic
def lab_catalog_sync(content_dir: Path | None = None) -> str:
    """Upsert one Lab per registered kind; deactivate labs whose kind is gone.

    The registry (code in ``apps/labs/kinds/``) is the source of truth, like ``content/``
    is for the curriculum: running it again overwrites edits made in the admin.
    ``content_dir`` is accepted for the ``load_content`` loader signature.
    """
    created = updated = 0
    seen = []
    for kind in kinds.all_kinds():
        queue = lab_queue_for(kind.queue)
        limits = dict(kind.limits)
        limits["gpu_count"] = 1 if queue == "gpu" else 0
        values = {
            "kind": kind.slug,
            "title": kind.title,
            "summary": kind.summary,
            "description": kind.folder.joinpath("about.html").read_text() if kind.about_template else "",
            "param_schema": kind.schema_json(),
            "defaults": kind.defaults(),
            "limits": limits,
            "targets": kind.targets_json(),
            "queue": queue,
            "estimated_minutes": kind.estimated_minutes,
            "milestone_slug": kind.milestone_slug,
            "position": kind.position,
            "is_active": True,
        }
        _, was_created = Lab.objects.update_or_create(slug=kind.slug, defaults=values)
        created += was_created
        updated += not was_created
        seen.append(kind.slug)
    deactivated = Lab.objects.exclude(slug__in=seen).filter(is_active=True).update(is_active=False)
    return f"labs: {created + updated} synced ({created} new, {updated} updated), {deactivated} deactivated"


# --- submit and fair dispatch ------------------------------------------------------------------


def _lock_owner(owner_id: int) -> None:
    """Serialise one learner's submits, dispatches and finishes (quota and fairness checks)."""
    list(get_user_model().objects.select_for_update().filter(pk=owner_id).values_list("pk", flat=True))


def lab_job_submit(*, user: Any, lab: Lab | str, params: dict[str, Any] | None) -> LabJob:
    """Validate ``params`` against the lab's schema, run the kind's preflight, check quota,
    create a queued job.

    Raises PermissionDenied when the user may not launch labs (``labs.run_labs``: learners and
    authors), NotFound (unknown or inactive lab), ApplicationError(field="params.<name>") for a
    parameter outside the schema, ApplicationError from the kind's ``preflight`` hook (e.g. a
    model that would not fit in memory, with the estimate), Throttled (extra ``resets_at``,
    ``retry_after``) when the learner's daily minutes or concurrent-job limit is used up. The Celery task is sent
    after commit, by :func:`lab_job_dispatch`, so a worker never sees an uncommitted job.
    """
    if not labs_runnable_by(user):
        raise PermissionDenied(
            "This account cannot launch lab runs: they are part of a learner's account. "
            "Sign up as a learner to run labs yourself."
        )
    if isinstance(lab, str):
        lab_obj = Lab.objects.filter(slug=lab, is_active=True).first()
        if lab_obj is None:
            raise NotFound(f"There is no lab called {lab!r}.")
        lab = lab_obj
    elif not lab.is_active:
        raise NotFound(f"The lab {lab.slug!r} is not available.")
    cleaned = kinds.params_clean(lab.param_schema, params)
    _preflight(lab, cleaned)
    now = timezone.now()
    with transaction.atomic():
        _lock_owner(user.pk)
        quota = lab_quota(user=user, queue=lab.queue, now=now)
        if quota.active_jobs >= quota.max_active_jobs:
            retry_after = 30
            raise Throttled(
                f"You already have {quota.active_jobs} lab runs queued or running (the limit is "
                f"{quota.max_active_jobs}). Wait for one to finish or cancel one, then try again.",
                extra={"resets_at": (now + timedelta(seconds=retry_after)).isoformat(), "retry_after": retry_after,
                       "quota": "active_jobs"},
            )
        if quota.used_minutes + lab.estimated_minutes > quota.limit_minutes + 1e-9:
            retry_after = max(1, math.ceil((quota.resets_at - now).total_seconds()))
            raise Throttled(
                f"This lab needs about {lab.estimated_minutes:g} {quota.unit}-minutes and you have "
                f"{quota.left_minutes:g} of your {quota.limit_minutes:g} left today. Your quota resets at "
                f"{quota.resets_at:%H:%M} UTC.",
                extra={"resets_at": quota.resets_at.isoformat(), "retry_after": retry_after,
                       "quota": f"{lab.queue}_minutes"},
            )
        job = LabJob.objects.create(
            owner=user, lab=lab, params=cleaned, queue=lab.queue, charged_minutes=lab.estimated_minutes
        )
        lab_job_dispatch(owner_id=user.pk, queue=lab.queue, locked=True)
    job.refresh_from_db()
    return job


def _preflight(lab: Lab, params: dict[str, Any]) -> None:
    """The kind's own check of cleaned params, before any row is written (raises ApplicationError)."""
    try:
        kind = kinds.get_kind(lab.kind)
    except NotFound:
        return  # a lab row whose kind is gone: its schema alone decides
    if kind.preflight is not None:
        kind.preflight(params, kinds.resolve_for_preflight(lab.param_schema, params))


def lab_job_dispatch(*, owner_id: int | None = None, queue: str, locked: bool = False) -> list[uuid.UUID]:
    """Hand waiting jobs of ``queue`` to Celery, fairly, within two caps.

    - LABS_MAX_DISPATCHED_PER_USER: a learner never has more than that many jobs in the
      broker queue or running on ``queue``; with the default of 1 the FIFO broker holds at
      most one job per learner, so ten jobs from one learner and one from another alternate.
    - LABS_MAX_RUNNING_PER_QUEUE (0 = none): all learners together never have more than that
      many handed over, so a crowd of new accounts cannot fill the worker pool's queue; the
      rest wait in the database.

    Free slots go round-robin between learners (each learner's oldest waiting job first,
    then each one's second, ...), exactly as ``selectors.lab_queue_order`` predicts. Called
    when a job is submitted or ends (finish, cancel, reaper); ``owner_id`` only says whose
    row the caller has locked (``locked``) or wants locked. Decisions are serialised per
    queue by a transaction-scoped advisory lock, taken after any owner lock and never
    followed by one, so the lock order (owner, then queue) cannot deadlock.
    """
    with transaction.atomic():
        if owner_id is not None and not locked:
            _lock_owner(owner_id)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"labs.dispatch.{queue}"])
        in_flight = list(
            LabJob.objects.filter(queue=queue, status__in=LabJob.ACTIVE, dispatched_at__isnull=False)
            .values_list("owner_id", flat=True)
        )
        cap = settings.LABS_MAX_RUNNING_PER_QUEUE
        free = cap - len(in_flight) if cap > 0 else math.inf
        if free <= 0:
            return []
        per_user: dict[int, int] = {}
        for owner in in_flight:
            per_user[owner] = per_user.get(owner, 0) + 1
        # Rows being changed elsewhere (a cancel holds its job row) are skipped, not waited
        # for: waiting while holding the queue lock could deadlock with that transaction.
        waiting = (
            LabJob.objects.filter(queue=queue, status=Status.QUEUED, dispatched_at__isnull=True)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("queued_at", "id")
            .values_list("pk", "owner_id")
        )
        ranked = []
        for position, (job_id, owner) in enumerate(waiting):
            rank = per_user.get(owner, 0)
            per_user[owner] = rank + 1
            if rank < settings.LABS_MAX_DISPATCHED_PER_USER:
                ranked.append((rank, position, job_id))
        ranked.sort()
        sent = []
        for _, _, job_id in ranked:
            if len(sent) >= free:
                break
            task_id = str(uuid.uuid4())
            if LabJob.objects.filter(pk=job_id, status=Status.QUEUED, dispatched_at__isnull=True).update(
                dispatched_at=timezone.now(), celery_task_id=task_id
            ):
                transaction.on_commit(lambda j=job_id, t=task_id: _send_run_task(j, queue, t))
                sent.append(job_id)
        return sent


def _send_run_task(job_id: uuid.UUID, queue: str, task_id: str) -> None:
    from config.celery import app

    try:
        app.send_task(TASK_RUN, args=[str(job_id)], queue=queue, task_id=task_id)
    except Exception:
        # The job stays queued with dispatched_at set; the reaper sends it again.
        logger.exception("labs: could not enqueue job %s", job_id)
    group_send(queue_group(queue), {"type": "labs.queue_moved"})


# --- claim --------------------------------------------------------------------------------------


def lab_job_claim(job_id: uuid.UUID | str, worker: str, task_id: str = "") -> LabJob | None:
    """``queued -> running`` for exactly one delivery; a second delivery gets None.

    The conditional UPDATE is the lock: two workers racing on the same message both run it
    and Postgres lets exactly one of them see a queued row.
    """
    now = timezone.now()
    updated = LabJob.objects.filter(pk=job_id, status=Status.QUEUED, cancel_requested=False).update(
        status=Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker=worker[:255],
        celery_task_id=task_id[:255],
        attempts=F("attempts") + 1,
        dispatched_at=Coalesce("dispatched_at", Value(now)),
    )
    if updated != 1:
        return None
    job = LabJob.objects.select_related("lab", "owner").get(pk=job_id)
    _push_state_after_commit(job)
    transaction.on_commit(lambda: group_send(queue_group(job.queue), {"type": "labs.queue_moved"}))
    return job


def _push_state_after_commit(job: LabJob) -> None:
    job_id = job.pk

    def push() -> None:
        fresh = LabJob.objects.select_related("lab").filter(pk=job_id).first()
        if fresh is not None:
            group_send(labjob_group(job_id), {"type": "labjob.events", "events": [], "job": lab_job_snapshot(fresh)})

    transaction.on_commit(push)



# --- the worker side: running one claimed job ---------------------------------------------------


def _limits(lab: Lab) -> SandboxLimits:
    known = SandboxLimits.__dataclass_fields__
    return SandboxLimits(**{k: int(v) for k, v in (lab.limits or {}).items() if k in known})


def lab_job_work_dir(job: LabJob) -> Path:
    return Path(settings.LABS_WORK_ROOT) / str(job.pk)


def lab_job_execute(job: LabJob) -> LabJob | None:
    """Run a claimed job in the configured sandbox and record how it ended.

    Never runs anything unsandboxed: if the backend is unavailable the job fails with the
    backend's own explanation. Returns the final job, or None when the job was taken from
    this worker meanwhile (the sandbox is stopped then, and nothing more is written).
    """
    session = JobSession(job)
    work_dir = lab_job_work_dir(job)
    backend = None
    try:
        try:
            backend = get_backend()
            backend.check_available()
        except SandboxError as exc:
            session.notice(f"Sandbox unavailable: {exc.message}")
            session.close()
            return _job_close(job, status=Status.FAILED, exit_reason="unavailable", attempt=session.attempt,
                              reason=f"Labs cannot run right now: {exc.message}")
        LabJob.objects.filter(pk=job.pk).update(sandbox_backend=backend.name)
        job.sandbox_backend = backend.name
        kind = kinds.get_kind(job.lab.kind)
        runner_params, files = kinds.input_files(job.lab.param_schema, job.params)
        try:  # model/dataset slugs -> {"slug", "kind", "path": "/models/...", "meta"} (apps/registry)
            runner_params = registry_params_resolve(job.lab.param_schema, runner_params)
        except RegistryError as exc:
            session.close()
            return _job_close(job, status=Status.FAILED, exit_reason="unavailable", attempt=session.attempt,
                              reason=exc.message)
        backend.release_work_dir(work_dir)  # a previous attempt's files (and quota mount)
        spec = JobSpec(job_id=str(job.pk), runner=kind.runner, params=runner_params, limits=_limits(job.lab),
                       work_dir=work_dir, files=files)
        session.notice(
            f"Starting in the {backend.name} sandbox on {job.worker or 'a worker'}"
            + (f" (attempt {job.attempts})" if job.attempts > 1 else "")
            + f": limits {spec.limits.wall_seconds} s, {spec.limits.memory_mb} MB."
        )
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            exit_status = backend.run(spec, session.on_event, session.should_cancel)
        except SandboxError as exc:
            session.close()
            return _job_close(job, status=Status.FAILED, exit_reason="failed", attempt=session.attempt,
                              reason=f"The sandbox could not run this job: {exc.message}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        session.close()  # every event is written before the job is declared finished
        if session.limit_reason:
            # Stopped through the cancel path by our own cap, not by a person (and events
            # past the cap were dropped, so even a clean exit is not a trustworthy result).
            exit_status = ExitStatus(exit_status.exit_code, "event_limit", session.limit_reason,
                                     usage=exit_status.usage)
        return lab_job_finish(
            job, exit_status, job.metrics, stderr_tail=list(session.stderr_tail), artifacts=session.artifacts,
            # The sandbox's own cgroup accounting is per job; rusage is the fallback where it has none.
            work_dir=work_dir, usage=exit_status.usage or _usage(before, after),
        )
    except JobLost:
        logger.warning("labs: job %s was taken from this worker; its sandbox was stopped", job.pk)
        return None
    finally:
        with contextlib.suppress(BaseException):
            session.close()  # idempotent; stops the flusher on every path
        if not settings.LABS_KEEP_WORK_DIRS:
            # Unmounts the job's quota filesystem (O(1) however deep its tree); what cannot
            # be released now is left to the work-dir sweep (labs.lab_work_dirs_sweep).
            with contextlib.suppress(OSError):
                (backend.release_work_dir if backend is not None else work_dir_release)(work_dir)


def _usage(before: resource.struct_rusage, after: resource.struct_rusage) -> dict[str, float | None]:
    """CPU seconds of the sandbox (children reaped during the run; one job per worker process).

    Peak memory is only known when this job set a new high for the process's children
    (ru_maxrss is a maximum over all of them, not a per-job figure).
    """
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    peak = after.ru_maxrss / 1024 if after.ru_maxrss > before.ru_maxrss else None
    return {"cpu_seconds": round(max(0.0, cpu), 2), "peak_memory_mb": round(peak, 1) if peak else None}


# --- ending a job ---------------------------------------------------------------------------------

_OUTCOMES = {
    "succeeded": Status.SUCCEEDED,
    "cancelled": Status.CANCELLED,
    "timed_out": Status.TIMED_OUT,
    "out_of_memory": Status.FAILED,
    "output_limit": Status.FAILED,
    "event_limit": Status.FAILED,
    "disk_quota": Status.FAILED,
    "killed": Status.FAILED,
    "failed": Status.FAILED,
}


def _reason(job: LabJob, exit_status: ExitStatus, stderr_tail: Sequence[str]) -> str:
    """Why the job ended, for a person: what happened and what to try."""
    detail = (exit_status.detail or "").strip()
    reason = exit_status.reason
    if reason == "succeeded":
        return "Finished successfully."
    if reason == "cancelled":
        return "Cancelled."  # _job_close says by whom
    if reason == "timed_out":
        return f"Time limit reached: {detail} Try fewer steps or a smaller model."
    if reason == "out_of_memory":
        return f"Out of memory: {detail} Try a smaller model, batch or vocabulary."
    if reason == "output_limit":
        return f"Too much output: {detail} Print less often (for example every 100 steps)."
    if reason == "killed":
        return f"Stopped: {detail}"
    if reason == "disk_quota":
        return (f"Disk quota exceeded: the job wrote more than {_limits(job.lab).disk_mb} MB in its work directory. "
                "Save fewer or smaller files (checkpoints, datasets).")
    if reason == "event_limit":
        return detail
    error = (job.result or {}).get("error") if isinstance(job.result, dict) else None
    text = f"{_failure_wording(job.lab)}: {error or detail}"
    tail = [line for line in stderr_tail if line.strip()][-15:]
    if tail:
        text += "\n\nLast lines of the error output:\n" + "\n".join(tail)
    return text


def _failure_wording(lab: Lab) -> str:
    """The kind's own opening for "the runner stopped with an error" (a lab whose kind is gone: the default)."""
    try:
        return kinds.get_kind(lab.kind).failure_wording
    except NotFound:
        return kinds.LabKind.failure_wording


def lab_job_finish(
    job: LabJob,
    exit_status: ExitStatus,
    metrics: dict[str, Any] | None = None,
    *,
    stderr_tail: Sequence[str] = (),
    artifacts: Sequence[dict[str, Any]] = (),
    work_dir: Path | None = None,
    usage: dict[str, float | None] | None = None,
) -> LabJob | None:
    """Record how a running job ended: status, a readable reason, grade, artifacts; notify.

    Grades only succeeded jobs (against the lab's targets). Returns None if this claim no
    longer owns the job.
    """
    status = _OUTCOMES.get(exit_status.reason, Status.FAILED)
    return _job_close(
        job,
        status=status,
        reason=_reason(job, exit_status, stderr_tail),
        exit_reason=exit_status.reason,
        exit_code=exit_status.exit_code,
        metrics=metrics,
        attempt=job.attempts,
        artifacts=artifacts,
        work_dir=work_dir,
        usage=usage,
    )


def lab_job_abort(job: LabJob, *, reason: str) -> LabJob | None:
    """The worker hit an unexpected error: end the job ``failed`` if this claim still owns it."""
    return _job_close(job, status=Status.FAILED, reason=reason, exit_reason="error", attempt=job.attempts)


def _job_close(
    job: LabJob,
    *,
    status: str,
    reason: str,
    exit_reason: str = "",
    exit_code: int | None = None,
    metrics: dict[str, Any] | None = None,
    attempt: int | None = None,
    from_status: str = Status.RUNNING,
    artifacts: Sequence[dict[str, Any]] = (),
    work_dir: Path | None = None,
    usage: dict[str, float | None] | None = None,
) -> LabJob | None:
    """The single way into a final state (conditional on ``from_status`` and ``attempt``)."""
    now = timezone.now()
    with transaction.atomic():
        _lock_owner(job.owner_id)
        rows = LabJob.objects.select_for_update(of=("self",)).filter(pk=job.pk, status=from_status)
        if attempt is not None:
            rows = rows.filter(attempts=attempt)
        row = rows.select_related("lab", "cancelled_by").first()
        if row is None:
            return None
        if metrics is None:
            metrics = row.metrics
        if status == Status.CANCELLED:
            reason = _cancel_reason(row)
        notes = artifacts_store(row, artifacts, work_dir) if work_dir is not None else []
        if notes:
            reason += "\n" + "\n".join(notes)
        row.status = status
        row.reason = reason
        row.exit_reason = exit_reason[:32]
        row.exit_code = exit_code
        row.finished_at = now
        row.metrics = metrics
        row.grade = kinds.grade(row.lab.targets or [], metrics) if status == Status.SUCCEEDED else {}
        if status == Status.SUCCEEDED:
            row.progress = 1.0
        # Quota: the estimate charged at submit becomes the real wall time (none if it never ran).
        row.charged_minutes = round(row.duration_seconds / 60, 3) if row.started_at else 0.0
        if usage:
            row.cpu_seconds = usage.get("cpu_seconds")
            row.peak_memory_mb = usage.get("peak_memory_mb")
        row.evidence_sha256 = evidence_sha256(row) if status == Status.SUCCEEDED else ""
        row.save(update_fields=[
            "status", "reason", "exit_reason", "exit_code", "finished_at", "metrics", "grade", "progress",
            "charged_minutes", "cpu_seconds", "peak_memory_mb", "evidence_sha256",
        ])
        lab_job_dispatch(owner_id=row.owner_id, queue=row.queue, locked=True)
        job_id, owner_id, queue = row.pk, row.owner_id, row.queue

        def announce() -> None:
            fresh = LabJob.objects.select_related("lab").get(pk=job_id)
            group_send(labjob_group(job_id), {"type": "labjob.events", "events": [], "job": lab_job_snapshot(fresh)})
            group_send(user_group(owner_id), {"type": "notify", "payload": {
                "kind": "labjob.finished", "job_id": str(job_id), "lab": fresh.lab.title, "status": fresh.status,
                "url": reverse("labs:job-detail", kwargs={"job_id": job_id}),
            }})
            if from_status == Status.QUEUED:
                group_send(queue_group(queue), {"type": "labs.queue_moved"})
            cache.delete(cancel_key(job_id))

        transaction.on_commit(announce)
    for name in ("status", "reason", "exit_reason", "exit_code", "finished_at", "metrics", "grade", "progress",
                 "charged_minutes", "cpu_seconds", "peak_memory_mb", "evidence_sha256"):
        setattr(job, name, getattr(row, name))
    return row


def _cancel_reason(row: LabJob) -> str:
    by = row.cancelled_by
    if by is None:
        return "Cancelled."
    if by.pk == row.owner_id:
        return "Cancelled by you."
    return f"Cancelled by {by} (support)."


# --- cancel ---------------------------------------------------------------------------------------


def lab_job_cancel(*, job: LabJob | uuid.UUID | str, user: Any) -> LabJob:
    """Cancel a job: its owner, or a holder of ``labs.cancel_any_labjob`` (support). Anyone
    who may not see the job gets NotFound, as if it did not exist; one who may see it but not
    cancel it (``view_any`` only) gets PermissionDenied. ``is_staff`` alone grants nothing.

    Queued: ends ``cancelled`` now and its Celery task is revoked (a delivery that slips
    through finds nothing to claim). Running: ``cancel_requested`` is set and a Redis key
    raised; the worker's ``should_cancel`` sees it within half a second, stops the sandbox
    and the job ends ``cancelled``. A job that already ended is returned unchanged.
    """
    if not isinstance(job, LabJob):
        job = LabJob.objects.filter(pk=job).first() if _is_uuid(job) else None
        if job is None:
            raise NotFound("There is no such lab job.")
    if not lab_job_visible_to(job, user):
        raise NotFound("There is no such lab job.")
    if not lab_job_cancellable_by(job, user):
        raise PermissionDenied("You can see this lab job but not cancel it (that needs the support role).")
    with transaction.atomic():
        _lock_owner(job.owner_id)
        queued = LabJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(
            cancel_requested=True, cancelled_by=user
        )
        if queued:
            task_id = LabJob.objects.filter(pk=job.pk).values_list("celery_task_id", flat=True).first()
            closed = _job_close(job, status=Status.CANCELLED, reason="Cancelled.", exit_reason="cancelled",
                                from_status=Status.QUEUED)
            if task_id:
                transaction.on_commit(lambda: _revoke(task_id))
            return closed or job
        running = LabJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
            cancel_requested=True, cancelled_by=user
        )
        if running:
            job_id = job.pk
            transaction.on_commit(lambda: cache.set(cancel_key(job_id), 1, timeout=24 * 3600))
            lab_job_events_record(job, [("log", {"stream": "sandbox", "line": f"Cancel requested by {user}."})])
    job.refresh_from_db()
    return job


def lab_job_files_delete(*, job: LabJob | uuid.UUID | str, user: Any) -> tuple[int, int]:
    """Delete the stored files of one of the user's finished runs, to make room under
    ``LABS_MAX_STORED_MB_PER_USER``. Returns (files, bytes) freed; nothing left is (0, 0).

    Each file's record stays (name, size, sha256), so the run's page and its evidence hash
    still say what it wrote. Owner only (NotFound for anyone else, support included: these are
    the learner's files). Refused while the run is still going, and while it is evidence in a
    portfolio project: hiring managers are shown those files.
    """
    if not isinstance(job, LabJob):
        job = LabJob.objects.filter(pk=job).first() if _is_uuid(job) else None
    if job is None or job.owner_id != getattr(user, "pk", None):
        raise NotFound("There is no such lab job.")
    with transaction.atomic():
        # The row lock orders this against attaching the run as portfolio evidence.
        job = LabJob.objects.select_for_update().get(pk=job.pk)
        if not job.is_final:
            raise ApplicationError("This run is still going: its files can be deleted once it has ended.")
        evidence = job.portfolio_evidence.select_related("project").first()
        if evidence is not None:
            raise ApplicationError(
                f"This run is evidence in your portfolio project \u201c{evidence.project.title}\u201d: "
                "remove it from the project first, then delete its files."
            )
        return artifacts_delete_files(job)


def _revoke(task_id: str) -> None:
    from config.celery import app

    try:
        app.control.revoke(task_id)
    except Exception:
        logger.warning("labs: revoke of %s failed (the claim makes it harmless)", task_id, exc_info=True)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True



# --- the reaper -------------------------------------------------------------------------------


def lab_jobs_reap(*, stale_after: float | None = None, redispatch_after: float | None = None) -> dict[str, int]:
    """Requeue or fail jobs whose worker vanished; re-send lost messages; dispatch what waits.

    The rules are in :func:`apps.labs.reaper.lab_jobs_reap`. The reaper is built from this
    module's verbs, so it is imported when called rather than at the top.
    """
    from apps.labs import reaper

    return reaper.lab_jobs_reap(stale_after=stale_after, redispatch_after=redispatch_after)


def lab_job_params_error_field(exc: ApplicationError) -> str | None:
    """``params.C`` -> ``C``: the form field an ApplicationError from submit belongs to."""
    if exc.field and exc.field.startswith("params."):
        return exc.field.split(".", 1)[1]
    return None
