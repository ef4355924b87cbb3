"""The machinery of the permission matrices (tests/portfolios/test_permissions.py,
tests/career/test_permission_matrix.py): a table row is (name, method, path, data, expected),
where path and data may name the world's objects as {placeholders} and expected maps each of
the six roles to the status code it must get."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.portfolios.conftest import api_as

ROLES = ("anon", "owner", "other", "hm", "author", "staff")
LOGIN = 302  # pages send anonymous visitors to the login form


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
