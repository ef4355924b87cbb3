"""LLM providers behind one small contract, configured like Django's CACHES.

    LLM_PROVIDERS = {
        "default": {
            "BACKEND": "apps.llm.backends.anthropic.AnthropicProvider",
            "OPTIONS": {"MODEL": "claude-sonnet-4-6", "API_KEY_ENV": "ANTHROPIC_API_KEY"},
        },
    }

``get_provider(alias)`` builds (and caches per process) the provider for an alias; see
``apps.llm.base.LLMProvider`` for the contract. Keys come only from the environment or a
secret file (``API_KEY_ENV`` / ``API_KEY_FILE``); a literal key in settings is refused.
"""

from apps.llm.base import ChatResult, LLMError, LLMProvider, Message, StreamEvent, Usage
from apps.llm.registry import get_provider, provider_aliases, reset_providers

__all__ = [
    "ChatResult", "LLMError", "LLMProvider", "Message", "StreamEvent", "Usage",
    "get_provider", "provider_aliases", "reset_providers",
]
