"""Career pages: the career tree, role detail, compare, salaries, time to job-ready, lists.

The catalogue is public reading (anonymous visitors included), like the roadmap; the only
per-user part is the caller's own roadmap progress on a role's topics. Filters that do
not validate answer 400 with the form's errors, never a 500.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.career import selectors
from apps.career.forms import CompareForm, SalaryFilterForm


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    context = {
        "tracks": selectors.track_list(),
        "guides": selectors.guide_list_all(),
        "current": "index",
    }
    return render(request, "career/index.html", context)


@require_GET
def role(request: HttpRequest, slug: str) -> HttpResponse:
    view = selectors.role_view(selectors.role_get(slug), request.user)
    others = [r for r in selectors.role_list() if r.slug != slug]
    chart = selectors.salary_chart(view.salaries)
    context = {"view": view, "role": view.role, "chart": chart, "others": others, "current": "index"}
    return render(request, "career/role.html", context)


@require_GET
def compare(request: HttpRequest) -> HttpResponse:
    roles = [(r.slug, f"{r.title} ({r.track.title})") for r in selectors.role_list()]
    asked = "a" in request.GET or "b" in request.GET
    form = CompareForm(request.GET if asked else None, roles=roles)
    comparison = None
    status = 200
    if asked:
        if form.is_valid():
            comparison = selectors.role_compare(form.cleaned_data["a"], form.cleaned_data["b"])
        else:
            status = 400
    context = {"form": form, "comparison": comparison, "current": "compare", "has_roles": bool(roles)}
    template = "career/partials/compare_result.html" if request.htmx and asked else "career/compare.html"
    return render(request, template, context, status=status)


@require_GET
def salaries(request: HttpRequest) -> HttpResponse:
    form = SalaryFilterForm(request.GET)
    status = 200
    if form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v}
        bands = list(selectors.salary_list(**filters))
    else:
        filters, bands, status = {}, [], 400
    context = {
        "form": form,
        "chart": selectors.salary_chart(bands),
        "filters": filters,
        "querystring": urlencode(filters),
        "current": "salaries",
    }
    template = "career/partials/salary_results.html" if request.htmx else "career/salaries.html"
    return render(request, template, context, status=status)


@require_GET
def job_ready(request: HttpRequest) -> HttpResponse:
    rows, scale = selectors.job_ready_chart(list(selectors.job_ready_list()))
    return render(request, "career/job_ready.html", {"rows": rows, "scale": scale, "current": "job-ready"})


@require_GET
def guide_index(request: HttpRequest) -> HttpResponse:
    return render(request, "career/guide_index.html", {"guides": selectors.guide_list_all(), "current": "guide"})


@require_GET
def guide(request: HttpRequest, slug: str) -> HttpResponse:
    context = {"guide": selectors.guide_get(slug), "guides": selectors.guide_list_all(), "current": "guide"}
    return render(request, "career/guide.html", context)
