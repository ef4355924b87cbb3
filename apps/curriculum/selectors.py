"""Reads for the curriculum: the roadmap with a learner's progress, pages, lists.

Every list here is built with a fixed number of queries (prefetches and one query per kind
of progress), whatever the size of the curriculum - tests assert the counts.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import CharField, Prefetch, Q, QuerySet, Value
from django.http import Http404

from apps.core import roles
from apps.core.content_cache import FRAGMENT_TTL, content_generation
from apps.curriculum.mastery import topic_mastery
from apps.curriculum.models import (
    SUB_TRACK_LETTERS,
    Article,
    ArticleRead,
    ArticleRevision,
    ChecklistItem,
    ChecklistTick,
    GlossaryTerm,
    MilestoneProject,
    Phase,
    Resource,
    Section,
    SubTrack,
    Topic,
    TopicProgress,
)

NOT_STARTED = TopicProgress.Status.NOT_STARTED


def user_is_author(user: Any) -> bool:
    """Authors (and superusers) may see drafts and use the author area."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or (roles.user_has_role(user, roles.AUTHOR) and user.has_perm("curriculum.change_article"))


# --- Progress --------------------------------------------------------------------------


def topic_statuses(user: Any, topic_ids: list[int] | None = None) -> dict[int, str]:
    """{topic id: status} for the user (one query); topics without a row are not started."""
    if not getattr(user, "is_authenticated", False):
        return {}
    qs = TopicProgress.objects.filter(user=user)
    if topic_ids is not None:
        qs = qs.filter(topic_id__in=topic_ids)
    return dict(qs.values_list("topic_id", "status"))


def topic_status(user: Any, topic: Topic) -> str:
    return topic_statuses(user, [topic.id]).get(topic.id, NOT_STARTED)


@dataclass(frozen=True)
class Progress:
    """What a visitor has done, as the roadmap and phase pages draw it."""

    tracked: bool  # False for anonymous visitors
    statuses: dict[int, str] = field(default_factory=dict)  # topic id -> status
    ticked: frozenset[int] = frozenset()  # checklist item ids
    mastery: dict[int, int] = field(default_factory=dict)  # topic id -> quiz mastery 0-100

    @property
    def digest(self) -> str:
        """Equal for equal progress: the cache key part of a page drawn from it."""
        if not self.tracked:
            return "anonymous"
        text = ",".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        text += "|" + ",".join(map(str, sorted(self.ticked)))
        text += "|" + ",".join(f"{k}:{v}" for k, v in sorted(self.mastery.items()))
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def progress_overlay(user: Any) -> Progress:
    """The user's topic statuses and checklist ticks in one query (UNION ALL), and their
    topic mastery from the registered sources (``apps.curriculum.mastery``: one query for the quiz)."""
    if not getattr(user, "is_authenticated", False):
        return Progress(tracked=False)
    kind = Value("t", output_field=CharField())
    topics = TopicProgress.objects.filter(user=user).values_list(kind, "topic_id", "status")
    ticks = ChecklistTick.objects.filter(user=user).values_list(
        Value("c", output_field=CharField()), "item_id", Value("", output_field=CharField())
    )
    statuses: dict[int, str] = {}
    ticked: set[int] = set()
    for row_kind, row_id, status in topics.union(ticks, all=True):
        if row_kind == "t":
            statuses[row_id] = status
        else:
            ticked.add(row_id)
    return Progress(True, statuses, frozenset(ticked), topic_mastery(user))


def read_article_ids(user: Any) -> set[int]:
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(ArticleRead.objects.filter(user=user).values_list("article_id", flat=True))


# --- Roadmap ---------------------------------------------------------------------------


@dataclass
class TopicNode:
    topic: Topic
    status: str
    mastery: int | None = None  # quiz mastery 0-100, once practised

    @property
    def css(self) -> str:
        return self.status.replace("_", "-")

    @property
    def label(self) -> str:
        return TopicProgress.Status(self.status).label


@dataclass
class Lane:
    key: str
    letter: str
    label: str
    nodes: list[TopicNode]


@dataclass
class Counts:
    total: int = 0
    done: int = 0
    in_progress: int = 0
    skipped: int = 0

    def add(self, status: str) -> None:
        self.total += 1
        if status == TopicProgress.Status.DONE:
            self.done += 1
        elif status == TopicProgress.Status.IN_PROGRESS:
            self.in_progress += 1
        elif status == TopicProgress.Status.SKIPPED:
            self.skipped += 1

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    @property
    def started_percent(self) -> int:
        """Done plus in progress: the amber arc drawn under the green one."""
        return round(100 * (self.done + self.in_progress) / self.total) if self.total else 0


