"""Hybrid search: full text + vectors fused with RRF, over a small real index."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from apps.core.search import selectors
from apps.core.search.models import SearchChunk
from apps.core.search.registry import SearchDocument, register_search_source, unregister_search_source
from apps.core.search.selectors import MAX_QUERY_CHARS, hybrid_sql, normalize_query, search
from apps.core.search.services import search_index_update

pytestmark = pytest.mark.django_db


def keys(hits) -> list[str]:
    return [h.key for h in hits]


def lexemes(text: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tsvector_to_array(to_tsvector('english', %s))", [text])
        return set(cursor.fetchone()[0])


def test_keyword_query_finds_the_exact_match_first(indexed):
    hits = search("KV cache")
    assert hits[0].key == "kv-cache"
    assert "fulltext" in hits[0].retrievers and hits[0].fulltext_rank == 1
    assert "<mark>" in hits[0].snippet or "<mark>" in hits[0].title_html
    assert hits[0].url == "/test/kv-cache/" and hits[0].kind == "testdoc"


def test_a_question_sharing_no_keyword_is_found_by_meaning(indexed, settings):
    query = "cheap way to customise a big model without retraining everything"
    document = indexed.DOCUMENTS["lora"]
    # After stemming the query and the document share no word: full text cannot find it.
    assert not lexemes(query) & lexemes(f"{document.title} {document.body}")
    # The one-sentence test document is far terser than a real passage (cosine 0.27 here);
    # the shipped content's floor is tested on the shipped content (test_real_content.py).
    settings.SEARCH_VECTOR_MIN_SIMILARITY = 0.2
    hits = search(query)
    assert "lora" in keys(hits)[:3]
    lora = next(h for h in hits if h.key == "lora")
    assert lora.retrievers == ("vector",) and lora.fulltext_rank is None


def test_question_in_plain_words_finds_the_concept(indexed):
    hits = search("how do transformers know word order?")
    assert hits[0].key == "positional-encoding"


def test_fusion_ranks_a_document_both_retrievers_found_above_one_only_one_found(indexed, monkeypatch):
    # Full text alone ranks the sourdough post first (it repeats the word); the vector side
    # is steered to a paraphrase of the metric, which the baking post is nowhere near.
    from apps.core.embeddings import embed_query

    steered = embed_query("how well a language model predicts held-out text").tolist()
    monkeypatch.setattr(selectors, "_query_embedding", lambda text: steered)
    hits = {h.key: (i, h) for i, h in enumerate(search("perplexity"))}
    (p_pos, perplexity), (s_pos, sourdough) = hits["perplexity"], hits["sourdough"]
    assert sourdough.retrievers == ("fulltext",) and sourdough.fulltext_rank == 1
    assert set(perplexity.retrievers) == {"fulltext", "vector"} and perplexity.fulltext_rank == 2
    assert p_pos < s_pos
    # The score adds meaning (passage + card similarity) to a full-text term: both beat one.
    assert perplexity.score > sourdough.score


def test_every_result_found_by_both_outranks_every_result_found_by_one(indexed):
    hits = search("positional encodings")
    both = [i for i, h in enumerate(hits) if len(h.retrievers) == 2]
    single = [i for i, h in enumerate(hits) if len(h.retrievers) == 1]
    assert both and single and max(both) < min(single)


def test_one_hit_per_document_with_its_best_passage(indexed, testdoc_source):
    long_body = "\n\n".join(
        [f"## Part {i}\n\n" + "Gradient noise and batch size interact in many ways. " * 12 for i in range(5)]
        + ["## Warmup\n\nA learning-rate warmup schedule ramps the step size up over the first steps."]
    )
    testdoc_source.DOCUMENTS["schedules"] = SearchDocument(
        kind="testdoc", key="schedules", title="Training schedules", url="/test/schedules/", body=long_body, summary=""
    )
    search_index_update("testdoc", ["schedules"])
    assert SearchChunk.objects.filter(kind="testdoc", key="schedules").count() > 3
    hits = search("learning-rate warmup schedule")
    assert keys(hits).count("schedules") == 1
    schedules = next(h for h in hits if h.key == "schedules")
    assert "warmup" in schedules.snippet.lower() and "<mark>" in schedules.snippet


def test_kinds_filter(indexed):
    register_search_source(
        "testnote",
        lambda: [SearchDocument("testnote", "pe-note", "Note on position", "/n/pe/", "Positional encodings again.")],
        lambda key: None,
    )
    try:
        search_index_update("testnote")
        assert {h.kind for h in search("positional encodings")} == {"testdoc", "testnote"}
        assert keys(search("positional encodings", kinds=["testnote"])) == ["pe-note"]
        assert "pe-note" not in keys(search("positional encodings", kinds=["testdoc"]))
        assert search("positional encodings", kinds=["no-such-kind"]) == []
    finally:
        unregister_search_source("testnote")


@pytest.mark.parametrize("query", ["", "   ", "\n\t", None])
def test_empty_query_returns_nothing(indexed, query):
    assert search(query) == []


def test_a_2000_character_query_is_cut_and_answered(indexed):
    query = ("how do transformers know word order " * 60)[:2000]
    assert len(normalize_query(query)) <= MAX_QUERY_CHARS
    assert search(query)[0].key == "positional-encoding"
    assert search("x" * 2000) is not None  # one 2,000-character word: cut, no error


@pytest.mark.parametrize(
    "query",
    [
        "&|!:*()'\"", "kv & | cache", "cache:*", "!!cache", "((cache", "cache)", "'unbalanced", '"unclosed phrase',
        "-", "- - -", "or", "cache OR", "<->", "a <-> b", "\\", "%s %(q)s", "\x00cache\x00", "drop table; --",
        "\ue000cache\ue001", "🤖 cache",
    ],
)
def test_query_syntax_characters_never_error(indexed, query):
    hits = search(query)
    assert isinstance(hits, list)


def test_punctuation_only_query_is_treated_as_empty(indexed):
    assert search("&|!:*()'\"") == []


def only_mark_tags(html: str) -> bool:
    return {tag.lower() for tag in re.findall(r"</?\s*([a-zA-Z0-9]+)", html)} <= {"mark"}


def test_snippet_and_title_escape_html_and_only_mark_survives(indexed, monkeypatch):
    hits = search("sanitization markup")
    xss = next(h for h in hits if h.key == "xss")
    for html in (xss.snippet, xss.title_html):
        assert "<script" not in html and "<b>" not in html and only_mark_tags(html)
    assert "<mark>sanitization</mark>" in xss.snippet
    assert xss.title_html == "Escaping &lt;b&gt;<mark>markup</mark>&lt;/b&gt; &amp; friends"
    # A passage found by meaning only is shown from its start, escaped the same way.
    from apps.core.embeddings import embed_query

    steered = embed_query("A snippet must never execute javascript from indexed text").tolist()
    monkeypatch.setattr(selectors, "_query_embedding", lambda text: steered)
    xss = next(h for h in search("qqqq zzzz") if h.key == "xss")
    assert xss.retrievers == ("vector",)
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in xss.snippet and only_mark_tags(xss.snippet)


def test_highlight_turns_only_the_sentinels_into_marks():
    text = f"<img src=x onerror=alert(1)> {selectors._OPEN}word{selectors._CLOSE} </mark><mark>"
    html = selectors._highlight(text)
    assert html == "&lt;img src=x onerror=alert(1)&gt; <mark>word</mark> &lt;/mark&gt;&lt;mark&gt;"
    assert selectors._highlight(f"{selectors._OPEN}unbalanced") == "unbalanced"


def test_full_text_only_when_the_embedding_model_is_unavailable(indexed, monkeypatch):
    def broken(text):
        raise RuntimeError("model weights missing")

    monkeypatch.setattr("apps.core.embeddings.embed_query", broken)
    hits = search("KV cache")
    assert hits[0].key == "kv-cache" and hits[0].retrievers == ("fulltext",)
    assert search("cheap way to customise a big model without retraining everything") == []


def test_nonsense_finds_nothing_rather_than_the_nearest_vectors(indexed):
    assert search("zebra crossing traffic law") == []


def test_limit(indexed):
    assert len(search("model", limit=2)) <= 2
    assert len(search("how do models learn", limit=1000)) <= selectors.MAX_LIMIT


def test_vector_part_uses_the_hnsw_index(indexed):
    from apps.core.embeddings import embed_query

    sql, params = hybrid_sql("word order", embed_query("word order").tolist(), kinds=None, limit=10)
    with connection.cursor() as cursor:
        # A dozen rows make a sequential scan cheaper; the bench shows the planner picks the
        # index on its own at scale. Here: is the statement *able* to use it as written?
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "core_searchchunk_emb_hnsw" in plan
    assert "core_searchchunk_fts_gin" in plan


def test_passage_lines_join_into_one_readable_line():
    one_line = selectors._one_line
    assert one_line("Tools\nLangSmith\nWeave.\nArize:\nRAGAS") == "Tools · LangSmith · Weave. Arize: RAGAS"
    assert one_line("  Heading \n\n  text   with  gaps \n") == "Heading · text with gaps"
    o, c = selectors._OPEN, selectors._CLOSE
    assert one_line(f"{o}Tracing{c}\nLangSmith {o}tools.{c}\nNext") == f"{o}Tracing{c} · LangSmith {o}tools.{c} Next"
    assert one_line("") == ""


def test_a_markdown_document_is_shown_as_plain_text_and_linked_at_its_section(indexed, monkeypatch):
    body = (
        "Intro.\n\n## Observability tools\n\n- **LangSmith**: traces every call\n- `Weave` and ~~nothing~~ else\n\n"
        "| Tool | Use |\n|---|---|\n| [Arize](https://arize.com) | drift |\n\n"
        "```text\nstack\n├── tracing   LangSmith\n└── eval      RAGAS\n```\n\n> **Tip:** trace from day one."
    )
    url, anchors = "/test/observability/", ("observability-tools",)
    indexed.DOCUMENTS["observability"] = SearchDocument(
        "testdoc", "observability", "Watching models", url, body, heading_ids=anchors
    )
    search_index_update("testdoc", ["observability"])
    hit = next(h for h in search("LangSmith traces") if h.key == "observability")
    assert hit.url == "/test/observability/#observability-tools"
    assert "<mark>LangSmith</mark>" in hit.snippet and only_mark_tags(hit.snippet) and "\n" not in hit.snippet
    # Found by meaning only, the passage is shown from its start: heading, then items.
    from apps.core.embeddings import embed_query

    steered = embed_query("Observability tools: LangSmith traces every call").tolist()
    monkeypatch.setattr(selectors, "_query_embedding", lambda text: steered)
    plain = next(h for h in search("qqqq zzzz") if h.key == "observability")
    assert plain.retrievers == ("vector",) and plain.url == hit.url
    assert str(plain.snippet).startswith("Observability tools · LangSmith: traces every call · Weave and nothing else")
    for snippet in (hit.snippet, plain.snippet):
        text = str(snippet).replace("<mark>", "").replace("</mark>", "")
        for leftover in ("**", "`", "~~", "](", "|", "├", "└", "- ", "> ", "#"):
            assert leftover not in text, (leftover, text)
