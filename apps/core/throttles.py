"""Rate limits for account pages (signup, password change), with DRF's throttles.

DRF's SimpleRateThrottle keeps each client's recent requests in Django's cache; here it is
used from plain Django views. Rates come from ``settings.ACCOUNT_THROTTLE_RATES`` and are
read per request, so tests can change them with ``settings``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.throttling import SimpleRateThrottle


class AccountThrottle(SimpleRateThrottle):
    """Counts POSTs per client IP, or per account when ``per_user`` (a signed-in action)."""

    def __init__(self, scope: str, *, per_user: bool = False):
        self.scope = scope
        self.per_user = per_user
        super().__init__()

    def get_rate(self) -> str:
        return settings.ACCOUNT_THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view) -> str:
        if self.per_user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


def throttled_response(request: HttpRequest, retry_after: int, action: str) -> HttpResponse:
    minutes = max(1, math.ceil(retry_after / 60))
    message = f"Too many {action} attempts from here. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    context = {"message": message, "retry_after": retry_after, "heading": "Too many attempts"}
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def throttle_post(scope: str, action: str, *, per_user: bool = False) -> Callable:
    """Decorate a view so its POSTs are limited to ``ACCOUNT_THROTTLE_RATES[scope]``; over
    the rate it answers 429 with Retry-After and when to try again. GETs are never limited."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "POST":
                throttle = AccountThrottle(scope, per_user=per_user)
                if not throttle.allow_request(request, None):
                    return throttled_response(request, math.ceil(throttle.wait() or 1), action)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