@dataclass
class PhaseView:
    phase: Phase
    nodes: list[TopicNode]  # topics outside any sub-track, in order
    lanes: list[Lane]  # phase 4's sub-tracks side by side (and phase 5's llmops, if mixed)
    milestones: list[MilestoneProject]
    checklist: list[tuple[ChecklistItem, bool]]
    counts: Counts = field(default_factory=Counts)

    @property
    def weeks(self) -> int:
        return self.phase.week_end - self.phase.week_start + 1

    @property
    def checklist_done(self) -> int:
        return sum(1 for _, ticked in self.checklist if ticked)

    @property
    def state(self) -> str:
        if self.counts.total and self.counts.done + self.counts.skipped == self.counts.total:
            return "complete"
        if self.counts.done or self.counts.in_progress:
            return "active"
        return "upcoming"


@dataclass
class Roadmap:
    phases: list[PhaseView]
    counts: Counts
    tracked: bool  # False for anonymous visitors

    @property
    def weeks(self) -> int:
        return max((p.phase.week_end for p in self.phases), default=0)

    @property
    def current(self) -> PhaseView | None:
        """The phase to continue with: the first one that is not complete."""
        return next((p for p in self.phases if p.state != "complete"), None)


def _phase_view(
    phase: Phase, statuses: dict[int, str], ticked: set[int], mastery: dict[int, int] | None = None
) -> PhaseView:
    nodes: list[TopicNode] = []
    by_lane: dict[str, list[TopicNode]] = defaultdict(list)
    counts = Counts()
    mastery = mastery or {}
    for topic in phase.topics.all():
        node = TopicNode(topic, statuses.get(topic.id, NOT_STARTED), mastery.get(topic.id))
        counts.add(node.status)
        if topic.sub_track in SUB_TRACK_LETTERS:
            by_lane[topic.sub_track].append(node)
        else:
            nodes.append(node)
    lanes = [
        Lane(key, SUB_TRACK_LETTERS[key], SubTrack(key).label, by_lane[key])
        for key in SUB_TRACK_LETTERS
        if by_lane.get(key)
    ]
    checklist = [(item, item.id in ticked) for item in phase.checklist_items.all()]
    return PhaseView(phase, nodes, lanes, list(phase.milestones.all()), checklist, counts)


def _phases_with_content() -> QuerySet[Phase]:
    return Phase.objects.prefetch_related(
        Prefetch(
            "topics",
            queryset=Topic.objects.order_by("order").only("id", "slug", "title", "sub_track", "order", "phase_id"),
        ),
        Prefetch("milestones", queryset=MilestoneProject.objects.order_by("order")),
        Prefetch("checklist_items", queryset=ChecklistItem.objects.order_by("order")),
    ).order_by("number")


def roadmap_structure() -> list[Phase]:
    """Every phase with its topics, milestones and checklist, as ``_phases_with_content``
    reads them: cached per content generation (the same for every visitor)."""
    key = f"curriculum:structure:{content_generation()}"
    phases = cache.get(key)
    if phases is None:
        phases = list(_phases_with_content())
        cache.set(key, phases, FRAGMENT_TTL)
    return phases


def roadmap_get(user: Any, progress: Progress | None = None) -> Roadmap:
    """All phases with topics, lanes, milestones, checklists and the user's progress
    (the structure from the cache; one query for the progress unless given)."""
    progress = progress or progress_overlay(user)
    phases = [
        _phase_view(phase, progress.statuses, progress.ticked, progress.mastery) for phase in roadmap_structure()
    ]
    counts = Counts()
    for view in phases:
        for attr in ("total", "done", "in_progress", "skipped"):
            setattr(counts, attr, getattr(counts, attr) + getattr(view.counts, attr))
    return Roadmap(phases, counts, tracked=progress.tracked)


def phase_get(slug: str) -> Phase:
    phase = next((p for p in roadmap_structure() if p.slug == slug), None)
    if phase is None:
        raise Http404(f"No phase {slug!r}")
    return phase


def phase_view_get(slug: str, user: Any, progress: Progress | None = None) -> PhaseView:
    progress = progress or progress_overlay(user)
    return _phase_view(phase_get(slug), progress.statuses, progress.ticked, progress.mastery)


