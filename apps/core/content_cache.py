"""What only changes when content changes is cached per *content generation*.

Curriculum, career and quiz content is written by authors and ``load_content``, and read on
every page. Each app names its content models (``track_content``); any save, delete or
many-to-many change of one of them replaces the generation (``apps.core.generations``), so
every cached page fragment and API answer built from content misses at once.

Fragments also expire after ``FRAGMENT_TTL``: a floor on staleness from a write that
bypasses signals (``QuerySet.update``; nothing in the app does that to content today).
"""

from __future__ import annotations

from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save

from apps.core.generations import Generation

CONTENT = Generation("content-generation")
FRAGMENT_TTL = 60 * 60  # seconds


def content_generation() -> str:
    return CONTENT.current()


def content_changed(**kwargs) -> None:
    CONTENT.bump()


def track_content(*content_models: type[models.Model]) -> None:
    """Replace the content generation whenever one of these models (or one of their
    many-to-many relations) changes. Call from an AppConfig's ``ready``."""
    for model in content_models:
        uid = f"content_changed.{model._meta.label}"
        post_save.connect(content_changed, sender=model, dispatch_uid=uid + ".save")
        post_delete.connect(content_changed, sender=model, dispatch_uid=uid + ".delete")
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            m2m_changed.connect(content_changed, sender=through, dispatch_uid=f"{uid}.{field.name}")
