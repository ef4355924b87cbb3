"""Writes to the search index. The only code that inserts or deletes ``SearchChunk`` rows.

Apps never touch the index directly: they register a source (``registry``) and call
:func:`search_index_schedule` after saving content. A Celery task then calls
:func:`search_index_update`, which reads the documents back through the source, so a task
always indexes what is committed, however late it runs or however often it is delivered.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from urllib.parse import quote

from django.conf import settings
from django.db import connection, transaction

from apps.core.embeddings import embed_texts
from apps.core.errors import ApplicationError
from apps.core.search.chunking import chunk_document, clean_text, markdown_to_plain
from apps.core.search.models import SearchCard, SearchChunk
from apps.core.search.registry import SearchDocument, SearchSource, search_source, search_sources
from apps.core.search.selectors import SEARCH_INDEX

logger = logging.getLogger(__name__)

BATCH_DOCUMENTS = 200  # documents per transaction (and per embedding call) in a full reindex
SCHEDULE_MAX_KEYS = 500  # keys per task, so one huge edit does not make one huge task
_LOCK_NAMESPACE = 0x5EA7C4  # first half of the two-int advisory lock key; the second is hashtext(kind)

_max_len = {f.name: f.max_length for f in SearchChunk._meta.fields if getattr(f, "max_length", None)}


@dataclass
class IndexStats:
    kind: str
    documents: int = 0  # documents (re)written
    chunks: int = 0  # chunks written for them
    embedded: int = 0  # chunks that needed a new vector (the rest kept theirs)
    removed: int = 0  # documents dropped from the index
    seconds: float = 0.0


def search_index_schedule(kind: str, keys: Iterable[str] | None = None) -> None:
    """Re-index documents of ``kind`` after the current transaction commits.

    ``keys=None`` re-indexes every document of the kind (and drops those that are gone).
    Call it from the service that saved the content, inside its transaction: if that
    transaction rolls back, nothing is enqueued. A broker outage is logged, not raised -
    the content is saved, and ``manage.py reindex_search`` catches the index up.
    """
    if search_source(kind) is None:
        raise ValueError(f"no search source is registered for kind {kind!r}")
    from apps.core.search.tasks import search_reindex

    if keys is None:
        batches: list[list[str] | None] = [None]
    else:
        unique = sorted({str(k) for k in keys})
        if not unique:
            return
        batches = [unique[i : i + SCHEDULE_MAX_KEYS] for i in range(0, len(unique), SCHEDULE_MAX_KEYS)]
    for batch in batches:
        # Bind batch now: the lambda runs after commit, when the loop variable has moved on.
        transaction.on_commit(lambda batch=batch: search_reindex.delay(kind, batch), robust=True)


def search_index_update(kind: str, keys: Iterable[str] | None = None) -> int:
    """Bring the index in line with the source for ``kind``; returns the chunks written.

    With ``keys``, each document is fetched with the source's ``get_document`` (``None``
    removes it from the index); without, every document from ``iter_documents`` is
    written and indexed documents it no longer yields are removed. A document's chunks
    are replaced in one transaction, so a search sees the old version or the new one,
    never a mix. Safe to run twice, and concurrently (writers of a kind take turns).
    """
    return _index(kind, keys).chunks


def search_reindex_all(report: Callable[[IndexStats], None] | None = None) -> int:
    """Re-index every registered kind and drop chunks of kinds no longer registered.

    Returns the chunks written; ``report`` receives each kind's :class:`IndexStats`.
    """
    sources = search_sources()
    total = 0
    for kind in sorted(sources):
        stats = _index(kind, None)
        total += stats.chunks
        if report:
            report(stats)
    orphaned = SearchChunk.objects.exclude(kind__in=list(sources)).values_list("kind", flat=True).distinct()
    SearchCard.objects.exclude(kind__in=list(sources)).delete()
    for kind in sorted(set(orphaned)):
        started = time.monotonic()
        documents = SearchChunk.objects.filter(kind=kind).values("key").distinct().count()
        SearchChunk.objects.filter(kind=kind).delete()
        if report:
            report(IndexStats(kind=kind, removed=documents, seconds=time.monotonic() - started))
    SEARCH_INDEX.bump()
    return total


# --- internals ---------------------------------------------------------------------------


def _index(kind: str, keys: Iterable[str] | None) -> IndexStats:
    source = search_source(kind)
    if source is None:
        raise ApplicationError(f"no search source is registered for kind {kind!r}", field="kind")
    stats = IndexStats(kind=kind)
    started = time.monotonic()
    if keys is not None:
        for batch in _batched(sorted({str(k) for k in keys}), BATCH_DOCUMENTS):
            with transaction.atomic():
                _lock_kind(kind)
                # Fetched under the lock: of two tasks for the same document, the one that
                # writes last also read last, so the index ends at the latest committed state.
                documents = {key: source.get_document(key) for key in batch}
                _write(kind, documents, stats)
    else:
        seen: set[str] = set()
        for batch in _batched(source.iter_documents(), BATCH_DOCUMENTS):
            documents = {}
            for document in batch:
                documents[document.key] = document
            seen.update(documents)
            with transaction.atomic():
                _lock_kind(kind)
                _write(kind, documents, stats)
        _remove_missing(kind, seen, source, stats)
    SEARCH_INDEX.bump()  # cached search results are stale now
    stats.seconds = time.monotonic() - started
    logger.info(
        "search index %s: %d documents, %d chunks (%d embedded), %d removed in %.2fs",
        kind, stats.documents, stats.chunks, stats.embedded, stats.removed, stats.seconds,
    )
    return stats


def _lock_kind(kind: str) -> None:
    """Writers of one kind take turns (transaction-scoped advisory lock): no unique-key races,
    no deadlocks (one lock per transaction), and readers are never blocked."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LOCK_NAMESPACE, kind])


