"""Pages: the roadmap, phases, topics, articles, glossary, resources, and the author area.

Thin: selectors read, services write. Every action is a plain POST to its own URL that
redirects back; with htmx the same URL answers with just the part that changed.
"""

from __future__ import annotations

import difflib
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from apps.core.content_cache import FRAGMENT_TTL, content_generation
from apps.core.errors import ApplicationError
from apps.curriculum import selectors, services
from apps.curriculum.forms import ArticleForm, PreviewForm, ResourceFilterForm, TopicProgressForm
from apps.curriculum.markdown import glossary_index, render_checked, render_markdown
from apps.curriculum.models import Article, Section, TopicProgress

RESOURCES_PER_PAGE = 20


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """Redirect to ``next`` when it is a URL on this site, else to ``default``."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(default)


def _login_to_track(request: HttpRequest, page: str) -> HttpResponse:
    if request.htmx:
        # A redirect would swap the login page into the button area; ask htmx to navigate.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = f"{reverse('login')}?{urlencode({'next': page})}"
        return response
    return redirect_to_login(page)


# --- Reading -------------------------------------------------------------------------


@require_GET
def roadmap(request: HttpRequest) -> HttpResponse:
    # The page is cached per (content generation, progress digest); the roadmap itself is
    # read only when the template misses.
    progress = selectors.progress_overlay(request.user)
    return render(
        request,
        "curriculum/roadmap.html",
        {
            "roadmap": SimpleLazyObject(lambda: selectors.roadmap_get(request.user, progress)),
            "progress": progress,
            "content_generation": content_generation(),
            "fragment_ttl": FRAGMENT_TTL,
        },
    )


@require_GET
def phase(request: HttpRequest, slug: str) -> HttpResponse:
    view = selectors.phase_view_get(slug, request.user)
    index = glossary_index()
    previous, following = selectors.phase_neighbors(view.phase)
    milestones = [(m, render_markdown(m.description, index=index).html) for m in view.milestones]
    return render(
        request,
        "curriculum/phase.html",
        {
            "view": view,
            "summary_html": render_markdown(view.phase.summary, index=index).html,
            "milestones": milestones,
            "previous": previous,
            "following": following,
        },
    )


@require_GET
def topic(request: HttpRequest, slug: str) -> HttpResponse:
    # Cached per content generation and audience (drafts), the side lists also per progress;
    # the topic and its relations are read only when a fragment misses.
    head = selectors.topic_head(slug)
    progress = selectors.progress_overlay(request.user)
    topic = SimpleLazyObject(lambda: selectors.topic_get(slug, request.user))

    def nodes(related: str) -> list[selectors.TopicNode]:
        return [
            selectors.TopicNode(
                t, progress.statuses.get(t.id, TopicProgress.Status.NOT_STARTED), progress.mastery.get(t.id)
            )
            for t in getattr(topic, related).all()
        ]

    return render(
        request,
        "curriculum/topic.html",
        {
            "head": head,
            "topic": topic,
            "status": progress.statuses.get(head.id, TopicProgress.Status.NOT_STARTED),
            "prerequisites": SimpleLazyObject(lambda: nodes("prerequisites")),
            "unlocks": SimpleLazyObject(lambda: nodes("unlocks")),
            "summary_html": SimpleLazyObject(lambda: render_markdown(topic.summary).html),
            "audience": selectors.audience(request.user),
            "progress": progress,
            "content_generation": content_generation(),
            "fragment_ttl": FRAGMENT_TTL,
        },
    )


@require_POST
def topic_progress(request: HttpRequest, slug: str) -> HttpResponse:
    topic = selectors.topic_get(slug, request.user)
    page = topic.get_absolute_url()
    if not request.user.is_authenticated:
        return _login_to_track(request, page)
    form = TopicProgressForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Choose one of: " + ", ".join(TopicProgress.Status.values), status=400)
    progress = services.topic_progress_set(request.user, topic, form.cleaned_data["status"])
    if request.htmx:
        return render(
            request,
            "curriculum/partials/topic_progress.html",
            {
                "topic": topic,
                "status": progress.status,
                "just_saved": True,
            },
        )
    messages.success(request, f"{topic.title}: {progress.get_status_display().lower()}.")
    return _back(request, page)


@require_POST
def checklist_toggle(request: HttpRequest, slug: str) -> HttpResponse:
    item = selectors.checklist_item_get(slug)
    page = item.phase.get_absolute_url() + "#checklist"
    if not request.user.is_authenticated:
        return _login_to_track(request, page)
    ticked = services.checklist_item_toggle(request.user, item)
    if request.htmx:
        return render(request, "curriculum/partials/checklist_item.html", {"item": item, "ticked": ticked})
    return _back(request, page)


@require_GET
def article_index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "curriculum/article_index.html",
        {
            "sections": selectors.articles_by_section(request.user),
            "read_ids": selectors.read_article_ids(request.user),
        },
    )


@require_GET
def article(request: HttpRequest, slug: str) -> HttpResponse:
    # The article's fragments are cached per content generation and audience (drafts, the
    # edit link); only the "mark as done" box is drawn for each request.
    head = selectors.article_head(slug, request.user)
    article = SimpleLazyObject(lambda: selectors.article_get(slug, request.user))
    rendered = SimpleLazyObject(lambda: render_markdown(article.body))
    neighbors = SimpleLazyObject(lambda: selectors.article_neighbors(article, request.user))
    return render(
        request,
        "curriculum/article.html",
        {
            "head": head,
            "article": article,
            "body_html": SimpleLazyObject(lambda: rendered.html),
            "toc": SimpleLazyObject(lambda: rendered.toc),
            "section_label": SimpleLazyObject(lambda: Section(article.section).label),
            "previous": SimpleLazyObject(lambda: neighbors[0]),
            "following": SimpleLazyObject(lambda: neighbors[1]),
            "is_read": selectors.article_is_read(request.user, head),
            "topics": SimpleLazyObject(
                lambda: list(article.topics.select_related("phase").order_by("phase__number", "order"))
            ),
            "can_edit": services.article_can_change(request.user, head),
            # About 220 words a minute, never "0 min".
            "read_minutes": SimpleLazyObject(lambda: max(1, round(len(article.body.split()) / 220))),
            "audience": selectors.audience(request.user),
            "content_generation": content_generation(),
            "fragment_ttl": FRAGMENT_TTL,
        },
    )


@require_POST
def article_done(request: HttpRequest, slug: str) -> HttpResponse:
    article = selectors.article_get(slug, request.user)
    if not request.user.is_authenticated:
        return _login_to_track(request, article.get_absolute_url())
    done = services.article_read_set(request.user, article, request.POST.get("done") == "1")
    if request.htmx:
        return render(request, "curriculum/partials/article_done.html", {"article": article, "is_read": done})
    return _back(request, article.get_absolute_url())


@require_GET
def glossary(request: HttpRequest) -> HttpResponse:
    letters = selectors.glossary_by_letter()
    entries = [
        (letter, [(term, render_markdown(term.long, link_terms=False).html) for term in terms])
        for letter, terms in letters
    ]
    present = {letter for letter, _ in letters}
    alphabet = [(c, c in present) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"] + ([("#", True)] if "#" in present else [])
    return render(request, "curriculum/glossary.html", {"entries": entries, "alphabet": alphabet})


@require_GET
def resources(request: HttpRequest) -> HttpResponse:
    form = ResourceFilterForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else {}
    qs = selectors.resource_list(
        kind=filters.get("kind") or None, cost=filters.get("cost") or None, topic=filters.get("topic") or None
    )
    page = Paginator(qs, RESOURCES_PER_PAGE).get_page(request.GET.get("page"))
    kept = {k: v for k, v in filters.items() if v}
    template = "curriculum/partials/resource_results.html" if request.htmx else "curriculum/resources.html"
    return render(request, template, {"form": form, "page": page, "querystring": urlencode(kept), "filters": kept})


@require_GET
def resource(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "curriculum/resource.html", {"resource": selectors.resource_get(slug)})


# --- Author area ---------------------------------------------------------------------


def author_required(view):
    """Authors only: anonymous visitors are sent to log in, everyone else gets a 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not selectors.user_is_author(request.user):
            raise DjangoPermissionDenied("Only authors can use the author area.")
        return view(request, *args, **kwargs)

    return wrapper


