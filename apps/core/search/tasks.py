"""Celery task that keeps the search index current. Thin: it takes ids and calls the service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(
    acks_late=True,
    # A lost connection or a restarting Postgres is worth another try; a bug is not.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=6,
)
def search_reindex(kind: str, keys: list[str] | None = None) -> int:
    """Re-index ``keys`` of ``kind`` (all of the kind when None); returns chunks written.

    Delivered twice (acks_late + a worker lost mid-task) it simply writes the same rows
    again: the service reads the current documents and replaces their chunks.
    """
    from apps.core.search.services import search_index_update

    return search_index_update(kind, keys)
