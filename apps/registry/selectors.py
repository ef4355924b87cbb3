"""Reads of the model and dataset registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from apps.registry.models import DatasetEntry, ModelEntry, RegistryEntry
from apps.registry.shipped import SMALL_LM

#: The small causal LM `make run` builds on a fresh machine (apps/registry/management/commands/registry_build.py).
DEFAULT_MODEL_SLUG = SMALL_LM.slug

#: Launch-parameter type -> the registry table it names.
PARAM_MODELS: dict[str, type[RegistryEntry]] = {"model": ModelEntry, "dataset": DatasetEntry}


def registry_root() -> Path:
    return Path(settings.LABS_MODEL_DIR)


def registry_entry_host_path(entry: RegistryEntry) -> Path:
    """Where the entry's files are on this host (never shown to learners or sent into a sandbox)."""
    return registry_root() / entry.path


def registry_ready_choices(param_type: str, registry_kind: str | None = None) -> list[tuple[str, str]]:
    """(slug, title) of the ready entries a ``model``/``dataset`` parameter may name, by slug."""
    qs = PARAM_MODELS[param_type].objects.filter(status=RegistryEntry.Status.READY)
    if registry_kind:
        qs = qs.filter(kind=registry_kind)
    return list(qs.order_by("slug").values_list("slug", "title"))


def registry_entry_find(param_type: str, slug: str) -> RegistryEntry | None:
    return PARAM_MODELS[param_type].objects.filter(slug=slug).first()


def registry_build_progress(slug: str = DEFAULT_MODEL_SLUG) -> dict[str, Any] | None:
    """What the labs page shows while the default model is prepared: None once it is ready.

    ``{"percent": int, "stage": str, "status": "building" | "missing" | "broken"}``.
    """
    row = ModelEntry.objects.filter(slug=slug).values("status", "metadata").first()
    if row is None:
        return {"percent": 0, "stage": "waiting to start", "status": "missing"}
    if row["status"] == RegistryEntry.Status.READY:
        return None
    meta = row["metadata"] or {}
    return {"percent": int(meta.get("progress", 0)), "stage": str(meta.get("stage", "")), "status": row["status"]}
