"""The curriculum in a real browser: roadmap -> topic -> progress drawn, tooltips, pages.

Screenshots go to screenshots/curriculum-*.png (gitignored) for people to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from apps.curriculum.loader import curriculum_load
from tests.conftest import browser_login

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "screenshots"


def shot(page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"curriculum-{name}.png"), full_page=full_page)


@pytest.fixture
def site(live_asgi_server, request) -> str:
    request.getfixturevalue("learner")
    curriculum_load(settings.CONTENT_DIR)
    return live_asgi_server


def test_roadmap_topic_progress_article_tooltips_glossary_resources(site, page, browser):
    # Anonymous visitors can read everything and are told how to track progress.
    page.goto(f"{site}/learn/")
    assert page.get_by_text("Log in to track progress").first.is_visible()

    browser_login(page, site, "lena")
    page.goto(f"{site}/learn/")
    assert page.locator(".rm-phase").count() == 6
    assert page.locator(".rm-lane").count() == 5
    shot(page, "roadmap")

    # Click a topic node, mark it done (htmx), and see it drawn on the roadmap.
    node = page.locator(".rm-phase#phase-0 .rm-node").first
    title = node.locator(".rm-label").inner_text()
    node.click()
    page.wait_for_url("**/learn/topics/**")
    assert page.locator("h1").inner_text() == title
    page.get_by_role("button", name="✓ Mark as done").click()
    page.locator('#topic-progress[data-status="done"]').wait_for()
    assert page.locator("#topic-progress").get_by_text("saved").is_visible()
    shot(page, "topic")
    page.goto(f"{site}/learn/")
    done = page.locator(".rm-phase#phase-0 .rm-node.is-done")
    assert done.count() == 1 and done.locator(".rm-label").inner_text() == title
    assert "1 of" in page.locator(".rm-phase#phase-0 .rm-count").inner_text()
    assert page.locator(".rm-phase#phase-0 .ring-done").count() == 1
    shot(page, "roadmap-progress", full_page=False)

    # An article: tooltips on hover and on keyboard focus, hidden again with Escape.
    page.goto(f"{site}/learn/articles/transformer-block/")
    assert page.locator(".toc a").count() >= 3
    terms = page.locator(".article-body a.term")
    assert terms.count() >= 5
    first_tip = page.locator(".article-body .term-wrap .term-tip").first
    assert not first_tip.is_visible()
    terms.first.hover()
    first_tip.wait_for(state="visible")
    shot(page, "article-tooltip", full_page=False)
    page.keyboard.press("Escape")
    first_tip.wait_for(state="hidden")
    page.mouse.move(5, 5)

    second = terms.nth(1)
    second_tip = page.locator(f"#{second.get_attribute('aria-describedby')}")
    second.focus()
    second_tip.wait_for(state="visible")
    assert second_tip.get_attribute("role") == "tooltip" and second_tip.inner_text().strip()
    page.keyboard.press("Escape")
    second_tip.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.classList.contains('term')")  # focus stays put
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")  # leaving and coming back shows it again
    second_tip.wait_for(state="visible")

    assert page.locator(".article-body .copy-btn").count() >= 1
    page.get_by_role("button", name="✓ Mark as done").click()
    page.get_by_text("You marked this article as done").wait_for()
    shot(page, "article")

    # The phase page: tick a checklist item (htmx) and see it stay ticked after a reload.
    page.goto(f"{site}/learn/phases/prerequisites/")
    first_check = page.locator(".check-item").first
    first_check.locator("button.check-box").click()
    page.locator(".check-item.is-ticked").first.wait_for()
    page.reload()
    assert page.locator(".check-item.is-ticked").count() == 1
    shot(page, "phase")

    page.goto(f"{site}/learn/glossary/")
    assert page.locator(".glossary-entry").count() > 50
    page.locator('.az a[href="#letter-L"]').click()
    shot(page, "glossary", full_page=False)
    total_terms = page.locator(".glossary-entry").count()
    page.fill("#glossary-q", "low-rank")  # matches LoRA's explanation, not only term names
    visible = page.locator(".glossary-entry:visible")
    assert 0 < visible.count() < total_terms
    assert "LoRA" in " ".join(visible.all_inner_texts())
    assert "terms match" in page.locator("#glossary-count").inner_text()
    page.fill("#glossary-q", "zzqqxx")
    assert page.locator(".glossary-entry:visible").count() == 0
    assert "No term matches" in page.locator("#glossary-count").inner_text()
    page.press("#glossary-q", "Escape")
    assert page.locator(".glossary-entry:visible").count() == total_terms

    page.goto(f"{site}/learn/resources/")
    total = page.locator(".resource").count()
    assert total > 0
    page.select_option("#id_kind", "paper")  # htmx swaps the results and keeps the URL shareable
    page.wait_for_url("**kind=paper**")
    page.locator("#resource-results").get_by_text("match").wait_for()
    kinds = page.locator(".resource .badge").all_inner_texts()
    assert kinds and "Paper" in kinds and "Book" not in kinds
    shot(page, "resources")


def test_dark_mode_and_small_screens(site, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page = context.new_page()
    browser_login(page, site, "lena")
    page.goto(f"{site}/learn/")
    shot(page, "roadmap-dark", full_page=False)
    page.goto(f"{site}/learn/articles/self-attention/")
    page.locator(".article-body a.term").first.hover()
    shot(page, "article-dark", full_page=False)
    context.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.goto(f"{site}/learn/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the roadmap scrolls sideways on a phone ({width}px)"
    shot(page, "roadmap-phone", full_page=False)
    # Tap a term: the first tap explains it, it does not navigate away.
    page.goto(f"{site}/learn/articles/tokenization/")
    term = page.locator(".article-body a.term").first
    term.tap()
    page.locator(f"#{term.get_attribute('aria-describedby')}").wait_for(state="visible")
    assert "/learn/articles/tokenization/" in page.url
    shot(page, "article-phone", full_page=False)
    phone.close()


def test_author_live_preview_and_conflict(live_asgi_server, page, request):
    author = request.getfixturevalue("author")
    curriculum_load(settings.CONTENT_DIR)
    site = live_asgi_server
    browser_login(page, site, author.username)
    page.goto(f"{site}/learn/author/articles/faq/")
    body = page.locator("textarea[name=body]")
    body.fill("## Live preview\n\nA gradient, rendered as you type.\n\n```python\nprint('hi')\n```\n")
    page.locator("#preview-body h2#live-preview").wait_for()  # htmx posted the text and swapped the preview
    assert page.locator("#preview-body a.term").count() == 1
    shot(page, "author-editor", full_page=False)

    # Someone else saves first; this editor's save is refused and its text is kept.
    from apps.curriculum.models import Article
    from apps.curriculum.services import article_update

    article = Article.objects.get(slug="faq")
    article_update(article, user=author, expected_version=article.version, title="FAQ (edited elsewhere)")
    page.get_by_role("button", name=f"Save version {article.version + 1}").click()
    page.get_by_text("Someone else saved this article while you were editing").wait_for()
    assert "rendered as you type" in page.locator("textarea[name=body]").input_value()
    shot(page, "author-conflict")
