"""Fixtures for the career catalogue tests: the shipped content, loaded, and an editable copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings

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
