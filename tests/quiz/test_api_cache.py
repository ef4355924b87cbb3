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


def test_cached_json_is_the_same_bytes_and_other_representations_keep_their_own(api_client):
    """A hit hands back the bytes the miss rendered; the browsable API and an indented JSON
    are separate representations (their own ETag), not the compact JSON's bytes."""
    url = "/api/v1/quiz/questions/"
    miss = api_client.get(url, {"page_size": 5})
    hit = api_client.get(url, {"page_size": 5})
    assert miss.status_code == hit.status_code == 200
    assert hit.content == miss.content and hit["Content-Type"] == "application/json"
    assert "Accept" in hit["Vary"]

    indented = api_client.get(url, {"page_size": 5}, HTTP_ACCEPT="application/json; indent=4")
    assert indented.status_code == 200 and indented["ETag"] != miss["ETag"]
    assert b'\n    "' in indented.content and indented.json() == miss.json()
    again = api_client.get(url, {"page_size": 5}, HTTP_ACCEPT="application/json; indent=4")
    assert again.content == indented.content

    browsable = api_client.get(url, {"page_size": 5}, HTTP_ACCEPT="text/html")
    assert browsable.status_code == 200 and browsable["Content-Type"].startswith("text/html")
    assert browsable["ETag"] != miss["ETag"]
