"""The API contract tells the truth (issue #14, finding 14; JSON errors of finding 16).

A schemathesis run over the whole published schema (/api/schema/) against the real Django
app (WSGI, in process, same database transaction as the test), signed in with a learner's
token (an author's for the article operations), with a fixed seed and a small number of
cases per operation. Then the direct attacks: anonymous -> 401 with WWW-Authenticate, a
3 MB body -> JSON 413, an unknown /api/ URL -> JSON 404, the jobs list shaped as a page.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from apps.curriculum.loader import curriculum_load
from apps.labs.models import Lab, LabJob
from apps.labs.services import lab_catalog_sync
from tests.curriculum.conftest import FIXTURE_CONTENT

APP = get_wsgi_application()
# Loaded at collection, as an integrator's client generator would: the served schema itself.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", APP)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,  # a signed-in success must be refused without the token
    negative_data_rejection,  # input the schema forbids must be refused (the schema states the rules)
    missing_required_header,
    unsupported_method,  # methods the schema does not list answer 405 (JSON)
    # Not positive_data_acceptance: a well-formed request can still be refused by a rule no
    # schema can state (a wrong password, an unknown lab, a full quota), with a documented 4xx.
]
TOKENS: dict[str, str] = {}


@schema.auth(refresh_interval=None)
class ApiToken:
    """Author for the article-writing operations, learner for everything else."""

    def get(self, case, context) -> str:
        # Also asked while collecting, before any fixture made a token.
        return TOKENS.get("author" if case.path.startswith("/api/v1/curriculum/articles") else "learner", "")

    def set(self, case, data: str, context) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Token {data}"}


@pytest.fixture(autouse=True)
def in_process_app(db):
    """Keep the test's connection (and its transaction) open across in-process requests,
    as Django's own test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(learner, author) -> dict[str, str]:
    TOKENS.update(learner=Token.objects.create(user=learner).key, author=Token.objects.create(user=author).key)
    yield TOKENS
    TOKENS.clear()


@pytest.fixture
def content(tokens, learner) -> None:
    """Something to list, so response bodies (not just empty pages) are checked."""
    curriculum_load(FIXTURE_CONTENT)
    lab_catalog_sync()
    lab = Lab.objects.order_by("slug").first()
    LabJob.objects.create(owner=learner, lab=lab, queue=lab.queue, params={})


@schema.parametrize()
@settings(
    max_examples=12,
    derandomize=True,  # the same cases on every run
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_contract(case, content):
    case.call_and_validate(checks=CHECKS)


# --- The attacks, directly --------------------------------------------------------------


def test_anonymous_api_call_is_401_with_www_authenticate(client):
    response = client.get("/api/v1/labs/jobs/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert response.json()["detail"]


def test_session_auth_still_works_for_the_browser(client, learner):
    client.force_login(learner)
    assert client.get("/api/v1/me/").json()["username"] == learner.username


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_body_over_the_limit_is_json_413(client, tokens, content_type, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000  # small cap: the same code path as 2.5 MB
    body = json.dumps({"lab": "x", "params": {"pad": "a" * 150_000}})
    if content_type != "application/json":
        body = "lab=x&pad=" + "a" * 150_000
    response = client.post(
        "/api/v1/labs/jobs/", body, content_type=content_type, HTTP_AUTHORIZATION=f"Token {tokens['learner']}"
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "100000 bytes" in response.json()["detail"]


def test_default_limit_3_mb_body_is_json_413(client, tokens):
    body = json.dumps({"lab": "x", "params": {"pad": "a" * 3_000_000}})
    response = client.post(
        "/api/v1/labs/jobs/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {tokens['learner']}"
    )
    assert response.status_code == 413
    assert "2.5 MB" in response.json()["detail"]


# DEBUG=True too: `DJANGO_DEBUG=1 make run` would otherwise answer with Django's technical pages.
@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_url_is_json_404_and_pages_keep_html(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


def test_wrong_method_is_json_405(client, tokens):
    response = client.delete("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {tokens['learner']}")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


@pytest.mark.parametrize("debug", [False, True])
def test_server_error_under_api_is_json_without_internals(tokens, monkeypatch, settings, debug):
    settings.DEBUG = debug
    from rest_framework.test import APIClient

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("apps.core.api.views.MeApi.get", boom)
    client = APIClient(raise_request_exception=False)
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {tokens['learner']}")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert "secret" not in response.content.decode()


def test_jobs_list_is_documented_as_a_page(client):
    served = client.get("/api/schema/?format=json").json()
    ok = served["paths"]["/api/v1/labs/jobs/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = served["components"]["schemas"][ok["$ref"].rsplit("/", 1)[1]]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    assert page["properties"]["results"]["items"] == {"$ref": "#/components/schemas/LabJob"}


def test_the_running_asgi_server_answers_api_errors_in_json(live_asgi_server):
    """The same three attacks against uvicorn serving config.asgi (the production path)."""
    import requests

    anonymous = requests.get(f"{live_asgi_server}/api/v1/labs/jobs/", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Token")

    big = requests.post(
        f"{live_asgi_server}/api/v1/auth/token/",
        data=b'{"username": "' + b"a" * 3_000_000 + b'", "password": "x"}',
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert big.status_code == 413
    assert big.headers["Content-Type"] == "application/json"
    assert "2.5 MB" in big.json()["detail"]

    unknown = requests.get(f"{live_asgi_server}/api/v1/no-such-thing/", timeout=30)
    assert unknown.status_code == 404
    assert unknown.headers["Content-Type"] == "application/json"
