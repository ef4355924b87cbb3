"""Readiness API: only the caller's own readiness, 401 for anonymous, truthful shapes."""

from __future__ import annotations

import pytest

from apps.career.models import Role
from apps.career.readiness_models import MAX_TARGET_ROLES, ReadinessTick, TargetRole
from apps.career.readiness_services import readiness_tick_set, target_role_add
from tests.career import readiness_support
from tests.career.readiness_support import set_topic, succeeded_job

world = readiness_support.world  # the fixture

BASE = "/api/v1/career/readiness/"
ROLE = BASE + "roles/llm-engineer/"
ITEMS = BASE + "items/"
TICK = BASE + "items/meetup/tick/"
TARGET = BASE + "targets/llm-engineer/"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", BASE),
        ("get", ROLE),
        ("get", ITEMS),
        ("post", TICK),
        ("delete", TICK),
        ("put", TARGET),
        ("delete", TARGET),
    ],
)
def test_anonymous_is_401(api_client, world, method, url):
    response = getattr(api_client, method)(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert not ReadinessTick.objects.exists() and not TargetRole.objects.exists()


def test_role_readiness_is_the_callers_own(api_client, world, learner, other_learner):
    set_topic(learner, world["topics"]["vectors"], "done")
    job = succeeded_job(learner, world["labs"]["spam-classifier"], metrics={"accuracy": 0.97})
    readiness_tick_set(user=learner, item=world["items"]["blog-post"], ticked=True)

    api_client.force_authenticate(learner)
    data = api_client.get(ROLE).json()
    assert data["role"] == "llm-engineer" and data["track"] == "engineering"
    assert data["score"] == 36 and data["quiz_mastery"] is None
    parts = {p["key"]: p for p in data["parts"]}
    assert (parts["roadmap"]["done"], parts["roadmap"]["total"], parts["roadmap"]["weight"]) == (1, 3, 40)
    assert parts["quiz"]["counted"] is False and parts["quiz"]["weight"] == 0
    assert [r["job"] for r in data["results"]] == [str(job.pk)]
    assert data["results"][0]["metrics"] == {"accuracy": 0.97}
    assert data["results"][0]["credential"] in ("unavailable", "none", "issued", "revoked")
    assert {i["slug"]: i["ticked"] for i in data["checklist"]}["blog-post"] is True
    assert [t["status"] for t in data["topics"]] == ["done", "not_started", "not_started"]
    assert {lab["slug"]: lab["job"] for lab in data["labs"]} == {"spam-classifier": str(job.pk), "char-gpt": None}
    assert data["next_steps"] and all(s["url"] for s in data["next_steps"])

    api_client.force_authenticate(other_learner)
    data = api_client.get(ROLE).json()
    assert data["score"] == 0 and data["results"] == [] and data["results_total"] == 0
    assert not any(i["ticked"] for i in data["checklist"])


def test_ticks_are_idempotent_and_own(api_client, world, learner, other_learner):
    api_client.force_authenticate(learner)
    for _ in range(2):
        response = api_client.post(TICK)
        assert response.status_code == 200 and response.json()["ticked"] is True
    assert ReadinessTick.objects.filter(user=learner).count() == 1
    items = api_client.get(ITEMS).json()
    assert (items["total"], items["ticked"]) == (4, 1)
    assert [i["category"] for i in items["items"]] == ["portfolio", "writing", "open-source", "community"]

    api_client.force_authenticate(other_learner)
    assert api_client.get(ITEMS).json()["ticked"] == 0
    response = api_client.delete(TICK)  # the other learner's untick touches only their row
    assert response.status_code == 200 and response.json()["ticked"] is False
    assert ReadinessTick.objects.filter(user=learner).count() == 1

    api_client.force_authenticate(learner)
    assert api_client.delete(TICK).json()["ticked"] is False
    assert not ReadinessTick.objects.exists()


def test_targets(api_client, world, learner, other_learner):
    api_client.force_authenticate(learner)
    response = api_client.put(TARGET)
    assert response.status_code == 200
    assert response.json()["role"] == "llm-engineer" and response.json()["score"] == 0
    assert api_client.put(TARGET).status_code == 200  # idempotent
    overview = api_client.get(BASE).json()
    assert [t["role"] for t in overview["targets"]] == ["llm-engineer"]
    assert overview["max_targets"] == MAX_TARGET_ROLES
    assert overview["targets"][0]["next_step"]["url"]

    api_client.force_authenticate(other_learner)
    assert api_client.get(BASE).json()["targets"] == []
    assert api_client.delete(TARGET).status_code == 204  # their own (absent) target
    assert TargetRole.objects.filter(user=learner).count() == 1

    api_client.force_authenticate(learner)
    assert api_client.delete(TARGET).status_code == 204
    assert not TargetRole.objects.exists()


def test_target_cap_is_400_naming_role(api_client, world, learner):
    track = world["full"].track
    for i in range(MAX_TARGET_ROLES):
        target_role_add(user=learner, role=Role.objects.create(track=track, slug=f"r{i}", title="R", summary="x"))
    api_client.force_authenticate(learner)
    response = api_client.put(TARGET)
    assert response.status_code == 400
    assert response.json()["field"] == "role"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", BASE + "roles/nope/"),
        ("put", BASE + "targets/nope/"),
        ("delete", BASE + "targets/nope/"),
        ("post", BASE + "items/nope/tick/"),
        ("delete", BASE + "items/nope/tick/"),
    ],
)
def test_unknown_slugs_are_404(api_client, world, learner, method, url):
    api_client.force_authenticate(learner)
    response = getattr(api_client, method)(url)
    assert response.status_code == 404
    assert response.json()["detail"]


def test_retired_item_cannot_be_ticked(api_client, world, learner):
    item = world["items"]["meetup"]
    item.is_active = False
    item.save()
    api_client.force_authenticate(learner)
    assert api_client.post(TICK).status_code == 404


def test_schema_lists_the_readiness_operations(client):
    schema = client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert set(paths[BASE + "targets/{slug}/"]) >= {"put", "delete"}
    assert set(paths[BASE + "items/{slug}/tick/"]) >= {"post", "delete"}
    assert "401" in paths[BASE]["get"]["responses"]
    assert "400" in paths[BASE + "targets/{slug}/"]["put"]["responses"]


def test_populated_answers_match_the_published_schema(world, learner):
    """The contract test sees empty answers (no roles there); check full ones against the schema."""
    import schemathesis
    from django.core import signals
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections
    from rest_framework.authtoken.models import Token

    set_topic(learner, world["topics"]["vectors"], "done")
    succeeded_job(learner, world["labs"]["spam-classifier"])
    target_role_add(user=learner, role=world["full"])
    headers = {"Authorization": f"Token {Token.objects.create(user=learner).key}"}
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
        calls = [
            ("/api/v1/career/readiness/", "GET", {}),
            ("/api/v1/career/readiness/roles/{slug}/", "GET", {"slug": "llm-engineer"}),
            ("/api/v1/career/readiness/items/", "GET", {}),
            ("/api/v1/career/readiness/items/{slug}/tick/", "POST", {"slug": "meetup"}),
            ("/api/v1/career/readiness/targets/{slug}/", "PUT", {"slug": "math-role"}),
        ]
        for path, method, params in calls:
            case = schema[path][method].Case(path_parameters=params, headers=headers)
            response = case.call()
            assert response.status_code == 200, (path, response.text)
            case.validate_response(response)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
