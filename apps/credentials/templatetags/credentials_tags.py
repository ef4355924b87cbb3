"""Display helpers for the verify page: the signed claims stay as issued; only how a person
reads them changes (dates, metric names and values)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from django import template

register = template.Library()

# Metric-name words people write in capitals.
_ACRONYMS = set("auc roc f1 mse rmse mae llm bleu rouge ndcg mrr iou id gpu cpu".split())


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _day_time(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y, %H:%M}"


def _span(seconds: float) -> str:
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


@register.filter
def credential_time(value: Any) -> str:
    """'2026-12-02T13:40:33Z' -> '2 Dec 2026, 13:40 UTC'; what cannot be read is shown as given."""
    moment = _parse(value)
    return f"{_day_time(moment)} UTC" if moment else str(value or "")


@register.filter
def run_span(run: Any) -> str:
    """A run's start and finish as read: '2 Dec 2026, 13:29 \u2013 13:32 UTC (2 min 22 s)'."""
    if not isinstance(run, dict):
        return ""
    start, end = _parse(run.get("started_at")), _parse(run.get("finished_at"))
    if start is None:
        raw_start, raw_end = run.get("started_at") or "", run.get("finished_at") or ""
        return f"{raw_start} \u2192 {raw_end}" if raw_end else str(raw_start)
    if end is None:
        return f"started {_day_time(start)} UTC"
    if end.date() == start.date():
        text = f"{_day_time(start)} \u2013 {end:%H:%M} UTC"
    else:
        text = f"{_day_time(start)} \u2013 {_day_time(end)} UTC"
    return f"{text} ({_span((end - start).total_seconds())})" if end >= start else text


@register.filter
def metric_label(name: Any) -> str:
    """'context_precision' -> 'Context precision', 'f1' -> 'F1'."""
    words = str(name).replace("_", " ").replace("-", " ").split()
    if not words:
        return str(name)
    shown = [w.upper() if w.lower() in _ACRONYMS else w.lower() for w in words]
    shown[0] = shown[0][:1].upper() + shown[0][1:]
    return " ".join(shown)


@register.filter
def metric_value(value: Any) -> str:
    """Numbers to 4 significant digits (0.363542 -> '0.3635'); large ones whole with separators."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if abs(value) >= 10_000:
            return f"{round(value):,}"
        return f"{value:.4g}"
    return str(value)
