"""Writes to the model and dataset registry, and the job-time resolution of registry params.

A lab parameter of type ``model`` or ``dataset`` holds an entry's slug. At execute time
(:func:`registry_params_resolve`) the slug becomes
``{"slug", "kind", "path": "/models/<entry.path>", "meta"}``: what the runner loads,
from the registry folder that every sandbox sees read-only at ``/models``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.db import transaction

from apps.core.errors import ApplicationError
from apps.registry.builders import safetensors_param_count, tree_sha256
from apps.registry.models import DatasetEntry, ModelEntry, RegistryEntry
from apps.registry.selectors import PARAM_MODELS, registry_entry_host_path

Status = RegistryEntry.Status
REGISTRY_PARAM_TYPES = tuple(PARAM_MODELS)


class RegistryError(ApplicationError):
    """A job names a registry entry that cannot be used; the message says how an admin fixes it."""


def _register(
    model: type[RegistryEntry],
    *,
    slug: str,
    title: str,
    kind: str,
    path: str,
    metadata: dict[str, Any] | None,
    status: str,
) -> RegistryEntry:
    entry, _ = model.objects.update_or_create(
        slug=slug, defaults={"title": title, "kind": kind, "path": path, "metadata": metadata or {}, "status": status}
    )
    return entry


def model_entry_register(
    *, slug: str, title: str, kind: str, path: str, metadata: dict[str, Any] | None = None, status: str = Status.READY
) -> ModelEntry:
    return _register(ModelEntry, slug=slug, title=title, kind=kind, path=path, metadata=metadata, status=status)


def dataset_entry_register(
    *, slug: str, title: str, kind: str, path: str, metadata: dict[str, Any] | None = None, status: str = Status.READY
) -> DatasetEntry:
    return _register(DatasetEntry, slug=slug, title=title, kind=kind, path=path, metadata=metadata, status=status)


def registry_entry_progress(entry: RegistryEntry, *, percent: float, stage: str) -> None:
    """Record build progress on the row (the labs page reads it); one UPDATE, no other field touched."""
    with transaction.atomic():
        row = type(entry).objects.select_for_update().filter(pk=entry.pk).first()
        if row is None:
            return
        meta = dict(row.metadata or {})
        meta.update({"progress": max(0, min(100, int(percent))), "stage": stage})
        type(entry).objects.filter(pk=entry.pk).update(metadata=meta)
    entry.metadata = meta


def _model_meta_from_files(folder: Path) -> dict[str, Any]:
    """What a saved Hugging Face folder says about itself (for checkpoints an admin registers)."""
    meta: dict[str, Any] = {}
    config_path = folder / "config.json"
    if config_path.is_file():
        config = json.loads(config_path.read_text(encoding="utf-8"))
        meta["architecture"] = config.get("model_type", "")
        for key in ("n_positions", "max_position_embeddings", "n_ctx"):
            if isinstance(config.get(key), int):
                meta["context_length"] = config[key]
                break
        for key in ("vocab_size", "n_layer", "num_hidden_layers", "n_embd", "hidden_size", "torch_dtype", "dtype"):
            if key in config:
                meta[key] = config[key]
    n_params = 0
    for shard in folder.glob("*.safetensors"):
        n_params += safetensors_param_count(shard)
    if n_params:
        meta["n_params"] = n_params
    return meta


def registry_entry_verify(entry: RegistryEntry) -> RegistryEntry:
    """Check an entry's files: present, and matching the recorded sha256 (recorded if none).

    Ready when they are; broken (with ``metadata["error"]``) otherwise. For models an admin
    registered by hand, fills in context length, parameter count... from the files.
    """
    folder = registry_entry_host_path(entry)
    meta = dict(entry.metadata or {})
    meta.pop("error", None)
    if not folder.is_dir():
        meta["error"] = f"No folder {entry.path!r} in the registry directory (LABS_MODEL_DIR)."
        status = Status.BROKEN
    else:
        digest = tree_sha256(folder)
        if meta.get("sha256") and meta["sha256"] != digest:
            meta["error"] = "The files changed since they were registered (sha256 differs); rebuild or re-verify."
            meta["sha256_found"] = digest
            status = Status.BROKEN
        else:
            meta["sha256"] = digest
            meta.pop("sha256_found", None)
            if isinstance(entry, ModelEntry):
                meta = {**_model_meta_from_files(folder), **meta}
            status = Status.READY
    type(entry).objects.filter(pk=entry.pk).update(metadata=meta, status=status)
    entry.metadata, entry.status = meta, status
    return entry


def _how_to_register(param_type: str, slug: str) -> str:
    folder = "models" if param_type == "model" else "datasets"
    return (
        f"An admin registers it under Admin > Model and dataset registry > {param_type.capitalize()}s: "
        f"put its files in the registry directory (LABS_MODEL_DIR) under {folder}/{slug}/, add a {param_type} "
        f"with slug {slug!r} and that path, and use the action 'Verify files and mark ready'. "
        "The shipped ones are built by `manage.py registry_build`."
    )


def registry_param_resolve(
    param_type: str, slug: Any, *, registry_kind: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """One model/dataset slug -> ``{"slug", "kind", "path", "meta"}``; RegistryError if it cannot be used."""
    model = PARAM_MODELS[param_type]
    entry = model.objects.filter(slug=str(slug)).first() if isinstance(slug, str) else None
    if entry is None:
        raise RegistryError(
            f"The {param_type} {slug!r} is not in the registry. " + _how_to_register(param_type, str(slug)), field=field
        )
    if entry.status != Status.READY:
        why = (entry.metadata or {}).get("error") or (
            "it is still being built" if entry.status == Status.BUILDING else ""
        )
        raise RegistryError(
            f"The {param_type} {entry.slug!r} is not ready (status: {entry.status}{'; ' + why if why else ''}). "
            + _how_to_register(param_type, entry.slug),
            field=field,
            permanent=entry.status != Status.BUILDING,
        )
    if registry_kind and entry.kind != registry_kind:
        raise RegistryError(
            f"The {param_type} {entry.slug!r} is a {entry.kind} entry; this lab needs a {registry_kind}.", field=field
        )
    if not registry_entry_host_path(entry).is_dir():
        raise RegistryError(
            f"The {param_type} {entry.slug!r} is registered but its files are missing from the registry directory. "
            + _how_to_register(param_type, entry.slug),
            field=field,
        )
    meta = {k: v for k, v in (entry.metadata or {}).items() if k not in ("progress", "stage", "error")}
    return {"slug": entry.slug, "kind": entry.kind, "path": entry.sandbox_path, "meta": meta}


def registry_params_resolve(schema: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Replace each ``model``/``dataset`` param's slug with its entry (see the module docstring).

    Other params pass through unchanged; ``params`` itself is not modified. Used by
    ``lab_job_execute`` (the runner's params) and at submit time for a kind's preflight.
    Raises :class:`RegistryError` naming the entry and how an admin registers it.
    """
    resolved = dict(params)
    for spec in schema:
        name = spec.get("name")
        if spec.get("type") in REGISTRY_PARAM_TYPES and name in resolved:
            resolved[name] = registry_param_resolve(
                spec["type"], resolved[name], registry_kind=spec.get("registry_kind"), field=f"params.{name}"
            )
    return resolved
