"""Reads for job readiness: how ready one learner is for one role, and what to do next.

A readiness view combines four sources, each a *part* of the score with a weight:

- roadmap: the role's required topics the learner marked done (``apps.curriculum``);
- labs: the labs on the way to the role in which the learner has a succeeded job (the
  platform ran it, so the result is verified), with its credential when one was issued
  (``apps.credentials``, looked up lazily: readiness works before that app lands);
- checklist: the guide's portfolio / writing / open-source / community items ticked;
- quiz: mastery from the quiz app over the role's topics that have interview questions
  (left out of the score when none has: never a made-up number).

Every function takes the user whose readiness it reads and only ever reads that user's
rows; views pass ``request.user``, so no URL can name another learner.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.urls import reverse

from apps.career.models import Role, Track
from apps.career.readiness_models import (
    MAX_TARGET_ROLES,
    ReadinessCategory,
    ReadinessItem,
    ReadinessTick,
    TargetRole,
)
from apps.core.errors import NotFound
from apps.curriculum.models import MilestoneProject, Topic, TopicProgress
from apps.curriculum.selectors import topic_statuses
from apps.labs.models import Lab, LabJob

Status = TopicProgress.Status

SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Weights of the parts in the overall score (percent points). A part with nothing to
# measure (a role without topics, no lab on its way, no checklist loaded, no quiz app) is
# left out and the others are scaled up, which the page says in words.
WEIGHTS = {"roadmap": 40, "labs": 30, "checklist": 30, "quiz": 20}
# How many verified results the page lists (newest first), and the next steps it offers.
RESULTS_SHOWN = 10
NEXT_STEPS_MAX = 7


# --- Hooks into apps that may not exist yet ---------------------------------------------


def quiz_mastery_for_role(user: Any, role: Role) -> float | None:
    """The learner's quiz mastery (0..1) over the role's topics that have interview questions:
    the mean of each topic's mastery (``apps.quiz.selectors.topic_mastery``; 0 for a topic
    not practised yet). None when none of the role's topics has a question: nothing measured.
    """
    from apps.quiz.selectors import topic_mastery

    with_questions = set(
        Topic.objects.filter(career_roles=role, questions__isnull=False).values_list("pk", flat=True).distinct()
    )
    if not with_questions:
        return None
    mastery = {row["topic"].pk: row["mastery"] for row in topic_mastery(user=user)}
    return sum(mastery.get(pk, 0) for pk in with_questions) / (100 * len(with_questions))


def _credential_lookup() -> Callable[[LabJob], Any] | None:
    """``apps.credentials.selectors.credential_for_job``, or None until that module exists."""
    try:
        from apps.credentials.selectors import credential_for_job
    except ImportError:
        return None
    return credential_for_job


# --- Roles and targets ------------------------------------------------------------------


def readiness_role_get(slug: str) -> Role:
    # Form fields reach here unchecked: anything that is not a slug (a NUL, 10 kB of text)
    # is simply not a role, never a database error.
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise NotFound(f"There is no role called {str(slug)[:100]!r}.", field="role")
    try:
        return Role.objects.select_related("track").get(slug=slug)
    except Role.DoesNotExist:
        raise NotFound(f"There is no role called {slug!r}.", field="role") from None


def readiness_roles_by_track() -> list[tuple[Track, list[Role]]]:
    """Every role, grouped by track, for the "aim for a role" picker."""
    tracks = Track.objects.prefetch_related(Prefetch("roles", queryset=Role.objects.order_by("position", "slug")))
    return [(track, list(track.roles.all())) for track in tracks.order_by("position", "slug")]


def target_roles(user: Any) -> QuerySet[TargetRole]:
    return TargetRole.objects.filter(user=user).select_related("role", "role__track").order_by("added_at", "id")


def target_role_slugs(user: Any) -> set[str]:
    return set(TargetRole.objects.filter(user=user).values_list("role__slug", flat=True))


# --- Checklist --------------------------------------------------------------------------


def readiness_item_get(slug: str) -> ReadinessItem:
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise NotFound(f"There is no checklist item called {str(slug)[:100]!r}.", field="item")
    try:
        return ReadinessItem.objects.get(slug=slug, is_active=True)
    except ReadinessItem.DoesNotExist:
        raise NotFound(f"There is no checklist item called {slug!r}.", field="item") from None


def readiness_items(user: Any) -> list[tuple[ReadinessItem, bool]]:
    """Active checklist items in order, each with whether ``user`` ticked it (2 queries)."""
    ticked = set(ReadinessTick.objects.filter(user=user).values_list("item_id", flat=True))
    return [(item, item.id in ticked) for item in ReadinessItem.objects.filter(is_active=True).order_by("order")]


@dataclass
class ChecklistGroup:
    key: str
    label: str
    items: list[tuple[ReadinessItem, bool]]

    @property
    def done(self) -> int:
        return sum(1 for _, ticked in self.items if ticked)


def readiness_checklist(user: Any) -> list[ChecklistGroup]:
    by_category: dict[str, list[tuple[ReadinessItem, bool]]] = {}
    for item, ticked in readiness_items(user):
        by_category.setdefault(item.category, []).append((item, ticked))
    return [
        ChecklistGroup(key, label, by_category[key]) for key, label in ReadinessCategory.choices if key in by_category
    ]


# --- The readiness of one role -----------------------------------------------------------


@dataclass
class Part:
    """One component of the score: ``done`` of ``total``, or not counted (``total`` 0)."""

    key: str
    label: str
    done: int
    total: int
    explanation: str
    weight: int = 0  # share of the overall score after leaving out unmeasured parts

    @property
    def counted(self) -> bool:
        return self.total > 0

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


@dataclass
class TopicRow:
    topic: Topic
    status: str

    @property
    def label(self) -> str:
        return Status(self.status).label

    @property
    def css(self) -> str:
        return self.status.replace("_", "-")


@dataclass
class LabRow:
    """A lab on the way to the role and the learner's best verified run of it."""

    lab: Lab
    job: LabJob | None  # the newest succeeded job, preferring one that met the targets

    @property
    def met_targets(self) -> bool:
        # A lab without targets grades ``passed: None``: succeeding is the whole test.
        return self.job is not None and self.job.grade.get("passed") is not False


