"""Lab pages: catalogue, launch form, run history, the live job page. Thin: selectors read,
services act, errors from services become form errors or 404s."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.errors import ApplicationError, NotFound, PermissionDenied, Throttled
from apps.labs import live
from apps.labs.files import artifact_response
from apps.labs.forms import LabLaunchForm
from apps.labs.kinds import get_kind, registry_inputs_missing
from apps.labs.models import LabJob
from apps.labs.selectors import (
    lab_chart_metrics,
    lab_get,
    lab_job_chart_points,
    lab_job_compare_candidates,
    lab_job_get,
    lab_job_list,
    lab_job_log_tail,
    lab_job_rerunnable_by,
    lab_job_snapshot,
    lab_jobs_compare,
    lab_jobs_of_lab,
    lab_key_metrics,
    lab_list,
    lab_milestone,
    lab_queue_positions,
    lab_quota,
    lab_sandbox_status,
    lab_storage,
    lab_typical_duration,
    lab_typical_durations,
    labs_runnable_by,
)
from apps.labs.services import lab_job_cancel, lab_job_files_delete, lab_job_params_error_field, lab_job_submit
from apps.labs.templatetags.labs_tags import filesize_short


def _about(lab) -> str:
    try:
        template = get_kind(lab.kind).about_template
    except NotFound:
        return ""
    return template.render({"lab": lab}) if template else ""


def lab_index(request: HttpRequest) -> HttpResponse:
    catalogue = list(lab_list())
    typical = lab_typical_durations(catalogue)
    labs = [{"lab": lab, "about": _about(lab), "typical_seconds": typical.get(lab.pk)} for lab in catalogue]
    quotas = {}
    if labs_runnable_by(request.user):  # a hiring manager has no lab time or files to show
        # Only the queues some lab uses: no GPU quota on a CPU-only installation.
        for queue in sorted({item["lab"].queue for item in labs}):
            quotas[queue] = lab_quota(user=request.user, queue=queue)
    storage = lab_storage(user=request.user) if quotas else None
    return render(request, "labs/index.html", {"labs": labs, "quotas": quotas, "storage": storage})


@require_http_methods(["GET", "POST"])
def lab_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        lab = lab_get(slug=slug)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    initial = None
    if request.GET.get("from") and request.user.is_authenticated:
        try:
            initial = lab_job_get(job_id=request.GET["from"], user=request.user).params
        except NotFound:
            initial = None
    form = LabLaunchForm(lab.param_schema, request.POST if request.method == "POST" else None, initial_params=initial)
    status = 200
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('login')}?next={request.path}")
        if form.is_valid():
            try:
                job = lab_job_submit(user=request.user, lab=lab, params=form.cleaned_data)
            except Throttled as exc:
                form.add_error(None, exc.message)
                status = 429
            except PermissionDenied as exc:
                form.add_error(None, exc.message)
                status = 403
            except ApplicationError as exc:
                field = lab_job_params_error_field(exc)
                form.add_error(field if field in form.fields else None, exc.message)
                status = 400
            else:
                return redirect("labs:job-detail", job_id=job.pk)
        else:
            status = 400
    can_run = labs_runnable_by(request.user)
    quota = lab_quota(user=request.user, queue=lab.queue) if can_run else None
    context = {
        "lab": lab,
        "about": _about(lab),
        "form": form,
        "quota": quota,
        "enough_quota": quota is None or quota.left_minutes + 1e-9 >= lab.estimated_minutes,
        "sandbox": lab_sandbox_status(),
        "can_run": can_run,
        "inputs_missing": registry_inputs_missing(lab.param_schema),
        "milestone": lab_milestone(lab),
        "limits": lab.limits,
        # Measured on this installation when it can be; the quota is still charged by the
        # configured estimate at submit (then by the real time once the run ends).
        "typical_seconds": lab_typical_duration(lab),
    }
    return render(request, "labs/lab_detail.html", context, status=status)


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    """The learner's runs, newest first; ``?lab=<slug>`` keeps one lab's (its history, where
    two runs can be ticked and compared)."""
    lab = None
    if request.GET.get("lab"):
        try:
            lab = lab_get(slug=request.GET["lab"])
        except NotFound as exc:
            raise Http404(exc.message) from exc
    page = Paginator(lab_job_list(user=request.user, lab=lab), 20).get_page(request.GET.get("page"))
    queues = {job.queue for job in page if job.status == LabJob.Status.QUEUED}
    positions = {}
    for queue in queues:
        positions.update(lab_queue_positions(queue=queue))
    rows = [{"job": job, "position": positions.get(job.pk), "key_metrics": lab_key_metrics(job.lab)} for job in page]
    return render(request, "labs/job_list.html", {"page": page, "rows": rows, "lab": lab})


def _job_or_404(request: HttpRequest, job_id) -> LabJob:
    try:
        return lab_job_get(job_id=job_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@login_required
def job_detail(request: HttpRequest, job_id) -> HttpResponse:
    job = _job_or_404(request, job_id)
    is_owner = job.owner_id == request.user.id
    snapshot = lab_job_snapshot(job)
    chart_metrics = lab_chart_metrics(job.lab)
    chart_points = lab_job_chart_points(job=job, names=chart_metrics, up_to=job.last_event_seq)
    if job.is_final and not chart_points:
        chart_metrics = ()  # nothing was charted and nothing will be: no empty box
    # Read after the snapshot and bounded by its seq, so the websocket's replay (after that
    # seq) neither repeats nor skips anything.
    tail = [
        {"seq": e.seq, "type": e.type, "payload": e.payload}
        for e in lab_job_log_tail(job=job, up_to=job.last_event_seq)
    ]
    context = {
        "job": job,
        "s": snapshot,
        "is_owner": is_owner,
        "log_html": live.render_log_lines(tail),
        "chart_metrics": chart_metrics,
        "chart_points": chart_points,
        "status_html": live.render_status_inner(snapshot),
        "clock_html": live.render_clock(snapshot),
        "progress_html": live.render_progress(snapshot),
        # Rendered with the request (unlike the websocket's copy) so the "Run again" form
        # carries its CSRF token and works before any script runs.
        "actions_html": mark_safe(  # noqa: S308 - our own template, autoescaped
            render_to_string("labs/partials/job_actions.html", {"s": snapshot, "is_owner": is_owner}, request=request)
        ),
        "compare_with": lab_job_compare_candidates(job=job, user=request.user),
        "key_metrics": lab_key_metrics(job.lab),
        "result_html": live.render_result(snapshot, is_owner=is_owner),
        "params": [
            (spec.get("label") or spec["name"], job.params.get(spec["name"]), spec.get("type"))
            for spec in job.lab.param_schema
        ],
    }
    return render(request, "labs/job_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def job_cancel(request: HttpRequest, job_id) -> HttpResponse:
    """GET: a confirmation page (the no-script path); POST: cancel, back to the job."""
    job = _job_or_404(request, job_id)
    if request.method == "POST":
        try:
            job = lab_job_cancel(job=job, user=request.user)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from exc
        if job.status == LabJob.Status.CANCELLED:
            messages.success(request, "The run was cancelled.")
        # A running job says "stopping..." in its live status line until it has stopped.
        return redirect("labs:job-detail", job_id=job.pk)
    return render(request, "labs/job_cancel.html", {"job": job})


@login_required
@require_http_methods(["GET", "POST"])
def job_files_delete(request: HttpRequest, job_id) -> HttpResponse:
    """GET: what would be deleted and why it cannot be undone; POST: delete, back to the run.
    Owner only (404 otherwise): the files are the learner's."""
    job = _job_or_404(request, job_id)
    if job.owner_id != request.user.id:
        raise Http404("There is no such lab job.")
    error = None
    if request.method == "POST":
        try:
            files, freed = lab_job_files_delete(job=job, user=request.user)
        except ApplicationError as exc:
            error = exc.message
        else:
            if files:
                messages.success(request, f"Deleted {files} file{'s' if files != 1 else ''} ({filesize_short(freed)}).")
            return redirect("labs:job-detail", job_id=job.pk)
    context = {
        "job": job,
        "files": job.artifacts.exclude(file=""),
        "storage": lab_storage(user=request.user),
        "error": error,
        "evidence": job.portfolio_evidence.select_related("project").first(),
    }
    return render(request, "labs/job_files_delete.html", context, status=400 if error else 200)


