"""``{{ question.title|title_fit:60 }}``: a question title shortened for a narrow place at a
clause or word boundary (Django's ``truncatechars`` cuts mid-word). Returns plain text, so
autoescaping still applies."""

from __future__ import annotations

from django import template

from apps.quiz.titles import shorten

register = template.Library()


@register.filter
def title_fit(value: object, limit: int) -> str:
    return shorten(str(value or ""), int(limit))
