"""Service errors become 4xx JSON with a message a person can act on."""

from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import ApplicationError


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
    return drf_exception_handler(exc, context)
