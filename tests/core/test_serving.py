"""Serving that uses the machine: web processes per core, pooled connections, per-request costs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import Group
from django.test import override_settings

from apps.core import embeddings, roles
from config import stack
from tests.conftest import make_user

ROOT = Path(__file__).resolve().parents[2]


def test_one_web_process_per_core_unless_told(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert stack.web_processes() == (os.cpu_count() or 1)
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert stack.web_processes() == 3
    monkeypatch.setenv("WEB_CONCURRENCY", "0")
    assert stack.web_processes() == 1


def _database_settings(**env: str) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps(settings.DATABASES['default'], default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_connection_pool_is_on_only_where_asked():
    pooled = _database_settings(DB_POOL_MAX_SIZE="3", DB_CONN_MAX_AGE="60", DB_APPLICATION_NAME="genai-web")
    assert pooled["OPTIONS"]["pool"]["max_size"] == 3
    assert pooled["CONN_MAX_AGE"] == 0  # Django refuses persistent connections beside a pool
    assert pooled["OPTIONS"]["application_name"] == "genai-web"
    plain = _database_settings(DB_POOL_MAX_SIZE="0")
    assert "pool" not in plain["OPTIONS"]


@pytest.mark.django_db
def test_a_users_roles_are_read_once_per_request_and_follow_changes(django_assert_num_queries):
    user = make_user("memo")
    with django_assert_num_queries(1):
        for _ in range(5):
            assert not roles.user_has_role(user, roles.AUTHOR)
    user.groups.add(Group.objects.get(name=roles.AUTHOR))
    assert roles.user_has_role(user, roles.AUTHOR)
    user.groups.clear()
    assert not roles.user_has_role(user, roles.AUTHOR)


class CountingBackend(embeddings.EmbeddingBackend):
    name = "counting"
    dimensions = 384
    calls = 0

    def load(self) -> None:
        pass

    def embed(self, texts):
        type(self).calls += len(texts)
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        out[:, 1] = 1.0
        return out


def test_a_query_is_embedded_once_for_every_web_process():
    embeddings.reset_backend()
    CountingBackend.calls = 0
    try:
        with override_settings(EMBEDDING_MODEL="tests.core.test_serving.CountingBackend"):
            query = f"a question nobody asked before {os.getpid()} {id(object())}"
            first = embeddings.embed_query(query)
            embeddings._embed_query_cached.cache_clear()  # another process: its own memory, the same Redis
            second = embeddings.embed_query(query)
            assert CountingBackend.calls == 1
            assert np.array_equal(first, second) and second[1] == 1.0
    finally:
        embeddings.reset_backend()


def _fresh(user):
    """The user as the next request loads it (no per-object permission memo)."""
    return type(user).objects.get(pk=user.pk)


@pytest.mark.django_db
def test_permissions_are_read_once_then_come_from_the_cache(learner, django_assert_num_queries):
    assert _fresh(learner).has_perm("portfolios.keep_portfolio")
    user = _fresh(learner)
    with django_assert_num_queries(0):
        assert user.has_perm("portfolios.keep_portfolio")
        assert not user.has_perm("portfolios.browse_portfolios")


@pytest.mark.django_db
def test_a_revoked_permission_stops_working_on_the_next_request(learner, hiring_manager):
    assert _fresh(learner).has_perm("portfolios.keep_portfolio")
    learner.groups.clear()  # out of the learner role
    assert not _fresh(learner).has_perm("portfolios.keep_portfolio")

    assert _fresh(hiring_manager).has_perm("portfolios.browse_portfolios")
    group = Group.objects.get(name=roles.HIRING_MANAGER)
    group.permissions.clear()  # the role loses the permission
    assert not _fresh(hiring_manager).has_perm("portfolios.browse_portfolios")
    roles.role_groups_sync()  # and gets it back
    assert _fresh(hiring_manager).has_perm("portfolios.browse_portfolios")


@pytest.mark.django_db
def test_a_superuser_flag_is_never_served_from_an_older_answer(learner):
    assert not _fresh(learner).has_perm("labs.view_any_labjob")
    type(learner).objects.filter(pk=learner.pk).update(is_superuser=True)  # no signal at all
    assert _fresh(learner).has_perm("labs.view_any_labjob")
    type(learner).objects.filter(pk=learner.pk).update(is_active=False)
    assert not _fresh(learner).has_perm("labs.view_any_labjob")
