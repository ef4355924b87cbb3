"""API errors are JSON with a message a person can act on (the ``Error``/``ValidationError``
bodies of the schema, apps/core/api/schema.py).

Service errors (``ApplicationError``) become their 4xx; a request body over Django's limits,
which Django would answer with an HTML 400 page, becomes a JSON 413/400 that says the limit.
What gets past this (a 404 for an unknown URL, a 500) is made JSON by
``apps.core.api.middleware.ApiJsonErrorsMiddleware``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import ApplicationError


def body_too_large_detail() -> str:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return (
        f"The request body is too large: the API accepts at most {limit} bytes ({limit / 1024 / 1024:.1f} MB). "
        "Send less data per request."
    )


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        body = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
            body[exc.field] = [exc.message]
        body.update(exc.extra)
        headers = {}
        if exc.status_code == status.HTTP_429_TOO_MANY_REQUESTS and "retry_after" in exc.extra:
            headers["Retry-After"] = str(exc.extra["retry_after"])
        return Response(body, status=exc.status_code, headers=headers)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"detail": body_too_large_detail(), "limit_bytes": limit}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return Response(
            {"detail": f"Too many form fields or files in one request ({exc}). Send fewer per request."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    return drf_exception_handler(exc, context)
