"""Quiz writes: answering (graded at once, or in the sandbox for code), the review schedule,
author overrides and regrades, mock interviews.

Grading runs outside the transaction (an embedding or sandbox run takes a while); each
write - the attempt, its grade, the review card - then happens in one transaction, so an
attempt is never saved half-graded.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core import roles
from apps.core.errors import ApplicationError, NotFound, PermissionDenied, Throttled
from apps.labs.sandbox import SandboxError
from apps.quiz import grading, scheduling
from apps.quiz.models import Attempt, Category, Grade, MockSession, Question, ReviewState

logger = logging.getLogger(__name__)

TASK_GRADE_CODE = "quiz.attempt_grade_code"


class Conflict(ApplicationError):
    status_code = 409


class TooLarge(ApplicationError):
    status_code = 413


def answer_limit(question: Question) -> int:
    return settings.QUIZ_MAX_CODE_CHARS if question.answer_kind == "code" else settings.QUIZ_MAX_ANSWER_CHARS


def _check_answer(question: Question, answer: Any) -> str:
    if answer is None:
        answer = ""
    if not isinstance(answer, str):
        raise ApplicationError("The answer must be text.", field="answer")
    if "\x00" in answer:
        raise ApplicationError("The answer contains a NUL character; remove it and try again.", field="answer")
    limit = answer_limit(question)
    if len(answer) > limit:
        raise TooLarge(
            f"Your answer is {len(answer):,} characters; the limit is {limit:,}. Shorten it and submit again.",
            field="answer",
        )
    if question.answer_kind == "choice" and answer.strip():
        try:
            index = int(answer.strip())
        except ValueError:
            index = -1
        if not 0 <= index < len(question.choices):
            raise ApplicationError(
                f"Pick one of the choices: a number from 0 to {len(question.choices) - 1}.", field="answer"
            )
        return str(index)
    return answer


def _grade_now(question: Question, answer: str) -> grading.GradeOutcome:
    if not answer.strip():
        what = "Pick one of the choices." if question.answer_kind == "choice" else "Write what you know."
        return grading.GradeOutcome(0, "empty", {"matched": [], "missed": [p["text"] for p in question.key_points]},
                                    f"Your answer is empty, so it scores 0. {what}")
    if question.answer_kind == "choice":
        return grading.choice_grade(question, answer)
    return grading.text_grader().grade(question, answer)


def _review(attempt: Attempt, rating: int, when) -> None:
    """Review the learner's card with ``rating`` (inside the caller's transaction)."""
    state = (
        ReviewState.objects.select_for_update().filter(user_id=attempt.user_id, question_id=attempt.question_id).first()
    )
    card = scheduling.card_from(state.card if state else None, attempt.question_id)
    updated = scheduling.review(card, rating, when)
    if state is None:
        state = ReviewState(user_id=attempt.user_id, question_id=attempt.question_id)
    attempt.card_before = card.to_dict()
    attempt.rating = int(rating)
    state.card = updated.to_dict()
    state.due = updated.due
    state.stability = updated.stability
    state.last_score = attempt.score
    state.reviews += 1
    state.save()


def _record(attempt: Attempt, outcome: grading.GradeOutcome, *, review: bool = True) -> Attempt:
    attempt.score = outcome.score
    attempt.grader = outcome.grader
    attempt.result = outcome.result
    attempt.feedback = outcome.feedback
    attempt.status = Attempt.Status.GRADED
    attempt.grading_version = attempt.question.grading_version
    attempt.save()
    Grade.objects.create(attempt=attempt, grader=outcome.grader, score=outcome.score, result=outcome.result,
                         details=outcome.details, grading_version=attempt.grading_version)
    if review:
        _review(attempt, scheduling.rating_for_score(outcome.score), attempt.created_at)
        attempt.save(update_fields=["card_before", "rating"])
    return attempt


def _mock_check(mock: MockSession | None, user: Any, question: Question) -> None:
    if mock is None:
        return
    if mock.user_id != user.pk:
        raise NotFound("No such mock interview.")
    mock_expire(mock)
    if mock.status != MockSession.Status.ACTIVE:
        raise Conflict("This mock interview has ended; its report is ready.")
    if question.pk not in mock.questions:
        raise ApplicationError("That question is not part of this mock interview.", field="question")
    if Attempt.objects.filter(mock=mock, question=question).exists():
        raise Conflict("You already answered this question in this mock interview.")


def _check_rate(user: Any, question: Question) -> None:
    """Grading costs CPU (embeddings) or a sandbox run: cap answers per minute, and code
    answers still running, per learner."""
    recent = Attempt.objects.filter(user=user, created_at__gte=timezone.now() - timedelta(minutes=1)).count()
    if recent >= settings.QUIZ_MAX_ATTEMPTS_PER_MINUTE:
        raise Throttled(f"You sent {recent} answers in the last minute; wait a minute and try again.",
                        extra={"retry_after": 60})
    if question.answer_kind == "code":
        running = Attempt.objects.filter(
            user=user, status__in=(Attempt.Status.PENDING, Attempt.Status.GRADING)
        ).count()
        if running >= settings.QUIZ_MAX_RUNNING_CODE:
            raise Throttled(f"{running} of your code answers are still running; wait for their results.",
                            extra={"retry_after": settings.QUIZ_CODE_WALL_SECONDS})


def attempt_submit(*, user: Any, question: Question, answer: Any, mock: MockSession | None = None) -> Attempt:
    """Answer ``question``. Text and choices are graded now; code is queued for the sandbox
    (the attempt is ``pending`` until ``attempt_grade_code`` runs). Raises ApplicationError
    (400, 409, 413, 429) with a message saying what to change."""
    if not roles.user_has_role(user, roles.LEARNER):
        raise PermissionDenied("Practising needs a learner account.")
    answer = _check_answer(question, answer)
    _mock_check(mock, user, question)
    _check_rate(user, question)
    if question.answer_kind == "code" and answer.strip():
        with transaction.atomic():
            attempt = Attempt.objects.create(user=user, question=question, answer=answer, mock=mock,
                                             status=Attempt.Status.PENDING, grader="sandbox",
                                             grading_version=question.grading_version)
            transaction.on_commit(lambda: _send_grade_task(attempt.pk))
        return attempt
    outcome = _grade_now(question, answer)
    with transaction.atomic():
        attempt = Attempt(user=user, question=question, answer=answer, mock=mock)
        attempt.save()
        return _record(attempt, outcome)


def _send_grade_task(attempt_id: int) -> None:
    from config.celery import app

    try:
        app.send_task(TASK_GRADE_CODE, args=[attempt_id], queue="cpu")
    except Exception:
        logger.exception("quiz: could not enqueue grading of attempt %s", attempt_id)


def attempt_grade_code(attempt_id: int) -> Attempt | None:
    """Run a pending code attempt's hidden tests in the sandbox and record the grade.

    Safe to run twice: the attempt is claimed with a conditional UPDATE (``pending ->
    grading``); a second delivery finds nothing to claim and returns None.
    """
    claimed = Attempt.objects.filter(pk=attempt_id, status=Attempt.Status.PENDING).update(
        status=Attempt.Status.GRADING
    )
    if not claimed:
        return None
    attempt = Attempt.objects.select_related("question").get(pk=attempt_id)
    question = attempt.question
    try:
        run = _run_tests(attempt.answer, question.tests, job_id=f"quiz-{attempt.pk}-{timezone.now():%H%M%S%f}")
    except SandboxError as exc:
        Attempt.objects.filter(pk=attempt.pk).update(
            status=Attempt.Status.FAILED,
            feedback=f"Your code could not be run: {exc.message} Try again later; nothing was scored.",
        )
        return Attempt.objects.get(pk=attempt.pk)
    except Exception:
        logger.exception("quiz: grading attempt %s failed", attempt.pk)
        Attempt.objects.filter(pk=attempt.pk).update(
            status=Attempt.Status.FAILED,
            feedback="The platform hit an internal error while running your code. Please try again.",
        )
        raise
    total = run["total"] or 1
    score = round(100 * run["passed"] / total)
    failing = [t["name"] for t in run["tests"] if not t["passed"]]
    feedback = f"{run['passed']} of {run['total']} hidden tests passed."
    if failing:
        feedback += f" Failing: {', '.join(failing)}."
    outcome = grading.GradeOutcome(score, "sandbox", {"tests": run["tests"], "passed": run["passed"],
                                                      "total": run["total"]}, feedback,
                                   {"exit": run["exit"], "log": run["log"]})
    with transaction.atomic():
        attempt = Attempt.objects.select_for_update().select_related("question").get(pk=attempt.pk)
        return _record(attempt, outcome)


def _run_tests(code: str, tests: list[dict], *, job_id: str) -> dict:
    from apps.quiz.code_runner import run_tests

    return run_tests(code, tests, job_id=job_id)


def attempt_override(*, attempt: Attempt, reviewer: Any, score: Any, note: str = "") -> Attempt:
    """An author sets an attempt's score (kept as a new grade; earlier grades stay)."""
    if not roles.user_has_role(reviewer, roles.AUTHOR):
        raise PermissionDenied("Only authors can override a grade.")
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
        raise ApplicationError("The score must be a whole number from 0 to 100.", field="score")
    if not isinstance(note, str) or len(note) > settings.QUIZ_MAX_NOTE_CHARS:
        raise ApplicationError(f"The note must be text of at most {settings.QUIZ_MAX_NOTE_CHARS} characters.",
                               field="note")
    if attempt.status != Attempt.Status.GRADED:
        raise Conflict("Only a graded attempt can be overridden.")
    with transaction.atomic():
        attempt = Attempt.objects.select_for_update().get(pk=attempt.pk)
        Grade.objects.create(attempt=attempt, grader="override", score=score, result=attempt.result,
                             details={"previous_score": attempt.score}, grading_version=attempt.grading_version,
                             reviewer=reviewer, note=note)
        attempt.score = score
        attempt.grader = "override"
        attempt.feedback = f"An author set this score. {note}".strip()
        attempt.save(update_fields=["score", "grader", "feedback", "updated_at"])
        ReviewState.objects.filter(user_id=attempt.user_id, question_id=attempt.question_id).update(last_score=score)
    return attempt


