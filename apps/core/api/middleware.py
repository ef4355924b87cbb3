"""Under /api/ every error is JSON, whoever produced it.

DRF views already answer their own errors in JSON. What does not pass through a DRF view
(an unknown URL, a 500, Django refusing a body it will not read) would get the site's HTML
error pages, which a client cannot parse. This middleware turns those into the same
``{"detail": ...}`` body; pages outside /api/ keep their HTML error pages.

It also refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE before any parser sees it, with a
413 that says the limit: Django checks that limit only for bodies it reads whole, not for
the file parts of a multipart body.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.core.api.exceptions import body_too_large_detail

API_PREFIX = "/api/"

MESSAGES = {
    400: "The request could not be read.",
    403: "Not allowed.",
    404: "There is nothing at this address. The API's operations are listed at /api/schema/ (docs: /api/docs/).",
    405: "This method is not allowed here.",
    413: None,  # body_too_large_detail()
    500: "Something went wrong on our side; it has been logged. Please try again later.",
}
# Headers of the original error that still mean something on the JSON one.
_KEEP_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Vary")


def _body_too_large(request: HttpRequest) -> bool:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return limit is not None and length > limit


def _too_large_response() -> JsonResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return JsonResponse({"detail": body_too_large_detail(), "limit_bytes": limit}, status=413)


def _as_json(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if response.status_code < 400 or "json" in response.get("Content-Type", ""):
        return response
    status = response.status_code
    if status == 400 and _body_too_large(request):  # Django's RequestDataTooBig, outside DRF
        return _too_large_response()
    detail = MESSAGES.get(status) or response.reason_phrase or "Error."
    if status == 405:
        detail = f"{request.method} is not allowed here; allowed: {response.get('Allow', 'none')}."
    json_response = JsonResponse({"detail": detail}, status=status)
    for header in _KEEP_HEADERS:
        if header in response:
            json_response[header] = response[header]
    return json_response


class ApiJsonErrorsMiddleware:
    async_capable = True
    sync_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        if _body_too_large(request):
            return _too_large_response()
        return _as_json(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest):
        if not request.path_info.startswith(API_PREFIX):
            return await self.get_response(request)
        if _body_too_large(request):
            return _too_large_response()
        return _as_json(request, await self.get_response(request))
