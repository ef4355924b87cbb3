from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.forms import SignupForm
from apps.core.home import home_panels
from apps.core.selectors import health_report
from apps.core.services import user_signup
from apps.core.throttles import throttle_post

# The home page's sections (title, url name, text, icon in static/img/icons.svg), each
# linked once its app serves it.
HOME_SECTIONS = (
    ("Roadmap", "curriculum:roadmap",
     "Six phases over 48 weeks, from prerequisites to LLMOps, with topics, checklists and milestone "
     "projects. Track your progress as you go.", "roadmap"),
    ("Search", "search",
     "Ask in your own words: articles, glossary terms, resources and roadmap topics, found by meaning "
     "as well as by keyword.", "search"),
    ("Hosted labs", "labs:index",
     "Train a tiny GPT or a spam classifier in a sandbox, with live logs, a loss chart and results "
     "graded against targets.", "labs"),
    ("Interview practice", "quiz:index",
     "Conceptual, coding, system-design, behavioural and rapid-fire questions with model answers.", "quiz"),
    ("Careers", "career:index",
     "Roles, salary ranges by region and level, and portfolios of verified results.", "career"),
)


def home(request: HttpRequest) -> HttpResponse:
    """Visitors see what the platform offers; a signed-in person sees their own work first
    (panels from each app, apps/core/home.py) and the sections below it."""
    sections = []
    for title, url_name, text, icon in HOME_SECTIONS:
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            url = None
        sections.append({"title": title, "url": url, "text": text, "icon": icon})
    panels = home_panels(request) if request.user.is_authenticated else []
    return render(request, "core/home.html", {"sections": sections, "panels": panels})


@throttle_post("signup", "sign-up")  # each account brings fresh lab quota: limit new ones per IP
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = user_signup(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        login(request, user, backend="apps.core.auth_backends.CachedPermissionsModelBackend")
        messages.success(request, f"Welcome, {user.username}! Start with Phase 0 of the roadmap.")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers and bots ask for /favicon.ico whatever the page says: send them to the mark."""
    return redirect(static("img/mark.svg"), permanent=True)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


def _error(request: HttpRequest, template: str, status: int, detail: str) -> HttpResponse:
    # API clients get JSON in the API's shape ({"detail": ...}), people get the site's page.
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": detail}, status=status)
    return render(request, template, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, "400.html", 400, "The request could not be understood (malformed or too large).")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, "403.html", 403, "You do not have permission to do this.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, "404.html", 404, "Not found.")


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors that touch the database: the database may be why we are here.
    from django.template import loader

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal error; it has been logged. Please try again."}, status=500)
    return HttpResponse(loader.get_template("500.html").render({}), status=500)
