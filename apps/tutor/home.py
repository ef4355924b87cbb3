"""Home panel (apps/core/home.py): ask the guide from the learner's home page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.core import roles
from apps.core.home import HomePanel, register_home_panel


def ask_panel(request: HttpRequest) -> dict[str, Any] | None:
    return {} if roles.user_has_role(request.user, roles.LEARNER) else None


def register() -> None:
    register_home_panel(HomePanel("ask-the-guide", "tutor/home/ask.html", ask_panel, order=60))
