"""Generations: a token in the cache that is replaced whenever what it stands for changes.

Cached answers put the current token in their keys, so a change makes every one of them
miss at once, with nothing to find and delete. A change replaces the token immediately (so
the same request, or a test inside one transaction, sees it) and again when the
transaction commits (a request that read the old rows between the write and the commit
cached them under the first new token). A flushed cache starts a new generation.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.cache import cache
from django.db import transaction


class Generation:
    def __init__(self, key: str) -> None:
        self.key = key

    def current(self) -> str:
        token = cache.get(self.key)
        if token is None:
            cache.add(self.key, uuid.uuid4().hex, None)
            token = cache.get(self.key)
        return token

    def bump(self, **signal_kwargs: Any) -> None:
        """Replace the token (usable as a signal receiver)."""
        cache.set(self.key, uuid.uuid4().hex, None)
        transaction.on_commit(lambda: cache.set(self.key, uuid.uuid4().hex, None))

    def forget(self) -> None:
        """Start over (tests: Redis outlives each test's rolled-back database)."""
        cache.delete(self.key)
