"""Fixtures for the search tests: a small registered source of kind "testdoc"."""

from __future__ import annotations

import pytest

from apps.core.search.registry import unregister_search_source

SOURCE_MODULE = "tests.core.search.sources"


@pytest.fixture
def testdoc_source(monkeypatch):
    """Registers kind "testdoc" for this test (and for any worker/server it starts)."""
    from tests.core.search import sources

    original = dict(sources.DOCUMENTS)
    sources.register()
    # Child processes (Celery worker, uvicorn) register it from the inherited environment.
    monkeypatch.setenv("SEARCH_SOURCE_MODULES", SOURCE_MODULE)
    yield sources
    sources.DOCUMENTS.clear()
    sources.DOCUMENTS.update(original)
    unregister_search_source(sources.KIND)


@pytest.fixture
def indexed(db, testdoc_source):
    """The testdoc documents, indexed (embedded with the real MiniLM model)."""
    from apps.core.search.services import search_index_update

    assert search_index_update(testdoc_source.KIND) >= len(testdoc_source.DOCUMENTS)
    return testdoc_source