def _batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _fit(field: str, value: str) -> str:
    return clean_text(value or "")[: _max_len.get(field)]


def _chunk_url(url: str, anchor: str) -> str:
    """The document's URL, pointing at the passage's section when there is room for it."""
    if anchor and "#" not in url:
        with_anchor = f"{clean_text(url)}#{quote(anchor, safe='-_.~')}"
        if len(with_anchor) <= _max_len["url"]:
            return with_anchor
    return _fit("url", url)


def _content_hash(embed_input: str) -> str:
    return hashlib.sha256(f"{settings.EMBEDDING_MODEL}\x1f{embed_input}".encode()).hexdigest()


def card_text(title: str, summary: str, first_passage: str = "") -> str:
    """What a document's card embeds: its title and one-line summary (plain text)."""
    about = summary or " ".join(first_passage.split())[:300]
    return f"{title}: {about}" if about else title


def _write(kind: str, documents: dict[str, SearchDocument | None], stats: IndexStats) -> None:
    """Replace the chunks and cards of ``documents`` (None = delete). Runs inside the caller's transaction."""
    rows: list[SearchChunk] = []
    cards: list[SearchCard] = []
    pending: dict[str, tuple[str, list[SearchChunk | SearchCard]]] = {}  # hash -> (text to embed, rows needing it)
    keys = list(documents)
    existing = dict(
        SearchChunk.objects.filter(kind=kind, key__in=keys).values_list("content_hash", "embedding")
    )
    existing.update(SearchCard.objects.filter(kind=kind, key__in=keys).values_list("content_hash", "embedding"))
    present_before = set(SearchChunk.objects.filter(kind=kind, key__in=keys).values_list("key", flat=True))
    for key, document in documents.items():
        if document is None:
            continue
        if len(key) > _max_len["key"]:
            logger.warning("search: %s key %r is longer than %d characters; skipped", kind, key, _max_len["key"])
            continue
        title = _fit("title", document.title)
        summary = _fit("summary", markdown_to_plain(document.summary))
        chunks = chunk_document(
            document.body, summary=document.summary, heading_ids=document.heading_ids, name=f"{kind}:{key}"
        )
        for chunk_no, chunk in enumerate(chunks):
            # The title goes into what is embedded (a passage alone often does not name
            # its subject) but not into ``text``: FTS already weighs the title column.
            embed_input = f"{title}\n{chunk.text}"
            digest = _content_hash(embed_input)
            row = SearchChunk(
                kind=kind, key=key, chunk_no=chunk_no, title=title, url=_chunk_url(document.url, chunk.anchor),
                text=chunk.text, summary=summary, content_hash=digest, embedding=existing.get(digest),
            )
            if row.embedding is None:
                pending.setdefault(digest, (embed_input, []))[1].append(row)
            rows.append(row)
        if chunks:
            embed_input = card_text(title, summary, chunks[0].text)
            digest = _content_hash(embed_input)
            card = SearchCard(kind=kind, key=key, content_hash=digest, embedding=existing.get(digest))
            if card.embedding is None:
                pending.setdefault(digest, (embed_input, []))[1].append(card)
            cards.append(card)
        stats.documents += 1
    if pending:
        # One model call for every new passage of the batch: batching is most of the speed.
        vectors = embed_texts([embed_input for embed_input, _ in pending.values()])
        for (_, group), vector in zip(pending.values(), vectors, strict=True):
            for row in group:
                row.embedding = vector
        stats.embedded += len(pending)
    SearchChunk.objects.filter(kind=kind, key__in=keys).delete()
    SearchChunk.objects.bulk_create(rows, batch_size=500)
    SearchCard.objects.filter(kind=kind, key__in=keys).delete()
    SearchCard.objects.bulk_create(cards, batch_size=500)
    stats.chunks += len(rows)
    stats.removed += len(present_before - {k for k, d in documents.items() if d is not None})


def _remove_missing(kind: str, seen: set[str], source: SearchSource, stats: IndexStats) -> None:
    """Drop indexed documents the source no longer yields (asking it once more, so a
    document created while we iterated is not dropped)."""
    indexed = set(SearchChunk.objects.filter(kind=kind).values_list("key", flat=True).distinct())
    gone = [key for key in sorted(indexed - seen) if source.get_document(key) is None]
    if not gone:
        return
    with transaction.atomic():
        _lock_kind(kind)
        SearchChunk.objects.filter(kind=kind, key__in=gone).delete()
        SearchCard.objects.filter(kind=kind, key__in=gone).delete()
    stats.removed += len(gone)
