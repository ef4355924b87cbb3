from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def status_css(status: str) -> str:
    """'in_progress' -> 'in-progress': the class names the roadmap's CSS uses."""
    return str(status or "not_started").replace("_", "-")
