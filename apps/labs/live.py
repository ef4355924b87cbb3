"""HTML for the job page's live parts: the same partials render the first paint and the
websocket's htmx out-of-band swaps, so a reload and a live update always look the same.

Pure functions of a job snapshot (``selectors.lab_job_snapshot``) and event dicts
(``{"seq", "type", "payload"}``): no database access, safe to call from async code.
"""

from __future__ import annotations

import json
from typing import Any

from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join

MAX_LOG_LINES_PER_MESSAGE = 500


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def event_line(event: dict[str, Any]) -> tuple[str, str] | None:
    """(css class, text) of the log line an event shows as, or None for events not logged.

    Metrics with a step (a loss every step) go to the chart only; the rest are one line.
    """
    type_, payload = event.get("type"), event.get("payload") or {}
    if type_ == "log":
        return f"stream-{str(payload.get('stream', 'stdout'))[:16]}", str(payload.get("line", ""))
    if type_ == "progress":
        message = payload.get("message") or ""
        fraction = payload.get("fraction")
        pct = f"{round(float(fraction) * 100)}%" if isinstance(fraction, (int, float)) else ""
        return "stream-progress", " ".join(p for p in (pct, str(message)) if p)
    if type_ == "metric":
        if "step" in payload:
            return None
        return "stream-metric", f"{payload.get('name')} = {_number(payload.get('value'))}"
    if type_ == "artifact":
        name = payload.get("path") or payload.get("name")
        return "stream-artifact", f"saved {name} ({payload.get('size', '?')} bytes)"
    if type_ == "result":
        status = payload.get("status", "ok")
        error = payload.get("error")
        return "stream-result", f"result: {status}" + (f" - {error}" if error else "")
    return None


def render_log_lines(events: list[dict[str, Any]]) -> str:
    rows = []
    for event in events:
        line = event_line(event)
        if line is not None:
            rows.append((line[0], event.get("seq"), line[1]))
    return format_html_join("", '<li class="{}" data-seq="{}">{}</li>', rows)


def chart_points(events: list[dict[str, Any]], names: tuple[str, ...]) -> list[dict[str, Any]]:
    if not names:
        return []
    points = []
    for event in events:
        payload = event.get("payload") or {}
        if event.get("type") != "metric" or "step" not in payload:
            continue
        if "*" in names or payload.get("name") in names:
            points.append({"name": payload.get("name"), "step": payload.get("step"), "value": payload.get("value")})
    return points


def render_status_inner(snapshot: dict[str, Any]) -> str:
    return render_to_string("labs/partials/job_status.html", {"s": snapshot})


def render_clock(snapshot: dict[str, Any], *, oob: bool = False) -> str:
    return render_to_string("labs/partials/job_clock.html", {"s": snapshot, "oob": oob})


def render_progress(snapshot: dict[str, Any], *, oob: bool = False) -> str:
    return render_to_string("labs/partials/job_progress.html", {"s": snapshot, "oob": oob})


def render_result(snapshot: dict[str, Any], *, oob: bool = False, is_owner: bool = True) -> str:
    return render_to_string("labs/partials/job_result.html", {"s": snapshot, "oob": oob, "is_owner": is_owner})


def render_actions(snapshot: dict[str, Any], *, oob: bool = False) -> str:
    return render_to_string("labs/partials/job_actions.html", {"s": snapshot, "oob": oob})


def ws_message(
    *,
    snapshot: dict[str, Any],
    events: list[dict[str, Any]],
    chart_metrics: tuple[str, ...],
    status_changed: bool,
    last_seq: int,
    is_owner: bool = True,
) -> str:
    """One websocket frame: htmx out-of-band fragments for whatever changed.

    ``#labjob-cursor`` carries ``last_seq``, the last event the page now has (it resumes
    from there after a reconnect),
    and the new chart points as data attributes for the page's small chart script.
    """
    parts = []
    if status_changed:
        parts.append(format_html('<span id="labjob-status" hx-swap-oob="innerHTML">{}</span>',
                                 _safe(render_status_inner(snapshot))))
        parts.append(render_clock(snapshot, oob=True))
        parts.append(render_actions(snapshot, oob=True))
    parts.append(render_progress(snapshot, oob=True))
    lines = render_log_lines(events[-MAX_LOG_LINES_PER_MESSAGE:])
    if lines:
        parts.append(format_html('<ol id="labjob-log" hx-swap-oob="beforeend">{}</ol>', lines))
    if snapshot.get("final"):
        parts.append(render_result(snapshot, oob=True, is_owner=is_owner))
    parts.append(format_html(
        '<div id="labjob-cursor" hx-swap-oob="true" hidden data-seq="{}" data-status="{}" data-points="{}"></div>',
        last_seq, snapshot.get("status", ""), json.dumps(chart_points(events, chart_metrics)),
    ))
    return "".join(str(p) for p in parts)


def _safe(html: str) -> Any:
    from django.utils.safestring import mark_safe

    return mark_safe(html)  # noqa: S308 - rendered by our own template with autoescape
