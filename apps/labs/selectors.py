"""Reads for labs: the catalogue, a learner's jobs and quota, queue positions, replay.

Visibility rule, in one place (:func:`lab_job_visible_to`): a job is visible to its owner
and to holders of ``labs.view_any_labjob`` (the support role; superusers); to anyone else,
authors and other staff included, it does not exist (404, never 403).
"""

from __future__ import annotations

import hashlib
import statistics
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils import timezone

from apps.core.errors import ApplicationError, NotFound
from apps.labs.kinds import get_kind
from apps.labs.models import Artifact, Lab, LabJob, LabJobEvent

# --- catalogue ----------------------------------------------------------------------------


def lab_list() -> QuerySet[Lab]:
    return Lab.objects.filter(is_active=True).order_by("position", "title")


def lab_get(*, slug: str) -> Lab:
    lab = Lab.objects.filter(slug=slug, is_active=True).first()
    if lab is None:
        raise NotFound(f"There is no lab called {slug!r}.")
    return lab


def lab_chart_metrics(lab: Lab) -> tuple[str, ...]:
    try:
        return get_kind(lab.kind).chart_metrics
    except NotFound:
        return ()


def lab_key_metrics(lab: Lab) -> tuple[str, ...]:
    try:
        return get_kind(lab.kind).key_metrics
    except NotFound:
        return ()


def lab_milestone(lab: Lab) -> dict[str, str] | None:
    """The curriculum milestone a lab practises, looked up by slug (no FK: the apps stay
    decoupled, and a lab still works if the curriculum lacks or renames the milestone)."""
    if not lab.milestone_slug:
        return None
    from django.apps import apps

    try:
        model = apps.get_model("curriculum", "MilestoneProject")
    except LookupError:
        return {"title": lab.milestone_slug, "url": ""}
    milestone = model.objects.filter(slug=lab.milestone_slug).select_related("phase").first()
    if milestone is None:
        return {"title": lab.milestone_slug, "url": ""}
    try:
        url = reverse("curriculum:phase", kwargs={"slug": milestone.phase.slug}) + f"#{milestone.slug}"
    except Exception:  # the curriculum's URLs are its own business
        url = ""
    return {"title": milestone.title, "url": url}


TYPICAL_DURATION_RUNS = 20
TYPICAL_DURATION_MIN_RUNS = 3


def lab_typical_duration(lab: Lab) -> float | None:
    """Median wall time in seconds (start to finish) of the lab's last 20 succeeded runs on
    this installation; None with fewer than 3.

    Measured here beats the kind's configured guess: the same lab takes 20 s on one machine
    and 3 minutes on another. The median, because one run with huge settings or a cold
    cache must not move it.
    """
    return lab_typical_durations([lab]).get(lab.pk)


def lab_typical_durations(labs: list[Lab]) -> dict[int, float]:
    """``lab_typical_duration`` for many labs in one query (at most 20 rows per lab): labs
    with too few runs are left out."""
    rows = (
        LabJob.objects.filter(
            lab__in=labs, status=LabJob.Status.SUCCEEDED, started_at__isnull=False, finished_at__isnull=False
        )
        .annotate(recent=Window(RowNumber(), partition_by=F("lab_id"), order_by=F("finished_at").desc()))
        .filter(recent__lte=TYPICAL_DURATION_RUNS)
        .values_list("lab_id", "started_at", "finished_at")
    )
    durations: dict[int, list[float]] = {}
    for lab_id, started, finished in rows:
        durations.setdefault(lab_id, []).append((finished - started).total_seconds())
    return {
        lab_id: statistics.median(values)
        for lab_id, values in durations.items()
        if len(values) >= TYPICAL_DURATION_MIN_RUNS
    }


# --- quota --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quota:
    queue: str
    limit_minutes: float
    used_minutes: float
    resets_at: datetime
    active_jobs: int
    max_active_jobs: int

    @property
    def left_minutes(self) -> float:
        return max(0.0, self.limit_minutes - self.used_minutes)

    @property
    def unit(self) -> str:
        return "GPU" if self.queue == "gpu" else "CPU"


