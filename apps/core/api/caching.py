"""API reads of content answered from the cache, with an ETag that costs nothing to check.

Content changes only when it is saved (``apps.core.content_cache``). A read is cached under
(content generation, audience, full URL): the audience separates those who see different
answers (authors also see drafts), and the URL carries the filters, the page and the host
(``next`` links are absolute). The ETag is that key, so a client revalidating an unchanged
list gets a 304 before any query runs. Errors (400 for a bad filter, 404) are never cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps

from django.core.cache import cache
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.content_cache import FRAGMENT_TTL, content_generation


def everyone(request: Request) -> str:
    """The audience of a public catalogue: the same answer for every caller."""
    return "public"


def content_cached_response(request: Request, audience: str, build: Callable[[], Response]) -> Response:
    text = f"{content_generation()}|{audience}|{request.build_absolute_uri()}"
    key = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    etag = f'"{key}"'
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        response = Response(status=status.HTTP_304_NOT_MODIFIED)
    else:
        data = cache.get(f"api:content:{key}")
        if data is None:
            built = build()
            if built.status_code != status.HTTP_200_OK:
                return built
            data = built.data
            cache.set(f"api:content:{key}", data, FRAGMENT_TTL)
        response = Response(data)
    response["ETag"] = etag
    # The audience depends on who asks: a shared cache must not hand one audience's answer
    # to another.
    patch_vary_headers(response, ("Cookie", "Authorization"))
    return response


def cached_by_content(audience: Callable[[Request], str] = everyone):
    """Decorate an APIView's ``get`` whose answer depends only on content and ``audience``."""

    def decorate(get):
        @wraps(get)
        def wrapper(self, request: Request, *args, **kwargs) -> Response:
            return content_cached_response(
                request, audience(request), lambda: get(self, request, *args, **kwargs)
            )

        return wrapper

    return decorate
