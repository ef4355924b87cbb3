"""Lists built from plain rows: what the API's list endpoints return without model instances.

A DRF serializer over model instances costs ~10x the query it serializes (instances built,
then every field read through ``get_attribute``). A hot list endpoint reads ``values()``
rows instead and shapes them with a plain function; the serializer stays the schema (and
tests hold the two equal, so the documented shape cannot drift from the served one).
"""

from __future__ import annotations

from collections.abc import Callable

from django.urls import reverse

_SLUG = "__slug__"


def slug_url(viewname: str) -> Callable[[str], str]:
    """``reverse(viewname, args=[slug])`` for many slugs, reversing once.

    Slugs are ``[-a-zA-Z0-9_]``: nothing in them needs quoting in a path.
    """
    prefix, _, suffix = reverse(viewname, args=[_SLUG]).partition(_SLUG)
    return lambda slug: f"{prefix}{slug}{suffix}"
