"""Login lockout with django-axes: who is locked, until when, and how we answer.

Axes records failures and decides; this module only adapts it to the site: which IP a
request comes from, what a success clears, and a 429 that says when to try again (a page
for people, JSON for the API).
"""

from __future__ import annotations

import math
from datetime import datetime

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.timesince import timeuntil
from rest_framework.throttling import BaseThrottle


def client_ip(request: HttpRequest) -> str | None:
    """The client's address the way DRF's throttles see it (REMOTE_ADDR unless
    ``TRUSTED_PROXY_COUNT`` proxies are in front), so lockout and throttles agree and a
    client cannot pick its own address with X-Forwarded-For."""
    return BaseThrottle().get_ident(request) or None


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler, except that a successful login clears only the failures of
    that account from that IP. Axes' default would delete every attempt matching either
    lockout parameter, so an attacker could log into their own account between guesses
    and keep the IP's count of guesses at other accounts at zero."""

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        super().user_login_failed(sender, credentials, request, **kwargs)
        # The failure that reaches the limit keeps its own answer ("wrong password"): the limit
        # counts failures, and it is the next attempt that is refused (by the backend, before
        # any password check). A refused attempt leaves axes_failures_since_start at None.
        if request is not None and getattr(request, "axes_failures_since_start", None) is not None:
            request.axes_locked_out = False

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        count, _ = AccessAttempt.objects.filter(username=username, ip_address=request.axes_ip_address).delete()
        return count


def lockout_until(request: HttpRequest) -> datetime | None:
    """When the request's lock ends: each failure counts for the cool-off time after it, so
    the lock lifts at the latest, one cool-off after the newest failure of a parameter that
    is over the limit (IP or username)."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return None
    credentials = getattr(request, "axes_credentials", None)
    limit = get_failure_limit(request, credentials)
    handler = AxesProxyHandler.get_implementation()
    newest = None
    for attempts in handler.get_user_attempts(request, credentials):
        failures = sum(attempts.values_list("failures_since_start", flat=True))
        if failures >= limit:
            latest = attempts.order_by("-attempt_time").values_list("attempt_time", flat=True).first()
            if latest and (newest is None or latest > newest):
                newest = latest
    return (newest or timezone.now()) + cool_off


def lockout_message(request: HttpRequest) -> tuple[str, int]:
    """The message for a locked-out request and the seconds until it may try again."""
    until = lockout_until(request) or timezone.now()
    retry_after = max(1, math.ceil((until - timezone.now()).total_seconds()))
    return f"Too many failed login attempts. Try again in {timeuntil(until)} (after {until:%H:%M} UTC).", retry_after


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with Retry-After and a message that says when.

    Only the request matters here: axes' async middleware passes the other arguments shifted.
    """
    message, retry_after = lockout_message(request)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message, "retry_after": retry_after}, status=429)
    else:
        context = {"message": message, "retry_after": retry_after}
        response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response
