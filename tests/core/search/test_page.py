"""The /search/ page and its htmx partial."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.core.search.registry import SearchDocument, register_search_source, unregister_search_source
from apps.core.search.services import search_index_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_kinds(indexed):
    register_search_source(
        "testnote",
        lambda: [SearchDocument("testnote", "pe-note", "Why order matters", "/n/pe/", "Positional encodings again.")],
        lambda key: None,
        label="Notes",
    )
    search_index_update("testnote")
    yield indexed
    unregister_search_source("testnote")


def test_empty_state_teaches_by_example(client, indexed):
    response = client.get(reverse("search"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Try:" in html and "how do transformers know word order?" in html
    assert 'role="search"' in html and 'name="q"' in html and 'hx-get="/search/"' in html
    assert 'hx-push-url="true"' in html and "delay:250ms" in html


def test_results_are_grouped_by_kind_with_badges_and_highlights(client, two_kinds):
    response = client.get(reverse("search"), {"q": "positional encodings"})
    html = response.content.decode()
    assert response.status_code == 200
    groups = re.findall(r'<section class="search-group" aria-labelledby="search-group-(\w+)"', html)
    assert sorted(groups) == ["testdoc", "testnote"]
    assert 'class="badge search-kind search-kind-testnote">Notes<' in html
    assert 'class="badge search-kind search-kind-testdoc">Test documents<' in html
    assert "<mark>Positional</mark>" in html
    assert 'href="/test/positional-encoding/"' in html and "data-search-result" in html
    assert re.search(r'role="status"[^>]*>\s*\d+ results? for “positional encodings”', html)
    assert response.context["count"] >= 2


def test_the_page_costs_one_search_statement(client, two_kinds, django_assert_max_num_queries):
    # savepoint + SET LOCAL + the hybrid statement + release; nothing per result.
    with django_assert_max_num_queries(4):
        assert client.get(reverse("search"), {"q": "positional encodings"}).status_code == 200


def test_kind_filter_checkboxes_narrow_the_results(client, two_kinds):
    html = client.get(reverse("search"), {"q": "positional encodings", "kind": "testnote"}).content.decode()
    assert "search-group-testnote" in html and "search-group-testdoc" not in html
    assert re.search(r'name="kind" value="testnote" checked', html)


def test_no_results_state_suggests_what_to_do(client, two_kinds):
    html = client.get(reverse("search"), {"q": "zebra crossing traffic law", "kind": "testnote"}).content.decode()
    assert "Nothing matches" in html and "Search all types instead" in html
    assert "/search/?q=zebra%20crossing%20traffic%20law" in html


def test_htmx_gets_only_the_results_and_an_out_of_band_status(client, indexed):
    response = client.get(reverse("search"), {"q": "KV cache"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html and "search-group-testdoc" in html
    assert 'id="search-status"' in html and 'hx-swap-oob="true"' in html
    assert "HX-Request" in response["Vary"]
    # Back button: htmx asks for the whole page again.
    restore = client.get(
        reverse("search"), {"q": "KV cache"}, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.content.decode()


def test_bad_input_is_never_a_500(client, indexed):
    for q in ["x" * 2000, "&|!:*()'\"", "\x00", "<script>alert(1)</script>"]:
        response = client.get(reverse("search"), {"q": q})
        assert response.status_code == 200
        assert "<script>alert(1)" not in response.content.decode()
    long = client.get(reverse("search"), {"q": "word order " * 200}).content.decode()
    assert "shortened to 512 characters" in long


def test_header_has_a_search_box(client, db):
    html = client.get(reverse("home")).content.decode()
    assert re.search(r'<form class="nav-search" role="search" method="get" action="/search/">', html)
