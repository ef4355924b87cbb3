"""The real anthropic and openai SDK clients against a local server that speaks their wire
formats: request building, JSON and streamed replies, usage, model lists, errors and retries."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.llm import LLMError, Message, get_provider, reset_providers

QUESTION = [Message("user", "What does temperature do?")]
REMOTE = ["anthropic", "openai", "vllm"]


@pytest.mark.parametrize("alias", REMOTE)
def test_chat_builds_the_request_and_parses_reply_and_usage(providers, fake_llm, alias):
    result = get_provider(alias).chat(QUESTION, system="Answer from the passages.", max_tokens=123)
    assert result.text == fake_llm.reply and result.provider == alias and not result.extractive
    assert result.usage.input_tokens > 0 and result.usage.output_tokens == len(fake_llm.reply.split())
    request = fake_llm.requests[-1]
    body = request["body"]
    assert body["max_tokens"] == 123
    if alias == "anthropic":
        assert request["path"] == "/v1/messages" and result.model == "claude-fake-1"
        assert body["system"] == "Answer from the passages."
        assert body["messages"] == [{"role": "user", "content": "What does temperature do?"}]
        sent = request["headers"].get("x-api-key", "") + request["headers"].get("authorization", "")
        assert "sk-ant-test-secret-123" in sent
    else:
        assert request["path"] == "/v1/chat/completions" and result.model == "gpt-fake-1"
        assert body["messages"][0] == {"role": "system", "content": "Answer from the passages."}
        expected_key = "sk-openai-test-secret-456" if alias == "openai" else "not-needed"
        assert request["headers"]["authorization"] == f"Bearer {expected_key}"


@pytest.mark.parametrize("alias", REMOTE)
def test_streaming_yields_deltas_then_usage(providers, fake_llm, alias):
    events = list(get_provider(alias).stream(QUESTION))
    deltas = [e.delta for e in events if not e.done]
    assert len(deltas) >= 3 and "".join(deltas) == fake_llm.reply
    final = events[-1]
    assert final.done and final.usage.output_tokens == len(fake_llm.reply.split()) and final.usage.input_tokens > 0
    assert final.model in ("claude-fake-1", "gpt-fake-1")
    assert fake_llm.requests[-1]["body"]["stream"] is True


@pytest.mark.parametrize("alias", REMOTE)
def test_model_list(providers, alias):
    assert get_provider(alias).models() in (["claude-fake-1"], ["gpt-fake-1"])


@pytest.mark.parametrize("alias", REMOTE)
def test_a_429_is_retried_and_then_answers(providers, fake_llm, alias):
    fake_llm.script = ["429"]
    assert get_provider(alias).chat(QUESTION).text == fake_llm.reply
    assert len(fake_llm.requests) == 2


@pytest.mark.parametrize("alias", REMOTE)
def test_a_500_that_persists_is_a_retryable_error(providers, fake_llm, alias):
    fake_llm.script = ["500", "500", "500"]
    with pytest.raises(LLMError) as error:
        get_provider(alias).chat(QUESTION)
    assert error.value.status == 500 and not error.value.permanent and error.value.provider == alias
    assert len(fake_llm.requests) == 2  # MAX_RETRIES=1


@pytest.mark.parametrize("alias", ["anthropic", "openai"])
def test_a_timeout_is_retried_then_reported(providers, fake_llm, alias):
    fake_llm.script = ["slow", "slow"]
    fake_llm.slow_seconds = 1.5
    with pytest.raises(LLMError) as error:
        get_provider(alias).chat(QUESTION)
    assert "did not answer within 1s" in error.value.message and not error.value.permanent


@pytest.mark.parametrize("alias", ["anthropic", "openai"])
def test_a_rejected_key_is_permanent_and_never_logged(providers, fake_llm, alias):
    fake_llm.script = ["401"]
    records: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with pytest.raises(LLMError) as error:
            get_provider(alias).chat(QUESTION)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    logged = "\n".join(records)
    assert records  # the SDK logged its request at DEBUG
    assert error.value.permanent and "rejected the API key" in error.value.message
    assert len(fake_llm.requests) == 1  # not retried
    for secret in ("sk-ant-test-secret-123", "sk-openai-test-secret-456"):
        assert secret not in logged and secret not in str(error.value)


def test_streaming_error_before_the_first_token_raises(providers, fake_llm):
    fake_llm.script = ["500", "500"]
    with pytest.raises(LLMError):
        list(get_provider("openai").stream(QUESTION))


def test_keys_come_from_a_secret_file(settings, fake_llm, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("sk-from-file-789\n")
    settings.LLM_PROVIDERS = {"default": {"BACKEND": "anthropic", "OPTIONS": {
        "BASE_URL": fake_llm.url, "API_KEY_FILE": str(secret), "MAX_RETRIES": 0}}}
    reset_providers()
    get_provider().chat(QUESTION)
    headers = fake_llm.requests[-1]["headers"]
    assert "sk-from-file-789" in headers.get("x-api-key", "") + headers.get("authorization", "")
    reset_providers()


def test_a_literal_key_in_settings_is_refused(settings):
    settings.LLM_PROVIDERS = {"default": {"BACKEND": "openai", "OPTIONS": {"API_KEY": "sk-literal"}}}
    reset_providers()
    with pytest.raises(ImproperlyConfigured, match="literal API_KEY"):
        get_provider()
    reset_providers()


def test_no_key_is_a_permanent_error_without_a_request(settings, fake_llm, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY_FILE", raising=False)
    settings.LLM_PROVIDERS = {"default": {"BACKEND": "anthropic", "OPTIONS": {"BASE_URL": fake_llm.url}}}
    reset_providers()
    with pytest.raises(LLMError, match="no API key") as error:
        get_provider().chat(QUESTION)
    assert error.value.permanent and not fake_llm.requests
    reset_providers()


def test_unknown_alias_and_backend_are_configuration_errors(settings):
    settings.LLM_PROVIDERS = {"default": {"BACKEND": "no.such.Backend"}}
    reset_providers()
    with pytest.raises(ImproperlyConfigured):
        get_provider()
    with pytest.raises(ImproperlyConfigured):
        get_provider("missing")
    reset_providers()


def test_the_compatible_backend_needs_a_base_url(settings):
    settings.LLM_PROVIDERS = {"default": {"BACKEND": "openai-compatible"}}
    reset_providers()
    with pytest.raises(ImproperlyConfigured, match="BASE_URL"):
        get_provider()
    reset_providers()


def test_cost_estimate_uses_pricing(providers):
    from apps.llm import Usage

    cost = get_provider("anthropic").estimate_cost("claude-fake-1", Usage(1_000_000, 100_000))
    assert cost == Decimal("4.5")


def test_the_offline_default_answers_extractively(settings):
    settings.LLM_PROVIDERS = None
    reset_providers()
    provider = get_provider()
    assert provider.extractive and provider.models() == ["extractive"]
    system = (
        "Temperature sharpens or flattens the next-token distribution. Paris is the capital of France. "
        "A low temperature makes answers more repeatable."
    )
    result = provider.chat([Message("user", "what does a low temperature do to answers?")], system=system)
    assert result.extractive and "repeatable" in result.text and "Paris" not in result.text
    events = list(provider.stream([Message("user", "temperature?")], system=system))
    assert events[-1].done and "Temperature" in "".join(e.delta for e in events)
    reset_providers()
