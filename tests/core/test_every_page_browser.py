"""Every page, for every role, at phone (360 px) and desktop (1440 px) width (pages every role
shares: both widths as anonymous, phone width signed in), in headless Chromium against the
real ASGI server: the document is never wider than the viewport (wide tables scroll inside
their own box), and axe-core (vendored in tests/vendor, no CDN) finds no serious or critical
accessibility violation. A page that is added to the site and not to PAGES is caught by
test_every_page_is_listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core-4.14.1.min.js"
WIDTHS = ((360, 780), (1440, 900))  # the narrowest common phone and a wide desktop
ROLE_USERS = {"anon": None, "learner": "lena", "author": "ada", "hiring_manager": "hana"}


@pytest.fixture
def site(live_asgi_server, learner, author, hiring_manager, no_celery_sends):
    """Real content plus one of everything a page can show: a finished lab run with a chart,
    its credential, a published portfolio holding it, a shortlist with a note."""
    from apps.career.loader import career_load
    from apps.career.readiness_services import readiness_items_load
    from apps.credentials.services import credential_issue
    from apps.curriculum.loader import curriculum_load
    from apps.curriculum.models import Article, Phase, Resource, Topic
    from apps.labs.models import LabJobEvent
    from apps.labs.services import lab_catalog_sync
    from apps.portfolios import services as portfolios
    from tests.portfolios.conftest import make_job, published_portfolio

    content = Path(settings.CONTENT_DIR)
    curriculum_load(content)
    career_load(content)
    readiness_items_load(content)
    lab_catalog_sync()
    from apps.labs.models import Lab

    job = make_job(learner, Lab.objects.get(slug="spam-classifier"))
    LabJobEvent.objects.create(job=job, seq=1, type="log", payload={"stream": "stdout", "line": "accuracy = 0.97"})
    credential = credential_issue(job=job, user=learner)
    waiting = make_job(learner, Lab.objects.get(slug="char-gpt"), status="queued", metrics={})
    second = make_job(learner, Lab.objects.get(slug="spam-classifier"), metrics={"accuracy": 0.95})
    portfolio = published_portfolio(learner, job)
    shortlist = portfolios.shortlist_create(user=hiring_manager, name="Q3 hires")
    portfolios.shortlist_entry_add(
        shortlist=shortlist, user=hiring_manager, public_id=portfolio.public_id, note="Strong evals"
    )
    article = Article.objects.filter(status=Article.Status.PUBLISHED).first()
    from apps.quiz import services as quiz
    from apps.quiz.loader import quiz_load
    from apps.quiz.models import Question

    quiz_load(content)
    broadcasting = Question.objects.get(slug="numpy-broadcasting")
    quiz_attempt = quiz.attempt_submit(user=learner, question=broadcasting, answer="1")
    quiz_mock = quiz.mock_start(user=learner, seed=1)
    quiz_done = quiz.mock_finish(mock=quiz.mock_start(user=learner, seed=2), user=learner)  # with its report
    public = [
        reverse("home"),
        reverse("curriculum:roadmap"),
        reverse("curriculum:phase", args=[Phase.objects.order_by("number").first().slug]),
        reverse("curriculum:topic", args=[Topic.objects.exclude(article=None).first().slug]),
        reverse("curriculum:articles"),
        reverse("curriculum:article", args=[article.slug]),
        reverse("curriculum:glossary"),
        reverse("curriculum:resources"),
        reverse("curriculum:resource", args=[Resource.objects.first().slug]),
        reverse("search") + "?q=attention",
        reverse("labs:index"),
        reverse("labs:detail", args=["spam-classifier"]),
        reverse("career:index"),
        reverse("career:role", args=["llm-engineer"]),
        reverse("career:compare") + "?a=llm-engineer&b=ai-ml-engineer",
        reverse("career:salaries"),
        reverse("career:job-ready"),
        reverse("career:guide-index"),
        reverse("career:guide", args=["resume-red-flags"]),
        reverse("credentials:verify"),
        reverse("credentials:verify-id", args=[credential.pk]),
        reverse("portfolios:public", args=[portfolio.public_id]),
        reverse("quiz:index"),
        reverse("quiz:question", args=["scaled-dot-product-attention"]),
    ]
    project = portfolio.projects.get()
    revision = article.revisions.order_by("-version").first()
    from apps.tutor.models import Conversation, Turn

    chat = Conversation.objects.create(user=learner, title="How do transformers know word order?")
    Turn.objects.create(
        conversation=chat, user=learner, question=chat.title, extractive=True, model="extractive", cited=[1],
        answer="Attention treats the input as a set, so position is added to each token [1].",
        citations=[{"n": 1, "kind": "article", "key": "positional-encoding", "title": "Positional encoding",
                    "url": "/learn/articles/positional-encoding/", "text": "Attention treats input as a set."}],
    )
    return live_asgi_server, {
        "anon": [*public, reverse("login"), reverse("signup")],
        "learner": [
            *public,
            reverse("labs:job-list"),
            reverse("labs:job-detail", args=[job.pk]),
            reverse("labs:job-detail", args=[waiting.pk]),
            reverse("labs:job-cancel", args=[waiting.pk]),
            reverse("labs:job-files-delete", args=[job.pk]),  # portfolio evidence: says why the files stay
            reverse("labs:job-compare") + f"?a={job.pk}&b={second.pk}",
            reverse("labs:job-compare") + "?lab=char-gpt",  # the picker, with its empty state
            reverse("career:readiness"),
            reverse("career:readiness-role", args=["llm-engineer"]),
            reverse("portfolios:mine"),
            reverse("portfolios:project", args=[project.pk]),
            reverse("portfolios:project-new"),
            reverse("credentials:job", args=[job.pk]),
            reverse("credentials:withdraw", args=[credential.pk]),
            reverse("portfolios:project-delete", args=[project.pk]),
            reverse("password_change"),
            reverse("password_change_done"),
            reverse("quiz:attempt", args=[quiz_attempt.pk]),
            reverse("quiz:queue"),
            reverse("quiz:mock-index"),
            reverse("quiz:mock", args=[quiz_mock.pk]),
            reverse("quiz:mock", args=[quiz_done.pk]),
            reverse("tutor:page"),
            reverse("tutor:page") + f"?c={chat.pk}",
            reverse("tutor:delete", args=[chat.pk]),
            reverse("tutor:history-delete"),
            reverse("tutor:playground"),
        ],
        "author": [
            *public,
            reverse("curriculum:author-articles"),
            reverse("curriculum:author-article-create"),
            reverse("curriculum:author-article-edit", args=[article.slug]),
            reverse("curriculum:author-article-revisions", args=[article.slug]),
            reverse("curriculum:author-article-revision", args=[article.slug, revision.version]),
            reverse("quiz:review"),
            reverse("quiz:attempt", args=[quiz_attempt.pk]),
        ],
        "hiring_manager": [
            *public,
            reverse("portfolios:candidates"),
            reverse("portfolios:shortlists"),
            reverse("portfolios:shortlist", args=[shortlist.pk]),
            reverse("portfolios:shortlist-delete", args=[shortlist.pk]),
        ],
    }


def _check(page, url: str, width: int) -> list[str]:
    problems = []
    response = page.goto(url)
    if response is None or response.status != 200:
        return [f"{url} at {width}px: status {response.status if response else None}"]
    document_width = page.evaluate("document.documentElement.scrollWidth")
    if document_width > width:
        wide = page.evaluate(
            """w => [...document.querySelectorAll('body *')]
                 .filter(e => e.getBoundingClientRect().right > w + 1).slice(0, 3)
                 .map(e => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ')[0] : ''))""",
            width,
        )
        problems.append(f"{url} at {width}px: document is {document_width}px wide ({', '.join(wide)})")
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.nodes.slice(0, 2).map(n => n.target.join(' ')).join(' | '))"
    )
    problems += [f"{url} at {width}px: axe {v}" for v in result]
    return problems


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_every_page_fits_phones_and_passes_axe(site, browser, role):
    base, pages = site
    problems: list[str] = []
    for width, height in WIDTHS:
        # bypass_csp: only so the test can inject axe; tests/core/test_security.py checks the CSP.
        context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        context.add_init_script(path=str(AXE))  # in every page before its own scripts
        page = context.new_page()
        page.set_default_timeout(60_000)  # the first search loads the embedding model
        if ROLE_USERS[role]:
            browser_login(page, base, ROLE_USERS[role])
        for path in pages[role]:
            # Signed in, the shared pages differ from anonymous ones only in the nav and a few
            # controls: check those at phone width; anonymous checks them at both widths.
            if role != "anon" and width > 1000 and path in pages["anon"]:
                continue
            problems += _check(page, base + path, width)
        context.close()
    assert problems == [], "\n".join(problems)


