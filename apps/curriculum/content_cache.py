"""Pages that change only when content changes are rendered once per content generation.

The roadmap, a phase page and a topic page are the same for every visitor except for the
visitor's own progress. Their main fragment is cached under (page, content generation,
the visitor's progress digest), so a hit costs the queries that read the progress and a
cache read, and a learner's tick or an author's save shows at once:

* The **generation** is a token in the cache that any save, delete or m2m change of a
  curriculum model replaces (and replaces again when the transaction commits, so a page
  rendered from half-committed data in between is never reused).
* The **progress digest** is a hash of the rows that change what the visitor sees,
  read with one query by the view (``selectors.progress_overlay``).

Fragments also expire after ``FRAGMENT_TTL`` as a floor on staleness from any write that
bypasses signals (``QuerySet.update``; nothing in the app does that to content today).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

GENERATION_KEY = "curriculum:content-generation"
FRAGMENT_TTL = 60 * 60  # seconds


def content_generation() -> str:
    """The current generation token (a new one after a cache flush: every fragment misses)."""
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, uuid.uuid4().hex, None)
        generation = cache.get(GENERATION_KEY)
    return generation


def content_changed(**kwargs: Any) -> None:
    """Signal receiver: any cached page fragment is stale."""
    cache.set(GENERATION_KEY, uuid.uuid4().hex, None)
    # Again after commit: a request that rendered between the write and the commit cached
    # the old rows under the generation set just above.
    transaction.on_commit(lambda: cache.set(GENERATION_KEY, uuid.uuid4().hex, None))


def connect() -> None:
    from apps.curriculum.models import (
        Article,
        ChecklistItem,
        GlossaryTerm,
        MilestoneProject,
        Phase,
        Resource,
        Topic,
    )

    for model in (Phase, Topic, MilestoneProject, ChecklistItem, Article, GlossaryTerm, Resource):
        uid = f"curriculum.content_changed.{model.__name__}"
        post_save.connect(content_changed, sender=model, dispatch_uid=uid + ".save")
        post_delete.connect(content_changed, sender=model, dispatch_uid=uid + ".delete")
    for through in (Topic.prerequisites.through, Article.topics.through, Resource.topics.through):
        m2m_changed.connect(
            content_changed, sender=through, dispatch_uid=f"curriculum.content_changed.{through.__name__}"
        )
