"""Portfolio pages: the learner's editor, the public portfolio page, hiring managers' search
and shortlists. Thin: selectors read, services act; every view checks the role first
(anonymous -> log in, wrong role -> 403) and object access (not yours / unpublished -> 404)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.errors import ApplicationError, NotFound
from apps.labs.files import artifact_response
from apps.portfolios import selectors, services
from apps.portfolios.forms import (
    EvidenceForm,
    NoteForm,
    PortfolioForm,
    ProjectForm,
    ShortlistAddForm,
    ShortlistForm,
)

SEARCH_PAGE_SIZE = 20


def _keeper(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not selectors.portfolio_can_keep(request.user):
            raise DjangoPermissionDenied("Portfolios are for learners.")
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc

    return wrapper


def _browser(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not selectors.portfolio_can_browse(request.user):
            raise DjangoPermissionDenied("This needs the hiring manager role.")
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc

    return wrapper


def _form_error(form, exc: ApplicationError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _role_options() -> list[dict[str, str]]:
    from django.apps import apps

    try:
        role_model = apps.get_model("career", "Role")
    except LookupError:
        return []
    return list(role_model.objects.order_by("title").values("slug", "title")[:200])


@login_required
def index(request: HttpRequest) -> HttpResponse:
    if selectors.portfolio_can_browse(request.user):
        return redirect("portfolios:candidates")
    if selectors.portfolio_can_keep(request.user):
        return redirect("portfolios:mine")
    raise DjangoPermissionDenied("Portfolios are for learners and hiring managers.")


# --- the learner's own portfolio ----------------------------------------------------------


@_keeper
@require_http_methods(["GET", "POST"])
def mine(request: HttpRequest) -> HttpResponse:
    portfolio = services.portfolio_get_or_create(user=request.user)
    initial = {
        "headline": portfolio.headline,
        "specialization": portfolio.specialization,
        "links": PortfolioForm.links_text(portfolio.links),
        "bio": portfolio.bio,
    }
    form = PortfolioForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.portfolio_update(
                    portfolio=portfolio,
                    user=request.user,
                    headline=form.cleaned_data["headline"],
                    specialization=form.cleaned_data["specialization"],
                    links=form.links_list(),
                    bio=form.cleaned_data["bio"],
                )
            except ApplicationError as exc:
                _form_error(form, exc)
                status = 400
            else:
                messages.success(request, "Saved.")
                return redirect("portfolios:mine")
        else:
            status = 400
    context = {
        "portfolio": portfolio,
        "form": form,
        "detail": selectors.portfolio_detail(portfolio),
        "role_options": _role_options(),
        "has_runs": selectors.evidence_candidate_jobs(user=request.user).exists(),
    }
    return render(request, "portfolios/mine.html", context, status=status)


@_keeper
@require_POST
def publish(request: HttpRequest) -> HttpResponse:
    portfolio = services.portfolio_get_or_create(user=request.user)
    try:
        services.portfolio_publish(portfolio=portfolio, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Published: anyone with the link can see it, and hiring managers can find it.")
    return redirect("portfolios:mine")


@_keeper
@require_POST
def unpublish(request: HttpRequest) -> HttpResponse:
    portfolio = services.portfolio_get_or_create(user=request.user)
    services.portfolio_unpublish(portfolio=portfolio, user=request.user)
    messages.success(request, "Unpublished: only you can see it now.")
    return redirect("portfolios:mine")


@_keeper
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    portfolio = services.portfolio_get_or_create(user=request.user)
    form = ProjectForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                project = services.project_create(
                    portfolio=portfolio,
                    user=request.user,
                    title=form.cleaned_data["title"],
                    summary=form.cleaned_data["summary"],
                    skills=form.cleaned_data["skills"],
                    position=form.cleaned_data["position"],
                )
            except ApplicationError as exc:
                _form_error(form, exc)
                status = 400
            else:
                messages.success(request, "Project added. Attach a lab run to show a verified result.")
                return redirect("portfolios:project", project_id=project.pk)
        else:
            status = 400
    return render(request, "portfolios/project_form.html", {"form": form, "project": None}, status=status)


@_keeper
@require_http_methods(["GET", "POST"])
def project_edit(request: HttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_own(user=request.user, project_id=project_id)
    initial = {
        "title": project.title,
        "summary": project.summary,
        "skills": ", ".join(project.skills),
        "position": project.position,
    }
    form = ProjectForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            fields = {k: form.cleaned_data[k] for k in ("title", "summary", "skills")}
            if form.cleaned_data["position"] is not None:
                fields["position"] = form.cleaned_data["position"]
            try:
                services.project_update(project=project, user=request.user, **fields)
            except ApplicationError as exc:
                _form_error(form, exc)
                status = 400
            else:
                messages.success(request, "Project saved.")
                return redirect("portfolios:project", project_id=project.pk)
        else:
            status = 400
    return _project_page(request, project, form=form, status=status)


def _project_page(request, project, *, form=None, evidence_form=None, status=200) -> HttpResponse:
    jobs = list(selectors.evidence_candidate_jobs(user=request.user))
    attached = set(project.evidence.values_list("job_id", flat=True))
    jobs = [job for job in jobs if job.pk not in attached]
    detail = selectors.portfolio_detail(project.portfolio)
    context = {
        "project": project,
        "form": form
        or ProjectForm(
            initial={
                "title": project.title,
                "summary": project.summary,
                "skills": ", ".join(project.skills),
                "position": project.position,
            }
        ),
        "evidence_form": evidence_form or EvidenceForm(jobs=jobs),
        "has_jobs": bool(jobs),
        "evidence": next((p["evidence"] for p in detail["projects"] if p["id"] == project.pk), []),
        "portfolio": project.portfolio,
    }
    return render(request, "portfolios/project_form.html", context, status=status)


@_keeper
@require_http_methods(["GET", "POST"])
def project_delete(request: HttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_own(user=request.user, project_id=project_id)
    if request.method == "POST":
        services.project_delete(project=project, user=request.user)
        messages.success(request, f"Deleted {project.title!r}.")
        return redirect("portfolios:mine")
    return render(request, "portfolios/project_delete.html", {"project": project})


@_keeper
@require_POST
def evidence_attach(request: HttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_own(user=request.user, project_id=project_id)
    jobs = selectors.evidence_candidate_jobs(user=request.user)
    form = EvidenceForm(request.POST, jobs=jobs)
    # The service is the check (own, succeeded); the form's choices only help the page.
    job_id = request.POST.get("job", "")
    try:
        services.evidence_attach(project=project, user=request.user, job_id=job_id)
    except ApplicationError as exc:
        form.is_valid()
        form.errors.clear()
        _form_error(form, exc)
        return _project_page(request, project, evidence_form=form, status=400)
    messages.success(request, "Result attached, with its credential.")
    return redirect("portfolios:project", project_id=project.pk)


@_keeper
@require_POST
def evidence_remove(request: HttpRequest, project_id: int, evidence_id: int) -> HttpResponse:
    project = selectors.project_get_own(user=request.user, project_id=project_id)
    evidence = selectors.evidence_get_own(project=project, evidence_id=evidence_id)
    services.evidence_detach(evidence=evidence, user=request.user)
    messages.success(request, "Result removed from the project.")
    return redirect("portfolios:project", project_id=project.pk)


# --- the portfolio page -------------------------------------------------------------------


def public(request: HttpRequest, public_id) -> HttpResponse:
    try:
        portfolio = selectors.portfolio_get_visible(public_id=public_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    can_browse = selectors.portfolio_can_browse(request.user)
    context = {
        "portfolio": portfolio,
        "detail": selectors.portfolio_detail(portfolio),
        "is_owner": request.user.is_authenticated and portfolio.user_id == request.user.id,
        "can_browse": can_browse,
    }
    if can_browse and portfolio.is_published:
        shortlists = list(selectors.shortlist_list(user=request.user))
        context["add_form"] = ShortlistAddForm(initial={"portfolio": portfolio.public_id}, shortlists=shortlists)
        context["holding"] = list(selectors.shortlists_holding(user=request.user, portfolio=portfolio))
    return render(request, "portfolios/public.html", context)


def evidence_image(request: HttpRequest, public_id, evidence_id: int, artifact_id: int) -> FileResponse:
    """A plot from a result the learner published: images checked from their bytes only,
    served as labs serves them (nosniff, CSP sandbox); anything else has no URL here."""
    try:
        portfolio = selectors.portfolio_get_visible(public_id=public_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    artifact = selectors.evidence_image_artifact(portfolio=portfolio, evidence_id=evidence_id, artifact_id=artifact_id)
    if artifact is None:
        raise Http404("There is no such image.")
    response = artifact_response(artifact, inline=True)
    if response.get("Content-Disposition", "").startswith("attachment"):
        raise Http404("There is no such image.")  # the bytes are not an image after all
    return response


# --- hiring managers ----------------------------------------------------------------------


@_browser
def candidates(request: HttpRequest) -> HttpResponse:
    error = None
    try:
        filters = selectors.search_filters_parse(request.GET)
    except ApplicationError as exc:
        filters, error = None, exc
    context = {"query": request.GET, "error": error, "page": None, "cards": []}
    # A bad filter is a 400 naming it; htmx swaps only 2xx answers, so its request gets the
    # same message with 200 (the message lands in the results region it replaces).
    status = 400 if error and not request.headers.get("HX-Request") else 200
    if filters is not None:
        paginator = Paginator(selectors.portfolio_search(filters), SEARCH_PAGE_SIZE)
        page = paginator.get_page(request.GET.get("page"))
        context.update(page=page, cards=selectors.portfolio_cards(list(page)), filters=filters)
    from apps.labs.selectors import lab_list

    context["labs"] = lab_list()
    query = request.GET.copy()
    query.pop("page", None)
    context["query_string"] = query.urlencode()
    return render(request, "portfolios/candidates.html", context, status=status)


@_browser
@require_http_methods(["GET", "POST"])
def shortlists(request: HttpRequest) -> HttpResponse:
    form = ShortlistForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                shortlist = services.shortlist_create(user=request.user, name=form.cleaned_data["name"])
            except ApplicationError as exc:
                _form_error(form, exc)
                status = 400
            else:
                return redirect("portfolios:shortlist", shortlist_id=shortlist.pk)
        else:
            status = 400
    items = [
        {"shortlist": s, "count": selectors.shortlist_entries(s).count()}
        for s in selectors.shortlist_list(user=request.user)
    ]
    return render(request, "portfolios/shortlists.html", {"form": form, "items": items}, status=status)


@_browser
@require_POST
def shortlist_add(request: HttpRequest) -> HttpResponse:
    shortlists_qs = list(selectors.shortlist_list(user=request.user))
    form = ShortlistAddForm(request.POST, shortlists=shortlists_qs)
    if not form.is_valid():
        try:
            portfolio = selectors.portfolio_get_published(public_id=request.POST.get("portfolio", ""))
        except NotFound as exc:
            raise Http404(exc.message) from exc
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return redirect("portfolios:public", public_id=portfolio.public_id)
    public_id = form.cleaned_data["portfolio"]
    try:
        selectors.portfolio_get_published(public_id=public_id)
        if form.cleaned_data["shortlist"]:
            shortlist = selectors.shortlist_get(user=request.user, shortlist_id=form.cleaned_data["shortlist"])
        else:
            shortlist = services.shortlist_create(user=request.user, name=form.cleaned_data["new_name"])
        services.shortlist_entry_add(
            shortlist=shortlist, user=request.user, public_id=public_id, note=form.cleaned_data["note"]
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("portfolios:public", public_id=public_id)
    messages.success(request, f"Added to {shortlist.name!r}.")
    return redirect("portfolios:public", public_id=public_id)


@_browser
def shortlist_detail(request: HttpRequest, shortlist_id: int) -> HttpResponse:
    shortlist = selectors.shortlist_get(user=request.user, shortlist_id=shortlist_id)
    entries = list(selectors.shortlist_entries(shortlist))
    cards = {c["public_id"]: c for c in selectors.portfolio_cards([e.portfolio for e in entries])}
    rows = [
        {
            "entry": e,
            "card": cards[str(e.portfolio.public_id)],
            "form": NoteForm(initial={"note": e.note}, prefix=f"e{e.pk}"),
        }
        for e in entries
    ]
    context = {
        "shortlist": shortlist,
        "rows": rows,
        "hidden": selectors.shortlist_hidden_count(shortlist),
        "rename_form": ShortlistForm(initial={"name": shortlist.name}),
    }
    return render(request, "portfolios/shortlist.html", context)


@_browser
@require_POST
def shortlist_rename(request: HttpRequest, shortlist_id: int) -> HttpResponse:
    shortlist = selectors.shortlist_get(user=request.user, shortlist_id=shortlist_id)
    try:
        services.shortlist_rename(shortlist=shortlist, user=request.user, name=request.POST.get("name", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("portfolios:shortlist", shortlist_id=shortlist.pk)


@_browser
@require_http_methods(["GET", "POST"])
def shortlist_delete(request: HttpRequest, shortlist_id: int) -> HttpResponse:
    shortlist = selectors.shortlist_get(user=request.user, shortlist_id=shortlist_id)
    if request.method == "POST":
        services.shortlist_delete(shortlist=shortlist, user=request.user)
        messages.success(request, f"Deleted the shortlist {shortlist.name!r}.")
        return redirect("portfolios:shortlists")
    return render(request, "portfolios/shortlist_delete.html", {"shortlist": shortlist})


@_browser
@require_POST
def entry_note(request: HttpRequest, shortlist_id: int, entry_id: int) -> HttpResponse:
    shortlist = selectors.shortlist_get(user=request.user, shortlist_id=shortlist_id)
    entry = selectors.shortlist_entry_get(shortlist=shortlist, entry_id=entry_id)
    form = NoteForm(request.POST, prefix=f"e{entry.pk}")
    status = 200
    if form.is_valid():
        try:
            services.shortlist_entry_update(entry=entry, user=request.user, note=form.cleaned_data["note"])
        except ApplicationError as exc:
            _form_error(form, exc)
            status = 400
    else:
        status = 400
    if request.headers.get("HX-Request"):
        return render(
            request,
            "portfolios/partials/note_form.html",
            {"entry": entry, "shortlist": shortlist, "form": form, "saved": status == 200},
            status=status,
        )
    if status == 200:
        messages.success(request, "Note saved.")
    else:
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
    return redirect("portfolios:shortlist", shortlist_id=shortlist.pk)


@_browser
@require_POST
def entry_remove(request: HttpRequest, shortlist_id: int, entry_id: int) -> HttpResponse:
    shortlist = selectors.shortlist_get(user=request.user, shortlist_id=shortlist_id)
    entry = selectors.shortlist_entry_get(shortlist=shortlist, entry_id=entry_id)
    services.shortlist_entry_remove(entry=entry, user=request.user)
    messages.success(request, "Removed from the shortlist.")
    return redirect("portfolios:shortlist", shortlist_id=shortlist.pk)


@_browser
def shortlist_export(request: HttpRequest, shortlist_id: int) -> HttpResponse:
    shortlist = selectors.shortlist_get(user=request.user, shortlist_id=shortlist_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(selectors.shortlist_csv_rows(shortlist, base_url=request.build_absolute_uri("/").rstrip("/")))
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    safe_name = "".join(c if c.isalnum() or c in "-_" else "-" for c in shortlist.name)[:60] or "shortlist"
    response["Content-Disposition"] = f'attachment; filename="shortlist-{safe_name}.csv"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
