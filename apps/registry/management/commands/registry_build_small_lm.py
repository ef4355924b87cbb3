"""`registry_build --only zth-gpt2-small`, under the name the labs contract uses."""

from __future__ import annotations

from typing import Any

from apps.registry.management.commands.registry_build import Command as BuildCommand
from apps.registry.shipped import SMALL_LM


class Command(BuildCommand):
    help = f"Build and register the small causal LM ({SMALL_LM.slug}) from the shipped curriculum."

    def handle(self, *args: Any, **options: Any) -> None:
        super().handle(*args, **{**options, "only": [SMALL_LM.slug]})
