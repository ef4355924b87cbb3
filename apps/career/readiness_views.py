"""Readiness pages: the learner's target roles, the readiness of one role, checklist ticks.

Thin: ``readiness_selectors`` reads, ``readiness_services`` writes. Every page is the
signed-in user's own (no URL names a learner), so another learner opening the same URL
sees their own readiness. Actions are plain POSTs that redirect back; with htmx the tick
answers with the changed item and the score panel.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from apps.career import readiness_selectors as selectors
from apps.career import readiness_services as services
from apps.career.readiness_models import MAX_TARGET_ROLES
from apps.core.errors import ApplicationError, NotFound


def _login_first(request: HttpRequest, page: str) -> HttpResponse:
    if request.htmx:
        # A redirect would swap the login page into the checklist; ask htmx to navigate.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = f"{reverse('login')}?{urlencode({'next': page})}"
        return response
    return redirect_to_login(page)


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(default)


def _role_or_404(slug: str):
    try:
        return selectors.readiness_role_get(slug)
    except NotFound as exc:
        raise Http404(exc.message) from None


@require_GET
@login_required
def readiness_index(request: HttpRequest) -> HttpResponse:
    summaries = selectors.readiness_overview(request.user)
    targeted = {s.target.role_id for s in summaries}
    return render(
        request,
        "career/readiness/index.html",
        {
            "summaries": summaries,
            "roles_by_track": [
                (track, [r for r in roles if r.pk not in targeted])
                for track, roles in selectors.readiness_roles_by_track()
            ],
            "max_targets": MAX_TARGET_ROLES,
            "can_add": len(summaries) < MAX_TARGET_ROLES,
            "current": "readiness",
        },
    )


@require_GET
@login_required
def readiness_role(request: HttpRequest, slug: str) -> HttpResponse:
    role = _role_or_404(slug)
    readiness = selectors.readiness_get(request.user, role)
    context = {
        "r": readiness,
        "max_targets": MAX_TARGET_ROLES,
        "can_add": selectors.target_roles(request.user).count() < MAX_TARGET_ROLES,
        "current": "readiness",
    }
    return render(request, "career/readiness/role.html", context)


@require_POST
def readiness_target_add(request: HttpRequest) -> HttpResponse:
    index = reverse("career:readiness")
    if not request.user.is_authenticated:
        return _login_first(request, index)
    try:
        role = selectors.readiness_role_get(request.POST.get("role", ""))
        services.target_role_add(user=request.user, role=role)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(index)
    messages.success(request, f"{role.title} added to your target roles.")
    return _back(request, reverse("career:readiness-role", args=[role.slug]))


@require_POST
def readiness_target_remove(request: HttpRequest, slug: str) -> HttpResponse:
    index = reverse("career:readiness")
    if not request.user.is_authenticated:
        return _login_first(request, index)
    role = _role_or_404(slug)
    if services.target_role_remove(user=request.user, role=role):
        messages.success(request, f"{role.title} removed from your target roles. Your ticks are kept.")
    return _back(request, index)


@require_POST
def readiness_item_toggle(request: HttpRequest, slug: str) -> HttpResponse:
    # ``role`` says which role's page the tick came from, so the answer can carry that
    # page's new score; anything that is not a role is answered as on the overview page.
    try:
        role = selectors.readiness_role_get(request.POST.get("role", ""))
    except NotFound:
        role = None
    page = reverse("career:readiness-role", args=[role.slug]) if role else reverse("career:readiness")
    if not request.user.is_authenticated:
        return _login_first(request, page)
    try:
        item = selectors.readiness_item_get(slug)
    except NotFound as exc:
        raise Http404(exc.message) from None
    ticked = services.readiness_tick_toggle(user=request.user, item=item)
    if request.htmx:
        context = {"item": item, "ticked": ticked, "role_slug": role.slug if role else ""}
        if role is not None:
            # The score changed with the tick: send the panel too (swapped out of band).
            context["r"] = selectors.readiness_get(request.user, role)
            context["oob"] = True
        return render(request, "career/readiness/partials/item_toggled.html", context)
    return _back(request, page + f"#item-{item.slug}")
