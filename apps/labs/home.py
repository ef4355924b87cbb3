"""Home panel (apps/core/home.py): the learner's latest lab run, with a small chart, and quota."""

from __future__ import annotations

import math
from typing import Any

from django.http import HttpRequest

from apps.core import roles
from apps.core.home import HomePanel, register_home_panel
from apps.labs.models import LabJob
from apps.labs.selectors import lab_chart_metrics, lab_job_chart_points, lab_key_metrics, lab_quota

SPARK_WIDTH, SPARK_HEIGHT, SPARK_POINTS = 160, 40, 60


def sparkline(values: list[float]) -> str:
    """SVG polyline points for ``values`` in a SPARK_WIDTH x SPARK_HEIGHT box (at most
    SPARK_POINTS, evenly thinned); empty when there are fewer than two finite values."""
    values = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if len(values) < 2:
        return ""
    if len(values) > SPARK_POINTS:
        stride = (len(values) - 1) / (SPARK_POINTS - 1)
        values = [values[round(i * stride)] for i in range(SPARK_POINTS)]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = SPARK_WIDTH / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{SPARK_HEIGHT - 2 - (v - low) / span * (SPARK_HEIGHT - 4):.1f}" for i, v in enumerate(values)
    )


def latest_run_panel(request: HttpRequest) -> dict[str, Any] | None:
    user = request.user
    if not roles.user_has_role(user, roles.LEARNER):
        return None
    job = LabJob.objects.filter(owner=user).select_related("lab").order_by("-queued_at").first()
    quota = lab_quota(user=user, queue="cpu")
    if job is None:
        return {"job": None, "quota": quota}
    chart_name = next(iter(lab_chart_metrics(job.lab)), None)
    points = lab_job_chart_points(job=job, names=(chart_name,)) if chart_name else []
    metrics = [(name, job.metrics.get(name)) for name in lab_key_metrics(job.lab) if job.metrics.get(name) is not None]
    return {
        "job": job,
        "quota": quota,
        "metrics": metrics,
        "chart_name": chart_name,
        "spark": sparkline([p["value"] for p in points if p["name"] == chart_name]),
    }


def register() -> None:
    register_home_panel(HomePanel("latest-run", "labs/home/latest_run.html", latest_run_panel, order=20))
