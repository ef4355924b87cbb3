"""Question titles (bank list, question and attempt headings, <title>): a complete short
phrase in plain text, read from the prompt's markdown, never its first wrapped line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.template import Context, Template
from django.utils.html import escape

from apps.quiz import services
from apps.quiz.models import Question
from apps.quiz.titles import _DANGLING, ELLIPSIS, TITLE_MAX_LENGTH, title_from_prompt

SHIPPED = yaml.safe_load((Path(settings.CONTENT_DIR) / "quiz" / "questions.yaml").read_text(encoding="utf-8"))


def _plain(markdown: str) -> str:
    """The prompt's words on one line, markup gone (what a title may be a prefix of)."""
    return " ".join(re.sub(r"[`*]", "", markdown).split())


def _check_title(title: str, prompt: str) -> None:
    assert title and len(title) <= TITLE_MAX_LENGTH, title
    assert "`" not in title and "\n" not in title and title == title.strip(), title
    if title.endswith(ELLIPSIS):
        kept = title[: -len(ELLIPSIS)]
        assert kept and not kept.endswith((" ", ",", ";", ":", "-", "(")), title
        assert kept.rsplit(" ", 1)[-1].lower() not in _DANGLING, title
        # Cut at a word boundary: the prompt goes on with a space or punctuation, not a letter.
        rest = _plain(prompt)[len(kept) :]
        assert _plain(prompt).startswith(kept) and not rest[:1].isalnum(), title
    else:
        assert re.search(r"[.?!][\"')\u2019\u201d]*$", title), f"not a whole sentence: {title!r}"
        assert _plain(prompt).startswith(title), title


@pytest.mark.parametrize("entry", SHIPPED, ids=[e["slug"] for e in SHIPPED])
def test_every_shipped_question_has_a_complete_short_title(entry):
    question = Question(slug=entry["slug"], prompt=entry["question"])
    _check_title(question.title, entry["question"])


def test_the_whole_bank_is_checked():
    assert len(SHIPPED) >= 56 and len({e["slug"] for e in SHIPPED}) == len(SHIPPED)


@pytest.mark.parametrize(
    ("prompt", "title"),
    [
        # A hard-wrapped prompt: the first sentence, not the first line.
        ("Write `softmax(x)` in NumPy for an array. It must\nnot overflow.",
         "Write softmax(x) in NumPy for an array. It must not overflow."),
        ("What are entropy and cross-entropy, and why is cross-entropy the loss\nused to train LMs?",
         "What are entropy and cross-entropy, and why is cross-entropy the loss used to train LMs?"),
        # Too long: cut at the colon, not inside the code span's commas.
        ("Write a simple RAG pipeline from scratch: a class `TinyRAG(embed, llm, chunk_size=40,\n"
         "overlap=10)` built on two functions it is given, `embed(text)` and `llm(prompt)`.",
         "Write a simple RAG pipeline from scratch…"),
        ("**Explain** the [bias-variance](https://example.com) trade-off.", "Explain the bias-variance trade-off."),
        ("", ""),
    ],
)
def test_title_from_prompt(prompt, title):
    assert title_from_prompt(prompt) == title


def test_a_long_sentence_is_cut_at_a_word_boundary():
    prompt = "Describe " + " ".join(f"word{i}" for i in range(60)) + "."
    title = title_from_prompt(prompt)
    _check_title(title, prompt)
    assert title.endswith(ELLIPSIS) and re.fullmatch(r"Describe( word\d+)+…", title)


def test_title_fit_filter_shortens_at_a_boundary_and_stays_escaped():
    out = Template("{% load quiz_titles %}{{ t|title_fit:30 }}").render(
        Context({"t": "Why is <b>x</b> bold, and how long is this title anyway?"}))
    assert out == "Why is &lt;b&gt;x&lt;/b&gt; bold…"


def test_markup_in_a_title_is_escaped_on_every_page(bank_once, db, learner, client):
    prompt = "What does `<script>alert('t')</script>` print <img src=x onerror=alert(1)>, and why\nis it <b>safe</b>?"
    question = Question.objects.create(
        slug="escaping-check", category="rapid-fire", difficulty="easy", phase=0, prompt=prompt, model_answer="x",
        choices=[{"text": "a", "correct": True}, {"text": "b", "correct": False}], position=0)
    title = question.title
    assert title == "What does <script>alert('t')</script> print, and why is it safe?"
    attempt = services.attempt_submit(user=learner, question=question, answer="0")
    client.force_login(learner)
    for url in ("/quiz/?phase=0", question.get_absolute_url(), f"/quiz/attempts/{attempt.pk}/"):
        page = client.get(url).content.decode()
        assert escape(title) in page, url
        assert "<script>alert" not in page and "onerror" not in page.split("quiz-prompt")[0], url
    page = client.get(question.get_absolute_url()).content.decode()
    assert f"<h1>{escape(title)}</h1>" in page and re.search(r"<title>[^<]*&lt;script&gt;", page)
