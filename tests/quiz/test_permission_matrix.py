"""Every quiz page and API operation for anonymous, the owner (lena), another learner (omar), a
hiring manager (hana), an author (ada) and staff (sam, a superuser, who holds every role).

Rules: the bank and its questions are public; answering, the queue and mock interviews need the
learner role (403 otherwise); an attempt is its owner's (404 for other people) except that
authors may open any attempt and override its grade; only the owner may re-rate their review;
a mock interview is its owner's alone. The last test checks that every quiz route has a row.
"""

from __future__ import annotations

import pytest
from django.urls import get_resolver, resolve

from apps.quiz import services
from apps.quiz.models import Question
from tests.career.test_permission_matrix import _route_names
from tests.permission_matrix import LOGIN, api_response, built_once, cases, codes, fill, page_response
from tests.quiz.conftest import CONTENT

ALL = codes(200, 200, 200, 200, 200, 200)
LEARNERS = codes(LOGIN, 200, 200, 403, 403, 200)
LEARNERS_ACT = codes(LOGIN, 302, 302, 403, 403, 302)
OWNER_LEARNER = codes(LOGIN, 200, 404, 403, 403, 404)
OWNER_LEARNER_ACT = codes(LOGIN, 302, 404, 403, 403, 404)

PAGES = [
    ("index", "get", "/quiz/", None, ALL),
    ("index-filtered", "get", "/quiz/?category=coding&phase=3", None, ALL),
    ("question", "get", "/quiz/q/numpy-broadcasting/", None, ALL),
    ("answer", "post", "/quiz/q/numpy-broadcasting/answer/", {"answer": "0"}, LEARNERS_ACT),
    ("attempt", "get", "/quiz/attempts/{attempt}/", None, codes(LOGIN, 200, 404, 404, 200, 200)),
    ("rate", "post", "/quiz/attempts/{attempt}/rate/", {"rating": "3"}, codes(LOGIN, 302, 404, 403, 403, 404)),
    ("override", "post", "/quiz/attempts/{attempt}/override/", {"score": "50"},
     codes(LOGIN, 403, 404, 404, 302, 302)),
    ("queue", "get", "/quiz/queue/", None, LEARNERS),
    ("review", "get", "/quiz/review/?grader=choice", None, codes(LOGIN, 403, 403, 403, 200, 200)),
    ("mock-index", "get", "/quiz/mock/", None, LEARNERS),
    ("mock-start", "post", "/quiz/mock/start/", {"minutes": "30"}, LEARNERS_ACT),
    ("mock", "get", "/quiz/mock/{mock}/", None, OWNER_LEARNER),
    ("mock-answer", "post", "/quiz/mock/{mock}/answer/{mock_q}/", {"answer": ""}, OWNER_LEARNER_ACT),
    ("mock-finish", "post", "/quiz/mock/{mock}/finish/", None, OWNER_LEARNER_ACT),
]

Q = "/api/v1/quiz"
API_ALL = codes(200, 200, 200, 200, 200, 200)
API_SIGNED_IN = codes(401, 200, 200, 200, 200, 200)
API_OWNER = codes(401, 200, 404, 404, 404, 404)
APIS = [
    ("questions", "get", f"{Q}/questions/?phase=2", None, API_ALL),
    ("question", "get", f"{Q}/questions/numpy-broadcasting/", None, API_ALL),
    ("attempts", "get", f"{Q}/attempts/", None, API_SIGNED_IN),
    ("attempt-create", "post", f"{Q}/attempts/", {"question": "numpy-broadcasting", "answer": "0"},
     codes(401, 201, 201, 403, 403, 201)),
    ("attempt", "get", f"{Q}/attempts/{{attempt}}/", None, codes(401, 200, 404, 404, 200, 200)),
    ("attempt-rating", "post", f"{Q}/attempts/{{attempt}}/rating/", {"rating": 2}, API_OWNER),
    ("attempt-override", "post", f"{Q}/attempts/{{attempt}}/override/", {"score": 50, "note": "fair"},
     codes(401, 403, 404, 404, 200, 200)),
    ("attempt-regrade", "post", f"{Q}/attempts/{{attempt}}/regrade/", None, codes(401, 403, 404, 404, 200, 200)),
    ("queue", "get", f"{Q}/queue/", None, API_SIGNED_IN),
    ("mocks", "get", f"{Q}/mocks/", None, API_SIGNED_IN),
    ("mock-start", "post", f"{Q}/mocks/", {"minutes": 20}, codes(401, 201, 201, 403, 403, 201)),
    ("mock", "get", f"{Q}/mocks/{{mock}}/", None, API_OWNER),
    ("mock-finish", "post", f"{Q}/mocks/{{mock}}/finish/", None, API_OWNER),
]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    from apps.curriculum.loader import curriculum_load
    from apps.quiz.loader import quiz_load

    with built_once(django_db_blocker) as users:
        curriculum_load(CONTENT)
        quiz_load(CONTENT)
        owner = users["owner"]
        question = Question.objects.get(slug="numpy-broadcasting")
        attempt = services.attempt_submit(user=owner, question=question, answer="0")
        mock = services.mock_start(user=owner, seed=1)
        mock_q = Question.objects.get(pk=mock.questions[0]).slug
        yield {"attempt": attempt.pk, "mock": mock.pk, "mock_q": mock_q}, users


@pytest.mark.parametrize(("case", "role"), cases(PAGES))
def test_page_permissions(db, world, case, role):
    page_response(world, case, role)


@pytest.mark.parametrize(("case", "role"), cases(APIS))
def test_api_permissions(db, world, case, role):
    response = api_response(world, case, role)
    assert response["Content-Type"].startswith("application/json")


def test_every_quiz_route_has_a_row():
    routed = {r for r in _route_names(get_resolver().url_patterns) if r.startswith(("quiz/", "api/v1/quiz/"))}
    filler = {"attempt": 1, "mock": 1, "mock_q": "x"}
    covered = {resolve(fill(path, filler).split("?")[0]).route for _n, _m, path, _d, _e in PAGES + APIS}
    assert routed - covered == set(), "quiz routes with no row in the permission matrix"
