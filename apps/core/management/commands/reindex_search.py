"""manage.py reindex_search: rebuild the search index from every registered source."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from apps.core.search.services import IndexStats, search_reindex_all


class Command(BaseCommand):
    help = "Re-index every registered search source (unchanged passages keep their vectors)."

    def handle(self, *args, **options) -> None:
        started = time.monotonic()

        def report(stats: IndexStats) -> None:
            self.stdout.write(
                f"{stats.kind:<12} {stats.documents:>6} documents {stats.chunks:>7} chunks "
                f"({stats.embedded} embedded) {stats.removed:>5} removed  {stats.seconds:6.2f}s"
            )

        total = search_reindex_all(report=report)
        elapsed = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"search index: {total} chunks written in {elapsed:.2f}s"))
