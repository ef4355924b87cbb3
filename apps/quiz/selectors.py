"""Quiz reads: the bank with its filters, a learner's attempts, due queue and mastery, and
mock interview reports."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from apps.core import roles
from apps.core.errors import NotFound
from apps.curriculum.models import Topic
from apps.quiz import scheduling
from apps.quiz.models import Attempt, MockSession, Question, ReviewState


def _pk_ok(pk: Any) -> bool:
    return isinstance(pk, int) and 0 < pk < 2**63


def question_list(
    *, category: str = "", difficulty: str = "", phase: int | None = None, topic: str = "", q: str = ""
) -> QuerySet[Question]:
    qs = Question.objects.prefetch_related(Prefetch("topics", queryset=Topic.objects.select_related("phase")))
    if category:
        qs = qs.filter(category=category)
    if difficulty:
        qs = qs.filter(difficulty=difficulty)
    if phase is not None:
        qs = qs.filter(phase=phase)
    if topic:
        qs = qs.filter(topics__slug=topic)
    if q:
        qs = qs.filter(prompt__icontains=q)
    return qs.order_by("phase", "position").distinct()


def question_get(slug: str) -> Question:
    question = Question.objects.prefetch_related("topics").filter(slug=slug).first()
    if question is None:
        raise NotFound(f"No question {slug!r}.")
    return question


def question_topics() -> QuerySet[Topic]:
    return Topic.objects.filter(questions__isnull=False).distinct().order_by("phase__number", "order")


def attempt_get(*, pk: int, user: Any) -> Attempt:
    """An attempt its owner (or an author, who may override grades) may see; else 404."""
    attempt = Attempt.objects.select_related("question", "user").filter(pk=pk).first() if _pk_ok(pk) else None
    if attempt is None or not (attempt.user_id == user.pk or roles.user_has_role(user, roles.AUTHOR)):
        raise NotFound("No such attempt.")
    return attempt


def attempt_list(*, user: Any, question: Question | None = None) -> QuerySet[Attempt]:
    qs = Attempt.objects.filter(user=user).select_related("question")
    if question is not None:
        qs = qs.filter(question=question)
    return qs.order_by("-created_at", "-pk")


def attempts_for_review(*, grader: str = "", limit: int = 50) -> list[Attempt]:
    """Recent graded answers by every learner, for authors to check and override."""
    qs = Attempt.objects.filter(status=Attempt.Status.GRADED).select_related("question", "user")
    if grader:
        qs = qs.filter(grader=grader)
    return list(qs.order_by("-created_at", "-pk")[:limit])


def attempt_grades(attempt: Attempt):
    return attempt.grades.select_related("reviewer").order_by("created_at", "pk")


def attempt_is_latest(attempt: Attempt) -> bool:
    latest = (
        Attempt.objects.filter(user_id=attempt.user_id, question_id=attempt.question_id, status=Attempt.Status.GRADED)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return latest == attempt.pk


@dataclass
class QueueItem:
    question: Question
    due: datetime
    last_score: int | None
    retrievability: float
    reviews: int


def _items(states) -> list[QueueItem]:
    now = timezone.now()
    return [
        QueueItem(s.question, s.due, s.last_score, scheduling.retrievability(scheduling.card_from(s.card, 0), now),
                  s.reviews)
        for s in states
    ]


def due_queue(*, user: Any, now: datetime | None = None, limit: int = 50) -> list[QueueItem]:
    """What the learner should review now: cards past due, the most overdue first."""
    now = now or timezone.now()
    states = ReviewState.objects.filter(user=user, due__lte=now).select_related("question").order_by("due")[:limit]
    return _items(states)


def upcoming(*, user: Any, now: datetime | None = None, days: int = 30, limit: int = 20) -> list[QueueItem]:
    now = now or timezone.now()
    states = (
        ReviewState.objects.filter(user=user, due__gt=now, due__lte=now + timedelta(days=days))
        .select_related("question")
        .order_by("due")[:limit]
    )
    return _items(states)


def review_states(*, user: Any) -> dict[int, ReviewState]:
    """The learner's review state per question id (one query), for marking lists."""
    return {s.question_id: s for s in ReviewState.objects.filter(user=user)}


def due_count(*, user: Any, now: datetime | None = None) -> int:
    return ReviewState.objects.filter(user=user, due__lte=now or timezone.now()).count()