def quota_day_start(now: datetime | None = None) -> datetime:
    """Quotas are per UTC day: simple to explain, and every learner's resets at the same time."""
    now = now or timezone.now()
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def lab_quota(*, user: Any, queue: str, now: datetime | None = None) -> Quota:
    """Minutes used today on ``queue`` (estimates for unfinished jobs, real durations for ended ones)."""
    now = now or timezone.now()
    start = quota_day_start(now)
    used = (
        LabJob.objects.filter(owner=user, queue=queue, queued_at__gte=start).aggregate(total=Sum("charged_minutes"))[
            "total"
        ]
        or 0.0
    )
    limit = settings.LABS_QUOTA_GPU_MINUTES_PER_DAY if queue == "gpu" else settings.LABS_QUOTA_CPU_MINUTES_PER_DAY
    active = LabJob.objects.filter(owner=user, status__in=LabJob.ACTIVE).count()
    return Quota(
        queue=queue,
        limit_minutes=float(limit),
        used_minutes=round(float(used), 2),
        resets_at=start + timedelta(days=1),
        active_jobs=active,
        max_active_jobs=settings.LABS_MAX_ACTIVE_JOBS_PER_USER,
    )


# --- jobs ---------------------------------------------------------------------------------


VIEW_ANY = "labs.view_any_labjob"
CANCEL_ANY = "labs.cancel_any_labjob"


def lab_job_visible_to(job: LabJob, user: Any) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    # An explicit permission, not is_staff: authors are staff (for the admin) and a job
    # holds a learner's code and output.
    return job.owner_id == user.id or user.has_perm(VIEW_ANY)


def lab_job_cancellable_by(job: LabJob, user: Any) -> bool:
    return lab_job_visible_to(job, user) and (job.owner_id == user.id or user.has_perm(CANCEL_ANY))


def lab_job_get(*, job_id: uuid.UUID | str, user: Any) -> LabJob:
    """The job if ``user`` may see it; NotFound otherwise (someone else's job does not exist)."""
    try:
        job = LabJob.objects.select_related("lab", "owner").get(pk=job_id)
    except (LabJob.DoesNotExist, ValidationError, ValueError, TypeError):  # ValidationError: not a UUID
        raise NotFound("There is no such lab job.") from None
    if not lab_job_visible_to(job, user):
        raise NotFound("There is no such lab job.")
    return job


def lab_job_list(*, user: Any, lab: Lab | None = None) -> QuerySet[LabJob]:
    qs = LabJob.objects.filter(owner=user).select_related("lab").order_by("-queued_at")
    return qs.filter(lab=lab) if lab is not None else qs


def replay_page_size() -> int:
    return max(1, int(settings.LABS_REPLAY_PAGE_SIZE))


def lab_job_events_after(*, job: LabJob, after: int = 0, limit: int | None = None) -> list[LabJobEvent]:
    """One page of events after ``after`` (never a whole job: ``limit`` defaults to a page)."""
    limit = replay_page_size() if limit is None else limit
    return list(LabJobEvent.objects.filter(job=job, seq__gt=max(0, int(after))).order_by("seq")[:limit])


def lab_job_chart_points(*, job: LabJob, names: tuple[str, ...], up_to: int | None = None) -> list[dict[str, Any]]:
    """Metric points with a step (for the live chart's first paint); ``*`` means any metric."""
    if not names:
        return []
    qs = LabJobEvent.objects.filter(job=job, type="metric", payload__has_key="step")
    if up_to is not None:
        qs = qs.filter(seq__lte=up_to)
    if "*" not in names:
        qs = qs.filter(payload__name__in=list(names))
    return [
        {"name": e.payload.get("name"), "step": e.payload.get("step"), "value": e.payload.get("value")}
        for e in qs.order_by("seq").only("payload")
    ]


