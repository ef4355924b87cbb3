"""One error type for the service layer: a message a person can act on."""

from __future__ import annotations


class ApplicationError(Exception):
    """Raised by services; views and APIs turn it into a 4xx with ``message``.

    ``permanent`` says whether retrying the same call can help (Celery tasks use it).
    ``field`` names the input that is wrong, when one is.
    """

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, permanent: bool = True, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.permanent = permanent
        self.extra = extra or {}


class NotFound(ApplicationError):
    status_code = 404


class PermissionDenied(ApplicationError):
    status_code = 403


class Throttled(ApplicationError):
    """Quota exhausted; ``extra['resets_at']`` says when it comes back."""

    status_code = 429
