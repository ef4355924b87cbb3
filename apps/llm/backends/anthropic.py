"""Anthropic's Messages API through the official SDK (``anthropic``).

OPTIONS: MODEL, API_KEY_ENV (default ANTHROPIC_API_KEY) or API_KEY_FILE, BASE_URL (a proxy,
or the tests' local server), TIMEOUT, MAX_RETRIES, MODELS, PRICING.
"""

from __future__ import annotations

from collections.abc import Iterator

from apps.llm.backends.sdk import SDKProvider
from apps.llm.base import ChatResult, LLMError, Message, StreamEvent, Usage


class AnthropicProvider(SDKProvider):
    sdk = "anthropic"
    name = "anthropic"
    label = "Anthropic"

    def __init__(self, alias: str, options: dict) -> None:
        super().__init__(alias, options)
        self.model = self.model or "claude-sonnet-4-6"
        self._client = None

    def client(self):
        if self._client is None:
            import anthropic

            key = self.api_key("ANTHROPIC_API_KEY")
            if not key:
                raise LLMError(f"provider {self.alias!r} has no API key", provider=self.alias, permanent=True)
            self._client = anthropic.Anthropic(
                api_key=key, base_url=self.options.get("BASE_URL") or None, timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def _request(self, messages, system, model, max_tokens, temperature) -> dict:
        # This SDK's messages.create takes no temperature (the newest models fix sampling
        # themselves); ``temperature`` is accepted for the contract and not sent.
        request = {
            "model": model or self.model,
            "max_tokens": max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        if system:
            request["system"] = system
        return request

    def chat(self, messages: list[Message], *, system: str = "", model: str = "", max_tokens: int = 800,
             temperature: float = 0.2) -> ChatResult:
        try:
            response = self.client().messages.create(**self._request(messages, system, model, max_tokens, temperature))
        except Exception as exc:
            raise self._error(exc) from exc
        text = "".join(block.text for block in response.content if getattr(block, "type", "") == "text")
        usage = Usage(response.usage.input_tokens or 0, response.usage.output_tokens or 0)
        return ChatResult(text=text, model=response.model, provider=self.alias, usage=usage,
                          finish_reason=response.stop_reason or "")

    def stream(self, messages: list[Message], *, system: str = "", model: str = "", max_tokens: int = 800,
               temperature: float = 0.2) -> Iterator[StreamEvent]:
        try:
            with self.client().messages.stream(**self._request(messages, system, model, max_tokens, temperature)) as s:
                for text in s.text_stream:
                    if text:
                        yield StreamEvent(delta=text)
                final = s.get_final_message()
        except LLMError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc
        yield StreamEvent(
            done=True, usage=Usage(final.usage.input_tokens or 0, final.usage.output_tokens or 0),
            model=final.model, finish_reason=final.stop_reason or "",
        )