def phase_neighbors(phase: Phase) -> tuple[Phase | None, Phase | None]:
    phases = roadmap_structure()  # ordered by number
    index = next(i for i, p in enumerate(phases) if p.pk == phase.pk)
    return (phases[index - 1] if index else None), (phases[index + 1] if index + 1 < len(phases) else None)


def phase_list() -> QuerySet[Phase]:
    return _phases_with_content()


# --- Topics --------------------------------------------------------------------------


TOPIC_ROW_FIELDS = (
    "id", "slug", "title", "phase__slug", "phase__number", "sub_track", "summary", "tools", "order", "article__slug",
)  # fmt: skip


def topic_rows(*, phase: str | None = None, sub_track: str | None = None) -> QuerySet[dict]:
    """Topics as plain rows (``values()``), for lists that do not need model instances.

    Prerequisites come from ``topic_prerequisite_slugs`` for the page's rows: an ArrayAgg
    here made the query (and the paginator's count over it) 3x slower.
    """
    qs = Topic.objects.order_by("phase__number", "order").values(*TOPIC_ROW_FIELDS)
    if phase:
        qs = qs.filter(phase__slug=phase)
    if sub_track is not None:
        qs = qs.filter(sub_track=sub_track)
    return qs


def topic_prerequisite_slugs() -> dict[int, list[str]]:
    """{topic id: its prerequisites' slugs in roadmap order}, for every topic.

    Cached per content generation: the join and sort cost more than the topics' own query.
    """
    key = f"curriculum:prerequisites:{content_generation()}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    rows = Topic.prerequisites.through.objects.order_by("to_topic__phase__number", "to_topic__order").values_list(
        "from_topic_id", "to_topic__slug"
    )
    out: dict[int, list[str]] = defaultdict(list)
    for topic_id, slug in rows:
        out[topic_id].append(slug)
    cache.set(key, dict(out), FRAGMENT_TTL)
    return dict(out)


def topic_head(slug: str) -> Topic:
    """Just a topic's id, slug and title (one small query), or 404: what a cached page needs."""
    try:
        return Topic.objects.only("id", "slug", "title").get(slug=slug)
    except Topic.DoesNotExist:
        raise Http404(f"No topic {slug!r}") from None


def audience(user: Any) -> str:
    """"author" for those who also see drafts, else "reader": a cache key part."""
    return "author" if roles.user_has_role(user, roles.AUTHOR) and user_is_author(user) else "reader"


def topic_get(slug: str, user: Any = None) -> Topic:
    """A topic with what its page shows; only published articles are attached for readers."""
    visible = article_visible_q(user)
    qs = Topic.objects.select_related("phase", "article").prefetch_related(
        Prefetch("prerequisites", queryset=Topic.objects.select_related("phase").order_by("phase__number", "order")),
        Prefetch("unlocks", queryset=Topic.objects.select_related("phase").order_by("phase__number", "order")),
        Prefetch("articles", queryset=Article.objects.filter(visible).order_by("section", "order")),
        Prefetch("resources", queryset=Resource.objects.order_by("title")),
    )
    try:
        return qs.get(slug=slug)
    except Topic.DoesNotExist:
        raise Http404(f"No topic {slug!r}") from None


# --- Articles ------------------------------------------------------------------------


def article_visible_q(user: Any) -> Q:
    """Readers see published articles; authors also see drafts."""
    if user_is_author(user):
        return Q()
    return Q(status=Article.Status.PUBLISHED)


def article_list(user: Any = None, *, section: str | None = None, status: str | None = None) -> QuerySet[Article]:
    qs = Article.objects.filter(article_visible_q(user)).order_by("section", "order", "title")
    if section:
        qs = qs.filter(section=section)
    if status:
        qs = qs.filter(status=status)
    return qs


def articles_by_section(user: Any = None) -> list[tuple[str, str, list[Article]]]:
    """[(section slug, section label, articles)] in the guide's order, empty sections left out."""
    grouped: dict[str, list[Article]] = defaultdict(list)
    for article in article_list(user).only("slug", "title", "summary", "section", "order", "status"):
        grouped[article.section].append(article)
    return [(value, label, grouped[value]) for value, label in Section.choices if grouped.get(value)]


def article_head(slug: str, user: Any = None) -> Article:
    """Just an article's id, slug, title and status, if the user may read it (else 404):
    what a cached page needs."""
    try:
        return Article.objects.filter(article_visible_q(user)).only("id", "slug", "title", "status").get(slug=slug)
    except Article.DoesNotExist:
        raise Http404(f"No article {slug!r}") from None


