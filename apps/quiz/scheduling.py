"""Spaced repetition with FSRS (the ``fsrs`` package).

Every graded attempt reviews the learner's card for that question. The score becomes an
FSRS rating (``rating_for_score``):

=========  ==========  =====================================================
score      rating      meaning
=========  ==========  =====================================================
0-39       Again (1)   forgotten: relearn soon (minutes)
40-64      Hard (2)    recalled with serious gaps
65-84      Good (3)    recalled
85-100     Easy (4)    recalled effortlessly
=========  ==========  =====================================================

The learner may change the rating of their latest attempt (the Anki buttons); the card is
then recomputed from its state before that attempt. ``QUIZ_DESIRED_RETENTION`` (default
0.9) is the retention target: FSRS schedules the next review for when the chance of
recalling the answer drops to it.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from fsrs import Card, Rating, Scheduler

RATING_BANDS = ((85, Rating.Easy), (65, Rating.Good), (40, Rating.Hard), (0, Rating.Again))
RATING_LABELS = {1: "Again", 2: "Hard", 3: "Good", 4: "Easy"}


def rating_for_score(score: int) -> Rating:
    for floor, rating in RATING_BANDS:
        if score >= floor:
            return rating
    return Rating.Again


def scheduler() -> Scheduler:
    # No fuzzing: the same history always gives the same schedule (tests, explanations).
    return Scheduler(desired_retention=settings.QUIZ_DESIRED_RETENTION, enable_fuzzing=False)


def new_card(question_id: int) -> Card:
    return Card(card_id=question_id)


def card_from(data: dict | None, question_id: int) -> Card:
    return Card.from_dict(data) if data else new_card(question_id)


def review(card: Card, rating: Rating | int, when: datetime) -> Card:
    updated, _log = scheduler().review_card(card, Rating(int(rating)), review_datetime=when)
    return updated


def retrievability(card: Card, now: datetime) -> float:
    return float(scheduler().get_card_retrievability(card, current_datetime=now))
