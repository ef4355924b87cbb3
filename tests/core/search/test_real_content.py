"""Search over the shipped content (content/), embedded with the real MiniLM model.

Loading and embedding everything takes about a minute on two busy cores, so the module does
it once, in a transaction rolled back when the module ends; each test runs in its own
savepoint (``db``). The relevance floor (``selectors.VECTOR_MIN_SIMILARITY``) was chosen
from measurements on this same content; these tests hold it to both of its promises.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.search.models import SearchChunk
from apps.core.search.selectors import search

pytestmark = pytest.mark.django_db

# Nearest passage of each below 0.30 cosine similarity on the shipped content.
NONSENSE = [
    "zxqv wplk",
    "asdfghjkl",
    "qwerty uiop",
    "qqqq zzzz",
    "lorem ipsum dolor sit amet",
    "banana bread recipe",
    "zebra crossing traffic law",
    "weather tomorrow in paris",
]
# (query, the key the first result must have)
REAL = [
    ("how do transformers know word order?", "positional-encoding"),
    ("vector database", "vector-database"),
    ("RAG evaluation", "rag-explained"),
    ("what is a KV cache", "kv-cache"),
    ("prompt injection", "prompt-injection"),
]
# Worded unlike the text: found by meaning alone (no word in common after stemming).
BY_MEANING = [
    ("make a big model cheaper to adapt", {"lora-qlora", "lora-fine-tuning", "lora"}),
    ("keep track of experiments", {"tech-stack", "evaluation-observability", "llm-production-llmops"}),
]
ARTICLE_QUERIES = ["RAG evaluation", "LangSmith", "vector database", "how do transformers know word order?", "salary"]
# Markup a reader never sees on the page. Code blocks keep their own symbols ("f(**kwargs)",
# "<int>", "+ residual" in a diagram, backticks in a comment), so only markdown's shapes
# count: paired emphasis, link and image syntax, tree drawing, list/quote/heading markers,
# table pipes, HTML tags. (Inline code's backticks and ordered-list numbers - "1. " also
# begins some headings here - are checked in test_chunking.py.)
LEFTOVER_MARKDOWN = re.compile(
    r"\*\*[^*\n]+\*\*|~~[^~\n]+~~|\]\(|!\[|[\u2500-\u259f]"
    r"|(^|\n)\s*[-*>#|]\s|\s\|\s"
    r"|<!--|</?(a|b|br|div|em|img|p|span|strong|table|td|tr)\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize("query", NONSENSE)
def test_nonsense_finds_nothing_in_the_service_the_api_and_the_page(shipped, client, query):
    assert search(query) == []
    body = client.get("/api/v1/search/", {"q": query}).json()
    assert body["count"] == 0 and body["results"] == []
    page = client.get(reverse("search"), {"q": query}, headers={"HX-Request": "true"}).content.decode()
    assert "Nothing matches" in page and "data-search-result" not in page


def test_the_floor_is_what_empties_them(shipped, settings):
    settings.SEARCH_VECTOR_MIN_SIMILARITY = 0.0
    hits = search("zxqv wplk")
    assert hits and all(h.retrievers == ("vector",) for h in hits)  # nearest neighbours, all unrelated


@pytest.mark.parametrize(("query", "expected"), REAL)
def test_real_queries_still_find_their_best_document_first(shipped, query, expected):
    assert search(query)[0].key == expected


@pytest.mark.parametrize(("query", "expected"), BY_MEANING)
def test_questions_worded_unlike_the_text_are_still_found_by_meaning(shipped, query, expected):
    hits = search(query)
    assert hits and hits[0].key in expected and hits[0].retrievers == ("vector",)


def headings_on_page(client: Client, path: str, cache: dict[str, dict[str, str]]) -> dict[str, str]:
    """The article page as a reader gets it: its headings' ids and their visible text."""
    if path not in cache:
        response = client.get(path)
        assert response.status_code == 200, path
        found = re.findall(r'<h[1-6] id="([^"]+)">(.*?)</h[1-6]>', response.content.decode(), re.S)
        cache[path] = {html.unescape(i): " ".join(html.unescape(re.sub(r"<[^>]+>", "", t)).split()) for i, t in found}
    return cache[path]


def test_article_results_link_to_the_section_they_matched(shipped, client):
    pages: dict[str, dict[str, str]] = {}
    linked = 0
    for query in ARTICLE_QUERIES:
        for hit in search(query):
            if hit.kind != "article":
                continue
            url = urlsplit(hit.url)
            assert url.path == f"/learn/articles/{hit.key}/"
            if url.fragment:
                linked += 1
                assert url.fragment in headings_on_page(client, url.path, pages), hit.url
    assert linked >= 10
    assert search("RAG evaluation")[0].url == "/learn/articles/rag-explained/#evaluating-rag"
    page = client.get(reverse("search"), {"q": "RAG evaluation"}).content.decode()
    assert 'href="/learn/articles/rag-explained/#evaluating-rag"' in page


def test_every_indexed_article_passage_points_at_a_heading_of_its_page(shipped, client):
    pages: dict[str, dict[str, str]] = {}
    chunks = list(SearchChunk.objects.filter(kind="article").values_list("key", "url", "text"))
    assert len({key for key, _, _ in chunks}) == 30
    for key, url, text in chunks:
        parts = urlsplit(url)
        assert parts.path == f"/learn/articles/{key}/"
        if parts.fragment:
            # The anchor is a heading of the rendered page, the heading the passage starts with.
            assert headings_on_page(client, parts.path, pages).get(parts.fragment) == text.split("\n", 1)[0], url
    # Only passages before an article's first heading link to the top of the page.
    assert sum(1 for _, url, _ in chunks if "#" in url) >= len(chunks) - 30


def test_the_index_holds_plain_text_only(shipped):
    for kind, key, text, summary in SearchChunk.objects.values_list("kind", "key", "text", "summary"):
        for value in (text, summary):
            found = LEFTOVER_MARKDOWN.search(value)
            assert found is None, f"{kind}:{key}: {value[max(0, found.start() - 40) : found.end() + 40]!r}"


@pytest.mark.parametrize("query", [*ARTICLE_QUERIES, "tech stack", "transformer block layers", "career paths"])
def test_snippets_are_one_line_of_plain_text_with_only_marks(shipped, query):
    hits = search(query)
    assert hits and any("<mark>" in h.snippet for h in hits)
    for hit in hits:
        assert "\n" not in hit.snippet
        assert {t.lower() for t in re.findall(r"</?\s*([a-zA-Z0-9]+)", hit.snippet)} <= {"mark"}
        text = html.unescape(hit.snippet.replace("<mark>", "").replace("</mark>", ""))
        assert LEFTOVER_MARKDOWN.search(text) is None, (hit.key, text)
