"""The machinery of the permission matrices (tests/portfolios/test_permissions.py,
tests/career/test_permission_matrix.py): a table row is (name, method, path, data, expected),
where path and data may name the world's objects as {placeholders} and expected maps each of
the six roles to the status code it must get."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import transaction
from django.test import Client

from tests.portfolios.conftest import api_as

ROLES = ("anon", "owner", "other", "hm", "author", "staff")
LOGIN = 302  # pages send anonymous visitors to the login form




@contextmanager
def built_once(django_db_blocker) -> Iterator[dict]:
    """For a module-scoped world: the six roles' users, made in a transaction that is rolled
    back when the module ends. Each test still runs in its own savepoint (pytest-django's
    `db`), so one role's writes never reach the next case; building the world once instead
    of 200+ times keeps a matrix to seconds."""
    from apps.core.roles import AUTHOR, HIRING_MANAGER, LEARNER
    from tests.conftest import make_user

    with django_db_blocker.unblock(), transaction.atomic():
        try:
            yield {"anon": None, "owner": make_user("lena", LEARNER), "other": make_user("omar", LEARNER),
                   "hm": make_user("hana", HIRING_MANAGER), "author": make_user("ada", AUTHOR, is_staff=True),
                   "staff": make_user("sam", is_staff=True, is_superuser=True)}
        finally:
            transaction.set_rollback(True)


def codes(anon, owner, other, hm, author, staff) -> dict[str, int]:
    return dict(zip(ROLES, (anon, owner, other, hm, author, staff), strict=True))


def fill(template, values):
    if isinstance(template, dict):
        return {fill(k, values): fill(v, values) for k, v in template.items()}
    return template.format(**values) if isinstance(template, str) else template


def cases(table):
    return [pytest.param(case, role, id=f"{case[0]}-{role}") for case in table for role in ROLES]


def page_response(world, case, role):
    """Request a page row as `role` and check its status (and where anonymous is sent)."""
    values, users = world
    _name, method, path, data, expected = case
    client = Client()
    if users[role] is not None:
        client.force_login(users[role])
    response = getattr(client, method)(fill(path, values), fill(data, values) or {})
    assert response.status_code == expected[role], response.content[:300]
    if expected[role] == LOGIN and role == "anon":
        assert "/accounts/login/" in response["Location"]
    return response


def api_response(world, case, role):
    """Call an API row as `role` (token auth) and check its status; errors are JSON too."""
    values, users = world
    _name, method, path, data, expected = case
    response = getattr(api_as(users[role]), method)(fill(path, values), fill(data, values), format="json")
    assert response.status_code == expected[role], response.content[:300]
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json")
    return response
