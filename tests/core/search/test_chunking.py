"""Cutting documents into passages."""

from __future__ import annotations

from apps.core.search.chunking import MAX, chunk_text, clean_text


def test_short_body_is_one_chunk_and_markup_is_stripped():
    chunks = chunk_text("Some **bold** and _em_ text with a [link](https://x.test) and `code`.")
    assert chunks == ["Some bold and em text with a link and code."]


def test_sections_follow_headings_and_keep_the_heading():
    body = "Intro paragraph.\n\n# Attention\n\nQueries meet keys.\n\n## Multi-head\n\nSeveral heads in parallel."
    chunks = chunk_text(body)
    assert chunks == ["Intro paragraph.", "Attention\nQueries meet keys.", "Multi-head\nSeveral heads in parallel."]


def test_long_sections_are_packed_into_bounded_chunks():
    paragraph = "Tokens attend to each other through learned projections of their embeddings. " * 6  # ~480 chars
    body = "# Long\n\n" + "\n\n".join([paragraph] * 8) + "\n\n" + "word " * 800  # one 4,000-char paragraph
    chunks = chunk_text(body)
    assert len(chunks) > 5
    assert all(len(c) <= MAX + len("Long\n") for c in chunks)
    assert all(c.startswith("Long\n") for c in chunks)
    # Nothing is lost: every word of the body is in some chunk.
    assert sum(c.count("Tokens attend") for c in chunks) == 8 * 6
    assert sum(c.count("word") for c in chunks) == 800


def test_code_fences_stay_together_and_lose_their_markers():
    body = "Before.\n\n```python\ndef f(x):\n\n    return x\n```\n\nAfter."
    chunks = chunk_text(body)
    assert len(chunks) == 1
    assert "def f(x):" in chunks[0] and "return x" in chunks[0] and "```" not in chunks[0]


def test_empty_body_falls_back_to_the_summary():
    assert chunk_text("", summary="A token is a piece of text.") == ["A token is a piece of text."]
    assert chunk_text("   \n\n", summary="") == []


def test_control_and_sentinel_characters_are_removed():
    assert clean_text("a\x00b\x07c\ue000d\ue001e\nf\tg") == "abcde\nf\tg"


def test_tables_read_as_text():
    body = "| Model | Params |\n|---|:---:|\n| **GPT-2** | 124M |\n| Llama | 7B |"
    assert chunk_text(body) == ["Model · Params\nGPT-2 · 124M\nLlama · 7B"]
