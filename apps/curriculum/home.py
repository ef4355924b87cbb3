"""Home panels (apps/core/home.py): a learner's place on the roadmap, an author's desk."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.core import roles
from apps.core.home import HomePanel, register_home_panel
from apps.curriculum.models import Article, ArticleRevision, Topic, TopicProgress
from apps.curriculum.selectors import roadmap_get, user_is_author

FINISHED = {TopicProgress.Status.DONE, TopicProgress.Status.SKIPPED}


def roadmap_panel(request: HttpRequest) -> dict[str, Any] | None:
    """Where the learner is: the phase to continue, its next topic, and what to read."""
    user = request.user
    if not roles.user_has_role(user, roles.LEARNER):
        return None
    roadmap = roadmap_get(user)
    current = roadmap.current
    next_node = None
    if current is not None:
        nodes = current.nodes + [node for lane in current.lanes for node in lane.nodes]
        # In progress first (what they were doing), then the first not started, in order.
        next_node = next((n for n in nodes if n.status == TopicProgress.Status.IN_PROGRESS), None) or next(
            (n for n in nodes if n.status not in FINISHED), None
        )
    reading = None
    if next_node is not None:
        reading = (
            Topic.objects.filter(pk=next_node.topic.pk, article__status=Article.Status.PUBLISHED)
            .exclude(article__reads__user=user)
            .values("article__slug", "article__title")
            .first()
        )
    return {"roadmap": roadmap, "current": current, "next": next_node, "reading": reading}


def author_panel(request: HttpRequest) -> dict[str, Any] | None:
    """An author's desk: drafts waiting, the latest edits, and gaps in the content."""
    if not user_is_author(request.user):
        return None
    drafts = list(Article.objects.filter(status=Article.Status.DRAFT).order_by("-updated_at")[:5])
    draft_count = Article.objects.filter(status=Article.Status.DRAFT).count()
    edits = list(ArticleRevision.objects.select_related("article", "author").order_by("-created_at")[:5])
    no_article = Topic.objects.filter(article__isnull=True).select_related("phase").order_by("phase__number", "order")
    return {
        "drafts": drafts,
        "draft_count": draft_count,
        "edits": edits,
        "topics_without_article": list(no_article[:5]),
        "topics_without_article_count": no_article.count(),
    }


def register() -> None:
    register_home_panel(HomePanel("roadmap", "curriculum/home/roadmap.html", roadmap_panel, order=10, wide=True))
    register_home_panel(HomePanel("author", "curriculum/home/author.html", author_panel, order=60, wide=True))
