"""GET /api/v1/search/."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db
URL = "/api/v1/search/"


def test_url_name():
    assert reverse("api-search") == URL


def test_search_returns_hits_with_highlighted_snippets(indexed, api_client):
    response = api_client.get(URL, {"q": "KV cache"})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "KV cache" and body["count"] == len(body["results"]) > 0
    first = body["results"][0]
    assert first["key"] == "kv-cache" and first["kind"] == "testdoc" and first["url"] == "/test/kv-cache/"
    assert "fulltext" in first["retrievers"] and first["fulltext_rank"] == 1
    assert "<mark>" in first["snippet"] and isinstance(first["score"], float)
    assert set(first) == {
        "kind", "key", "title", "url", "summary", "snippet", "score", "retrievers", "fulltext_rank", "vector_rank"
    }


def test_kinds_and_limit(indexed, api_client):
    body = api_client.get(URL, {"q": "positional encodings", "kinds": "testdoc", "limit": 1}).json()
    assert [r["key"] for r in body["results"]] == ["positional-encoding"]


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}, {"q": "&|!()"}])
def test_empty_query_is_a_400_naming_the_field(indexed, api_client, params):
    response = api_client.get(URL, params)
    assert response.status_code == 400
    assert "q" in response.json() and response.json()["q"][0]


def test_unknown_kind_is_a_400_listing_the_valid_ones(indexed, api_client):
    response = api_client.get(URL, {"q": "cache", "kinds": "testdoc,bogus"})
    assert response.status_code == 400
    assert "bogus" in response.json()["kinds"][0] and "testdoc" in response.json()["kinds"][0]


def test_long_and_odd_queries_are_answered(indexed, api_client):
    assert api_client.get(URL, {"q": "word order " * 200}).status_code == 200
    assert api_client.get(URL, {"q": "cache:* & !(|'\""}).status_code == 200
    assert api_client.get(URL, {"q": "x" * 5000}).status_code == 200
    assert len(api_client.get(URL, {"q": "y " * 2000}).json()["query"]) <= 512


def test_anonymous_users_may_search_but_are_throttled(indexed, api_client):
    rates = {"DEFAULT_THROTTLE_RATES": {"search": "2/minute"}}
    ip = "203.0.113.9"
    cache.delete(f"throttle_search_{ip}")
    with override_settings(REST_FRAMEWORK={**__import__("django.conf").conf.settings.REST_FRAMEWORK, **rates}):
        codes = [api_client.get(URL, {"q": "cache"}, REMOTE_ADDR=ip).status_code for _ in range(3)]
    cache.delete(f"throttle_search_{ip}")
    assert codes == [200, 200, 429]


def test_in_the_openapi_schema(api_client):
    response = api_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    operation = response.json()["paths"]["/api/v1/search/"]["get"]
    names = {p["name"]: p for p in operation["parameters"]}
    assert names["q"]["required"] is True and {"kinds", "limit"} <= set(names)
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = response.json()["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"query", "count", "results"} <= set(schema["properties"])
