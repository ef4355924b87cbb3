"""Ask the guide in a real browser against the real ASGI server: offline (extractive answer
with cited passages from the right article), then with the local fake OpenAI-compatible
server configured (the answer streams in, then shows its citations and who answered)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

QUESTION = "how do transformers know the order of the words?"


@pytest.fixture
def content(transactional_db, learner, no_celery_sends):
    """Articles and glossary, loaded and indexed (committed: the server process reads them)."""
    from apps.core.search.services import search_index_update
    from apps.curriculum.loader import curriculum_load

    curriculum_load(Path(settings.CONTENT_DIR))
    search_index_update("article")
    search_index_update("glossary")


def ask(page, base):
    browser_login(page, base, "lena")
    page.goto(f"{base}/tutor/")
    page.fill("#tutor-question", QUESTION)
    page.click("#tutor-form button[type=submit]")


def test_offline_the_guide_answers_with_cited_passages(content, request, page):
    base = request.getfixturevalue("live_asgi_server")
    ask(page, base)
    # The server loads the embedding model on its first question: allow for it.
    page.wait_for_selector("article.tutor-turn [data-extractive]", timeout=90_000)
    citations = page.locator("article.tutor-turn a[data-citation]")
    hrefs = citations.evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert any(h.startswith("/learn/articles/positional-encoding/#") for h in hrefs), hrefs
    assert page.locator("article.tutor-turn a.cite").count() >= 1
    assert "?c=" in page.url
    # A follow-up stays in the same conversation.
    page.fill("#tutor-question", "and what is RoPE?")
    page.click("#tutor-form button[type=submit]")
    page.locator("article.tutor-turn:not(.streaming)").nth(1).wait_for(timeout=60_000)
    page.reload()
    assert page.locator(".tutor-history li").count() == 1
    assert "2 questions" in page.locator(".tutor-history").inner_text()
    assert page.locator("article.tutor-turn").count() == 2


def test_with_the_fake_compatible_server_the_answer_streams_with_citations(content, request, page, monkeypatch):
    fake = request.getfixturevalue("fake_llm")
    fake.reply = "Attention alone ignores order, so each token gets a positional encoding [1] added to it [2]."
    fake.delta_delay = 0.15
    monkeypatch.setenv("LLM_BACKEND", "openai-compatible")
    monkeypatch.setenv("LLM_BASE_URL", f"{fake.url}/v1")
    monkeypatch.setenv("LLM_MODEL", "llama-fake")
    base = request.getfixturevalue("live_asgi_server")  # started with the variables above
    ask(page, base)
    # Streamed: part of the answer is on the page before the whole of it.
    streaming = page.locator("article.tutor-turn.streaming .tutor-answer")
    deadline = time.monotonic() + 90
    partial = ""
    while time.monotonic() < deadline and "Attention" not in partial:
        partial = streaming.inner_text(timeout=90_000) if streaming.count() else ""
        time.sleep(0.05)
    assert "Attention" in partial and "added to it" not in partial, partial
    page.wait_for_selector("article.tutor-turn a.cite", timeout=30_000)
    answer = page.locator("article.tutor-turn .tutor-answer").inner_text()
    assert "positional encoding" in answer and "[1]" in answer
    assert "model gpt-fake-1" in page.locator("article.tutor-turn .tutor-meta").inner_text()
    assert page.locator("article.tutor-turn [data-extractive]").count() == 0
    assert page.locator("article.tutor-turn a[data-citation]").first.get_attribute("href").startswith("/learn/")
