"""Registry records: models and datasets that labs may name, stored under ``LABS_MODEL_DIR``.

A row points at files (``path``, relative to the registry root); sandboxes see the root
read-only at ``/models``. A job names an entry's slug, never a URL: nothing downloads at
run time. Only ``ready`` entries can be chosen in a lab's form.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.db import models


def validate_registry_path(value: str) -> None:
    """A path inside the registry root: relative, no ``..``, no backslashes or NULs."""
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts or "\\" in value or "\x00" in value:
        raise ValidationError(
            "Give a path relative to the registry folder (LABS_MODEL_DIR), without '..', "
            "e.g. models/my-model or datasets/my-dataset.",
        )


class RegistryEntry(models.Model):
    class Status(models.TextChoices):
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        BROKEN = "broken", "Broken"

    slug = models.SlugField(max_length=80, unique=True, help_text="The stable name jobs use, e.g. zth-gpt2-small.")
    title = models.CharField(max_length=200)
    path = models.CharField(
        max_length=300,
        validators=[validate_registry_path],
        help_text="Folder relative to the registry root (LABS_MODEL_DIR); sandboxes see it at /models/<path>.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BUILDING, db_index=True)
    #: n_params, context_length, columns, rows, sha256, license, source, description,
    #: and while building: progress (0..100) and stage.
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["slug"]

    def __str__(self) -> str:
        return f"{self.title} ({self.slug})"

    @property
    def sandbox_path(self) -> str:
        return f"/models/{PurePosixPath(self.path)}"


class ModelEntry(RegistryEntry):
    class Kind(models.TextChoices):
        CAUSAL_LM = "causal-lm", "Causal language model"
        EMBEDDING = "embedding", "Embedding model"

    kind = models.CharField(max_length=20, choices=Kind.choices)

    class Meta(RegistryEntry.Meta):
        verbose_name = "model"


class DatasetEntry(RegistryEntry):
    class Kind(models.TextChoices):
        INSTRUCTION = "instruction", "Instruction set (instruction, input, output)"
        RAG_CORPUS = "rag-corpus", "RAG corpus (documents + questions with references)"

    kind = models.CharField(max_length=20, choices=Kind.choices)

    class Meta(RegistryEntry.Meta):
        verbose_name = "dataset"
