"""Writes for accounts and roles."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from apps.core.errors import ApplicationError, Throttled
from apps.core.lockout import lockout_message
from apps.core.models import User
from apps.core.roles import AUTHOR, HIRING_MANAGER, LEARNER, role_groups_sync


@transaction.atomic
def user_signup(*, username: str, email: str, password: str) -> User:
    """Create a learner account (the form has already validated the password)."""
    user = User.objects.create_user(username=username, email=email, password=password)
    role_groups_sync()
    user.groups.add(Group.objects.get(name=LEARNER))
    return user


def api_token_is_expired(token: Token) -> bool:
    return token.created < timezone.now() - timedelta(hours=settings.API_TOKEN_TTL_HOURS)


def api_token_expires_at(token: Token) -> datetime:
    return token.created + timedelta(hours=settings.API_TOKEN_TTL_HOURS)


def api_token_obtain(*, request: HttpRequest, username: str, password: str) -> Token:
    """Exchange a username and password for the account's API token.

    ``authenticate`` goes through django-axes, which refuses a locked-out client before any
    password check; ``request`` must be Django's HttpRequest (not DRF's wrapper) so axes'
    flags reach its middleware. An expired token is replaced by a new one. Not atomic as a
    whole: the failure axes records must survive the error raised for it.
    """
    user = authenticate(request, username=username, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            message, retry_after = lockout_message(request)
            raise Throttled(message, extra={"retry_after": retry_after})
        raise ApplicationError("Unable to log in with the username and password given.")
    # Same as a form login for axes (clears this account's failures from this IP) and last_login.
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    with transaction.atomic():
        token, created = Token.objects.select_for_update().get_or_create(user=user)
        if not created and api_token_is_expired(token):
            token.delete()
            token = Token.objects.create(user=user)
    return token


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    password: str | None  # None when the account already existed (password not shown again)


DEMO_ACCOUNTS = (
    ("learner", LEARNER, False),
    ("author", AUTHOR, True),  # staff: authors work in the admin
    ("hiring", HIRING_MANAGER, False),
)


@transaction.atomic
def demo_accounts_ensure() -> list[DemoAccount]:
    """Create the demo accounts with fresh random passwords; existing ones keep theirs.

    Passwords are generated, never hard-coded, and returned once for printing.
    """
    role_groups_sync()
    created = []
    for username, role, is_staff in DEMO_ACCOUNTS:
        user = User.objects.filter(username=username).first()
        password = None
        if user is None:
            password = secrets.token_urlsafe(9)
            user = User.objects.create_user(
                username=username, email=f"{username}@example.com", password=password, is_staff=is_staff
            )
        user.groups.add(Group.objects.get(name=role))
        created.append(DemoAccount(username=username, role=role, password=password))
    return created
