"""The bank's public reads are cached per content generation: cheap, and never stale."""

from __future__ import annotations

import pytest

from apps.quiz.models import Question

pytestmark = pytest.mark.usefixtures("bank_once", "db")


def test_question_reads_are_cached_until_a_question_changes(api_client, django_assert_num_queries):
    url = "/api/v1/quiz/questions/"
    first = api_client.get(url, {"page_size": 100})
    assert first.status_code == 200 and first["ETag"]
    with django_assert_num_queries(0):
        assert api_client.get(url, {"page_size": 100}).json() == first.json()
        assert api_client.get(url, {"page_size": 100}, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    question = Question.objects.order_by("position").first()
    detail_url = f"{url}{question.slug}/"
    assert api_client.get(detail_url).json()["prompt"] == question.prompt
    question.prompt = "A rewritten prompt."
    question.save()
    assert api_client.get(detail_url).json()["prompt"] == "A rewritten prompt."
    prompts = {q["prompt"] for q in api_client.get(url, {"page_size": 100}).json()["results"]}
    assert "A rewritten prompt." in prompts
    assert api_client.get(url, {"nonsense": "1"}).status_code == 400  # errors are not cached
