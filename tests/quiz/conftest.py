"""Fixtures for the quiz tests: the shipped roadmap and question bank, loaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from apps.curriculum.loader import curriculum_load
from apps.quiz.loader import quiz_load

CONTENT = Path(settings.CONTENT_DIR)


@pytest.fixture
def bank(db) -> str:
    curriculum_load(CONTENT)
    return quiz_load(CONTENT)


@pytest.fixture(scope="module")
def bank_once(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The roadmap and question bank loaded once per module (rolled back at its end); each
    test still runs in its own savepoint (ask for `db` too)."""
    with django_db_blocker.unblock(), transaction.atomic():
        try:
            curriculum_load(CONTENT)
            quiz_load(CONTENT)
            yield
        finally:
            transaction.set_rollback(True)