def lab_job_log_tail(*, job: LabJob, up_to: int, lines: int = 300) -> list[LabJobEvent]:
    """The last events that show as log lines (``live.event_line``): progress moves the bar
    and stepped metrics go to the chart, so neither takes a place in the tail."""
    qs = (
        LabJobEvent.objects.filter(job=job, seq__lte=up_to)
        .exclude(type="progress")
        .exclude(type="metric", payload__has_key="step")
    )
    events = list(qs.order_by("-seq")[:lines])
    events.reverse()
    return events


def lab_queue_order(*, queue: str) -> list[uuid.UUID]:
    """Queued jobs of ``queue`` in the order they are expected to start.

    Mirrors the fair dispatch in ``services.lab_job_dispatch``: jobs already handed to
    Celery run first, in the order they were sent (the broker queue is FIFO); the jobs
    still waiting in the database follow, round-robin between learners (each learner's
    1st waiting job, then each learner's 2nd, ...), oldest first within a round.
    """
    rows = list(
        LabJob.objects.filter(status=LabJob.Status.QUEUED, queue=queue)
        .order_by("queued_at", "id")
        .values_list("id", "owner_id", "queued_at", "dispatched_at")
    )
    dispatched = sorted((r for r in rows if r[3] is not None), key=lambda r: (r[3], r[2]))
    seen: dict[int, int] = {}
    waiting = []
    for job_id, owner_id, queued_at, _ in (r for r in rows if r[3] is None):
        rank = seen.get(owner_id, 0)
        seen[owner_id] = rank + 1
        waiting.append((rank, queued_at, job_id))
    waiting.sort()
    return [r[0] for r in dispatched] + [w[2] for w in waiting]


def lab_queue_positions(*, queue: str) -> dict[uuid.UUID, int]:
    """1-based position of every queued job of ``queue`` (1 = next to start)."""
    return {job_id: index + 1 for index, job_id in enumerate(lab_queue_order(queue=queue))}


def lab_job_queue_position(job: LabJob) -> int | None:
    if job.status != LabJob.Status.QUEUED:
        return None
    return lab_queue_positions(queue=job.queue).get(job.pk)


# --- what the page and the websocket show ------------------------------------------------


def _artifact_url(job: LabJob, artifact_id: int) -> str:
    return reverse("labs:artifact-download", kwargs={"job_id": job.pk, "artifact_id": artifact_id})


