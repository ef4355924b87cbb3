"""Cutting documents into passages of plain text."""

from __future__ import annotations

import re
from unittest import mock

import pytest

from apps.core.search import chunking
from apps.core.search.chunking import MAX, Chunk, chunk_document, chunk_text, clean_text, markdown_to_plain


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


def test_a_long_list_is_split_between_its_items():
    items = [f"- Item {i}: " + "a tool for tracing and evaluating model calls. " * 3 for i in range(20)]
    chunks = chunk_text("## Tools\n\n" + "\n".join(items))
    assert len(chunks) > 1 and all(len(c) <= MAX + len("Tools\n") for c in chunks)
    lines = [line for c in chunks for line in c.split("\n")[1:]]
    assert [line.split(":")[0] for line in lines] == [f"Item {i}" for i in range(20)]  # whole items, in order


def test_code_fences_stay_together_and_lose_their_markers():
    body = "Before.\n\n```python\ndef f(x):\n\n    return x\n```\n\nAfter."
    chunks = chunk_text(body)
    assert len(chunks) == 1
    assert "def f(x):" in chunks[0] and "return x" in chunks[0] and "```" not in chunks[0]


def test_empty_body_falls_back_to_the_summary():
    assert chunk_text("", summary="A token is a piece of text.") == ["A token is a piece of text."]
    assert chunk_text("", summary="A **token** is a piece of `text`.") == ["A token is a piece of text."]
    assert chunk_text("   \n\n", summary="") == []


def test_control_and_sentinel_characters_are_removed():
    assert clean_text("a\x00b\x07c\ue000d\ue001e\nf\tg") == "abcde\nf\tg"


def test_tables_read_as_text():
    body = "| Model | Params |\n|---|:---:|\n| **GPT-2** | 124M |\n| Llama | 7B |"
    assert chunk_text(body) == ["Model · Params\nGPT-2 · 124M\nLlama · 7B"]


# What a reader sees on the rendered page, never the markdown that made it.
MARKDOWN_TO_PLAIN = [
    ("## Heading\n\ntext", "Heading\ntext"),
    ("### Heading with `code` and **bold** ###\ntext", "Heading with code and bold\ntext"),
    ("Setext heading\n===\ntext", "Setext heading\ntext"),
    ("- LangSmith\n- Weave\n- Arize AI", "LangSmith\nWeave\nArize AI"),
    ("* star item\n+ plus item", "star item\nplus item"),
    ("1. first\n2. second\n10) tenth", "first\nsecond\ntenth"),
    ("- outer\n  - inner\n    - innermost", "outer\ninner\ninnermost"),
    ("- [ ] task box\n- [x] done", "[ ] task box\n[x] done"),
    ("**bold** __bold__ *em* _em_ ***both*** ~~struck~~", "bold bold em em both struck"),
    ("snake_case_name and 2 * 3 * 4 stay", "snake_case_name and 2 * 3 * 4 stay"),
    ("Use `pip install peft` here", "Use pip install peft here"),
    ('[the docs](https://example.com/docs "Title")', "the docs"),
    ("[ref link][1] and [collapsed][]\n\n[1]: https://x.test\n[collapsed]: https://y.test", "ref link and collapsed"),
    ("![a diagram of *attention*](img/attn.png)", "a diagram of attention"),
    ("<https://example.com> and <me@example.com>", "https://example.com and me@example.com"),
    ("> quoted **text**\n>\n> > nested quote", "quoted text\nnested quote"),
    ("| A | B |\n|:--|--:|\n| `x` | [y](u) |", "A · B\nx · y"),
    ("| # | Paper |\n|---|---|\n| 1 | Attention |", "Paper\n1 · Attention"),
    (
        "```text\nstack\n├── Foundations   Python\n│   └── NumPy\n└── Serving     vLLM\n```",
        "stack\nFoundations Python\nNumPy\nServing vLLM",
    ),
    ("```\n+-----+\n| box |\n+-----+\n# a comment\nx = a - b  // note\n```", "box\na comment\nx = a - b // note"),
    ("```\ndocuments -> chunk => embed <- back\n```", "documents → chunk → embed ← back"),
    ("    indented code block", "indented code block"),
    ("before\n\n---\n\n***\n\nafter", "before\nafter"),
    ("AT&amp;T &lt;tag&gt; &copy; \\*not em\\*", "AT&T <tag> © *not em*"),
    ("inline <b>html</b> and <span class=x>span</span>", "inline html and span"),
    ("<div>\n<p>block <em>html</em></p>\n</div>\n\n<!-- a comment -->", "block html"),
    ("line one  \nline two\\\nline three", "line one line two line three"),
    ("soft\nwrapped\nparagraph", "soft wrapped paragraph"),
    ("Tabs\tand   runs   of  spaces", "Tabs and runs of spaces"),
]


@pytest.mark.parametrize(("markdown", "plain"), MARKDOWN_TO_PLAIN, ids=[m[:30] for m, _ in MARKDOWN_TO_PLAIN])
def test_markdown_reads_as_plain_text(markdown, plain):
    assert "\n\n".join(chunk_text(markdown)).replace("\n\n", "\n") == plain


def test_no_markdown_survives_a_document_using_every_construct():
    body = "\n\n".join(markdown for markdown, _ in MARKDOWN_TO_PLAIN)
    text = "\n".join(chunk_text(body))
    for leftover in ("**", "__", "~~", "`", "](", "├", "└", "│", "<b>", "<span", "<!--", "&amp;", "---"):
        assert leftover not in text, leftover
    assert not re.search(r"^\s*([-*+>#|]|\d+[.)])\s", text, re.M)


def test_code_keeps_its_operators():
    code = 'if __name__ == "__main__":\n    x **= 2 // 3 + 1 | flags  # note'
    assert chunk_text(f"```python\n{code}\n```") == ['if __name__ == "__main__":\nx **= 2 // 3 + 1 flags note']


def test_markdown_to_plain_is_one_line():
    assert markdown_to_plain("**Bold** summary with a [link](u).\n\n- and\n- a list") == (
        "Bold summary with a link. and a list"
    )


def test_passages_carry_the_anchor_of_their_section():
    body = (
        "Intro.\n\n## First\n\nOne.\n\n### Inner\n\nTwo.\n\n```\n## not a heading\n```\n\n## Empty\n\n## Last\n\nThree."
    )
    chunks = chunk_document(body, heading_ids=("first", "inner", "empty", "last"))
    assert chunks == [
        Chunk("Intro.", ""),
        Chunk("First\nOne.", "first"),
        Chunk("Inner\nTwo.\n\nnot a heading", "inner"),
        Chunk("Last\nThree.", "last"),
    ]


def test_anchors_are_dropped_rather_than_misplaced_when_they_do_not_fit():
    with mock.patch.object(chunking.logger, "warning") as warning:
        chunks = chunk_document("## A\n\nOne.\n\n## B\n\nTwo.", heading_ids=("a",), name="article:x")
    assert [c.anchor for c in chunks] == ["", ""]
    assert warning.call_args.args[1:] == ("article:x", 2, 1)
    assert [c.anchor for c in chunk_document("## A\n\nOne.")] == [""]
