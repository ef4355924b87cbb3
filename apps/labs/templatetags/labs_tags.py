"""Small display helpers for lab pages."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def get_item(mapping: Any, key: str) -> Any:
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.filter
def duration(seconds: float | None) -> str:
    """42 -> '00:42', 125 -> '02:05', 3725 -> '1:02:05' (the status line's clock format)."""
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


@register.filter
def rough_duration(seconds: float | None) -> str:
    """A typical run time as people say it: 35 -> '35 s', 100 -> '2 min', 150 -> '2.5 min'.

    Seconds under 90 s; above that whole minutes, or half minutes below ten (2.5 min is
    worth saying, 12.5 min is not).
    """
    if seconds is None:
        return ""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = seconds / 60
    rounded = round(minutes * 2) / 2 if minutes < 10 else round(minutes)
    return f"{rounded:g} min"


@register.filter
def metric(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@register.filter
def percent(value: Any) -> int:
    """0..1 -> 0..100 for bars and <progress>; anything else -> 0."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(0, min(100, round(float(value) * 100)))
    return 0


@register.filter
def is_fraction(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


@register.filter
def filesize_short(value: int | None) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


@register.filter
def minutes(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


@register.filter
def op_symbol(op: str) -> str:
    return {">=": "\u2265", "<=": "\u2264"}.get(op, op)


@register.filter
def limit_text(seconds: int | None) -> str:
    """600 -> '10 min', 90 -> '90 s'."""
    if not seconds:
        return ""
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


@register.simple_tag
def status_badge_class(status: str) -> str:
    return {"succeeded": "ok", "failed": "danger", "timed_out": "danger", "cancelled": "warn"}.get(status, "")
