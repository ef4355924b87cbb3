"""Keeping the index in step with the sources: update, removal, scheduling, the real worker."""

from __future__ import annotations

import time

import numpy as np
import pytest
from django.core.management import call_command
from django.db import transaction

from apps.core.search import tasks
from apps.core.search.models import SearchChunk
from apps.core.search.registry import SearchDocument, register_search_source, unregister_search_source
from apps.core.search.selectors import search
from apps.core.search.services import (
    IndexStats,
    search_index_schedule,
    search_index_update,
    search_reindex_all,
)


def indexed_keys(kind: str = "testdoc") -> set[str]:
    return set(SearchChunk.objects.filter(kind=kind).values_list("key", flat=True))


@pytest.mark.django_db
def test_update_writes_chunks_with_vectors_and_a_generated_tsvector(indexed):
    chunk = SearchChunk.objects.get(kind="testdoc", key="kv-cache")
    assert chunk.title == "KV cache" and chunk.url == "/test/kv-cache/" and chunk.chunk_no == 0
    vector = np.asarray(chunk.embedding)
    assert vector.shape == (384,) and abs(float(vector @ vector) - 1) < 1e-4
    # Postgres computed the tsvector: title words carry weight A, body words B.
    assert "'cach':2A" in chunk.search_vector and "'generat':4B" in chunk.search_vector


@pytest.mark.django_db
def test_a_document_gone_from_the_source_leaves_the_index(indexed):
    del indexed.DOCUMENTS["rag"]
    assert search("retrieval-augmented generation")[0].key == "rag"  # still indexed
    search_index_update("testdoc", ["rag"])
    assert "rag" not in indexed_keys()
    assert "rag" not in [h.key for h in search("retrieval-augmented generation")]
    # A full reindex drops every document the source no longer yields.
    del indexed.DOCUMENTS["bpe"]
    del indexed.DOCUMENTS["lora"]
    search_index_update("testdoc")
    assert indexed_keys() == set(indexed.DOCUMENTS)


@pytest.mark.django_db
def test_changed_documents_are_replaced_and_unchanged_passages_keep_their_vectors(indexed, monkeypatch):
    calls = []
    from apps.core.search import services

    real = services.embed_texts
    monkeypatch.setattr(services, "embed_texts", lambda texts: calls.append(list(texts)) or real(texts))
    stats: list[IndexStats] = []
    search_reindex_all(report=stats.append)  # the curriculum's kinds are registered too (and empty here)
    testdoc = next(s for s in stats if s.kind == "testdoc")
    assert calls == [] and testdoc.embedded == 0 and testdoc.documents == len(indexed.DOCUMENTS)  # nothing changed
    indexed.DOCUMENTS["kv-cache"] = SearchDocument(
        "testdoc", "kv-cache", "KV cache", "/test/kv-cache/", "Paged attention stores the cache in blocks.", "new"
    )
    search_index_update("testdoc", ["kv-cache", "bpe"])
    # One batch: only the changed passage and the document's card (its summary changed too).
    assert len(calls) == 1 and calls[0] == ["KV cache\nPaged attention stores the cache in blocks.", "KV cache: new"]
    chunks = SearchChunk.objects.filter(kind="testdoc", key="kv-cache")
    assert [c.text for c in chunks] == ["Paged attention stores the cache in blocks."]
    assert chunks[0].summary == "new"
    assert search("paged attention")[0].key == "kv-cache"


@pytest.mark.django_db
def test_reindex_all_drops_kinds_no_longer_registered(indexed):
    register_search_source("gone", lambda: [SearchDocument("gone", "g", "Ghost", "/g/", "Boo.")], lambda key: None)
    search_index_update("gone")
    unregister_search_source("gone")
    assert indexed_keys("gone") == {"g"}
    search_reindex_all()
    assert indexed_keys("gone") == set() and indexed_keys() == set(indexed.DOCUMENTS)


@pytest.mark.django_db
def test_reindex_search_command_prints_counts_and_time(indexed, capsys):
    call_command("reindex_search")
    out = capsys.readouterr().out
    assert "testdoc" in out and f"{len(indexed.DOCUMENTS)} documents" in out and "chunks written in" in out


@pytest.mark.django_db
def test_unknown_kinds_are_refused(testdoc_source):
    from apps.core.errors import ApplicationError

    with pytest.raises(ValueError, match="no search source"):
        search_index_schedule("nope", ["x"])
    with pytest.raises(ApplicationError):
        search_index_update("nope")


@pytest.mark.django_db
def test_schedule_enqueues_only_after_commit(testdoc_source, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(tasks.search_reindex, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        search_index_schedule("testdoc", iter(["lora", "kv-cache", "lora"]))
        search_index_schedule("testdoc")
        search_index_schedule("testdoc", [])  # nothing to do
    assert sent == []  # not before commit
    for callback in callbacks:
        callback()
    assert sent == [("testdoc", ["kv-cache", "lora"]), ("testdoc", None)]


@pytest.mark.django_db
def test_a_broker_outage_does_not_break_the_save(testdoc_source, monkeypatch, django_capture_on_commit_callbacks):
    def down(*args):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks.search_reindex, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        search_index_schedule("testdoc", ["lora"])  # robust on_commit: logged, not raised


def test_task_is_late_acked_and_retries_transient_database_errors():
    from django.db import InterfaceError, OperationalError

    assert tasks.search_reindex.acks_late is True
    assert set(tasks.search_reindex.autoretry_for) == {OperationalError, InterfaceError}
    assert tasks.search_reindex.name == "apps.core.search.tasks.search_reindex"


@pytest.mark.django_db(transaction=True)
def test_schedule_reaches_a_real_worker_which_indexes_the_documents(testdoc_source, request):
    # testdoc_source set SEARCH_SOURCE_MODULES, so the worker started now registers it too.
    request.getfixturevalue("celery_worker_process")
    with transaction.atomic():
        search_index_schedule("testdoc", ["lora", "kv-cache"])
        time.sleep(0.5)
        assert indexed_keys() == set()  # nothing is sent before the commit
    deadline = time.monotonic() + 90  # the worker loads torch and the model on its first task
    while time.monotonic() < deadline and indexed_keys() != {"lora", "kv-cache"}:
        time.sleep(0.25)
    assert indexed_keys() == {"lora", "kv-cache"}
    assert search("KV cache")[0].key == "kv-cache"


@pytest.mark.django_db
def test_a_repeated_search_is_answered_from_the_cache_until_the_index_changes(
    indexed, django_assert_num_queries
):
    first = search("how does the kv cache speed up generation")
    with django_assert_num_queries(0):
        again = search("how  does the kv cache speed up generation ")  # the same query, normalized
    assert [h.key for h in again] == [h.key for h in first] and first[0].key == "kv-cache"
    del indexed.DOCUMENTS["kv-cache"]
    search_index_update("testdoc", ["kv-cache"])
    assert "kv-cache" not in [h.key for h in search("how does the kv cache speed up generation")]
