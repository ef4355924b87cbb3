"""Schemathesis over the quiz operations with the real question bank loaded and the learner
holding attempts, a review and a mock interview, so response bodies with real data are
checked against the schema (tests/core/test_api_contract.py covers every API, with no bank)."""

from __future__ import annotations

import pytest
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token

from apps.curriculum.loader import curriculum_load
from apps.quiz import services
from apps.quiz.loader import quiz_load
from apps.quiz.models import Question
from tests.core.test_api_contract import CHECKS, TOKENS, schema
from tests.quiz.conftest import CONTENT


@pytest.fixture(autouse=True)
def in_process_app(db):
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def quiz_world(learner, author, no_celery_sends):
    TOKENS.update(learner=Token.objects.create(user=learner).key, author=Token.objects.create(user=author).key)
    curriculum_load(CONTENT)
    quiz_load(CONTENT)
    services.attempt_submit(user=learner, question=Question.objects.get(slug="numpy-broadcasting"), answer="0")
    coding = Question.objects.get(slug="rag-chunking-step")
    services.attempt_submit(user=learner, question=coding, answer=coding.solution)  # stays pending
    services.mock_start(user=learner, seed=3)
    yield
    TOKENS.clear()


@schema.include(path_regex=r"^/api/v1/quiz/").parametrize()
@settings(
    max_examples=8,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_quiz_api_contract_with_real_data(case, quiz_world):
    case.call_and_validate(checks=CHECKS)
