"""Quiz pages: the bank, practising one question, an attempt's result, the due queue and mock
interviews. Thin: selectors read, services write; every action is a plain form POST (htmx
only polls a code attempt while the sandbox runs it).

Permissions: the bank and questions are public reading; answering, the queue and mock
interviews need a learner account (others get 403); an attempt is its owner's (404 for
anyone else) except that authors may open any attempt to override or regrade it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.core import roles
from apps.core.errors import ApplicationError, NotFound, PermissionDenied
from apps.curriculum.markdown import render_markdown
from apps.quiz import scheduling, selectors, services
from apps.quiz.models import Attempt, Category, Difficulty

PAGE_SIZE = 100


def _learner(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not roles.user_has_role(request.user, roles.LEARNER):
            raise DjangoPermissionDenied("Practice is for learner accounts.")
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from None

    return wrapper


def _signed_in(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from None
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from None

    return wrapper


class FilterForm(forms.Form):
    category = forms.ChoiceField(choices=[("", "All types"), *Category.choices], required=False, label="Type")
    difficulty = forms.ChoiceField(choices=[("", "Any difficulty"), *Difficulty.choices], required=False)
    phase = forms.TypedChoiceField(choices=[("", "All phases")] + [(str(i), f"Phase {i}") for i in range(6)],
                                   coerce=int, empty_value=None, required=False)
    topic = forms.ChoiceField(choices=[], required=False)
    q = forms.CharField(required=False, max_length=100, label="Contains")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["topic"].choices = [("", "All topics")] + [
            (t.slug, f"{t.phase.number}: {t.title}") for t in selectors.question_topics().select_related("phase")
        ]


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    form = FilterForm(request.GET or None)
    status = 200
    filters = {}
    if request.GET:
        if form.is_valid():
            filters = {k: v for k, v in form.cleaned_data.items() if v not in ("", None)}
        else:
            status = 400
    questions = list(selectors.question_list(**filters)[:PAGE_SIZE]) if status == 200 else []
    learner = roles.user_has_role(request.user, roles.LEARNER)
    if learner:
        states = selectors.review_states(user=request.user)
        now = timezone.now()
        for q in questions:
            state = states.get(q.pk)
            q.last_score = state.last_score if state else None
            q.is_due = bool(state and state.due <= now)
    context = {
        "form": form,
        "questions": questions,
        "filtered": bool(filters),
        "due_count": selectors.due_count(user=request.user) if learner else None,
        "learner": learner,
    }
    return render(request, "quiz/index.html", context, status=status)


def _question_context(request: HttpRequest, question, *, answer: str = "", error: str = "") -> dict:
    learner = roles.user_has_role(request.user, roles.LEARNER)
    attempts = list(selectors.attempt_list(user=request.user, question=question)[:10]) if learner else []
    return {
        "question": question,
        "review": question.reviews.filter(user=request.user).first() if learner else None,
        "now": timezone.now(),
        "prompt_html": render_markdown(question.prompt).html,
        "model_answer_html": render_markdown(question.model_answer).html,
        "attempts": attempts,
        "learner": learner,
        "answer": answer if answer else (question.starter_code if question.answer_kind == "code" else ""),
        "error": error,
        "limit": services.answer_limit(question),
        "choices": list(enumerate(question.choices)),
    }


@require_GET
def question(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        q = selectors.question_get(slug)
    except NotFound as exc:
        raise Http404(exc.message) from None
    return render(request, "quiz/question.html", _question_context(request, q))


@require_POST
@_learner
def answer(request: HttpRequest, slug: str) -> HttpResponse:
    q = selectors.question_get(slug)
    text = request.POST.get("answer", "")
    try:
        attempt = services.attempt_submit(user=request.user, question=q, answer=text)
    except ApplicationError as exc:
        context = _question_context(request, q, answer=text[: services.answer_limit(q)], error=exc.message)
        return render(request, "quiz/question.html", context, status=exc.status_code)
    return redirect(attempt.get_absolute_url())


def _attempt_context(request: HttpRequest, attempt: Attempt) -> dict:
    question = attempt.question
    own = attempt.user_id == request.user.pk
    return {
        "attempt": attempt,
        "question": question,
        "own": own,
        "can_override": roles.user_has_role(request.user, roles.AUTHOR),
        "model_answer_html": render_markdown(question.model_answer).html,
        "topics": list(question.topics.select_related("article")),
        "grades": list(selectors.attempt_grades(attempt)),
        "can_rate": own and attempt.status == Attempt.Status.GRADED and selectors.attempt_is_latest(attempt),
        "ratings": sorted(scheduling.RATING_LABELS.items()),
        "review": attempt.question.reviews.filter(user_id=attempt.user_id).first(),
        "running": attempt.status in (Attempt.Status.PENDING, Attempt.Status.GRADING),
        "stale_version": attempt.grading_version != question.grading_version,
    }


@require_GET
@_signed_in
def attempt(request: HttpRequest, pk: int) -> HttpResponse:
    a = selectors.attempt_get(pk=pk, user=request.user)
    context = _attempt_context(request, a)
    if request.headers.get("HX-Request"):
        return render(request, "quiz/partials/attempt_result.html", context)
    return render(request, "quiz/attempt.html", context)


@require_POST
@_learner
def rate(request: HttpRequest, pk: int) -> HttpResponse:
    a = selectors.attempt_get(pk=pk, user=request.user)
    try:
        rating = int(request.POST.get("rating", ""))
    except ValueError:
        rating = 0
    try:
        services.review_rate(attempt=a, user=request.user, rating=rating)
    except ApplicationError as exc:
        context = {**_attempt_context(request, a), "error": exc.message}
        return render(request, "quiz/attempt.html", context, status=exc.status_code)
    return redirect(a.get_absolute_url())


@require_POST
@_signed_in
def override(request: HttpRequest, pk: int) -> HttpResponse:
    a = selectors.attempt_get(pk=pk, user=request.user)
    if not roles.user_has_role(request.user, roles.AUTHOR):
        raise DjangoPermissionDenied("Only authors can override a grade.")
    try:
        score = int(request.POST.get("score", ""))
    except ValueError:
        score = -1
    try:
        if request.POST.get("action") == "regrade":
            services.attempt_regrade(attempt=a, reviewer=request.user)
        else:
            services.attempt_override(attempt=a, reviewer=request.user, score=score, note=request.POST.get("note", ""))
    except ApplicationError as exc:
        context = {**_attempt_context(request, a), "error": exc.message}
        return render(request, "quiz/attempt.html", context, status=exc.status_code)
    return redirect(a.get_absolute_url())


GRADERS = ("embedding", "llm-judge", "choice", "sandbox", "empty", "override")


@require_GET
@_signed_in
def review(request: HttpRequest) -> HttpResponse:
    """Authors: recent answers by every learner, to check grades and override them."""
    if not roles.user_has_role(request.user, roles.AUTHOR):
        raise DjangoPermissionDenied("Reviewing answers is for authors.")
    grader = request.GET.get("grader", "")
    if grader and grader not in GRADERS:
        grader = ""
    context = {"attempts": selectors.attempts_for_review(grader=grader), "grader": grader, "graders": GRADERS}
    return render(request, "quiz/review.html", context)


@require_GET
@_learner
def queue(request: HttpRequest) -> HttpResponse:
    context = {
        "due": selectors.due_queue(user=request.user),
        "upcoming": selectors.upcoming(user=request.user),
        "mastery": selectors.topic_mastery(user=request.user),
        "retention": round(settings.QUIZ_DESIRED_RETENTION * 100),
        "recent": list(selectors.attempt_list(user=request.user)[:10]),
    }
    return render(request, "quiz/queue.html", context)


@require_GET
@_learner
def mock_index(request: HttpRequest) -> HttpResponse:
    mocks = list(selectors.mock_list(user=request.user)[:50])
    mocks = [services.mock_expire(m) for m in mocks]
    return render(request, "quiz/mock_index.html", {"mocks": mocks, "minutes": settings.QUIZ_MOCK_MINUTES})


@require_POST
@_learner
def mock_start(request: HttpRequest) -> HttpResponse:
    try:
        minutes = int(request.POST.get("minutes") or settings.QUIZ_MOCK_MINUTES)
    except ValueError:
        minutes = -1
    try:
        mock = services.mock_start(user=request.user, minutes=minutes)
    except ApplicationError as exc:
        mocks = list(selectors.mock_list(user=request.user)[:50])
        context = {"mocks": mocks, "minutes": settings.QUIZ_MOCK_MINUTES, "error": exc.message}
        return render(request, "quiz/mock_index.html", context, status=exc.status_code)
    return redirect(mock.get_absolute_url())


def _mock_context(mock, *, error: str = "", error_slug: str = "") -> dict:
    return {
        "mock": mock,
        "items": [
            {"question": q, "attempt": a, "prompt_html": render_markdown(q.prompt).html,
             "choices": list(enumerate(q.choices)), "limit": services.answer_limit(q)}
            for q, a in selectors.mock_questions(mock)
        ],
        "seconds_left": selectors.mock_seconds_left(mock),
        "report": selectors.mock_report(mock) if mock.status == mock.Status.FINISHED else None,
        "error": error,
        "error_slug": error_slug,
    }


@require_GET
@_learner
def mock(request: HttpRequest, pk: int) -> HttpResponse:
    m = services.mock_expire(selectors.mock_get(pk=pk, user=request.user))
    return render(request, "quiz/mock.html", _mock_context(m))


@require_POST
@_learner
def mock_answer(request: HttpRequest, pk: int, slug: str) -> HttpResponse:
    m = selectors.mock_get(pk=pk, user=request.user)
    q = selectors.question_get(slug)
    try:
        services.attempt_submit(user=request.user, question=q, answer=request.POST.get("answer", ""), mock=m)
    except ApplicationError as exc:
        m = selectors.mock_get(pk=pk, user=request.user)
        return render(request, "quiz/mock.html", _mock_context(m, error=exc.message, error_slug=slug),
                      status=exc.status_code)
    return redirect(f"{m.get_absolute_url()}#q-{slug}")


@require_POST
@_learner
def mock_finish(request: HttpRequest, pk: int) -> HttpResponse:
    m = selectors.mock_get(pk=pk, user=request.user)
    services.mock_finish(mock=m, user=request.user)
    return redirect(m.get_absolute_url())