@author_required
@require_GET
def author_articles(request: HttpRequest) -> HttpResponse:
    articles = Article.objects.select_related("updated_by").order_by("section", "order", "title")
    return render(request, "curriculum/author/article_list.html", {"articles": articles})


def _diff_table(old: str, new: str, old_label: str, new_label: str) -> str:
    """A side-by-side diff; difflib escapes the lines, we escape the labels."""
    table = difflib.HtmlDiff(wrapcolumn=60).make_table(
        old.splitlines(), new.splitlines(), escape(old_label), escape(new_label), context=True, numlines=3
    )
    return mark_safe(table)  # noqa: S308 - difflib escapes &, < and > in every line; labels escaped above


def _preview(body: str) -> dict:
    """The preview pane: the rendered text, what was shown as text, and why a save would be refused."""
    if not body.strip():
        return {"preview_html": '<p class="muted">Nothing to preview yet.</p>'}
    rendered = render_checked(body)
    return {"preview_html": rendered.html, "preview_warnings": rendered.warnings, "preview_errors": rendered.errors}


def _saved(request: HttpRequest, article: Article, message: str) -> None:
    messages.success(request, message)
    for warning in services.article_body_warnings(article.body):
        messages.warning(request, warning)


def _editor(
    request: HttpRequest,
    form: ArticleForm,
    article: Article | None,
    *,
    status: int = 200,
    conflict: Article | None = None,
    preview_body: str | None = None,
) -> HttpResponse:
    context = {"form": form, "article": article, **(_preview(preview_body) if preview_body is not None else {})}
    if conflict is not None:
        context["conflict"] = conflict
        context["conflict_diff"] = _diff_table(
            conflict.body, form.data.get("body", ""), f"Saved version {conflict.version}", "Your text"
        )
    return render(request, "curriculum/author/article_form.html", context, status=status)


