from __future__ import annotations

import pytest

from tests.llm.fake_server import FakeLLMServer


@pytest.fixture
def fake_llm():
    server = FakeLLMServer().start()
    yield server
    server.stop()


@pytest.fixture
def providers(settings, fake_llm, monkeypatch):
    """LLM_PROVIDERS pointing the real SDK clients at the fake server."""
    from apps.llm import reset_providers

    monkeypatch.setenv("FAKE_ANTHROPIC_KEY", "sk-ant-test-secret-123")
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-openai-test-secret-456")
    options = {"TIMEOUT": 1.0, "MAX_RETRIES": 1, "PRICING": {"*": [3, 15]}}
    settings.LLM_PROVIDERS = {
        "default": {"BACKEND": "extractive"},
        "anthropic": {"BACKEND": "anthropic",
                      "OPTIONS": {**options, "BASE_URL": fake_llm.url, "API_KEY_ENV": "FAKE_ANTHROPIC_KEY"}},
        "openai": {"BACKEND": "openai",
                   "OPTIONS": {**options, "BASE_URL": f"{fake_llm.url}/v1", "API_KEY_ENV": "FAKE_OPENAI_KEY"}},
        "vllm": {"BACKEND": "openai-compatible", "OPTIONS": {**options, "BASE_URL": f"{fake_llm.url}/v1",
                                                              "MODEL": "llama-fake"}},
    }
    reset_providers()
    yield settings.LLM_PROVIDERS
    reset_providers()
