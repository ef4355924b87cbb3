"""Search as you type, in a real browser against the real ASGI server."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlparse

import pytest

from apps.core.search.services import search_index_update

pytestmark = pytest.mark.browser


@pytest.fixture
def search_server(transactional_db, testdoc_source, request):
    search_index_update(testdoc_source.KIND)  # committed: the server process sees it
    # Started after testdoc_source set SEARCH_SOURCE_MODULES, so the server knows the kind.
    return request.getfixturevalue("live_asgi_server")


def test_results_appear_as_you_type_and_the_keyboard_walks_them(page, search_server):
    page.goto(f"{search_server}/search/")
    assert page.locator(".search-empty").is_visible()
    page.locator("#search-q").press_sequentially("how do transformers know word order", delay=20)
    # The server loads the embedding model on its first search: allow for it.
    page.wait_for_selector("a[data-search-result]", timeout=60_000)
    page.wait_for_function("document.querySelector('#search-status').textContent.includes('word order')")
    # hx-push-url: the address bar holds the search, so it can be shared or bookmarked.
    assert parse_qs(urlparse(page.url).query)["q"] == ["how do transformers know word order"]
    assert page.locator(".search-group-title .badge").first.inner_text() == "Test documents"
    results = page.locator("a[data-search-result]")
    assert results.first.get_attribute("href") == "/test/positional-encoding/"
    assert "<mark>" in results.first.inner_html()

    page.locator("#search-q").press("ArrowDown")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "/test/positional-encoding/"
    page.keyboard.press("ArrowDown")
    second = results.nth(1).get_attribute("href")
    assert page.evaluate("document.activeElement.getAttribute('href')") == second
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.id") == "search-q"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == "search-q"
    page.keyboard.press("ArrowDown")
    if os.environ.get("SEARCH_SCREENSHOT"):
        page.screenshot(path=os.environ["SEARCH_SCREENSHOT"], full_page=True)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{search_server}/test/positional-encoding/")


def test_the_form_works_without_javascript(browser, search_server):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{search_server}/search/")
        page.fill("#search-q", "KV cache")
        page.press("#search-q", "Enter")
        page.wait_for_selector("a[data-search-result]", timeout=60_000)
        assert page.locator("a[data-search-result]").first.get_attribute("href") == "/test/kv-cache/"
        page.goto(f"{search_server}/search/?q=zebra+crossing+traffic+law")
        assert "Nothing matches" in page.content()
    finally:
        context.close()
