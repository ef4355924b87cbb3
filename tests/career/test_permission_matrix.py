"""Every career and credentials page and API operation, for anonymous, the owner (lena),
another learner (omar), a hiring manager (hana), an author (ada) and staff (sam, a superuser).
The portfolios' own matrix is tests/portfolios/test_permissions.py; the last test here checks
that the two tables together name every URL the three apps route, so a new page or endpoint
cannot land without a row.

Rules: the catalogue (tracks, roles, salaries, job-ready, guide lists) and everything a
verifier needs (verify page and API, issuer, keys, status list, a credential's verify link)
are public; readiness is each signed-in person's own; a job's credential (page, download,
withdraw, issue) belongs to the job's learner - anyone else gets 404, as if it did not
exist - and support (staff here) may read, download and revoke one, on the pages and the API,
but never issue it: issuing vouches for someone's work, so only its learner can ask.
Each case runs in its own test (fresh database), so writes do not leak between roles.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from apps.career.loader import career_load
from apps.career.readiness_services import readiness_items_load
from apps.credentials.services import credential_issue
from apps.curriculum.loader import curriculum_load
from tests.credentials.conftest import make_job
from tests.permission_matrix import LOGIN, api_response, built_once, cases, codes, fill, page_response
from tests.portfolios import test_permissions as portfolio_matrix

ALL = codes(200, 200, 200, 200, 200, 200)
SIGNED_IN = codes(LOGIN, 200, 200, 200, 200, 200)  # each person's own readiness
SIGNED_IN_ACT = codes(LOGIN, 302, 302, 302, 302, 302)
OWNER_ONLY = codes(LOGIN, 200, 404, 404, 404, 404)
OWNER_ACT = codes(LOGIN, 302, 404, 404, 404, 404)
OWNER_OR_SUPPORT = codes(LOGIN, 200, 404, 404, 404, 200)
OWNER_OR_SUPPORT_ACT = codes(LOGIN, 302, 404, 404, 404, 302)

PAGES = [
    ("career-index", "get", "/career/", None, ALL),
    ("career-role", "get", "/career/roles/llm-engineer/", None, ALL),
    ("career-compare", "get", "/career/compare/?a=llm-engineer&b=ai-ml-engineer", None, ALL),
    ("career-salaries", "get", "/career/salaries/?region=us", None, ALL),
    ("career-job-ready", "get", "/career/job-ready/", None, ALL),
    ("career-guide-index", "get", "/career/guide/", None, ALL),
    ("career-guide", "get", "/career/guide/resume-keywords/", None, ALL),
    ("readiness", "get", "/career/readiness/", None, SIGNED_IN),
    ("readiness-role", "get", "/career/readiness/roles/llm-engineer/", None, SIGNED_IN),
    ("readiness-target-add", "post", "/career/readiness/targets/", {"role": "llm-engineer"}, SIGNED_IN_ACT),
    ("readiness-target-remove", "post", "/career/readiness/targets/llm-engineer/remove/", None, SIGNED_IN_ACT),
    ("readiness-toggle", "post", "/career/readiness/items/five-ai-projects/toggle/", None, SIGNED_IN_ACT),
    ("verify", "get", "/credentials/", None, ALL),
    ("verify-post", "post", "/credentials/", {"credential": "{token}"}, ALL),
    ("verify-id", "get", "/credentials/verify/{credential}/", None, ALL),
    ("issuer", "get", "/credentials/issuer.json", None, ALL),
    ("jwks", "get", "/credentials/jwks.json", None, ALL),
    ("status-list", "get", "/credentials/status/revocation", None, ALL),
    ("did", "get", "/.well-known/did.json", None, ALL),
    ("job-credential", "get", "/credentials/jobs/{job}/", None, OWNER_ONLY),
    ("job-credential-issue", "post", "/credentials/jobs/{job}/", None, OWNER_ACT),
    ("download", "get", "/credentials/{credential}/credential.jwt", None, OWNER_OR_SUPPORT),
    ("withdraw", "post", "/credentials/{credential}/withdraw/", {"reason": "x"}, OWNER_OR_SUPPORT_ACT),
]

C = "/api/v1/career"
K = "/api/v1/credentials"
API_ALL = codes(200, 200, 200, 200, 200, 200)
API_SIGNED_IN = codes(401, 200, 200, 200, 200, 200)
APIS = [
    ("roles", "get", f"{C}/roles/", None, API_ALL),
    ("role", "get", f"{C}/roles/llm-engineer/", None, API_ALL),
    ("salaries", "get", f"{C}/salaries/?region=us", None, API_ALL),
    ("job-ready", "get", f"{C}/job-ready/", None, API_ALL),
    ("guide-lists", "get", f"{C}/guide-lists/", None, API_ALL),
    ("readiness", "get", f"{C}/readiness/", None, API_SIGNED_IN),
    ("readiness-items", "get", f"{C}/readiness/items/", None, API_SIGNED_IN),
    ("readiness-tick", "post", f"{C}/readiness/items/five-ai-projects/tick/", None, API_SIGNED_IN),
    ("readiness-role", "get", f"{C}/readiness/roles/llm-engineer/", None, API_SIGNED_IN),
    ("readiness-target", "put", f"{C}/readiness/targets/llm-engineer/", None, codes(401, 200, 200, 200, 200, 200)),
    ("credential-issue", "post", f"{K}/", {"job": "{job}"}, codes(401, 200, 404, 404, 404, 403)),
    ("credential-verify", "post", f"{K}/verify/", {"credential": "{token}"}, API_ALL),
    ("credential", "get", f"{K}/{{credential}}/", None, codes(401, 200, 404, 404, 404, 200)),
    ("credential-revoke", "post", f"{K}/{{credential}}/revoke/", {"reason": "x"}, codes(401, 200, 404, 404, 404, 200)),
]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    from apps.labs.models import Lab
    from apps.labs.services import lab_catalog_sync

    with built_once(django_db_blocker) as users, override_settings(CREDENTIALS_BASE_URL="https://badges.example.org"):
        content = Path(settings.CONTENT_DIR)
        curriculum_load(content)
        career_load(content)
        readiness_items_load(content)
        lab_catalog_sync()
        job = make_job(users["owner"], Lab.objects.get(slug="spam-classifier"))
        credential = credential_issue(job=job, user=users["owner"])
        yield {"job": job.pk, "credential": credential.pk, "token": credential.token}, users


@pytest.fixture(autouse=True)
def _issuer_origin(settings):
    settings.CREDENTIALS_BASE_URL = "https://badges.example.org"


@pytest.mark.parametrize(("case", "role"), cases(PAGES))
def test_page_permissions(db, world, case, role):
    page_response(world, case, role)


@pytest.mark.parametrize(("case", "role"), cases(APIS))
def test_api_permissions(db, world, case, role):
    response = api_response(world, case, role)
    assert response["Content-Type"].startswith("application/json")


def _route_names(patterns, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            names |= _route_names(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            route = str(pattern.pattern)
            names.add(prefix + route.removeprefix("^"))  # as ResolverMatch.route joins a re_path
    return names


CAREER_PREFIXES = (
    "career/",
    "portfolios/",
    "credentials/",
    "api/v1/career/",
    "api/v1/portfolios/",
    "api/v1/credentials/",
    ".well-known/",
)


def test_every_career_route_has_a_row():
    routed = {r for r in _route_names(get_resolver().url_patterns) if r.startswith(CAREER_PREFIXES)}
    tables = PAGES + APIS + portfolio_matrix.PAGES + portfolio_matrix.APIS
    filler = {
        "project": 1,
        "evidence": 1,
        "public": "00000000-0000-4000-8000-000000000000",
        "draft": "00000000-0000-4000-8000-000000000001",
        "plot": 1,
        "html": 1,
        "shortlist": 1,
        "entry": 1,
        "spare_job": 1,
        "job": "00000000-0000-4000-8000-000000000000",
        "credential": "00000000-0000-4000-8000-000000000000",
        "token": "x",
    }
    covered = set()
    for _name, _method, path, _data, _expected in tables:
        match = resolve(fill(path, filler).split("?")[0])
        covered.add(match.route)
    assert routed - covered == set(), "routes with no row in a permission matrix"
