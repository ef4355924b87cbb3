"""API reads of content answered from the cache, with an ETag that costs nothing to check.

Content changes only when it is saved (``apps.core.content_cache``). A read is cached under
(content generation, audience, full URL): the audience separates those who see different
answers (authors also see drafts), and the URL carries the filters, the page and the host
(``next`` links are absolute). The ETag is that key, so a client revalidating an unchanged
list gets a 304 before any query runs. Errors (400 for a bad filter, 404) are never cached.

For JSON (what integrators ask for) the cache keeps the rendered bytes, so a hit is one cache
read and no rendering at all; other formats (the browsable API) keep the data and render it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps

from django.core.cache import cache
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.content_cache import FRAGMENT_TTL, content_generation


def everyone(request: Request) -> str:
    """The audience of a public catalogue: the same answer for every caller."""
    return "public"


def _json_bytes(request: Request, response: Response) -> bytes:
    """Render ``response`` exactly as DRF would for this request (same renderer and context)."""
    renderer = request.accepted_renderer
    context = {"view": None, "request": request, "response": response}
    return renderer.render(response.data, request.accepted_media_type, context)


def content_cached_response(
    request: Request, audience: str, build: Callable[[], Response]
) -> Response | HttpResponse:
    # The negotiated media type is part of the representation (``application/json; indent=4``).
    media_type = getattr(request, "accepted_media_type", "")
    text = f"{content_generation()}|{audience}|{media_type}|{request.build_absolute_uri()}"
    key = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    etag = f'"{key}"'
    as_json = getattr(request, "accepted_renderer", None) is not None and request.accepted_renderer.format == "json"
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        response = Response(status=status.HTTP_304_NOT_MODIFIED)
    else:
        cache_key = f"api:content:{'json' if as_json else 'data'}:{key}"
        cached = cache.get(cache_key)
        if cached is None:
            built = build()
            if built.status_code != status.HTTP_200_OK:
                return built
            cached = _json_bytes(request, built) if as_json else built.data
            cache.set(cache_key, cached, FRAGMENT_TTL)
        if as_json:
            response = HttpResponse(cached, content_type=request.accepted_renderer.media_type)
        else:
            response = Response(cached)
    response["ETag"] = etag
    # The audience depends on who asks: a shared cache must not hand one audience's answer
    # to another.
    patch_vary_headers(response, ("Accept", "Cookie", "Authorization"))
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
