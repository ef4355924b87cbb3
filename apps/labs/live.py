"""HTML for the job page's live parts: the same partials render the first paint and the
websocket's htmx out-of-band swaps, so a reload and a live update always look the same.

Pure functions of a job snapshot (``selectors.lab_job_snapshot``) and event dicts
(``{"seq", "type", "payload"}``): no database access, safe to call from async code.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from django.template import TemplateDoesNotExist
from django.template.loader import get_template, render_to_string
from django.utils.html import format_html, format_html_join

MAX_LOG_LINES_PER_MESSAGE = 500


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def event_line(event: dict[str, Any]) -> tuple[str, str] | None:
    """(css class, text) of the log line an event shows as, or None for events not logged.

    Progress events move the progress bar only: as log lines they were a wall of bare
    "1%", "2%" that buried the program's own output. Metrics with a step (a loss every
    step) go to the chart only; the rest are one line.
    """
    type_, payload = event.get("type"), event.get("payload") or {}
    if type_ == "log":
        return f"stream-{str(payload.get('stream', 'stdout'))[:16]}", str(payload.get("line", ""))
    if type_ == "progress":
        return None
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
    # The status line is the page's live region: it names the stage while running, so a
    # screen reader hears "Running - loading libraries" once, not every percent.
    return render_to_string("labs/partials/job_status.html", {"s": snapshot, "stage": job_stage(snapshot)})


def render_clock(snapshot: dict[str, Any], *, oob: bool = False) -> str:
    return render_to_string("labs/partials/job_clock.html", {"s": snapshot, "oob": oob})


# --- stages -------------------------------------------------------------------------------
# Where a run is, named, so a long wait never looks stalled. Derived from what the job
# already reports (its status and the runner's progress messages): runners need no new
# event type, and a reload, a replay and a live push all agree.

STAGES = (
    ("queued", "Queued"),
    ("sandbox", "Sandbox ready"),
    ("loading", "Loading libraries"),
    ("running", "Running"),
)
# The runners say "loading scikit-learn" / "loading PyTorch" while importing, which can
# take longer than the training itself on a cold machine.
_LOADING = re.compile(r"\s*loading\b", re.IGNORECASE)
#: A "loading ..." message is the loading stage only this early. A runner that loads another
#: library half-way (RAG evaluation loads RAGAS at 65%) is running, and the stage list must
#: never step back from "Running" to "Loading libraries".
LOADING_STAGE_MAX_FRACTION = 0.1


def job_stage(snapshot: dict[str, Any]) -> str:
    """The stage a job is in, or (for an ended job) the last one it reached."""
    if snapshot.get("status") == "queued" or not snapshot.get("started_at"):
        return "queued"
    message = snapshot.get("progress_message") or ""
    fraction = snapshot.get("progress")
    early = not isinstance(fraction, int | float) or fraction <= LOADING_STAGE_MAX_FRACTION
    if _LOADING.match(message) and early:
        return "loading"
    if snapshot.get("progress") is None and not message:
        return "sandbox"  # claimed by a worker; the runner has not reported yet
    return "running"


def _percent(fraction: Any) -> int:
    if isinstance(fraction, (int, float)) and not isinstance(fraction, bool):
        return max(0, min(100, round(float(fraction) * 100)))
    return 0


def progress_view(snapshot: dict[str, Any]) -> dict[str, Any]:
    """What the progress area shows: the stage list, the bar and the words under it.

    The bar is indeterminate (animated, no number) until the runner reports a real
    fraction while running: a "0%" bar during a minute of imports looks stalled, and the
    fractions runners send while loading libraries are guesses, not measurements.
    """
    stage = job_stage(snapshot)
    status = snapshot.get("status")
    final = bool(snapshot.get("final"))
    fraction = snapshot.get("progress")
    pct = _percent(fraction)
    indeterminate = not final and (stage != "running" or not fraction)

    current = [key for key, _ in STAGES].index(stage)
    steps = []
    for index, (key, label) in enumerate(STAGES):
        if key == "queued" and status == "queued" and snapshot.get("position"):
            label = f"Queued (position {snapshot['position']})"
        if status == "succeeded" or index < current:
            state = "done"
        elif index == current:
            state = "stopped" if final else "current"
        else:
            state = "todo"
        steps.append({"key": key, "label": label, "state": state})

    message = snapshot.get("progress_message") or ""
    if status == "queued":
        detail = "waiting for a free worker"
    elif stage == "sandbox" and not final:
        detail = "starting the runner"
    else:
        detail = message
    stage_label = steps[current]["label"]
    if indeterminate:
        valuetext = f"{stage_label}: {detail}" if detail else stage_label
        valuetext += ", no progress reported yet" if stage == "running" else ""
    else:
        valuetext = f"{pct}%" + (f", {detail}" if detail else "")
    return {
        "stage": stage,
        "stage_label": stage_label,
        "steps": steps,
        "indeterminate": indeterminate,
        "pct": pct,
        "detail": detail,
        "valuetext": valuetext,
    }


def progress_key(snapshot: dict[str, Any]) -> str:
    """Changes exactly when the progress area would render differently (the consumer sends
    it only then, so an indeterminate bar's animation is not restarted by every log line)."""
    return json.dumps(progress_view(snapshot), sort_keys=True)


def render_progress(snapshot: dict[str, Any], *, oob: bool = False) -> str:
    return render_to_string(
        "labs/partials/job_progress.html", {"s": snapshot, "p": progress_view(snapshot), "oob": oob}
    )


def render_result(snapshot: dict[str, Any], *, oob: bool = False, is_owner: bool = True) -> str:
    context = {"s": snapshot, "oob": oob, "is_owner": is_owner,
               "kind_result": kind_result_template(snapshot.get("kind") or snapshot.get("lab") or "")}
    return render_to_string("labs/partials/job_result.html", context)


@cache
def kind_result_template(kind: str) -> str | None:
    """A kind's own result section (``labs/kinds/<kind>/result.html``, e.g. the RAG lab's
    per-question table), shown under the generic metrics; None when the kind has none."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", kind):
        return None
    name = f"labs/kinds/{kind.replace('-', '_')}/result.html"
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return None
    return name


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
    progress_changed: bool = True,
) -> str:
    """One websocket frame: htmx out-of-band fragments for whatever changed.

    ``#labjob-cursor`` carries ``last_seq``, the last event the page now has (it resumes
    from there after a reconnect),
    and the new chart points as data attributes for the page's small chart script.
    ``progress_changed`` False leaves the progress area as the page has it (see
    :func:`progress_key`).
    """
    parts = []
    if status_changed:
        parts.append(format_html('<span id="labjob-status" hx-swap-oob="innerHTML">{}</span>',
                                 _safe(render_status_inner(snapshot))))
        parts.append(render_clock(snapshot, oob=True))
        parts.append(render_actions(snapshot, oob=True))
    if progress_changed:
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