def topic_mastery(*, user: Any) -> list[dict[str, Any]]:
    """Per roadmap topic: the mean of the learner's latest scores on its questions, weighted by
    how likely they still recall each answer (FSRS retrievability), with how many of the
    topic's questions they have answered."""
    now = timezone.now()
    states = ReviewState.objects.filter(user=user).select_related("question").prefetch_related("question__topics")
    per_topic: dict[int, list[float]] = defaultdict(list)
    topics: dict[int, Topic] = {}
    for state in states:
        recall = scheduling.retrievability(scheduling.card_from(state.card, 0), now)
        for topic in state.question.topics.all():
            topics[topic.pk] = topic
            per_topic[topic.pk].append((state.last_score or 0) * recall)
    counts = dict(Topic.objects.filter(pk__in=per_topic).annotate(n=Count("questions")).values_list("pk", "n"))
    rows = []
    for pk, values in per_topic.items():
        rows.append({"topic": topics[pk], "mastery": round(sum(values) / len(values)), "answered": len(values),
                     "questions": counts.get(pk, 0)})
    return sorted(rows, key=lambda r: (r["mastery"], r["topic"].title))


def topic_mastery_percent(user: Any) -> dict[int, int]:
    """{topic id: mastery 0-100} as ``topic_mastery`` computes it, in one query: what the
    roadmap draws on each topic (registered with ``apps.curriculum.mastery``)."""
    if not getattr(user, "is_authenticated", False):
        return {}
    now = timezone.now()
    per_topic: dict[int, list[float]] = defaultdict(list)
    rows = ReviewState.objects.filter(user=user, question__topics__isnull=False).values_list(
        "question__topics", "question_id", "card", "last_score"
    )
    for topic_id, question_id, card, score in rows:
        recall = scheduling.retrievability(scheduling.card_from(card, question_id), now)
        per_topic[topic_id].append((score or 0) * recall)
    return {topic_id: round(sum(values) / len(values)) for topic_id, values in per_topic.items()}


def mock_get(*, pk: int, user: Any) -> MockSession:
    mock = MockSession.objects.filter(pk=pk, user=user).first() if _pk_ok(pk) else None
    if mock is None:
        raise NotFound("No such mock interview.")
    return mock


def mock_list(*, user: Any) -> QuerySet[MockSession]:
    return MockSession.objects.filter(user=user).order_by("-started_at", "-pk")


def mock_questions(mock: MockSession) -> list[tuple[Question, Attempt | None]]:
    questions = {q.pk: q for q in Question.objects.filter(pk__in=mock.questions).prefetch_related("topics")}
    attempts = {a.question_id: a for a in Attempt.objects.filter(mock=mock)}
    return [(questions[qid], attempts.get(qid)) for qid in mock.questions if qid in questions]


def mock_seconds_left(mock: MockSession) -> int:
    if mock.status != MockSession.Status.ACTIVE:
        return 0
    end = mock.started_at + timedelta(seconds=mock.duration_seconds)
    return max(0, int((end - timezone.now()).total_seconds()))


def mock_report(mock: MockSession) -> dict[str, Any]:
    """Scores per question (unanswered = 0), the mean, the weakest topics with links and the
    questions to review next. Code still in the sandbox counts as pending."""
    lines, topic_scores = [], defaultdict(list)
    topic_info: dict[str, dict[str, str]] = {}
    for question, attempt in mock_questions(mock):
        pending = attempt is not None and attempt.status in (Attempt.Status.PENDING, Attempt.Status.GRADING)
        score = attempt.score if attempt is not None and attempt.score is not None else 0
        lines.append({"slug": question.slug, "title": question.title, "category": question.category,
                      "score": None if pending else score, "answered": attempt is not None, "pending": pending,
                      "url": question.get_absolute_url()})
        if not pending:
            for topic in question.topics.all():
                topic_scores[topic.slug].append(score)
                topic_info[topic.slug] = {"title": topic.title, "url": topic.get_absolute_url()}
    graded = [line["score"] for line in lines if line["score"] is not None]
    weakest = sorted(
        ({"slug": slug, **topic_info[slug], "score": round(sum(s) / len(s))} for slug, s in topic_scores.items()),
        key=lambda t: (t["score"], t["title"]),
    )[:3]
    review = [line for line in lines if line["score"] is not None and line["score"] < 65]
    return {
        "questions": lines,
        "score": round(sum(graded) / len(graded)) if graded else 0,
        "answered": sum(1 for line in lines if line["answered"]),
        "total": len(lines),
        "weakest_topics": weakest,
        "review_next": [{"slug": r["slug"], "title": r["title"], "url": r["url"]} for r in review],
    }