@dataclass
class Result:
    """A succeeded job of the learner's: a result the platform ran, so it is verified."""

    job: LabJob
    credential: Any = None  # apps.credentials Credential, when issued
    credentials_available: bool = False

    @property
    def credential_state(self) -> str:
        """ "unavailable" (no credentials app), "none", "issued" or "revoked"."""
        if not self.credentials_available:
            return "unavailable"
        if self.credential is None:
            return "none"
        return "revoked" if getattr(self.credential, "revoked_at", None) else "issued"

    @property
    def passed(self) -> bool | None:
        return self.job.grade.get("passed")


@dataclass
class NextStep:
    kind: str  # topic | lab | credential | checklist | portfolio
    text: str
    url: str
    link_label: str


@dataclass
class Readiness:
    role: Role
    is_target: bool
    topics: list[TopicRow]
    labs: list[LabRow]
    lab_scope_phase: int | None  # labs count up to this phase (the role's last topic phase)
    results: list[Result]
    results_total: int
    checklist: list[ChecklistGroup]
    quiz_mastery: float | None
    parts: list[Part] = field(default_factory=list)
    next_steps: list[NextStep] = field(default_factory=list)

    @property
    def counted_parts(self) -> list[Part]:
        return [p for p in self.parts if p.counted and p.weight]

    @property
    def score(self) -> int | None:
        """0..100, the weighted mean of the measured parts; None when nothing is measured."""
        parts = self.counted_parts
        total_weight = sum(p.weight for p in parts)
        if not total_weight:
            return None
        return round(sum(p.weight * p.done / p.total for p in parts) * 100 / total_weight)

    @property
    def topic_counts(self) -> dict[str, int]:
        counts = {s: 0 for s in Status.values}
        for row in self.topics:
            counts[row.status] += 1
        return counts


