"""The signed-in home: each app contributes panels about the visitor's own work.

An app registers its panels at start-up (``AppConfig.ready``) with ``register_home_panel``;
the home page asks every panel, in order, and shows those that return a context. A panel
decides for itself who it is for (a learner's roadmap, a hiring manager's candidates, an
author's drafts), so a person with several roles sees each role's panels and nobody sees
another role's controls. Core knows no app: an app that is not installed adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest


@dataclass(frozen=True)
class HomePanel:
    key: str
    template: str
    # The panel's context for this request, or None when it has nothing for this person.
    context: Callable[[HttpRequest], dict[str, Any] | None]
    order: int = 100
    wide: bool = False  # spans the grid's full width (e.g. the roadmap strip)


_PANELS: dict[str, HomePanel] = {}


def register_home_panel(panel: HomePanel) -> None:
    _PANELS[panel.key] = panel  # by key: registering twice (autoreload, tests) replaces


def home_panels(request: HttpRequest) -> list[dict[str, Any]]:
    """The panels this visitor sees, in order, each as {key, template, wide, context}."""
    shown = []
    for panel in sorted(_PANELS.values(), key=lambda p: (p.order, p.key)):
        context = panel.context(request)
        if context is not None:
            shown.append({"key": panel.key, "template": panel.template, "wide": panel.wide, "context": context})
    return shown
