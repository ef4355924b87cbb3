"""The prompt playground: four strategies side by side against the local fake server (the
real openai SDK), with latency, tokens and cost for each; limits; no model configured."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.tutor.models import PlaygroundRun
from apps.tutor.playground import final_answer

pytestmark = pytest.mark.django_db

ALL = ["zero_shot", "few_shot", "chain_of_thought", "self_consistency"]


def test_four_strategies_side_by_side_on_the_page(compatible, client, learner):
    compatible.reply = "Positive sentiment.\nAnswer: positive"
    client.force_login(learner)
    response = client.post(reverse("tutor:playground"), {
        "task": "Classify the sentiment: 'I loved this course'", "strategies": ALL,
        "examples": "Input: great!\nOutput: positive\n\nInput: awful\nOutput: negative", "samples": "3",
        "model": "", "temperature": "0.8",
    })
    assert response.status_code == 200, response.content[:500]
    page = response.content.decode()
    for label in ("Zero-shot", "Few-shot", "Chain-of-thought", "Self-consistency (3 samples)"):
        assert label in page
    assert page.count("data-latency") == 4 and page.count("data-tokens") == 4
    run = PlaygroundRun.objects.get(user=learner)
    by = {r["strategy"]: r for r in run.results}
    assert set(by) == set(ALL) and all(r["input_tokens"] > 0 and r["output_tokens"] > 0 for r in by.values())
    assert by["self_consistency"]["samples"] == 3 and by["self_consistency"]["votes"] == {"positive": 3}
    assert run.cost_usd > 0 and run.model == "llama-fake"
    # 1 + 1 + 1 + 3 requests; few-shot carried the examples, chain-of-thought the instruction.
    bodies = [r["body"] for r in compatible.requests if r["path"].endswith("/chat/completions")]
    assert len(bodies) == 6
    assert "Example 1:" in bodies[1]["messages"][0]["content"]
    assert "step by step" in bodies[2]["messages"][0]["content"]


def test_the_api_runs_and_is_in_the_schema(compatible, api_client, learner):
    api_client.force_authenticate(learner)
    response = api_client.post("/api/v1/tutor/playground/runs/", {
        "task": "2 + 2?", "strategies": ["zero_shot", "self_consistency"], "samples": 2}, format="json")
    assert response.status_code == 201, response.content
    assert [r["strategy"] for r in response.json()["results"]] == ["zero_shot", "self_consistency"]
    schema = api_client.get("/api/schema/?format=json").json()
    assert "/api/v1/tutor/playground/runs/" in schema["paths"] and "/api/v1/tutor/questions/" in schema["paths"]


def test_refusals_say_what_to_do(compatible, api_client, learner, settings):
    api_client.force_authenticate(learner)
    post = lambda data: api_client.post("/api/v1/tutor/playground/runs/", data, format="json")  # noqa: E731
    assert post({"task": "x" * 50_000, "strategies": ["zero_shot"]}).status_code == 400
    few = post({"task": "t", "strategies": ["few_shot"]})
    assert few.status_code == 400 and "example" in few.json()["detail"]
    for _ in range(3):
        assert post({"task": "t", "strategies": ["zero_shot"]}).status_code == 201
    assert post({"task": "t", "strategies": ["zero_shot"]}).status_code == 429


def test_without_a_model_the_playground_says_so(offline, api_client, learner, client):
    api_client.force_authenticate(learner)
    response = api_client.post("/api/v1/tutor/playground/runs/", {"task": "t", "strategies": ["zero_shot"]},
                               format="json")
    assert response.status_code == 400 and "needs a language model" in response.json()["detail"]
    client.force_login(learner)
    assert "No language model is configured" in client.get(reverse("tutor:playground")).content.decode()


def test_final_answer():
    assert final_answer("Because...\nAnswer: Positive.") == "positive"
    assert final_answer("just text") == "just text"