# Named routes that are not pages a person reads: files and documents for machines, and
# actions that only take a POST (each answers with a redirect or an htmx fragment).
NOT_PAGES = {
    "healthz",
    "favicon",
    "logout",
    "did-document",
    "portfolios:index",
    "labs:artifact-download",
    "labs:job-rerun",
    "portfolios:evidence-image",
    "portfolios:shortlist-export",
    "credentials:download",
    "credentials:issuer",
    "credentials:jwks",
    "credentials:status-list",
    "curriculum:topic-progress",
    "curriculum:checklist-toggle",
    "curriculum:article-done",
    "curriculum:author-preview",
    "curriculum:author-article-publish",
    "curriculum:author-article-revision-restore",
    "career:readiness-target-add",
    "career:readiness-target-remove",
    "career:readiness-item-toggle",
    "portfolios:publish",
    "portfolios:unpublish",
    "portfolios:evidence-attach",
    "portfolios:evidence-remove",
    "portfolios:shortlist-add",
    "portfolios:shortlist-rename",
    "portfolios:entry-note",
    "portfolios:entry-remove",
    "quiz:answer",
    "quiz:rate",
    "quiz:override",
    "quiz:mock-start",
    "quiz:mock-answer",
    "quiz:mock-finish",
    "tutor:ask",  # POST only: redirects to the conversation (tutor:page)
    "tutor:stream",  # POST only: server-sent events for tutor.js
}


def _view_names(patterns, namespace: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if str(pattern.pattern).startswith(("api/", "admin/")):
                continue
            inner = (
                f"{namespace}:{pattern.namespace}"
                if namespace and pattern.namespace
                else (pattern.namespace or namespace)
            )
            names |= _view_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name and not str(pattern.pattern).startswith("api/"):
            names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)
    return names


def test_every_page_is_listed(site):
    _base, pages = site
    visited = {resolve(path.split("?")[0]).view_name for paths in pages.values() for path in paths}
    missing = _view_names(get_resolver().url_patterns) - NOT_PAGES - visited
    assert missing == set(), "pages no browser check visits"