@author_required
def author_article_create(request: HttpRequest) -> HttpResponse:
    form = ArticleForm(request.POST or None)
    if request.method == "POST" and request.POST.get("action") == "preview":
        return _editor(request, form, None, preview_body=request.POST.get("body", ""))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            article = services.article_create(
                user=request.user,
                slug=data["slug"],
                title=data["title"],
                section=data["section"],
                summary=data["summary"],
                body=data["body"],
                order=data["order"],
                topics=data["topics"],
                note=data["note"],
            )
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            _saved(request, article, f"Draft “{article.title}” created. Publish it when it is ready.")
            return redirect("curriculum:author-article-edit", slug=article.slug)
    return _editor(request, form, None, status=400 if form.errors else 200)


@author_required
def author_article_edit(request: HttpRequest, slug: str) -> HttpResponse:
    article = selectors.article_get_for_author(slug)
    if request.method != "POST":
        return _editor(request, ArticleForm(initial=ArticleForm.initial_for(article), article=article), article)
    form = ArticleForm(request.POST, article=article, initial={"slug": article.slug})
    if request.POST.get("action") == "preview":
        return _editor(request, form, article, preview_body=request.POST.get("body", ""))
    if not form.is_valid():
        return _editor(request, form, article, status=400)
    data = form.cleaned_data
    try:
        updated = services.article_update(
            article,
            user=request.user,
            expected_version=data["expected_version"],
            title=data["title"],
            summary=data["summary"],
            body=data["body"],
            section=data["section"],
            order=data["order"],
            topics=data["topics"],
            note=data["note"],
        )
    except services.ArticleEditConflict as exc:
        # Nothing is saved and nothing is lost: the author's text goes back into the form.
        form.add_error(None, exc.message)
        return _editor(
            request,
            form,
            article,
            status=409,
            conflict=selectors.article_get_for_author(slug),
            preview_body=data["body"],
        )
    except ApplicationError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _editor(request, form, article, status=400)
    if updated.version == article.version:
        messages.info(request, "Nothing changed, so nothing was saved.")
    else:
        _saved(request, updated, f"Saved as version {updated.version}.")
    return redirect("curriculum:author-article-edit", slug=slug)


@author_required
@require_POST
def author_preview(request: HttpRequest) -> HttpResponse:
    form = PreviewForm(request.POST)
    if not form.is_valid():  # e.g. a NUL character: say so instead of previewing nothing
        errors = [e for field_errors in form.errors.values() for e in field_errors]
        return render(request, "curriculum/author/preview.html", {"preview_errors": errors})
    return render(request, "curriculum/author/preview.html", _preview(form.cleaned_data["body"]))


@author_required
@require_POST
def author_article_publish(request: HttpRequest, slug: str) -> HttpResponse:
    article = selectors.article_get_for_author(slug)
    try:
        if request.POST.get("publish", "1") == "1":
            services.article_publish(article, user=request.user)
            messages.success(request, f"“{article.title}” is published.")
        else:
            services.article_unpublish(article, user=request.user)
            messages.success(request, f"“{article.title}” is a draft again; readers no longer see it.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _back(request, reverse("curriculum:author-article-edit", args=[slug]))


@author_required
@require_GET
def author_article_revisions(request: HttpRequest, slug: str) -> HttpResponse:
    article = selectors.article_get_for_author(slug)
    return render(
        request,
        "curriculum/author/revisions.html",
        {
            "article": article,
            "revisions": selectors.article_revisions(article),
        },
    )


@author_required
@require_GET
def author_article_revision(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    article = selectors.article_get_for_author(slug)
    revision = selectors.article_revision_get(article, version)
    diff = _diff_table(
        revision.body, article.body, f"Version {revision.version}", f"Current (version {article.version})"
    )
    return render(
        request,
        "curriculum/author/revision.html",
        {
            "article": article,
            "revision": revision,
            "diff": diff,
            "same": (revision.title, revision.summary, revision.body) == (article.title, article.summary, article.body),
        },
    )


@author_required
@require_POST
def author_article_revision_restore(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    article = selectors.article_get_for_author(slug)
    revision = selectors.article_revision_get(article, version)
    try:
        expected = int(request.POST.get("expected_version", article.version))
        updated = services.article_revision_restore(
            article, revision=revision, user=request.user, expected_version=expected
        )
    except (ValueError, TypeError):
        messages.error(request, "The form was incomplete; reload the page and try again.")
        return redirect("curriculum:author-article-revision", slug=slug, version=version)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("curriculum:author-article-revision", slug=slug, version=version)
    if updated.version == article.version:
        messages.info(request, f"Version {version} is the same as the current text; nothing to restore.")
    else:
        _saved(request, updated, f"Restored version {version} as the new version {updated.version}.")
    return redirect("curriculum:author-article-edit", slug=slug)
