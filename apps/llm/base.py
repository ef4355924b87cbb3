"""The contract every LLM provider implements (chat, streaming, token usage, model list)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import ClassVar, Literal

from django.core.exceptions import ImproperlyConfigured

Role = Literal["user", "assistant"]


class LLMError(Exception):
    """A provider call failed. ``permanent`` says whether retrying can help (a bad key: no;
    a 429, a 5xx or a timeout: yes). ``message`` is safe to show an admin; it never holds
    the key or the prompt. ``provider`` is the alias that failed."""

    def __init__(self, message: str, *, provider: str = "", permanent: bool = False, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.permanent = permanent
        self.status = status


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class ChatResult:
    text: str
    model: str
    provider: str  # the alias ("default") that answered
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = ""
    extractive: bool = False  # True: no language model wrote this, passages were picked


@dataclass(frozen=True)
class StreamEvent:
    """One piece of a streamed reply: ``delta`` text as it arrives; the last event has
    ``done=True`` and carries the usage and the model that answered."""

    delta: str = ""
    done: bool = False
    usage: Usage | None = None
    model: str = ""
    finish_reason: str = ""


class LLMProvider:
    """Base class of the backends named in ``settings.LLM_PROVIDERS``.

    ``options`` is the alias's OPTIONS dict (upper-case keys). Common options: ``MODEL``
    (the default model), ``MODELS`` (what ``models()`` lists when the server is not asked),
    ``TIMEOUT`` seconds (default 30), ``MAX_RETRIES`` (default 2), ``PRICING`` ({model:
    [USD per million input tokens, per million output tokens]}) for :meth:`estimate_cost`.
    """

    name: ClassVar[str] = "base"
    label: ClassVar[str] = "LLM"
    extractive: ClassVar[bool] = False  # the offline default sets this

    def __init__(self, alias: str, options: dict) -> None:
        self.alias = alias
        self.options = dict(options or {})
        if "API_KEY" in self.options:
            raise ImproperlyConfigured(
                f"LLM_PROVIDERS[{alias!r}]: a literal API_KEY is not accepted; "
                "name an environment variable (API_KEY_ENV) or a secret file (API_KEY_FILE)."
            )
        self.model = str(self.options.get("MODEL", ""))
        self.timeout = float(self.options.get("TIMEOUT", 30))
        self.max_retries = int(self.options.get("MAX_RETRIES", 2))

    # --- the contract ----------------------------------------------------------------------

    def chat(
        self, messages: list[Message], *, system: str = "", model: str = "", max_tokens: int = 800,
        temperature: float = 0.2,
    ) -> ChatResult:
        """One reply to ``messages`` (oldest first, ending with the user's turn)."""
        raise NotImplementedError

    def stream(
        self, messages: list[Message], *, system: str = "", model: str = "", max_tokens: int = 800,
        temperature: float = 0.2,
    ) -> Iterator[StreamEvent]:
        """The reply as it is written: text deltas, then one ``done`` event with the usage.
        Errors before the first delta raise :class:`LLMError`; so do errors mid-stream."""
        result = self.chat(messages, system=system, model=model, max_tokens=max_tokens, temperature=temperature)
        yield StreamEvent(delta=result.text)
        yield StreamEvent(done=True, usage=result.usage, model=result.model, finish_reason=result.finish_reason)

    def models(self) -> list[str]:
        """Model ids this provider can answer with."""
        listed = self.options.get("MODELS")
        return list(listed) if listed else ([self.model] if self.model else [])

    # --- helpers -----------------------------------------------------------------------------

    def estimate_cost(self, model: str, usage: Usage) -> Decimal:
        """Estimated USD for ``usage`` from the PRICING option (0 when the model is not priced)."""
        prices = (self.options.get("PRICING") or {}).get(model) or (self.options.get("PRICING") or {}).get("*")
        if not prices:
            return Decimal(0)
        per_input, per_output = (Decimal(str(p)) for p in prices)
        return (per_input * usage.input_tokens + per_output * usage.output_tokens) / Decimal(1_000_000)

    def api_key(self, default_env: str = "") -> str:
        """The key from the secret file (API_KEY_FILE) or the environment (API_KEY_ENV, else
        ``default_env``); "" when none is set. Never logged, never stored."""
        env = self.options.get("API_KEY_ENV") or default_env
        path = self.options.get("API_KEY_FILE") or (os.environ.get(f"{env}_FILE") if env else None)
        if path:
            try:
                return Path(path).read_text().strip()
            except OSError as exc:
                raise LLMError(
                    f"the API key file for provider {self.alias!r} cannot be read", provider=self.alias, permanent=True
                ) from exc
        return os.environ.get(env, "").strip() if env else ""

    def describe(self) -> str:
        return f"{self.label} ({self.model})" if self.model else self.label
