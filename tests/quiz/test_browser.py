"""The practice loop in a real browser against the real ASGI server and a real Celery worker:
answer a free-text question (score, missed key points), answer a coding question (the sandbox
runs it; the page polls with htmx until the failing test shows), then find both questions in
the review queue. No console errors, no CSP violations."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.timeout(400)]


@pytest.fixture
def bank_live(transactional_db):
    from apps.curriculum.loader import curriculum_load
    from apps.quiz.loader import quiz_load
    from tests.quiz.conftest import CONTENT

    curriculum_load(CONTENT)
    quiz_load(CONTENT)


def test_answer_text_and_code_then_find_them_in_the_queue(
    bank_live, live_asgi_server, celery_worker_process, learner, browser, tmp_path
):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)  # the first free-text answer loads the embedding model
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        base = live_asgi_server
        browser_login(page, base, learner.username)

        # Free text: a partial answer shows its score and what it missed.
        page.goto(f"{base}/quiz/q/bias-variance-tradeoff/")
        page.fill("#id_answer", "Overfitting is when the training error is low but the validation error is high. "
                                "Regularisation such as dropout or early stopping helps.")
        page.click("button[type=submit]:has-text('Submit answer')")
        page.wait_for_selector("#score")
        score = int(page.locator("#score").inner_text())
        assert 0 < score < 100
        missed = page.locator(".quiz-missed li").all_inner_texts()
        assert missed and all(text.strip() for text in missed)
        page.screenshot(path=str(tmp_path / "text-result.png"), full_page=True)

        # Code: a wrong chunker runs in the sandbox; the failing test and its error show up.
        page.goto(f"{base}/quiz/q/rag-chunking-step/")
        page.fill("#id_answer", "def chunk_words(text, size, overlap):\n"
                                "    words = text.split()\n"
                                "    return [' '.join(words[i:i + size]) for i in range(0, len(words), size)]\n")
        page.click("button[type=submit]:has-text('Submit answer')")
        page.wait_for_selector(".quiz-tests", timeout=120_000)  # htmx polls until graded
        failing = page.locator(".quiz-tests li.is-fail").all_inner_texts()
        assert any("overlapping windows" in text and "AssertionError" in text for text in failing), failing
        assert page.locator(".quiz-tests li.is-pass").count() >= 1
        page.screenshot(path=str(tmp_path / "code-result.png"), full_page=True)

        # Both questions are now scheduled: the queue lists them (low scores come back soonest).
        page.goto(f"{base}/quiz/queue/")
        queue_text = page.locator("main").inner_text()
        assert "Write the chunking step of a RAG pipeline" in queue_text
        assert "Explain the bias-variance trade-off" in queue_text
        assert problems == [], problems
    finally:
        context.close()


def test_mock_interview_counts_down_and_ends_with_a_report(bank_live, live_asgi_server, learner, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        base = live_asgi_server
        browser_login(page, base, learner.username)
        page.goto(f"{base}/quiz/mock/")
        page.fill("#id_minutes", "10")
        page.click("button:has-text('Start a mock interview')")
        timer = page.locator("#mock-left")
        expect(timer).to_have_text(re.compile(r"^\d+:\d\d$"))  # the script formats it (CSP allows it)
        first = timer.inner_text()
        expect(timer).not_to_have_text(first)  # and it ticks
        assert page.locator("section.card").count() == 7
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # Answer one question (by choice when the draw holds a choice question: the mock's
        # rapid-fire questions are drawn at random, and not all of them offer choices), then finish.
        choices = page.locator("section.card", has=page.locator("input[type=radio]"))
        if choices.count():
            card = choices.first
            card.locator("input[type=radio]").first.check()
        else:
            card = page.locator("section.card", has=page.locator("textarea")).first
            card.locator("textarea").first.fill("Attention weighs every token against every other token.")
        card.locator("button:has-text('Submit')").click()
        page.wait_for_selector("text=see the feedback")
        page.click("button:has-text('Finish now')")
        page.wait_for_selector("#report-heading")
        report = page.locator("main").inner_text()
        assert "1 of 7 questions answered" in report and "Weakest topics" in report
        assert problems == [], problems
    finally:
        context.close()
