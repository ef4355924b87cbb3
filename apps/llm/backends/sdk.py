"""What the Anthropic and OpenAI backends share: both official SDKs are generated from one
template, so they raise the same exception classes and list models the same way.

A subclass names its SDK module (``sdk``); errors become :class:`LLMError` with a message a
person can act on, and ``permanent`` set where retrying cannot help (a bad key, a 4xx).
"""

from __future__ import annotations

import importlib
from typing import ClassVar

from apps.llm.base import LLMError, LLMProvider


class SDKProvider(LLMProvider):
    sdk: ClassVar[str]

    def models(self) -> list[str]:
        if self.options.get("MODELS"):
            return list(self.options["MODELS"])
        try:
            return [m.id for m in self.client().models.list()]
        except Exception as exc:
            raise self._error(exc) from exc

    def client(self):  # pragma: no cover - each backend builds its SDK client
        raise NotImplementedError

    def _error(self, exc: Exception) -> LLMError:
        sdk = importlib.import_module(self.sdk)
        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, sdk.APITimeoutError):
            return LLMError(f"{self.label} did not answer within {self.timeout:g}s", provider=self.alias)
        if isinstance(exc, sdk.APIConnectionError):
            return LLMError(f"{self.label} could not be reached", provider=self.alias)
        if isinstance(exc, sdk.APIStatusError):
            status = exc.status_code
            if status in (401, 403):
                return LLMError(f"{self.label} rejected the API key (HTTP {status})", provider=self.alias,
                                permanent=True, status=status)
            if status == 429:
                return LLMError(f"{self.label} is rate limiting us (HTTP 429)", provider=self.alias, status=status)
            return LLMError(f"{self.label} answered HTTP {status}", provider=self.alias, permanent=status < 500,
                            status=status)
        return LLMError(f"{self.label} failed: {type(exc).__name__}", provider=self.alias)
