from __future__ import annotations

from typing import Any

from django import template

from apps.registry.selectors import registry_build_progress

register = template.Library()


@register.simple_tag
def registry_build_state() -> dict[str, Any] | None:
    """The default model's build state for the labs catalogue; None once it is ready."""
    return registry_build_progress()
