"""Writes for the curriculum: progress, and authoring articles (with revisions and the
edit-conflict guard). The pages, the API and the admin all call these.

Authoring services check the caller's permission themselves, so no entry point can forget.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format

from apps.core.errors import ApplicationError, PermissionDenied
from apps.core.search import services as search_services
from apps.core.validation import check_integer, check_length, reject_nul
from apps.curriculum import selectors
from apps.curriculum.markdown import UnrenderableBody, check_renderable
from apps.curriculum.models import (
    Article,
    ArticleRead,
    ArticleRevision,
    ChecklistItem,
    ChecklistTick,
    Section,
    Topic,
    TopicProgress,
    slug_validator,
)


class ArticleEditConflict(ApplicationError):
    """The article was saved by someone else after the editor loaded it."""

    status_code = 409


# --- Permissions -----------------------------------------------------------------------


def article_can_change(user: Any, article: Article | None = None) -> bool:
    """The author role plus the model permission; ``article`` is where an object rule goes.

    Every author may edit every article (the conflict guard is what makes that safe), so
    the object itself does not narrow it today; ``article=None`` asks about creating one.
    """
    perm = "curriculum.change_article" if article is not None else "curriculum.add_article"
    return selectors.user_is_author(user) and user.has_perm(perm)


def article_can_publish(user: Any, article: Article) -> bool:
    return article_can_change(user, article) and user.has_perm("curriculum.publish_article")


def _require(allowed: bool, action: str) -> None:
    if not allowed:
        raise PermissionDenied(f"Only authors can {action}.")


# --- Progress ------------------------------------------------------------------------


def topic_progress_set(user: Any, topic: Topic, status: str) -> TopicProgress:
    """Record where the learner is with a topic (not started, in progress, done, skipped)."""
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied("Log in to track progress.")
    if status not in TopicProgress.Status.values:
        allowed = ", ".join(TopicProgress.Status.values)
        raise ApplicationError(f"Unknown status {status!r}; use one of {allowed}.", field="status")
    progress, _ = TopicProgress.objects.update_or_create(user=user, topic=topic, defaults={"status": status})
    return progress


def checklist_item_tick(user: Any, item: ChecklistItem) -> ChecklistTick:
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied("Log in to track progress.")
    try:
        with transaction.atomic():
            tick, _ = ChecklistTick.objects.get_or_create(user=user, item=item)
    except IntegrityError:  # a double click raced us to it: the item is ticked either way
        tick = ChecklistTick.objects.get(user=user, item=item)
    return tick


def checklist_item_untick(user: Any, item: ChecklistItem) -> None:
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied("Log in to track progress.")
    ChecklistTick.objects.filter(user=user, item=item).delete()


def checklist_item_toggle(user: Any, item: ChecklistItem) -> bool:
    """Tick the item if it is not ticked, untick it otherwise; return whether it is ticked now."""
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied("Log in to track progress.")
    if ChecklistTick.objects.filter(user=user, item=item).exists():
        checklist_item_untick(user, item)
        return False
    checklist_item_tick(user, item)
    return True


def article_read_set(user: Any, article: Article, done: bool) -> bool:
    """Mark an article as done (or not); return the new state."""
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied("Log in to track progress.")
    if done:
        ArticleRead.objects.get_or_create(user=user, article=article)
    else:
        ArticleRead.objects.filter(user=user, article=article).delete()
    return done


# --- Authoring -----------------------------------------------------------------------


def _schedule_search(article: Article) -> None:
    # get_document() answers None for drafts, so unpublishing removes it from the index.
    search_services.search_index_schedule("article", [article.slug])


# Lists and search show the summary whole: a few sentences, not a second article.
MAX_SUMMARY_CHARS = 2000


def _check_fields(*, title: str, summary: str, body: str, section: str, order: int) -> None:
    """What every entry point gets refused with (API, pages, admin): a 400 naming the field."""
    if not title.strip():
        raise ApplicationError("Give the article a title.", field="title")
    check_length(Article, "title", title)
    if not summary.strip():
        raise ApplicationError("Write a one or two sentence summary; lists and search show it.", field="summary")
    reject_nul(summary, "summary")
    if len(summary) > MAX_SUMMARY_CHARS:
        raise ApplicationError(f"Keep the summary under {MAX_SUMMARY_CHARS:,} characters.", field="summary")
    if not body.strip():
        raise ApplicationError("The article has no text yet.", field="body")
    reject_nul(body, "body")
    if section not in Section.values:
        raise ApplicationError(f"Unknown section {section!r}.", field="section")
    check_integer(Article, "order", order)


def _check_body_renders(body: str) -> None:
    """Refuse, at save, a body that could not be shown in full on every later view."""
    try:
        check_renderable(body)
    except UnrenderableBody as exc:
        raise ApplicationError(str(exc), field="body") from None


def article_body_warnings(body: str) -> list[str]:
    """What the author should know about a saved body (e.g. raw HTML shown as text).

    Cheap after a save: the save rendered it and the render is cached.
    """
    try:
        return check_renderable(body)
    except UnrenderableBody as exc:
        return [str(exc)]


def _revision(article: Article, user: Any, note: str) -> ArticleRevision:
    return ArticleRevision.objects.create(
        article=article,
        version=article.version,
        title=article.title,
        summary=article.summary,
        body=article.body,
        author=user if getattr(user, "is_authenticated", False) else None,
        note=note[:200],
    )


@transaction.atomic
def article_create(
    *,
    user: Any,
    slug: str,
    title: str,
    section: str,
    summary: str,
    body: str,
    order: int = 0,
    topics: Iterable[Topic] = (),
    note: str = "",
) -> Article:
    """Create a draft article at version 1 with its first revision."""
    _require(article_can_change(user), "create articles")
    try:
        slug_validator(slug)
    except Exception:
        raise ApplicationError("Use lowercase letters, digits and single hyphens for the slug.", field="slug") from None
    check_length(Article, "slug", slug)
    _check_fields(title=title, summary=summary, body=body, section=section, order=order)
    reject_nul(note, "note")
    _check_body_renders(body)
    if Article.objects.filter(slug=slug).exists():
        raise ApplicationError(f"An article with the slug {slug!r} already exists.", field="slug")
    article = Article.objects.create(
        slug=slug,
        title=title.strip(),
        section=section,
        summary=summary.strip(),
        body=body,
        order=order,
        status=Article.Status.DRAFT,
        version=1,
        updated_by=user,
    )
    article.topics.set(list(topics))
    _revision(article, user, note or "created")
    return article


def _conflict(current: Article) -> ArticleEditConflict:
    who = str(current.updated_by) if current.updated_by else "the content loader"
    when = date_format(timezone.localtime(current.updated_at), "DATETIME_FORMAT")
    return ArticleEditConflict(
        f"Someone else saved this article while you were editing (version {current.version} by {who} at {when}). "
        "Your text is below - copy it, reload, and merge.",
        field="expected_version",
        extra={
            "current_version": current.version,
            "updated_by": who,
            "updated_at": current.updated_at.isoformat(),
        },
    )


@transaction.atomic
def article_update(
    article: Article,
    *,
    user: Any,
    expected_version: int,
    title: str | None = None,
    summary: str | None = None,
    body: str | None = None,
    section: str | None = None,
    order: int | None = None,
    topics: Iterable[Topic] | None = None,
    note: str = "",
) -> Article:
    """Save an edit made from ``expected_version``; refuse it if someone saved since.

    The row is locked while we compare, so two saves from the same version cannot both
    pass. Nothing changed = nothing written (no empty revision).
    """
    _require(article_can_change(user, article), "edit articles")
    current = Article.objects.select_for_update(of=("self",)).select_related("updated_by").get(pk=article.pk)
    if current.version != expected_version:
        raise _conflict(current)
    new = {
        "title": current.title if title is None else title.strip(),
        "summary": current.summary if summary is None else summary.strip(),
        "body": current.body if body is None else body,
        "section": current.section if section is None else section,
        "order": current.order if order is None else order,
    }
    _check_fields(**new)
    reject_nul(note, "note")
    if new["body"] != current.body:
        # Only a changed body: one stored before these checks stays editable.
        _check_body_renders(new["body"])
    topic_ids = None if topics is None else sorted(t.pk for t in topics)
    same_topics = topic_ids is None or topic_ids == sorted(current.topics.values_list("pk", flat=True))
    if same_topics and all(getattr(current, k) == v for k, v in new.items()):
        return current
    for key, value in new.items():
        setattr(current, key, value)
    current.version += 1
    current.updated_by = user
    current.save()
    if topic_ids is not None:
        current.topics.set(topic_ids)
    _revision(current, user, note or "edited")
    _schedule_search(current)
    return current


@transaction.atomic
def article_publish(article: Article, *, user: Any) -> Article:
    _require(article_can_publish(user, article), "publish articles")
    current = Article.objects.select_for_update().get(pk=article.pk)
    if current.status != Article.Status.PUBLISHED:
        current.status = Article.Status.PUBLISHED
        current.published_at = current.published_at or timezone.now()
        current.updated_by = user
        current.save(update_fields=["status", "published_at", "updated_by", "updated_at"])
        _schedule_search(current)
    return current


@transaction.atomic
def article_unpublish(article: Article, *, user: Any) -> Article:
    """Back to draft: readers get a 404 and search drops it; the text is untouched."""
    _require(article_can_publish(user, article), "unpublish articles")
    current = Article.objects.select_for_update().get(pk=article.pk)
    if current.status != Article.Status.DRAFT:
        current.status = Article.Status.DRAFT
        current.updated_by = user
        current.save(update_fields=["status", "updated_by", "updated_at"])
        _schedule_search(current)
    return current


@transaction.atomic
def article_revision_restore(
    article: Article, *, revision: ArticleRevision, user: Any, expected_version: int | None = None
) -> Article:
    """Make an old revision's text current again, as a new version (history only grows)."""
    if revision.article_id != article.pk:
        raise ApplicationError("That revision belongs to another article.", field="revision")
    if expected_version is None:
        expected_version = Article.objects.values_list("version", flat=True).get(pk=article.pk)
    return article_update(
        article,
        user=user,
        expected_version=expected_version,
        title=revision.title,
        summary=revision.summary,
        body=revision.body,
        note=f"restored version {revision.version}",
    )
