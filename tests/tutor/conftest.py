from __future__ import annotations

import pytest

from tests.llm.conftest import fake_llm  # noqa: F401 - shared fixture


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
