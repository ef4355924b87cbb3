"""Home panel (apps/core/home.py): the learner's quiz queue - what is due now, and next."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.core import roles
from apps.core.home import HomePanel, register_home_panel
from apps.quiz import selectors


def due_queue_panel(request: HttpRequest) -> dict[str, Any] | None:
    user = request.user
    if not roles.user_has_role(user, roles.LEARNER):
        return None
    due = selectors.due_queue(user=user, limit=5)
    return {
        "due": due,
        "due_count": selectors.due_count(user=user),
        "upcoming": selectors.upcoming(user=user, limit=3) if len(due) < 5 else [],
        "weakest": [row for row in selectors.topic_mastery(user=user) if row["mastery"] < 65][:3],
    }


def register() -> None:
    register_home_panel(HomePanel("quiz-queue", "quiz/home/queue.html", due_queue_panel, order=30))
