"""Reads for the career catalogue: the career tree, roles, salaries, estimates, guide lists.

The catalogue is public content, so nothing here depends on who asks except the optional
roadmap progress shown next to a role's topics (the caller's own, never anyone else's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from apps.career.models import GuideEntry, GuideList, JobReadyEstimate, Level, Region, Role, SalaryBand, Track
from apps.core.errors import ApplicationError
from apps.curriculum.models import Topic
from apps.curriculum.selectors import topic_statuses


def track_list() -> QuerySet[Track]:
    """Tracks with their roles, in the guide's order (2 queries)."""
    return Track.objects.prefetch_related(Prefetch("roles", queryset=Role.objects.order_by("position", "slug")))


def role_list(*, track: str | None = None) -> QuerySet[Role]:
    qs = Role.objects.select_related("track").prefetch_related(
        Prefetch("topics", queryset=Topic.objects.select_related("phase").order_by("phase__number", "order"))
    )
    if track:
        qs = qs.filter(track__slug=track)
    return qs


def role_get(slug: str) -> Role:
    try:
        return role_list().get(slug=slug)
    except Role.DoesNotExist:
        raise Http404(f"No role {slug!r}") from None


@dataclass
class TopicLine:
    topic: Topic
    status: str  # "" when the caller is anonymous or has not started it


@dataclass
class RoleView:
    role: Role
    topics: list[TopicLine]
    salaries: list[SalaryBand]
    done: int = 0
    tracked: bool = False


def role_view(role: Role, user: Any) -> RoleView:
    """A role with its topics (and the caller's own progress on them) and its salary bands."""
    topics = list(role.topics.all())
    statuses = topic_statuses(user, [t.id for t in topics])
    lines = [TopicLine(t, statuses.get(t.id, "")) for t in topics]
    return RoleView(
        role=role,
        topics=lines,
        salaries=list(role.salary_bands.all()),
        done=sum(1 for line in lines if line.status == "done"),
        tracked=getattr(user, "is_authenticated", False),
    )


@dataclass
class RoleComparison:
    left: Role
    right: Role
    shared_topics: list[Topic] = field(default_factory=list)
    left_only: list[Topic] = field(default_factory=list)
    right_only: list[Topic] = field(default_factory=list)
    shared_skills: list[str] = field(default_factory=list)
    left_chart: SalaryChart | None = None
    right_chart: SalaryChart | None = None


def role_compare(left: str, right: str) -> RoleComparison:
    """Two roles side by side: which topics and skills they share and which are their own."""
    roles = {r.slug: r for r in role_list().filter(slug__in=[left, right])}
    for name, slug in (("a", left), ("b", right)):
        if slug not in roles:
            raise ApplicationError(f"No role {slug!r}: pick one from the list.", field=name)
    a, b = roles[left], roles[right]
    a_topics, b_topics = list(a.topics.all()), list(b.topics.all())
    b_ids, a_ids = {t.id for t in b_topics}, {t.id for t in a_topics}
    b_skills = {s.casefold() for s in b.skills}
    a_bands, b_bands = list(a.salary_bands.all()), list(b.salary_bands.all())
    # One scale for both sides, so the bars compare across the two roles.
    scale = salary_chart(a_bands + b_bands).scale
    return RoleComparison(
        left=a,
        right=b,
        shared_topics=[t for t in a_topics if t.id in b_ids],
        left_only=[t for t in a_topics if t.id not in b_ids],
        right_only=[t for t in b_topics if t.id not in a_ids],
        shared_skills=[s for s in a.skills if s.casefold() in b_skills],
        left_chart=salary_chart(a_bands, scale=scale),
        right_chart=salary_chart(b_bands, scale=scale),
    )


def salary_list(
    *, region: str | None = None, level: str | None = None, role: str | None = None
) -> QuerySet[SalaryBand]:
    """Salary bands, filtered. Values must already be valid (the API and form check them)."""
    qs = SalaryBand.objects.select_related("role")
    if region:
        qs = qs.filter(region=region)
    if level:
        qs = qs.filter(level=level)
    if role:
        qs = qs.filter(role__slug=role)
    return qs


def salary_filter_choices() -> dict[str, list[tuple[str, str]]]:
    """The choices a salary filter offers: regions and levels, and the roles that have bands."""
    roles = Role.objects.filter(salary_bands__isnull=False).distinct().order_by("title")
    return {
        "region": list(Region.choices),
        "level": list(Level.choices),
        "role": [(r.slug, r.title) for r in roles],
    }


@dataclass
class SalaryBar:
    """A band with its bars' proportions on the chart's shared scale (flex-grow weights)."""

    band: SalaryBand
    base: tuple[int, int, int] | None  # (before, range, after)
    total: tuple[int, int, int] | None
    share: tuple[int, int, int] | None  # for bands given as a share of the US figure


def _segments(low: int | None, high: int | None, scale: int) -> tuple[int, int, int] | None:
    if low is None or high is None or scale <= 0:
        return None
    # Whole thousandths of the scale: precise enough for a bar, and every weight is an int.
    before = round(1000 * low / scale)
    width = max(round(1000 * (high - low) / scale), 4)  # a point range still shows
    return before, width, max(1000 - before - width, 0)


@dataclass
class SalaryChart:
    bars: list[SalaryBar]
    scale: int  # the largest amount shown: the right end of every money bar
    has_share: bool  # some bands are a share of the US figure (their own 0-100% scale)


def salary_chart(bands: list[SalaryBand], *, scale: int | None = None) -> SalaryChart:
    """Bars for ``bands`` on one scale (by default the largest amount shown) so lengths compare."""
    if scale is None:
        scale = max((v for b in bands for v in (b.base_max, b.total_max) if v is not None), default=0)
    bars = [
        SalaryBar(
            band=b,
            base=_segments(b.base_min, b.base_max, scale),
            total=_segments(b.total_min, b.total_max, scale),
            share=_segments(b.pct_of_us_min, b.pct_of_us_max, 100),
        )
        for b in bands
    ]
    return SalaryChart(bars, scale, any(bar.share for bar in bars))


def job_ready_list() -> QuerySet[JobReadyEstimate]:
    return JobReadyEstimate.objects.all()


def job_ready_chart(estimates: list[JobReadyEstimate]) -> tuple[list[tuple[JobReadyEstimate, tuple]], int]:
    scale = max((e.months_max for e in estimates), default=0)
    return [(e, _segments(e.months_min, e.months_max, scale)) for e in estimates], scale


def guide_list_all() -> QuerySet[GuideList]:
    return GuideList.objects.prefetch_related(Prefetch("entries", queryset=GuideEntry.objects.order_by("position")))


def guide_get(slug: str) -> GuideList:
    try:
        return guide_list_all().get(slug=slug)
    except GuideList.DoesNotExist:
        raise Http404(f"No list {slug!r}") from None
