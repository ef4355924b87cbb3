"""`registry_build` for the shipped datasets only (lora-instructions, rag-curriculum)."""

from __future__ import annotations

from typing import Any

from apps.registry.management.commands.registry_build import Command as BuildCommand
from apps.registry.shipped import SHIPPED


class Command(BuildCommand):
    help = "Write, validate and register the shipped datasets from the curriculum (skips what is ready)."

    def handle(self, *args: Any, **options: Any) -> None:
        super().handle(*args, **{**options, "only": [e.slug for e in SHIPPED if e.table == "dataset"]})
