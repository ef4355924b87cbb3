"""Start signing with a new key; the old ones stay published, so what they signed still verifies."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from apps.credentials.documents import method_id
from apps.credentials.keys import rotate_generated_key


class Command(BaseCommand):
    help = "Rotate the generated credential signing key (old keys stay published for verification)."

    def handle(self, *args, **options) -> None:
        try:
            key = rotate_generated_key()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Now signing with {method_id(key)}; earlier keys remain in the DID document and JWKS.")
