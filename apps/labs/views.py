"""Lab pages: catalogue, launch form, run history, the live job page. Thin: selectors read,
services act, errors from services become form errors or 404s."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from apps.core.errors import ApplicationError, NotFound, PermissionDenied, Throttled
from apps.labs import live
from apps.labs.files import artifact_response
from apps.labs.forms import LabLaunchForm
from apps.labs.kinds import get_kind
from apps.labs.models import LabJob
from apps.labs.selectors import (
    lab_chart_metrics,
    lab_get,
    lab_job_chart_points,
    lab_job_get,
    lab_job_list,
    lab_job_log_tail,
    lab_job_snapshot,
    lab_key_metrics,
    lab_list,
    lab_milestone,
    lab_queue_positions,
    lab_quota,
    lab_sandbox_status,
    lab_typical_duration,
    lab_typical_durations,
)
from apps.labs.services import lab_job_cancel, lab_job_params_error_field, lab_job_submit


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
    if request.user.is_authenticated:
        # Only the queues some lab uses: no GPU quota on a CPU-only installation.
        for queue in sorted({item["lab"].queue for item in labs}):
            quotas[queue] = lab_quota(user=request.user, queue=queue)
    return render(request, "labs/index.html", {"labs": labs, "quotas": quotas})


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
    form = LabLaunchForm(lab.param_schema, request.POST or None, initial_params=initial)
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
            except ApplicationError as exc:
                field = lab_job_params_error_field(exc)
                form.add_error(field if field in form.fields else None, exc.message)
                status = 400
            else:
                return redirect("labs:job-detail", job_id=job.pk)
        else:
            status = 400
    quota = lab_quota(user=request.user, queue=lab.queue) if request.user.is_authenticated else None
    context = {
        "lab": lab,
        "about": _about(lab),
        "form": form,
        "quota": quota,
        "enough_quota": quota is None or quota.left_minutes + 1e-9 >= lab.estimated_minutes,
        "sandbox": lab_sandbox_status(),
        "milestone": lab_milestone(lab),
        "limits": lab.limits,
        # Measured on this installation when it can be; the quota is still charged by the
        # configured estimate at submit (then by the real time once the run ends).
        "typical_seconds": lab_typical_duration(lab),
    }
    return render(request, "labs/lab_detail.html", context, status=status)


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(lab_job_list(user=request.user), 20).get_page(request.GET.get("page"))
    queues = {job.queue for job in page if job.status == LabJob.Status.QUEUED}
    positions = {}
    for queue in queues:
        positions.update(lab_queue_positions(queue=queue))
    rows = [{"job": job, "position": positions.get(job.pk), "key_metrics": lab_key_metrics(job.lab)} for job in page]
    return render(request, "labs/job_list.html", {"page": page, "rows": rows})


def _job_or_404(request: HttpRequest, job_id) -> LabJob:
    try:
        return lab_job_get(job_id=job_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@login_required
def job_detail(request: HttpRequest, job_id) -> HttpResponse:
    job = _job_or_404(request, job_id)
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
        "is_owner": job.owner_id == request.user.id,
        "log_html": live.render_log_lines(tail),
        "chart_metrics": chart_metrics,
        "chart_points": chart_points,
        "status_html": live.render_status_inner(snapshot),
        "clock_html": live.render_clock(snapshot),
        "progress_html": live.render_progress(snapshot),
        "actions_html": live.render_actions(snapshot),
        "result_html": live.render_result(snapshot, is_owner=job.owner_id == request.user.id),
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
def artifact_download(request: HttpRequest, job_id, artifact_id: int) -> FileResponse:
    """Owner only: artifacts hold what a learner's code wrote. Always an attachment, except
    ``?inline=1`` for an image checked from its bytes (see ``apps.labs.files``)."""
    job = _job_or_404(request, job_id)
    if job.owner_id != request.user.id:
        raise Http404("There is no such file.")
    artifact = job.artifacts.filter(pk=artifact_id).first()
    if artifact is None:
        raise Http404("There is no such file.")
    return artifact_response(artifact, inline=request.GET.get("inline") == "1")
