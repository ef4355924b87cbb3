"""Private file storage for what learners' code made (lab artifacts).

Files here are never served by URL: a learner's ``evil.html`` must not run on the site's
origin for whoever opens a link. They are read only by the owner-checked download views,
which send them as attachments (``apps.labs.files``).
"""

from __future__ import annotations

from django.core.files.storage import FileSystemStorage, storages


class PrivateFileSystemStorage(FileSystemStorage):
    """A FileSystemStorage without URLs (its ``base_url`` would fall back to MEDIA_URL)."""

    def url(self, name: str | None) -> str:
        raise ValueError("Private files have no URL: download them through the owner-checked view.")


def private_storage() -> FileSystemStorage:
    """The ``"private"`` entry of STORAGES; a callable, so tests' settings apply and migrations
    record a reference instead of a path."""
    return storages["private"]