@login_required
def artifact_download(request: HttpRequest, job_id, artifact_id: int) -> FileResponse:
    """Owner only: artifacts hold what a learner's code wrote. Always an attachment, except
    ``?inline=1`` for an image checked from its bytes (see ``apps.labs.files``)."""
    job = _job_or_404(request, job_id)
    if job.owner_id != request.user.id:
        raise Http404("There is no such file.")
    artifact = job.artifacts.exclude(file="").filter(pk=artifact_id).first()
    if artifact is None:
        raise Http404("There is no such file (or its owner deleted it).")
    return artifact_response(artifact, inline=request.GET.get("inline") == "1")


@login_required
@require_POST
def job_rerun(request: HttpRequest, job_id) -> HttpResponse:
    """Launch the run again with exactly its parameters (seed included) through the one submit
    service: same quota and validation as the form. Owner only; anyone else gets 404."""
    job = _job_or_404(request, job_id)
    if not lab_job_rerunnable_by(job, request.user):
        raise Http404("There is no such lab job.")
    try:
        new = lab_job_submit(user=request.user, lab=job.lab, params=job.params)
    except NotFound as exc:  # the lab was switched off since
        messages.error(request, exc.message)
        target = reverse("labs:job-detail", args=[job.pk])
    except ApplicationError as exc:  # quota (Throttled) or a setting the lab no longer allows
        messages.error(request, f"The run could not start again: {exc.message}")
        target = reverse("labs:job-detail", args=[job.pk])
    else:
        messages.success(request, "Started again with the same settings and seed.")
        target = reverse("labs:job-detail", args=[new.pk])
    if request.headers.get("HX-Request"):
        # The websocket-pushed button posts with htmx (its token comes from the page's
        # hx-headers): tell htmx to load the page rather than swap it into the button.
        return HttpResponse(status=204, headers={"HX-Redirect": target})
    return redirect(target)


