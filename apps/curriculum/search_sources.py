"""What the curriculum makes searchable (registered in ``CurriculumConfig.ready``).

The search app reads documents back through these functions when it (re)indexes, so they
describe committed content only. ``get_*`` returns None for anything a reader may not see
(a draft article, a deleted row): the index then drops it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from apps.core.search.registry import SearchDocument
from apps.curriculum.markdown import render_markdown
from apps.curriculum.models import Article, GlossaryTerm, Resource, Topic

_HEADING_ID = re.compile(r'<h[1-6] id="([^"]*)"')


def _heading_ids(body: str) -> tuple[str, ...]:
    """The ids of the body's headings as the article page renders them (same renderer, same
    cache), so a search result can link to the section it matched."""
    return tuple(html.unescape(found) for found in _HEADING_ID.findall(render_markdown(body, link_terms=False).html))


def _article_document(article: Article) -> SearchDocument:
    return SearchDocument(
        kind="article",
        key=article.slug,
        title=article.title,
        url=article.get_absolute_url(),
        body=article.body,
        summary=article.summary,
        heading_ids=_heading_ids(article.body),
    )


def article_documents() -> Iterator[SearchDocument]:
    for article in Article.objects.filter(status=Article.Status.PUBLISHED).order_by("pk").iterator():
        yield _article_document(article)


def article_document(key: str) -> SearchDocument | None:
    article = Article.objects.filter(slug=key, status=Article.Status.PUBLISHED).first()
    return _article_document(article) if article else None


def _topic_document(topic: Topic) -> SearchDocument:
    phase = topic.phase
    lines = [topic.summary.strip(), f"Phase {phase.number}: {phase.title} (weeks {phase.week_start}-{phase.week_end})."]
    if topic.sub_track:
        lines.append(f"Sub-track: {topic.get_sub_track_display()}.")
    if topic.tools:
        lines.append("Tools: " + ", ".join(topic.tools) + ".")
    first_sentence = topic.summary.strip().split(". ")[0].rstrip(".") + "."
    return SearchDocument(
        kind="topic",
        key=topic.slug,
        title=topic.title,
        url=topic.get_absolute_url(),
        body="\n\n".join(lines),
        summary=first_sentence,
    )


def topic_documents() -> Iterator[SearchDocument]:
    for topic in Topic.objects.select_related("phase").order_by("pk").iterator(chunk_size=500):
        yield _topic_document(topic)


def topic_document(key: str) -> SearchDocument | None:
    topic = Topic.objects.select_related("phase").filter(slug=key).first()
    return _topic_document(topic) if topic else None


def _glossary_document(term: GlossaryTerm) -> SearchDocument:
    also = f"Also called: {', '.join(term.aliases)}.\n\n" if term.aliases else ""
    return SearchDocument(
        kind="glossary",
        key=term.slug,
        title=term.term,
        url=term.get_absolute_url(),
        body=f"{term.short}\n\n{also}{term.long}".strip(),
        summary=term.short,
    )


def glossary_documents() -> Iterator[SearchDocument]:
    for term in GlossaryTerm.objects.order_by("pk").iterator():
        yield _glossary_document(term)


def glossary_document(key: str) -> SearchDocument | None:
    term = GlossaryTerm.objects.filter(slug=key).first()
    return _glossary_document(term) if term else None


def _resource_document(resource: Resource) -> SearchDocument:
    byline = ", ".join(str(p) for p in (resource.author, resource.year) if p)
    meta = f"{resource.get_kind_display()} ({resource.get_cost_display().lower()})" + (
        f" by {byline}" if byline else ""
    )
    return SearchDocument(
        kind="resource",
        key=resource.slug,
        title=resource.title,
        url=resource.get_absolute_url(),
        body=f"{meta}.\n\n{resource.description}".strip(),
        summary=resource.description or meta,
    )


def resource_documents() -> Iterator[SearchDocument]:
    for resource in Resource.objects.order_by("pk").iterator():
        yield _resource_document(resource)


def resource_document(key: str) -> SearchDocument | None:
    resource = Resource.objects.filter(slug=key).first()
    return _resource_document(resource) if resource else None


def register() -> None:
    from apps.core.search.registry import register_search_source

    register_search_source("article", article_documents, article_document)
    register_search_source("topic", topic_documents, topic_document)
    register_search_source("glossary", glossary_documents, glossary_document)
    register_search_source("resource", resource_documents, resource_document)
