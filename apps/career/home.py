"""Home panel (apps/core/home.py): how ready the learner is for the roles they aim at."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.core import roles
from apps.core.home import HomePanel, register_home_panel

HOME_TARGETS = 3  # the home shows the first few; the readiness page has them all


def readiness_panel(request: HttpRequest) -> dict[str, Any] | None:
    from apps.career.readiness_selectors import readiness_overview

    if not roles.user_has_role(request.user, roles.LEARNER):
        return None
    return {"targets": readiness_overview(request.user)[:HOME_TARGETS]}


def register() -> None:
    register_home_panel(HomePanel("readiness", "career/home/readiness.html", readiness_panel, order=30))
