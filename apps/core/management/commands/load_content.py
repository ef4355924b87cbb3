"""Load the shipped content from content/ (idempotent; run by `make run`).

Each app contributes a loader (a dotted path in settings.CONTENT_LOADERS) with the
signature ``loader(content_dir: Path) -> str`` returning a one-line summary. A loader
validates everything before writing and writes in one transaction, so a bad file loads
nothing and the error names the file and line.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string

from apps.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Load curriculum, labs and other shipped content from content/ (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--content-dir", default=str(settings.CONTENT_DIR))

    def handle(self, *args, content_dir: str, **options):
        root = Path(content_dir)
        if not root.is_dir():
            raise CommandError(f"content folder {root} does not exist")
        for dotted in settings.CONTENT_LOADERS:
            try:
                summary = import_string(dotted)(root)
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(f"  {summary}")
