"""Writes for accounts and roles."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db import transaction

from apps.core.models import User
from apps.core.roles import AUTHOR, HIRING_MANAGER, LEARNER, role_groups_sync


@transaction.atomic
def user_signup(*, username: str, email: str, password: str) -> User:
    """Create a learner account (the form has already validated the password)."""
    user = User.objects.create_user(username=username, email=email, password=password)
    role_groups_sync()
    user.groups.add(Group.objects.get(name=LEARNER))
    return user


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
