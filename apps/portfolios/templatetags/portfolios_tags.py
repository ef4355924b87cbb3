"""Nav entries by role: "Portfolio" for learners, "Candidates" for hiring managers."""

from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

from apps.core.templatetags.core_tags import nav_link
from apps.portfolios.selectors import portfolio_can_browse, portfolio_can_keep

register = template.Library()


@register.simple_tag(takes_context=True)
def portfolio_nav_links(context) -> str:
    user = context.get("user")
    entries = []
    if portfolio_can_keep(user):
        entries.append(nav_link(context, "portfolios:mine", "Portfolio"))
    if portfolio_can_browse(user):
        entries.append(nav_link(context, "portfolios:candidates", "Candidates"))
    # Each entry is already escaped by nav_link (format_html).
    return mark_safe("".join(entries))  # noqa: S308