def _role_topics(role: Role) -> list[Topic]:
    return list(role.topics.select_related("phase").order_by("phase__number", "order"))


def _lab_rows(user: Any, scope_phase: int | None) -> list[LabRow]:
    """Labs whose milestone sits in a phase up to ``scope_phase``, with the best run of each."""
    if scope_phase is None:
        return []
    milestone_phases = dict(MilestoneProject.objects.values_list("slug", "phase__number"))
    labs = [
        lab
        for lab in Lab.objects.filter(is_active=True).exclude(milestone_slug="").order_by("position", "title")
        if milestone_phases.get(lab.milestone_slug, scope_phase + 1) <= scope_phase
    ]
    best: dict[int, LabJob] = {}
    jobs = LabJob.objects.filter(owner=user, status=LabJob.Status.SUCCEEDED, lab__in=labs).order_by("-finished_at")
    for job in jobs.only("id", "lab_id", "grade", "metrics", "finished_at", "status"):
        current = best.get(job.lab_id)
        # Newest first, so the first one seen wins unless a later-seen one met targets and it did not.
        if current is None or (current.grade.get("passed") is False and job.grade.get("passed") is not False):
            best[job.lab_id] = job
    return [LabRow(lab, best.get(lab.id)) for lab in labs]


def _results(user: Any) -> tuple[list[Result], int]:
    succeeded = LabJob.objects.filter(owner=user, status=LabJob.Status.SUCCEEDED).select_related("lab")
    total = succeeded.count()
    lookup = _credential_lookup()
    results = []
    for job in succeeded.order_by("-finished_at", "-queued_at")[:RESULTS_SHOWN]:
        credential = lookup(job) if lookup is not None else None
        results.append(Result(job, credential, credentials_available=lookup is not None))
    return results, total


def _parts(r: Readiness) -> list[Part]:
    counts = r.topic_counts
    roadmap_total = len(r.topics)
    skipped = counts[Status.SKIPPED]
    roadmap_text = (
        f"{counts[Status.DONE]} of the {roadmap_total} roadmap topics this role needs are done"
        + (f"; {counts[Status.IN_PROGRESS]} in progress" if counts[Status.IN_PROGRESS] else "")
        + (f"; {skipped} skipped, which do not count" if skipped else "")
        + "."
        if roadmap_total
        else "This role names no roadmap topics yet, so the roadmap is not counted."
    )
    labs_done = sum(1 for row in r.labs if row.met_targets)
    labs_text = (
        f"{labs_done} of the {len(r.labs)} labs up to phase {r.lab_scope_phase} (where this role's topics end) "
        "have a succeeded run that met the lab's targets."
        if r.labs
        else "No hosted lab covers this role's part of the roadmap yet, so labs are not counted."
    )
    items = [pair for group in r.checklist for pair in group.items]
    ticked = sum(1 for _, t in items if t)
    checklist_text = (
        f"{ticked} of {len(items)} portfolio, writing, open-source and community items ticked (you tick them)."
        if items
        else "The checklist is not loaded, so it is not counted."
    )
    parts = [
        Part("roadmap", "Roadmap topics", counts[Status.DONE], roadmap_total, roadmap_text),
        Part("labs", "Verified lab results", labs_done, len(r.labs), labs_text),
        Part("checklist", "Job-search checklist", ticked, len(items), checklist_text),
        Part(
            "quiz",
            "Quiz mastery",
            round(100 * r.quiz_mastery) if r.quiz_mastery is not None else 0,
            100 if r.quiz_mastery is not None else 0,
            "None of this role's topics has interview questions yet, so quiz mastery is left out of the "
            "score (not counted)."
            if r.quiz_mastery is None
            else f"Your interview-practice mastery on this role's topics is {round(100 * r.quiz_mastery)}% "
            "(latest scores, weighted by how well you still recall them; unpractised topics count 0).",
        ),
    ]
    # Weights: the fixed shares of the measured parts, scaled to sum to 100.
    measured = [p for p in parts if p.counted and WEIGHTS[p.key]]
    total_weight = sum(WEIGHTS[p.key] for p in measured)
    for part in measured:
        part.weight = round(100 * WEIGHTS[part.key] / total_weight)
    return parts


