"""Fixtures for the career catalogue tests: the shipped content, loaded, and an editable copy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from apps.career.loader import career_load
from apps.curriculum.loader import curriculum_load


@pytest.fixture
def roadmap_loaded(db) -> None:
    """The shipped roadmap (roles link to its topics)."""
    curriculum_load(Path(settings.CONTENT_DIR))


@pytest.fixture
def catalogue(roadmap_loaded) -> str:
    """The shipped career catalogue, loaded; returns the loader's summary."""
    return career_load(Path(settings.CONTENT_DIR))


@pytest.fixture
def career_dir(tmp_path, roadmap_loaded) -> Path:
    """A content/ folder holding a private copy of content/career/ that a test may edit."""
    root = tmp_path / "content"
    shutil.copytree(Path(settings.CONTENT_DIR) / "career", root / "career")
    return root


@pytest.fixture(scope="module")
def catalogue_once(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The roadmap and career catalogue loaded once for a whole module of read-mostly tests
    (loading takes seconds), rolled back when the module ends; each test still runs in its
    own savepoint (ask for `db` too), so what one test writes the next does not see."""
    with django_db_blocker.unblock(), transaction.atomic():
        try:
            curriculum_load(Path(settings.CONTENT_DIR))
            career_load(Path(settings.CONTENT_DIR))
            yield
        finally:
            transaction.set_rollback(True)