def _compare_pair(request: HttpRequest) -> tuple[str, str] | None:
    """The two runs asked for: ``?a=&b=`` (links, "compare with...") or two ``?run=`` (ticked
    boxes in a history). None when there are not exactly two."""
    runs = [r for r in request.GET.getlist("run") if r]
    if request.GET.get("a") and request.GET.get("b"):
        return request.GET["a"], request.GET["b"]
    if request.GET.get("a") or request.GET.get("b"):
        runs.append(request.GET.get("a") or request.GET.get("b"))
    return (runs[0], runs[1]) if len(runs) == 2 else None


@login_required
def job_compare(request: HttpRequest) -> HttpResponse:
    """Two runs of a lab side by side: settings diff, final metrics with deltas, curves
    overlaid. Without two runs it is a picker for one lab's runs (``?lab=`` or the one run
    given), with an empty state that says how to get a second run."""
    pair = _compare_pair(request)
    error = ""
    if pair is not None:
        try:
            comparison = lab_jobs_compare(user=request.user, a=pair[0], b=pair[1])
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except ApplicationError as exc:
            error = exc.message
        else:
            return render(request, "labs/job_compare.html", {"c": comparison, **_compare_context(comparison)})
    lab = None
    given = pair or [r for r in [*request.GET.getlist("run"), request.GET.get("a"), request.GET.get("b")] if r]
    if request.GET.get("lab"):
        try:
            lab = lab_get(slug=request.GET["lab"])
        except NotFound as exc:
            raise Http404(exc.message) from exc
    elif given:
        try:
            lab = lab_job_get(job_id=given[0], user=request.user).lab
        except NotFound as exc:
            raise Http404(exc.message) from exc
    elif not error:
        error = "Tick two runs of the same lab to compare them."
    runs = lab_jobs_of_lab(user=request.user, lab=lab) if lab is not None else []
    if pair is None and given and not error:
        error = "Tick a second run of this lab to compare it with."
    context = {"lab": lab, "runs": runs, "error": error, "picked": {str(r) for r in given},
               "key_metrics": lab_key_metrics(lab) if lab is not None else ()}
    return render(request, "labs/job_compare_pick.html", context, status=400 if error and pair is not None else 200)


def _compare_context(comparison) -> dict:
    charts = []
    for name, runs in comparison.series.items():
        chart_id = f"compare-chart-{len(charts)}"
        charts.append({"name": name, "id": chart_id, "data_id": f"{chart_id}-data", "data": runs,
                       "summary": _series_summary(name, runs)})
    metrics = [{**row, "delta_text": _delta_text(row["a"], row["delta"])} for row in comparison.metrics]
    return {"charts": charts, "metric_rows": metrics, "runs": [("a", comparison.a), ("b", comparison.b)]}


def _delta_text(before, delta) -> str:
    """"+0.0123 (+1.3%)", "0 (no change)" or "" when the two cannot be subtracted."""
    if delta is None:
        return ""
    if delta == 0:
        return "0 (no change)"
    text = f"{delta:+.4g}"
    if isinstance(before, int | float) and before:
        text += f" ({delta / abs(before) * 100:+.1f}%)"
    return text


def _series_summary(name: str, runs: dict) -> str:
    """What the chart shows, in words, for screen readers and before the script runs."""
    parts = []
    for run in ("a", "b"):
        points = runs.get(run) or []
        if points:
            parts.append(f"run {run.upper()} from {points[0][1]:.4g} at step {points[0][0]:g} "
                         f"to {points[-1][1]:.4g} at step {points[-1][0]:g}")
        else:
            parts.append(f"run {run.upper()} reported no {name}")

    return f"{name} by step: " + "; ".join(parts) + "."