def attempt_regrade(*, attempt: Attempt, reviewer: Any) -> Attempt:
    """Grade a text or choice attempt again against the question's current key points and
    rubric (after an author changed them). Adds a grade; the history stays. The learner's
    schedule is not touched."""
    if not roles.user_has_role(reviewer, roles.AUTHOR):
        raise PermissionDenied("Only authors can regrade.")
    return _regrade(attempt)


def _regrade(attempt: Attempt) -> Attempt:
    question = attempt.question
    if question.answer_kind == "code":
        raise Conflict("Code attempts are graded by their tests; submit the code again instead.")
    outcome = _grade_now(question, attempt.answer)
    with transaction.atomic():
        attempt = Attempt.objects.select_for_update().select_related("question").get(pk=attempt.pk)
        return _record(attempt, outcome, review=False)


def attempts_regrade_stale(*, limit: int | None = None) -> int:
    """Regrade graded text and choice attempts whose question's grading material changed since
    (``manage.py quiz_regrade``, after ``load_content``). Overridden attempts keep the author's
    score; each regrade adds a grade, so the history stays. Returns how many were regraded."""
    from django.db.models import F

    stale = (
        Attempt.objects.filter(status=Attempt.Status.GRADED, grading_version__lt=F("question__grading_version"))
        .exclude(grader="override")
        .select_related("question")
        .order_by("pk")
    )
    done = 0
    for attempt in stale.iterator():
        if attempt.question.answer_kind == "code":
            continue
        _regrade(attempt)
        done += 1
        if limit is not None and done >= limit:
            break
    return done


