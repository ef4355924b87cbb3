from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from tests.llm.conftest import fake_llm  # noqa: F401 - shared fixture


@pytest.fixture(scope="module")
def shipped(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The shipped content loaded and indexed once per module (rolled back at its end)."""
    from apps.core.search.services import search_reindex_all
    from apps.curriculum.loader import curriculum_load

    with django_db_blocker.unblock(), transaction.atomic():
        try:
            curriculum_load(Path(settings.CONTENT_DIR))
            assert search_reindex_all() > 300
            yield
        finally:
            transaction.set_rollback(True)


@pytest.fixture
def offline(settings):
    from apps.llm import reset_providers

    settings.LLM_PROVIDERS = {"default": {"BACKEND": "extractive"}}
    reset_providers()
    yield
    reset_providers()


@pytest.fixture
def compatible(settings, fake_llm):  # noqa: F811
    """The default provider is the fake OpenAI-compatible server (as vLLM on the GPU pool would be)."""
    from apps.llm import reset_providers

    settings.LLM_PROVIDERS = {"default": {"BACKEND": "openai-compatible", "OPTIONS": {
        "BASE_URL": f"{fake_llm.url}/v1", "MODEL": "llama-fake", "TIMEOUT": 1.0, "MAX_RETRIES": 0,
        "PRICING": {"*": [1, 2]}}}}
    reset_providers()
    yield fake_llm
    reset_providers()
