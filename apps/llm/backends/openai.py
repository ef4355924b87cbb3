"""OpenAI's Chat Completions API through the official SDK (``openai``), and any server that
speaks it (vLLM, llama.cpp, Ollama, LiteLLM...) via ``BASE_URL``.

OPTIONS: MODEL, API_KEY_ENV (default OPENAI_API_KEY; LLM_API_KEY for the compatible
backend) or API_KEY_FILE, BASE_URL, TIMEOUT, MAX_RETRIES, MODELS, PRICING.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.core.exceptions import ImproperlyConfigured

from apps.llm.backends.sdk import SDKProvider
from apps.llm.base import ChatResult, LLMError, Message, StreamEvent, Usage


class OpenAIProvider(SDKProvider):
    sdk = "openai"
    name = "openai"
    label = "OpenAI"
    default_key_env = "OPENAI_API_KEY"
    key_required = True

    def __init__(self, alias: str, options: dict) -> None:
        super().__init__(alias, options)
        self.model = self.model or "gpt-4o-mini"
        self._client = None

    def client(self):
        if self._client is None:
            import openai

            key = self.api_key(self.default_key_env)
            if not key and self.key_required:
                raise LLMError(f"provider {self.alias!r} has no API key", provider=self.alias, permanent=True)
            self._client = openai.OpenAI(
                api_key=key or "not-needed", base_url=self.options.get("BASE_URL") or None, timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def _request(self, messages, system, model, max_tokens, temperature) -> dict:
        turns = [{"role": "system", "content": system}] if system else []
        turns += [{"role": m.role, "content": m.content} for m in messages]
        return {"model": model or self.model, "messages": turns, "max_tokens": max_tokens, "temperature": temperature}

    def chat(self, messages: list[Message], *, system: str = "", model: str = "", max_tokens: int = 800,
             temperature: float = 0.2) -> ChatResult:
        try:
            response = self.client().chat.completions.create(
                **self._request(messages, system, model, max_tokens, temperature)
            )
        except Exception as exc:
            raise self._error(exc) from exc
        choice = response.choices[0] if response.choices else None
        usage = Usage()
        if response.usage:
            usage = Usage(response.usage.prompt_tokens or 0, response.usage.completion_tokens or 0)
        return ChatResult(
            text=(choice.message.content or "") if choice else "", model=response.model or model or self.model,
            provider=self.alias, usage=usage, finish_reason=(choice.finish_reason or "") if choice else "",
        )

    def stream(self, messages: list[Message], *, system: str = "", model: str = "", max_tokens: int = 800,
               temperature: float = 0.2) -> Iterator[StreamEvent]:
        usage, answered_by, finish = Usage(), model or self.model, ""
        try:
            chunks = self.client().chat.completions.create(
                **self._request(messages, system, model, max_tokens, temperature),
                stream=True, stream_options={"include_usage": True},
            )
            for chunk in chunks:
                answered_by = chunk.model or answered_by
                if chunk.usage:
                    usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
                for choice in chunk.choices or []:
                    if choice.delta and choice.delta.content:
                        yield StreamEvent(delta=choice.delta.content)
                    finish = choice.finish_reason or finish
        except LLMError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc
        yield StreamEvent(done=True, usage=usage, model=answered_by, finish_reason=finish)


class OpenAICompatibleProvider(OpenAIProvider):
    """An OpenAI-compatible server (e.g. vLLM on the GPU pool): BASE_URL is required, a key optional."""

    name = "openai-compatible"
    label = "OpenAI-compatible server"
    default_key_env = "LLM_API_KEY"
    key_required = False

    def __init__(self, alias: str, options: dict) -> None:
        super().__init__(alias, options)
        if not self.options.get("BASE_URL"):
            raise ImproperlyConfigured(f"LLM_PROVIDERS[{alias!r}]: the openai-compatible backend needs BASE_URL")
        self.model = str(self.options.get("MODEL", ""))