def review_rate(*, attempt: Attempt, user: Any, rating: Any) -> ReviewState:
    """The learner changes the rating of their latest attempt at a question (again / hard /
    good / easy); the card is recomputed from its state before that attempt."""
    if isinstance(rating, bool) or rating not in (1, 2, 3, 4):
        raise ApplicationError("The rating must be 1 (again), 2 (hard), 3 (good) or 4 (easy).", field="rating")
    if attempt.user_id != user.pk:
        raise NotFound("No such attempt.")
    with transaction.atomic():
        latest = (
            Attempt.objects.select_for_update()
            .filter(user=user, question_id=attempt.question_id, status=Attempt.Status.GRADED)
            .order_by("-created_at", "-pk")
            .first()
        )
        if latest is None or latest.pk != attempt.pk or attempt.card_before is None:
            raise Conflict("Only your latest graded attempt at a question can be re-rated.")
        state = ReviewState.objects.select_for_update().get(user=user, question_id=attempt.question_id)
        card = scheduling.card_from(latest.card_before, attempt.question_id)
        updated = scheduling.review(card, rating, latest.created_at)
        state.card = updated.to_dict()
        state.due = updated.due
        state.stability = updated.stability
        state.save()
        latest.rating = rating
        latest.save(update_fields=["rating", "updated_at"])
    return state