def article_get(slug: str, user: Any = None) -> Article:
    """An article the user may read; drafts are 404 for everyone but authors."""
    try:
        return Article.objects.filter(article_visible_q(user)).select_related("updated_by").get(slug=slug)
    except Article.DoesNotExist:
        raise Http404(f"No article {slug!r}") from None


def article_get_for_author(slug: str) -> Article:
    try:
        return Article.objects.select_related("updated_by").get(slug=slug)
    except Article.DoesNotExist:
        raise Http404(f"No article {slug!r}") from None


def article_neighbors(article: Article, user: Any = None) -> tuple[Article | None, Article | None]:
    """Previous and next article in the same section, in reading order."""
    siblings = list(article_list(user, section=article.section).only("slug", "title", "order"))
    index = next((i for i, a in enumerate(siblings) if a.pk == article.pk), None)
    if index is None:
        return None, None
    previous = siblings[index - 1] if index > 0 else None
    following = siblings[index + 1] if index + 1 < len(siblings) else None
    return previous, following


def article_revisions(article: Article) -> QuerySet[ArticleRevision]:
    return article.revisions.select_related("author").order_by("-version")


def article_revision_get(article: Article, version: int) -> ArticleRevision:
    try:
        return article.revisions.select_related("author").get(version=version)
    except ArticleRevision.DoesNotExist:
        raise Http404(f"No version {version} of {article.slug!r}") from None


def article_is_read(user: Any, article: Article) -> bool:
    return getattr(user, "is_authenticated", False) and ArticleRead.objects.filter(user=user, article=article).exists()


# --- Glossary and resources ------------------------------------------------------------


def glossary_list() -> QuerySet[GlossaryTerm]:
    return GlossaryTerm.objects.order_by("term")


def glossary_by_letter() -> list[tuple[str, list[GlossaryTerm]]]:
    """[(letter, terms)] A-Z; terms starting with a digit or symbol go under '#'."""
    grouped: dict[str, list[GlossaryTerm]] = defaultdict(list)
    for term in glossary_list():
        first = term.term[:1].upper()
        grouped[first if first.isalpha() and first.isascii() else "#"].append(term)
    for terms in grouped.values():
        terms.sort(key=lambda t: t.term.casefold())
    return sorted(grouped.items(), key=lambda kv: (kv[0] == "#", kv[0]))


def glossary_term_get(slug: str) -> GlossaryTerm:
    try:
        return GlossaryTerm.objects.get(slug=slug)
    except GlossaryTerm.DoesNotExist:
        raise Http404(f"No glossary term {slug!r}") from None


def resource_list(*, kind: str | None = None, cost: str | None = None, topic: str | None = None) -> QuerySet[Resource]:
    qs = Resource.objects.prefetch_related(Prefetch("topics", queryset=Topic.objects.only("id", "slug", "title")))
    if kind:
        qs = qs.filter(kind=kind)
    if cost:
        qs = qs.filter(cost=cost)
    if topic:
        qs = qs.filter(topics__slug=topic)
    return qs.order_by("title")


def resource_get(slug: str) -> Resource:
    try:
        return Resource.objects.prefetch_related("topics").get(slug=slug)
    except Resource.DoesNotExist:
        raise Http404(f"No resource {slug!r}") from None


def checklist_item_get(slug: str) -> ChecklistItem:
    try:
        return ChecklistItem.objects.select_related("phase").get(slug=slug)
    except ChecklistItem.DoesNotExist:
        raise Http404(f"No checklist item {slug!r}") from None


def progress_get(user: Any) -> dict[str, Any]:
    """The user's own progress: topic statuses, ticked items, articles done, per-phase counts."""
    roadmap = roadmap_get(user)
    topics = dict(
        TopicProgress.objects.filter(user=user).exclude(status=NOT_STARTED).values_list("topic__slug", "status")
    )
    ticks = list(ChecklistTick.objects.filter(user=user).values_list("item__slug", flat=True).order_by("item__slug"))
    articles = list(
        ArticleRead.objects.filter(user=user).values_list("article__slug", flat=True).order_by("article__slug")
    )
    phases = [
        {
            "slug": view.phase.slug,
            "number": view.phase.number,
            "total": view.counts.total,
            "done": view.counts.done,
            "in_progress": view.counts.in_progress,
            "skipped": view.counts.skipped,
            "checklist_total": len(view.checklist),
            "checklist_done": view.checklist_done,
        }
        for view in roadmap.phases
    ]
    return {"topics": topics, "checklist": ticks, "articles_done": articles, "phases": phases}
