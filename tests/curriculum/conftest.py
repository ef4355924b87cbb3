"""Fixtures for the curriculum tests: a small content/ folder and helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apps.curriculum.loader import curriculum_load

FIXTURE_CONTENT = Path(__file__).parent / "fixtures" / "content"


@pytest.fixture
def content_dir(tmp_path) -> Path:
    """A private copy of the fixture content/ that a test may edit."""
    target = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, target)
    return target


@pytest.fixture
def loaded(db, content_dir) -> Path:
    """The fixture content, loaded. Yields the folder so tests can edit and reload."""
    curriculum_load(content_dir)
    return content_dir


@pytest.fixture
def search_calls(monkeypatch) -> list[tuple[str, list[str]]]:
    """Record search_index_schedule calls instead of enqueuing tasks."""
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(
        "apps.core.search.services.search_index_schedule",
        lambda kind, keys=None: calls.append((kind, sorted(keys or []))),
    )
    return calls
