"""FSRS scheduling: the score -> rating mapping, and a simulated month of reviews."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from fsrs import Rating

from apps.quiz import scheduling, selectors, services
from apps.quiz.models import Attempt, Question, ReviewState


@pytest.mark.parametrize(
    ("score", "rating"),
    [(0, Rating.Again), (39, Rating.Again), (40, Rating.Hard), (64, Rating.Hard), (65, Rating.Good),
     (84, Rating.Good), (85, Rating.Easy), (100, Rating.Easy)],
)
def test_score_to_rating(score, rating):
    assert scheduling.rating_for_score(score) == rating


def _simulate(scores_by_review, start, settings):
    """Review one card whenever it falls due, for 30 days; returns the review times."""
    card = scheduling.new_card(1)
    now, times = start, []
    for score in scores_by_review:
        if now > start + timedelta(days=30):
            break
        card = scheduling.review(card, scheduling.rating_for_score(score), now)
        times.append(now)
        now = card.due
    return card, times


def test_a_simulated_month_spaces_good_answers_out_and_keeps_bad_ones_close(settings):
    start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    good, good_times = _simulate([90] * 50, start, settings)
    _poor, poor_times = _simulate([20] * 200, start, settings)
    # Good answers: intervals grow, so a month needs only a handful of reviews.
    gaps = [b - a for a, b in itertools.pairwise(good_times)]
    assert all(later >= earlier for earlier, later in itertools.pairwise(gaps))
    assert len(good_times) <= 8
    assert good.due - good_times[-1] >= timedelta(days=14)
    # Forgotten answers keep coming back within minutes to a day.
    assert len(poor_times) > 3 * len(good_times)
    assert max(b - a for a, b in itertools.pairwise(poor_times)) <= timedelta(days=2)
    # Mixed history: a lapse after a good streak shortens the next interval.
    card = scheduling.new_card(2)
    now = start
    for _ in range(4):
        card = scheduling.review(card, Rating.Good, now)
        now = card.due
    before_lapse = card.due - now
    interval_before = card.stability
    card = scheduling.review(card, Rating.Again, now)
    assert card.due - now < before_lapse or card.stability < interval_before


def test_retention_target_is_a_setting(settings):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    settings.QUIZ_DESIRED_RETENTION = 0.9
    relaxed, _ = _simulate([90] * 4, start, settings)
    settings.QUIZ_DESIRED_RETENTION = 0.97
    strict, _ = _simulate([90] * 4, start, settings)
    assert strict.due < relaxed.due  # a higher target brings reviews sooner


def test_answers_over_a_month_drive_the_due_queue(bank, learner, monkeypatch):
    """Through the services: answer, wait until due, answer again, for 30 simulated days."""
    from django.utils import timezone

    q = Question.objects.get(slug="numpy-broadcasting")
    right = str(next(i for i, c in enumerate(q.choices) if c["correct"]))
    clock = [datetime(2026, 11, 1, 9, 0, tzinfo=UTC)]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])
    reviews = 0
    while clock[0] < datetime(2026, 12, 1, tzinfo=UTC):
        assert [item.question.slug for item in selectors.due_queue(user=learner)] in ([], ["numpy-broadcasting"])
        services.attempt_submit(user=learner, question=q, answer=right)
        reviews += 1
        state = ReviewState.objects.get(user=learner, question=q)
        assert selectors.due_queue(user=learner) == []
        assert [i.question.slug for i in selectors.upcoming(user=learner, days=400)] == ["numpy-broadcasting"]
        clock[0] = state.due
        assert [item.question.slug for item in selectors.due_queue(user=learner)] == ["numpy-broadcasting"]
    assert 2 <= reviews <= 8  # easy (100) answers: the first interval is already days long
    assert Attempt.objects.filter(user=learner, question=q).count() == reviews
    assert state.reviews == reviews
