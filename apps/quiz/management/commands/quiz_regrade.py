"""Regrade answers whose question's key points, choices or rubric changed (after load_content)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.quiz.services import attempts_regrade_stale


class Command(BaseCommand):
    help = "Regrade text and choice answers graded against an older version of their question (history kept)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="Stop after this many.")

    def handle(self, *args, limit: int | None = None, **options):
        count = attempts_regrade_stale(limit=limit)
        self.stdout.write(f"quiz: {count} answer{'s' if count != 1 else ''} regraded")