def _next_steps(r: Readiness) -> list[NextStep]:
    steps: list[NextStep] = []
    open_topics = [row for row in r.topics if row.status != Status.DONE]
    # Finish what is started before starting something new; skipped ones are required here.
    open_topics.sort(key=lambda row: row.status != Status.IN_PROGRESS)
    for row in open_topics[:3]:
        verb = {Status.IN_PROGRESS: "Finish", Status.SKIPPED: "Go back to"}.get(row.status, "Learn")
        steps.append(
            NextStep(
                "topic",
                f"{verb} {row.topic.title} (phase {row.topic.phase.number})",
                row.topic.get_absolute_url(),
                "Open the topic",
            )
        )
    for row in r.labs:
        if row.job is None:
            steps.append(
                NextStep(
                    "lab",
                    f"Run the {row.lab.title} lab (about {row.lab.estimated_minutes:g} minutes)",
                    reverse("labs:detail", args=[row.lab.slug]),
                    "Open the lab",
                )
            )
        elif not row.met_targets:
            steps.append(
                NextStep(
                    "lab",
                    f"Run {row.lab.title} again and reach its targets",
                    reverse("labs:detail", args=[row.lab.slug]),
                    "Open the lab",
                )
            )
        if sum(1 for s in steps if s.kind == "lab") >= 2:
            break
    unissued = [res for res in r.results if res.credential_state == "none"]
    if unissued:
        job = unissued[0].job
        steps.append(
            NextStep(
                "credential",
                f"Turn your {job.lab.title} result into a signed credential you can share",
                reverse("labs:job-detail", args=[job.pk]),
                "Open the result",
            )
        )
    for group in r.checklist:
        item = next((item for item, ticked in group.items if not ticked), None)
        if item is not None:
            url = item.link or f"#item-{item.slug}"
            steps.append(NextStep("checklist", item.text, url, item.link_label or "See the checklist"))
    return steps[:NEXT_STEPS_MAX]


@dataclass
class _Shared:
    """What every role's readiness shows the same: results and the checklist."""

    results: list[Result]
    results_total: int
    checklist: list[ChecklistGroup]
    target_ids: set[int]


def _shared(user: Any) -> _Shared:
    results, total = _results(user)
    targets = set(TargetRole.objects.filter(user=user).values_list("role_id", flat=True))
    return _Shared(results, total, readiness_checklist(user), targets)


def readiness_get(user: Any, role: Role, *, shared: _Shared | None = None) -> Readiness:
    """How ready ``user`` is for ``role``: parts, score, evidence and next steps."""
    shared = shared or _shared(user)
    topics = _role_topics(role)
    statuses = topic_statuses(user, [t.id for t in topics])
    scope_phase = max((t.phase.number for t in topics), default=None)
    readiness = Readiness(
        role=role,
        is_target=role.pk in shared.target_ids,
        topics=[TopicRow(t, statuses.get(t.id, Status.NOT_STARTED)) for t in topics],
        labs=_lab_rows(user, scope_phase),
        lab_scope_phase=scope_phase,
        results=shared.results,
        results_total=shared.results_total,
        checklist=shared.checklist,
        quiz_mastery=quiz_mastery_for_role(user, role),
    )
    readiness.parts = _parts(readiness)
    readiness.next_steps = _next_steps(readiness)
    return readiness


@dataclass
class TargetSummary:
    target: TargetRole
    readiness: Readiness


def readiness_overview(user: Any) -> list[TargetSummary]:
    """The readiness of each of the user's target roles (at most ``MAX_TARGET_ROLES``)."""
    shared = _shared(user)
    return [TargetSummary(t, readiness_get(user, t.role, shared=shared)) for t in target_roles(user)[:MAX_TARGET_ROLES]]