# --- mock interviews ---------------------------------------------------------------------

MOCK_MIX = (
    (Category.CONCEPTUAL, 2),
    (Category.CODING, 1),
    (Category.SYSTEM_DESIGN, 1),
    (Category.BEHAVIORAL, 1),
    (Category.RAPID_FIRE, 2),
)


def mock_start(*, user: Any, minutes: Any = None, phase: Any = None, seed: int | None = None) -> MockSession:
    """Start a timed mock interview mixing question types like a real loop."""
    if not roles.user_has_role(user, roles.LEARNER):
        raise PermissionDenied("Mock interviews need a learner account.")
    minutes = settings.QUIZ_MOCK_MINUTES if minutes in (None, "") else minutes
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 5 <= minutes <= 120:
        raise ApplicationError("The length must be a whole number of minutes from 5 to 120.", field="minutes")
    if phase not in (None, "") and (isinstance(phase, bool) or not isinstance(phase, int) or not 0 <= phase <= 5):
        raise ApplicationError("The phase must be a number from 0 to 5.", field="phase")
    if MockSession.objects.filter(user=user, status=MockSession.Status.ACTIVE).count() >= 3:
        for active in MockSession.objects.filter(user=user, status=MockSession.Status.ACTIVE):
            mock_expire(active)
        if MockSession.objects.filter(user=user, status=MockSession.Status.ACTIVE).count() >= 3:
            raise Conflict("You have three mock interviews in progress: finish one first.")
    rng = random.Random(seed)  # noqa: S311 - picking practice questions, not secrets
    questions = Question.objects.all()
    if phase not in (None, ""):
        questions = questions.filter(phase__lte=phase)
    by_category: dict[str, list[int]] = {}
    for qid, category in questions.values_list("pk", "category"):
        by_category.setdefault(category, []).append(qid)
    # Questions the learner is about to forget or answered poorly come first, so a mock
    # interview also reviews; the rest of each type's slots are drawn at random.
    now = timezone.now()
    weak = set(
        ReviewState.objects.filter(user=user).filter(Q(due__lte=now) | Q(last_score__lt=65))
        .values_list("question_id", flat=True)
    )
    picked: list[int] = []
    for category, count in MOCK_MIX:
        pool = sorted(by_category.get(category, []))
        preferred = [pk for pk in pool if pk in weak]
        chosen = rng.sample(preferred, min(count, len(preferred)))
        rest = [pk for pk in pool if pk not in chosen]
        chosen += rng.sample(rest, min(count - len(chosen), len(rest)))
        picked += chosen
    if not picked:
        raise ApplicationError("There are no questions to ask yet: load the question bank first.")
    return MockSession.objects.create(user=user, questions=picked, duration_seconds=minutes * 60, started_at=now)


def mock_expire(mock: MockSession) -> MockSession:
    """Finish the session if its time is up (called whenever it is used)."""
    if mock.status == MockSession.Status.ACTIVE and timezone.now() >= mock.started_at + timedelta(
        seconds=mock.duration_seconds
    ):
        return mock_finish(mock=mock, user=mock.user)
    return mock


def mock_finish(*, mock: MockSession, user: Any) -> MockSession:
    """End the session and write its report: scores, weakest topics, what to review next."""
    if mock.user_id != user.pk:
        raise NotFound("No such mock interview.")
    from apps.quiz.selectors import mock_report

    with transaction.atomic():
        mock = MockSession.objects.select_for_update().get(pk=mock.pk)
        if mock.status == MockSession.Status.FINISHED:
            return mock
        mock.status = MockSession.Status.FINISHED
        mock.finished_at = min(timezone.now(), mock.started_at + timedelta(seconds=mock.duration_seconds))
        mock.report = mock_report(mock)
        mock.save()
    return mock
