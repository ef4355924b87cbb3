"""``settings.LLM_PROVIDERS`` -> provider instances (one per alias and process, built lazily)."""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from apps.llm.base import LLMProvider

DEFAULT_PROVIDERS = {"default": {"BACKEND": "apps.llm.backends.extractive.ExtractiveProvider", "OPTIONS": {}}}
# Short names for BACKEND, as EMBEDDING_MODEL has.
BACKENDS = {
    "anthropic": "apps.llm.backends.anthropic.AnthropicProvider",
    "openai": "apps.llm.backends.openai.OpenAIProvider",
    "openai-compatible": "apps.llm.backends.openai.OpenAICompatibleProvider",
    "extractive": "apps.llm.backends.extractive.ExtractiveProvider",
}

_providers: dict[str, LLMProvider] = {}
_lock = threading.Lock()


def _config() -> dict:
    return getattr(settings, "LLM_PROVIDERS", None) or DEFAULT_PROVIDERS


def provider_aliases() -> list[str]:
    return list(_config())


def get_provider(alias: str = "default") -> LLMProvider:
    """The provider configured under ``alias`` (ImproperlyConfigured if there is none)."""
    provider = _providers.get(alias)
    if provider is not None:
        return provider
    config = _config().get(alias)
    if config is None:
        raise ImproperlyConfigured(f"LLM_PROVIDERS has no alias {alias!r}")
    backend = config.get("BACKEND", "")
    try:
        cls = import_string(BACKENDS.get(backend, backend))
    except ImportError as exc:
        raise ImproperlyConfigured(f"LLM_PROVIDERS[{alias!r}]: cannot import backend {backend!r}") from exc
    if not (isinstance(cls, type) and issubclass(cls, LLMProvider)):
        raise ImproperlyConfigured(f"LLM_PROVIDERS[{alias!r}]: {backend!r} is not an LLMProvider")
    with _lock:
        provider = _providers.setdefault(alias, cls(alias, config.get("OPTIONS", {})))
    return provider


def reset_providers(*_args, **_kwargs) -> None:
    """Forget built providers (tests that change LLM_PROVIDERS; connected to setting_changed)."""
    with _lock:
        _providers.clear()