def lab_job_snapshot(job: LabJob, *, position: int | None = None) -> dict[str, Any]:
    """The job's state as plain JSON: what the job page renders and the websocket pushes.

    Final jobs include their artifacts (one query); ``position`` is the queue position for
    queued jobs (computed when not given).
    """
    if job.status == LabJob.Status.QUEUED and position is None:
        position = lab_job_queue_position(job)
    data: dict[str, Any] = {
        "id": str(job.pk),
        "lab": job.lab.slug,
        "kind": job.lab.kind,
        "lab_title": job.lab.title,
        "status": job.status,
        "status_label": LabJob.Status(job.status).label,
        "reason": job.reason,
        "queue": job.queue,
        "position": position,
        "queued_at": _iso(job.queued_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "duration_seconds": job.duration_seconds,
        "progress": job.progress,
        "progress_message": job.progress_message,
        "metrics": job.metrics,
        "grade": job.grade,
        "result": job.result,
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "last_event_seq": job.last_event_seq,
        "final": job.is_final,
        "evidence_sha256": job.evidence_sha256,
        "artifacts": [],
        "files_stored_bytes": 0,
    }
    if job.is_final:
        data["artifacts"] = [
            {
                "id": a.pk,
                "name": a.name,
                "kind": a.kind,
                "size": a.size,
                "sha256": a.sha256,
                # A file its owner deleted keeps its record, without a link.
                "url": _artifact_url(job, a.pk) if a.file else None,
                "image": bool(a.image_type) and bool(a.file),
            }
            for a in job.artifacts.order_by("name")
        ]
        data["files_stored_bytes"] = sum(a["size"] for a in data["artifacts"] if a["url"])
    return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- sandbox availability ------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxStatus:
    ok: bool
    backend: str
    message: str


def lab_sandbox_status() -> SandboxStatus:
    """Can lab jobs run? ``check_available()`` of the configured backend, cached for a minute.

    This runs where the page is served; on a split deployment the web tier must carry the
    same LABS_SANDBOX_* settings as the workers (the check is cheap and never weakens
    anything). The answer is cached because the first check starts a trivial sandbox.
    """
    from apps.labs.sandbox import SandboxError, get_backend

    name = str(settings.LABS_SANDBOX_BACKEND)
    key = (
        "labs:sandbox-status:"
        + hashlib.sha256(repr((name, sorted((settings.LABS_SANDBOX_OPTIONS or {}).items()))).encode()).hexdigest()[:16]
    )
    cached = cache.get(key)
    if cached is not None:
        return SandboxStatus(**cached)
    try:
        get_backend().check_available()
        status = SandboxStatus(ok=True, backend=name, message="")
    except SandboxError as exc:
        status = SandboxStatus(ok=False, backend=name, message=exc.message)
    except Exception as exc:  # a broken backend must show as "unavailable", not crash the page
        status = SandboxStatus(ok=False, backend=name, message=f"The {name} sandbox cannot start: {exc}")
    cache.set(key, {"ok": status.ok, "backend": status.backend, "message": status.message}, 60)
    return status


def lab_jobs_active_for(*, user: Any) -> QuerySet[LabJob]:
    return LabJob.objects.filter(Q(owner=user) & Q(status__in=LabJob.ACTIVE))


# --- the websocket's reads -------------------------------------------------------------------


def _event_dict(event: LabJobEvent) -> dict[str, Any]:
    return {"seq": event.seq, "type": event.type, "payload": event.payload}


def lab_job_live_view(*, job_id: uuid.UUID | str, user: Any) -> dict[str, Any] | None:
    """What the job websocket needs to know up front, or None if ``user`` may not watch."""
    try:
        job = lab_job_get(job_id=job_id, user=user)
    except NotFound:
        return None
    return {"queue": job.queue, "chart_metrics": lab_chart_metrics(job.lab), "is_owner": job.owner_id == user.id}


def lab_job_replay(
    *, job_id: uuid.UUID | str, after: int, limit: int | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The job's current snapshot and the first page of events after ``after``, read in that
    order so the snapshot is never older than the events. The caller reads the rest with
    :func:`lab_job_events_dicts` up to the snapshot's ``last_event_seq``, a page at a time:
    a capped job still has thousands of events, and the web process never holds them all."""
    job = LabJob.objects.select_related("lab").get(pk=job_id)
    snapshot = lab_job_snapshot(job)
    events = lab_job_events_dicts(job_id=job_id, after=after, up_to=job.last_event_seq, limit=limit)
    return snapshot, events


def lab_job_events_dicts(
    *, job_id: uuid.UUID | str, after: int, up_to: int | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """One page (at most ``limit``, default LABS_REPLAY_PAGE_SIZE) of events after ``after``."""
    limit = replay_page_size() if limit is None else limit
    qs = LabJobEvent.objects.filter(job_id=job_id, seq__gt=max(0, after))
    if up_to is not None:
        qs = qs.filter(seq__lte=up_to)
    return [_event_dict(e) for e in qs.order_by("seq")[:limit]]


def lab_job_position_by_id(*, job_id: uuid.UUID | str) -> tuple[str, int | None]:
    job = LabJob.objects.filter(pk=job_id).first()
    if job is None:
        return "", None
    return job.status, lab_job_queue_position(job)


# --- comparing two runs of a lab -------------------------------------------------------------

COMPARE_CANDIDATES = 50


@dataclass(frozen=True)
class LabJobComparison:
    """Two runs of one lab side by side. ``a`` is the earlier run, ``b`` the later one, so a
    delta reads "what changed from the first run to the second" whichever order was asked.

    - ``params``: one row per schema parameter, ``{"name", "label", "type", "a", "b", "changed"}``;
    - ``metrics``: one row per final metric either run reported, ``{"name", "a", "b", "delta",
      "direction", "better"}`` (``delta`` = b - a when both are numbers, else None;
      ``direction`` "higher"/"lower"/"" and ``better`` "a"/"b"/"" when that is known);
    - ``series``: per chart metric, ``{"a": [[step, value], ...], "b": [...]}`` for an overlay.
    """

    lab: Lab
    a: LabJob
    b: LabJob
    params: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    series: dict[str, dict[str, list[list[float]]]]

    @property
    def changed_params(self) -> list[dict[str, Any]]:
        return [row for row in self.params if row["changed"]]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def lab_metric_direction(lab: Lab, name: str) -> str:
    """"higher" or "lower" when it is known which way ``name`` improves: from the lab's
    targets (``>=`` means higher is better), else losses and perplexities fall; "" otherwise."""
    for target in lab.targets or []:
        if target.get("metric") == name and target.get("op") in TARGET_DIRECTIONS:
            return TARGET_DIRECTIONS[target["op"]]
    lowered = name.lower()
    if lowered.startswith("initial_"):  # where training started, not how well it went
        return ""
    if "loss" in lowered or "perplexity" in lowered:
        return "lower"
    return ""


TARGET_DIRECTIONS = {">=": "higher", ">": "higher", "<=": "lower", "<": "lower"}


def lab_jobs_compare(*, user: Any, a: uuid.UUID | str, b: uuid.UUID | str) -> LabJobComparison:
    """Compare two runs ``user`` may see (the job page's rule: owner or ``view_any_labjob``).

    NotFound if either run is not visible (someone else's run does not exist);
    ApplicationError if they are one run, or runs of different labs.
    """
    first = lab_job_get(job_id=a, user=user)
    second = lab_job_get(job_id=b, user=user)
    if first.pk == second.pk:
        raise ApplicationError("Pick two different runs to compare.", field="b")
    if first.lab_id != second.lab_id:
        raise ApplicationError(
            f"These runs are of different labs ({first.lab.title} and {second.lab.title}); "
            "pick two runs of the same lab.",
            field="b",
        )
    if (second.queued_at, str(second.pk)) < (first.queued_at, str(first.pk)):
        first, second = second, first
    lab = first.lab
    params = []
    names = [spec["name"] for spec in lab.param_schema]
    # A parameter the schema has since lost still shows: the runs did use it.
    names += sorted((set(first.params) | set(second.params)) - set(names))
    specs = {spec["name"]: spec for spec in lab.param_schema}
    for name in names:
        spec = specs.get(name, {})
        va, vb = first.params.get(name), second.params.get(name)
        params.append({"name": name, "label": spec.get("label") or name, "type": spec.get("type", ""),
                       "a": va, "b": vb, "changed": va != vb})
    metrics = []
    metric_names = list(first.metrics) + [n for n in second.metrics if n not in first.metrics]
    for name in metric_names:
        va, vb = first.metrics.get(name), second.metrics.get(name)
        delta = vb - va if _number(va) and _number(vb) else None
        direction = lab_metric_direction(lab, name)
        better = ""
        if delta and direction:
            better = "b" if (delta > 0) == (direction == "higher") else "a"
        metrics.append({"name": name, "a": va, "b": vb, "delta": delta, "direction": direction, "better": better})
    return LabJobComparison(lab=lab, a=first, b=second, params=params, metrics=metrics,
                            series=lab_jobs_chart_series(jobs=(first, second), names=lab_chart_metrics(lab)))


def lab_jobs_chart_series(
    *, jobs: tuple[LabJob, LabJob], names: tuple[str, ...]
) -> dict[str, dict[str, list[list[float]]]]:
    """Stepped metric points of two jobs in one query, per metric then per run ("a", "b"),
    in step order; a metric only one run reported still gets both keys."""
    if not names:
        return {}
    keys = {jobs[0].pk: "a", jobs[1].pk: "b"}
    qs = LabJobEvent.objects.filter(job__in=list(keys), type="metric", payload__has_key="step")
    if "*" not in names:
        qs = qs.filter(payload__name__in=list(names))
    series: dict[str, dict[str, dict[float, float]]] = {n: {"a": {}, "b": {}} for n in names if n != "*"}
    for job_id, payload in qs.order_by("job_id", "seq").values_list("job_id", "payload"):
        name, step, value = payload.get("name"), payload.get("step"), payload.get("value")
        if not isinstance(name, str) or not _number(step) or not _number(value):
            continue
        # A step reported twice (a retried attempt) keeps its last value, as the live chart does.
        series.setdefault(name, {"a": {}, "b": {}})[keys[job_id]][step] = value
    return {
        name: {run: [[step, points[step]] for step in sorted(points)] for run, points in runs.items()}
        for name, runs in series.items()
        if runs["a"] or runs["b"]
    }


def lab_job_compare_candidates(*, job: LabJob, user: Any, limit: int = COMPARE_CANDIDATES) -> list[LabJob]:
    """Other runs of ``job``'s lab by the same learner, newest first: what "compare with..."
    offers. Empty unless ``user`` may see ``job``."""
    if not lab_job_visible_to(job, user):
        return []
    return list(
        LabJob.objects.filter(owner_id=job.owner_id, lab_id=job.lab_id)
        .exclude(pk=job.pk)
        .only("id", "status", "queued_at", "started_at", "params", "metrics", "lab_id", "owner_id")
        .order_by("-queued_at")[:limit]
    )


def lab_jobs_of_lab(*, user: Any, lab: Lab, limit: int = COMPARE_CANDIDATES) -> list[LabJob]:
    """The learner's own runs of one lab, newest first (the compare picker)."""
    return list(LabJob.objects.filter(owner=user, lab=lab).select_related("lab").order_by("-queued_at")[:limit])


@dataclass(frozen=True)
class LabStorage:
    """What a learner's runs keep in file storage, against ``LABS_MAX_STORED_MB_PER_USER``."""

    used_bytes: int
    limit_bytes: int

    @property
    def used_fraction(self) -> float:
        return min(1.0, self.used_bytes / self.limit_bytes) if self.limit_bytes else 1.0


def lab_files_stored_bytes(owner_id: int, *, exclude_job_id: Any = None) -> int:
    """Bytes of files the owner's runs keep in storage (deleted files no longer count)."""
    rows = Artifact.objects.filter(job__owner_id=owner_id).exclude(file="")
    if exclude_job_id is not None:
        rows = rows.exclude(job_id=exclude_job_id)
    return rows.aggregate(total=Sum("size"))["total"] or 0


def lab_storage(*, user: Any) -> LabStorage:
    return LabStorage(lab_files_stored_bytes(user.pk), settings.LABS_MAX_STORED_MB_PER_USER * 1024 * 1024)


def labs_runnable_by(user: Any) -> bool:
    """Whether ``user`` may launch lab runs at all: the ``labs.run_labs`` grant (learners and
    authors, see apps.core.roles), never implied by being signed in or by is_staff."""
    return getattr(user, "is_authenticated", False) and user.has_perm("labs.run_labs")


def lab_job_rerunnable_by(job: LabJob, user: Any) -> bool:
    """Only the owner runs a job again: the run is charged to whoever launches it, and a
    support user seeing a learner's job must not start the learner's code as themselves."""
    return getattr(user, "is_authenticated", False) and job.owner_id == user.id
