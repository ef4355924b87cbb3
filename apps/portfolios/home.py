"""Home panels (apps/core/home.py): a learner's portfolio; a hiring manager's candidates,
shortlists and a box to check a credential someone sent them."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.http import HttpRequest

from apps.core.home import HomePanel, register_home_panel
from apps.portfolios import selectors
from apps.portfolios.models import ProjectEvidence

HOME_CANDIDATES = 3


def portfolio_panel(request: HttpRequest) -> dict[str, Any] | None:
    user = request.user
    if not selectors.portfolio_can_keep(user) or selectors.portfolio_can_browse(user):
        return None  # hiring managers get their own panel, not a learner's
    portfolio = selectors.portfolio_for_owner(user=user)
    if portfolio is None:
        return {"portfolio": None}
    return {
        "portfolio": portfolio,
        "projects": portfolio.projects.count(),
        "results": ProjectEvidence.objects.filter(project__portfolio=portfolio).count(),
    }


def candidates_panel(request: HttpRequest) -> dict[str, Any] | None:
    if not selectors.portfolio_can_browse(request.user):
        return None
    newest = list(selectors.portfolio_search(selectors.SearchFilters())[:HOME_CANDIDATES])
    shortlists = selectors.shortlist_list(user=request.user).annotate(size=Count("entries"))
    return {
        "candidates": selectors.portfolio_cards(newest),
        "published": selectors.portfolio_search(selectors.SearchFilters()).count(),
        "shortlists": list(shortlists[:5]),
    }


def register() -> None:
    register_home_panel(HomePanel("portfolio", "portfolios/home/portfolio.html", portfolio_panel, order=40))
    register_home_panel(
        HomePanel("candidates", "portfolios/home/candidates.html", candidates_panel, order=5, wide=True)
    )
