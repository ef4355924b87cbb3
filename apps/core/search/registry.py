"""Where search content comes from: each app registers a *source* per kind of document.

An app calls :func:`register_search_source` from its ``AppConfig.ready()``, so every
process (web, Celery worker, management command) knows the same sources. The index
(``SearchChunk``) is rebuilt from these sources; nothing else writes to it.

Example (``apps/curriculum/apps.py``)::

    def ready(self):
        from apps.core.search.registry import register_search_source
        from apps.curriculum import search as curriculum_search

        register_search_source("article", curriculum_search.article_documents, curriculum_search.article_document)
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchDocument:
    """One searchable thing, as its app describes it. The index chunks ``body``.

    ``kind``: "article" | "glossary" | "resource" | "topic" | "question" | ...
    ``key``: a stable id within the kind (a slug); (kind, key) names the document.
    ``url``: where a result links to. ``body``: markdown or plain text. ``summary``: one or
    two sentences shown under the title (markdown is reduced to plain text).
    ``heading_ids``: the ids the page at ``url`` gives the body's headings, in order, when
    it renders the body with ids; a result then links to the section it matched
    (``url#id``). ``None``: results link to ``url``.
    """

    kind: str
    key: str
    title: str
    url: str
    body: str
    summary: str = ""
    heading_ids: tuple[str, ...] | None = None


IterDocuments = Callable[[], Iterable[SearchDocument]]
GetDocument = Callable[[str], "SearchDocument | None"]


@dataclass(frozen=True)
class SearchSource:
    kind: str
    iter_documents: IterDocuments
    get_document: GetDocument
    label: str  # plural, for result groups and filters: "Articles"


# Labels for the kinds the platform ships; a source may pass its own.
DEFAULT_LABELS = {
    "article": "Articles",
    "glossary": "Glossary",
    "resource": "Resources",
    "topic": "Roadmap topics",
    "question": "Interview questions",
}

_sources: dict[str, SearchSource] = {}
_lock = threading.Lock()
_extra_modules_loaded = False


def register_search_source(
    kind: str,
    iter_documents: IterDocuments,
    get_document: GetDocument,
    *,
    label: str | None = None,
) -> None:
    """Make documents of ``kind`` searchable.

    ``iter_documents()`` yields every document that should be in the index (published
    content only); ``get_document(key)`` returns one, or ``None`` when it no longer exists
    or should not be found (unpublished) - the index then drops it. Registering a kind
    again replaces the earlier source (so ``ready()`` running twice is harmless).
    """
    if not kind or not kind.replace("_", "").replace("-", "").isalnum() or len(kind) > 32:
        raise ValueError(f"search kind must be a short slug, got {kind!r}")
    source = SearchSource(kind, iter_documents, get_document, label or DEFAULT_LABELS.get(kind, kind.title()))
    with _lock:
        _sources[kind] = source


def unregister_search_source(kind: str) -> None:
    """Forget a source (tests). Its chunks stay until the next reindex of that kind."""
    with _lock:
        _sources.pop(kind, None)


def search_sources() -> dict[str, SearchSource]:
    """All registered sources by kind (a copy)."""
    _load_extra_modules()
    with _lock:
        return dict(_sources)


def search_source(kind: str) -> SearchSource | None:
    return search_sources().get(kind)


def _load_extra_modules() -> None:
    """Import the modules named in ``SEARCH_SOURCE_MODULES`` once; they register on import.

    The apps register from ``ready()``; this hook is for sources that live outside an
    installed app (plugins, and the tests' own source, which a real Celery worker started
    by the tests must see too - it inherits the variable through its environment).
    """
    global _extra_modules_loaded
    if _extra_modules_loaded:
        return
    names = getattr(settings, "SEARCH_SOURCE_MODULES", None)
    if names is None:
        names = [n.strip() for n in os.environ.get("SEARCH_SOURCE_MODULES", "").split(",") if n.strip()]
    _extra_modules_loaded = True
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            logger.exception("search source module %s could not be imported", name)
